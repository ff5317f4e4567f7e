"""people_found / match_people: greedy matching by confidence, AP, recall and the top box, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fallkd_lib.detector.people_found import match_people, people_found
from fallkd_lib.errors import UsageError

A = (0.0, 0.0, 10.0, 20.0)  # a person, 10 x 20
B = (50.0, 0.0, 60.0, 20.0)


def det(box: tuple, conf: float) -> list[float]:
    """One detection row (fall score 0)."""
    return [*box, conf, 0.0]


def test_match_people_takes_the_most_confident_box_first() -> None:
    # two boxes on A: the 0.9 one is found, the 0.95 one overlaps A at IoU 0.5 exactly (10x10 of 10x20), found
    # first; the 0.9 one is then a duplicate
    half = (0.0, 0.0, 10.0, 10.0)
    found = match_people(np.array([det(A, 0.9), det(half, 0.95)]), [A])
    assert found.tolist() == [False, True]
    # at iou 0.6 the half box misses and the full one is found
    assert match_people(np.array([det(A, 0.9), det(half, 0.95)]), [A], iou=0.6).tolist() == [True, False]


def test_match_people_without_people_or_boxes() -> None:
    assert match_people(np.zeros((0, 6)), [A]).tolist() == []
    assert match_people(np.array([det(A, 0.5)]), []).tolist() == [False]


def test_a_perfect_detector_scores_ultralytics_perfect_ap() -> None:
    images = [
        {"gt": [(A, "fall")], "detections": [det(A, 0.9)]},
        {"gt": [(B, "normal")], "detections": [det(B, 0.8)]},
    ]
    r = people_found(images)
    # 101-point interpolation, the envelope dropping to 0 at recall 1: 0.99 + 0.01 * (1 + 0) / 2
    assert r["AP"] == pytest.approx(0.995)
    assert (r["people"], r["detections"], r["recall"], r["top_box_person"]) == (2, 2, 1.0, 1.0)
    assert r["best_conf_median"] == pytest.approx(0.85)


def test_a_false_box_ranked_first_halves_ap_and_misses_the_top_box() -> None:
    # image 1: a false box (0.9) above the person's box (0.8); image 2: its person (B) unfound, a box on nobody
    images = [
        {"people": [A], "gt": [], "detections": [det(B, 0.9), det(A, 0.8)]},
        {"people": [B], "gt": [], "detections": [det(A, 0.1)]},
    ]
    r = people_found(images)
    # ranked 0.9 F, 0.8 T, 0.1 F: recall 0, 0.5, 0.5; precision 0, 1/2, 1/3 -> envelope 0.5 up to recall 0.5,
    # then 0; on the 101 points a flat envelope p up to recall r gives p * (r - 0.005) (1.0 -> 0.995 above)
    assert r["AP"] == pytest.approx(0.5 * (0.5 - 0.005))
    assert r["recall"] == 0.5
    assert r["top_box_person"] == 0.0  # neither image's most confident box is a person
    assert r["best_conf_median"] == pytest.approx(0.8)
    assert r["people"] == 2 and r["detections"] == 3


def test_no_detections_and_no_people() -> None:
    r = people_found([{"gt": [(A, "fall")], "detections": []}])
    assert (r["AP"], r["recall"], r["top_box_person"]) == (0.0, 0.0, 0.0)
    assert r["best_conf_median"] is None
    empty = people_found([{"gt": [], "detections": [det(A, 0.5)]}])
    assert empty["AP"] == 0.0 and empty["top_box_person"] is None


def test_bad_iou_and_bad_rows_are_refused() -> None:
    with pytest.raises(UsageError, match="iou=0"):
        people_found([], iou=0)
    with pytest.raises(UsageError, match="x1, y1, x2, y2, conf, fall"):
        people_found([{"image": "a.jpg", "gt": [], "detections": [[1, 2, 3]]}])
