"""Classifier training: crop datasets and loaders, ONE loop for plain and distilled training, checkpoints that
resume exactly, and evaluation metrics (plots are in `fallkd_lib.viz.train_plots`)."""

from __future__ import annotations

from fallkd_lib.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint, seed_everything
from fallkd_lib.train.data import CropDataset, build_transforms, class_counts, make_loaders
from fallkd_lib.train.loop import evaluate, fit, plain_criterion
from fallkd_lib.train.metrics import (
    classification_report_dict,
    expected_calibration_error,
    reliability_table,
    report_frame,
    threshold_for_recall,
    train_val_gap,
)

__all__ = [
    "CropDataset",
    "build_transforms",
    "class_counts",
    "classification_report_dict",
    "evaluate",
    "expected_calibration_error",
    "fit",
    "load_checkpoint",
    "make_loaders",
    "plain_criterion",
    "read_checkpoint",
    "reliability_table",
    "report_frame",
    "save_checkpoint",
    "seed_everything",
    "threshold_for_recall",
    "train_val_gap",
]
