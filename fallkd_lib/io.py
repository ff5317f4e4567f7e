"""Atomic file writes: a crash or Ctrl-C never leaves half a report, manifest or log behind."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write text through a temporary file beside the target, then os.replace it into place."""
    return _replace_from_tmp(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_torch_atomic(obj: Any, path: str | Path) -> Path:
    """torch.save through a temporary file: the previous file at `path` stays intact if saving fails."""
    import torch

    return _replace_from_tmp(path, lambda tmp: torch.save(obj, tmp))


def _replace_from_tmp(path: str | Path, write: Callable[[Path], object]) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write data as indented JSON, atomically (numpy scalars are written as floats)."""
    return write_text_atomic(path, json.dumps(data, indent=2, default=float))
