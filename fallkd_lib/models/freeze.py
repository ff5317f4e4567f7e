"""Partial fine-tuning of the ViT teacher, as in the reference report: only the last encoder block(s),
the final norm and the head learn; everything else (patch embedding, class token, position embedding,
earlier blocks) keeps its pretrained values."""

from __future__ import annotations

import pandas as pd
import torch.nn as nn

from fallkd_lib.errors import UsageError


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter values in `model` (only those with requires_grad when `trainable_only`)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def freeze_for_finetune(model: nn.Module, train_last_blocks: int = 1) -> dict:
    """Freeze a timm ViT except its last `train_last_blocks` blocks, final norm(s) and head; return the counts."""
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.Sequential | nn.ModuleList):
        raise UsageError(
            f"freeze_for_finetune needs a timm VisionTransformer (with .blocks, .norm, .head); "
            f"got {type(model).__name__}. Fine-tune CNN students fully instead."
        )
    depth = len(blocks)
    if not isinstance(train_last_blocks, int) or not 0 <= train_last_blocks <= depth:
        raise UsageError(
            f"train_last_blocks must be an integer in 0..{depth} for this model, got {train_last_blocks!r}"
        )
    for param in model.parameters():
        param.requires_grad = False
    names = [f"blocks.{i}" for i in range(depth - train_last_blocks, depth)]
    for name in ("norm", "fc_norm", "head"):
        module = getattr(model, name, None)
        if isinstance(module, nn.Module) and not isinstance(module, nn.Identity):
            names.append(name)
    for name in names:
        for param in model.get_submodule(name).parameters():
            param.requires_grad = True
    return {
        "trainable": count_parameters(model, trainable_only=True),
        "total": count_parameters(model),
        "trainable_names": names,
    }


def trainable_summary(model: nn.Module) -> pd.DataFrame:
    """One row per top-level child (and per parameter held by the model itself): params and trainable params."""
    rows = [
        {
            "name": name,
            "kind": "parameter",
            "params": p.numel(),
            "trainable": p.numel() if p.requires_grad else 0,
        }
        for name, p in model.named_parameters(recurse=False)
    ]
    for name, child in model.named_children():
        rows.append(
            {
                "name": name,
                "kind": type(child).__name__,
                "params": count_parameters(child),
                "trainable": count_parameters(child, trainable_only=True),
            }
        )
    return pd.DataFrame(rows, columns=["name", "kind", "params", "trainable"])
