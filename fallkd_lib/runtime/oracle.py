"""Stand-ins that read a clip's ground truth, to test one stage of the pipeline while the others are perfect.

`truth_detector` returns the true person boxes with the person id as track id (a perfect detector and tracker);
`truth_events` runs the fall state machine on the true labels (everything before it perfect). They isolate what
the classifier and the state machine do from what the detector does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from fallkd_lib.runtime.events import _truth
from fallkd_lib.runtime.sources import Frame
from fallkd_lib.runtime.state import FallEvent, FallStateConfig, FallTracker


def _frame_people(truth: Mapping, frame: Frame) -> list[dict]:
    frames = truth["frames"]
    index = min(max(int(round(frame.timestamp * truth["fps"])), 0), len(frames) - 1)
    return frames[index]["people"]


def truth_detector(truth: Mapping | str | Path) -> Callable[[Frame], np.ndarray]:
    """A detector callable giving (N, 6) rows x1, y1, x2, y2, 1.0, person id from the clip's ground truth."""
    truth = _truth(truth)

    def detect(frame: Frame) -> np.ndarray:
        people = _frame_people(truth, frame)
        rows = [[*p["box"], 1.0, p["id"]] for p in people]
        return np.asarray(rows, dtype=np.float64).reshape(-1, 6)

    return detect


def truth_events(truth: Mapping | str | Path, config: FallStateConfig | None = None) -> list[FallEvent]:
    """The state machine's events when detector, tracker and classifier are all perfect (truth in, events out)."""
    truth = _truth(truth)
    tracker = FallTracker(config)
    events: list[FallEvent] = []
    for frame in truth["frames"]:
        observations = [(int(p["id"]), float(p["is_fall"]), tuple(p["box"])) for p in frame["people"]]
        events += tracker.update(float(frame["time"]), observations)
    return events
