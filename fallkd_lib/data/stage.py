"""The data stage end to end: sources -> merge -> crops -> plots, as `fallkd demo` and the notebooks run it."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from fallkd_lib.config import data_config
from fallkd_lib.io import write_atomic
from fallkd_lib.settings import get_settings


def save_data_plots(dataset: str | Path, out: str | Path, boxes: pd.DataFrame | None = None) -> list[Path]:
    """Save the class-balance, box-geometry and sample-grid plots of a dataset as PNG files."""
    import matplotlib.pyplot as plt

    from fallkd_lib.data.stats import box_table
    from fallkd_lib.viz.data_plots import plot_box_geometry, plot_class_balance, plot_sample_grid

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    boxes = box_table(dataset) if boxes is None else boxes
    figures = {
        "class_balance.png": plot_class_balance(boxes),
        "box_geometry.png": plot_box_geometry(boxes),
        "samples.png": plot_sample_grid(dataset, n=12, seed=0),
    }
    written = []
    for name, fig in figures.items():
        write_atomic(out / name, lambda tmp, fig=fig: fig.savefig(tmp, dpi=100, bbox_inches="tight"))
        plt.close(fig)
        written.append(out / name)
    return written


def render_styles(jobs: list[dict], progress: bool) -> None:
    """generate_dataset for each style: one process per style when there are cores to spare (images never depend
    on each other, so the bytes are the same either way), in this process otherwise."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from fallkd_lib.data.synthetic import generate_dataset

    workers = min(len(jobs), os.cpu_count() or 1)
    if workers < 2:
        for job in jobs:
            generate_dataset(**job, progress=progress)
        return
    # spawn, not fork: a forked copy of a process that already runs torch or OpenMP threads can hang
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(generate_dataset, **job, progress=False) for job in jobs]
        for job, future in zip(jobs, futures, strict=True):
            summary = future.result()  # re-raises a worker's error here
            if progress:
                print(
                    f"synthetic {job['style']}: {sum(summary['images'].values())} images in {summary['seconds']} s"
                )


def prepare_sources(profile: str, out: Path, progress: bool = True) -> list[tuple[str, Path]]:
    """The datasets of a profile: rendered synthetic styles (quick) or the report's Roboflow sets (full)."""
    cfg = data_config(profile)
    if cfg.source == "synthetic":
        from fallkd_lib.data.synthetic import STYLES

        jobs = [
            {
                "out": out / "synthetic" / style,
                "images": cfg.synth_images,
                "seed": cfg.seed,
                "style": style,
                "size": cfg.synth_size,
                "split": cfg.split,
                "world": cfg.synth_world,
            }
            for style in STYLES
        ]
        render_styles(jobs, progress)
        return [(f"synth_{job['style']}", job["out"]) for job in jobs]
    from fallkd_lib.data.sources import PRESETS, download_preset

    return [(name, download_preset(name, out / "roboflow" / name)) for name in PRESETS]


def run_data_stage(profile: str = "quick", out: str | Path | None = None, progress: bool = True) -> dict:
    """Make (or download) the sources, merge them, cut crops and save plots; return the headline numbers."""
    from fallkd_lib.data.crops import extract_crops
    from fallkd_lib.data.merge import merge_datasets

    cfg = data_config(profile)
    out = (
        Path(out) if out is not None else get_settings().data_dir / ("demo" if profile == "quick" else "full")
    )
    start = time.perf_counter()
    sources = prepare_sources(profile, out, progress=progress)
    merged = merge_datasets(
        sources,
        out / "merged",
        split=cfg.split,
        seed=cfg.seed,
        near_duplicate_distance=cfg.near_duplicate_distance,
        progress=progress,
    )
    crops = extract_crops(out / "merged", out / "crops", cfg.crop_spec(), progress=progress)
    plots = save_data_plots(out / "merged", out / "plots")
    return {
        "profile": profile,
        "sources": {name: str(path) for name, path in sources},
        "merged": str(out / "merged"),
        "merge": merged.to_dict().get("counts", {}),
        "crops_dir": str(out / "crops"),
        "crops": crops.to_dict().get("counts", {}),
        "plots": [str(p) for p in plots],
        "seconds": round(time.perf_counter() - start, 1),
    }
