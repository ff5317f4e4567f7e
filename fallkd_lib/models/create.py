"""Build the course's classifiers and ViT teachers through one library: timm.

Why timm (and not torchvision + timm): a single `timm.create_model` call covers the CNN students and the
ViT teachers; every model carries its `pretrained_cfg` (input mean/std, classifier layer name, Hugging Face
weight id); the classifier head is built for `num_classes`; ViTs take `img_size`, and timm's ViT checkpoint
filter resamples position embeddings, so a ViT teacher also runs at 64 px in the quick profile.

    fallkd name       timm name               role
    resnet18          resnet18                student (11.2 M parameters with a 2-class head)
    efficientnet_b0   efficientnet_b0         student (4.0 M)
    vit_b_16          vit_base_patch16_224    teacher of the reference report (ViT-B/16, 85.8 M)
    vit_tiny          vit_tiny_patch16_224    small teacher for the quick CPU profile (5.5 M)

Weights. `pretrained=True` downloads ImageNet weights from the Hugging Face Hub (`timm/<name>.<tag>`).
Offline (FALLKD_OFFLINE / YOLO_OFFLINE / HF_HUB_OFFLINE set, or huggingface.co:443 unreachable within 3 s)
it sets HF_HUB_OFFLINE=1, uses the file if it already is in the Hugging Face cache, and otherwise raises
`WeightsUnavailableError` at once instead of retrying for a minute. `weights="file"` loads a local
.safetensors/.pth/.pt/.bin file (a timm state dict, e.g. `model.safetensors` from the Hub page), or a fallkd
run's best.pt (a model pretrained on the synthetic world, say, to fine-tune on real crops).

Local files are loaded here rather than through timm's `pretrained_cfg_overlay=dict(file=...)`: that route
works offline, but whenever `num_classes` differs from 1000 it loads with strict=False, so a file whose keys
do not fit (another architecture, a "backbone." prefix) loads nothing and only logs a warning, and it drops a
head that already has the right shape. Here only head tensors of another shape are dropped; any other
missing, unexpected or mis-shaped key is an error that names them.
"""

from __future__ import annotations

import difflib
import logging
import os
import socket
import threading
from collections.abc import Mapping
from pathlib import Path

import timm
import torch.nn as nn
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from fallkd_lib.config import TIMM_NAMES, VIT_PATCH
from fallkd_lib.errors import FallkdError, MissingFileError, UsageError
from fallkd_lib.models.checkpoint_file import read_checkpoint
from fallkd_lib.settings import is_offline_requested

_log = logging.getLogger(__name__)

MODEL_NAMES = tuple(TIMM_NAMES)
VIT_NAMES = tuple(name for name in MODEL_NAMES if name.startswith("vit"))
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
HUB_HOST, HUB_PORT, HUB_TIMEOUT_S = "huggingface.co", 443, 3.0
HUB_FILES = ("model.safetensors", "pytorch_model.bin")  # the files timm reads from a timm/<name> repo


class WeightsUnavailableError(FallkdError, RuntimeError):
    """Pretrained weights were asked for but cannot be had (offline, or the download failed)."""


def timm_name(name: str) -> str:
    """The timm architecture behind a fallkd model name; ValueError with a suggestion for unknown names."""
    if name in TIMM_NAMES:
        return TIMM_NAMES[name]
    hint = difflib.get_close_matches(str(name), MODEL_NAMES, n=1)
    did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
    raise UsageError(f"unknown model {name!r}.{did_you_mean} Valid names: {', '.join(MODEL_NAMES)}")


def hub_id(name: str) -> str:
    """The Hugging Face model id of the default ImageNet weights, e.g. 'timm/resnet18.a1_in1k'."""
    arch = timm_name(name)
    cfg = timm.models.get_pretrained_cfg(arch)
    return (cfg.hf_hub_id if cfg is not None else None) or f"timm/{arch}"


