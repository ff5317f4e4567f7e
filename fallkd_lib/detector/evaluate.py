"""Score fall-vs-normal person boxes image by image: a 2-class detector alone vs a detector + crop classifier.

Each image is a dict ``{"gt": [(box, label), ...], "pred": [(box, label, score), ...]}`` (optional ``"image"``,
used in messages), boxes are pixel corners ``(x1, y1, x2, y2)`` and labels ``"fall"`` / ``"normal"`` (or the
merged dataset's class ids 0 / 1). Matching ignores labels (:func:`match_boxes`, greedy by IoU), so one person
is one pair whatever either side called them; the labels are then compared pair by pair:

- a matched pair with equal labels is a true positive of that label;
- a matched pair with different labels (a fallen person predicted ``normal``) is a false negative of the true
  label *and* a false positive of the predicted one (counted as ``fall_as_normal`` / ``normal_as_fall``);
- an unmatched ground-truth box is a false negative of its label (``missed_fall`` / ``missed_normal``);
- an unmatched prediction is a false positive of its label (``spurious_fall`` / ``spurious_normal``).

So ``fall_fn = fall_as_normal + missed_fall`` and ``fall_fp = normal_as_fall + spurious_fall``. A ratio whose
denominator is 0 (no fall in the set, no fall predicted) is NaN, not 0, so that "undefined" never reads as "bad".
"""

from __future__ import annotations

import logging
import math
import numbers
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from fallkd_lib.data.geometry import match_boxes
from fallkd_lib.data.yolo import SPLITS, iter_dataset, read_class_names
from fallkd_lib.errors import MissingFileError, UsageError

_log = logging.getLogger(__name__)
LABELS = ("fall", "normal")  # class ids 0 and 1 of the merged dataset
MODES = ("detector (2-class)", "detector + classifier")  # the two rows of the course's comparison table


def _label(value: object, where: str) -> str:
    """'fall' or 'normal' from a name or a merged class id; anything else is an error naming the item."""
    if isinstance(value, str) and value in LABELS:
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= int(value) < len(LABELS):
        return LABELS[int(value)]
    raise UsageError(f"{where}: label {value!r} is not one of {LABELS} (or class id 0 = fall, 1 = normal)")


