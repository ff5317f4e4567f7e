"""Box-level fall/normal scoring and event-level alert scoring, checked against hand-computed values."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
from PIL import Image

from fallkd_lib.data.synthetic.clips import generate_clip, read_clip_truth
from fallkd_lib.detector.evaluate import (
    MODES,
    compare_detection_modes,
    fall_detection_scores,
    yolo_ground_truth,
)
from fallkd_lib.runtime.events import event_scores_table, score_clip_events, score_clip_set
from fallkd_lib.runtime.state import FallEvent, FallStateConfig, FallTracker

A = (0, 0, 10, 10)

# ---------------------------------------------------------------- boxes


def _images() -> list[dict]:
    return [
        {
            "gt": [(A, "fall"), ((20, 0, 30, 10), "normal")],
            "pred": [(A, "fall", 0.9), ((20, 0, 30, 10), "fall", 0.8), ((20, 0, 30, 9), "normal", 0.7)],
        },
        {
            "gt": [(A, "fall"), ((50, 50, 60, 60), "fall")],
            "pred": [
                (A, "normal", 0.95),
                ((100, 100, 110, 110), "fall", 0.6),
                ((50, 50, 60, 60), "fall", 0.1),
            ],
        },
        {"gt": [], "pred": []},
        {"gt": [(A, 1)], "pred": []},  # class id 1 = normal
    ]


def test_scores_by_hand_with_score_threshold() -> None:
    s = fall_detection_scores(_images(), score_threshold=0.5)
    # image 0: fall caught; normal person called fall; a 2nd (normal) box on that person is spurious
    # image 1: fall called normal; the other fall missed (its only box scores 0.1); a spurious fall box
    # image 3: normal person missed
    assert (s["images"], s["gt_fall"], s["gt_normal"], s["pred_fall"], s["pred_normal"]) == (4, 3, 2, 3, 2)
    assert (s["fall_tp"], s["fall_fp"], s["fall_fn"]) == (1, 2, 2)
    assert (s["normal_tp"], s["normal_fp"], s["normal_fn"]) == (0, 2, 2)
    assert (s["fall_as_normal"], s["normal_as_fall"], s["missed_fall"], s["missed_normal"]) == (1, 1, 1, 1)
    assert (s["spurious_fall"], s["spurious_normal"], s["matched"]) == (1, 1, 3)
    assert s["fall_precision"] == pytest.approx(1 / 3) and s["fall_recall"] == pytest.approx(1 / 3)
    assert s["fall_f1"] == pytest.approx(1 / 3) and s["normal_f1"] == 0.0
    assert s["detection_recall"] == pytest.approx(3 / 5) and s["detection_precision"] == pytest.approx(3 / 5)
    assert s["macro_f1"] == pytest.approx(1 / 6)


def test_low_score_box_counts_without_threshold() -> None:
    s = fall_detection_scores(_images())
    assert (s["fall_tp"], s["fall_fp"], s["fall_fn"], s["missed_fall"]) == (2, 2, 1, 0)
    assert s["fall_precision"] == pytest.approx(0.5) and s["fall_recall"] == pytest.approx(2 / 3)
    assert s["fall_f1"] == pytest.approx(4 / 7)
    assert s["detection_recall"] == pytest.approx(4 / 5) and s["detection_precision"] == pytest.approx(4 / 6)


def test_empty_images_give_nan_not_zero() -> None:
    for images in ([], [{"gt": [], "pred": []}]):
        s = fall_detection_scores(images)
        assert s["fall_tp"] == s["fall_fp"] == s["fall_fn"] == 0
        assert (
            math.isnan(s["fall_precision"]) and math.isnan(s["fall_f1"]) and math.isnan(s["detection_recall"])
        )
    s = fall_detection_scores([{"gt": [(A, "fall")], "pred": []}])
    assert s["fall_recall"] == 0.0 and math.isnan(s["fall_precision"]) and s["detection_recall"] == 0.0


@pytest.mark.parametrize(
    "image, match",
    [
        ({"gt": [(A, "lying")], "pred": []}, r"image 0 \(x.jpg\) gt\[0\]: label 'lying'"),
        ({"gt": [], "pred": [((0, 0, 1), "fall", 1.0)]}, r"pred\[0\]: box"),
        ({"gt": [], "pred": [(A, "fall")]}, r"pred\[0\] .* not a \(box, label, score\)"),
        ({"gt": [(A, True)], "pred": []}, "label True"),
    ],
)
def test_bad_items_are_named(image: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fall_detection_scores([{"image": "x.jpg"} | image])
    with pytest.raises(ValueError, match="expected a dict"):
        fall_detection_scores([{"gt": []}])


def test_compare_modes_table() -> None:
    gt = [(A, "fall"), ((20, 0, 30, 10), "normal")]
    detector = [{"gt": gt, "pred": [(A, "normal", 0.9), ((20, 0, 30, 10), "normal", 0.9)]}]
    both = [{"gt": gt, "pred": [(A, "fall", 0.9), ((20, 0, 30, 10), "normal", 0.9)]}]
    table = compare_detection_modes({MODES[0]: detector, MODES[1]: both})
    assert list(table.index) == list(MODES) and table.index.name == "mode"
    assert table.loc[MODES[0], "fall_recall"] == 0.0 and table.loc[MODES[1], "fall_recall"] == 1.0
    assert table.loc[MODES[0], "normal_precision"] == 0.5 and table.loc[MODES[1], "fall_f1"] == 1.0
    assert (table["detection_recall"] == 1.0).all()
    with pytest.raises(ValueError, match="per_mode is empty"):
        compare_detection_modes({})


def _yolo(root: Path, names: list[str]) -> None:
    (root / "data.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(f"names: {names}\n", encoding="utf-8")
    images, labels = root / "valid" / "images", root / "valid" / "labels"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    Image.new("RGB", (40, 20)).save(images / "a.png")
    (labels / "a.txt").write_text(
        "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.5 0.5\n7 0.5 0.5 0.1 0.1\n", encoding="utf-8"
    )
    Image.new("RGB", (8, 6)).save(images / "b.png")  # background image: no label file
    (images / "c.jpg").write_bytes(b"not a jpeg")


def test_yolo_ground_truth_reads_pixel_boxes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _yolo(tmp_path, ["fall", "normal"])
    with caplog.at_level(logging.WARNING):
        gt = yolo_ground_truth(tmp_path, "valid", progress=False)
    assert [Path(g["image"]).name for g in gt] == ["a.png", "b.png"]  # c.jpg unreadable: skipped
    assert (gt[0]["width"], gt[0]["height"]) == (40, 20)
    assert gt[0]["gt"] == [((10.0, 5.0, 30.0, 15.0), "fall"), ((0.0, 0.0, 20.0, 10.0), "normal")]
    assert len(gt[0]["issues"]) == 1 and "class id 7" in gt[0]["issues"][0]
    assert gt[1]["gt"] == [] and gt[1]["pred"] == []
    assert "'unreadable_image': 1" in caplog.text and "'bad_label_line': 1" in caplog.text
    assert "unreadable: c.jpg (UnidentifiedImageError)" in caplog.text
    with pytest.raises(FileNotFoundError, match="split 'test' has no images"):
        yolo_ground_truth(tmp_path, "test", progress=False)


def test_yolo_ground_truth_class_map(tmp_path: Path) -> None:
    _yolo(tmp_path, ["Fall-Action", "Sit"])
    with pytest.raises(
        ValueError, match=r"classes \['Fall-Action', 'Sit'\] are not fall / normal.*class_map"
    ):
        yolo_ground_truth(tmp_path, "valid", progress=False)
    with pytest.raises(ValueError, match=r"no target for \['Sit'\]; targets \{'Fall-Action': 'falls'\}"):
        yolo_ground_truth(tmp_path, "valid", {"Fall-Action": "falls"}, progress=False)
    gt = yolo_ground_truth(tmp_path, "valid", {"Fall-Action": "fall", "Sit": "drop"}, progress=False)
    assert gt[0]["gt"] == [((10.0, 5.0, 30.0, 15.0), "fall")]


@pytest.mark.realdata
def test_yolo_ground_truth_on_real_test_split(shared_datasets: Path) -> None:
    mapping = {"Fall-Action": "fall", "Sit": "normal", "Stand": "normal"}
    gt = yolo_ground_truth(shared_datasets / "fall_action_laifi", "test", mapping, progress=False)
    labels = [lab for g in gt for _, lab in g["gt"]]
    assert len(gt) == 152 and labels.count("fall") == 55 and labels.count("normal") == 100  # README table
    assert {(g["width"], g["height"]) for g in gt} == {(640, 640)}


# ---------------------------------------------------------------- events

LYING, STANDING, OTHER = (10, 30, 50, 40), (20, 0, 30, 40), (60, 0, 70, 40)


def _truth(
    scenario: str, seconds: float = 20.0, fps: float = 10.0, fall: dict | None = None, **extra
) -> dict:
    """A hand-made clip truth in generate_clip's format: person 0 stands, and falls / sits per `fall`."""
    n = round(seconds * fps)
    fall = None if fall is None else {"recover": None} | fall
    events = (
        [] if fall is None else [{"person": 0, "kind": "fall", "gets_up": fall["recover"] is not None} | fall]
    )
    onset = math.inf if fall is None else fall["onset"]
    recover = math.inf if fall is None or fall["recover"] is None else fall["recover"]
    frames = []
    for i in range(n):
        t = i / fps
        down = onset <= t + 1e-9 < recover
        p0 = {"id": 0, "box": list(LYING if down else STANDING), "posture": "lying" if down else "walking"}
        people = [p0 | {"is_fall": down, "visible": 1.0}]
        if extra.get("walker"):
            people.append(
                {"id": 1, "box": list(OTHER), "posture": "walking", "is_fall": False, "visible": 1.0}
            )
        frames.append({"index": i, "time": round(t, 6), "people": people})
    people = [{"id": 0, "role": "faller" if fall else "sitter"}]
    if extra.get("walker"):
        people.append({"id": 1, "role": "walker"})
    return {
        "scenario": scenario,
        "fps": fps,
        "n_frames": n,
        "people": people,
        "events": events,
        "frames": frames,
    }


