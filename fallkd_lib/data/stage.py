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


def prepare_sources(profile: str, out: Path, progress: bool = True) -> list[tuple[str, Path]]:
    """The datasets of a profile: rendered synthetic styles (quick) or the report's Roboflow sets (full)."""
    cfg = data_config(profile)
    if cfg.source == "synthetic":
        from fallkd_lib.data.synthetic import STYLES, generate_dataset

        sources = []
        for style in STYLES:
            folder = out / "synthetic" / style
            generate_dataset(
                folder,
                cfg.synth_images,
                seed=cfg.seed,
                style=style,
                size=cfg.synth_size,
                split=cfg.split,
                progress=progress,
            )
            sources.append((f"synth_{style}", folder))
        return sources
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