def _hub_reachable(timeout: float = HUB_TIMEOUT_S) -> bool:
    """True when a TCP connection to huggingface.co:443 opens within `timeout` (DNS included)."""
    result: dict[str, bool] = {}

    def probe() -> None:
        try:
            socket.create_connection((HUB_HOST, HUB_PORT), timeout=timeout).close()
            result["ok"] = True
        except OSError:
            result["ok"] = False

    thread = threading.Thread(target=probe, daemon=True)  # a hanging DNS lookup must not block us
    thread.start()
    thread.join(timeout)
    return result.get("ok", False)


def hub_offline() -> bool:
    """True when the Hub must not be contacted; then HF_HUB_OFFLINE=1 is set for the whole process."""
    env_offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    offline = is_offline_requested() or env_offline or not _hub_reachable()
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    return offline


def _cached_hub_file(repo_id: str) -> Path | None:
    """The weight file of `repo_id` if the Hugging Face cache already holds it (no network)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in HUB_FILES:
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def _unavailable_message(name: str, repo_id: str, reason: str) -> str:
    return (
        f"pretrained ImageNet weights for {name!r} ({timm_name(name)}) are not available: {reason}. "
        "Two ways out: (1) pretrained=False trains from scratch (e.g. train_config(profile, pretrained=False)); "
        f'(2) weights="path/to/model.safetensors" loads a file downloaded elsewhere: get `model.safetensors` '
        f"from https://huggingface.co/{repo_id} (Hugging Face model id {repo_id}) and copy it to this machine."
    )


def _resolve_weights_path(weights: str | Path) -> Path:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise MissingFileError(
            f"weights file not found: {path}. Give the path of a .safetensors/.pth/.bin state dict, "
            "or use pretrained=True (online) / pretrained=False (from scratch)."
        )
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise UsageError(
            f"weights file {path} has suffix {path.suffix!r}; supported: {', '.join(WEIGHT_SUFFIXES)} "
            "(a timm state dict, e.g. model.safetensors from the model's Hugging Face page)"
        )
    return path


def _head_names(model: nn.Module) -> tuple[str, ...]:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    heads = cfg.get("classifier") if isinstance(cfg, Mapping) else getattr(cfg, "classifier", None)
    if not heads:
        return ()
    return (heads,) if isinstance(heads, str) else tuple(heads)


def _examples(keys: list[str], limit: int = 5) -> str:
    more = f", ... ({len(keys)} in all)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _fallkd_run_weights(path: Path) -> dict | None:
    """The weights of a fallkd run's checkpoint (last.pt / best.pt, e.g. a model trained on the synthetic world),
    or None when the file is not one. timm reads files with weights_only=True, which refuses the RNG states a
    fallkd checkpoint also holds; fallkd's own reader unpickles them, so pass only checkpoints you trained."""
    try:
        return dict(read_checkpoint(path)["model"])
    except UsageError:
        return None


def load_weights_file(model: nn.Module, path: str | Path) -> dict:
    """Load a local timm state dict into `model` (head re-initialised if its shape differs); return a report."""
    path = _resolve_weights_path(path)
    try:  # safetensors or a torch file; unwraps 'state_dict' / 'model' and DDP prefixes
        state = timm.models.load_state_dict(str(path))
    except Exception as exc:  # a truncated or foreign file: say which one
        state = _fallkd_run_weights(path)
        if state is None:
            raise UsageError(f"could not read weights file {path}: {exc}") from exc
    from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

    if isinstance(model, VisionTransformer):
        state = checkpoint_filter_fn(state, model)  # resamples pos_embed to this model's image size
    own = model.state_dict()
    head_keys = {f"{head}.{part}" for head in _head_names(model) for part in ("weight", "bias")}
    head_reset = sorted(k for k in state if k in head_keys & own.keys() and state[k].shape != own[k].shape)
    for key in head_reset:
        del state[key]
    reshaped = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in state
        if k in own and state[k].shape != own[k].shape
    ]
    missing = sorted(k for k in own if k not in state and k not in head_reset)
    unexpected = sorted(k for k in state if k not in own)
    problems = [
        f"{len(keys)} {what} ({_examples(keys)})"
        for what, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("with another shape", reshaped),
        )
        if keys
    ]
    if problems:
        raise UsageError(
            f"weights file {path} does not fit this {type(model).__name__}: {'; '.join(problems)}. Use a timm "
            "checkpoint of the same architecture (e.g. model.safetensors from its timm/<name> Hugging Face page) "
            "or pretrained=False."
        )
    model.load_state_dict(
        state, strict=False
    )  # every key checked above; only a re-initialised head is absent
    if isinstance(getattr(model, "pretrained_cfg", None), dict):
        model.pretrained_cfg = {**model.pretrained_cfg, "file": str(path)}
    report = {"file": str(path), "loaded": len(state), "head_reset": head_reset}
    _log.info("loaded %d tensors from %s; re-initialised head: %s", len(state), path, head_reset or "none")
    return report


