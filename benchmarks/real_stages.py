"""bench_real's training stages: the data, the two detectors and the crop-classifier ablation (all resume)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from fallkd_lib.config import train_config
from fallkd_lib.data.background import link_crops, write_background_crops
from fallkd_lib.real.recipe import crop_scores, person_detector
from fallkd_lib.real.stages import (
    RealRecipe,
    merged_root,
    pretrain,
    train_source_detector,
)
from fallkd_lib.train.recipes import cache_teacher, distill, train_classifier

TRAIN, OTHER = RealRecipe.train_source, RealRecipe.other_source
STUDENT, TEACHER = RealRecipe.student, RealRecipe.teacher
VARIANTS = {  # row name -> run folder, for the two-stage rows
    "scratch": "scratch",
    "synthetic-pretrained": "pretrained",
    "+ camera augmentation": "camera",
    "+ KD (cached)": "kd_cached",
    "+ background class": "camera_background",
}
CROP_TARGETS = {"test fall F1": 0.80, "other fall F1": 0.61, "other accuracy": 0.60}  # issue 10


def train_one_detector(work: Path, mode: str, epochs: int) -> dict:
    """One detector (mode "person" or "fall_normal") on the laifi images of the merge (resumes)."""
    return train_source_detector(work, mode, epochs, TRAIN)


def detector_stage(work: Path, epochs: int) -> dict[str, dict]:
    """Train the fall/normal and the person detector side by side, one process and one thread each (resumes)."""
    modes = ("fall_normal", "person")
    # spawn, not fork: torch threads; two one-thread trainings use both cores where one would use one
    with ProcessPoolExecutor(len(modes), mp_context=get_context("spawn")) as pool:
        futures = {mode: pool.submit(train_one_detector, work, mode, epochs) for mode in modes}
        out = {mode: future.result() for mode, future in futures.items()}
    for mode, summary in out.items():
        print(
            f"detector {mode}: valid mAP50 {summary['mAP50']:.3f}, {summary['epochs_run']} epochs in "
            f"{summary['seconds']:.0f} s",
            flush=True,
        )
    return out


def pretrained_person_detector(work: Path, recipe: RealRecipe) -> dict:
    """The recipe's person detector (fallkd real's: pretrained on the synthetic scenes, then trained on laifi)."""
    summary = person_detector(recipe, work)
    print(f"detector person (synthetic-pretrained): valid mAP50 {summary['mAP50']:.3f}", flush=True)
    return summary


def seed_tag(seed: int) -> str:
    """The suffix of a seed's stage names and tables: "" for seed 0 (the default run), " (seed N)" otherwise."""
    return f" (seed {seed})" if seed else ""


def row(record: dict, seconds: float | None) -> dict:
    """The crop table's columns from a metrics.json record."""
    return {**crop_scores(record), "seconds": seconds}


def background_folder(work: Path, real: Path) -> Path:
    """The laifi crops plus a `background` class (one crop per image, every split); prints the counts."""
    folder = link_crops(real, work / "real" / "with_background")
    report = write_background_crops(
        merged_root(work), folder, 1, 0, ("train", "valid", "test"), (TRAIN,), False
    )
    print(
        f"background crops: {report['crops']} from {report['images']} images; no room in "
        f"{report['images_without_room']}",
        flush=True,
    )
    return folder


def classifier_stage(
    stage: Callable, work: Path, folders: dict[str, Path], synth: Path, args: argparse.Namespace
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Synthetic pretraining, then the ablation rows; returns the crop table and each row's run folder. A seed
    other than 0 fine-tunes every row again (in runs_seed<N>/, stages named "... (seed N)") from the same
    synthetic-pretrained weights: the spread the fine-tuning alone gives."""
    seed, tag = args.seed, seed_tag(args.seed)
    cfg = train_config("quick", model=STUDENT, image_size=args.image_size, epochs=args.epochs, seed=seed)
    pre = {}
    for model in (STUDENT, TEACHER):
        scfg = replace(cfg, model=model, epochs=args.synth_epochs, seed=0)
        pre[model] = stage(f"synthetic pretraining {model}", partial(pretrain, work, synth, scfg))
    real, other = folders[TRAIN], folders[OTHER]
    runs = work / ("runs" if not seed else f"runs_seed{seed}")
    camera = replace(cfg, augment="camera")

    def plain(run: str, c: object, weights: Path | None, crops: Path = real) -> Callable:
        return lambda: train_classifier(
            crops, runs / run, c, other_crops=other, weights=weights, progress=False
        )

    def kd() -> dict:
        # the report's recipe: the teacher's outputs cached once
        cache_teacher(runs / "teacher", real, camera, progress=False)
        return distill(
            real, runs / "kd_cached", camera, runs / "teacher", "cached", other, False, pre[STUDENT]
        )

    plans = {
        "scratch": plain("scratch", cfg, None),
        "synthetic-pretrained": plain("pretrained", cfg, pre[STUDENT]),
        "+ camera augmentation": plain("camera", camera, pre[STUDENT]),
        f"teacher ({TEACHER}, pretrained + camera)": plain(
            "teacher", replace(camera, model=TEACHER), pre[TEACHER]
        ),
        "+ KD (cached)": kd,
        "+ background class": lambda: plain(
            "camera_background",
            camera,
            pre[STUDENT],
            stage("background crops", background_folder, work, real),
        )(),
    }
    rows = {}
    for name, plan in plans.items():
        record = stage(f"classifier {name}{tag}", plan)
        rows[name] = row(record, stage.seconds[f"classifier {name}{tag}"])
        print(f"{name}: {rows[name]}", flush=True)
    table = pd.DataFrame(rows).T
    table.loc["target (issue 10)"] = pd.Series(CROP_TARGETS)
    return table, {name: runs / folder for name, folder in VARIANTS.items()}
