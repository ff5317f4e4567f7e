"""Shared test set-up: offline switches, a headless plot backend, and where the real datasets lie."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