def create_classifier(
    name: str,
    num_classes: int = 2,
    pretrained: bool = False,
    weights: str | Path | None = None,
    image_size: int | None = None,
) -> nn.Module:
    """Build a timm classifier by fallkd name (ImageNet or local-file weights; image_size matters for ViTs only)."""
    arch = timm_name(name)
    if not isinstance(num_classes, int) or num_classes < 2:
        raise UsageError(f"num_classes must be an integer >= 2 (fall/normal is 2), got {num_classes!r}")
    kwargs: dict = {"num_classes": num_classes}
    if name in VIT_NAMES and image_size is not None:
        if image_size <= 0 or image_size % VIT_PATCH:
            raise UsageError(
                f"{name} needs image_size as a positive multiple of its patch size {VIT_PATCH}, got "
                f"{image_size}: try {max(VIT_PATCH, round(image_size / VIT_PATCH) * VIT_PATCH)}"
            )
        kwargs["img_size"] = image_size
    if weights is not None:  # a local file wins over `pretrained`
        path = _resolve_weights_path(weights)
        model = init_head(timm.create_model(arch, pretrained=False, **kwargs))
        load_weights_file(model, path)
        return model
    if not pretrained:
        return init_head(timm.create_model(arch, pretrained=False, **kwargs))
    repo_id = hub_id(name)
    if hub_offline():
        cached = _cached_hub_file(repo_id)
        if cached is None:
            raise WeightsUnavailableError(
                _unavailable_message(name, repo_id, "this machine is offline and they are not in the cache")
            )
        model = init_head(timm.create_model(arch, pretrained=False, **kwargs))
        load_weights_file(model, cached)
        return model
    try:
        model = timm.create_model(arch, pretrained=True, **kwargs)
    except Exception as exc:  # network or Hub failure while downloading
        raise WeightsUnavailableError(
            _unavailable_message(name, repo_id, f"the download failed ({exc})")
        ) from exc
    if model.pretrained_cfg.get("num_classes", 1000) != num_classes:  # the head is new, not from the file
        init_head(model)
    return model


def init_head(model: nn.Module, std: float = 0.01) -> nn.Module:
    """Give a new classifier head small weights and zero bias, so training starts from near-uniform predictions.

    timm's EfficientNet initialises its head uniformly in +-1/sqrt(fan_out): with 2 classes that is +-0.71 on
    1280 features, logits in the tens, and a first epoch lost to exploding losses. A small head fixes it.
    """
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if isinstance(head, nn.Linear):
        nn.init.trunc_normal_(head.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(head.bias)
    return model


def input_stats(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) a model expects its input normalised with; ImageNet's when the model has none."""
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
    get = cfg.get if isinstance(cfg, Mapping) else (lambda key, default: getattr(cfg, key, None) or default)
    mean = get("mean", IMAGENET_DEFAULT_MEAN) or IMAGENET_DEFAULT_MEAN
    std = get("std", IMAGENET_DEFAULT_STD) or IMAGENET_DEFAULT_STD
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
