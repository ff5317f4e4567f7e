"""Write a synthetic dataset in the Roboflow YOLO export layout, deterministically and resumably.

OUT/data.yaml (the style's own class names, plus source/style/seed/size/images/split keys),
OUT/{train,valid,test}/{images,labels}/<style>_<index:05d>.jpg|.txt and OUT/manifest.csv.
Each image has its own generator, np.random.default_rng([seed, style_id, index]), so an image never
depends on the others: a rerun skips what is there and writes the same bytes for what is missing.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from tqdm import tqdm

from fallkd_lib.data.imageio import save_image_atomic
from fallkd_lib.data.synthetic.scene import (
    ALL_STYLES,
    STYLE_CLASS_NAMES,
    check_style,
    render_scene,
    style_spec,
)
from fallkd_lib.data.yolo import SPLITS, Box, read_labels, write_data_yaml, write_labels
from fallkd_lib.errors import UsageError
from fallkd_lib.io import write_text_atomic

JPEG_QUALITY = {"park": (70, 95), "cctv": (35, 75), "room": (40, 85)}
MANIFEST_COLUMNS = ("image", "split", "n_people", "postures", "classes")
_CHECKPOINT = 100  # images between manifest saves, so an interrupted run keeps its postures


def split_counts(images: int, split: tuple[float, float, float]) -> dict[str, int]:
    """Images per split: the fractions of `images`, rounded by largest remainder so they add up exactly."""
    raw = [images * f for f in split]
    counts = [int(math.floor(x + 1e-9)) for x in raw]
    order = sorted(range(3), key=lambda i: -(raw[i] - counts[i]))
    for i in order[: images - sum(counts)]:
        counts[i] += 1
    return dict(zip(SPLITS, counts, strict=True))


def _check_args(images: int, seed: int, style: str, size: int, split) -> tuple[float, float, float]:
    check_style(style)
    if isinstance(images, bool) or not isinstance(images, int) or images < 1:
        raise UsageError(f"images must be a whole number >= 1, got {images!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 64:
        raise UsageError(f"size must be a whole number of pixels >= 64, got {size!r} (the detector uses 640)")
    fractions = tuple(float(f) for f in split)
    if len(fractions) != 3 or min(fractions) < 0 or fractions[0] <= 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise UsageError(
            f"split must be three fractions (train, valid, test) >= 0 with train > 0, adding up to 1, got {split!r}"
        )
    return fractions  # type: ignore[return-value]


def _check_existing(root: Path, expected: dict) -> None:
    """Refuse to mix runs: an existing data.yaml must come from the same generator settings."""
    data_yaml = root / "data.yaml"
    if not data_yaml.exists():
        if any((root / s).exists() for s in SPLITS):
            raise UsageError(
                f"{root} holds split folders but no data.yaml: generate into an empty folder instead"
            )
        return
    with open(data_yaml, encoding="utf-8") as f:
        found = yaml.safe_load(f) or {}
    if found.get("source") != "synthetic":
        raise UsageError(
            f"{data_yaml} is not a synthetic dataset (source: {found.get('source')!r}); choose another folder"
        )
    found.setdefault("world", "full")  # written before worlds existed: the full world
    diff = [f"{k}: {found.get(k)!r} there, {v!r} asked" for k, v in expected.items() if found.get(k) != v]
    if diff:
        raise UsageError(
            f"{data_yaml} was written with other settings ({'; '.join(diff)}): resuming would mix two datasets. "
            "Use the same settings to resume, or another (or emptied) folder for a new dataset."
        )


def _read_manifest(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {row["image"]: row for row in csv.DictReader(f)}


def _write_manifest(path: Path, rows: dict[str, dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for key in sorted(rows, key=lambda k: Path(k).name):  # in index order
        writer.writerow({c: rows[key][c] for c in MANIFEST_COLUMNS})
    write_text_atomic(path, buf.getvalue())


def _row(rel: str, split: str, postures: list[str], boxes: list[Box], names: list[str]) -> dict:
    return {
        "image": rel,
        "split": split,
        "n_people": len(boxes),
        "postures": ";".join(postures),
        "classes": ";".join(names[b.cls] for b in boxes),
    }


def generate_dataset(
    out: str | Path,
    images: int,
    seed: int = 0,
    style: str = "park",
    size: int = 640,
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    progress: bool = True,
    world: str = "full",
) -> dict:
    """Write (or finish) a synthetic dataset of one style; return images per split, boxes per class and seconds.

    world: "full" or "clear" (fallkd_lib.data.synthetic.scene.style_spec); a clear dataset says so in data.yaml.
    """
    fractions = _check_args(images, seed, style, size, split)
    style_spec(style, world)  # an unknown world fails before anything is written
    root = Path(out)
    names = STYLE_CLASS_NAMES[style]
    settings = {
        "source": "synthetic",
        "style": style,
        "seed": seed,
        "size": size,
        "images": images,
        "split": list(fractions),
        "world": world,
    }
    _check_existing(root, settings)
    write_data_yaml(root, names, settings)
    counts = split_counts(images, fractions)
    bounds = np.cumsum([counts[s] for s in SPLITS])
    style_id = ALL_STYLES.index(style)
    manifest_path = root / "manifest.csv"
    old_rows, rows = _read_manifest(manifest_path), {}
    boxes_per_class: Counter = Counter({n: 0 for n in names})
    postures_seen: Counter = Counter()
    generated = skipped = 0
    start = time.perf_counter()
    for index in tqdm(range(images), desc=f"synthetic {style}", unit="img", disable=not progress):
        split_name = SPLITS[int(np.searchsorted(bounds, index, side="right"))]
        stem = f"{style}_{index:05d}"
        image_path = root / split_name / "images" / f"{stem}.jpg"
        label_path = root / split_name / "labels" / f"{stem}.txt"
        rel = f"{split_name}/images/{stem}.jpg"
        if image_path.is_file() and label_path.is_file():  # labels are written last: both there = complete
            boxes, issues = read_labels(label_path, len(names))
            if issues:
                raise UsageError(
                    f"{issues[0]}: delete {label_path} and {image_path}, then rerun to regenerate them"
                )
            if rel in old_rows and int(old_rows[rel]["n_people"]) == len(boxes):
                postures = str(old_rows[rel]["postures"]).split(";")
            else:  # rendered again (not written) only to recover its postures for the manifest
                _, labels = render_scene(np.random.default_rng([seed, style_id, index]), style, size, world)
                postures = [p for p, _ in labels]
            skipped += 1
        else:
            rng = np.random.default_rng([seed, style_id, index])
            pixels, labels = render_scene(rng, style, size, world)
            quality = int(rng.integers(JPEG_QUALITY[style][0], JPEG_QUALITY[style][1] + 1))
            save_image_atomic(Image.fromarray(pixels), image_path, quality=quality)
            boxes, postures = [b for _, b in labels], [p for p, _ in labels]
            write_labels(label_path, boxes)
            generated += 1
        rows[rel] = _row(rel, split_name, postures, boxes, names)
        boxes_per_class.update(names[b.cls] for b in boxes)
        postures_seen.update(postures)
        if generated and generated % _CHECKPOINT == 0:
            _write_manifest(manifest_path, rows | {k: v for k, v in old_rows.items() if k not in rows})
    _write_manifest(manifest_path, rows)
    return {
        "root": str(root),
        "style": style,
        "seed": seed,
        "size": size,
        "world": world,
        "images": counts,
        "boxes": dict(boxes_per_class),
        "postures": dict(sorted(postures_seen.items())),
        "generated": generated,
        "skipped": skipped,
        "seconds": round(time.perf_counter() - start, 3),
    }
