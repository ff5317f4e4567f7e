"""The comparison table on the real shared sets, trained from scratch on the CPU within a stated budget.

    .venv/bin/python benchmarks/bench_compare.py [--datasets ../shared/datasets] [--image-size 64] [--epochs 4]

Train on `fall_action_laifi` (photos and video frames), test in-distribution on its test split and on every crop
of `hospital_bed_rf` (care-room CCTV, a different origin): teacher (a ViT-Tiny trained whole: no pretrained
weights offline), ResNet18, EfficientNet-B0, and EfficientNet-B0 distilled from the teacher (cached and online
teacher outputs). No accuracy target: from scratch on ~700 crops this measures the method, not the models.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fallkd_lib.config import train_config  # noqa: E402
from fallkd_lib.data.crops import extract_crops  # noqa: E402
from fallkd_lib.data.geometry import CropSpec  # noqa: E402
from fallkd_lib.data.merge import merge_datasets  # noqa: E402
from fallkd_lib.data.subsets import crops_by_source  # noqa: E402
from fallkd_lib.train.compare import run_comparison  # noqa: E402

TRAIN, OTHER = "fall_action_laifi", "hospital_bed_rf"


def main() -> int:
    """Prepare crops, train every model, print the table and the CPU time it took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)"
    )
    args = parser.parse_args()
    if not all((args.datasets / name / "data.yaml").is_file() for name in (TRAIN, OTHER)):
        print(f"skipped: {TRAIN} and {OTHER} not found under {args.datasets}")
        return 0
    cfg = train_config("quick", image_size=args.image_size, epochs=args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        started = time.perf_counter()
        merge_datasets([(n, args.datasets / n) for n in (TRAIN, OTHER)], work / "merged", progress=False)
        extract_crops(work / "merged", work / "crops", CropSpec(args.image_size, 0.1), progress=False)
        folders = crops_by_source(work / "crops", work / "by_source")
        data_seconds = time.perf_counter() - started
        table = run_comparison(folders[TRAIN], work / "runs", cfg, other_crops=folders[OTHER], progress=False)
        train_seconds = time.perf_counter() - started - data_seconds
    print(
        f"\ntrain on {TRAIN}, other origin {OTHER}; {cfg.image_size}px, {cfg.epochs} epochs, from scratch, CPU"
    )
    print(f"data (merge + crops): {data_seconds:.0f} s; training all runs: {train_seconds:.0f} s\n")
    print(table.to_string(float_format="{:.3f}".format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
