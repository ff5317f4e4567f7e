"""Score a fall-alert pipeline per event on synthetic clips: falls alerted, alert delay, false alerts per hour.

Inputs are a clip's ground truth (the dict `fallkd_lib.data.synthetic.clips.read_clip_truth` returns, or its
JSON path) and the events the runtime emitted for it (`FallEvent`s or dicts with kind, time, box and
optionally track_id; times in seconds of the clip, i.e. frame_index / fps). Only events of `alert_kind`
("long_lie") are scored.

Each fall of the truth gets a status, from `down_for` = time of its last frame still labelled a fall (the frame
before ``recover``, or the clip's last frame) minus its ``down`` time (``onset`` when ``down`` is missing):

- "should_alert": down_for >= alert_after: the person was still seen lying alert_after seconds after landing;
- "recovered": the person got up (``recover`` is set) sooner (a fall_recover clip): an alert on them is false;
- "cut_short": still down when the clip ends, but for less than alert_after: the clip cannot tell, so an
  alert on them is "unscored" (neither caught nor false) and the fall is not counted.

Each alert is matched to the person whose box in the truth frame nearest the alert time (round(time * fps))
has the highest IoU with the alert's box, if that IoU >= match_iou, and to that person's latest fall whose
onset is at or before the alert time. Its outcome is one of OUTCOMES:

- "caught": the first alert of a should_alert fall; its delay = alert time - (down + alert_after). The delay
  can be negative, down to onset - down (about -0.5 s): the tracker's timer starts when the smoothed fall
  probability crosses `enter`, which a good classifier reaches while the body is still tilting, before it
  lands; smoothing and a slow classifier make it positive;
- "duplicate": any later alert of an already caught fall (the tracker's cooldown reminders, or a second track
  on the same person after an id switch), counted apart from false alerts;
- "unscored": on a cut_short fall;
- false alerts, by reason: "recovered" (on a fall the person got up from before alert_after), "not_fallen"
  (on a sitter, a walker, or a faller before their onset) and "no_person" (no person overlaps the box).

A should_alert fall with no caught alert is missed. Alerts on it after the person got up still count as
caught (late): the delay says how late.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fallkd_lib.data.geometry import box_iou
from fallkd_lib.data.synthetic.clips import read_clip_truth
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.runtime.state import FallEvent

_log = logging.getLogger(__name__)
FALSE_REASONS = ("recovered", "not_fallen", "no_person")
OUTCOMES = ("caught", "duplicate", "unscored", *FALSE_REASONS)
FALL_STATUSES = ("should_alert", "recovered", "cut_short")
_EPS = 1e-6  # seconds: frame times such as 36 / 10 are not exact in binary


def _event_fields(event: FallEvent | Mapping) -> tuple[str, float, int | None, tuple[float, ...]] | str:
    """(kind, time, track_id, box) of one event, or why it cannot be scored."""
    if isinstance(event, FallEvent):
        kind, t, track, box = event.kind, event.time, event.track_id, event.box
    elif isinstance(event, Mapping) and {"kind", "time", "box"} <= set(event):
        kind, t, track, box = event["kind"], event["time"], event.get("track_id"), event["box"]
    else:
        return "not a FallEvent or a dict with kind, time and box"
    try:
        t, coords = float(t), tuple(float(v) for v in box)
        track = None if track is None else int(track)
    except (TypeError, ValueError):
        return "time, track_id or box is not numeric"
    if len(coords) != 4 or not all(math.isfinite(v) for v in (t, *coords)):
        return "time or box (x1, y1, x2, y2) is not finite"
    return str(kind), t, track, coords


def _truth(truth: Mapping | str | Path) -> Mapping:
    """A truth dict, read from its JSON path when given one, checked for the keys the scorer uses."""
    if isinstance(truth, (str, Path)):
        return read_clip_truth(truth)
    missing = [k for k in ("fps", "n_frames", "frames", "events") if k not in truth]
    if missing:
        raise UsageError(
            f"clip truth {truth.get('video', '?')!r} lacks {missing}: pass what read_clip_truth(OUT.json) returns"
        )
    if not truth["fps"] > 0 or len(truth["frames"]) != truth["n_frames"] or truth["n_frames"] < 1:
        raise UsageError(
            f"clip truth {truth.get('video', '?')!r}: need fps > 0 and n_frames == len(frames) >= 1, got "
            f"fps={truth['fps']!r}, n_frames={truth['n_frames']!r}, {len(truth['frames'])} frames"
        )
    return truth


def _falls(truth: Mapping, alert_after: float) -> tuple[list[dict], int]:
    """The scored falls with their status (see module doc), and how many had no frame labelled a fall."""
    fps, n_frames = float(truth["fps"]), int(truth["n_frames"])
    falls, unlabelled = [], 0
    for event in truth["events"]:
        if event.get("kind") != "fall":
            continue
        if event.get("onset") is None:
            unlabelled += 1
            continue
        onset = float(event["onset"])
        down = float(event["down"]) if event.get("down") is not None else onset
        recover = event.get("recover")
        last = (round(float(recover) * fps) - 1 if recover is not None else n_frames - 1) / fps
        down_for = round(last - down, 6)
        if down_for >= alert_after - _EPS:
            status = "should_alert"
        else:
            status = "recovered" if recover is not None else "cut_short"
        row = {
            "person": event["person"],
            "onset": onset,
            "down": down,
            "down_for": down_for,
            "status": status,
        }
        falls.append(row | {"alerts": 0, "alert_time": None, "delay": None})
    return falls, unlabelled


def _match_person(truth: Mapping, t: float, box: tuple[float, ...]) -> tuple[int | None, float]:
    """The person whose box overlaps the alert box best in the truth frame nearest t, and that IoU."""
    frames = truth["frames"]
    frame = frames[min(max(round(t * float(truth["fps"])), 0), len(frames) - 1)]
    people = [p for p in frame["people"] if p.get("box") is not None]
    if not people:
        return None, 0.0
    iou = box_iou(np.array([box]), np.array([p["box"] for p in people]))[0]
    best = int(np.argmax(iou))
    return people[best]["id"], float(iou[best])


def score_clip_events(
    truth: Mapping | str | Path,
    events: Sequence[FallEvent | Mapping],
    *,
    alert_after: float,
    alert_kind: str = "long_lie",
    match_iou: float = 0.3,
) -> dict:
    """Score one clip's alerts against its truth (see module doc); alert_after must be the tracker's setting.

    Returns scenario, video, duration_s, should_alert, alerted, missed, delays, false_alerts, false_by_reason,
    duplicate_alerts, unscored_alerts, falls_unlabelled, skipped_events, and per-item rows "falls" and "alerts".
    """
    truth = _truth(truth)
    if not (math.isfinite(alert_after) and alert_after >= 0):
        raise UsageError(
            f"alert_after={alert_after!r}: pass the tracker's FallStateConfig.alert_after (seconds)"
        )
    falls, unlabelled = _falls(truth, float(alert_after))
    skipped: Counter = Counter()
    alerts = []
    for event in events:
        fields = _event_fields(event)
        if isinstance(fields, str):
            skipped[fields] += 1
            continue
        if fields[0] == alert_kind:
            alerts.append(fields)
    if skipped:
        _log.warning("clip %s: skipped events %s", truth.get("video", "?"), dict(skipped))
    rows = []
    for _, t, track, box in sorted(alerts, key=lambda a: a[1]):
        person, iou = _match_person(truth, t, box)
        row = {
            "time": t,
            "track_id": track,
            "person": person if iou >= match_iou else None,
            "iou": round(iou, 4),
        }
        mine = [f for f in falls if f["person"] == row["person"] and f["onset"] <= t + _EPS]
        fall = mine[-1] if mine else None
        if row["person"] is None:
            outcome = "no_person"
        elif fall is None:
            outcome = "not_fallen"
        elif fall["status"] == "should_alert":
            outcome = "duplicate" if fall["alerts"] else "caught"
            if not fall["alerts"]:
                fall["alert_time"] = t
                fall["delay"] = round(t - (fall["down"] + alert_after), 6)
            fall["alerts"] += 1
        else:
            outcome = "unscored" if fall["status"] == "cut_short" else "recovered"
            fall["alerts"] += 1
        rows.append(row | {"outcome": outcome})
    outcomes = Counter(r["outcome"] for r in rows)
    should = [f for f in falls if f["status"] == "should_alert"]
    alerted = [f for f in should if f["alert_time"] is not None]
    return {
        "scenario": truth.get("scenario", "?"),
        "video": truth.get("video", "?"),
        "duration_s": truth["n_frames"] / float(truth["fps"]),
        "should_alert": len(should),
        "alerted": len(alerted),
        "missed": len(should) - len(alerted),
        "delays": [f["delay"] for f in alerted],
        "false_alerts": sum(outcomes[r] for r in FALSE_REASONS),
        "false_by_reason": {r: outcomes[r] for r in FALSE_REASONS},
        "duplicate_alerts": outcomes["duplicate"],
        "unscored_alerts": outcomes["unscored"],
        "falls_unlabelled": unlabelled,
        "skipped_events": sum(skipped.values()),
        "falls": falls,
        "alerts": rows,
    }


def _summary(clips: Sequence[Mapping]) -> dict:
    """Totals and rates over scored clips (NaN where undefined: no fall to alert, no delay, no time)."""
    hours = sum(c["duration_s"] for c in clips) / 3600
    should, alerted = sum(c["should_alert"] for c in clips), sum(c["alerted"] for c in clips)
    delays = [d for c in clips for d in c["delays"]]
    false, dups = sum(c["false_alerts"] for c in clips), sum(c["duplicate_alerts"] for c in clips)
    nan = float("nan")
    return {
        "clips": len(clips),
        "hours": hours,
        "falls_should_alert": should,
        "alerted": alerted,
        "recall": alerted / should if should else nan,
        "delay_mean": statistics.fmean(delays) if delays else nan,
        "delay_median": statistics.median(delays) if delays else nan,
        "delay_max": max(delays) if delays else nan,
        "false_alerts": false,
        "false_alerts_per_hour": false / hours if hours else nan,
        "duplicate_alerts": dups,
        "duplicates_per_hour": dups / hours if hours else nan,
        "unscored_alerts": sum(c["unscored_alerts"] for c in clips),
        "false_by_reason": {r: sum(c["false_by_reason"][r] for c in clips) for r in FALSE_REASONS},
    }


def score_clip_set(
    results: Sequence[tuple[Mapping | str | Path, Sequence[FallEvent | Mapping]]],
    *,
    alert_after: float,
    alert_kind: str = "long_lie",
    match_iou: float = 0.3,
) -> dict:
    """Score (truth, events) per clip and aggregate: recall, delays, false alerts per hour, per scenario.

    Returns the totals of all clips (keys of the per-scenario dicts: clips, hours, falls_should_alert,
    alerted, recall, delay_mean/median/max, false_alerts, false_alerts_per_hour, duplicate_alerts,
    duplicates_per_hour, unscored_alerts, false_by_reason) plus "by_scenario" and "per_clip".
    """
    if not results:
        raise UsageError("results is empty: pass [(truth dict or OUT.json path, events of that clip), ...]")
    per_clip = [
        score_clip_events(truth, events, alert_after=alert_after, alert_kind=alert_kind, match_iou=match_iou)
        for truth, events in results
    ]
    scenarios = sorted({c["scenario"] for c in per_clip})
    by_scenario = {s: _summary([c for c in per_clip if c["scenario"] == s]) for s in scenarios}
    return _summary(per_clip) | {"by_scenario": by_scenario, "per_clip": per_clip}


def event_scores_table(summary: Mapping) -> pd.DataFrame:
    """One row per scenario plus "all" from score_clip_set's result, false alerts split by reason."""
    rows = {**summary["by_scenario"], "all": summary}
    flat = {}
    for name, s in rows.items():
        row = {
            k: v for k, v in s.items() if k not in ("by_scenario", "per_clip", "false_by_reason", "timing")
        }
        flat[name] = row | {f"false_{r}": n for r, n in s["false_by_reason"].items()}
    frame = pd.DataFrame.from_dict(flat, orient="index")
    frame.index.name = "scenario"
    return frame


def read_event_log(path: str | Path) -> list[dict]:
    """The events a pipeline run wrote (events.jsonl, or a run folder holding it), one dict per line."""
    path = Path(path)
    path = path / "events.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise MissingFileError(
            f"{path} not found: run the pipeline (FallPipeline.run / `fallkd detect`) first"
        )
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def score_pipeline_on_clips(
    pipeline: object,
    clips: Sequence[object],
    out_dir: str | Path,
    save_video: bool = False,
    progress: bool = True,
) -> dict:
    """Run a FallPipeline over clips with ground truth (ClipInfo: .video, .truth) and score its alerts.

    Each clip's outputs go to out_dir/<clip name>/; returns score_clip_set's summary, with the pipeline's own
    alert_after.
    """
    from tqdm.auto import tqdm

    results = []
    for clip in tqdm(clips, desc="clips", unit="clip", disable=not progress):
        out = Path(out_dir) / Path(clip.video).stem
        pipeline.run(clip.video, out, save_video=save_video, progress=False)
        results.append((clip.truth, read_event_log(out)))
    return score_clip_set(results, alert_after=pipeline.config.state.alert_after)
