"""Read, validate and write datasets in the Roboflow "YOLO" export layout.

The layout (what Roboflow, ultralytics and fallkd's generator all write)::

    ROOT/data.yaml                 names: [...] (a list, or a dict {id: name})
    ROOT/{train,valid,test}/images/*.jpg
    ROOT/{train,valid,test}/labels/*.txt   one box per line: "class cx cy w h", coordinates in [0, 1]

An image without a label file is a background image (no boxes), as in ultralytics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import write_text_atomic

SPLITS = ("train", "valid", "test")
SPLIT_ALIASES = {"train": ("train",), "valid": ("valid", "val"), "test": ("test",)}
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


@dataclass(frozen=True)
class Box:
    """One YOLO box: class id and centre/size normalised to the image."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float

    def to_xyxy(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Corners in pixels (x1, y1, x2, y2) for an image of the given size."""
        return (
            (self.cx - self.w / 2) * width,
            (self.cy - self.h / 2) * height,
            (self.cx + self.w / 2) * width,
            (self.cy + self.h / 2) * height,
        )

    def to_line(self) -> str:
        """The label-file line for this box."""
        return f"{self.cls} {self.cx:.6f} {self.cy:.6f} {self.w:.6f} {self.h:.6f}"


@dataclass(frozen=True)
class LabelIssue:
    """A label line (or file) that was skipped, with the reason: reported, never silently dropped."""

    path: str
    line: int  # 1-based line number; 0 when the whole file or image is concerned
    text: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}" + (f" ({self.text!r})" if self.text else "")


def read_class_names(data_yaml: str | Path) -> list[str]:
    """Class names from a data.yaml, whether `names` is a list or an {id: name} dict."""
    data_yaml = Path(data_yaml)
    if not data_yaml.is_file():
        raise MissingFileError(
            f"{data_yaml} not found: a YOLO export has a data.yaml with the class names at its root"
        )
    with open(data_yaml, encoding="utf-8") as f:
        cfg = yaml.safe_load(f) or {}
    names = cfg.get("names")
    if isinstance(names, dict):
        ids = sorted(int(k) for k in names)
        if ids != list(range(len(ids))):
            raise UsageError(f"{data_yaml}: class ids in `names` must be 0..{len(ids) - 1}, got {ids}")
        return [str(names[k]) for k in sorted(names, key=int)]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    raise UsageError(f"{data_yaml}: `names` must be a non-empty list or dict of class names, got {names!r}")


def split_image_dirs(root: str | Path) -> dict[str, Path]:
    """The images folder of each split present under root (`val` is accepted for `valid`)."""
    root = Path(root)
    found: dict[str, Path] = {}
    for split, aliases in SPLIT_ALIASES.items():
        for alias in aliases:
            images = root / alias / "images"
            if images.is_dir():
                found[split] = images
                break
    if not found:
        raise MissingFileError(
            f"{root}: no split folders found; expected {'/'.join(SPLITS)}/images (a Roboflow YOLO export)"
        )
    return found


def list_images(images_dir: str | Path) -> list[Path]:
    """Image files of one folder, sorted by name (hidden files, such as an unfinished write, are not images)."""
    return sorted(
        p
        for p in Path(images_dir).iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def label_path_for(image_path: str | Path) -> Path:
    """The label file that belongs to an image: .../images/x.jpg -> .../labels/x.txt."""
    image_path = Path(image_path)
    return image_path.parent.parent / "labels" / (image_path.stem + ".txt")


def parse_label_line(text: str, num_classes: int) -> Box | str:
    """A Box, or the reason why the line is invalid."""
    fields = text.split()
    if len(fields) != 5:
        return f"expected 5 fields (class cx cy w h), got {len(fields)}"
    try:
        cls_value = float(fields[0])
        cx, cy, w, h = (float(v) for v in fields[1:])
    except ValueError:
        return "a field is not a number"
    if not cls_value.is_integer():
        return f"class id {fields[0]} is not an integer"
    cls = int(cls_value)
    if not 0 <= cls < num_classes:
        return f"class id {cls} out of range 0..{num_classes - 1}"
    if not all(math.isfinite(v) for v in (cx, cy, w, h)):
        return "a coordinate is not finite"
    if not all(0.0 <= v <= 1.0 for v in (cx, cy, w, h)):
        return "coordinates must lie in [0, 1]"
    if w <= 0.0 or h <= 0.0:
        return "box width and height must be positive"
    return Box(cls, cx, cy, w, h)


def read_labels(label_path: str | Path, num_classes: int) -> tuple[list[Box], list[LabelIssue]]:
    """Valid boxes of a label file and an issue for each invalid line; a missing file means no boxes."""
    label_path = Path(label_path)
    if not label_path.exists():
        return [], []
    boxes: list[Box] = []
    issues: list[LabelIssue] = []
    try:
        text = label_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [], [LabelIssue(str(label_path), 0, "", "label file is not UTF-8 text")]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = parse_label_line(line, num_classes)
        if isinstance(parsed, Box):
            boxes.append(parsed)
        else:
            issues.append(LabelIssue(str(label_path), number, line.strip(), parsed))
    return boxes, issues


def write_labels(label_path: str | Path, boxes: list[Box]) -> None:
    """Write a label file atomically (one line per box)."""
    write_text_atomic(label_path, "".join(b.to_line() + "\n" for b in boxes))


def write_data_yaml(root: str | Path, names: list[str], extra: dict | None = None) -> Path:
    """Write ROOT/data.yaml with relative split paths that ultralytics and Roboflow both read."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cfg = {
        "path": ".",
        "train": "train/images",
        "val": "valid/images",
        "test": "test/images",
        "nc": len(names),
        "names": list(names),
    }
    cfg.update(extra or {})
    return write_text_atomic(root / "data.yaml", yaml.safe_dump(cfg, sort_keys=False))


@dataclass(frozen=True)
class LabelledImage:
    """An image of a YOLO dataset with its valid boxes and the issues found in its label file."""

    split: str
    image: Path
    boxes: list[Box]
    issues: list[LabelIssue]


def iter_dataset(root: str | Path, splits: tuple[str, ...] = SPLITS) -> Iterator[LabelledImage]:
    """Every image of a YOLO dataset, split by split, with validated labels (images are not opened)."""
    root = Path(root)
    names = read_class_names(root / "data.yaml")
    for split, images_dir in split_image_dirs(root).items():
        if split not in splits:
            continue
        for image in list_images(images_dir):
            boxes, issues = read_labels(label_path_for(image), len(names))
            yield LabelledImage(split, image, boxes, issues)
