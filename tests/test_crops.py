"""extract_crops on a tiny generated YOLO dataset: files, manifest, report, resume, crop_params.json."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fallkd_lib.data.crops import extract_crops, read_crop_spec
from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.data.yolo import Box, write_data_yaml, write_labels

RED = (200, 0, 0)
SPEC = CropSpec(224, 0.1)
BACKGROUND = (20, 40, 160)


# ---------------------------------------------------------------- extract_crops on a tiny dataset


def _image(path: Path, width: int, height: int, paint: tuple[int, int, int, int] | None = None) -> None:
    pixels = np.full((height, width, 3), BACKGROUND, np.uint8)
    if paint:
        x1, y1, x2, y2 = paint
        pixels[y1:y2, x1:x2] = RED
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=95)


def make_tiny_dataset(root: Path) -> Path:
    """6 images: 5 crops to cut, 1 background, 1 truncated image, 1 tiny box, 1 invalid label line."""
    write_data_yaml(root, ["fall", "normal"])
    _image(root / "train/images/a.jpg", 100, 80, paint=(10, 10, 50, 40))
    write_labels(
        root / "train/labels/a.txt", [Box(0, 0.3, 0.3125, 0.4, 0.375), Box(1, 0.75, 0.5625, 0.3, 0.625)]
    )
    with open(root / "train/labels/a.txt", "a", encoding="utf-8") as f:
        f.write("7 0.5 0.5 0.1 0.1\n")
    _image(root / "train/images/b.jpg", 64, 64)
    write_labels(
        root / "train/labels/b.txt", [Box(1, 0.5, 0.5, 4 / 64, 6 / 64), Box(1, 0.375, 0.5, 0.5, 0.75)]
    )
    _image(root / "valid/images/c.jpg", 50, 100)
    write_labels(root / "valid/labels/c.txt", [Box(0, 0.5, 0.8, 0.8, 0.2)])
    _image(root / "valid/images/bg.jpg", 40, 40)
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="JPEG")
    (root / "test/images").mkdir(parents=True)
    (root / "test/images/broken.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) * 6 // 10])
    write_labels(root / "test/labels/broken.txt", [Box(0, 0.5, 0.5, 0.5, 0.5)])
    _image(root / "test/images/d.png", 120, 60)
    write_labels(root / "test/labels/d.txt", [Box(1, 0.25, 0.5, 0.2, 0.8)])
    (root / "manifest.csv").write_text(
        "split,image,source\ntrain,train/images/a.jpg,srcA\nvalid,valid/images/c.jpg,srcB\n", encoding="utf-8"
    )
    return root


EXPECTED_CROPS = [
    "test/normal/d_0.jpg",
    "train/fall/a_0.jpg",
    "train/normal/a_1.jpg",
    "train/normal/b_1.jpg",
    "val/fall/c_0.jpg",
]


def _crop_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))


def _manifest(out: Path) -> dict[str, dict]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        return {row["crop"]: row for row in csv.DictReader(f)}


def test_extract_crops_files_counts_manifest_and_report(tmp_path):
    data, out = make_tiny_dataset(tmp_path / "data"), tmp_path / "crops"
    report = extract_crops(data, out, CropSpec(32, 0.1), progress=False)
    assert _crop_files(out) == EXPECTED_CROPS
    assert report.counts == {
        "train": {"fall": 1, "normal": 2},
        "val": {"fall": 1, "normal": 0},
        "test": {"fall": 0, "normal": 1},
    }
    assert (report.total, report.images, report.background_images, report.written, report.reused) == (
        5,
        6,
        1,
        5,
        0,
    )
    assert report.skipped_by_kind() == {"invalid_label": 1, "unreadable_image": 1, "small_box": 1}
    with Image.open(out / "train/fall/a_0.jpg") as im:
        assert im.size == (32, 32)
        assert np.abs(np.asarray(im.convert("RGB"))[16, 16].astype(int) - RED).max() < 20  # the painted box

    rows = _manifest(out)
    assert sorted(rows) == EXPECTED_CROPS
    a0 = rows["train/fall/a_0.jpg"]
    assert {k: a0[k] for k in ("split", "class", "class_id", "image", "box_index", "source")} == {
        "split": "train",
        "class": "fall",
        "class_id": "0",
        "image": "train/images/a.jpg",
        "box_index": "0",
        "source": "srcA",
    }
    assert [float(a0[k]) for k in ("x1", "y1", "x2", "y2")] == [10.0, 10.0, 50.0, 40.0]
    padded = {crop: tuple(int(r[k]) for k in ("px1", "py1", "px2", "py2")) for crop, r in rows.items()}
    assert padded == {
        "train/fall/a_0.jpg": (6, 7, 54, 43),
        "train/normal/a_1.jpg": (57, 15, 93, 75),
        "train/normal/b_1.jpg": (4, 3, 44, 61),
        "val/fall/c_0.jpg": (1, 68, 49, 92),
        "test/normal/d_0.jpg": (15, 1, 45, 59),
    }
    assert rows["val/fall/c_0.jpg"]["split"] == "val" and rows["val/fall/c_0.jpg"]["source"] == "srcB"
    assert rows["test/normal/d_0.jpg"]["source"] == "unknown"
    assert rows["train/normal/b_1.jpg"]["box_index"] == "1"  # box 0 of b.jpg is the skipped tiny one

    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["counts"] == report.counts and saved["total"] == 5
    by_kind = {item["kind"]: item for item in saved["skipped"]}
    assert by_kind["unreadable_image"]["file"].endswith("broken.jpg")
    assert "broken.jpg" in by_kind["unreadable_image"]["reason"]
    assert by_kind["small_box"]["file"].endswith("b.jpg") and by_kind["small_box"]["box_index"] == 0
    assert "4.0x6.0 px is smaller than min_box_pixels=8" in by_kind["small_box"]["reason"]
    assert (
        by_kind["invalid_label"]["line"] == 3
        and "class id 7 out of range" in by_kind["invalid_label"]["reason"]
    )
    assert "5 crops" in report.summary() and "small_box=1" in report.summary()


def test_extract_crops_resumes(tmp_path):
    data, out = make_tiny_dataset(tmp_path / "data"), tmp_path / "crops"
    extract_crops(data, out, CropSpec(32, 0.1), progress=False)
    old = 1_000_000_000 * 10**9  # 2001-09-09, in ns
    for path in out.rglob("*.jpg"):
        os.utime(path, ns=(old, old))
    manifest_before = (out / "manifest.csv").read_text(encoding="utf-8")
    (out / "manifest.csv").unlink()

    again = extract_crops(data, out, CropSpec(32, 0.1), progress=False)
    assert (again.written, again.reused, again.total) == (0, 5, 5)
    assert all(p.stat().st_mtime_ns == old for p in out.rglob("*.jpg"))
    assert (out / "manifest.csv").read_text(encoding="utf-8") == manifest_before  # rebuilt in full

    (out / "val/fall/c_0.jpg").unlink()
    half = (out / "train/normal/a_1.jpg").read_bytes()
    (out / "train/normal/a_1.jpg").write_bytes(half[: len(half) // 2])  # an incomplete crop is cut again
    (out / "train/fall/stale_0.jpg").write_bytes(half)  # a crop no longer in the dataset is removed
    (out / "train/fall/.x_0.tmp.jpg").write_bytes(b"partial")
    third = extract_crops(data, out, CropSpec(32, 0.1), progress=False)
    assert (third.written, third.reused, third.stale_removed) == (2, 3, 1)
    assert _crop_files(out) == EXPECTED_CROPS and not list(out.rglob("*.tmp*"))
    assert (out / "train/fall/a_0.jpg").stat().st_mtime_ns == old

    changed = extract_crops(data, out, CropSpec(32, 0.2), progress=False)  # other settings: every crop again
    assert (changed.written, changed.reused) == (5, 0)


def test_extract_crops_any_class_names_and_val_folder(tmp_path):
    root = tmp_path / "laifi_like"
    write_data_yaml(root, ["Fall-Action", "Sit", "Stand"])
    _image(root / "val/images/x.jpg", 40, 40)
    write_labels(root / "val/labels/x.txt", [Box(1, 0.5, 0.5, 0.5, 0.5), Box(2, 0.5, 0.5, 0.25, 0.75)])
    report = extract_crops(root, tmp_path / "out", CropSpec(16, 0.1), progress=False)
    assert _crop_files(tmp_path / "out") == ["val/Sit/x_0.jpg", "val/Stand/x_1.jpg"]
    assert report.counts == {"val": {"Fall-Action": 0, "Sit": 1, "Stand": 1}}
    assert {r["source"] for r in _manifest(tmp_path / "out").values()} == {"unknown"}


def test_the_crop_folder_records_how_it_was_cut(tmp_path):
    data = make_tiny_dataset(tmp_path / "data")
    extract_crops(data, tmp_path / "crops", CropSpec(40, 0.25, fill=0), progress=False)
    assert read_crop_spec(tmp_path / "crops") == CropSpec(40, 0.25, fill=0)
    (tmp_path / "own" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"own/crop_params.json is missing.*fallkd crops"):
        read_crop_spec(tmp_path / "own")


def test_extract_crops_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="fallkd merge"):
        extract_crops(tmp_path / "missing", tmp_path / "out", SPEC, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no data.yaml"):
        extract_crops(tmp_path / "empty", tmp_path / "out", SPEC, progress=False)
    data = make_tiny_dataset(tmp_path / "data")
    with pytest.raises(ValueError, match="must differ from the dataset folder"):
        extract_crops(data, data, SPEC, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.realdata
def test_extract_crops_real_dataset_test_split(tmp_path, shared_datasets):
    root = shared_datasets / "fall_action_laifi"
    report = extract_crops(root, tmp_path / "crops", CropSpec(32, 0.1), splits=("test",), progress=False)
    assert report.counts == {"test": {"Fall-Action": 55, "Sit": 44, "Stand": 56}}  # README table
    assert (report.images, report.skipped) == (152, [])
    sources = {r["source"] for r in _manifest(tmp_path / "crops").values()}
    assert "unknown" not in sources and "fd2_frame" in sources  # from the manifest's `origin` column
