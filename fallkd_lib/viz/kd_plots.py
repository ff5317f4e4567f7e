"""How temperature softens a teacher's output: bars of softmax(logits / T) for a few T, and a slider widget.

At T = 1 a confident teacher puts nearly all probability on one class; raising T spreads it, exposing how the
teacher ranks the *other* classes ("dark knowledge"), which is what the KD term of `fallkd_lib.distill.kd_loss`
transfers. Figures are built without pyplot (see `data_plots`); show one by leaving it as a cell's last value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from fallkd_lib.errors import UsageError
from fallkd_lib.viz.data_plots import class_colors


def _array(logits: Any) -> np.ndarray:
    return np.asarray(logits.detach().cpu() if hasattr(logits, "detach") else logits, dtype=np.float64)


def soft_targets(logits: Any, temperature: float) -> np.ndarray:
    """softmax(logits / T) along the last axis, as float64 numpy (rows = samples)."""
    if not temperature > 0:
        raise UsageError(f"temperature={temperature!r} must be > 0.")
    z = _array(logits) / temperature
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _rows(logits: Any) -> np.ndarray:
    z = _array(logits)
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] < 2:
        raise UsageError(
            f"logits must be [classes] or [samples, classes] with >= 2 classes, got shape {z.shape}."
        )
    return z


def plot_soft_targets(
    logits: Any, temperatures: Sequence[float] = (1, 2, 4, 8), class_names: Sequence[str] | None = None
) -> Figure:
    """Bars of softmax(logits/T), one panel per temperature (columns) and per sample (rows, at most 6)."""
    z = _rows(logits)[:6]
    names = list(class_names) if class_names is not None else [f"class {i}" for i in range(z.shape[1])]
    if len(names) != z.shape[1]:
        raise UsageError(f"{len(names)} class names {names} for {z.shape[1]} logits per sample.")
    colors = class_colors(names)
    fig = Figure(figsize=(2.6 * len(temperatures), 2.2 * len(z) + 0.4), layout="constrained")
    axes = np.asarray(fig.subplots(len(z), len(temperatures), squeeze=False, sharey=True))
    for r, row in enumerate(z):
        for c, t in enumerate(temperatures):
            _bars(axes[r, c], soft_targets(row, t), names, colors, t)
        axes[r, 0].set_ylabel(f"sample {r}\nprobability" if len(z) > 1 else "probability")
    fig.suptitle("teacher soft targets softmax(logits / T): higher T spreads probability over the classes")
    return fig


def _bars(ax: Any, probs: np.ndarray, names: list[str], colors: dict[str, str], t: float) -> None:
    entropy = -sum(p * math.log(p) for p in probs if p > 0)
    bars = ax.bar(names, probs, color=[colors[n] for n in names])
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_title(f"T = {t:g}  (entropy {entropy:.2f})", fontsize=9)
    ax.tick_params(axis="x", labelrotation=20 if len(names) > 3 else 0)


def temperature_widget(
    logits: Any, class_names: Sequence[str] | None = None, t_max: float = 10.0
) -> Any | None:
    """An ipywidgets slider over T redrawing the soft-target bars; None (with a note) without ipywidgets; unattended
    (settings.live_widgets() False) the bars at T = 1, 2, 4, 8 as a still figure."""
    from fallkd_lib.settings import live_widgets

    if not live_widgets():
        print("unattended run (FALLKD_HEADLESS=1): the slider's four stops as a still figure")
        return plot_soft_targets(_rows(logits)[:1], temperatures=(1, 2, 4, 8), class_names=class_names)
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:
        print("temperature_widget needs ipywidgets (pip install ipywidgets); use plot_soft_targets instead.")
        return None
    z = _rows(logits)[:1]

    def draw(temperature: float) -> None:
        display(plot_soft_targets(z, temperatures=(temperature,), class_names=class_names))

    slider = widgets.FloatSlider(
        value=2.0, min=0.5, max=t_max, step=0.5, description="T", continuous_update=False
    )
    return widgets.interactive(draw, temperature=slider)
