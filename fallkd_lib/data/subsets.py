"""Split a crop folder by source, to train on one origin and test on another (how a model generalises)."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from fallkd_lib.data.crops import CROP_PARAMS_FILE
from fallkd_lib.errors import MissingFileError, UsageError


def crops_by_source(crops_dir: str | Path, out: str | Path) -> dict[str, Path]:
    """One ImageFolder per source of a crop folder's manifest, as hard links (copies where links fail).

    Each keeps the crop folder's crop_params.json: a model trained on a subset knows how its crops were cut.
    """
    crops_dir, out = Path(crops_dir), Path(out)
    manifest = crops_dir / "manifest.csv"
    if not manifest.is_file():
        raise MissingFileError(
            f"{manifest} not found: make the crops with `fallkd crops` (it writes the manifest)"
        )
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    folders: dict[str, Path] = {}
    for row in rows:
        source = row.get("source") or "unknown"
        target = out / source / row["crop"]
        folders[source] = out / source
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(crops_dir / row["crop"], target)
        except OSError:
            shutil.copyfile(crops_dir / row["crop"], target)
    params = crops_dir / CROP_PARAMS_FILE
    for source, folder in folders.items():
        if params.is_file():
            shutil.copyfile(params, folder / CROP_PARAMS_FILE)
        missing = [s for s in ("train", "val") if not (folder / s).is_dir()]
        if missing:
            raise UsageError(
                f"source {source!r} has no {'/'.join(missing)} crops in {crops_dir}: it cannot be trained on"
            )
    return folders
