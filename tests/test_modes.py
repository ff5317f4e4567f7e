"""The glue that turns both detection modes into scoreable predictions (detectors and classifier faked)."""

from pathlib import Path

import numpy as np
from PIL import Image

from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.detector import modes
from fallkd_lib.detector.evaluate import MODES, compare_detection_modes


class FakeClassifier:
    fall_index, crop = 0, CropSpec(16, 0.1)

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict(self, crops: np.ndarray) -> np.ndarray:
        self.batches.append(len(crops))
        assert crops.shape[1:] == (16, 16, 3)
        return np.array([[0.9, 0.1], [0.2, 0.8]])[: len(crops)]


def test_both_modes_are_predicted_and_scored(tmp_path: Path, monkeypatch) -> None:
    image = tmp_path / "a.jpg"
    Image.new("RGB", (100, 100)).save(image)
    gt = [((10, 10, 40, 30), "fall"), ((60, 20, 80, 90), "normal")]
    two_class = np.array(
        [[10, 10, 40, 30, 0.9, 1], [60, 20, 80, 90, 0.8, 1]], dtype=np.float32
    )  # fall missed
    person = np.array([[10, 10, 40, 30, 0.9, 0], [60, 20, 80, 90, 0.8, 0]], dtype=np.float32)
    monkeypatch.setattr(
        modes,
        "detect_people",
        lambda model, frames, imgsz, conf: [{"fall": two_class, "person": person}[model]],
    )
    classifier = FakeClassifier()
    preds = modes.predict_modes(
        [{"image": image, "gt": gt}], "fall", "person", classifier, imgsz=64, progress=False
    )
    assert [p[1] for p in preds[MODES[0]][0]["pred"]] == ["normal", "normal"]
    assert [p[1] for p in preds[MODES[1]][0]["pred"]] == ["fall", "normal"]
    assert classifier.batches == [2]  # one batched call per image
    table = compare_detection_modes(preds)
    assert table.loc[MODES[1], "fall_recall"] == 1.0 and table.loc[MODES[0], "fall_recall"] == 0.0
