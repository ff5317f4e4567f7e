"""Read a fallkd checkpoint file: the one place that unpickles it (shared by models.create and models.trained).

A fallkd checkpoint is a dict saved by `fallkd_lib.train.checkpoint.save_checkpoint` with ``format`` =
"fallkd-checkpoint"; see `fallkd_lib.models.trained` for its keys.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from fallkd_lib.errors import MissingFileError, UsageError

FORMAT = "fallkd-checkpoint"
VERSION = 1


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
