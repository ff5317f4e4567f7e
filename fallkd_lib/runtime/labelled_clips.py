"""Score the fall pipeline per clip on a folder of labelled real videos (labels.csv, as in assist_iot_falls).

Each clip has one person and one `kind`; only the pipeline's long-lie alerts ("long_lie" events, times in
seconds of the clip) are scored, with no box matching. The outcome of a clip is one of OUTCOMES:

- fall: "caught" when an alert comes at or after fall_onset_s, "missed" when none does, and
  "early_false_alert" when an alert comes before the onset (a false alert on a person not fallen yet; a later
  alert still counts the fall as alerted). Delays are those of the first alert at or after the onset, from the
  onset and from down_from_s (the onset when empty);
- daily_activity: "false_alert" with any alert, "quiet" with none;
- lying_still (found already down, no fall seen): "found_down_alert" or "found_down_quiet".

`long_enough` says whether the clip (as played) lasted long enough for the tracker's wait: alert_after
seconds after down_from_s for a fall, found_down_after seconds for lying_still. A quiet clip that was not long
enough is no miss: the clip ended first. loop_seconds replays short lying-still clips, their timestamps
continuing, until that many seconds, so the found-down wait can pass (looping a fall or an activity would
replay it, so only the kinds in loop_kinds are looped).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import write_json_atomic, write_text_atomic
from fallkd_lib.runtime.events import read_event_log
from fallkd_lib.runtime.sources import Frame, iter_frames, video_fps_of

if TYPE_CHECKING:
    from fallkd_lib.runtime.pipeline import FallPipeline

KINDS = ("fall", "lying_still", "daily_activity")
OUTCOMES = ("caught", "missed", "early_false_alert", "false_alert", "quiet", "found_down_alert")
OUTCOMES += ("found_down_quiet",)
TIMES = ("fall_onset_s", "down_from_s", "down_until_s")  # in this order within a clip
COLUMNS = ("clip", "kind", "activity", "duration_s", "fps", "width", "height", *TIMES)
COLUMNS += ("lying_deliberately", "notes")
_EPS = 1e-6  # seconds: frame times such as 36 / 10 are not exact in binary
_SLACK = 0.05  # seconds a time marked by eye may pass the clip's end


@dataclass(frozen=True)
class ClipLabel:
    """One row of labels.csv: its video, kind and the times marked by eye (seconds, None when empty)."""

    clip: str
    video: Path
    kind: str
    activity: str
    duration_s: float
    fps: float
    width: int
    height: int
    fall_onset_s: float | None
    down_from_s: float | None
    down_until_s: float | None
    lying_deliberately: tuple[float, float] | None
    notes: str
    line: int


def _number(where: str, column: str, text: str, optional: bool = True, integer: bool = False) -> float | None:
    """A number >= 0 from one cell (None for an empty optional cell), or a UsageError naming the cell."""
    if not text.strip() and optional:
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        kind = "a whole number" if integer else "a number of seconds >= 0"
        raise UsageError(f"{where}: {column}={text!r} is not {kind}; fix the cell")
    return value


def _interval(where: str, text: str) -> tuple[float, float] | None:
    """The lying_deliberately cell "start-end" as two seconds (None when empty)."""
    if not text.strip():
        return None
    parts = text.split("-")
    if len(parts) != 2:
        raise UsageError(f"{where}: lying_deliberately={text!r} is not START-END in seconds, like 3.5-9.5")
    start, end = (_number(where, "lying_deliberately", p, optional=False) for p in parts)
    if start > end:
        raise UsageError(f"{where}: lying_deliberately={text!r} ends before it starts; write START-END")
    return start, end


def _label(folder: Path, where: str, line: int, row: dict[str, str]) -> ClipLabel:
    """Check one row of labels.csv (see read_clip_labels) and return it as a ClipLabel."""
    kind = row["kind"].strip()
    if kind not in KINDS:
        raise UsageError(f"{where}: kind={kind!r} is not one of {', '.join(KINDS)}; fix the row")
    video = folder / row["clip"].strip()
    if not row["clip"].strip() or not video.is_file():
        raise MissingFileError(
            f"{where}: clip={row['clip']!r}: {video} not found; fix the path or restore it"
        )
    duration, fps = (_number(where, c, row[c], optional=False) for c in ("duration_s", "fps"))
    width, height = (_number(where, c, row[c], optional=False, integer=True) for c in ("width", "height"))
    times = {c: _number(where, c, row[c]) for c in TIMES}
    onset, down, until = times.values()
    if fps <= 0 or duration <= 0:
        raise UsageError(f"{where}: duration_s={row['duration_s']!r}, fps={row['fps']!r}: both must be > 0")
    if (kind == "fall") != (onset is not None):
        need = "needs fall_onset_s (seconds): fill it" if kind == "fall" else "has fall_onset_s: clear it"
        raise UsageError(f"{where}: fall_onset_s={row['fall_onset_s']!r}: a {kind} row {need} or fix kind")
    for column, value in times.items():
        if value is not None and value > duration + _SLACK:
            raise UsageError(f"{where}: {column}={value!r} is after the clip's end (duration_s={duration!r})")
    for (c1, v1), (c2, v2) in pairwise([(c, v) for c, v in times.items() if v is not None]):
        if v1 > v2:
            raise UsageError(f"{where}: {c1}={v1!r} is after {c2}={v2!r}; the times must not go backwards")
    lying = _interval(where, row["lying_deliberately"])
    return ClipLabel(
        row["clip"].strip(), video, kind, row["activity"].strip(), duration, fps, width, height, onset, down,
        until, lying, row["notes"].strip(), line,
    )  # fmt: skip


def read_clip_labels(folder: str | Path) -> list[ClipLabel]:
    """The checked rows of FOLDER/labels.csv; a bad row raises an error naming its line, column and value."""
    folder = Path(folder)
    path = folder / "labels.csv"
    if not path.is_file():
        raise MissingFileError(
            f"{path} not found: pass a folder of clips with labels.csv ({', '.join(COLUMNS)})"
        )
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UsageError(
                f"{path} line 1: missing columns {missing}; the header needs {', '.join(COLUMNS)}"
            )
        labels, seen = [], {}
        for row in reader:
            where = f"{path} line {reader.line_num}"
            if None in row or None in row.values():
                raise UsageError(f"{where}: {len(reader.fieldnames)} cells expected; quote cells with commas")
            label = _label(folder, where, reader.line_num, row)
            if label.clip in seen:
                raise UsageError(f"{where}: clip={label.clip!r} is on line {seen[label.clip]} too; keep one")
            seen[label.clip] = reader.line_num
            labels.append(label)
    if not labels:
        raise UsageError(f"{path} holds no clip rows; add one row per video")
    return labels


def score_clip_alerts(
    label: ClipLabel,
    alert_times: Sequence[float],
    alert_after: float,
    found_down_after: float,
    last_frame_s: float | None = None,
) -> dict:
    """One clip's outcome (see the module doc) from its long-lie alert times; last_frame_s (the time of the
    last frame played, which decides long_enough) defaults to the clip's duration_s."""
    played = label.duration_s if last_frame_s is None else float(last_frame_s)
    times = sorted(float(t) for t in alert_times)
    row = {
        "clip": label.clip,
        "kind": label.kind,
        "activity": label.activity,
        "last_frame_s": round(played, 6),
    }
    row |= {"n_alerts": len(times), "alerted": bool(times), "first_alert_s": times[0] if times else None}
    row |= {"delay_from_onset_s": None, "delay_from_down_s": None, "long_enough": None}
    if label.kind == "fall":
        down = label.fall_onset_s if label.down_from_s is None else label.down_from_s
        on_fall = [t for t in times if t >= label.fall_onset_s - _EPS]
        early = len(times) - len(on_fall)
        row["long_enough"] = played - down >= alert_after - _EPS
        if on_fall:
            row["delay_from_onset_s"] = round(on_fall[0] - label.fall_onset_s, 6)
            row["delay_from_down_s"] = round(on_fall[0] - down, 6)
        outcome = "early_false_alert" if early else "caught" if on_fall else "missed"
        row |= {"caught": bool(on_fall), "false_alerts": early, "outcome": outcome}
    elif label.kind == "lying_still":
        row["long_enough"] = played - (label.down_from_s or 0.0) >= found_down_after - _EPS
        if times and label.down_from_s is not None:
            row["delay_from_down_s"] = round(times[0] - label.down_from_s, 6)
        outcome = "found_down_alert" if times else "found_down_quiet"
        row |= {"caught": None, "false_alerts": 0, "outcome": outcome}
    else:
        row |= {"caught": None, "false_alerts": len(times), "outcome": "false_alert" if times else "quiet"}
    return row | {"alert_times": times}