def _alert(t: float, box=LYING, track: int = 1) -> FallEvent:
    return FallEvent("long_lie", t, track, "alerted", 0.9, 10.0, box)


def test_alert_on_time_late_and_missed() -> None:
    truth = _truth("fall_stay", fall={"onset": 3.0, "down": 3.5})  # down_for = 19.9 - 3.5 = 16.4 s
    on_time = score_clip_events(truth, [_alert(13.7)], alert_after=10)
    assert (on_time["should_alert"], on_time["alerted"], on_time["missed"]) == (1, 1, 0)
    assert on_time["delays"] == [pytest.approx(0.2)] and on_time["false_alerts"] == 0
    assert on_time["falls"][0]["status"] == "should_alert" and on_time["falls"][0]["down_for"] == 16.4
    late = score_clip_events(truth, [{"kind": "long_lie", "time": 16.0, "box": LYING}], alert_after=10)
    assert late["delays"] == [pytest.approx(2.5)] and late["alerts"][0]["track_id"] is None
    early = score_clip_events(truth, [_alert(13.2)], alert_after=10)  # timer started at onset, 0.5 s early
    assert early["delays"] == [pytest.approx(-0.3)]
    missed = score_clip_events(
        truth, [FallEvent("fall_started", 3.2, 1, "down", 0.8, 0.0, LYING)], alert_after=10
    )
    assert (missed["alerted"], missed["missed"], missed["delays"], missed["alerts"]) == (0, 1, [], [])


