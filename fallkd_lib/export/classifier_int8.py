"""The classifier in int8, and what it costs: quantize an exported fallkd classifier on person crops, then score
torch, ONNX and int8 side by side on one crop split (accuracy, fall recall and F1, agreement with the reference,
milliseconds per call at the batch sizes a camera sees).

Every model gets the same input: the crops resized and normalised once by the runtime's `preprocess` (what the
camera does), so a difference in the table is the export's, not the preprocessing's. Calibration uses other
crops than the ones scored (the train split by default, the scored split is `val`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fallkd_lib.errors import UsageError
from fallkd_lib.export.quantize import quantize_onnx_int8

BATCH_SIZES = (1, 3, 8)  # people per frame: one, a few, a crowd (the bundle's classifier engine goes to 8)


def read_crop_split(
    crops_dir: str | Path, split: str = "val", limit: int | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(N, S, S, 3) uint8 RGB crops of one split, their labels and the class names (folder order); limit takes
    every k-th crop so that each class keeps its share."""
    from fallkd_lib.train.data import CropDataset

    dataset = CropDataset(crops_dir, split)
    index = np.arange(len(dataset))
    if limit is not None and 0 < limit < len(index):
        index = index[np.linspace(0, len(index) - 1, limit).round().astype(int)]
    images = [np.asarray(dataset[int(i)][0]) for i in index]
    sizes = {image.shape for image in images}
    if len(sizes) != 1:
        raise UsageError(
            f"{crops_dir}/{split}: crops of several sizes {sorted(sizes)}; cut them again with `fallkd crops`"
        )
    labels = np.array([dataset.targets[int(i)] for i in index], dtype=np.int64)
    return np.stack(images), labels, list(dataset.classes)


def quantize_classifier_onnx(
    onnx_path: str | Path,
    out_path: str | Path,
    crops: np.ndarray,
    batch_size: int = 16,
    reduce_range: bool = True,
) -> Path:
    """An int8 copy of an exported fallkd classifier, calibrated on uint8 RGB person crops (metadata kept, so it
    loads with load_classifier like the float file)."""
    from fallkd_lib.runtime.classifier import preprocess, read_onnx_metadata

    model_input = read_onnx_metadata(onnx_path)[
        "input"
    ]  # also: a clear error for a file that is no classifier
    crops = np.asarray(crops)
    if crops.ndim != 4 or not len(crops):
        raise UsageError(
            f"calibrating {onnx_path} needs person crops, an (N, S, S, 3) uint8 array with N > 0 (e.g. "
            f"read_crop_split(crops_dir, 'train', 64)[0]); got shape {crops.shape}"
        )
    batches = (
        preprocess(crops[i : i + batch_size], model_input).numpy() for i in range(0, len(crops), batch_size)
    )
    return quantize_onnx_int8(onnx_path, out_path, batches, reduce_range=reduce_range)


def call_ms(call: object, batch: np.ndarray, repeats: int = 20) -> float:
    """Median milliseconds of call(batch) over repeats, after one warm-up call."""
    call(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(batch)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def classifier_scores(probs: np.ndarray, labels: np.ndarray, fall_index: int) -> dict[str, float]:
    """Accuracy and the fall class's recall, precision and F1 of (N, C) probabilities."""
    preds = np.asarray(probs).argmax(1)
    labels = np.asarray(labels)
    true_fall, said_fall = labels == fall_index, preds == fall_index
    hits = float(np.sum(true_fall & said_fall))
    recall = hits / true_fall.sum() if true_fall.any() else float("nan")
    precision = hits / said_fall.sum() if said_fall.any() else float("nan")
    f1 = (
        2 * hits / (true_fall.sum() + said_fall.sum()) if true_fall.any() or said_fall.any() else float("nan")
    )
    return {
        "accuracy": float(np.mean(preds == labels)) if len(labels) else float("nan"),
        "fall_recall": float(recall),
        "fall_precision": float(precision),
        "fall_f1": float(f1),
    }


def compare_classifiers(
    models: dict[str, object],
    crops: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    batch_sizes: Sequence[int] = BATCH_SIZES,
    repeats: int = 20,
) -> pd.DataFrame:
    """One row per classifier runtime (the first is the reference): scores on the crops, top-1 agreement and max
    |probability change| against the reference, and ms per call at each batch size."""
    from fallkd_lib.runtime.classifier import preprocess

    if not models:
        raise UsageError(
            "compare_classifiers needs at least one classifier, e.g. {'torch': TorchClassifier...}"
        )
    first = next(iter(models.values()))
    for name, model in models.items():
        if list(model.class_names) != list(class_names):
            raise UsageError(
                f"classifier {name!r} has classes {model.class_names}, the crops {list(class_names)}"
            )
    batch = preprocess(crops, first.input)  # the same normalised input for every model
    fall = first.fall_index
    rows, reference = {}, None
    for name, model in models.items():
        logits = np.asarray(model.logits(batch), dtype=np.float64)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        reference = probs if reference is None else reference
        row = classifier_scores(probs, labels, fall)
        row["agreement"] = float(np.mean(probs.argmax(1) == reference.argmax(1)))
        row["max_prob_change"] = (
            float(np.max(np.abs(probs[:, fall] - reference[:, fall]))) if len(probs) else 0.0
        )
        for k in batch_sizes:
            if k > len(batch):
                raise UsageError(f"batch size {k} > the {len(batch)} crops given: pass more crops")
            row[f"ms_batch_{k}"] = call_ms(model.logits, batch[:k], repeats)
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")
