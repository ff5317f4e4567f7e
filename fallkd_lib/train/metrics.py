"""Evaluation metrics for the fall classifier: accuracy, per-class precision/recall/F1, confusion matrix,
ROC-AUC, calibration (ECE and the reliability table) and the threshold that reaches a target fall recall.

A missed fall is the costly error, so the positive class ("fall") comes first in every table and its recall is
the number to watch. All results are plain python types (JSON-ready).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)

from fallkd_lib.errors import UsageError


def _arrays(labels: Sequence[int], probs: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    labels, probs = np.asarray(labels, dtype=np.int64), np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise UsageError(
            f"probs must have shape (N, C) with N = len(labels) = {len(labels)}, got {probs.shape}"
        )
    return labels, probs


def reliability_table(
    probs: Sequence[Sequence[float]], labels: Sequence[int], n_bins: int = 15
) -> list[dict]:
    """Equal-width confidence bins over the max probability: count, accuracy and mean confidence per bin.

    A prediction with confidence c goes to the bin (lo, hi] that holds it (c = 0 goes to the first bin).
    """
    labels, probs = _arrays(labels, probs)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    table = []
    for b in range(n_bins):
        inside = which == b
        count = int(inside.sum())
        table.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "count": count,
                "accuracy": float(correct[inside].mean()) if count else 0.0,
                "confidence": float(confidence[inside].mean()) if count else 0.0,
            }
        )
    return table


def expected_calibration_error(
    probs: Sequence[Sequence[float]], labels: Sequence[int], n_bins: int = 15
) -> float:
    """ECE = sum over bins of (bin count / N) * |bin accuracy - bin mean confidence|."""
    table = reliability_table(probs, labels, n_bins)
    total = sum(row["count"] for row in table)
    if total == 0:
        raise UsageError("expected_calibration_error needs at least one prediction")
    return float(sum(row["count"] / total * abs(row["accuracy"] - row["confidence"]) for row in table))


def threshold_for_recall(
    labels: Sequence[int | bool], positive_probs: Sequence[float], target: float = 0.95
) -> tuple[float, float, float]:
    """The highest threshold t (predict positive when p >= t) whose recall >= target: (t, recall, precision).

    `labels` are 1/True for the positive class (e.g. `labels == class_names.index("fall")`).
    """
    is_positive = np.asarray(labels).astype(bool)
    if not is_positive.any():
        raise UsageError("threshold_for_recall needs at least one positive sample (labels are all 0/False)")
    if not 0.0 < target <= 1.0:
        raise UsageError(f"target recall must be in (0, 1], got {target}")
    precision, recall, thresholds = precision_recall_curve(
        is_positive, np.asarray(positive_probs, dtype=float)
    )
    # thresholds are increasing and recall[i] belongs to thresholds[i]; recall only falls as t rises
    ok = np.flatnonzero(recall[:-1] >= target)
    i = ok[-1]  # thresholds[0] (the lowest score) always has recall 1, so `ok` is never empty
    return float(thresholds[i]), float(recall[i]), float(precision[i])


def classification_report_dict(
    labels: Sequence[int],
    probs: Sequence[Sequence[float]],
    class_names: Sequence[str],
    positive: str = "fall",
    n_bins: int = 15,
) -> dict:
    """Accuracy, per-class metrics (positive class first), confusion matrix (rows = true), ROC-AUC, ECE."""
    labels, probs = _arrays(labels, probs)
    class_names = list(class_names)
    if probs.shape[1] != len(class_names):
        raise UsageError(f"probs have {probs.shape[1]} columns but there are {len(class_names)} class names")
    if positive not in class_names:
        raise UsageError(f"positive class {positive!r} is not one of the classes {class_names}")
    pos = class_names.index(positive)
    preds = probs.argmax(axis=1)
    classes = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, preds, labels=classes, zero_division=0
    )
    order = [pos] + [c for c in classes if c != pos]
    per_class = {
        class_names[c]: {
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
            "support": int(support[c]),
        }
        for c in order
    }
    is_pos = labels == pos
    both = 0 < is_pos.sum() < len(labels)
    return {
        "n": len(labels),
        "class_names": class_names,
        "positive": positive,
        "accuracy": float((preds == labels).mean()) if len(labels) else 0.0,
        "per_class": per_class,
        "macro_f1": float(np.mean(f1)),
        "confusion_matrix": confusion_matrix(labels, preds, labels=classes).tolist(),
        "roc_auc": float(roc_auc_score(is_pos, probs[:, pos])) if both else None,  # None: one class only
        "ece": expected_calibration_error(probs, labels, n_bins) if len(labels) else None,
        "reliability": reliability_table(probs, labels, n_bins),
    }


def report_frame(report: dict) -> pd.DataFrame:
    """The per-class part of a report as a table, positive class (fall) first."""
    frame = pd.DataFrame.from_dict(report["per_class"], orient="index")
    frame.index.name = "class"
    return frame


def train_val_gap(history: Sequence[dict]) -> list[float]:
    """Train accuracy minus val accuracy per epoch (a growing gap means over-fitting)."""
    return [float(row["train_acc"]) - float(row["val_acc"]) for row in history]
