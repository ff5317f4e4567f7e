"""Predictions of the two ways to label people, for `compare_detection_modes`: a 2-class detector alone, or a
person detector whose crops a classifier labels (the reference report's two-stage claim)."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from fallkd_lib.config import PipelineConfig
from fallkd_lib.data.geometry import crop_people
from fallkd_lib.data.imageio import open_rgb
from fallkd_lib.detector.evaluate import LABELS, MODES
from fallkd_lib.runtime.detector import detect_people


def predict_modes(
    images: list[dict],
    fall_detector: object,
    person_detector: object,
    classifier: object,
    imgsz: int | None = None,
    conf: float = PipelineConfig.conf,
    threshold: float = 0.5,
    progress: bool = True,
) -> dict[str, list[dict]]:
    """Both modes' predictions for images from `yolo_ground_truth` ({"image", "gt"} dicts); ready to score.

    Each detector runs at imgsz, by default its own training size; crops are cut as the classifier's were.
    """
    modes: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for item in tqdm(images, desc="detector vs detector+classifier", disable=not progress):
        frame = np.asarray(open_rgb(item["image"]))
        two_class = detect_people(fall_detector, [frame], imgsz, conf=conf)[0]
        preds = [(tuple(row[:4]), LABELS[int(row[5])], float(row[4])) for row in two_class]
        modes[MODES[0]].append({"image": item["image"], "gt": item["gt"], "pred": preds})
        people = detect_people(person_detector, [frame], imgsz, conf=conf)[0]
        fall = np.zeros(len(people))
        if len(people):
            crops = crop_people(frame, people[:, :4], classifier.crop)  # as its training crops were cut
            fall = classifier.predict(crops)[:, classifier.fall_index]
        preds = [
            (tuple(row[:4]), "fall" if p >= threshold else "normal", float(row[4]))
            for row, p in zip(people, fall, strict=True)
        ]
        modes[MODES[1]].append({"image": item["image"], "gt": item["gt"], "pred": preds})
    return modes
