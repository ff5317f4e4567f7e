"""The synthetic dataset: layout, determinism, resume, labels that match the drawn people, and no trivial cue."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from fallkd_lib.data.synthetic import (
    ALL_STYLES,
    FALL_POSTURES,
    NORMAL_POSTURES,
    STYLE_CLASS_NAMES,
    STYLES,
    Look,
    Pose,
    aspect_ratio_baseline,
    best_threshold,
    class_name,
    generate_dataset,
    interpolate_pose,
    render_figure,
    render_scene,
    split_counts,
)
from fallkd_lib.data.yolo import Box, parse_label_line, read_class_names

SIZE = 160
LOOK = Look(
    skin=(224, 172, 125), hair=(40, 30, 20), shirt=(200, 40, 40), trousers=(40, 60, 120), shoes=(30, 30, 30)
)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def park20(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("park20")
    summary = generate_dataset(root, 20, seed=3, style="park", size=SIZE, progress=False)
    return root, summary


def test_split_counts_add_up_exactly():
    assert split_counts(20, (0.7, 0.15, 0.15)) == {"train": 14, "valid": 3, "test": 3}
    assert split_counts(10, (0.7, 0.15, 0.15)) == {"train": 7, "valid": 2, "test": 1}  # 7 / 1.5 / 1.5
    assert split_counts(1, (0.7, 0.15, 0.15)) == {"train": 1, "valid": 0, "test": 0}
    assert split_counts(5, (0.8, 0.2, 0.0)) == {"train": 4, "valid": 1, "test": 0}


def test_layout_data_yaml_and_manifest(park20):
    root, summary = park20
    assert summary["images"] == {"train": 14, "valid": 3, "test": 3}
    assert summary["generated"] == 20 and summary["skipped"] == 0
    expected = {"train": range(0, 14), "valid": range(14, 17), "test": range(17, 20)}
    for split, indices in expected.items():
        images = sorted(p.name for p in (root / split / "images").iterdir())
        labels = sorted(p.name for p in (root / split / "labels").iterdir())
        assert images == [f"park_{i:05d}.jpg" for i in indices]
        assert labels == [f"park_{i:05d}.txt" for i in indices]
    cfg = yaml.safe_load((root / "data.yaml").read_text())
    assert cfg["names"] == ["Fall-Detected", "person"] and cfg["nc"] == 2
    assert (cfg["source"], cfg["style"], cfg["seed"], cfg["size"], cfg["images"]) == (
        "synthetic",
        "park",
        3,
        SIZE,
        20,
    )
    assert read_class_names(root / "data.yaml") == ["Fall-Detected", "person"]
    with open(root / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    in_index_order = [f"{s}/images/park_{i:05d}.jpg" for s, indices in expected.items() for i in indices]
    assert [r["image"] for r in rows] == in_index_order
    assert [r["split"] for r in rows] == ["train"] * 14 + ["valid"] * 3 + ["test"] * 3
    assert set(rows[0]) == {"image", "split", "n_people", "postures", "classes"}
    total = 0
    for row in rows:
        postures = row["postures"].split(";")
        assert len(postures) == int(row["n_people"]) and set(postures) <= set(FALL_POSTURES + NORMAL_POSTURES)
        assert row["classes"].split(";") == [class_name("park", p) for p in postures]
        total += int(row["n_people"])
    assert sum(summary["boxes"].values()) == total


def test_every_label_line_is_valid_with_one_to_four_people(park20):
    root, _ = park20
    labels = sorted(root.glob("*/labels/*.txt"))
    assert len(labels) == 20
    for path in labels:
        lines = path.read_text().splitlines()
        assert 1 <= len(lines) <= 4, path
        for line in lines:
            box = parse_label_line(line, 2)
            assert isinstance(box, Box), f"{path}: {line!r}: {box}"
            x0, y0, x1, y1 = box.to_xyxy(1, 1)
            assert 0.0 <= x0 < x1 <= 1.0 + 1e-6 and 0.0 <= y0 < y1 <= 1.0 + 1e-6


def test_same_seed_same_bytes_other_seed_other_images(tmp_path, park20):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for root, seed in ((a, 0), (b, 0), (c, 1)):
        generate_dataset(root, 4, seed=seed, style="cctv", size=SIZE, progress=False)
    files_a, files_b, files_c = _files(a), _files(b), _files(c)
    assert files_a == files_b
    images = [k for k in files_a if k.endswith(".jpg")]
    assert len(images) == 4 and all(files_a[k] != files_c[k] for k in images)
    # an image depends only on (seed, style, index): index 0 of a 20-image run equals index 0 of a 4-image run
    park0 = tmp_path / "park0"
    generate_dataset(park0, 4, seed=3, style="park", size=SIZE, progress=False)
    assert (park0 / "train/images/park_00000.jpg").read_bytes() == (
        park20[0] / "train/images/park_00000.jpg"
    ).read_bytes()


def test_cctv_style_uses_its_own_names(tmp_path):
    summary = generate_dataset(tmp_path, 6, style="cctv", size=SIZE, progress=False)
    names = read_class_names(tmp_path / "data.yaml")
    assert names == ["fallen", "sitting", "standing", "walking"] == STYLE_CLASS_NAMES["cctv"]
    assert set(summary["boxes"]) == set(names)
    with open(tmp_path / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            stem = Path(row["image"]).stem
            lines = (tmp_path / row["split"] / "labels" / f"{stem}.txt").read_text().splitlines()
            assert [names[int(line.split()[0])] for line in lines] == row["classes"].split(";")
            assert row["classes"].split(";") == [class_name("cctv", p) for p in row["postures"].split(";")]


def test_class_names_by_posture():
    assert STYLES == ("park", "cctv")
    assert [class_name("park", p) for p in ("lying", "crumpled", "falling")] == ["Fall-Detected"] * 3
    assert [class_name("park", p) for p in NORMAL_POSTURES] == ["person"] * 6
    assert [
        class_name("cctv", p) for p in ("lying", "standing", "walking", "sitting", "bending", "crouching")
    ] == ["fallen", "standing", "walking", "sitting", "standing", "standing"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"style": "beach"}, "choose one of park, cctv"),
        ({"images": 0}, "images must be a whole number >= 1"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"size": 10}, "size must be a whole number of pixels >= 64"),
        ({"split": (0.5, 0.5, 0.5)}, "adding up to 1"),
    ],
)
def test_bad_arguments_raise(tmp_path, kwargs, message):
    args = {"out": tmp_path / "x", "images": 2, "size": 64, "progress": False} | kwargs
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        generate_dataset(**args)
    assert not (tmp_path / "x").exists()


def test_render_scene_rejects_unknown_style():
    with pytest.raises(ValueError, match="unknown synthetic style 'indoor'"):
        render_scene(np.random.default_rng(0), "indoor", 64)


def test_other_settings_in_an_existing_folder_raise(tmp_path):
    generate_dataset(tmp_path, 2, seed=0, style="park", size=64, progress=False)
    with pytest.raises(ValueError, match=r"seed: 0 there, 1 asked"):
        generate_dataset(tmp_path, 2, seed=1, style="park", size=64, progress=False)
    with pytest.raises(ValueError, match=r"style: 'park' there, 'cctv' asked"):
        generate_dataset(tmp_path, 2, seed=0, style="cctv", size=64, progress=False)
    (tmp_path / "data.yaml").unlink()
    with pytest.raises(ValueError, match="no data.yaml"):
        generate_dataset(tmp_path, 2, seed=0, style="park", size=64, progress=False)


def test_resume_skips_complete_images_and_finishes_the_rest(tmp_path):
    generate_dataset(tmp_path, 8, seed=5, style="park", size=96, progress=False)
    before = _files(tmp_path)
    mtimes = {p: os.stat(tmp_path / p).st_mtime_ns for p in before}
    # an interrupted run: image 5 without its label, image 7 never written, no manifest yet
    (tmp_path / "train/labels/park_00005.txt").unlink()
    (tmp_path / "test/images/park_00007.jpg").unlink()
    (tmp_path / "test/labels/park_00007.txt").unlink()
    (tmp_path / "manifest.csv").unlink()
    summary = generate_dataset(tmp_path, 8, seed=5, style="park", size=96, progress=False)
    assert (summary["generated"], summary["skipped"]) == (2, 6)
    assert _files(tmp_path) == before  # the same bytes, manifest included
    redone = {
        "train/images/park_00005.jpg",
        "train/labels/park_00005.txt",
        "test/images/park_00007.jpg",
        "test/labels/park_00007.txt",
        "manifest.csv",
        "data.yaml",
    }
    for p, mtime in mtimes.items():
        if p not in redone:
            assert os.stat(tmp_path / p).st_mtime_ns == mtime, f"{p} was rewritten"


def test_box_is_the_extent_of_the_drawn_figure():
    poses = [
        Pose(),
        Pose(pitch=-90, yaw=60, l_shoulder_abd=70),
        Pose(l_hip=120, r_hip=120, l_knee=130, r_knee=130),
    ]
    for pose in poses:
        canvas = np.full((200, 200, 3), 128, np.uint8)
        box = render_figure(canvas, pose, LOOK, (100.0, 170.0), 140.0, elevation=20.0)
        ys, xs = np.nonzero(np.any(canvas != 128, axis=2))
        drawn = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert box is not None
        assert all(abs(a - b) <= 1 for a, b in zip(box, drawn, strict=True)), (box, drawn)
    standing = render_figure(np.full((200, 200, 3), 128, np.uint8), Pose(), LOOK, (100.0, 170.0), 140.0)
    assert 135 <= standing[3] - standing[1] <= 142  # about its height: 140 px
    assert (standing[2] - standing[0]) / (standing[3] - standing[1]) < 0.45
    # a figure half out of the frame: the box is clipped to the frame
    cut = render_figure(np.full((200, 200, 3), 128, np.uint8), Pose(), LOOK, (100.0, 250.0), 140.0)
    assert cut[3] == 200 and cut[1] >= 105


def test_render_scene_labels_match_postures():
    for i in range(6):
        image, labels = render_scene(np.random.default_rng([9, i]), STYLES[i % 2], 128)
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        assert 1 <= len(labels) <= 4
        for posture, box in labels:
            assert STYLE_CLASS_NAMES[STYLES[i % 2]][box.cls] == class_name(STYLES[i % 2], posture)


def test_interpolate_pose_takes_the_short_way_round():
    a, b = Pose(l_knee=0.0, yaw=350.0), Pose(l_knee=90.0, yaw=10.0)
    mid = interpolate_pose(a, b, 0.5)
    assert mid.l_knee == 45.0 and mid.yaw % 360.0 == 0.0
    assert interpolate_pose(a, b, 0.0) == a and interpolate_pose(a, b, 1.0).l_knee == 90.0


def test_best_threshold_is_exhaustive():
    assert best_threshold([0.5, 1.0, 2.0, 3.0], [False, False, True, True]) | {"majority_accuracy": 0} == {
        "threshold": 1.5,
        "rule": "fall if w/h > threshold",
        "accuracy": 1.0,
        "majority_accuracy": 0,
    }
    tall_falls = best_threshold([0.3, 0.4, 2.0, 3.0, 0.5], [True, True, False, False, False])
    assert (tall_falls["threshold"], tall_falls["rule"], tall_falls["accuracy"]) == (
        0.45,
        "fall if w/h < threshold",
        1.0,
    )
    mixed = best_threshold([0.5, 1.0, 1.0, 3.0], [False, True, False, True])
    assert mixed["accuracy"] == 0.75 and mixed["majority_accuracy"] == 0.5


@pytest.mark.parametrize("style", ALL_STYLES)
@pytest.mark.slow
def test_aspect_ratio_alone_does_not_separate_the_classes(tmp_path, style):
    generate_dataset(tmp_path, 200, seed=11, style=style, size=128, progress=False)
    result = aspect_ratio_baseline(tmp_path)
    assert result["images"] == 200 and result["boxes"] >= 200
    assert result["fall"] > 0.3 * result["boxes"] and result["normal"] > 0.3 * result["boxes"]
    assert 0.5 < result["accuracy"] < 0.95, result


def test_clear_world_lights_every_scene_and_keeps_people_tall():
    from fallkd_lib.data.synthetic import style_spec

    full, clear = style_spec("cctv", "full"), style_spec("cctv", "clear")
    assert "night" in full.lighting and "ir" in full.lighting
    assert set(clear.lighting) == {"day", "overcast", "dusk"} and sum(
        clear.lighting.values()
    ) == pytest.approx(1)
    assert clear.horizon == (-0.1, 0.3) and clear.occlusion == 0.08 and clear.heights[0] == 0.15
    assert style_spec("park", "clear").horizon == style_spec("park", "full").horizon
    assert style_spec("park") is style_spec("park", "full")  # full: the specs as they are
    with pytest.raises(ValueError, match="unknown synthetic world 'easy'"):
        style_spec("park", "easy")
    # same generator state, other world: other scene (the world is used), and every person >= 15% tall
    for i in range(20):
        _, labels = render_scene(np.random.default_rng([5, i]), "cctv", 320, "clear")
        assert all(b.h >= 0.05 for _, b in labels)  # boxes of people lying or cut by the frame may be short
    a, _ = render_scene(np.random.default_rng(1), "cctv", 128, "full")
    b, _ = render_scene(np.random.default_rng(1), "cctv", 128, "clear")
    assert not np.array_equal(a, b)


def test_world_is_recorded_and_a_resume_in_another_world_refused(tmp_path):
    generate_dataset(tmp_path, 2, seed=0, style="park", size=64, world="clear", progress=False)
    assert yaml.safe_load((tmp_path / "data.yaml").read_text())["world"] == "clear"
    with pytest.raises(ValueError, match=r"world: 'clear' there, 'full' asked"):
        generate_dataset(tmp_path, 2, seed=0, style="park", size=64, progress=False)
    with pytest.raises(ValueError, match="unknown synthetic world"):
        generate_dataset(tmp_path / "x", 2, world="dark", progress=False)
    assert not (tmp_path / "x").exists()
    # a data.yaml written before worlds existed holds no world key: it is the full world
    old = tmp_path / "old"
    generate_dataset(old, 2, seed=0, style="park", size=64, progress=False)
    meta = yaml.safe_load((old / "data.yaml").read_text())
    del meta["world"]
    (old / "data.yaml").write_text(yaml.safe_dump(meta))
    assert generate_dataset(old, 2, seed=0, style="park", size=64, progress=False)["skipped"] == 2