def test_duplicates_are_counted_apart_from_false_alerts() -> None:
    truth = _truth("fall_stay", fall={"onset": 3.0, "down": 3.5})
    s = score_clip_events(truth, [_alert(19.0, track=2), _alert(13.7), _alert(14.0, track=3)], alert_after=10)
    assert [a["outcome"] for a in s["alerts"]] == ["caught", "duplicate", "duplicate"]  # sorted by time
    assert s["delays"] == [pytest.approx(0.2)]
    assert (s["alerted"], s["duplicate_alerts"], s["false_alerts"]) == (1, 2, 0)


def test_false_alerts_by_reason() -> None:
    truth = _truth("crowd", fall={"onset": 3.0, "down": 3.5}, walker=True)
    events = [
        _alert(2.0, box=STANDING),  # on the faller before they fell
        _alert(8.0, box=OTHER),  # on the walker
        _alert(9.0, box=(34, 30, 74, 40)),  # IoU 160 / 640 = 0.25 with the lying box: nobody
        _alert(13.6, box=(30, 30, 70, 40)),  # IoU 200 / 600 = 0.33 >= 0.3: the faller
    ]
    s = score_clip_events(truth, events, alert_after=10)
    assert [a["outcome"] for a in s["alerts"]] == ["not_fallen", "not_fallen", "no_person", "caught"]
    assert [a["person"] for a in s["alerts"]] == [0, 1, None, 0]
    assert (
        s["false_by_reason"] == {"recovered": 0, "not_fallen": 2, "no_person": 1} and s["false_alerts"] == 3
    )
    assert s["alerts"][2]["iou"] == 0.25 and s["delays"] == [pytest.approx(0.1)]


