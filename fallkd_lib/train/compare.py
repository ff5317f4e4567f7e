"""The comparison the reference report makes, measured honestly: teacher, baselines and distilled students in one table."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from fallkd_lib.config import TrainConfig
from fallkd_lib.errors import UsageError
from fallkd_lib.train.lanes import Task, run_tasks
from fallkd_lib.train.recipes import cache_teacher, distill, train_classifier, train_teacher

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


def _check_runs(include: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """A UsageError naming the runs that are not in `allowed`."""
    unknown = sorted(set(include) - set(allowed))
    if unknown:
        raise UsageError(f"unknown runs {unknown}: choose from {', '.join(allowed)}")


def _kd_mode(run: str) -> str | None:
    """'cached' or 'online' for a distilled run's name, None for the others."""
    mode = run.rsplit("_", 1)[-1]
    return mode if mode in ("cached", "online") else None


def _prepare_teacher(crops_dir, teacher_dir: Path, cfg: TrainConfig, other_crops, progress: bool) -> dict:
    """Train (or re-read) the teacher and cache its logits on the train crops; returns its metrics record."""
    teacher = train_teacher(crops_dir, teacher_dir, cfg, other_crops=other_crops, progress=progress)
    cache_teacher(teacher_dir, crops_dir, cfg, progress=progress)
    return teacher


def _train_runs(
    teacher: tuple | None, students: dict[str, tuple], jobs: int, progress: bool, desc: str = "runs"
) -> tuple[dict | None, dict[str, tuple[str, dict]]]:
    """Prepare the teacher (its _prepare_teacher arguments but progress; None: no teacher), then train every
    student (key -> its _train_student arguments but progress); jobs > 1 runs them that many at a time in worker
    processes, the KD students after the teacher. Returns the teacher's record and {key: (name, record)}."""
    if jobs > 1:
        tasks = [Task("teacher", _prepare_teacher, (*teacher, False))] if teacher is not None else []
        tasks += [
            Task(key, _train_student, (*args, False), after="teacher" if _kd_mode(args[0]) else None)
            for key, args in students.items()
        ]
        done = run_tasks(tasks, jobs, progress, desc=desc)
        return done.get("teacher"), {key: done[key] for key in students}  # type: ignore[misc]
    record = _prepare_teacher(*teacher, progress) if teacher is not None else None
    return record, {key: _train_student(*args, progress) for key, args in students.items()}


def _train_student(
    run: str, crops_dir, out_dir: Path, cfg: TrainConfig, teacher_dir: Path, other_crops, progress: bool
) -> tuple[str, dict]:
    """Train (or resume) one run of the comparison other than the teacher; returns its table name and record."""
    mode = _kd_mode(run)
    if mode:
        record = distill(
            crops_dir, out_dir, cfg, teacher_dir, mode, other_crops=other_crops, progress=progress
        )
        return f"{cfg.model} + KD ({mode})", record
    return run, train_classifier(
        crops_dir, out_dir, cfg, name=run, other_crops=other_crops, progress=progress
    )


def run_comparison(
    crops_dir: str | Path,
    runs_dir: str | Path,
    cfg: TrainConfig,
    other_crops: str | Path | None = None,
    include: tuple[str, ...] = RUNS,
    progress: bool = True,
    jobs: int = 1,
) -> pd.DataFrame:
    """Train (or resume) every run of the comparison, then write and return the table (also as CSV and text).

    jobs > 1 trains that many runs at a time in their own processes (fallkd_lib.train.lanes), the students that
    need the teacher once it is done."""
    _check_runs(include, RUNS)
    runs_dir = Path(runs_dir)
    teacher_dir = runs_dir / "teacher"
    results: dict[str, dict] = {}
    started = time.perf_counter()
    need_teacher = any(r == "teacher" or _kd_mode(r) for r in include)
    students = {
        run: (run, crops_dir, runs_dir / run, cfg, teacher_dir, other_crops)
        for run in include
        if run != "teacher"
    }
    teacher_args = (crops_dir, teacher_dir, cfg, other_crops) if need_teacher else None
    teacher, trained = _train_runs(teacher_args, students, jobs, progress)
    for run in include:
        if run == "teacher":
            results[f"teacher ({cfg.teacher})"] = teacher
        else:
            name, record = trained[run]
            results[name] = record
    table = comparison_table(results)
    table.attrs["seconds"] = round(time.perf_counter() - started, 1)
    runs_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(runs_dir / "comparison.csv")
    (runs_dir / "comparison.txt").write_text(
        table.to_string(float_format="{:.3f}".format) + "\n", encoding="utf-8"
    )
    return table


