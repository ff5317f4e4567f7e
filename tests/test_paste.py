"""Real people pasted into rendered scenes: the feathered alpha by hand, the pasted box, grey scenes, the dataset
written (labels kept and added, only the train split's people of the sources asked), resumed and refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fallkd_lib.data import yolo
from fallkd_lib.data.paste import (
    REPORT_FILE,
    PasteSpec,
    feather_mask,
    paste_dataset,
    paste_person,
    people_cuts,
)
from fallkd_lib.errors import UsageError


def test_feather_mask_by_hand() -> None:
    # 8 x 8, ramp 0.25 * 8 = 2 px: pixel centres 0.5, 1.5, 2.5, 3.5 from the edge -> 0.25, 0.75, 1, 1
    mask = feather_mask(8, 8, 0.25)
    np.testing.assert_allclose(mask[4], [0.25, 0.75, 1, 1, 1, 1, 0.75, 0.25])
    assert mask[0, 0] == pytest.approx(0.25) and mask[1, 1] == pytest.approx(0.75)
    np.testing.assert_array_equal(feather_mask(3, 2, 0.0), np.ones((2, 3)))  # no feather: a hard rectangle


def test_paste_person_returns_the_box_without_its_margin_and_touches_only_its_place() -> None:
    scene = np.zeros((60, 80, 3), np.uint8)
    scene[..., 0] = 120  # a coloured scene (not grey)
    before = scene.copy()
    cut = Image.new("RGB", (20, 40), (30, 200, 30))
    spec = PasteSpec(margin=0.08, feather=0.1)
    box = paste_person(scene, cut, (10, 5, 30, 45), spec, np.random.default_rng(0))
    mx, my = 20 * 0.08 / 1.16, 40 * 0.08 / 1.16  # the cut is the box plus a margin of 0.08 of it each side
    np.testing.assert_allclose(box, (10 + mx, 5 + my, 30 - mx, 45 - my))
    outside = np.ones(scene.shape[:2], bool)
    outside[5:45, 10:30] = False
    np.testing.assert_array_equal(scene[outside], before[outside])
    assert scene[25, 20, 1] > 0  # the person's green is there, in the middle
    assert scene[25, 20, 1] > scene[5, 10, 1]  # and fades out at the cut's corner


def test_a_grey_scene_gets_a_grey_person() -> None:
    scene = np.full((50, 50, 3), 90, np.uint8)
    paste_person(
        scene,
        Image.new("RGB", (20, 30), (200, 40, 40)),
        (5, 5, 25, 35),
        PasteSpec(),
        np.random.default_rng(1),
    )
    assert (scene[..., 0] == scene[..., 1]).all() and (scene[..., 1] == scene[..., 2]).all()
    assert scene[20, 15, 0] != 90  # something was pasted


def write_yolo(
    root: Path, images: dict[str, list[tuple[str, str]]], size=(64, 64), manifest: dict | None = None
) -> Path:
    """A fall/normal YOLO dataset: {split: [(stem, label lines)]}, plain images; an optional source manifest."""
    yolo.write_data_yaml(root, ["fall", "normal"])
    for split, items in images.items():
        for stem, lines in items:
            for sub in ("images", "labels"):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", size, (60 + 3 * len(stem), 90, 140)).save(
                root / split / "images" / f"{stem}.jpg"
            )
            (root / split / "labels" / f"{stem}.txt").write_text(lines)
    if manifest:
        rows = ["image,source"] + [f"{image},{source}" for image, source in manifest.items()]
        (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def scenes_and_people(tmp_path: Path) -> tuple[Path, Path]:
    """Three 64 px scenes (one with a normal person) and a people set: one fall person in train (source a), one
    in train from source b, one normal person in valid (never to be pasted)."""
    scenes = write_yolo(
        tmp_path / "scenes",
        {"train": [("s1", "1 0.2 0.5 0.1 0.3\n"), ("s2", "")], "valid": [("s3", "")]},
    )
    people = write_yolo(
        tmp_path / "people",
        {
            "train": [("p1", "0 0.5 0.5 0.5 0.6\n"), ("p2", "0 0.5 0.5 0.5 0.6\n")],
            "valid": [("p3", "1 0.5 0.5 0.5 0.6\n")],
        },
        size=(100, 100),
        manifest={"train/images/p1.jpg": "a", "train/images/p2.jpg": "b", "valid/images/p3.jpg": "a"},
    )
    return scenes, people


def test_people_cuts_keep_the_train_split_of_the_sources_asked(tmp_path: Path) -> None:
    _, people = scenes_and_people(tmp_path)
    cuts = people_cuts(people, "train", ("a",))
    assert [(c.image.name, c.name) for c in cuts] == [("p1.jpg", "fall")]
    np.testing.assert_allclose(cuts[0].box, (25, 20, 75, 80))  # 0.5 x 0.6 of 100 px around the centre
    assert len(people_cuts(people, "train")) == 2
    assert people_cuts(people, "train", min_side=61) == []  # 50 px wide: too small


def test_paste_dataset_adds_labelled_people_and_keeps_the_scenes(tmp_path: Path) -> None:
    scenes, people = scenes_and_people(tmp_path)
    spec = PasteSpec(per_scene=(2,), long_side=(0.3, 0.4))
    report = paste_dataset(scenes, people, tmp_path / "out", spec, sources=("a",), progress=False)
    assert report["images"] == {"train": 2, "valid": 1} and report["cuts"] == 1
    assert report["pasted_this_run"] + report["skipped_no_room"] == 2 * 3
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text()) == report
    assert yolo.read_class_names(tmp_path / "out" / "data.yaml") == ["fall", "normal"]
    labels = {p.stem: p.read_text().splitlines() for p in (tmp_path / "out").glob("*/labels/*.txt")}
    assert labels["s1"][0] == "1 0.200000 0.500000 0.100000 0.300000"  # the scene's own person kept first
    added = [line for stem, lines in labels.items() for line in lines[1 if stem == "s1" else 0 :]]
    assert len(added) == report["pasted_this_run"] > 0
    assert all(line.startswith("0 ") for line in added)  # only source a's train person (fall) was pasted
    for line in added:  # each pasted box: its longer side 0.3-0.4 of the scene (+/- a pixel of 64), inside it
        _, cx, cy, w, h = map(float, line.split())
        assert 0.3 - 1 / 64 <= max(w, h) <= 0.4 + 1 / 64
        assert 0 <= cx - w / 2 and cx + w / 2 <= 1 and 0 <= cy - h / 2 and cy + h / 2 <= 1
    image = tmp_path / "out" / "train" / "images" / "s2.jpg"
    assert Image.open(image).size == (64, 64)
    stamp = image.stat().st_mtime_ns
    again = paste_dataset(scenes, people, tmp_path / "out", spec, sources=("a",), progress=False)
    assert again == report and image.stat().st_mtime_ns == stamp  # finished: nothing redone, the same report
    before = image.read_bytes()
    (tmp_path / "out" / "train" / "labels" / "s2.txt").unlink()  # interrupted between s2's image and labels
    partial = paste_dataset(scenes, people, tmp_path / "out", spec, sources=("a",), progress=False)
    assert partial["pasted_this_run"] + partial["skipped_no_room"] == 2  # s2 alone, pasted again
    assert (
        image.read_bytes() == before
        and labels["s2"] == (image.parent.parent / "labels" / "s2.txt").read_text().splitlines()
    )
    paste_dataset(scenes, people, tmp_path / "out2", spec, sources=("a",), progress=False)
    assert (tmp_path / "out2" / "train" / "images" / "s2.jpg").read_bytes() == image.read_bytes()  # seeded


def test_paste_dataset_refuses_what_it_cannot_paste(tmp_path: Path) -> None:
    scenes, people = scenes_and_people(tmp_path)
    with pytest.raises(UsageError, match="no labelled person"):
        paste_dataset(scenes, people, tmp_path / "out", sources=("c",), progress=False)
    paste_dataset(scenes, people, tmp_path / "done", sources=("a",), progress=False)
    with pytest.raises(UsageError, match="holds people pasted with other inputs"):
        paste_dataset(scenes, people, tmp_path / "done", sources=("b",), progress=False)  # another source
    yolo.write_data_yaml(people, ["person"])
    with pytest.raises(UsageError, match="same class names"):
        paste_dataset(scenes, people, tmp_path / "out", progress=False)
    with pytest.raises(UsageError, match="long_side"):
        PasteSpec(long_side=(0.5, 0.2)).check()
