"""Perfect stand-ins on generated clips: the state machine alerts a long lie once and never a sitter."""

from pathlib import Path

import numpy as np
import pytest

from fallkd_lib.data.synthetic import generate_clip, read_clip_truth
from fallkd_lib.runtime.events import score_clip_events
from fallkd_lib.runtime.oracle import truth_detector, truth_events
from fallkd_lib.runtime.sources import Frame
from fallkd_lib.runtime.state import FallStateConfig


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("clips")
    return {
        s: generate_clip(out / s, s, seconds=16, fps=5, size=160, seed=1).truth for s in ("fall_stay", "sit")
    }


def test_perfect_inputs_alert_the_long_lie_once(clips) -> None:
    config = FallStateConfig(alert_after=10.0)
    events = truth_events(clips["fall_stay"], config)
    assert [e.kind for e in events].count("long_lie") == 1
    scores = score_clip_events(read_clip_truth(clips["fall_stay"]), events, alert_after=10.0)
    assert scores["alerted"] == scores["should_alert"] == 1 and scores["false_alerts"] == 0


def test_sitting_never_alerts(clips) -> None:
    events = truth_events(clips["sit"], FallStateConfig(alert_after=10.0))
    assert not [e for e in events if e.kind in ("long_lie", "fall_started")]


def test_truth_detector_gives_boxes_and_ids(clips) -> None:
    truth = read_clip_truth(clips["fall_stay"])
    detect = truth_detector(truth)
    frame = Frame(np.zeros((160, 160, 3), np.uint8), 2.0, 10, "f10")
    rows = detect(frame)
    people = truth["frames"][10]["people"]
    assert rows.shape == (len(people), 6)
    assert rows[:, 5].tolist() == [p["id"] for p in people] and rows[:, 4].tolist() == [1.0] * len(people)
    assert np.allclose(rows[:, :4], [p["box"] for p in people])


def test_event_log_round_trip(tmp_path: Path) -> None:
    from fallkd_lib.runtime.events import read_event_log

    (tmp_path / "events.jsonl").write_text(
        '{"kind": "long_lie", "time": 12.0}\n\n{"kind": "recovered", "time": 20}\n'
    )
    assert read_event_log(tmp_path) == [{"kind": "long_lie", "time": 12.0}, {"kind": "recovered", "time": 20}]
    with pytest.raises(FileNotFoundError, match="run the pipeline"):
        read_event_log(tmp_path / "none")
