"""Person crops of a YOLO dataset, cut into an ImageFolder tree that torchvision reads directly::

    OUT/{train,val,test}/{class name}/<image stem>_<box index>.jpg   (dataset split `valid` -> folder `val`)
    OUT/crop_params.json   the CropSpec they were cut with (size, pad, fill): training stores it in the model
    OUT/manifest.csv       one row per crop;   OUT/report.json   counts and skipped items with reasons

The geometry (padded box, letterbox) is :mod:`fallkd_lib.data.geometry`, shared with the camera pipeline.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from fallkd_lib.data.geometry import LETTERBOX_FILL, CropSpec, letterbox, padded_box
from fallkd_lib.data.imageio import ImageReadError, open_rgb, save_image_atomic
from fallkd_lib.data.yolo import SPLITS, LabelledImage, iter_dataset, read_class_names
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import write_text_atomic

SPLIT_FOLDERS = {"train": "train", "valid": "val", "test": "test"}  # torchvision's convention: `val`
MANIFEST_COLUMNS = (
    *("crop", "split", "class", "class_id", "image", "box_index"),
    *("x1", "y1", "x2", "y2", "px1", "py1", "px2", "py2", "source"),
)
CROP_PARAMS_FILE = "crop_params.json"


def dataset_sources(root: str | Path) -> dict[str, str]:
    """Image path (relative to root, posix) -> source name from ROOT/manifest.csv; {} without a manifest."""
    manifest = Path(root) / "manifest.csv"
    if not manifest.is_file():
        return {}
    with open(manifest, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        column = next((c for c in ("source", "origin") if c in columns), None)
        if "image" not in columns or column is None:
            return {}
        return {Path(row["image"]).as_posix(): row[column] or "unknown" for row in reader}


def check_dataset(root: str | Path) -> Path:
    """The dataset root, or a FileNotFoundError that says what a dataset folder must contain."""
    root = Path(root)
    if not (root / "data.yaml").is_file():
        raise MissingFileError(
            f"{root}: not a YOLO dataset (no data.yaml). A dataset folder holds data.yaml (class names) and "
            "train/valid/test/images + labels; make one with `fallkd merge` or `fallkd synth`"
        )
    return root


@dataclass
class CropReport:
    """What extract_crops wrote, reused and skipped (with reasons)."""

    dataset: str
    out: str
    size: int
    pad: float
    fill: int
    counts: dict[str, dict[str, int]]  # split folder -> class -> crops
    images: int = 0
    background_images: int = 0
    written: int = 0
    reused: int = 0
    stale_removed: int = 0
    skipped: list[dict] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Number of crops in the output."""
        return sum(sum(c.values()) for c in self.counts.values())

    def skipped_by_kind(self) -> dict[str, int]:
        """Number of skipped items per kind (small_box, unreadable_image, invalid_label, duplicate_name)."""
        return dict(Counter(item["kind"] for item in self.skipped))

    def to_dict(self) -> dict:
        """A JSON-ready dict (what report.json holds)."""
        return {**asdict(self), "total": self.total, "skipped_by_kind": self.skipped_by_kind()}

    def summary(self) -> str:
        """A few lines for a notebook or the terminal."""
        lines = [
            f"{self.total} crops ({self.size}px, pad {self.pad}) in {self.out}: "
            f"{self.written} written, {self.reused} reused, {self.stale_removed} stale removed"
        ]
        for split, classes in self.counts.items():
            lines.append(f"  {split:5s} " + ", ".join(f"{name}={n}" for name, n in classes.items()))
        lines.append(f"  from {self.images} images ({self.background_images} without boxes)")
        if self.skipped:
            kinds = ", ".join(f"{k}={n}" for k, n in self.skipped_by_kind().items())
            lines.append(f"  skipped: {kinds} (details in report.json)")
        return "\n".join(lines)


def read_crop_spec(crops_dir: str | Path) -> CropSpec:
    """The CropSpec a crop folder was cut with, from its crop_params.json (written by `extract_crops`)."""
    path = Path(crops_dir) / CROP_PARAMS_FILE
    params = _read_json(path)
    if not isinstance(params, dict) or not {"size", "pad"} <= set(params):
        raise MissingFileError(
            f"{path} is missing or unreadable: the classifier must know how its crops were cut, so that the camera "
            "cuts people the same way. Cut the crops with `fallkd crops` (it writes the file), or write "
            '{"size": 224, "pad": 0.1, "fill": 114} there for crops you cut yourself'
        )
    return CropSpec(int(params["size"]), float(params["pad"]), int(params.get("fill", LETTERBOX_FILL)))


