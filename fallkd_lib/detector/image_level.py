"""Image-level fall scores: is there a fall in this image? The question a camera's alert answers, and the one
on which a detector alone and a detector + classifier can be compared whatever their boxes look like.

Each image is a dict with ``"gt": [(box, label), ...]`` (as :func:`~fallkd_lib.detector.evaluate.yolo_ground_truth`
gives) and ``"detections": [[x1, y1, x2, y2, conf, fall], ...]``: every box a system found, its detector
confidence and its fall score (a 2-class detector: the fall class's confidence, 0 for a box it called normal;
two-stage: the classifier's fall probability of the crop; ground-truth boxes + classifier: conf 1).

- An image is **fall** when any of its ground-truth boxes is labelled fall.
- Its **score** is the highest fall score among its detections whose confidence passes the gate (0 with none).
- It is **called fall** when its score >= the threshold and > 0 (an image with no detection is never fall).

The threshold is chosen on a validation split (:func:`choose_threshold`: best fall F1, ties to the higher
threshold) and then applied unchanged to the test sets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from fallkd_lib.detector.evaluate import ratio
from fallkd_lib.errors import UsageError

# the person detector's confidence gates an operating point is chosen from (choose_gate): low ones first, as a
# detector pretrained on rendered people scores real ones low (0.04-0.05 is its best gate on real images)
_LOW_GATES = (0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2)
OPERATING_GATES = _LOW_GATES + tuple(round(0.25 + 0.05 * k, 2) for k in range(14))  # 0.02 .. 0.9


def image_truth(images: Sequence[Mapping]) -> np.ndarray:
    """(N,) bool: does each image hold a ground-truth fall box."""
    return np.array([any(label == "fall" for _, label in image["gt"]) for image in images], dtype=bool)


def detection_rows(image: Mapping, k: int = 0) -> np.ndarray:
    """One image's detections as an (N, 6) float array, or an error naming the image."""
    dets = np.asarray(image.get("detections", []), dtype=np.float64)
    if dets.size == 0:
        return dets.reshape(0, 6)
    if dets.ndim != 2 or dets.shape[1] != 6:
        name = image.get("image", f"image {k}")
        raise UsageError(
            f"{name}: detections must be rows of x1, y1, x2, y2, conf, fall, got shape {dets.shape}"
        )
    return dets


def image_scores(images: Sequence[Mapping], gate: float = 0.0) -> np.ndarray:
    """(N,) the highest fall score of each image's detections with conf >= gate (0 when it has none)."""
    scores = np.zeros(len(images))
    for k, image in enumerate(images):
        dets = detection_rows(image, k)
        kept = dets[dets[:, 4] >= gate]
        scores[k] = kept[:, 5].max() if len(kept) else 0.0
    return scores


def image_level_scores(truth: Sequence[bool], scores: Sequence[float], threshold: float) -> dict:
    """Fall precision, recall, F1 and accuracy over images called fall when score >= threshold (and > 0)."""
    truth, scores = np.asarray(truth, dtype=bool), np.asarray(scores, dtype=np.float64)
    if truth.shape != scores.shape:
        raise UsageError(f"truth {truth.shape} and scores {scores.shape} must have one value per image")
    called = (scores >= threshold) & (scores > 0)
    tp, fp = int((called & truth).sum()), int((called & ~truth).sum())
    fn, tn = int((~called & truth).sum()), int((~called & ~truth).sum())
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = float("nan") if math.isnan(precision) or math.isnan(recall) else ratio(2 * tp, 2 * tp + fp + fn)
    return {
        "images": len(truth),
        "fall_images": int(truth.sum()),
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": ratio(tp + tn, len(truth)),
    }


def choose_threshold(truth: Sequence[bool], scores: Sequence[float]) -> float:
    """The threshold with the best fall F1 over these images (ties: the higher one); inf when no image scores > 0.

    The candidates are the scores themselves: between two of them nothing changes.
    """
    truth, scores = np.asarray(truth, dtype=bool), np.asarray(scores, dtype=np.float64)
    if not truth.any():
        raise UsageError("choose_threshold needs at least one fall image to score F1")
    candidates = np.unique(scores[scores > 0])[::-1]  # highest first: a later tie never replaces it
    best, best_f1 = math.inf, -1.0
    for t in candidates:
        called = scores >= t
        tp = int((called & truth).sum())
        f1 = 2 * tp / (called.sum() + truth.sum())
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(t), f1
    return best


def choose_gate(images: Sequence[Mapping], gates: Sequence[float]) -> tuple[float, float]:
    """(gate, threshold) with the best image-level fall F1 over these images (ties: the higher gate)."""
    truth = image_truth(images)
    best: tuple[float, float, float] | None = None
    for gate in sorted(gates, reverse=True):
        scores = image_scores(images, gate)
        threshold = choose_threshold(truth, scores)
        f1 = image_level_scores(truth, scores, threshold)["f1"]
        f1 = -1.0 if math.isnan(f1) else f1
        if best is None or f1 > best[0] + 1e-12:
            best = (f1, float(gate), threshold)
    if best is None:
        raise UsageError("choose_gate needs at least one gate, e.g. gates=[0.25, 0.5, 0.75]")
    return best[1], best[2]
