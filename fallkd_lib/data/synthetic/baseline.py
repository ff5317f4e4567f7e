"""The trivial-cue check: how well does one threshold on box aspect ratio (w/h) alone tell fall from normal?

A dataset where it does (>= 95 %) teaches a classifier to read box shapes, not people. Used by the synthetic
generator's test and benchmark, and works on any YOLO dataset (real ones too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from fallkd_lib.data.yolo import SPLITS, iter_dataset, read_class_names
from fallkd_lib.errors import UsageError


def best_threshold(ratios: Sequence[float], is_fall: Sequence[bool]) -> dict:
    """The threshold on ratio (and its side) that classifies the most items right, found exhaustively."""
    r = np.asarray(ratios, dtype=np.float64)
    y = np.asarray(is_fall, dtype=bool)
    if r.size == 0:
        raise UsageError("no boxes to threshold: the dataset has no fall or normal boxes")
    order = np.argsort(r, kind="stable")
    r, y = r[order], y[order]
    # cut k: items [0, k) are below the threshold; only cuts between distinct values are possible
    falls_below = np.concatenate([[0], np.cumsum(y)])
    normals_below = np.arange(r.size + 1) - falls_below
    falls_above = y.sum() - falls_below
    acc_fall_above = (normals_below + falls_above) / r.size  # rule: fall if ratio > t
    cuts = np.concatenate([[True], r[1:] != r[:-1], [True]])
    acc = np.where(cuts, acc_fall_above, np.nan)
    best_up, best_down = np.nanargmax(acc), np.nanargmax(1.0 - acc)
    up = bool(acc[best_up] >= 1.0 - acc[best_down])
    k = int(best_up if up else best_down)
    lo = r[k - 1] if k > 0 else -np.inf
    hi = r[k] if k < r.size else np.inf
    if np.isfinite(lo) and np.isfinite(hi):
        threshold = float((lo + hi) / 2)
    else:  # every box on one side: a threshold just outside the range
        threshold = float(lo) if np.isfinite(lo) else float(np.nextafter(hi, -np.inf))
    return {
        "threshold": threshold,
        "rule": "fall if w/h > threshold" if up else "fall if w/h < threshold",
        "accuracy": float(acc[k] if up else 1.0 - acc[k]),
        "majority_accuracy": float(max(y.mean(), 1.0 - y.mean())),
    }


def _fall_ids(names: list[str], fall_names: Iterable[str] | None, normal_names: Iterable[str] | None):
    fall = set(fall_names) if fall_names is not None else {n for n in names if "fall" in n.lower()}
    normal = set(normal_names) if normal_names is not None else set(names) - fall
    unknown = (fall | normal) - set(names)
    if unknown:
        raise UsageError(f"class names {sorted(unknown)} are not in the dataset's names {names}")
    if not fall or not normal:
        raise UsageError(
            f"need both fall and normal classes, got fall={sorted(fall)} normal={sorted(normal)} from names {names}; "
            "pass fall_names= and normal_names="
        )
    return {i for i, n in enumerate(names) if n in fall}, {i for i, n in enumerate(names) if n in normal}


def aspect_ratio_baseline(
    dataset_root: str | Path,
    fall_names: Iterable[str] | None = None,
    normal_names: Iterable[str] | None = None,
    splits: tuple[str, ...] = SPLITS,
) -> dict:
    """Best single w/h threshold over all boxes of a YOLO dataset: threshold, rule, accuracy and counts.

    Fall classes default to names containing "fall" and normal classes to all others; boxes of classes in
    neither list (e.g. 'bed') are ignored. Aspect ratios are in pixels (each image's own size is read).
    """
    root = Path(dataset_root)
    names = read_class_names(root / "data.yaml")
    fall_ids, normal_ids = _fall_ids(names, fall_names, normal_names)
    ratios: list[float] = []
    labels: list[bool] = []
    images = skipped = 0
    for item in iter_dataset(root, splits):
        images += 1
        skipped += len(item.issues)
        if not item.boxes:
            continue
        with Image.open(item.image) as im:
            width, height = im.size
        for box in item.boxes:
            if box.cls in fall_ids or box.cls in normal_ids:
                ratios.append(box.w * width / (box.h * height))
                labels.append(box.cls in fall_ids)
    result = best_threshold(ratios, labels)
    result.update(
        images=images,
        boxes=len(ratios),
        fall=int(sum(labels)),
        normal=len(labels) - int(sum(labels)),
        skipped_label_lines=skipped,
    )
    return result
