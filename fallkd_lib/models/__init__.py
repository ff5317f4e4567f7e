"""Classifiers (ResNet18, EfficientNet-B0) and ViT teachers built with timm, partial freezing, and the TX2 budget."""

from __future__ import annotations

from fallkd_lib.models.budget import budget_table, budget_verdict, count_flops, model_budget
from fallkd_lib.models.create import (
    MODEL_NAMES,
    WeightsUnavailableError,
    create_classifier,
    hub_id,
    input_stats,
    load_weights_file,
    timm_name,
)
from fallkd_lib.models.freeze import count_parameters, freeze_for_finetune, trainable_summary

__all__ = [
    "MODEL_NAMES",
    "WeightsUnavailableError",
    "budget_table",
    "budget_verdict",
    "count_flops",
    "count_parameters",
    "create_classifier",
    "freeze_for_finetune",
    "hub_id",
    "input_stats",
    "load_weights_file",
    "model_budget",
    "timm_name",
    "trainable_summary",
]
