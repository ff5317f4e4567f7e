"""Run the people detector on frames: ultralytics' predict with fallkd's thread and channel-order care."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fallkd_lib.config import PipelineConfig
from fallkd_lib.data.imageio import check_rgb_frame
from fallkd_lib.errors import UsageError
from fallkd_lib.runtime.loaders import detector_input_size, load_detector
from fallkd_lib.settings import keep_torch_threads


def pick_device(device: str | int | None) -> str:
    """ultralytics' device string: the one given, else the first GPU when there is one, else the CPU."""
    import torch

    if device is None:
        return "0" if torch.cuda.is_available() else "cpu"
    return str(device)


def input_size(detector: object, imgsz: int | None) -> int:
    """The input side to run a detector at: imgsz when given, else the size it was trained or exported at."""
    size = imgsz or detector_input_size(detector)
    if not size:
        raise UsageError(
            f"{getattr(detector, 'fallkd_source', detector)!s} does not record its input size: pass imgsz "
            "(the size it was trained at, e.g. 640)"
        )
    return int(size)


def detect_people(
    model: object,
    frames: Sequence[np.ndarray],
    imgsz: int | None = None,
    conf: float = PipelineConfig.conf,
    iou: float = PipelineConfig.iou,
    classes: list[int] | None = None,
    batch: int = 8,
    device: str | int | None = None,
) -> list[np.ndarray]:
    """Boxes per RGB uint8 frame, as (N, 6) float32 arrays of x1, y1, x2, y2, conf, cls in frame pixels.

    imgsz defaults to the detector's own input size (its training or export size).
    """
    if isinstance(model, str | Path):
        model = load_detector(model)
    size = input_size(model, imgsz)
    for i, frame in enumerate(frames):
        check_rgb_frame(frame, f"frame {i}")
    results: list[np.ndarray] = []
    for start in range(0, len(frames), max(1, batch)):
        # numpy frames are BGR to ultralytics (OpenCV order): flip the channels of our RGB frames
        chunk = [np.ascontiguousarray(f[..., ::-1]) for f in frames[start : start + batch]]
        with keep_torch_threads():
            predictions = model.predict(
                chunk,
                imgsz=size,
                conf=conf,
                iou=iou,
                classes=classes,
                batch=len(chunk),
                device=pick_device(device),
                verbose=False,
            )
        results.extend(p.boxes.data.cpu().numpy().astype(np.float32).reshape(-1, 6) for p in predictions)
    return results
