"""Crop geometry (padded box, letterbox, crops) and extract_crops on a tiny generated YOLO dataset."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fallkd_lib.data.crops import (
    crop_people,
    crop_person,
    crop_person_pil,
    extract_crops,
    letterbox,
    letterbox_params,
    padded_box,
)
from fallkd_lib.data.yolo import Box, write_data_yaml, write_labels

RED = (200, 0, 0)
BACKGROUND = (20, 40, 160)


# ---------------------------------------------------------------- padded_box


@pytest.mark.parametrize(
    ("xyxy", "pad", "expected"),
    [
        ((20, 30, 60, 70), 0.1, (16, 26, 64, 74)),  # inside: 40x40 box grows by 4 px on each side
        ((10.5, 20.2, 30.5, 60.7), 0.0, (10, 20, 31, 61)),  # no pad: rounded outward
        ((2, 40, 42, 60), 0.1, (0, 38, 46, 62)),  # left border: x1 = 2 - 4 -> 0
        ((40, 1, 60, 21), 0.1, (38, 0, 62, 23)),  # top border: y1 = 1 - 2 -> 0
        ((80, 40, 99, 60), 0.1, (78, 38, 100, 62)),  # right: 78.1 -> 78, 100.9 -> 101 -> 100
        ((40, 90, 60, 100), 0.1, (38, 89, 62, 100)),  # bottom: 101 -> 100
        ((0, 0, 10, 10), 0.5, (0, 0, 15, 15)),  # top-left corner
        ((90, 95, 100, 100), 0.5, (85, 92, 100, 100)),  # bottom-right: y1 = 92.5 -> 92
        (
            (0, 0, 90, 10),
            0.7,
            (0, 0, 100, 17),
        ),  # 0.7 * 90 = 62.99999999999999 is not rounded to 62/63 wrongly
        ((9.999999999999998, 10, 50, 40), 0.1, (6, 7, 54, 43)),  # float noise of YOLO -> pixel conversion
    ],
)
def test_padded_box_by_hand(xyxy, pad, expected):
    assert padded_box(xyxy, pad, 100, 100) == expected


def test_padded_box_degenerate_and_bad_input():
    with pytest.raises(ValueError, match=r"box \(110, 10, 120, 20\) is empty inside the 100x100 image"):
        padded_box((110, 10, 120, 20), 0.1, 100, 100)
    with pytest.raises(ValueError, match="x1 <= x2"):
        padded_box((50, 10, 40, 20), 0.1, 100, 100)
    with pytest.raises(ValueError, match="pad must be >= 0"):
        padded_box((10, 10, 20, 20), -0.1, 100, 100)


# ---------------------------------------------------------------- letterbox


def test_letterbox_params_wide_and_tall():
    assert letterbox_params(50, 100, 64) == (0.64, 64, 32, 0, 16)  # height 50, width 100
    assert letterbox_params(100, 50, 64) == (0.64, 32, 64, 16, 0)
    assert letterbox_params(64, 33, 64) == (1.0, 33, 64, 15, 0)  # odd margin: 15 left, 16 right


def test_letterbox_wide_input_has_grey_rows():
    image = np.full((50, 100, 3), RED, np.uint8)
    out = letterbox(image, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert (out[:16] == 114).all() and (out[48:] == 114).all()
    assert (out[16:48] == RED).all()


def test_letterbox_tall_input_has_grey_columns_and_enlarges():
    image = np.full((20, 10, 3), RED, np.uint8)  # enlarged x3.2 (INTER_LINEAR) to 32 wide x 64 tall
    out = letterbox(image, 64, fill=0)
    assert (out[:, :16] == 0).all() and (out[:, 48:] == 0).all()
    assert (out[:, 16:48] == RED).all()


def test_letterbox_no_resize_keeps_pixels_and_odd_margins():
    image = np.random.default_rng(0).integers(0, 256, (64, 33, 3), dtype=np.uint8)
    out = letterbox(image, 64)
    np.testing.assert_array_equal(out[:, 15:48], image)
    assert (out[:, :15] == 114).all() and (out[:, 48:] == 114).all()


def test_letterbox_shrinks_with_area_interpolation():
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, ::4] = 255  # one bright column in four: INTER_AREA averages to 63.75 -> 64, INTER_LINEAR gives 0
    assert (letterbox(image, 2) == 64).all()


def test_letterbox_rejects_non_rgb():
    with pytest.raises(ValueError, match="HxWx3 uint8 RGB"):
        letterbox(np.zeros((10, 10), np.uint8), 16)
    with pytest.raises(ValueError, match="HxWx3 uint8 RGB"):
        letterbox(np.zeros((10, 10, 3), np.float32), 16)


# ---------------------------------------------------------------- crop_person / crop_people


def _border_scene() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    image = np.zeros((80, 100, 3), np.uint8)  # 100 wide, 80 tall, black
    box = (0, 20, 30, 60)  # touches the left border
    image[20:60, 0:30] = RED
    return image, box


def test_crop_person_at_image_border():
    image, box = _border_scene()
    # padded box (0, 16, 33, 64): 33 x 48 -> scale 64/48, 44 x 64, left margin (64 - 44) // 2 = 10
    assert padded_box(box, 0.1, 100, 80) == (0, 16, 33, 64)
    crop = crop_person(image, box, size=64, pad=0.1)
    assert crop.shape == (64, 64, 3)
    assert tuple(crop[32, 32]) == RED
    assert (crop[:, :10] == 114).all() and (crop[:, 54:] == 114).all()
    assert (crop[0, 10:54] == 0).all()  # the black context above the box (rows 16..19) is kept


def test_crop_people_batch_and_empty():
    image, box = _border_scene()
    batch = crop_people(image, [box, (50, 10, 90, 70)], size=32)
    assert batch.shape == (2, 32, 32, 3) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[0], crop_person(image, box, size=32))
    assert crop_people(image, np.zeros((0, 4)), size=32).shape == (0, 32, 32, 3)
    assert crop_people(image, [], size=32).shape == (0, 32, 32, 3)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        crop_people(image, [1, 2, 3], size=32)
    with pytest.raises(ValueError, match="size must be >= 16"):
        crop_person(image, box, size=8)


def test_crop_person_pil_matches_numpy():
    image, box = _border_scene()
    out = crop_person_pil(Image.fromarray(image), box, size=32)
    assert out.size == (32, 32)
    np.testing.assert_array_equal(np.asarray(out), crop_person(image, box, size=32))


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
    report = extract_crops(data, out, size=32, pad=0.1, progress=False)
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
    extract_crops(data, out, size=32, progress=False)
    old = 1_000_000_000 * 10**9  # 2001-09-09, in ns
    for path in out.rglob("*.jpg"):
        os.utime(path, ns=(old, old))
    manifest_before = (out / "manifest.csv").read_text(encoding="utf-8")
    (out / "manifest.csv").unlink()

    again = extract_crops(data, out, size=32, progress=False)
    assert (again.written, again.reused, again.total) == (0, 5, 5)
    assert all(p.stat().st_mtime_ns == old for p in out.rglob("*.jpg"))
    assert (out / "manifest.csv").read_text(encoding="utf-8") == manifest_before  # rebuilt in full

    (out / "val/fall/c_0.jpg").unlink()
    half = (out / "train/normal/a_1.jpg").read_bytes()
    (out / "train/normal/a_1.jpg").write_bytes(half[: len(half) // 2])  # an incomplete crop is cut again
    (out / "train/fall/stale_0.jpg").write_bytes(half)  # a crop no longer in the dataset is removed
    (out / "train/fall/x_0.jpg.tmp").write_bytes(b"partial")
    third = extract_crops(data, out, size=32, progress=False)
    assert (third.written, third.reused, third.stale_removed) == (2, 3, 1)
    assert _crop_files(out) == EXPECTED_CROPS and not list(out.rglob("*.tmp"))
    assert (out / "train/fall/a_0.jpg").stat().st_mtime_ns == old

    changed = extract_crops(data, out, size=32, pad=0.2, progress=False)  # other settings: every crop again
    assert (changed.written, changed.reused) == (5, 0)


def test_extract_crops_any_class_names_and_val_folder(tmp_path):
    root = tmp_path / "laifi_like"
    write_data_yaml(root, ["Fall-Action", "Sit", "Stand"])
    _image(root / "val/images/x.jpg", 40, 40)
    write_labels(root / "val/labels/x.txt", [Box(1, 0.5, 0.5, 0.5, 0.5), Box(2, 0.5, 0.5, 0.25, 0.75)])
    report = extract_crops(root, tmp_path / "out", size=16, progress=False)
    assert _crop_files(tmp_path / "out") == ["val/Sit/x_0.jpg", "val/Stand/x_1.jpg"]
    assert report.counts == {"val": {"Fall-Action": 0, "Sit": 1, "Stand": 1}}
    assert {r["source"] for r in _manifest(tmp_path / "out").values()} == {"unknown"}


def test_extract_crops_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="fallkd merge"):
        extract_crops(tmp_path / "missing", tmp_path / "out", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no data.yaml"):
        extract_crops(tmp_path / "empty", tmp_path / "out", progress=False)
    data = make_tiny_dataset(tmp_path / "data")
    with pytest.raises(ValueError, match="size must be >= 16"):
        extract_crops(data, tmp_path / "out", size=8, progress=False)
    with pytest.raises(ValueError, match="pad must be >= 0"):
        extract_crops(data, tmp_path / "out", pad=-0.1, progress=False)
    with pytest.raises(ValueError, match="must differ from the dataset folder"):
        extract_crops(data, data, progress=False)
    assert not (tmp_path / "out").exists()


def _shared_datasets() -> Path:
    return Path(
        os.environ.get("FALLKD_SHARED_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets")
    )


@pytest.mark.realdata
def test_extract_crops_real_dataset_test_split(tmp_path):
    root = _shared_datasets() / "fall_action_laifi"
    if not (root / "data.yaml").is_file():
        pytest.skip(f"real dataset not found at {root}")
    report = extract_crops(root, tmp_path / "crops", size=32, splits=("test",), progress=False)
    assert report.counts == {"test": {"Fall-Action": 55, "Sit": 44, "Stand": 56}}  # README table
    assert (report.images, report.skipped) == (152, [])
    sources = {r["source"] for r in _manifest(tmp_path / "crops").values()}
    assert "unknown" not in sources and "fd2_frame" in sources  # from the manifest's `origin` column
