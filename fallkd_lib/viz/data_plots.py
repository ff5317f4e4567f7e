"""Plots of the data stage: class balance, box geometry, sample images with boxes, crop grids.

Every function returns a matplotlib Figure built without pyplot (no display needed, nothing shown twice in a
notebook); show it by leaving it as the cell's last expression, or save it with `fig.savefig(path)`.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from fallkd_lib.data.crops import SPLIT_FOLDERS, check_dataset
from fallkd_lib.data.imageio import ImageReadError, open_rgb
from fallkd_lib.data.stats import best_aspect_threshold, class_balance
from fallkd_lib.data.yolo import SPLITS, iter_dataset, read_class_names
from fallkd_lib.errors import MissingFileError, UsageError

FIXED_COLORS = {"fall": "#d62728", "normal": "#2ca02c"}  # fall red, normal green
_OTHER_COLORS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def class_colors(classes: list[str]) -> dict[str, str]:
    """A colour per class name: fall* red, normal* green, the others from a fixed cycle."""
    others = iter(_OTHER_COLORS * (len(classes) // len(_OTHER_COLORS) + 1))
    fixed = {
        name: next((c for k, c in FIXED_COLORS.items() if name.lower().startswith(k)), None)
        for name in classes
    }
    return {name: fixed[name] or next(others) for name in classes}


def _classes(boxes: pd.DataFrame) -> list[str]:
    if isinstance(boxes["class"].dtype, pd.CategoricalDtype):
        return [str(c) for c in boxes["class"].cat.categories]
    return sorted(str(c) for c in boxes["class"].unique())


def plot_class_balance(boxes: pd.DataFrame) -> Figure:
    """Bars of box counts per split and per source, one colour per class (from `stats.box_table`)."""
    balance = class_balance(boxes)
    classes = _classes(boxes) if len(boxes) else []
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, by in zip(axes, ("split", "source"), strict=True):
        part = balance[balance["by"] == by]
        ax.set_title(f"boxes per {by}")
        if part.empty:
            ax.text(0.5, 0.5, "no boxes", ha="center", va="center", transform=ax.transAxes)
            continue
        sns.barplot(
            data=part,
            x="group",
            y="count",
            hue="class",
            hue_order=classes,
            palette=class_colors(classes),
            errorbar=None,
            ax=ax,
        )
        for container in ax.containers:
            ax.bar_label(container, fontsize=8)
        ax.set_xlabel(by)
        ax.set_ylabel("boxes")
        ax.tick_params(axis="x", labelrotation=20 if by == "source" else 0)
    return fig


def plot_box_geometry(boxes: pd.DataFrame) -> Figure:
    """Aspect ratio (w/h) and relative size (box area / image area) per class, on log axes."""
    classes = _classes(boxes)
    colors = class_colors(classes)
    data = boxes.assign(**{"class": boxes["class"].astype(str)})
    kde = bool(len(data)) and all(
        data.loc[data["class"] == c, col].nunique() >= 3
        for c in data["class"].unique()
        for col in ("aspect", "area_frac")
    )
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_aspect, ax_area = fig.subplots(1, 2)
    common = dict(
        hue="class",
        hue_order=[c for c in classes if c in set(data["class"])],
        palette=colors,
        stat="density",
        common_norm=False,
        element="step",
        log_scale=True,
        kde=kde,
    )
    if len(data):
        sns.histplot(data=data, x="aspect", ax=ax_aspect, **common)
        sns.histplot(data=data, x="area_frac", ax=ax_area, **common)
    ax_aspect.axvline(1.0, color="black", linestyle="--", linewidth=1)
    title = "aspect ratio w/h (> 1: wider than tall)"
    positive = next((c for c in classes if c.lower() == "fall"), None)
    if positive and data["class"].eq(positive).any() and data["class"].ne(positive).any():
        threshold, accuracy = best_aspect_threshold(data, positive=positive)
        title += f"\nbest rule 'aspect > {threshold:.2f} -> {positive}': balanced accuracy {accuracy:.0%}"
    ax_aspect.set_title(title, fontsize=10)
    ax_aspect.set_xlabel("aspect (w/h, log scale)")
    ax_area.set_title("relative size (box area / image area)", fontsize=10)
    ax_area.set_xlabel("area fraction (log scale)")
    return fig


def _grid(n: int, cols: int, cell: tuple[float, float]) -> tuple[Figure, list]:
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(cols * cell[0], rows * cell[1]), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


def plot_sample_grid(dataset: str | Path, n: int = 12, seed: int = 0, split: str | None = None) -> Figure:
    """Up to n random images of a dataset (or one split) with their boxes and class names drawn."""
    root = check_dataset(dataset)
    if split is not None and split not in SPLITS:
        raise UsageError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)} or None for all")
    names = read_class_names(root / "data.yaml")
    colors = class_colors(names)
    items = list(iter_dataset(root, splits=(split,) if split else SPLITS))
    if not items:
        raise UsageError(f"{root}: no images in {split or 'any split'}")
    chosen = random.Random(seed).sample(items, min(n, len(items)))
    fig, axes = _grid(len(chosen), 4, (3.2, 3.2))
    for ax, item in zip(axes, chosen, strict=True):
        ax.set_axis_off()
        ax.set_title(f"{item.split}/{item.image.name}"[:32], fontsize=8)
        try:
            image = open_rgb(item.image)
        except ImageReadError:
            ax.text(0.5, 0.5, "unreadable image", ha="center", va="center", transform=ax.transAxes)
            continue
        width, height = image.size
        image.thumbnail((480, 480))  # boxes stay in original pixels thanks to `extent`
        ax.imshow(image, extent=(0, width, height, 0))
        for box in item.boxes:
            x1, y1, x2, y2 = box.to_xyxy(width, height)
            color = colors[names[box.cls]]
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=2))
            ax.text(
                x1,
                y1,
                names[box.cls],
                color="white",
                fontsize=7,
                va="top",
                bbox={"facecolor": color, "edgecolor": "none", "pad": 1},
            )
    return fig


def plot_crop_grid(crops_dir: str | Path, n: int = 16, seed: int = 0) -> Figure:
    """A row of random crops per class (n in all) from an extract_crops folder, all splits together."""
    crops_dir = Path(crops_dir)
    by_class: dict[str, list[Path]] = {}
    for split_folder in SPLIT_FOLDERS.values():
        for path in sorted((crops_dir / split_folder).glob("*/*.jpg")):
            by_class.setdefault(path.parent.name, []).append(path)
    if not by_class:
        raise MissingFileError(
            f"no crops under {crops_dir}: expected {{train,val,test}}/<class>/*.jpg; "
            "make them with fallkd_lib.data.crops.extract_crops (or `fallkd crops DATASET --out DIR`)"
        )
    classes = sorted(by_class)
    per_class = max(1, n // len(classes))
    colors = class_colors(classes)
    rng = random.Random(seed)
    fig = Figure(figsize=(per_class * 1.4, len(classes) * 1.6), layout="constrained")
    axes = fig.subplots(len(classes), per_class, squeeze=False)
    for row, name in zip(axes, classes, strict=True):
        paths = by_class[name]
        chosen = rng.sample(paths, min(per_class, len(paths)))
        for col, ax in enumerate(row):
            if col >= len(chosen):
                ax.set_axis_off()
                continue
            ax.imshow(open_rgb(chosen[col]))
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(colors[name])
                spine.set_linewidth(2)
        row[0].set_ylabel(f"{name}\n({len(paths)})", fontsize=9)
    return fig
