"""Atomic file writes: a crash or Ctrl-C never leaves half a report, manifest, model or log behind.

Every writer goes through `write_atomic`: the content is written to a hidden temporary file beside the target
(``.name.tmp.ext``, so tools that pick the format from the suffix still see it), then moved into place with
`os.replace`, which either fully happens or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def tmp_path_for(path: str | Path) -> Path:
    """The hidden temporary file beside `path` that write_atomic writes first (same suffix)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp{path.suffix}")


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call write(tmp) for a temporary path beside `path`, then os.replace it into place (removed on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_for(path)
    tmp.unlink(missing_ok=True)  # a leftover of a crash
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write text (UTF-8) atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write data as indented JSON, atomically (numpy scalars are written as floats)."""
    return write_text_atomic(path, json.dumps(data, indent=2, default=float))


def save_torch_atomic(obj: Any, path: str | Path) -> Path:
    """torch.save atomically: the previous file at `path` stays intact if saving fails."""
    import torch

    return write_atomic(path, lambda tmp: torch.save(obj, tmp))


def files_digest(folders: Iterable[tuple[str, str | Path]]) -> str:
    """A digest of every file (label/relative path, size) under (label, folder) pairs; a missing folder adds nothing."""
    digest = hashlib.sha256()
    for label, root in folders:
        root = Path(root)
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.is_file():
                digest.update(
                    f"{label}/{path.relative_to(root).as_posix()}\0{path.stat().st_size}\n".encode()
                )
    return digest.hexdigest()
