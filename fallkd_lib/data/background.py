"""A third crop class, ``background``: crops of the training images where nobody is, so that the classifier can
say "not a person" instead of forcing a false detection (a wall decoration, an office chair) into fall or normal.

Each background box has a person's size and shape (the width and height, relative to the image, of a labelled
person box of the same images, shrunk by a random 0.5-1.0) at a random place where it overlaps no labelled
person at all. It is cut exactly as the person crops were (the folder's CropSpec: pad, letterbox), so the only
difference the classifier can learn is what is inside. Output, beside the person classes::

    OUT/{train,val}/background/<image stem>_bg<k>.jpg      OUT/background_report.json   counts per split
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from fallkd_lib.data.crops import SPLIT_FOLDERS, check_dataset, dataset_sources, image_size, read_crop_spec
from fallkd_lib.data.geometry import CropSpec, box_iou, crop_person
from fallkd_lib.data.imageio import open_rgb, save_image_atomic
from fallkd_lib.data.yolo import iter_dataset
from fallkd_lib.errors import UsageError
from fallkd_lib.io import write_text_atomic

BACKGROUND = "background"
REPORT_FILE = "background_report.json"


def background_boxes(
    people: np.ndarray,
    width: int,
    height: int,
    sizes: np.ndarray,
    rng: np.random.Generator,
    count: int = 1,
    tries: int = 50,
) -> list[tuple[float, float, float, float]]:
    """Up to `count` person-shaped boxes (pixels) that overlap none of `people` (pixels) nor each other.

    sizes: (M, 2) relative (width, height) of labelled person boxes, drawn from at random and shrunk by 0.5-1.0.
    """
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    if not len(sizes):
        raise UsageError("background_boxes needs the sizes of some labelled person boxes (sizes is empty)")
    taken = [tuple(b) for b in np.asarray(people, dtype=np.float64).reshape(-1, 4)]
    found: list[tuple[float, float, float, float]] = []
    for _ in range(tries):
        if len(found) == count:
            break
        w_rel, h_rel = sizes[rng.integers(len(sizes))] * rng.uniform(0.5, 1.0)
        w, h = max(w_rel * width, 1.0), max(h_rel * height, 1.0)
        if w > width or h > height:
            continue
        x1, y1 = rng.uniform(0, width - w), rng.uniform(0, height - h)
        box = (x1, y1, x1 + w, y1 + h)
        if taken and _overlaps(box, taken):
            continue
        found.append(box)
        taken.append(box)
    return found


def _overlaps(box: tuple, others: list[tuple]) -> bool:
    """Does box share any area with one of others (IoU > 0)."""
    return bool((box_iou([box], others) > 0).any())


def link_crops(crops_dir: str | Path, out: str | Path) -> Path:
    """A copy of a crop folder as hard links (copies where links fail), crop_params.json included."""
    crops_dir, out = Path(crops_dir), Path(out)
    for path in sorted(crops_dir.rglob("*")):
        target = out / path.relative_to(crops_dir)
        if path.is_dir() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
    return out


def write_background_crops(
    dataset: str | Path,
    out: str | Path,
    per_image: int = 1,
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "valid"),
    sources: tuple[str, ...] | None = None,
    progress: bool = True,
) -> dict:
    """Write `per_image` background crops per labelled image of `dataset` into the crop folder `out` (resumes).

    out must hold crop_params.json (the person crops' CropSpec): background crops are cut the same way.
    sources keeps only images of those sources (the merge's manifest.csv). Returns and writes the report:
    crops per split, images used, images with no room left (every try overlapped a person).
    """
    root, out = check_dataset(dataset), Path(out)
    spec: CropSpec = read_crop_spec(out)
    of = dataset_sources(root)
    items = [
        item
        for item in iter_dataset(root, splits)
        if item.boxes and (sources is None or of.get(item.image.relative_to(root).as_posix()) in sources)
    ]
    if not items:
        raise UsageError(f"{root}: no labelled image in splits {splits} of sources {sources}")
    sizes = np.array([(b.w, b.h) for item in items for b in item.boxes])
    counts: Counter = Counter()
    no_room: Counter = Counter()
    for index, item in enumerate(tqdm(items, desc="background crops", unit="img", disable=not progress)):
        folder = out / SPLIT_FOLDERS[item.split] / BACKGROUND
        width, height = image_size(item.image) or (0, 0)
        people = np.array([b.to_xyxy(width, height) for b in item.boxes])
        rng = np.random.default_rng([seed, index])
        boxes = background_boxes(people, width, height, sizes, rng, per_image)
        no_room[item.split] += len(boxes) == 0
        paths = [folder / f"{item.image.stem}_bg{k}.jpg" for k in range(len(boxes))]
        if boxes and not all(p.is_file() for p in paths):
            pixels = np.asarray(open_rgb(item.image))
            for box, path in zip(boxes, paths, strict=True):
                save_image_atomic(Image.fromarray(crop_person(pixels, box, spec)), path)
        counts[SPLIT_FOLDERS[item.split]] += len(boxes)
    report = {
        "dataset": str(root),
        "sources": None if sources is None else list(sources),
        "per_image": per_image,
        "seed": seed,
        "images": len(items),
        "crops": dict(counts),
        "images_without_room": dict(no_room),
    }
    write_text_atomic(out / REPORT_FILE, json.dumps(report, indent=2))
    return report