def test_alert_on_a_sitter_is_false() -> None:
    truth = _truth("sit")
    truth["events"] = [{"person": 0, "kind": "sit", "start": 3.0, "seated": 4.0, "support": "bench"}]
    s = score_clip_events(truth, [_alert(15.0, box=STANDING)], alert_after=10)
    assert (s["should_alert"], s["false_alerts"], s["false_by_reason"]["not_fallen"]) == (0, 1, 1)


@pytest.mark.parametrize("alerts, false", [([], 0), ([5.0], 1), ([5.0, 5.5], 2)])
def test_recovering_person_alerted_is_false(alerts: list[float], false: int) -> None:
    truth = _truth("fall_recover", fall={"onset": 2.0, "down": 2.5, "recover": 6.0})  # down 5.9 - 2.5 = 3.4 s
    s = score_clip_events(truth, [_alert(t) for t in alerts], alert_after=10)
    assert s["falls"][0]["status"] == "recovered" and s["falls"][0]["down_for"] == 3.4
    assert (s["should_alert"], s["false_alerts"], s["false_by_reason"]["recovered"]) == (0, false, false)


@pytest.mark.parametrize("recover, status", [(12.6, "should_alert"), (12.5, "recovered")])
def test_down_long_enough_boundary(recover: float, status: str) -> None:
    truth = _truth("fall_recover", fall={"onset": 2.0, "down": 2.5, "recover": recover})
    # last fallen frame 12.5 -> down 10.0 s (alert due at 12.5, still lying); 12.4 -> 9.9 s
    assert score_clip_events(truth, [], alert_after=10)["falls"][0]["status"] == status


def test_fall_cut_short_by_the_clip_end_is_unscored() -> None:
    truth = _truth("fall_stay", seconds=12, fall={"onset": 3.0, "down": 3.5})  # down 11.9 - 3.5 = 8.4 s
    s = score_clip_events(truth, [_alert(11.8)], alert_after=10)
    assert s["falls"][0]["status"] == "cut_short" and s["alerts"][0]["outcome"] == "unscored"
    assert (s["should_alert"], s["missed"], s["false_alerts"], s["unscored_alerts"]) == (0, 0, 0, 1)


def test_bad_events_are_skipped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    truth = _truth("fall_stay", fall={"onset": 3.0, "down": 3.5})
    bad = [{"kind": "long_lie", "time": "soon", "box": LYING}, {"kind": "long_lie"}, _alert(13.5)]
    with caplog.at_level(logging.WARNING):
        s = score_clip_events(truth, bad, alert_after=10)
    assert s["skipped_events"] == 2 and s["alerted"] == 1 and "skipped events" in caplog.text
    with pytest.raises(ValueError, match=r"lacks \['frames'\]"):
        score_clip_events({"fps": 10, "n_frames": 1, "events": []}, [], alert_after=10)


