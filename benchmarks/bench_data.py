"""Benchmark the data stage on the real shared datasets: merge (validate, hash, dedup, split, copy) and crops.

    .venv/bin/python benchmarks/bench_data.py [--datasets ../shared/datasets] [--size 224]

Measured side by side in one run, on the same images:
- near-duplicate search: fallkd's vectorised numpy Hamming distances vs the naive Python double loop
  (`bin(a ^ b).count("1")` for every pair);
- crops: fallkd's extract_crops (one decode per image, cv2 resize, letterbox) vs the naive way
  (re-open the image with PIL for every box, crop, stretch-resize, save);
- the whole merge, reported in images/s (no naive twin: it is the sum of the steps above plus copying).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from fallkd_lib.data.crops import extract_crops  # noqa: E402
from fallkd_lib.data.dedup import near_duplicate_pairs  # noqa: E402
from fallkd_lib.data.geometry import CropSpec  # noqa: E402
from fallkd_lib.data.merge import merge_datasets  # noqa: E402
from fallkd_lib.data.yolo import iter_dataset  # noqa: E402

SETS = ("fall_action_laifi", "hospital_bed_rf")


def naive_pairs(hashes: list[int], max_distance: int) -> int:
    """Count near-duplicate pairs with a Python double loop."""
    count = 0
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            if bin(hashes[i] ^ hashes[j]).count("1") <= max_distance:
                count += 1
    return count


def naive_crops(dataset: Path, out: Path, size: int) -> int:
    """Open the image again for every box, crop with PIL, stretch to size x size, save."""
    written = 0
    for item in iter_dataset(dataset):
        for k, box in enumerate(item.boxes):
            with Image.open(item.image) as im:
                im = im.convert("RGB")
                x1, y1, x2, y2 = box.to_xyxy(*im.size)
                crop = im.crop((int(x1), int(y1), int(x2), int(y2))).resize((size, size))
            target = out / item.split / str(box.cls) / f"{item.image.stem}_{k}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            crop.save(target, quality=92)
            written += 1
    return written


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    """Seconds taken by one call, and its result."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    parser.add_argument("--datasets", type=Path, default=default)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    missing = [name for name in SETS if not (args.datasets / name / "data.yaml").is_file()]
    if missing:
        print(f"skipped: {', '.join(missing)} not found under {args.datasets}")
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seconds, report = timed(
            merge_datasets, [(n, args.datasets / n) for n in SETS], tmp / "merged", progress=False
        )
        images = report.counts["images"]["kept"]
        rows.append(("merge (validate, hash, dedup, split, copy)", images, seconds, None))

        hashes = [int(h, 16) for h in pd.read_csv(tmp / "merged" / "manifest.csv")["phash"]]
        ours_s, pairs = timed(near_duplicate_pairs, hashes, 4)
        naive_s, naive_count = timed(naive_pairs, hashes, 4)
        assert len(pairs) == naive_count, (len(pairs), naive_count)
        rows.append((f"near-duplicate search ({len(hashes)} hashes)", len(hashes), ours_s, naive_s))

        ours_s, crops = timed(
            extract_crops, tmp / "merged", tmp / "crops", CropSpec(args.size, 0.1), progress=False
        )
        naive_s, naive_written = timed(naive_crops, tmp / "merged", tmp / "naive", args.size)
        assert crops.total == naive_written, (crops.total, naive_written)
        rows.append((f"crops ({crops.total} crops at {args.size}px)", images, ours_s, naive_s))

    print(f"\nreal shared sets: {' + '.join(SETS)}\n")
    print(
        f"{'step':<46} {'images':>7} {'fallkd s':>9} {'img/s':>8} {'naive s':>8} {'img/s':>8} {'speed-up':>8}"
    )
    for name, n, ours, naive in rows:
        naive_cols = (
            f"{naive:>8.2f} {n / naive:>8.1f} {naive / ours:>7.1f}x"
            if naive
            else f"{'-':>8} {'-':>8} {'-':>8}"
        )
        print(f"{name:<46} {n:>7} {ours:>9.2f} {n / ours:>8.1f} {naive_cols}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
