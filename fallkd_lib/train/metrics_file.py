"""metrics.json: one documented schema for every classifier run folder.

The training loop (`fit`) writes it at the end of training with the fields it knows; a recipe
(`train_classifier`, `distill`) then fills in the test-split, other-origin and budget fields and writes it again;
the comparison table and the command line read it. Every writer goes through `write_metrics`, which refuses a
record whose keys are not exactly FIELDS, and every reader through `read_metrics`.
"""

from __future__ import annotations

import json
from pathlib import Path

from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import write_json_atomic

SCHEMA = "fallkd-metrics/1"
FIELDS = {
    "schema": f"always {SCHEMA!r}",
    "name": "the architecture trained (a fallkd model name: resnet18, efficientnet_b0, vit_b_16, vit_tiny)",
    "criterion": "the training criterion, e.g. CrossEntropyCriterion(label_smoothing=0.0) or CachedKDCriterion(...)",
    "config": "the TrainConfig of the run, as a dict",
    "class_names": "class names in the order of the model's outputs",
    "input": "the ClassifierInput (crop_size, pad, fill, image_size, mean, std), or null when fit had none",
    "epochs_done": "epochs trained so far",
    "best_epoch": "the epoch whose weights best.pt holds (highest validation accuracy, earliest on ties)",
    "epoch_seconds": "mean seconds per epoch",
    "train_val_gap": "per epoch: train accuracy minus validation accuracy",
    "val": "the best epoch's validation report (classification_report_dict, plus epoch and loss)",
    "final": "the last epoch's validation report",
    "test": "the best epoch's report on the test split, or null (no test split, or fit alone)",
    "other_origin": "the best epoch's report on crops of another origin, or null",
    "budget": "parameters, GFLOPs at 224 px and the TX2 verdict of the architecture, or null (fit alone)",
    "history": "one row per epoch, the columns of metrics.csv",
    "paths": "{'best': best.pt, 'last': last.pt}",
}
FILE = "metrics.json"


def write_metrics(path: str | Path, record: dict) -> Path:
    """Write a run's metrics record atomically, after checking it has exactly the schema's fields."""
    missing, unknown = sorted(set(FIELDS) - set(record)), sorted(set(record) - set(FIELDS))
    if missing or unknown or record.get("schema") != SCHEMA:
        raise UsageError(
            f"{path}: a metrics record needs exactly the fields of {SCHEMA} (fallkd_lib.train.metrics_file.FIELDS); "
            f"missing {missing}, unknown {unknown}, schema {record.get('schema')!r}"
        )
    return write_json_atomic(path, record)


def read_metrics(run_or_file: str | Path) -> dict:
    """A run folder's metrics.json (or the file itself), checked against the schema."""
    path = Path(run_or_file)
    path = path / FILE if path.is_dir() else path
    if not path.is_file():
        raise MissingFileError(
            f"{path} not found: train the run first (`fallkd train-cls` or `fallkd distill`)"
        )
    record = json.loads(path.read_text(encoding="utf-8"))
    missing = sorted(set(FIELDS) - set(record)) if isinstance(record, dict) else sorted(FIELDS)
    if missing or record.get("schema") != SCHEMA:
        raise UsageError(
            f"{path} is not a {SCHEMA} metrics file (missing {missing}): it was written by an older fallkd; run "
            "the same command again (the finished run is re-read and re-scored, not retrained)"
        )
    return record