def test_clip_set_rates_by_hand() -> None:
    stay = {"onset": 3.0, "down": 3.5}
    sit = _truth("sit")
    results = [
        (_truth("fall_stay", fall=stay), [_alert(13.7), _alert(14.0, track=2)]),  # delay 0.2, one duplicate
        (_truth("fall_stay", fall=stay), [_alert(16.0)]),  # delay 2.5
        (_truth("fall_stay", fall=stay), []),  # missed
        (sit, [_alert(15.0, box=STANDING)]),  # false
        (_truth("fall_recover", fall={"onset": 2.0, "down": 2.5, "recover": 6.0}), [_alert(5.0)]),  # false
        (_truth("walk", walker=True), [_alert(4.0, box=(100, 100, 120, 120))]),  # false: nobody there
    ]
    s = score_clip_set(results, alert_after=10)  # 6 clips x 20 s = 120 s = 1/30 h
    assert (s["clips"], s["falls_should_alert"], s["alerted"]) == (6, 3, 2)
    assert s["hours"] == pytest.approx(1 / 30) and s["recall"] == pytest.approx(2 / 3)
    assert s["delay_mean"] == pytest.approx(1.35) and s["delay_median"] == pytest.approx(1.35)
    assert s["delay_max"] == pytest.approx(2.5)
    assert s["false_alerts"] == 3 and s["false_alerts_per_hour"] == pytest.approx(90.0)
    assert s["duplicate_alerts"] == 1 and s["duplicates_per_hour"] == pytest.approx(30.0)
    assert s["false_by_reason"] == {"recovered": 1, "not_fallen": 1, "no_person": 1}
    by = s["by_scenario"]
    assert sorted(by) == ["fall_recover", "fall_stay", "sit", "walk"]
    assert by["fall_stay"]["false_alerts_per_hour"] == 0.0 and by["sit"]["false_alerts_per_hour"] == 180.0
    assert math.isnan(by["sit"]["recall"]) and math.isnan(by["sit"]["delay_mean"])
    table = event_scores_table(s)
    assert list(table.index) == ["fall_recover", "fall_stay", "sit", "walk", "all"]
    assert table.loc["all", "false_alerts_per_hour"] == pytest.approx(90.0)
    assert table.loc["walk", "false_no_person"] == 1 and table.loc["fall_stay", "alerted"] == 2
    with pytest.raises(ValueError, match="results is empty"):
        score_clip_set([], alert_after=10)


def test_real_generated_clip_with_a_perfect_classifier(tmp_path: Path) -> None:
    info = generate_clip(tmp_path / "fall_stay_00", "fall_stay", seconds=12, fps=5, size=160)
    truth = read_clip_truth(info.truth)
    fall = truth["events"][0]
    onset, down = fall["onset"], fall["down"]
    frames = truth["frames"]
    assert [f["index"] for f in frames] == list(range(60)) and fall["recover"] is None
    assert all(p["is_fall"] for f in frames if f["time"] >= onset for p in f["people"])
    # alert_after 10: down for 11.8 - down < 10 s, so the clip is too short to judge
    cut = score_clip_events(info.truth, [], alert_after=10)
    assert cut["falls"][0]["status"] == "cut_short" and cut["duration_s"] == 12.0
    # a tracker fed the truth labels: the smoothed prob reaches 0.7 on the 4th fall frame (1 - e^-1.6 = 0.80;
    # the 3rd gives 1 - e^-1.2 = 0.699), i.e. 0.6 s after onset, and alerts 5 s later
    tracker, events = FallTracker(FallStateConfig(alert_after=5.0)), []
    for f in frames:
        obs = [(p["id"], 1.0 if p["is_fall"] else 0.0, p["box"]) for p in f["people"]]
        events += tracker.update(f["time"], obs)
    s = score_clip_events(info.truth, events, alert_after=5.0)
    assert (s["should_alert"], s["alerted"], s["false_alerts"]) == (1, 1, 0)
    assert s["delays"] == [pytest.approx(onset + 0.6 - down)]
