"""Benchmark the synthetic dataset generator on ONE core, and check that box shape alone does not give away
the class.

    .venv/bin/python benchmarks/bench_synthetic.py --images 60 --size 640 --seed 0

Prints, per style: images/s and images/min of `generate_dataset` (render + JPEG + label write), the best single
aspect-ratio (w/h) rule's accuracy over the boxes, and a side-by-side naive baseline measured in the same run:
the same scenes with the backdrop (sky gradient, hazy ground, texture noise) drawn pixel by pixel with PIL's
pixel access instead of whole-array numpy. The naive backdrop does LESS work than ours (no clouds, tree line,
perspective texture or paths), so the speed-up shown is a lower bound.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fallkd_lib.data.synthetic import STYLES, aspect_ratio_baseline, generate_dataset  # noqa: E402
from fallkd_lib.data.synthetic import scene as scene_module  # noqa: E402
from fallkd_lib.data.synthetic.background import Camera, draw_backdrop  # noqa: E402


def one_core() -> None:
    """Pin OpenCV (and torch, when installed) to a single thread."""
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def naive_backdrop(rng: np.random.Generator, size: int, camera: Camera, style: str) -> np.ndarray:
    """The textbook way: loop over every pixel, compute its colour in Python and set it with PIL pixel access."""
    image = Image.new("RGB", (size, size))
    px = image.load()
    noise = random.Random(int(rng.integers(2**31)))
    h = camera.horizon * size
    top = [rng.uniform(60, 120), rng.uniform(110, 165), rng.uniform(185, 240)]
    low = [rng.uniform(175, 220), rng.uniform(195, 230), rng.uniform(215, 250)]
    near = (
        [rng.uniform(55, 110), rng.uniform(100, 160), rng.uniform(35, 80)] if style == "park" else [128.0] * 3
    )
    haze, fog_reach = rng.uniform(150, 200), rng.uniform(0.05, 0.2)
    for y in range(size):
        for x in range(size):
            if y < h:
                t = y / max(h, 1.0)
                colour = [a + (b - a) * t for a, b in zip(top, low, strict=True)]
            else:
                fog = math.exp(-max((y - h) / size, 1e-3) / fog_reach)
                grain = noise.gauss(0.0, 8.0)
                colour = [c * (1 - fog) + haze * fog + grain for c in near]
            px[x, y] = tuple(min(255, max(0, int(c))) for c in colour)
    return np.array(image)


def render_encode(style: str, size: int, seed: int, indices: range) -> float:
    """Seconds per image to render a scene and encode it as JPEG in memory."""
    start = time.perf_counter()
    for index in indices:
        rng = np.random.default_rng([seed, STYLES.index(style), index])
        pixels, _ = scene_module.render_scene(rng, style, size)
        Image.fromarray(pixels).save(io.BytesIO(), format="JPEG", quality=85)
    return (time.perf_counter() - start) / len(indices)


def backdrop_time(fn, style: str, size: int, seed: int, n: int) -> float:
    """Seconds per backdrop for a backdrop function."""
    start = time.perf_counter()
    for index in range(n):
        rng = np.random.default_rng([seed, 99, index])
        fn(rng, size, Camera(float(rng.uniform(0.25, 0.6)), 1.0), style)
    return (time.perf_counter() - start) / n


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images", type=int, default=60, help="images per style for the speed and box-shape check"
    )
    parser.add_argument("--size", type=int, default=640, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--naive-images", type=int, default=2, help="images per style for the slow naive baseline"
    )
    args = parser.parse_args()
    one_core()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for style in STYLES:
            summary = generate_dataset(
                Path(tmp) / style, args.images, seed=args.seed, style=style, size=args.size, progress=False
            )
            per_image = summary["seconds"] / args.images
            rule = aspect_ratio_baseline(Path(tmp) / style)
            ours = render_encode(style, args.size, args.seed, range(args.naive_images))
            original = scene_module.draw_backdrop
            scene_module.draw_backdrop = naive_backdrop
            try:
                naive = render_encode(style, args.size, args.seed, range(args.naive_images))
            finally:
                scene_module.draw_backdrop = original
            bg_ours = backdrop_time(draw_backdrop, style, args.size, args.seed, 10)
            bg_naive = backdrop_time(naive_backdrop, style, args.size, args.seed, 1)
            rows.append((style, args.images, per_image, rule, ours, naive, bg_ours, bg_naive))
    print(f"\nsynthetic generator, {args.size}x{args.size}, seed {args.seed}, one core (cv2 threads = 1)\n")
    head = ("style", "images", "ms/img", "img/s", "img/min", "boxes", "w/h rule acc", "majority")
    print("{:<6} {:>6} {:>7} {:>6} {:>8} {:>6} {:>13} {:>9}".format(*head))
    for style, n, per, rule, *_ in rows:
        print(
            f"{style:<6} {n:>6} {per * 1000:>7.1f} {1 / per:>6.1f} {60 / per:>8.0f} {rule['boxes']:>6} "
            f"{rule['accuracy']:>13.3f} {rule['majority_accuracy']:>9.3f}"
        )
    print("\nnaive baseline, same scenes (render + JPEG in memory), backdrop drawn per pixel with PIL:")
    head = ("style", "ours ms", "naive ms", "speed-up", "backdrop ours", "backdrop naive", "backdrop x")
    print("{:<6} {:>8} {:>9} {:>9} {:>14} {:>15} {:>11}".format(*head))
    for style, _, _, _, ours, naive, bg_ours, bg_naive in rows:
        print(
            f"{style:<6} {ours * 1000:>8.1f} {naive * 1000:>9.1f} {naive / ours:>8.1f}x {bg_ours * 1000:>12.1f}ms "
            f"{bg_naive * 1000:>13.1f}ms {bg_naive / bg_ours:>10.0f}x"
        )
    slowest = max(r[2] for r in rows)
    verdict = "meets" if slowest <= 0.2 else "MISSES"
    print(
        f"\nslowest style: {60 / slowest:.0f} images/min ({verdict} the 300 images/min target); "
        "w/h rule must stay < 0.95: " + ", ".join(f"{r[0]} {r[3]['accuracy']:.3f}" for r in rows)
    )


if __name__ == "__main__":
    main()
