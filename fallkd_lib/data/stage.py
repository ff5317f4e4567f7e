"""The data stage end to end: sources -> merge -> crops -> plots, as `fallkd demo` and the notebooks run it."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from fallkd_lib.config import data_config
from fallkd_lib.io import files_digest, write_atomic, write_json_atomic
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
    key = _stage_key(profile, cfg, sources)
    done = _finished_stage(out, key)
    if done is not None:  # the same sources and settings were merged, cut and plotted before: reuse them
        return done | {"seconds": round(time.perf_counter() - start, 1), "reused": True}
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
    result = {
        "profile": profile,
        "sources": {name: str(path) for name, path in sources},
        "merged": str(out / "merged"),
        "merge": merged.to_dict().get("counts", {}),
        "crops_dir": str(out / "crops"),
        "crops": crops.to_dict().get("counts", {}),
        "plots": [str(p) for p in plots],
    }
    write_json_atomic(out / STAGE_FILE, {"key": key, "result": result})  # last: the stage is complete
    return result | {"seconds": round(time.perf_counter() - start, 1), "reused": False}


STAGE_FILE = "stage.json"  # a finished data stage: what it was made from and what it returned


def _stage_key(profile: str, cfg: object, sources: list[tuple[str, Path]]) -> dict:
    """What a data stage's outputs depend on: the profile, its DataConfig and every source file (path, size)."""
    return {
        "profile": profile,
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "sources": files_digest(sources),
    }


def _finished_stage(out: Path, key: dict) -> dict | None:
    """The saved result of a finished stage in `out` made from `key`, if its outputs are all still there."""
    try:
        saved = json.loads((out / STAGE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("key") != key:
        return None
    result = saved["result"]
    needed = [Path(result["merged"]) / "data.yaml", Path(result["crops_dir"]), *map(Path, result["plots"])]
    return result if all(p.exists() for p in needed) else None
