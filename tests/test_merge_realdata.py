"""Merge the two real datasets in ../shared/datasets (fall_action_laifi + hospital_bed_rf, 1,788 images)."""

from __future__ import annotations

import csv
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml
from conftest import SHARED_DATASETS

from fallkd_lib.data.merge import merge_datasets
from fallkd_lib.data.yolo import Box, label_path_for, list_images, read_class_names, split_image_dirs

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SOURCES = ("fall_action_laifi", "hospital_bed_rf")
# source class name -> merged class id (0 fall, 1 normal); other names must not survive
POSTURE = {"Fall-Action": 0, "Sit": 1, "Stand": 1, "fall": 0, "lie": 1, "move": 1, "sit": 1, "stand": 1}


def source_boxes(image: Path, names: list[str]) -> list[tuple[str, Box]]:
    """(class name, box) of every line of an image's label file (the real sets have no bad lines)."""
    label = label_path_for(image)
    if not label.exists():
        return []
    rows = [line.split() for line in label.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(names[int(r[0])], Box(int(r[0]), *map(float, r[1:]))) for r in rows]


def key(box: Box, cls: int) -> tuple:
    return (cls, *(round(v, 5) for v in (box.cx, box.cy, box.w, box.h)))


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    if not all((SHARED_DATASETS / name / "data.yaml").is_file() for name in SOURCES):
        pytest.skip(f"real datasets not found under {SHARED_DATASETS} (set FALLKD_SHARED_DATASETS)")
    out = tmp_path_factory.mktemp("real") / "merged"
    start = time.perf_counter()
    report = merge_datasets([SHARED_DATASETS / name for name in SOURCES], out, progress=False)
    elapsed = time.perf_counter() - start
    n = report.counts["images"]["input"]
    print(f"\nmerge of {n} real images: {elapsed:.1f} s, {n / elapsed:.0f} images/s\n{report.summary()}")
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return out, report, rows, elapsed


def test_names(merged):
    """(The merge's speed is benchmarks/bench_data.py's claim, printed above, not asserted here.)"""
    out, _, _, _ = merged
    assert yaml.safe_load((out / "data.yaml").read_text())["names"] == ["fall", "normal"]


def test_counts_are_consistent(merged):
    _, report, rows, _ = merged
    counts = report.counts
    total = 0
    for name in SOURCES:
        n_images = sum(len(list_images(d)) for d in split_image_dirs(SHARED_DATASETS / name).values())
        src = counts["per_source"][name]
        assert src["input"] == n_images
        assert (
            src["kept"] + src["unreadable_image"] + src["exact_duplicate"] + src["near_duplicate"] == n_images
        )
        assert (
            src["kept"]
            == sum(r["source"] == name for r in rows)
            == sum(counts["per_source_split"][name].values())
        )
        total += n_images
    images = counts["images"]
    assert images["input"] == total == 1788
    assert (
        images["kept"] + images["unreadable_image"] + images["exact_duplicate"] + images["near_duplicate"]
        == total
    )
    assert images["kept"] == len(rows) == sum(s["images"] for s in counts["per_split"].values())
    assert counts["boxes"]["fall"] == sum(int(r["n_fall"]) for r in rows)


def test_no_group_straddles_splits(merged):
    _, report, rows, _ = merged
    splits = defaultdict(set)
    for row in rows:
        splits[row["group"]].add(row["split"])
    assert len(splits) == report.counts["groups"]
    assert all(len(s) == 1 for s in splits.values())
    assert Counter(r["split"] for r in rows)["train"] / len(rows) == pytest.approx(0.7, abs=0.05)


def test_every_kept_box_is_a_posture_box_and_every_hospital_fall_survives(merged):
    out, report, rows, _ = merged
    fall_expected = {name: 0 for name in SOURCES}
    identity_over_posture = 0
    for row in rows:
        original = Path(row["original_path"])
        names = read_class_names(SHARED_DATASETS / row["source"] / "data.yaml")
        boxes = source_boxes(original, names)
        expected = Counter(key(b, POSTURE[n]) for n, b in boxes if n in POSTURE)
        image = out / row["image"]
        written = [line.split() for line in label_path_for(image).read_text().splitlines()]
        got = Counter(key(Box(int(w[0]), *map(float, w[1:])), int(w[0])) for w in written)
        assert got == expected, original  # no identity, bed, danger, walker or wheelchair box survives
        assert int(row["n_fall"]) == sum(POSTURE[n] == 0 for n, _ in boxes if n in POSTURE)
        fall_expected[row["source"]] += int(row["n_fall"])
        postures = [b for n, b in boxes if n in POSTURE or n == "danger"]
        identity_over_posture += sum(
            any(_iou(b, p) >= 0.5 for p in postures) for n, b in boxes if n in ("patient", "person")
        )
    hospital = report.counts["per_source"]["hospital_bed_rf"]
    assert hospital["fall_boxes"] == fall_expected["hospital_bed_rf"]
    assert identity_over_posture > 1000
    if hospital["kept"] == hospital["input"]:  # true for these two sets: nothing is a duplicate
        assert hospital["fall_boxes"] == 358  # the README's count: all of them survive as fall
        assert hospital["identity_redundant"] == identity_over_posture


def _iou(a: Box, b: Box) -> float:
    ax1, ay1, ax2, ay2 = a.to_xyxy(1, 1)
    bx1, by1, bx2, by2 = b.to_xyxy(1, 1)
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    return inter / (a.w * a.h + b.w * b.h - inter)
