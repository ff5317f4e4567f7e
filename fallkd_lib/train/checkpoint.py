"""Checkpoints that resume exactly: weights, optimizer, scheduler, AMP scaler, epoch, best metric and RNG states.

A checkpoint is a plain dict saved with `torch.save` through a temporary file and `os.replace`, so a crash
mid-write never leaves a half-written `last.pt`. The random states of python, numpy and torch (CPU and CUDA) are
stored too: restoring them makes the next epoch draw the same dropout masks and augmentations as a run that
never stopped.
"""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import save_torch_atomic

FORMAT = "fallkd-checkpoint"
VERSION = 1


def seed_everything(seed: int) -> None:
    """Seed python's `random`, numpy and torch (CPU and every CUDA device) with one number."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict:
    """The random states of python, numpy and torch (CUDA too when present)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the random states saved by `rng_state` (CUDA only when both sides have it)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def model_num_classes(model: nn.Module) -> int | None:
    """How many classes a classifier outputs: `model.num_classes` (timm) or the last Linear layer's size."""
    count = getattr(model, "num_classes", None)
    if isinstance(count, int):
        return count
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def _state(obj: object | None) -> dict | None:
    return obj.state_dict() if obj is not None else None


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: object | None,
    scaler: torch.amp.GradScaler | None,
    epoch: int,
    best_metric: float | None,
    config: dict,
    extra: dict | None = None,
    class_names: list[str] | None = None,
) -> Path:
    """Write a resumable checkpoint atomically (tmp file + os.replace); `epoch` = epochs completed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "format": FORMAT,
        "version": VERSION,
        "model": model.state_dict(),
        "optimizer": _state(optimizer),
        "scheduler": _state(scheduler),
        "scaler": _state(scaler),
        "epoch": int(epoch),
        "best_metric": best_metric,
        "config": dict(config),
        "class_names": list(class_names) if class_names is not None else None,
        "num_classes": len(class_names) if class_names is not None else model_num_classes(model),
        "rng": rng_state(),
        "extra": dict(extra or {}),
    }
    return save_torch_atomic(checkpoint, path)  # the previous checkpoint stays intact if this fails


def read_checkpoint(path: str | Path) -> dict:
    """Load a fallkd checkpoint dict onto the CPU, checking that it is one."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"checkpoint {path} not found: train first (`fallkd train-cls`) or check the run folder"
        )
    try:
        # weights_only=False unpickles arbitrary objects (numpy RNG state, config dicts), which can run code:
        # do this only for checkpoints this library wrote itself, never for a file downloaded from elsewhere.
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError) as exc:
        raise UsageError(
            f"{path} is not a readable torch checkpoint ({exc}); delete it and train again"
        ) from exc
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        keys = list(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise UsageError(
            f"{path} is not a fallkd checkpoint (found {keys}); for a bare state_dict use "
            "model.load_state_dict(torch.load(path, weights_only=True))"
        )
    return checkpoint


def _check_classes(path: Path, checkpoint: dict, model: nn.Module, class_names: list[str] | None) -> None:
    saved_names, saved_count = checkpoint.get("class_names"), checkpoint.get("num_classes")
    model_count = model_num_classes(model)
    if saved_count is not None and model_count is not None and saved_count != model_count:
        raise UsageError(
            f"{path} was trained for {saved_count} classes {saved_names or ''} but the model outputs "
            f"{model_count}: build the model with num_classes={saved_count}, or train a new run folder"
        )
    if class_names is not None and saved_names is not None and list(class_names) != list(saved_names):
        raise UsageError(
            f"{path} was trained on classes {saved_names} but the data has {list(class_names)}: "
            "use the crop folder the checkpoint was trained on, or train a new run folder"
        )


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: object | None = None,
    scaler: torch.amp.GradScaler | None = None,
    restore_rng: bool = True,
    class_names: list[str] | None = None,
) -> dict:
    """Load a checkpoint into the model (and optimizer/scheduler/scaler/RNG when given); returns the dict."""
    path = Path(path)
    checkpoint = read_checkpoint(path)
    _check_classes(path, checkpoint, model, class_names)
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as exc:
        raise UsageError(
            f"{path} does not fit this model ({str(exc).splitlines()[0]} ...): build the same architecture "
            f"as the checkpoint's config (model={checkpoint['config'].get('model')!r})"
        ) from exc
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if obj is not None and checkpoint.get(name) is not None:
            obj.load_state_dict(checkpoint[name])
    if restore_rng:
        set_rng_state(checkpoint["rng"])
    return checkpoint
