"""Atomic file writes: a crash or Ctrl-C never leaves half a report, manifest or log behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write text through a temporary file beside the target, then os.replace it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write data as indented JSON, atomically (numpy scalars are written as floats)."""
    return write_text_atomic(path, json.dumps(data, indent=2, default=float))
