"""Export the ultralytics detector to ONNX (where fallkd chooses) and check an exported or int8 copy against it.

`export_detector_onnx` wraps ultralytics' own exporter (which writes beside the weights) and moves the file to
the path asked for, atomically. `detector_parity` runs two detectors on the same frames and matches their boxes
one to one by IoU: the share of the reference's people the candidate still finds, the share of the candidate's
boxes that the reference also has, their mean IoU and the mean confidence change.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fallkd_lib.config import PipelineConfig
from fallkd_lib.data.geometry import box_iou, match_boxes
from fallkd_lib.errors import UsageError
from fallkd_lib.runtime.detector import detect_people, input_size
from fallkd_lib.runtime.loaders import load_detector
from fallkd_lib.settings import keep_torch_threads


def export_detector_onnx(
    weights: str | Path, out_path: str | Path, imgsz: int | None = None, opset: int | None = None
) -> Path:
    """Export a detector checkpoint (best.pt) to ONNX at a fixed input size (default: its training size) and opset
    (default: ultralytics' choice)."""
    weights, out_path = Path(weights), Path(out_path)
    if weights.suffix.lower() != ".pt":
        raise UsageError(f"{weights}: export needs the detector's .pt checkpoint (from train_detector)")
    # loaded first: clear errors for a missing file or a classifier checkpoint
    imgsz = input_size(load_detector(weights), imgsz)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        copy = Path(tmp) / "detector.pt"  # ultralytics writes the .onnx beside the weights it exports
        shutil.copy2(weights, copy)
        with keep_torch_threads():
            exported = load_detector(copy).export(format="onnx", imgsz=int(imgsz), opset=opset, verbose=False)
        os.replace(exported, out_path)
    return out_path


def box_agreement(
    reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], iou_threshold: float = 0.5
) -> dict:
    """How well per-frame candidate boxes reproduce reference boxes ((N, 6) arrays as from detect_people)."""

    if len(reference) != len(candidate):
        raise UsageError(
            f"box lists cover {len(reference)} and {len(candidate)} frames: pass the same frames"
        )
    n_ref = n_cand = 0
    ious, dconf = [], []
    for ref, cand in zip(reference, candidate, strict=True):
        ref, cand = (
            np.asarray(ref, float).reshape(-1, 6)[:, :5],
            np.asarray(cand, float).reshape(-1, 6)[:, :5],
        )
        n_ref, n_cand = n_ref + len(ref), n_cand + len(cand)
        iou = box_iou(cand[:, :4], ref[:, :4])
        for c, r in match_boxes(cand[:, :4], ref[:, :4], iou_threshold):
            ious.append(float(iou[c, r]))
            dconf.append(float(abs(cand[c, 4] - ref[r, 4])))
    matched = len(ious)
    return {
        "frames": len(reference),
        "reference_boxes": n_ref,
        "candidate_boxes": n_cand,
        "matched": matched,
        "recall": matched / n_ref if n_ref else float("nan"),
        "precision": matched / n_cand if n_cand else float("nan"),
        "mean_iou": float(np.mean(ious)) if ious else float("nan"),
        "mean_abs_conf_change": float(np.mean(dconf)) if dconf else float("nan"),
    }


def detector_parity(
    reference: object,
    candidate: object,
    frames: Sequence[np.ndarray],
    imgsz: int | None = None,
    conf: float = PipelineConfig.conf,
    iou_threshold: float = 0.5,
) -> dict:
    """Box agreement (see box_agreement) of a candidate detector (ONNX, int8) with a reference one on RGB frames."""

    return box_agreement(
        detect_people(reference, frames, imgsz, conf=conf),
        detect_people(candidate, frames, imgsz, conf=conf),
        iou_threshold,
    )


def detector_speed(
    models: dict[str, object], frames: Sequence[np.ndarray], imgsz: int | None = None
) -> dict[str, float]:
    """Median milliseconds of one detector call per model (a loaded YOLO or a path), after two warm-up calls."""

    if not frames:
        raise UsageError("detector_speed needs at least one frame")
    speed = {}
    for name, model in models.items():
        model = load_detector(model) if isinstance(model, str | Path) else model
        detect_people(model, list(frames[:2]), imgsz, batch=1)
        times = []
        for frame in frames:
            start = time.perf_counter()
            detect_people(model, [frame], imgsz, batch=1)
            times.append(1000 * (time.perf_counter() - start))
        speed[name] = float(np.median(times))
    return speed
