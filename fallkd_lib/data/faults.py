"""Break a copy of a dataset on purpose, the way real exports break, to see what the merge catches."""

from __future__ import annotations

import shutil
from pathlib import Path

from fallkd_lib.data.yolo import label_path_for, list_images, split_image_dirs
from fallkd_lib.errors import UsageError

# One example of each kind of bad label line the validator knows (class ids assume 2+ classes).
BAD_LINES = (
    "0 0.5 0.5 0.2",  # 4 fields
    "0 0.5 0.5 0.2 0.2 0.1",  # 6 fields (a segment polygon in a box file)
    "0 0.5 0.5 0.2 abc",  # not a number
    "0.5 0.5 0.5 0.2 0.2",  # class id not an integer
    "99 0.5 0.5 0.2 0.2",  # class id out of range
    "0 1.3 0.5 0.2 0.2",  # centre outside the image
    "0 0.5 0.5 0.0 0.2",  # zero width
)


def copy_with_faults(source: str | Path, out: str | Path, truncate_images: int = 1) -> list[str]:
    """Copy a YOLO dataset to `out`, append one bad line of each kind and truncate a few JPEGs; list the faults."""
    source, out = Path(source), Path(out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(source, out)
    images = [p for images_dir in split_image_dirs(out).values() for p in list_images(images_dir)]
    labelled = [p for p in images if label_path_for(p).exists()]
    if len(labelled) < len(BAD_LINES) + truncate_images:
        raise UsageError(
            f"{source}: needs at least {len(BAD_LINES) + truncate_images} labelled images, has {len(labelled)}"
        )
    faults = []
    for image, bad in zip(labelled, BAD_LINES, strict=False):
        label = label_path_for(image)
        text = label.read_text(encoding="utf-8")
        label.write_text(
            text + ("" if text.endswith("\n") or not text else "\n") + bad + "\n", encoding="utf-8"
        )
        line = len(label.read_text(encoding="utf-8").splitlines())
        faults.append(f"{label.relative_to(out)}:{line}: bad line {bad!r}")
    for image in labelled[len(BAD_LINES) : len(BAD_LINES) + truncate_images]:
        data = image.read_bytes()
        image.write_bytes(data[: len(data) // 2])
        faults.append(f"{image.relative_to(out)}: truncated to {len(data) // 2} of {len(data)} bytes")
    return faults
