"""Epoch time of plain training vs cached-KD vs online-KD, side by side on the same crops, model and loop.

    .venv/bin/python benchmarks/bench_kd.py [--crops DIR] [--image-size N] [--epochs 3] [--teacher NAME]

Without --crops it renders the quick profile's synthetic crops first. The claim: cached distillation costs about
what plain training costs (target ratio <= 1.10), because the teacher ran once, beforehand; online distillation
runs the teacher on every batch. Each timing is the mean of the epochs after the first (warm-up), measured by
the training loop itself.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fallkd_lib.config import train_config  # noqa: E402
from fallkd_lib.data.stage import run_data_stage  # noqa: E402
from fallkd_lib.train.recipes import cache_teacher, distill, train_classifier  # noqa: E402


def steady_epoch_seconds(metrics: dict) -> float:
    """Mean epoch time after the first epoch (or the only one)."""
    seconds = [row["seconds"] for row in metrics["history"]]
    return sum(seconds[1:]) / len(seconds[1:]) if len(seconds) > 1 else seconds[0]


def main() -> int:
    """Run the three trainings and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=Path, default=None)
    quick = train_config("quick")
    parser.add_argument("--image-size", type=int, default=quick.image_size)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--teacher", default=quick.teacher)
    args = parser.parse_args()
    cfg = train_config("quick", image_size=args.image_size, epochs=args.epochs, teacher=args.teacher)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        crops = args.crops or Path(run_data_stage("quick", tmp / "data", progress=False)["crops_dir"])
        teacher_cfg = train_config("quick", image_size=args.image_size, epochs=1, teacher=args.teacher)
        train_classifier(crops, tmp / "teacher", teacher_cfg, name=args.teacher, progress=False)
        started = time.perf_counter()
        cache_teacher(tmp / "teacher", crops, cfg, progress=False)
        cache_seconds = time.perf_counter() - started
        rows = {
            "plain (cross-entropy)": train_classifier(crops, tmp / "plain", cfg, progress=False),
            "KD, cached teacher logits": distill(
                crops, tmp / "cached", cfg, tmp / "teacher", "cached", progress=False
            ),
            "KD, online teacher": distill(
                crops, tmp / "online", cfg, tmp / "teacher", "online", progress=False
            ),
        }
    base = steady_epoch_seconds(rows["plain (cross-entropy)"])
    print(
        f"\nstudent {cfg.model} at {cfg.image_size}px, teacher {args.teacher}, {cfg.epochs} epochs, crops {crops}"
    )
    print(f"one-off teacher pass for the cache: {cache_seconds:.2f} s\n")
    print(f"{'training':<28} {'epoch s':>8} {'ratio to plain':>15}")
    for name, metrics in rows.items():
        seconds = steady_epoch_seconds(metrics)
        print(f"{name:<28} {seconds:>8.2f} {seconds / base:>14.2f}x")
    print("\ntarget: cached / plain <= 1.10")
    return 0


if __name__ == "__main__":
    sys.exit(main())
