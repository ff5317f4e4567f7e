"""Plots of classifier training: learning curves, confusion matrix, reliability diagram and ROC curve.

Every function returns a matplotlib Figure built without pyplot (see `data_plots`): leave it as a notebook
cell's last expression to show it once, or save it with `fig.savefig(path)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from fallkd_lib.errors import UsageError
from fallkd_lib.train.metrics import threshold_for_recall


def _column(history: Sequence[dict], key: str) -> np.ndarray:
    return np.array([np.nan if row.get(key) is None else row[key] for row in history], dtype=float)


def plot_history(history: Sequence[dict]) -> Figure:
    """Loss and accuracy per epoch, train vs val, with the train-val accuracy gap shaded."""
    if not history:
        raise UsageError("plot_history needs at least one epoch of history (fit(...)['history'])")
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, _column(history, "train_loss"), "o-", label="train loss (criterion)")
    for key in sorted(
        k for k in history[0] if k.startswith("train_") and k.endswith("_loss") and k != "train_loss"
    ):
        ax_loss.plot(epochs, _column(history, key), "--", label=key.removeprefix("train_").replace("_", " "))
    ax_loss.plot(epochs, _column(history, "val_loss"), "s-", label="val loss (cross-entropy)")
    ax_loss.set(title="loss", xlabel="epoch", ylabel="loss")
    train_acc, val_acc = _column(history, "train_acc"), _column(history, "val_acc")
    ax_acc.plot(epochs, train_acc, "o-", label="train accuracy (augmented)")
    ax_acc.plot(epochs, val_acc, "s-", label="val accuracy")
    ax_acc.fill_between(
        epochs,
        val_acc,
        train_acc,
        where=train_acc >= val_acc,
        color="tab:red",
        alpha=0.15,
        interpolate=True,
        label="gap: train > val (over-fitting)",
    )
    best = int(np.nanargmax(val_acc))
    ax_acc.axvline(epochs[best], color="gray", linestyle=":", label=f"best val: epoch {epochs[best]}")
    ax_acc.set(title="accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def plot_confusion(cm: Sequence[Sequence[int]], class_names: Sequence[str]) -> Figure:
    """Confusion matrix heatmap (rows = true class) with counts and row percentages (recall on the diagonal)."""
    cm = np.asarray(cm, dtype=int)
    if cm.shape != (len(class_names), len(class_names)):
        raise UsageError(f"confusion matrix shape {cm.shape} does not match {len(class_names)} class names")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    annot = np.array(
        [[f"{c}\n{s:.0%}" for c, s in zip(r, p, strict=True)] for r, p in zip(cm, share, strict=True)]
    )
    fig = Figure(figsize=(1.6 * len(class_names) + 2, 1.4 * len(class_names) + 1.5), layout="constrained")
    ax = fig.subplots()
    sns.heatmap(
        share,
        annot=annot,
        fmt="",
        cmap="Blues",
        vmin=0,
        vmax=1,
        cbar=False,
        ax=ax,
        xticklabels=class_names,
        yticklabels=class_names,
        square=True,
    )
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix (count, % of the true class)")
    return fig


def plot_reliability(bins_table: Sequence[dict], ece: float) -> Figure:
    """Reliability diagram (accuracy vs confidence per bin, the diagonal is perfect) over a count histogram."""
    lo = np.array([b["lo"] for b in bins_table])
    width = np.array([b["hi"] - b["lo"] for b in bins_table])
    count = np.array([b["count"] for b in bins_table])
    acc = np.array([b["accuracy"] for b in bins_table])
    conf = np.array([b["confidence"] for b in bins_table])
    used = count > 0
    fig = Figure(figsize=(5, 6), layout="constrained")
    ax_rel, ax_count = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    ax_rel.bar(lo[used], acc[used], width[used], align="edge", edgecolor="black", label="accuracy")
    ax_rel.bar(
        lo[used],
        conf[used] - acc[used],
        width[used],
        bottom=acc[used],
        align="edge",
        color="tab:red",
        alpha=0.3,
        hatch="//",
        label="gap to confidence",
    )
    ax_rel.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax_rel.set(title=f"reliability diagram (ECE = {ece:.3f})", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    ax_rel.legend(fontsize=8, loc="upper left")
    ax_count.bar(lo, count, width, align="edge", color="gray", edgecolor="black")
    ax_count.set(xlabel="confidence (max probability)", ylabel="samples")
    return fig


def plot_roc(
    labels: Sequence[int | bool], positive_probs: Sequence[float], target_recall: float = 0.95
) -> Figure:
    """ROC curve of the positive class (labels 1/True = fall) with the operating point at the target recall."""
    is_positive = np.asarray(labels).astype(bool)
    if is_positive.all() or not is_positive.any():
        raise UsageError("plot_roc needs both positive and negative samples")
    scores = np.asarray(positive_probs, dtype=float)
    fpr, tpr, _ = roc_curve(is_positive, scores)
    threshold, recall, _precision = threshold_for_recall(is_positive, scores, target_recall)
    false_alarms = float(((scores >= threshold) & ~is_positive).sum() / (~is_positive).sum())
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    ax.plot(fpr, tpr, label=f"ROC (AUC = {roc_auc_score(is_positive, scores):.3f})")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="chance")
    ax.plot(
        false_alarms,
        recall,
        "o",
        color="tab:red",
        label=f"threshold {threshold:.2f}: recall {recall:.0%}, false alarms {false_alarms:.0%}",
    )
    ax.set(
        xlabel="false positive rate (false alarms)", ylabel="true positive rate (recall)", title="ROC curve"
    )
    ax.legend(fontsize=8, loc="lower right")
    return fig
