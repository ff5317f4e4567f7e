"""Every exercise check: a right answer passes, a wrong one gets its hint (not the solution), None is "not answered"."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fallkd_lib.course import exercises as ex
from fallkd_lib.distill import kd_loss
from fallkd_lib.train.metrics import threshold_for_recall


def said(capsys) -> str:
    return capsys.readouterr().out.strip()


def assert_open(check, capsys, *args) -> None:
    """None is not an error: the check says so and returns False (a notebook with open exercises still runs)."""
    assert check(None, *args) is False
    assert said(capsys).startswith(ex.NOT_ANSWERED)


def assert_hint(result: bool, capsys, hint: str, solution: object = None) -> None:
    out = said(capsys)
    assert result is False and out.startswith(ex.WRONG) and hint in out, out
    if solution is not None:
        assert str(solution) not in out, f"the hint gives the solution away: {out}"


def test_scaled_gflops(capsys) -> None:
    args = (3.63, 224, 640)
    assert_open(ex.check_scaled_gflops, capsys, *args)
    assert ex.check_scaled_gflops(3.63 * (640 / 224) ** 2, *args) is True
    assert said(capsys).startswith(ex.RIGHT)
    assert_hint(ex.check_scaled_gflops(3.63 * 640 / 224, *args), capsys, "you scaled by the side", "29.6")
    assert_hint(ex.check_scaled_gflops(3.63, *args), capsys, "that is the cost at 224 px")
    assert_hint(ex.check_scaled_gflops(20, *args), capsys, "too low")
    assert_hint(ex.check_scaled_gflops("a lot", *args), capsys, "one number")


def test_tx2_verdict(capsys) -> None:
    assert_open(ex.check_tx2_verdict, capsys, 9.12, 24.0)
    assert ex.check_tx2_verdict("tight", 9.12, 24.0) is True
    assert ex.check_tx2_verdict("over", 85.8, 35.1) is True
    said(capsys)
    assert_hint(ex.check_tx2_verdict("fits", 9.12, 24.0), capsys, "against the 20 (fits) and 30 (tight)")
    assert_hint(ex.check_tx2_verdict("tight", 85.8, 1.0), capsys, "look at the parameters first")
    assert_hint(ex.check_tx2_verdict("ok", 1.0, 1.0), capsys, "answer one of")


# padded: (10, 283, 130, 487), clipped to the image: (10, 283, 130, 480)
BOX, PAD, W, H = (20, 300, 120, 470), 0.1, 640, 480


def test_padded_box(capsys) -> None:
    args = (BOX, PAD, W, H)
    assert_open(ex.check_padded_box, capsys, *args)
    assert ex.check_padded_box([10, 283, 130, 480], *args) is True
    assert said(capsys).startswith(ex.RIGHT)
    assert_hint(
        ex.check_padded_box((10, 283, 120, 480), *args), capsys, "10 px too narrow: did you pad both sides?"
    )
    assert_hint(ex.check_padded_box((10, 283, 130, 487), *args), capsys, "leaves the 640x480 image")
    assert_hint(ex.check_padded_box(BOX, *args), capsys, "the detector's box itself")
    assert_hint(ex.check_padded_box((11, 283, 129, 480), *args), capsys, "round outward")
    assert_hint(ex.check_padded_box((15, 283, 135, 480), *args), capsys, "the box has moved")
    assert_hint(ex.check_padded_box((10, 283), *args), capsys, "four numbers")


def test_letterbox_size(capsys) -> None:
    args = (120, 300, 224)  # width, height, size -> 90 x 224
    assert_open(ex.check_letterbox_size, capsys, *args)
    assert ex.check_letterbox_size((90, 224), *args) is True
    said(capsys)
    assert_hint(ex.check_letterbox_size((224, 224), *args), capsys, "stretches the crop", "90")
    assert_hint(ex.check_letterbox_size((224, 90), *args), capsys, "you swapped them")
    assert_hint(ex.check_letterbox_size((224, 560), *args), capsys, "you fitted the shorter side")
    assert_hint(ex.check_letterbox_size((91, 224), *args), capsys, "a pixel off")


def test_iou(capsys) -> None:
    a, b = (50, 50, 150, 250), (100, 100, 200, 300)  # overlap 50 x 150 = 7500, union 32500
    assert_open(ex.check_iou, capsys, a, b)
    assert ex.check_iou(7500 / 32500, a, b) is True
    assert "does not count for mAP50" in said(capsys)
    assert_hint(ex.check_iou(7500 / 40000, a, b), capsys, "divided by the sum of the areas", "0.23")
    assert_hint(ex.check_iou(7500 / 20000, a, b), capsys, "over the smaller box")
    assert_hint(ex.check_iou(7500, a, b), capsys, "the overlap's area in pixels")
    assert_hint(ex.check_iou(0.5, a, b), capsys, "too high")


CM, CLASSES = [[30, 20], [2, 48]], ["fall", "normal"]  # fall: precision 30/32, recall 30/50


def test_fall_scores_agree_with_sklearn() -> None:
    from sklearn.metrics import precision_recall_fscore_support

    labels = [0] * 50 + [1] * 50
    preds = [0] * 30 + [1] * 20 + [0] * 2 + [1] * 48
    p, r, f, _ = precision_recall_fscore_support(labels, preds, labels=[0, 1])
    assert ex.fall_scores(CM, CLASSES) == pytest.approx((p[0], r[0], f[0]))
    assert ex.fall_scores(CM, CLASSES, "normal") == pytest.approx((p[1], r[1], f[1]))


def test_check_fall_scores(capsys) -> None:
    p, r, f = 30 / 32, 30 / 50, 2 * (30 / 32) * (30 / 50) / (30 / 32 + 30 / 50)
    assert_open(ex.check_fall_scores, capsys, CM, CLASSES)
    assert ex.check_fall_scores((p, r, f), CM, CLASSES) is True
    said(capsys)
    assert_hint(ex.check_fall_scores((r, p, f), CM, CLASSES), capsys, "you swapped precision and recall")
    assert_hint(
        ex.check_fall_scores(ex.fall_scores(CM, CLASSES, "normal"), CM, CLASSES), capsys, "scores of 'normal'"
    )
    assert_hint(ex.check_fall_scores((p, r, (p + r) / 2), CM, CLASSES), capsys, "harmonic mean", f"{f:.3f}")
    assert_hint(ex.check_fall_scores((p, 0.5, f), CM, CLASSES), capsys, "recall is off")


def test_threshold_for_recall(capsys) -> None:
    rng = np.random.default_rng(0)
    is_fall = rng.random(200) < 0.4
    probs = np.clip(is_fall * 0.5 + rng.random(200) * 0.6, 0, 1)
    best, _, _ = threshold_for_recall(is_fall, probs, 0.9)
    assert_open(ex.check_threshold_for_recall, capsys, is_fall, probs, 0.9)
    assert ex.check_threshold_for_recall(best, is_fall, probs, 0.9) is True
    said(capsys)
    assert ex.check_threshold_for_recall(best - 1e-6, is_fall, probs, 0.9) is True  # the same operating point
    said(capsys)
    assert_hint(ex.check_threshold_for_recall(best + 0.05, is_fall, probs, 0.9), capsys, "lower it")
    assert_hint(
        ex.check_threshold_for_recall(best - 0.1, is_fall, probs, 0.9), capsys, "raise it", f"{best:.3f}"
    )
    assert_hint(ex.check_threshold_for_recall(1.5, is_fall, probs, 0.9), capsys, "between 0 and 1")


S, T, Y = [[1.0, 0.0], [0.5, 1.5]], [[2.0, 0.0], [0.0, 2.0]], [0, 1]


def test_kd_loss(capsys) -> None:
    parts = {
        k: float(v) for k, v in kd_loss(torch.tensor(S), torch.tensor(T), torch.tensor(Y), 0.85, 2.0).items()
    }
    args = (S, T, Y, 0.85, 2.0)
    assert_open(ex.check_kd_loss, capsys, *args)
    assert ex.check_kd_loss(parts["loss"], *args) is True
    assert said(capsys).startswith(ex.RIGHT)
    ce, kd = parts["task_loss"], parts["kd_loss"]
    assert_hint(
        ex.check_kd_loss(0.85 * ce + 0.15 * kd / 4, *args), capsys, "factor T^2", f"{parts['loss']:.4f}"
    )
    assert_hint(ex.check_kd_loss(0.15 * ce + 0.85 * kd, *args), capsys, "alpha weights the hard-label")
    assert_hint(ex.check_kd_loss(ce, *args), capsys, "cross-entropy alone")
    assert_hint(ex.check_kd_loss(parts["loss"] + 1, *args), capsys, "too high")


def test_alert_time(capsys) -> None:
    # smoothing 0.5 s at 2 fps: p = 0.05 -> 0.62 at 4.0 s -> 0.83 at 4.5 s >= enter 0.7: down at 4.5 s;
    # the defaults wait alert_after = 2 s after a seen fall (6.5 s), found_down_after = 30 s otherwise (34.5 s)
    assert_open(ex.check_alert_time, capsys, 4.0, True)
    assert ex.check_alert_time(6.5, 4.0, True) is True
    assert "fast path" in said(capsys)
    assert ex.check_alert_time(34.5, 4.0, False) is True
    assert "slow path" in said(capsys)
    assert_hint(ex.check_alert_time(6.0, 4.0, True), capsys, "the *smoothed* probability reaches enter")
    assert_hint(ex.check_alert_time(34.5, 4.0, True), capsys, "dropped like a fall")
    assert_hint(ex.check_alert_time(6.5, 4.0, False), capsys, "nobody saw a fall")
    assert_hint(ex.check_alert_time(3.0, 4.0, True), capsys, "too early")


def test_long_lie_frames_show_a_fall_only_when_asked() -> None:
    seen, slow = ex.long_lie_frames(4.0, True), ex.long_lie_frames(4.0, False)
    assert len(seen) == 121 and seen[0][0] == 0.0 and seen[-1][0] == 60.0
    top = {t: obs[0][2][1] for t, obs in seen}
    assert top[4.0] - top[3.5] >= 0.4 * 100  # one frame: a fall's drop
    slow_top = {t: obs[0][2][1] for t, obs in slow}
    assert slow_top[5.5] - slow_top[4.0] < 0.4 * 100  # 1.5 s (fall_window): not a fall


def test_crops_per_frame(capsys) -> None:
    args = (1.1, 0.05)  # (20 - 1.1) / 0.05 = 378
    assert_open(ex.check_crops_per_frame, capsys, *args)
    assert ex.check_crops_per_frame(378, *args) is True
    said(capsys)
    assert_hint(ex.check_crops_per_frame(379, *args), capsys, "over the 20 GFLOPs budget: round down")
    assert_hint(ex.check_crops_per_frame(400, *args), capsys, "the detector runs once per frame too")
    assert_hint(ex.check_crops_per_frame(3, *args), capsys, "room for more", "378")
    assert_hint(ex.check_crops_per_frame(2.5, *args), capsys, "whole number")
    # a detector over the budget leaves room for nobody
    assert ex.check_crops_per_frame(0, 25.0, 0.05) is True
