"""Metrics computed by hand on tiny examples, and the training plots (Figures with the expected axes)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from fallkd_lib.train.metrics import (
    classification_report_dict,
    expected_calibration_error,
    reliability_table,
    report_frame,
    threshold_for_recall,
    train_val_gap,
)
from fallkd_lib.viz.train_plots import plot_confusion, plot_history, plot_reliability, plot_roc

# Five predictions, two classes. (confidence = max prob, correct?):
#   [0.90, 0.10] label 0 -> 0.90 right      [0.15, 0.85] label 0 -> 0.85 wrong
#   [0.30, 0.70] label 1 -> 0.70 right      [0.35, 0.65] label 0 -> 0.65 wrong
#   [0.55, 0.45] label 0 -> 0.55 right
# 5 bins of width 0.2, (lo, hi]:
#   (0.4, 0.6]: {0.55}       acc 1.0, conf 0.55  -> |1.0 - 0.55|  * 1/5 = 0.09
#   (0.6, 0.8]: {0.65, 0.70} acc 0.5, conf 0.675 -> |0.5 - 0.675| * 2/5 = 0.07
#   (0.8, 1.0]: {0.85, 0.90} acc 0.5, conf 0.875 -> |0.5 - 0.875| * 2/5 = 0.15
#   ECE = 0.09 + 0.07 + 0.15 = 0.31
ECE_PROBS = [[0.90, 0.10], [0.15, 0.85], [0.30, 0.70], [0.35, 0.65], [0.55, 0.45]]
ECE_LABELS = [0, 0, 1, 0, 0]


def test_ece_by_hand():
    assert expected_calibration_error(ECE_PROBS, ECE_LABELS, n_bins=5) == pytest.approx(0.31)
    table = reliability_table(ECE_PROBS, ECE_LABELS, n_bins=5)
    assert [row["count"] for row in table] == [0, 0, 1, 2, 2]
    assert [row["accuracy"] for row in table[2:]] == [1.0, 0.5, 0.5]
    assert [row["confidence"] for row in table[2:]] == pytest.approx([0.55, 0.675, 0.875])
    assert (table[3]["lo"], table[3]["hi"]) == pytest.approx((0.6, 0.8))
    # a perfectly confident, always right model is perfectly calibrated
    assert expected_calibration_error([[1.0, 0.0], [0.0, 1.0]], [0, 1]) == 0.0


def test_threshold_for_recall_by_hand():
    labels = [1, 1, 0, 1, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.6, 0.3, 0.2]
    # recall 1.0 needs t <= 0.6: predicted positive {0.9, 0.8, 0.7, 0.6} -> 3 TP of 4 -> precision 0.75
    assert threshold_for_recall(labels, scores, 0.95) == pytest.approx((0.6, 1.0, 0.75))
    # recall >= 0.6: t = 0.8 keeps 2 of 3 falls (t = 0.9 only 1), both predictions right
    assert threshold_for_recall(labels, scores, 0.6) == pytest.approx((0.8, 2 / 3, 1.0))
    with pytest.raises(ValueError, match="at least one positive"):
        threshold_for_recall([0, 0], [0.1, 0.2])


def test_report_confusion_precision_recall_by_hand():
    labels = [0, 0, 0, 1, 1, 1, 1]
    # predictions (argmax): 0, 0, 1 | 1, 1, 0, 1
    probs = [[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]
    report = classification_report_dict(labels, probs, ["fall", "normal"])
    assert report["confusion_matrix"] == [[2, 1], [1, 3]]  # rows = true class
    assert report["accuracy"] == pytest.approx(5 / 7)
    assert report["per_class"]["fall"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    assert report["per_class"]["normal"] == pytest.approx(
        {"precision": 3 / 4, "recall": 3 / 4, "f1": 3 / 4, "support": 4}
    )
    assert report["macro_f1"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    # ROC-AUC of fall: fall scores {.9, .8, .4} vs normal {.3, .2, .6, .1}: 11 of 12 pairs ordered right
    assert report["roc_auc"] == pytest.approx(11 / 12)
    assert len(report["reliability"]) == 15 and sum(r["count"] for r in report["reliability"]) == 7


def test_positive_class_comes_first_wherever_it_is():
    report = classification_report_dict(
        [0, 1, 1], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], ["background", "fall"]
    )
    assert list(report["per_class"]) == ["fall", "background"]
    assert list(report_frame(report).index) == ["fall", "background"]
    assert report["per_class"]["fall"]["recall"] == 0.5
    with pytest.raises(
        ValueError, match=r"positive class 'person' is not one of the classes \['background', 'fall'\]"
    ):
        classification_report_dict([0], [[1.0, 0.0]], ["background", "fall"], positive="person")


def test_train_val_gap():
    history = [{"train_acc": 0.9, "val_acc": 0.8}, {"train_acc": 0.95, "val_acc": 0.7}]
    assert train_val_gap(history) == pytest.approx([0.1, 0.25])


HISTORY = [
    {"epoch": 1, "train_loss": 0.9, "train_kd_loss": 0.5, "train_acc": 0.6, "val_loss": 0.8, "val_acc": 0.55},
    {"epoch": 2, "train_loss": 0.5, "train_kd_loss": 0.3, "train_acc": 0.8, "val_loss": 0.6, "val_acc": 0.7},
    {"epoch": 3, "train_loss": 0.3, "train_kd_loss": 0.2, "train_acc": 0.95, "val_loss": 0.7, "val_acc": 0.7},
]


def test_plots_return_figures_with_the_expected_axes():
    fig = plot_history(HISTORY)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    loss_labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "kd loss" in loss_labels
    assert "best val: epoch 2" in [line.get_label() for line in fig.axes[1].get_lines()]  # tie: the earlier

    fig = plot_confusion([[2, 1], [1, 3]], ["fall", "normal"])
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert [t.get_text() for t in fig.axes[0].texts] == ["2\n67%", "1\n33%", "1\n25%", "3\n75%"]

    table = reliability_table(ECE_PROBS, ECE_LABELS, n_bins=5)
    fig = plot_reliability(table, 0.31)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "ECE = 0.310" in fig.axes[0].get_title()

    fig = plot_roc([1, 1, 0, 1, 0, 0], [0.9, 0.8, 0.7, 0.6, 0.3, 0.2])
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert "threshold 0.60: recall 100%, false alarms 33%" in fig.axes[0].get_legend_handles_labels()[1]
    with pytest.raises(ValueError, match="both positive and negative"):
        plot_roc(np.ones(3), [0.1, 0.2, 0.3])