class ClipFrames:
    """A video's frames sampled at `fps` (None: every frame) on the video's own clock, replayed until
    loop_seconds (None: once) with timestamps that keep increasing; str() is the video's path."""

    def __init__(
        self, video: str | Path, fps: float | None = None, loop_seconds: float | None = None
    ) -> None:
        """Remember the video; nothing is read until iterated."""
        for name, value in (("fps", fps), ("loop_seconds", loop_seconds)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise UsageError(f"{name}={value!r}: pass a number > 0, or None (every frame, played once)")
        self.video, self.fps, self.loop_seconds = Path(video), fps, loop_seconds
        self.rate = video_fps_of(self.video) or 25.0  # the clock iter_frames gives the video's frames
        self.last_timestamp: float | None = None  # of the last frame yielded

    def __str__(self) -> str:
        return str(self.video)

    def __iter__(self) -> Iterator[Frame]:
        offset, kept = 0.0, 0
        while True:
            n = 0
            for frame in iter_frames(self.video):
                n += 1
                t = offset + frame.timestamp
                if self.loop_seconds is not None and offset > 0 and t >= self.loop_seconds - _EPS:
                    return
                if self.fps is None or t >= kept / self.fps - _EPS:
                    self.last_timestamp = round(t, 6)
                    yield Frame(frame.image, self.last_timestamp, kept, f"{self.video.stem}_{kept:06d}")
                    kept += 1
            offset += n / self.rate
            if self.loop_seconds is None or offset >= self.loop_seconds - _EPS:
                return


def _model_name(model: object) -> str:
    """Where a detector or classifier came from (its file), or its callable's name, for the run settings."""
    source = getattr(model, "fallkd_source", None) or getattr(model, "source", None)
    return str(source) if source is not None else getattr(model, "__qualname__", type(model).__qualname__)


def _run_clip(pipeline: FallPipeline, label: ClipLabel, out: Path, settings: dict, save_video: bool) -> tuple:
    """Run the pipeline on one clip into out, unless out holds a finished run with the same settings (its
    clip_run.json, written last); the long-lie alert times and the time of the last frame."""
    marker, summary = out / "clip_run.json", out / "summary.json"
    run = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else {}
    finished = summary.is_file() and json.loads(summary.read_text(encoding="utf-8")).get("error") is None
    if run.get("settings") != settings or not finished:
        marker.unlink(missing_ok=True)
        frames = ClipFrames(label.video, settings["fps"], settings["loop_seconds"])
        pipeline.run(frames, out, save_video=save_video, progress=False, fps=settings["fps"] or frames.rate)
        run = {"settings": settings, "last_frame_s": frames.last_timestamp}
        write_json_atomic(marker, run)
    alerts = [float(e["time"]) for e in read_event_log(out) if e["kind"] == "long_lie"]
    return alerts, run["last_frame_s"]


def _mean_max(name: str, values: list[float]) -> dict[str, float]:
    """{name_mean, name_max} of values (NaN when there are none)."""
    nan = float("nan")
    mean, top = (statistics.fmean(values), max(values)) if values else (nan, nan)
    return {f"{name}_mean": mean, f"{name}_max": top}


def score_labelled_clips(
    pipeline: FallPipeline,
    folder: str | Path,
    out_dir: str | Path,
    fps: float | None = 5.0,
    loop_seconds: float | None = None,
    progress: bool = True,
    save_video: bool = False,
    loop_kinds: Sequence[str] = ("lying_still",),
) -> dict:
    """Run a FallPipeline on every clip of a labelled folder (into out_dir/<clip stem>/, resuming finished
    clips) and score them; writes out_dir/clip_scores.csv and .json and returns {"clips", "summary"}."""
    from tqdm.auto import tqdm

    labels, out_dir = read_clip_labels(folder), Path(out_dir)
    stems = [Path(label.clip).stem for label in labels]
    if len(set(stems)) != len(stems):
        raise UsageError(f"{folder}: clips share a name {sorted(s for s in stems if stems.count(s) > 1)}")
    state, started, rows = pipeline.config.state, time.perf_counter(), []
    models = {"detector": _model_name(pipeline.detector), "classifier": _model_name(pipeline.classifier)}
    models |= {"config": asdict(pipeline.config), "crop": asdict(pipeline.crop)}
    pairs = list(zip(labels, stems, strict=True))
    for label, stem in tqdm(pairs, desc="clips", unit="clip", disable=not progress):
        loop = loop_seconds if label.kind in loop_kinds and label.duration_s < (loop_seconds or 0) else None
        settings = {
            "clip": label.clip,
            "video_bytes": label.video.stat().st_size,
            "fps": fps,
            "loop_seconds": loop,
        }
        settings = json.loads(json.dumps(settings | models))  # as clip_run.json will hold them
        alerts, last = _run_clip(pipeline, label, out_dir / stem, settings, save_video)
        rows.append(score_clip_alerts(label, alerts, state.alert_after, state.found_down_after, last))
    falls = [r for r in rows if r["kind"] == "fall"]
    daily = [r for r in rows if r["kind"] == "daily_activity"]
    lying = [r for r in rows if r["kind"] == "lying_still"]
    summary = {
        "clips": len(rows),
        "falls": len(falls),
        "falls_alerted": sum(r["caught"] for r in falls),
        "falls_long_enough": sum(r["long_enough"] for r in falls),
        "falls_early_false_alert": sum(r["outcome"] == "early_false_alert" for r in falls),
        **_mean_max("delay_from_onset", [r["delay_from_onset_s"] for r in falls if r["caught"]]),
        **_mean_max("delay_from_down", [r["delay_from_down_s"] for r in falls if r["caught"]]),
        "daily_activities": len(daily),
        "daily_false_alerts": sum(r["alerted"] for r in daily),
        "lying_still": len(lying),
        "lying_still_alerted": sum(r["alerted"] for r in lying),
        "lying_still_long_enough": sum(r["long_enough"] for r in lying),
        "alert_after": state.alert_after,
        "found_down_after": state.found_down_after,
        "fps": fps,
        "loop_seconds": loop_seconds,
        "seconds": round(time.perf_counter() - started, 3),
    }
    result = {"clips": rows, "summary": summary}
    write_json_atomic(out_dir / "clip_scores.json", result)
    write_text_atomic(out_dir / "clip_scores.csv", clip_scores_table(result).to_csv())
    return result


def clip_scores_table(result: dict) -> pd.DataFrame:
    """One row per clip of score_labelled_clips' result (alert times joined by ';'), indexed by clip."""
    rows = [r | {"alert_times": ";".join(f"{t:g}" for t in r["alert_times"])} for r in result["clips"]]
    return pd.DataFrame(rows).set_index("clip")


def clip_scores_verdict(summary: dict) -> str:
    """One line: falls alerted with the mean delay, daily activities alerted, lying-still clips alerted."""
    s, delay = summary, summary["delay_from_onset_mean"]
    return (
        f"falls alerted {s['falls_alerted']}/{s['falls']} (mean delay from onset "
        + ("n/a" if delay != delay else f"{delay:.1f} s")
        + f", {s['falls'] - s['falls_long_enough']} too short for alert_after {s['alert_after']:g} s), "
        f"daily activities alerted {s['daily_false_alerts']}/{s['daily_activities']}, lying still alerted "
        f"{s['lying_still_alerted']}/{s['lying_still']} ({s['lying_still'] - s['lying_still_long_enough']} "
        f"shorter than found_down_after {s['found_down_after']:g} s)"
    )
