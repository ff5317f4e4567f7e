"""Image-level fall scoring (hand-computed counts, thresholds and gates), the systems' detection rows, and the
"not a person" outcomes of detections that match nobody."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from fallkd_lib.data.geometry import CropSpec, crop_people
from fallkd_lib.detector import image_systems
from fallkd_lib.detector.image_level import (
    choose_gate,
    choose_threshold,
    image_level_scores,
    image_scores,
    image_truth,
)
from fallkd_lib.detector.image_systems import classify_boxes, fall_class_rows, truth_boxes, with_detections
from fallkd_lib.detector.not_person import detection_outcomes

FALL = ((10, 10, 30, 20), "fall")
NORMAL = ((50, 10, 60, 40), "normal")


def image(gt: list, dets: list) -> dict:
    return {"gt": gt, "detections": dets}


def test_an_image_is_fall_when_any_box_is_and_scores_its_best_detection_past_the_gate() -> None:
    images = [
        image([NORMAL, FALL], [[0, 0, 1, 1, 0.9, 0.2], [0, 0, 1, 1, 0.3, 0.8]]),
        image([NORMAL], []),
        image([], [[0, 0, 1, 1, 0.6, 0.4]]),
    ]
    assert image_truth(images).tolist() == [True, False, False]
    np.testing.assert_allclose(image_scores(images), [0.8, 0.0, 0.4])
    np.testing.assert_allclose(image_scores(images, gate=0.5), [0.2, 0.0, 0.4])  # the 0.3 box is gated out


def test_image_level_counts_by_hand() -> None:
    truth, scores = [True, True, False, False, True], [0.9, 0.3, 0.6, 0.0, 0.0]
    s = image_level_scores(truth, scores, 0.5)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (1, 1, 2, 1)
    assert s["precision"] == 0.5 and s["recall"] == pytest.approx(1 / 3)
    assert s["f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 2)) and s["accuracy"] == pytest.approx(2 / 5)
    # an image without any detection (score 0) is never fall, even at threshold 0
    assert image_level_scores(truth, scores, 0.0)["fn"] == 1
    none = image_level_scores([True, False], [0.0, 0.0], 0.5)
    assert math.isnan(none["precision"]) and math.isnan(none["f1"]) and none["accuracy"] == 0.5


def test_the_threshold_is_the_best_f1_and_ties_go_to_the_higher() -> None:
    # t=0.9: F1 2/3;  t=0.8: 1/2;  t=0.7: 2/5;  t=0.6: 2/3 (tie with 0.9: the higher wins)
    assert choose_threshold([True, False, False, True], [0.9, 0.8, 0.7, 0.6]) == 0.9
    # t=0.9: 2/3;  t=0.8: 1/2;  t=0.7: 4/5 (best)
    assert choose_threshold([True, False, True], [0.9, 0.8, 0.7]) == 0.7
    assert choose_threshold([True, False], [0.0, 0.0]) == math.inf
    with pytest.raises(ValueError, match="at least one fall image"):
        choose_threshold([False, False], [0.5, 0.2])


def test_the_gate_drops_weak_clutter_and_ties_go_to_the_higher_gate() -> None:
    images = [
        image([FALL], [[0, 0, 1, 1, 0.9, 0.8]]),
        image([NORMAL], [[0, 0, 1, 1, 0.3, 0.95], [0, 0, 1, 1, 0.9, 0.1]]),  # weak clutter called fall
        image([FALL], [[0, 0, 1, 1, 0.7, 0.7]]),
    ]
    assert choose_gate(images, [0.25]) == (
        0.25,
        0.7,
    )  # F1 0.8: the clutter image can only be kept out at 0.95+
    assert choose_gate(images, [0.25, 0.5, 0.6]) == (0.6, 0.7)  # 0.5 and 0.6 both give F1 1: the higher


def test_systems_detection_rows(tmp_path) -> None:
    boxes = [np.array([[0, 0, 10, 10, 0.8, 0], [5, 5, 20, 20, 0.6, 1]]), np.zeros((0, 6))]
    rows = fall_class_rows(boxes, fall_class=0)
    np.testing.assert_allclose(rows[0][:, 4:], [[0.8, 0.8], [0.6, 0.0]])  # a box called normal scores 0 fall
    assert rows[1].shape == (0, 6)

    pixels = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    images = [
        {"image": str(tmp_path / "a.png"), "gt": [((10, 10, 30, 50), "fall"), ((40, 5, 70, 55), "normal")]}
    ]
    truth = truth_boxes(images)
    np.testing.assert_allclose(truth[0], [[10, 10, 30, 50, 1, 0], [40, 5, 70, 55, 1, 0]])

    class Fake:  # a 3-class classifier: background, fall, normal; fall = the crop's mean brightness
        crop, fall_index = CropSpec(24, 0.1), 1

        def predict(self, crops: np.ndarray) -> np.ndarray:
            fall = crops.reshape(len(crops), -1).mean(axis=1) / 255
            return np.column_stack([np.zeros(len(crops)), fall, 1 - fall])

    scored = classify_boxes(Fake(), images, truth)
    expected = crop_people(pixels, truth[0][:, :4], Fake.crop).reshape(2, -1).mean(axis=1) / 255
    np.testing.assert_allclose(scored[0][:, 5], expected)
    ready = with_detections(images, scored)
    assert ready[0]["detections"] == scored[0].tolist() and "detections" not in images[0]


class BrightnessClassifier:  # a 3-class classifier: background, fall, normal; fall = the crop's mean brightness
    crop, fall_index = CropSpec(24, 0.1), 1

    def predict(self, crops: np.ndarray) -> np.ndarray:
        fall = crops.reshape(len(crops), -1).mean(axis=1) / 255
        return np.column_stack([np.zeros(len(crops)), fall, 1 - fall])


def test_system_rows_equal_the_separate_systems_and_decode_each_image_once(tmp_path, monkeypatch) -> None:
    rng = np.random.default_rng(1)
    images = []
    for k in range(2):
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(tmp_path / f"{k}.png")
        images.append({"image": str(tmp_path / f"{k}.png"), "gt": [((10, 10, 30, 50), "fall")] if k else []})
    found = {  # detector -> its boxes on every image (x1, y1, x2, y2, conf, class)
        "fall_normal": np.array([[0, 0, 20, 30, 0.7, 0], [30, 5, 60, 50, 0.4, 1]], np.float32),
        "person": np.array([[5, 5, 40, 55, 0.9, 0]], np.float32),
    }
    monkeypatch.setattr(image_systems, "detect_people", lambda det, frames, imgsz, conf: [found[det]])
    opened = []
    real_open = image_systems.open_rgb
    monkeypatch.setattr(image_systems, "open_rgb", lambda path: opened.append(path) or real_open(path))
    classifiers = {"a": BrightnessClassifier(), "b": BrightnessClassifier()}
    rows = image_systems.system_rows(images, "fall_normal", "person", classifiers, 0.01, 0.25, progress=False)
    assert len(opened) == 2  # one decode per image for all five systems
    assert sorted(rows) == sorted(
        ["detector only", "two-stage (a)", "two-stage (b)", "ground truth + (a)", "ground truth + (b)"]
    )
    two_boxes = [found["fall_normal"].astype(np.float64)] * 2
    for got, want in zip(rows["detector only"], fall_class_rows(two_boxes), strict=True):
        np.testing.assert_allclose(got, want)
    people = [found["person"].astype(np.float64)] * 2
    for got, want in zip(
        rows["two-stage (a)"], classify_boxes(classifiers["a"], images, people), strict=True
    ):
        np.testing.assert_allclose(got, want)
    truth = classify_boxes(classifiers["b"], images, truth_boxes(images))
    assert rows["ground truth + (b)"][0].shape == (0, 6) and truth[0].shape == (0, 6)
    np.testing.assert_allclose(rows["ground truth + (b)"][1], truth[1])


def test_not_a_person_outcomes() -> None:
    danger = (80, 0, 100, 40)  # a person the merge left out (no fall/normal label): neither side
    img = {
        "gt": [FALL, NORMAL],
        "people": [FALL[0], NORMAL[0], danger],
        "detections": [
            [10, 10, 30, 20, 0.8, 0.9],  # the fallen person, called fall
            [50, 10, 60, 40, 0.9, 0.7],  # the normal person, called fall at 0.5
            [200, 200, 240, 280, 0.3, 0.95],  # a wall decoration, weak box, called fall
            [81, 0, 100, 40, 0.9, 0.99],  # the danger patient: not counted
        ],
    }
    r = detection_outcomes([img], threshold=0.5)
    assert (r["detections"], r["not_person"], r["not_person_called_fall"]) == (4, 1, 1)
    assert (r["fall_people"], r["fall_recall"], r["normal_fall_share"]) == (1, 1.0, 1.0)
    gated = detection_outcomes([img], threshold=0.5, gate=0.5)
    assert gated["not_person_fall_share"] == 0.0 and gated["fall_recall"] == 1.0
    costly = detection_outcomes([img], threshold=0.5, gate=0.85)
    assert costly["fall_recall"] == 0.0 and costly["normal_fall_share"] == 1.0
    no_people = detection_outcomes([{"gt": [FALL], "detections": img["detections"]}], threshold=0.5)
    assert no_people["not_person"] == 3  # without "people", only the gt boxes are people


def test_source_people_reads_every_person_box_the_merge_dropped(tmp_path) -> None:
    from fallkd_lib.data import yolo
    from fallkd_lib.data.merge import merge_datasets
    from fallkd_lib.detector.evaluate import yolo_ground_truth
    from fallkd_lib.detector.not_person import source_people

    src = tmp_path / "ward"
    yolo.write_data_yaml(src, ["bed", "danger", "fall", "stand"])
    rng = np.random.default_rng(0)
    labels = ["0 0.5 0.5 0.8 0.4\n1 0.25 0.5 0.2 0.5\n3 0.75 0.5 0.2 0.5\n", "2 0.5 0.5 0.5 0.2\n"] * 3
    for k, text in enumerate(labels):
        split = ("train", "valid", "test")[k % 3]
        for sub in ("images", "labels"):
            (src / split / sub).mkdir(parents=True, exist_ok=True)
        noise = rng.integers(0, 255, (50, 100, 3), dtype=np.uint8)
        Image.fromarray(noise).save(src / split / "images" / f"i{k}.png")
        (src / split / "labels" / f"i{k}.txt").write_text(text)
    merge_datasets([src], tmp_path / "merged", progress=False)
    splits = yolo.split_image_dirs(tmp_path / "merged")
    images = [
        i
        for s, d in splits.items()
        if yolo.list_images(d)
        for i in yolo_ground_truth(tmp_path / "merged", s, progress=False)
    ]
    assert len(images) == 6
    people = source_people(tmp_path / "merged", images)
    for image, boxes in zip(images, people, strict=True):
        if [label for _, label in image["gt"]] == ["normal"]:  # the stand box kept; danger and bed dropped
            np.testing.assert_allclose(boxes, [(15, 12.5, 35, 37.5), (65, 12.5, 85, 37.5)])  # danger + stand
        else:
            np.testing.assert_allclose(boxes, [(25, 20, 75, 30)])  # the fall