KD_CLAIM = ("efficientnet_b0", "efficientnet_b0_kd_cached", "efficientnet_b0_kd_online")
SCORES = ("accuracy", "fall recall", "fall F1")


def seed_summary(per_seed: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Mean and sd over seeds of each score per model, and each model's paired gain over the baseline."""
    rows = {}
    base = per_seed.xs(baseline, level="model")
    for model, group in per_seed.groupby(level="model", sort=False):
        row: dict[str, float] = {"seeds": len(group)}
        scores = group.droplevel("model")
        for score in SCORES:
            row[f"{score} mean"] = scores[score].mean()
            row[f"{score} sd"] = scores[score].std(ddof=1) if len(scores) > 1 else float("nan")
        gain = (scores["accuracy"] - base["accuracy"]).dropna()  # same seed, same data order: paired
        row["accuracy gain mean"] = gain.mean()
        row["accuracy gain sd"] = gain.std(ddof=1) if len(gain) > 1 else float("nan")
        rows[model] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "model"
    return frame


def run_seed_comparison(
    crops_dir: str | Path,
    runs_dir: str | Path,
    cfg: TrainConfig,
    seeds: int = 3,
    include: tuple[str, ...] = KD_CLAIM,
    progress: bool = True,
    jobs: int = 1,
) -> pd.DataFrame:
    """Does distillation help? Train plain and distilled students with `seeds` seeds and summarise mean +- sd.

    One teacher (trained with cfg.seed, reused) teaches every student. Seed cfg.seed trains in (or reuses the
    runs of run_comparison in) runs_dir; seed s > cfg.seed trains in runs_dir/seed_<s>/. Writes seeds.csv (one row per
    model and seed) and seeds_summary.csv; returns the summary (seed_summary, baseline = include[0]). jobs > 1
    trains that many students at a time, as in run_comparison.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise UsageError(f"seeds must be a whole number >= 1, got {seeds!r}")
    _check_runs(include, RUNS[1:])  # every run but the teacher, which is trained once
    runs_dir = Path(runs_dir)
    teacher_dir = runs_dir / "teacher"
    pairs = [(seed, run) for seed in range(cfg.seed, cfg.seed + seeds) for run in include]
    students = {
        f"{run}@{seed}": (
            run,
            crops_dir,
            _seed_folder(runs_dir, cfg, seed) / run,
            replace(cfg, seed=seed),
            teacher_dir,
            None,
        )
        for seed, run in pairs
    }
    # one teacher, trained with cfg.seed, teaches the students of every seed
    teacher = (crops_dir, teacher_dir, cfg, None) if any(_kd_mode(r) for r in include) else None
    _, trained = _train_runs(teacher, students, jobs, progress, desc="seed runs")
    rows = []
    for seed, run in pairs:
        name, m = trained[f"{run}@{seed}"]
        rows.append({"model": name, "seed": seed} | {k: _row(name, m)[k] for k in SCORES})
    per_seed = pd.DataFrame(rows).set_index(["model", "seed"])
    summary = seed_summary(per_seed, per_seed.index.get_level_values("model")[0])
    per_seed.to_csv(runs_dir / "seeds.csv")
    summary.to_csv(runs_dir / "seeds_summary.csv")
    return summary


def _seed_folder(runs_dir: Path, cfg: TrainConfig, seed: int) -> Path:
    """Where a seed's students train: runs_dir for cfg.seed (the runs of run_comparison), else runs_dir/seed_<s>."""
    return runs_dir if seed == cfg.seed else runs_dir / f"seed_{seed}"


def format_seed_summary(summary: pd.DataFrame) -> str:
    """The seed summary as text: 'mean +- sd' per score, and the paired accuracy gain over the baseline."""
    cols = [*SCORES, "accuracy gain"]
    text = pd.DataFrame(
        {
            c: [f"{m:.3f} +- {d:.3f}" for m, d in zip(summary[f"{c} mean"], summary[f"{c} sd"], strict=True)]
            for c in cols
        },
        index=summary.index,
    )
    text.insert(0, "seeds", summary["seeds"].astype(int))
    return text.to_string()