def _box(value: object, where: str) -> tuple[float, float, float, float]:
    """Four finite pixel corners, or an error naming the item."""
    try:
        coords = tuple(float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        coords = ()
    if len(coords) != 4 or not all(math.isfinite(v) for v in coords):
        raise UsageError(f"{where}: box {value!r} is not 4 finite numbers (x1, y1, x2, y2) in pixels")
    return coords  # type: ignore[return-value]


def ratio(num: int, den: int) -> float:
    """num / den, NaN when there is nothing to divide by (a score of an empty set)."""
    return num / den if den else float("nan")


def _f1(precision: float, recall: float) -> float:
    if math.isnan(precision) or math.isnan(recall):
        return float("nan")
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _image_counts(image: Mapping, k: int, iou_threshold: float, score_threshold: float) -> Counter:
    """Match one image's boxes and count each outcome (keys as in fall_detection_scores)."""
    name = f"image {k}" + (f" ({image['image']})" if isinstance(image, Mapping) and "image" in image else "")
    if not isinstance(image, Mapping) or "gt" not in image or "pred" not in image:
        raise UsageError(
            f"{name}: expected a dict with 'gt': [(box, label)] and 'pred': [(box, label, score)]"
        )
    gt, pred = [], []
    for i, item in enumerate(image["gt"]):
        if not isinstance(item, Sequence) or len(item) != 2:
            raise UsageError(f"{name}: gt[{i}] = {item!r} is not a (box, label) pair")
        gt.append((_box(item[0], f"{name} gt[{i}]"), _label(item[1], f"{name} gt[{i}]")))
    for i, item in enumerate(image["pred"]):
        if not isinstance(item, Sequence) or len(item) != 3:
            raise UsageError(f"{name}: pred[{i}] = {item!r} is not a (box, label, score) triple")
        if float(item[2]) >= score_threshold:
            pred.append((_box(item[0], f"{name} pred[{i}]"), _label(item[1], f"{name} pred[{i}]")))
    counts: Counter = Counter(images=1)
    for _, lab in gt:
        counts[f"gt_{lab}"] += 1
    for _, lab in pred:
        counts[f"pred_{lab}"] += 1
    pairs = match_boxes(np.array([b for b, _ in pred]), np.array([b for b, _ in gt]), iou_threshold)
    for p, g in pairs:
        truth, said = gt[g][1], pred[p][1]
        counts["matched"] += 1
        if truth == said:
            counts[f"{truth}_tp"] += 1
        else:
            counts[f"{truth}_as_{said}"] += 1
    for g in set(range(len(gt))) - {g for _, g in pairs}:
        counts[f"missed_{gt[g][1]}"] += 1
    for p in set(range(len(pred))) - {p for p, _ in pairs}:
        counts[f"spurious_{pred[p][1]}"] += 1
    return counts


def fall_detection_scores(
    images: Sequence[Mapping], iou_threshold: float = 0.5, score_threshold: float = 0.0
) -> dict:
    """Per-label precision / recall / F1, outcome counts and detection recall over images (see module doc).

    Predictions scoring below score_threshold are dropped before matching. Keys: images, gt_fall, gt_normal,
    pred_fall, pred_normal, matched, {fall,normal}_{tp,fp,fn,precision,recall,f1}, fall_as_normal,
    normal_as_fall, missed_fall, missed_normal, spurious_fall, spurious_normal, detection_recall (matched gt
    boxes / all gt boxes, any label), detection_precision (matched predictions / all predictions), macro_f1.
    """
    c: Counter = Counter()
    for k, image in enumerate(images):
        c.update(_image_counts(image, k, iou_threshold, score_threshold))
    out: dict = {key: int(c[key]) for key in ("images", "gt_fall", "gt_normal", "pred_fall", "pred_normal")}
    out["matched"] = int(c["matched"])
    for lab in LABELS:
        other = LABELS[1 - LABELS.index(lab)]
        tp = int(c[f"{lab}_tp"])
        fp = int(c[f"{other}_as_{lab}"] + c[f"spurious_{lab}"])
        fn = int(c[f"{lab}_as_{other}"] + c[f"missed_{lab}"])
        precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
        out |= {f"{lab}_tp": tp, f"{lab}_fp": fp, f"{lab}_fn": fn}
        out |= {f"{lab}_precision": precision, f"{lab}_recall": recall, f"{lab}_f1": _f1(precision, recall)}
    for key in ("fall_as_normal", "normal_as_fall", "missed_fall", "missed_normal"):
        out[key] = int(c[key])
    out["spurious_fall"], out["spurious_normal"] = int(c["spurious_fall"]), int(c["spurious_normal"])
    out["detection_recall"] = ratio(out["matched"], out["gt_fall"] + out["gt_normal"])
    out["detection_precision"] = ratio(out["matched"], out["pred_fall"] + out["pred_normal"])
    out["macro_f1"] = (out["fall_f1"] + out["normal_f1"]) / 2
    return out


def compare_detection_modes(
    per_mode: Mapping[str, Sequence[Mapping]], iou_threshold: float = 0.5, score_threshold: float = 0.0
) -> pd.DataFrame:
    """One row of fall_detection_scores per mode (e.g. MODES), indexed by mode name, for the notebook table."""
    if not per_mode:
        raise UsageError(f"per_mode is empty: pass {{mode name: images}}, e.g. keys {MODES}")
    sizes = {mode: len(images) for mode, images in per_mode.items()}
    if len(set(sizes.values())) > 1:
        _log.warning(
            "modes were scored on different numbers of images: %s; the rows are not comparable", sizes
        )
    rows = {
        mode: fall_detection_scores(images, iou_threshold, score_threshold)
        for mode, images in per_mode.items()
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "mode"
    return frame


def _label_of(names: list[str], class_map: Mapping[str, str] | None, root: Path) -> list[str | None]:
    """The fall / normal label (None = drop) of each dataset class id."""
    hint = "read a merged dataset (names [fall, normal]) or pass class_map={name: 'fall' | 'normal' | 'drop'}"
    if class_map is None:
        if not set(names) <= set(LABELS):
            raise UsageError(f"{root / 'data.yaml'}: classes {names} are not fall / normal; {hint}")
        return list(names)
    unknown = [n for n in names if n not in class_map]
    bad = {n: t for n, t in class_map.items() if t not in (*LABELS, "drop")}
    if unknown or bad:
        problems = ([f"no target for {unknown}"] if unknown else []) + (
            [f"targets {bad} are not fall / normal / drop"] if bad else []
        )
        raise UsageError(f"{root / 'data.yaml'}: classes {names}: {'; '.join(problems)}; {hint}")
    return [None if class_map[n] == "drop" else class_map[n] for n in names]


def yolo_ground_truth(
    dataset_root: str | Path,
    split: str,
    class_map: Mapping[str, str] | None = None,
    progress: bool = True,
) -> list[dict]:
    """Ground truth of one split as image dicts {"image", "width", "height", "gt": [(xyxy px, label)], "pred": []}.

    Names must be fall / normal (a merged dataset) unless class_map maps every class name to "fall", "normal"
    or "drop". The size is read from the image header (nothing is decoded). Bad label lines, dropped-class
    boxes and unreadable images are skipped, counted in a warning, and bad lines listed in each dict's "issues".
    """
    root = Path(dataset_root)
    if split not in SPLITS:
        raise UsageError(f"split {split!r} is not one of {SPLITS}")
    names = read_class_names(root / "data.yaml")
    labels = _label_of(names, class_map, root)
    out: list[dict] = []
    skipped: Counter = Counter()
    unreadable: list[str] = []
    items = list(iter_dataset(root, (split,)))
    if not items:
        raise MissingFileError(f"{root}: split {split!r} has no images (or no {split}/images folder)")
    for item in tqdm(items, desc=f"ground truth {split}", unit="img", disable=not progress):
        try:
            with Image.open(item.image) as im:
                width, height = im.size
        except OSError as err:
            skipped["unreadable_image"] += 1
            unreadable.append(f"{item.image.name} ({type(err).__name__})")
            continue
        gt = []
        for box in item.boxes:
            if labels[box.cls] is None:
                skipped["dropped_class_box"] += 1
                continue
            gt.append((box.to_xyxy(width, height), labels[box.cls]))
        skipped["bad_label_line"] += len(item.issues)
        issues = [str(issue) for issue in item.issues]
        out.append(
            {
                "image": str(item.image),
                "width": width,
                "height": height,
                "gt": gt,
                "pred": [],
                "issues": issues,
            }
        )
    if any(skipped.values()):
        shown = "; unreadable: " + ", ".join(unreadable[:5]) if unreadable else ""
        _log.warning("%s split %s: skipped %s%s", root, split, dict(+skipped), shown)
    return out