def _is_complete_crop(path: Path, size: int) -> bool:
    """A JPEG that ends with its end-of-image marker and has the expected size (header only)."""
    try:
        if path.stat().st_size < 4:
            return False
        with open(path, "rb") as f:
            f.seek(-2, os.SEEK_END)
            if f.read(2) != b"\xff\xd9":
                return False
        with Image.open(path) as im:
            return im.size == (size, size)
    except OSError:
        return False


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) as `open_rgb` will see it (EXIF rotation applied), from the header; None if unreadable."""
    try:
        with Image.open(path) as im:
            width, height = im.size
            rotated = im.getexif().get(0x0112) in (5, 6, 7, 8)  # orientation tag: transposed by 90 degrees
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return (height, width) if rotated else (width, height)


def _crop_paths(
    item: LabelledImage, size: tuple[int, int], crop_dir: Path, folders: list[str], min_box_pixels: int
) -> dict[int, Path]:
    """Crop file of each box (by index) that is large enough to crop."""
    paths = {}
    for index, box in enumerate(item.boxes):
        x1, y1, x2, y2 = box.to_xyxy(*size)
        if min(x2 - x1, y2 - y1) >= min_box_pixels:
            paths[index] = crop_dir / folders[box.cls] / f"{item.image.stem}_{index}.jpg"
    return paths


def _skip(kind: str, file: str | Path, reason: str, **where) -> dict:
    """One skipped item of the report: what, where and why."""
    return {"kind": kind, "file": str(file), **where, "reason": reason}


def extract_crops(
    dataset: str | Path,
    out: str | Path,
    spec: CropSpec,
    min_box_pixels: int = 8,
    progress: bool = True,
    splits: tuple[str, ...] = SPLITS,
) -> CropReport:
    """Cut every valid box of a YOLO dataset into OUT/{train,val,test}/{class}/ as `spec` says (resumable, atomic)."""
    if min_box_pixels < 1:
        raise UsageError(f"min_box_pixels must be >= 1, got {min_box_pixels}")
    root, out = check_dataset(dataset), Path(out)
    if out.resolve() == root.resolve():
        raise UsageError(f"out ({out}) must differ from the dataset folder; use e.g. {root.parent / 'crops'}")
    names = read_class_names(root / "data.yaml")
    folders = [n.replace("/", "_").replace("\\", "_") for n in names]
    sources = dataset_sources(root)
    out.mkdir(parents=True, exist_ok=True)
    size, pad = spec.size, spec.pad
    params = {"dataset": str(root.resolve()), **spec.to_dict()}
    reuse = _read_json(out / CROP_PARAMS_FILE) == params  # crops cut with other settings are cut again
    write_text_atomic(
        out / CROP_PARAMS_FILE, json.dumps(params, indent=2)
    )  # before any crop, so a crash is seen

    items = list(iter_dataset(root, splits=splits))
    present = [SPLIT_FOLDERS[s] for s in SPLITS if any(it.split == s for it in items)]
    report = CropReport(
        str(root), str(out), size, pad, spec.fill, {s: dict.fromkeys(folders, 0) for s in present}
    )
    rows: list[dict] = []
    produced: set[Path] = set()
    for item in tqdm(items, desc="crops", unit="img", disable=not progress):
        report.images += 1
        for issue in item.issues:
            report.skipped.append(
                _skip("invalid_label", issue.path, issue.reason, line=issue.line, text=issue.text)
            )
        if not item.boxes:
            report.background_images += 1
            continue
        split_folder, rel_image = SPLIT_FOLDERS[item.split], item.image.relative_to(root).as_posix()
        crop_dir = out / split_folder
        header_size, pixels = image_size(item.image), None
        planned = _crop_paths(item, header_size, crop_dir, folders, min_box_pixels) if header_size else None
        if not (reuse and planned is not None and all(_is_complete_crop(p, size) for p in planned.values())):
            # decode only when a crop must be (re)made: resuming a finished run opens no image
            try:
                pixels = np.asarray(open_rgb(item.image))
            except ImageReadError as exc:
                report.skipped.append(_skip("unreadable_image", item.image, str(exc)))
                continue
        width, height = (pixels.shape[1], pixels.shape[0]) if pixels is not None else header_size
        crop_paths = _crop_paths(item, (width, height), crop_dir, folders, min_box_pixels)
        for index, box in enumerate(item.boxes):
            x1, y1, x2, y2 = box.to_xyxy(width, height)
            crop_path = crop_paths.get(index)
            if crop_path is None:
                reason = f"box {x2 - x1:.1f}x{y2 - y1:.1f} px is smaller than min_box_pixels={min_box_pixels}"
                report.skipped.append(_skip("small_box", item.image, reason, box_index=index))
                continue
            if crop_path in produced:
                reason = f"{crop_path.name} was already cut from another image with this stem; rename one"
                report.skipped.append(_skip("duplicate_name", item.image, reason, box_index=index))
                continue
            padded = padded_box((x1, y1, x2, y2), pad, width, height)
            if pixels is None or (reuse and _is_complete_crop(crop_path, size)):
                report.reused += 1
            else:
                crop = letterbox(pixels[padded[1] : padded[3], padded[0] : padded[2]], size, spec.fill)
                save_image_atomic(Image.fromarray(crop), crop_path)
                report.written += 1
            produced.add(crop_path)
            report.counts[split_folder][folders[box.cls]] += 1
            head = (crop_path.relative_to(out).as_posix(), split_folder, names[box.cls], box.cls, rel_image)
            original = tuple(round(v, 2) for v in (x1, y1, x2, y2))
            values = (*head, index, *original, *padded, sources.get(rel_image, "unknown"))
            rows.append(dict(zip(MANIFEST_COLUMNS, values, strict=True)))

    report.stale_removed = _remove_stale(out, produced, present)
    _write_manifest(out / "manifest.csv", rows)
    write_text_atomic(out / "report.json", json.dumps(report.to_dict(), indent=2))
    return report


def _remove_stale(out: Path, produced: set[Path], split_folders: list[str]) -> int:
    """Delete crops of earlier runs that this run did not produce, leftover .tmp files and empty class folders."""
    removed = 0
    for split_folder in split_folders:
        for class_dir in sorted(p for p in (out / split_folder).glob("*") if p.is_dir()):
            for path in sorted(class_dir.iterdir()):
                if path.is_file() and path.name.startswith("."):  # an unfinished write (fallkd_lib.io)
                    path.unlink()
                elif path.is_file() and path.suffix == ".jpg" and path not in produced:
                    path.unlink()
                    removed += 1
            if not any(class_dir.iterdir()):
                class_dir.rmdir()  # torchvision's ImageFolder refuses empty class folders
    return removed


def _write_manifest(path: Path, rows: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, text.getvalue())
