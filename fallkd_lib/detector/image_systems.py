"""The detections each way of finding falls makes on a set of images, in the form
:mod:`fallkd_lib.detector.image_level` scores: rows of ``x1, y1, x2, y2, conf, fall``.

    a 2-class detector alone        fall = the box's confidence when it says fall, 0 when it says normal
    a person detector + classifier  fall = the classifier's fall probability of the person's crop
    ground-truth boxes + classifier conf 1 and the crop's fall probability: the two-stage system's ceiling

Images are dicts with an ``"image"`` path (from `yolo_ground_truth`); the functions return new lists of arrays,
one per image, and never change the dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from fallkd_lib.data.geometry import crop_people
from fallkd_lib.data.imageio import open_rgb
from fallkd_lib.runtime.detector import detect_people


def _detect(detector: object, frame: np.ndarray, conf: float, imgsz: int | None = None) -> np.ndarray:
    """(N, 6) float64 boxes x1, y1, x2, y2, conf, class of one decoded RGB frame."""
    return detect_people(detector, [frame], imgsz, conf=conf)[0].astype(np.float64)


def detect_images(
    detector: object,
    images: Sequence[Mapping],
    conf: float,
    imgsz: int | None = None,
    progress: bool = False,
) -> list[np.ndarray]:
    """(N, 6) boxes x1, y1, x2, y2, conf, class of each image (the detector at its own size unless imgsz)."""
    found = []
    for image in tqdm(images, desc="detect", unit="img", disable=not progress):
        found.append(_detect(detector, np.asarray(open_rgb(image["image"])), conf, imgsz))
    return found


def fall_class_rows(boxes: Sequence[np.ndarray], fall_class: int = 0) -> list[np.ndarray]:
    """A 2-class detector's boxes as detection rows: its confidence is the fall score of a box it calls fall."""
    rows = []
    for b in boxes:
        b = np.asarray(b, dtype=np.float64).reshape(-1, 6)
        rows.append(np.column_stack([b[:, :5], np.where(b[:, 5] == fall_class, b[:, 4], 0.0)]))
    return rows


def truth_boxes(images: Sequence[Mapping]) -> list[np.ndarray]:
    """Each image's ground-truth boxes as (N, 6) rows with conf 1 (class column 0), for classify_boxes."""
    out = []
    for image in images:
        boxes = np.array([box for box, _ in image["gt"]], dtype=np.float64).reshape(-1, 4)
        out.append(np.column_stack([boxes, np.ones(len(boxes)), np.zeros(len(boxes))]))
    return out


def _classify(classifier: object, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Rows x1, y1, x2, y2, conf, fall of one decoded frame's boxes (N, 6)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 6)
    fall = np.zeros(len(b))
    if len(b):
        crops = crop_people(frame, b[:, :4], classifier.crop)
        fall = np.asarray(classifier.predict(crops))[:, classifier.fall_index]
    return np.column_stack([b[:, :5], fall])


def classify_boxes(
    classifier: object, images: Sequence[Mapping], boxes: Sequence[np.ndarray], progress: bool = False
) -> list[np.ndarray]:
    """Rows x1, y1, x2, y2, conf, fall: each box cut as the classifier's crops were, scored by its fall class."""
    rows = []
    items = zip(images, boxes, strict=True)
    for image, b in tqdm(items, total=len(images), desc="classify", unit="img", disable=not progress):
        b = np.asarray(b, dtype=np.float64).reshape(-1, 6)
        frame = np.asarray(open_rgb(image["image"])) if len(b) else np.zeros((1, 1, 3), np.uint8)
        rows.append(_classify(classifier, frame, b))
    return rows


def system_rows(
    images: Sequence[Mapping],
    fall_detector: object,
    person_detector: object,
    classifiers: Mapping[str, object],
    fall_conf: float,
    person_conf: float,
    progress: bool = True,
) -> dict[str, list[np.ndarray]]:
    """Every system's rows, each image decoded once: "detector only", "two-stage (V)" and "ground truth + (V)".

    The same rows as fall_class_rows(detect_images(...)), classify_boxes(V, images, detect_images(...)) and
    classify_boxes(V, images, truth_boxes(images)), for every classifier V, without opening an image N times.
    """
    out: dict[str, list[np.ndarray]] = {"detector only": []}
    for name in classifiers:
        out[f"two-stage ({name})"], out[f"ground truth + ({name})"] = [], []
    for image in tqdm(images, desc="images", unit="img", disable=not progress):
        frame = np.asarray(open_rgb(image["image"]))
        out["detector only"] += fall_class_rows([_detect(fall_detector, frame, fall_conf)])
        people = _detect(person_detector, frame, person_conf)
        truth = truth_boxes([image])[0]
        for name, classifier in classifiers.items():
            out[f"two-stage ({name})"].append(_classify(classifier, frame, people))
            out[f"ground truth + ({name})"].append(_classify(classifier, frame, truth))
    return out


def with_detections(images: Sequence[Mapping], rows: Sequence[np.ndarray]) -> list[dict]:
    """Copies of the image dicts holding these detection rows (as lists, JSON-ready)."""
    return [{**image, "detections": np.asarray(r).tolist()} for image, r in zip(images, rows, strict=True)]
