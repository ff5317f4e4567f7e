"""Person crops for the classifier: padded box -> letterbox, on numpy RGB arrays (video frames) and on datasets.

The geometry (`padded_box`, `letterbox`, `crop_person`, `crop_people`) is shared with the real-time pipeline,
so it works on numpy uint8 HxWx3 RGB arrays with cv2. `extract_crops` cuts every box of a YOLO dataset into
an ImageFolder tree that torchvision reads directly::

    OUT/{train,val,test}/{class name}/<image stem>_<box index>.jpg   (dataset split `valid` -> folder `val`)
    OUT/manifest.csv   one row per crop;   OUT/report.json   counts and skipped items with reasons
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from fallkd_lib.data.imageio import ImageReadError, open_rgb, save_image_atomic
from fallkd_lib.data.yolo import SPLITS, LabelledImage, iter_dataset, read_class_names
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import write_text_atomic

SPLIT_FOLDERS = {"train": "train", "valid": "val", "test": "test"}  # torchvision's convention: `val`
MANIFEST_COLUMNS = (
    *("crop", "split", "class", "class_id", "image", "box_index"),
    *("x1", "y1", "x2", "y2", "px1", "py1", "px2", "py2", "source"),
)

_EPS = 1e-6  # absorbs float noise such as 0.7 * 90 = 62.99999999999999 before rounding outward
_PARAMS_FILE = "crop_params.json"


def padded_box(xyxy: Sequence[float], pad: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Grow a box by `pad` x its size on each side, round outward to pixels and clip to the image."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    if pad < 0:
        raise UsageError(f"pad must be >= 0 (a fraction of the box size added on each side), got {pad}")
    if not (x2 >= x1 and y2 >= y1) or not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise UsageError(f"box {tuple(xyxy)} is not (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2")
    dx, dy = pad * (x2 - x1), pad * (y2 - y1)
    left = min(max(math.floor(x1 - dx + _EPS), 0), width)
    top = min(max(math.floor(y1 - dy + _EPS), 0), height)
    right = min(max(math.ceil(x2 + dx - _EPS), 0), width)
    bottom = min(max(math.ceil(y2 + dy - _EPS), 0), height)
    if right <= left or bottom <= top:
        raise UsageError(
            f"box {tuple(xyxy)} is empty inside the {width}x{height} image (padded and clipped: "
            f"{(left, top, right, bottom)}); check that boxes are in pixels of this image"
        )
    return left, top, right, bottom


def letterbox_params(height: int, width: int, size: int) -> tuple[float, int, int, int, int]:
    """(scale, new_w, new_h, left, top): the resize that fits the longer side to `size`, centred."""
    if height < 1 or width < 1 or size < 1:
        raise UsageError(f"letterbox needs a non-empty image and size >= 1, got {height}x{width} -> {size}")
    scale = size / max(height, width)
    new_w = min(size, max(1, round(width * scale)))
    new_h = min(size, max(1, round(height * scale)))
    return scale, new_w, new_h, (size - new_w) // 2, (size - new_h) // 2


def letterbox(image: np.ndarray, size: int, fill: int = 114) -> np.ndarray:
    """Resize keeping the aspect ratio (longer side = size) and centre on a size x size canvas of `fill`."""
    _check_rgb(image)
    scale, new_w, new_h, left, top = letterbox_params(image.shape[0], image.shape[1], size)
    if (new_w, new_h) == (image.shape[1], image.shape[0]):
        resized = image
    else:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    canvas = np.full((size, size, 3), fill, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def crop_person(image: np.ndarray, xyxy: Sequence[float], size: int = 224, pad: float = 0.1) -> np.ndarray:
    """The letterboxed size x size crop of one person box (pixels, x1 y1 x2 y2) with context `pad`."""
    _check_crop_params(size, pad)
    _check_rgb(image)
    left, top, right, bottom = padded_box(xyxy, pad, image.shape[1], image.shape[0])
    return letterbox(image[top:bottom, left:right], size)


def crop_people(
    image: np.ndarray, boxes_xyxy: Sequence | np.ndarray, size: int = 224, pad: float = 0.1
) -> np.ndarray:
    """Crops of all boxes (N x 4 pixels) of one frame as an (N, size, size, 3) uint8 array."""
    _check_crop_params(size, pad)
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise UsageError(f"boxes_xyxy must be an (N, 4) array of x1 y1 x2 y2 pixels, got shape {boxes.shape}")
    out = np.empty((len(boxes), size, size, 3), dtype=np.uint8)
    for i, box in enumerate(boxes):
        out[i] = crop_person(image, box, size=size, pad=pad)
    return out


def crop_person_pil(
    image: Image.Image, xyxy: Sequence[float], size: int = 224, pad: float = 0.1
) -> Image.Image:
    """`crop_person` for a PIL image (converted to RGB)."""
    return Image.fromarray(crop_person(np.asarray(image.convert("RGB")), xyxy, size=size, pad=pad))


def _check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise UsageError(
            f"expected an HxWx3 uint8 RGB array, got shape {shape} dtype {dtype}; "
            "convert with np.asarray(pil_image.convert('RGB')) or cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise UsageError(f"empty image of shape {image.shape}")


def _check_crop_params(size: int, pad: float) -> None:
    if size < 16:
        raise UsageError(f"crop size must be >= 16 pixels, got {size} (the course uses 224; 96 when quick)")
    if pad < 0:
        raise UsageError(f"pad must be >= 0 (a fraction of the box size added on each side), got {pad}")


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
    size: int = 224,
    pad: float = 0.1,
    min_box_pixels: int = 8,
    progress: bool = True,
    splits: tuple[str, ...] = SPLITS,
) -> CropReport:
    """Cut every valid box of a YOLO dataset into OUT/{train,val,test}/{class}/ (resumable, atomic writes)."""
    _check_crop_params(size, pad)
    if min_box_pixels < 1:
        raise UsageError(f"min_box_pixels must be >= 1, got {min_box_pixels}")
    root, out = check_dataset(dataset), Path(out)
    if out.resolve() == root.resolve():
        raise UsageError(f"out ({out}) must differ from the dataset folder; use e.g. {root.parent / 'crops'}")
    names = read_class_names(root / "data.yaml")
    folders = [n.replace("/", "_").replace("\\", "_") for n in names]
    sources = dataset_sources(root)
    out.mkdir(parents=True, exist_ok=True)
    params = {"dataset": str(root.resolve()), "size": size, "pad": pad}
    reuse = _read_json(out / _PARAMS_FILE) == params  # crops cut with other settings are cut again
    write_text_atomic(out / _PARAMS_FILE, json.dumps(params, indent=2))  # before any crop, so a crash is seen

    items = list(iter_dataset(root, splits=splits))
    present = [SPLIT_FOLDERS[s] for s in SPLITS if any(it.split == s for it in items)]
    report = CropReport(str(root), str(out), size, pad, {s: dict.fromkeys(folders, 0) for s in present})
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
                crop = letterbox(pixels[padded[1] : padded[3], padded[0] : padded[2]], size)
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
                if path.is_file() and path.name.endswith(".jpg.tmp"):
                    path.unlink()
                elif path.is_file() and path.suffix == ".jpg" and path not in produced:
                    path.unlink()
                    removed += 1
            if not any(class_dir.iterdir()):
                class_dir.rmdir()  # torchvision's ImageFolder refuses empty class folders
    return removed


def _write_manifest(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
