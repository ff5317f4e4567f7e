"""Exercises that check themselves: `check_<name>(answer, ...)` for the course notebooks.

Each check computes the expected value with the library function the lesson taught (the reference solution is never
written in a notebook), prints one line, and returns True when the answer is right. A wrong answer gets a hint that
names what is wrong ("your box is 12 px too narrow: did you pad both sides?") without printing the solution; an
answer still None (the notebooks' `answer = None  # TODO`) prints "not answered yet". Nothing raises, so a notebook
with open exercises still runs from top to bottom (CI runs them so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fallkd_lib.config import FallStateConfig

NOT_ANSWERED = "not answered yet: "
RIGHT = "✅ right: "
WRONG = "❌ not yet: "


def _say(prefix: str, message: str, result: bool) -> bool:
    print(prefix + message)
    return result


def _number(answer: object) -> float | None:
    """answer as a finite float, or None when it is not one number."""
    if isinstance(answer, bool):
        return None
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _numbers(answer: object, n: int) -> tuple[float, ...] | None:
    """answer as n finite floats (a tuple, list or array), or None."""
    try:
        values = tuple(_number(v) for v in answer)  # type: ignore[union-attr]
    except TypeError:
        return None
    return values if len(values) == n and all(v is not None for v in values) else None  # type: ignore[return-value]


def _close(a: float, b: float, rel: float = 0.01, abs_tol: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)


# 00 - the TX2 budget


def check_scaled_gflops(answer: object, gflops: float, from_size: int, to_size: int) -> bool:
    """GFLOPs of a convolutional network at to_size x to_size, given its GFLOPs at from_size x from_size."""
    if answer is None:
        return _say(NOT_ANSWERED, f"the GFLOPs at {to_size}x{to_size} px, one number", False)
    value = _number(answer)
    if value is None:
        return _say(WRONG, "give one number of GFLOPs", False)
    expected = gflops * (to_size / from_size) ** 2
    if _close(value, expected):
        return _say(
            RIGHT,
            f"{expected:.1f} GFLOPs: {(to_size / from_size) ** 2:.2f}x the pixels, as much more work",
            True,
        )
    if _close(value, gflops * to_size / from_size):
        hint = (
            f"you scaled by the side ({to_size}/{from_size}); a convolution works on every pixel, and the number "
            "of pixels grows with width times height"
        )
    elif _close(value, gflops):
        hint = f"that is the cost at {from_size} px; a {to_size} px image has more pixels to convolve"
    elif _close(value, expected * 1000) or _close(value, expected / 1000):
        hint = "check the unit: one GFLOP is a billion (1e9) FLOPs"
    else:
        way = "high" if value > expected else "low"
        hint = f"{value:g} is too {way}: how many times more pixels has {to_size}x{to_size} than {from_size}x{from_size}?"
    return _say(WRONG, hint, False)


def check_tx2_verdict(answer: object, params_m: float, gflops: float) -> bool:
    """The TX2 verdict ('fits', 'tight' or 'over') of a model with params_m million parameters and gflops GFLOPs."""
    from fallkd_lib.models.budget import (
        TX2_FITS_GFLOPS,
        TX2_MAX_PARAMS_M,
        TX2_TIGHT_GFLOPS,
        VERDICTS,
        budget_verdict,
    )

    if answer is None:
        return _say(
            NOT_ANSWERED, f"one of {VERDICTS} for {params_m:g} M parameters and {gflops:g} GFLOPs", False
        )
    if answer not in VERDICTS:
        return _say(WRONG, f"answer one of {', '.join(repr(v) for v in VERDICTS)} (got {answer!r})", False)
    expected = budget_verdict(params_m, gflops)
    if answer == expected:
        return _say(RIGHT, f"{expected!r} ({params_m:g} M parameters, {gflops:g} GFLOPs)", True)
    if params_m > TX2_MAX_PARAMS_M:
        hint = f"look at the parameters first: the TX2 holds at most {TX2_MAX_PARAMS_M:g} M per model"
    elif gflops > TX2_TIGHT_GFLOPS:
        hint = (
            f"the parameters fit; now compare {gflops:g} GFLOPs with the {TX2_TIGHT_GFLOPS:g} GFLOPs ceiling"
        )
    else:
        hint = (
            f"the parameters fit ({params_m:g} <= {TX2_MAX_PARAMS_M:g} M); now place {gflops:g} GFLOPs against "
            f"the {TX2_FITS_GFLOPS:g} (fits) and {TX2_TIGHT_GFLOPS:g} (tight) GFLOPs lines"
        )
    return _say(WRONG, hint, False)


# 01 - crops


def check_padded_box(answer: object, box: Sequence[float], pad: float, width: int, height: int) -> bool:
    """The pixels (left, top, right, bottom) that the crop of `box` cuts with context padding `pad`."""
    from fallkd_lib.data.geometry import padded_box

    if answer is None:
        return _say(NOT_ANSWERED, "the padded box (left, top, right, bottom) in whole pixels", False)
    got = _numbers(answer, 4)
    if got is None:
        return _say(WRONG, "give four numbers: (left, top, right, bottom)", False)
    expected = padded_box(box, pad, width, height)
    if all(_close(g, e, rel=0, abs_tol=1e-6) for g, e in zip(got, expected, strict=True)):
        return _say(
            RIGHT, f"{expected}: {pad:g} of the box added on every side, rounded outward, clipped", True
        )
    left, top, right, bottom = got
    box_w, box_h = box[2] - box[0], box[3] - box[1]
    if all(_close(g, b, rel=0, abs_tol=1) for g, b in zip(got, box, strict=True)):
        return _say(
            WRONG,
            f"that is the detector's box itself: add {pad:g} of its width on the left and on "
            f"the right, {pad:g} of its height above and below",
            False,
        )
    if min(left, top) < 0 or right > width or bottom > height:
        return _say(
            WRONG, f"your box leaves the {width}x{height} image: clip it to 0..{width} and 0..{height}", False
        )
    if all(abs(g - e) <= 1 for g, e in zip(got, expected, strict=True)):
        return _say(
            WRONG,
            "a pixel off: round outward (floor the left and top edges, ceil the right and "
            "bottom ones), so the crop never cuts into the person",
            False,
        )
    hints = []
    for name, size, span, (lo, hi), (small, big) in (
        ("width", box_w, right - left, (expected[0], expected[2]), ("narrow", "wide")),
        ("height", box_h, bottom - top, (expected[1], expected[3]), ("short", "tall")),
    ):
        off = span - (hi - lo)
        if abs(off) > 1:
            hint = f"your box is {abs(off):g} px too {small if off < 0 else big}"
            if abs(span - size * (1 + pad)) <= 1:
                hint += ": did you pad both sides?"
            elif abs(span - (size + pad)) <= 1 or abs(span - (size + 2 * pad)) <= 1:
                hint += f": pad is a fraction of the box's {name}, not pixels"
            hints.append(hint)
    if not hints:
        hints.append(
            "the size is right but the box has moved: the padding grows the box around its own centre"
        )
    return _say(WRONG, "; ".join(hints), False)


def check_letterbox_size(answer: object, width: int, height: int, size: int) -> bool:
    """(new width, new height) of a width x height crop letterboxed into size x size."""
    from fallkd_lib.data.geometry import letterbox_params

    if answer is None:
        return _say(
            NOT_ANSWERED, f"(new width, new height) of the {width}x{height} crop inside {size}x{size}", False
        )
    got = _numbers(answer, 2)
    if got is None:
        return _say(WRONG, "give two numbers: (new width, new height)", False)
    _, new_w, new_h, left, top = letterbox_params(height, width, size)
    if got == (new_w, new_h):
        return _say(
            RIGHT,
            f"{new_w}x{new_h}, centred, with grey bars of {left} px (sides) and {top} px (top and bottom)",
            True,
        )
    if got == (size, size):
        hint = f"that stretches the crop into a square; keep its shape: only the longer side becomes {size}"
    elif got == (new_h, new_w):
        hint = "you swapped them: the answer is (new width, new height)"
    elif min(got) == size and max(got) > size:
        hint = (
            f"you fitted the shorter side: the longer side must fit inside {size}, or the person is cut off"
        )
    elif all(abs(g - e) <= 1 for g, e in zip(got, (new_w, new_h), strict=True)):
        hint = "a pixel off: round each side to the nearest pixel"
    else:
        hint = f"the longer side becomes {size} and the other keeps the crop's ratio {width}:{height}"
    return _say(WRONG, hint, False)


# 02 - boxes


def check_iou(answer: object, box_a: Sequence[float], box_b: Sequence[float]) -> bool:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    from fallkd_lib.data.geometry import box_iou

    if answer is None:
        return _say(NOT_ANSWERED, "the IoU of the two boxes, a number between 0 and 1", False)
    value = _number(answer)
    if value is None:
        return _say(WRONG, "give one number", False)
    expected = float(box_iou([box_a], [box_b])[0, 0])
    if _close(value, expected, rel=0, abs_tol=0.005):
        verdict = "counts" if expected >= 0.5 else "does not count"
        return _say(
            RIGHT, f"IoU {expected:.3f}: as a detection of the other box it {verdict} for mAP50", True
        )
    area_a = (box_a[2] - box_a[0]) * (box_a[3] - box_a[1])
    area_b = (box_b[2] - box_b[0]) * (box_b[3] - box_b[1])
    inter = expected * (area_a + area_b) / (1 + expected)  # from IoU = I / (A + B - I)
    if not 0 <= value <= 1:
        hint = (
            "that is the overlap's area in pixels; IoU divides it by the area of the union"
            if _close(value, inter, rel=0, abs_tol=1)
            else "an IoU lies between 0 (no overlap) and 1 (the same box)"
        )
    elif inter and _close(value, inter / (area_a + area_b), rel=0, abs_tol=0.005):
        hint = "you divided by the sum of the areas: the union counts the overlap once, so subtract it"
    elif inter and _close(value, inter / min(area_a, area_b), rel=0, abs_tol=0.005):
        hint = "that is the overlap over the smaller box; IoU divides by the union of both"
    else:
        hint = (
            f"{value:g} is too {'high' if value > expected else 'low'}: intersection = the overlap of the x ranges "
            "times the overlap of the y ranges; union = area A + area B - intersection"
        )
    return _say(WRONG, hint, False)


# 03 - metrics


def fall_scores(
    confusion_matrix: Sequence[Sequence[int]], class_names: Sequence[str], positive: str = "fall"
) -> tuple[float, float, float]:
    """(precision, recall, F1) of the positive class from a confusion matrix (rows: true, columns: predicted)."""
    i = list(class_names).index(positive)
    row = sum(confusion_matrix[i])
    column = sum(r[i] for r in confusion_matrix)
    hit = confusion_matrix[i][i]
    precision = hit / column if column else 0.0
    recall = hit / row if row else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def check_fall_scores(
    answer: object,
    confusion_matrix: Sequence[Sequence[int]],
    class_names: Sequence[str],
    positive: str = "fall",
) -> bool:
    """(precision, recall, F1) of the positive class, read off a confusion matrix."""
    if answer is None:
        return _say(
            NOT_ANSWERED, f"({positive} precision, {positive} recall, {positive} F1) from the matrix", False
        )
    got = _numbers(answer, 3)
    if got is None:
        return _say(WRONG, "give three numbers: (precision, recall, F1)", False)
    expected = fall_scores(confusion_matrix, class_names, positive)

    def same(a: Sequence[float], b: Sequence[float]) -> list[bool]:
        return [_close(x, y, rel=0, abs_tol=0.005) for x, y in zip(a, b, strict=True)]

    if all(same(got, expected)):
        p, r, f = expected
        return _say(RIGHT, f"precision {p:.3f}, recall {r:.3f}, F1 {f:.3f} for {positive!r}", True)
    others = [c for c in class_names if c != positive]
    if all(same(got[:2], expected[1::-1])):
        hint = (
            f"you swapped precision and recall: recall divides by the true {positive} crops (their row), "
            f"precision by the crops called {positive} (their column)"
        )
    elif others and all(same(got, fall_scores(confusion_matrix, class_names, others[0]))):
        hint = f"those are the scores of {others[0]!r}; the class that matters here is {positive!r}"
    elif all(same(got[:2], expected[:2])) and _close(got[2], (got[0] + got[1]) / 2, rel=0, abs_tol=0.005):
        hint = "precision and recall are right; F1 is their harmonic mean, 2PR / (P + R), not the average"
    else:
        wrong = [
            name
            for name, ok in zip(("precision", "recall", "F1"), same(got, expected), strict=True)
            if not ok
        ]
        hint = f"{' and '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} off; rows are true classes, columns predictions"
    return _say(WRONG, hint, False)


def check_threshold_for_recall(
    answer: object, is_fall: Sequence[bool], fall_probs: Sequence[float], target: float
) -> bool:
    """The highest threshold t (call fall when p(fall) >= t) that still catches `target` of the falls."""
    import numpy as np

    from fallkd_lib.train.metrics import threshold_for_recall

    if answer is None:
        return _say(
            NOT_ANSWERED, f"the highest p(fall) threshold that still catches {target:.0%} of the falls", False
        )
    value = _number(answer)
    if value is None or not 0 <= value <= 1:
        return _say(WRONG, "a threshold on p(fall) is one number between 0 and 1", False)
    is_fall, probs = np.asarray(is_fall, dtype=bool), np.asarray(fall_probs, dtype=float)
    expected, _, _ = threshold_for_recall(is_fall, probs, target)
    called = probs >= value
    recall = float(called[is_fall].mean())
    precision = float(is_fall[called].mean()) if called.any() else 0.0
    if np.array_equal(called, probs >= expected):
        return _say(
            RIGHT,
            f"at p(fall) >= {value:.3f} you catch {recall:.1%} of the falls at {precision:.1%} precision",
            True,
        )
    if recall < target - 1e-9:
        hint = f"at p(fall) >= {value:.3f} you catch {recall:.1%} of the falls, under {target:.0%}: lower it"
    else:
        hint = (
            f"{value:.3f} catches {recall:.1%} of the falls (enough), but a higher threshold does too, with fewer "
            f"false alarms than your {precision:.1%} precision: raise it to the hardest fall you must still catch"
        )
    return _say(WRONG, hint, False)


# 04 - distillation


def check_kd_loss(
    answer: object,
    student_logits: Sequence[Sequence[float]],
    teacher_logits: Sequence[Sequence[float]],
    labels: Sequence[int],
    alpha: float,
    temperature: float,
) -> bool:
    """The distillation loss alpha * CE + (1 - alpha) * T^2 * KL(teacher || student) of a batch (mean over it)."""
    import torch
    import torch.nn.functional as F

    from fallkd_lib.distill import kd_loss

    if answer is None:
        return _say(
            NOT_ANSWERED, f"the loss of this batch with alpha = {alpha:g} and T = {temperature:g}", False
        )
    value = _number(answer)
    if value is None:
        return _say(WRONG, "give one number (a float, or float(tensor))", False)
    s, t = (
        torch.tensor(student_logits, dtype=torch.float64),
        torch.tensor(teacher_logits, dtype=torch.float64),
    )
    y = torch.tensor(labels)
    parts = {k: float(v) for k, v in kd_loss(s, t, y, alpha, temperature).items()}
    if _close(value, parts["loss"], rel=1e-3, abs_tol=1e-4):
        return _say(
            RIGHT,
            f"{parts['loss']:.4f} = {alpha:g} x CE {parts['task_loss']:.4f} + {1 - alpha:g} x "
            f"T^2 KL {parts['kd_loss']:.4f}",
            True,
        )
    ce, kd, t2 = parts["task_loss"], parts["kd_loss"], temperature**2

    def kl(p_logits: torch.Tensor, q_logits: torch.Tensor, temp: float) -> float:
        """batchmean KL(softmax(p / temp) || softmax(q / temp))."""
        log_p, log_q = F.log_softmax(p_logits / temp, 1), F.log_softmax(q_logits / temp, 1)
        return float((log_p.exp() * (log_p - log_q)).sum(1).mean())

    mistakes = [
        (
            alpha * ce + (1 - alpha) * kd / t2,
            "the KL term needs its factor T^2 (it keeps the soft gradients' size)",
        ),
        (
            (1 - alpha) * ce + alpha * kd,
            "alpha weights the hard-label cross-entropy here, (1 - alpha) the KL term",
        ),
        (
            alpha * ce + (1 - alpha) * t2 * kl(s, t, temperature),
            "KL is not symmetric: it is KL(teacher || student)",
        ),
        (alpha * ce + (1 - alpha) * t2 * kl(t, s, 1.0), "divide both logits by T before the softmax"),
        (ce, "that is the cross-entropy alone; add the distillation term"),
        (kd, "that is the distillation term alone; add the cross-entropy"),
        (
            alpha * ce + (1 - alpha) * kd * len(labels),
            "average the KL over the batch (batchmean), do not sum it",
        ),
    ]
    for wrong, hint in mistakes:
        if _close(value, wrong, rel=1e-3, abs_tol=1e-4):
            return _say(WRONG, hint, False)
    return _say(
        WRONG,
        f"{value:g} is too {'high' if value > parts['loss'] else 'low'}: build it in three parts, "
        "CE with the labels, KL of the softened distributions, then the weighted sum",
        False,
    )


# 05 - the long-lie alert

_PERSON = (300.0, 100.0, 340.0, 200.0)  # x1, y1, x2, y2 of a standing person: 40 x 100 px


def long_lie_frames(
    fall_at: float, fall_seen: bool, fps: float = 2.0, seconds: float = 60.0
) -> list[tuple[float, list[tuple[int, float, tuple[float, float, float, float]]]]]:
    """(time, [(track id, fall probability, box)]) of one person whom the classifier calls fallen from fall_at on.

    fall_seen: the box drops at fall_at as in a fall (its top falls 70% of its height in one frame); otherwise the
    person sits down slowly (the top sinks 40% of the height over 4 s), which the classifier mistakes for a fall.
    """
    x1, y1, x2, y2 = _PERSON
    height = y2 - y1
    frames = []
    for k in range(int(round(seconds * fps)) + 1):
        t = k / fps
        if t < fall_at:
            box, prob = _PERSON, 0.05
        elif fall_seen:
            box, prob = (x1 - 30, y1 + 0.7 * height, x2 + 30, y2), 0.95
        else:
            sunk = 0.4 * height * min(1.0, (t - fall_at) / 4.0)
            box, prob = (x1 - 5, y1 + sunk, x2 + 5, y2), 0.95
        frames.append((t, [(1, prob, box)]))
    return frames


def check_alert_time(
    answer: object, fall_at: float, fall_seen: bool, state: FallStateConfig | None = None, fps: float = 2.0
) -> bool:
    """The time (s) of the long-lie alert for long_lie_frames(fall_at, fall_seen, fps) under `state`."""
    from fallkd_lib.runtime.state import FallStateConfig, FallTracker

    state = state or FallStateConfig()
    if answer is None:
        return _say(NOT_ANSWERED, "the clip time, in seconds, of the frame that raises the alert", False)
    value = _number(answer)
    if value is None:
        return _say(WRONG, "give one time in seconds", False)
    tracker, down_at, expected = FallTracker(state), None, None
    for t, observations in long_lie_frames(fall_at, fall_seen, fps):
        for event in tracker.update(t, observations):
            down_at = event.time if event.kind == "fall_started" and down_at is None else down_at
            expected = event.time if event.kind == "long_lie" and expected is None else expected
    assert down_at is not None and expected is not None  # the scenario always alerts within its 60 s
    if _close(value, expected, rel=0, abs_tol=1e-6):
        path = "fast path: the fall was seen" if fall_seen else "slow path: nobody saw a fall"
        return _say(RIGHT, f"{expected:g} s ({path}; down from {down_at:g} s)", True)
    fast, slow = state.alert_after, state.found_down_after
    if any(_close(value, fall_at + wait, rel=0, abs_tol=1e-6) for wait in (fast, slow)):
        hint = (
            f"the timer starts when the *smoothed* probability reaches enter = {state.enter:g}, not on the frame of "
            f"the fall: with smoothing {state.smoothing:g} s each frame moves it only part of the way"
        )
    elif fall_seen and _close(value, down_at + slow, rel=0, abs_tol=1e-6):
        hint = "this person's box dropped like a fall (the top fell fast), so which wait applies?"
    elif not fall_seen and _close(value, down_at + fast, rel=0, abs_tol=1e-6):
        hint = "nobody saw a fall here (the box top sank slowly), so which wait applies?"
    else:
        hint = f"{value:g} s is too {'late' if value > expected else 'early'}: find the frame that turns the track down"
    return _say(WRONG, hint, False)


# 06 - the frame's budget


def check_crops_per_frame(
    answer: object, detector_gflops: float, classifier_gflops: float, max_gflops: float | None = None
) -> bool:
    """How many people a frame can classify before detector + people x classifier passes max_gflops (default 20)."""
    from fallkd_lib.models.budget import TX2_FITS_GFLOPS

    limit = TX2_FITS_GFLOPS if max_gflops is None else max_gflops
    if answer is None:
        return _say(NOT_ANSWERED, f"the most people per frame within {limit:g} GFLOPs, a whole number", False)
    value = _number(answer)
    if value is None or value != int(value) or value < 0:
        return _say(WRONG, "give a whole number of people", False)
    people = int(value)
    expected = max(0, math.floor((limit - detector_gflops) / classifier_gflops + 1e-9))
    cost = detector_gflops + people * classifier_gflops
    if people == expected:
        return _say(RIGHT, f"{people} people: {cost:.2f} of {limit:g} GFLOPs per frame", True)
    if people == math.floor(limit / classifier_gflops + 1e-9):
        hint = "the detector runs once per frame too: its GFLOPs come out of the budget first"
    elif cost > limit:
        hint = f"{people} people cost {cost:.2f} GFLOPs per frame, over the {limit:g} GFLOPs budget"
        hint += ": round down" if people == expected + 1 else ""
    else:
        hint = (
            f"{people} people cost {cost:.2f} GFLOPs: {limit - cost:.2f} GFLOPs are still free, room for more"
        )
    return _say(WRONG, hint, False)
