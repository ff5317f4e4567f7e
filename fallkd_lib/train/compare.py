"""The comparison the reference report makes, measured honestly: teacher, baselines and distilled students in one table."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from fallkd_lib.config import TrainConfig
from fallkd_lib.errors import UsageError
from fallkd_lib.train.recipes import cache_teacher, distill, train_classifier

RUNS = ("teacher", "resnet18", "efficientnet_b0", "efficientnet_b0_kd_cached", "efficientnet_b0_kd_online")


def _row(name: str, m: dict) -> dict:
    """One table row from a recipe's metrics.json."""
    scored = m["test"] or m["val"]
    fall = scored["per_class"].get("fall", scored["per_class"][scored["positive"]])
    gaps = m["train_val_gap"] or [float("nan")]
    other = m.get("other_origin")
    return {
        "model": name,
        "params (M)": round(m["budget"]["params_m"], 2),
        "GFLOPs@224": round(m["budget"]["gflops"], 2),
        "TX2": m["budget"]["verdict"],
        "accuracy": scored["accuracy"],
        "fall precision": fall["precision"],
        "fall recall": fall["recall"],
        "fall F1": fall["f1"],
        "ECE": scored["ece"],
        "train-val gap (last)": gaps[-1],
        "train-val gap (max)": max(gaps),
        "epoch s": m["epoch_seconds"],
        "other-origin accuracy": other["accuracy"] if other else None,
        "other-origin fall recall": other["per_class"]["fall"]["recall"]
        if other and "fall" in other["per_class"]
        else None,
    }


def comparison_table(results: dict[str, dict]) -> pd.DataFrame:
    """The comparison table (one row per run) from recipes' metrics dicts."""
    return pd.DataFrame([_row(name, m) for name, m in results.items()]).set_index("model")


def run_comparison(
    crops_dir: str | Path,
    runs_dir: str | Path,
    cfg: TrainConfig,
    other_crops: str | Path | None = None,
    include: tuple[str, ...] = RUNS,
    progress: bool = True,
) -> pd.DataFrame:
    """Train (or resume) every run of the comparison, then write and return the table (also as CSV and text)."""
    unknown = sorted(set(include) - set(RUNS))
    if unknown:
        raise UsageError(f"unknown runs {unknown}: choose from {', '.join(RUNS)}")
    runs_dir = Path(runs_dir)
    teacher_dir = runs_dir / "teacher"
    needs_teacher = any(r == "teacher" or r.endswith(("_cached", "_online")) for r in include)
    results: dict[str, dict] = {}
    started = time.perf_counter()
    if needs_teacher:
        teacher = train_classifier(
            crops_dir, teacher_dir, cfg, name=cfg.teacher, other_crops=other_crops, progress=progress
        )
        if "teacher" in include:
            results[f"teacher ({cfg.teacher})"] = teacher
        cache_teacher(teacher_dir, crops_dir, cfg, progress=progress)
    for run in include:
        if run in ("resnet18", "efficientnet_b0"):
            results[run] = train_classifier(
                crops_dir, runs_dir / run, cfg, name=run, other_crops=other_crops, progress=progress
            )
        elif run.endswith(("_cached", "_online")):
            mode = run.rsplit("_", 1)[1]
            results[f"{cfg.model} + KD ({mode})"] = distill(
                crops_dir, runs_dir / run, cfg, teacher_dir, mode, other_crops=other_crops, progress=progress
            )
    table = comparison_table(results)
    table.attrs["seconds"] = round(time.perf_counter() - started, 1)
    runs_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(runs_dir / "comparison.csv")
    (runs_dir / "comparison.txt").write_text(
        table.to_string(float_format="{:.3f}".format) + "\n", encoding="utf-8"
    )
    return table
