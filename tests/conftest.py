"""Shared test set-up: offline switches, a headless plot backend, where the real datasets lie, and the tiny
data and models (crops, an untrained classifier, a one-epoch detector) that many test files share."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("MPLBACKEND", "Agg")
for _key, _value in {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "HF_HUB_OFFLINE": "1"}.items():
    os.environ.setdefault(_key, _value)

SHARED_DATASETS = Path(
    os.environ.get("FALLKD_SHARED_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets")
)


@pytest.fixture
def shared_datasets() -> Path:
    """The real datasets beside the project; the test is skipped when they are absent."""
    if (
        not (SHARED_DATASETS / "fall_action_laifi").is_dir()
        or not (SHARED_DATASETS / "hospital_bed_rf").is_dir()
    ):
        pytest.skip(f"real datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


# ------------------------------------------------------------------ tiny shared data and models
# Built once per test session and shared by every file that needs them, so the suite trains one detector.

CLASSES = ("fall", "normal")


def make_crops(
    root: Path,
    per_class: int = 6,
    classes: tuple[str, ...] = CLASSES,
    size: int = 32,
    splits: tuple[str, ...] = ("train", "val", "test"),
    pad: float = 0.1,
    seed: int = 0,
) -> Path:
    """A crop folder as `fallkd crops` writes one (with crop_params.json): fall crops bright, normal dark."""
    rng = np.random.default_rng(seed)
    for split in splits:
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 80, (size, size, 3)) + (150 if c == 0 else 0)
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}_{i}.png")
    (root / "crop_params.json").write_text(json.dumps({"size": size, "pad": pad, "fill": 114}))
    return root


def save_untrained_classifier(
    folder: Path,
    size: int = 32,
    pad: float = 0.1,
    classes: tuple[str, ...] = CLASSES,
    model: str = "resnet18",
) -> Path:
    """A run folder holding what training saves (best.pt with its input settings), without the training."""
    import torch

    from fallkd_lib.config import as_dict, train_config
    from fallkd_lib.data.geometry import CropSpec
    from fallkd_lib.models import create_classifier, input_stats
    from fallkd_lib.models.inputs import ClassifierInput
    from fallkd_lib.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = create_classifier(model, len(classes), image_size=size if model.startswith("vit") else None)
    cfg = as_dict(train_config("quick", image_size=size, model=model))
    model_input = ClassifierInput(CropSpec(size, pad), size, *input_stats(net))
    save_checkpoint(folder / "best.pt", net, None, None, None, 1, None, cfg, None, list(classes), model_input)
    return folder


@contextlib.contextmanager
def no_network():
    """Refuse (and record) every DNS lookup and TCP connection, and record ultralytics' log lines."""
    attempts: list[str] = []
    lines: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network access refused by the test")

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep()
    logger = logging.getLogger("ultralytics")
    logger.addHandler(handler)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(socket, "getaddrinfo", refuse)
            mp.setattr(socket, "create_connection", refuse)
            yield attempts, lines
    finally:
        logger.removeHandler(handler)


@pytest.fixture(scope="session")
def tiny_merged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A merged fall/normal dataset of 2 x 24 synthetic 160 px images (both styles)."""
    from fallkd_lib.data.merge import merge_datasets
    from fallkd_lib.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("tiny_data")
    sources = []
    for style in ("park", "cctv"):
        generate_dataset(root / style, 24, seed=1, style=style, size=160, progress=False)
        sources.append((style, root / style))
    merge_datasets(sources, root / "merged", progress=False)
    return root / "merged"


@pytest.fixture(scope="session")
def tiny_detector(tiny_merged: Path) -> dict:
    """One epoch of YOLOv5n at 128 px from scratch on the CPU, with the network refused.

    Returns the training summary plus "network_attempts" and "log" (ultralytics' log lines while training).
    """
    from fallkd_lib.config import detect_config
    from fallkd_lib.detector.dataset import detector_dataset
    from fallkd_lib.detector.train import train_detector

    data_yaml = detector_dataset(tiny_merged, tiny_merged.parent / "det_person", "person", progress=False)
    cfg = detect_config("quick", model="yolov5n.yaml", epochs=1, imgsz=128, batch=8)
    with no_network() as (attempts, lines):
        summary = train_detector(
            data_yaml,
            cfg,
            out_dir=tiny_merged.parent / "runs",
            name="tiny",
            device="cpu",
            plots=False,
            extra={"deterministic": False},  # skips importing torch._dynamo (2-3 s here)
        )
    return {"summary": summary, "data_yaml": data_yaml, "network_attempts": attempts, "log": lines}
