"""Checkpoints that resume exactly: weights, optimizer, scheduler, AMP scaler, epoch, best metric and RNG states.

A checkpoint is a plain dict saved with `torch.save` through a temporary file and `os.replace`, so a crash
mid-write never leaves a half-written `last.pt`. The random states of python, numpy and torch (CPU and CUDA) are
stored too: restoring them makes the next epoch draw the same dropout masks and augmentations as a run that
never stopped.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fallkd_lib.io import save_torch_atomic
from fallkd_lib.models.inputs import ClassifierInput
from fallkd_lib.models.trained import FORMAT, VERSION, load_model_state, model_num_classes, read_checkpoint


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
    model_input: ClassifierInput | None = None,
) -> Path:
    """Write a resumable checkpoint atomically (tmp file + os.replace); `epoch` = epochs completed.

    model_input is what shapes the model's input (crop geometry, image size, mean/std): the camera reads it back.
    """
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
        "input": model_input.to_dict() if model_input is not None else None,
        "rng": rng_state(),
        "extra": dict(extra or {}),
    }
    return save_torch_atomic(checkpoint, path)  # the previous checkpoint stays intact if this fails


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
    load_model_state(path, checkpoint, model, class_names)
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if obj is not None and checkpoint.get(name) is not None:
            obj.load_state_dict(checkpoint[name])
    if restore_rng:
        set_rng_state(checkpoint["rng"])
    return checkpoint
