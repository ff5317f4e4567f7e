"""Short synthetic video clips with per-frame and event ground truth, to score a fall-alert pipeline per event.

    from fallkd_lib.data.synthetic.clips import generate_clip
    info = generate_clip("eval/fall_stay_00", "fall_stay", seconds=20, fps=10)  # eval/fall_stay_00.mp4 + .json

Scenarios: "fall_stay" (walks, falls, lies still to the end: must alert), "fall_recover" (falls, lies ~3 s, gets up:
must alert once with the default 2 s alert_after, not with an alert_after longer than its time down), "sit"
(sits down on a bench or the ground for good: a hard negative), "walk" (one or two people pace about) and "crowd"
(two or three people, one falls and stays down).
The backdrop is drawn once per clip and people are pasted per frame (`clip_scene`) from scripted poses over time
(`motion`). A frame's label comes from the drawn body (a fall once it tilts `motion.FALL_TILT` degrees or more),
and an event's onset is the first frame labelled a fall. OUT.json holds fps, size, scenario, seed, the people,
the events and, per frame, each visible person's id, box xyxy in pixels (x1, y1 exclusive), posture and is_fall.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fallkd_lib.data.synthetic.background import Camera
from fallkd_lib.data.synthetic.clip_scene import Actor, make_actors, render_frames
from fallkd_lib.data.synthetic.motion import FALL_TILT
from fallkd_lib.data.synthetic.scene import SPECS, STYLES, check_style
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import tmp_path_for, write_text_atomic

SCENARIOS = ("fall_stay", "fall_recover", "sit", "walk", "crowd")
MIN_SECONDS = {"fall_stay": 4.0, "fall_recover": 8.0, "sit": 4.0, "walk": 1.0, "crowd": 4.0}
CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
TRUTH_KEYS = ("scenario", "seed", "style", "fps", "size", "n_frames", "people", "events", "frames")


@dataclass(frozen=True)
class ClipInfo:
    """One written clip: its video and ground-truth paths, length, frame rate and events."""

    video: Path
    truth: Path
    scenario: str
    seed: int
    n_frames: int
    fps: float
    size: int
    events: list[dict]
    elapsed: float  # seconds spent rendering and writing (0 when an existing clip was reused)


def _number(name: str, value: object, lo: float, hi: float, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= float(value) <= hi:
        raise UsageError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}; {hint}")
    return float(value)


def _check(
    scenario: str, seconds: float, fps: float, size: int, seed: int, style: str
) -> tuple[float, float]:
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown clip scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
    check_style(style)
    fps = _number("fps", fps, 0.5, 120.0, "e.g. 10 (a desktop) or 2.5 (a busy Jetson)")
    least = MIN_SECONDS[scenario]
    seconds = _number("seconds", seconds, least, 3600.0, f"scenario {scenario!r} needs at least {least:g} s")
    if isinstance(size, bool) or not isinstance(size, int) or size < 64 or size % 2:
        raise UsageError(f"size must be an even whole number of pixels >= 64 (video codecs), got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")
    return seconds, fps


def _paths(out: str | Path) -> tuple[Path, Path, str]:
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix and suffix not in CODECS:
        raise UsageError(f"{out}: the video suffix must be one of {', '.join(CODECS)} (or none, for .mp4)")
    video = out if suffix else out.with_name(out.name + ".mp4")
    return video, video.with_suffix(".json"), CODECS[video.suffix.lower()]


def _first(frames: list[dict], pid: int, start: int, want_fall: bool) -> int | None:
    for i in range(max(0, start), len(frames)):
        for p in frames[i]["people"]:
            if p["id"] == pid and p["is_fall"] == want_fall:
                return i
    return None


def _events(actors: list[Actor], frames: list[dict], fps: float) -> list[dict]:
    """Fall and sit events per person, in frame times (seconds), read off the per-frame labels."""

    def at(i: int | None) -> float | None:
        return None if i is None else round(i / fps, 6)

    def frame_of(t: float) -> int:
        return math.ceil(t * fps - 1e-6)

    events = []
    for a in actors:
        m = a.track.marks
        if "fall_start" in m:
            onset = _first(frames, a.pid, frame_of(m["fall_start"]), True)
            recover = _first(frames, a.pid, frame_of(m["getup_start"]), False) if "getup_start" in m else None
            end = recover if recover is not None else len(frames)
            event = {"person": a.pid, "kind": "fall", "start": round(m["fall_start"], 6), "onset": at(onset)}
            event |= {"down": at(frame_of(m["fall_end"])), "gets_up": recover is not None}
            event |= {
                "recover": at(recover),
                "up": at(frame_of(m["getup_end"])) if "getup_end" in m else None,
            }
            event["down_seconds"] = None if onset is None else round((end - onset) / fps, 6)
            events.append(event)
        if "sit_start" in m:
            event = {"person": a.pid, "kind": "sit", "start": round(m["sit_start"], 6)}
            event |= {"seated": at(frame_of(m["sit_end"])), "support": "bench" if a.bench else "ground"}
            events.append(event)
    return events


def _atomic_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=1))


def generate_clip(
    out: str | Path,
    scenario: str,
    seconds: float = 20.0,
    fps: float = 10.0,
    size: int = 320,
    seed: int = 0,
    style: str = "park",
) -> ClipInfo:
    """Render one scenario clip to OUT.mp4 (or OUT.avi, MJPG) and its ground truth to OUT.json; same seed, same clip."""
    seconds, fps = _check(scenario, seconds, fps, size, seed, style)
    video, truth_path, codec = _paths(out)
    video.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario), STYLES.index(style)])
    spec = SPECS[style]
    camera = Camera(float(rng.uniform(*spec.horizon)), float(rng.uniform(*spec.person_scale)))
    actors = make_actors(rng, scenario, camera, size, seconds, style)
    n_frames = max(1, round(seconds * fps))
    tmp = tmp_path_for(video)  # a stream of frames: written in place, moved when complete
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), fps, (size, size))
    if not writer.isOpened():
        raise UsageError(
            f"cv2.VideoWriter could not open {tmp} with codec {codec!r}: this OpenCV build lacks it; "
            f"try the other container ({', '.join(f'{k} = {v}' for k, v in CODECS.items())})"
        )
    frames = []
    try:
        for i, (frame, people) in enumerate(render_frames(rng, camera, size, style, actors, n_frames, fps)):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            frames.append({"index": i, "time": round(i / fps, 6), "people": people})
        writer.release()
        os.replace(tmp, video)
    finally:
        writer.release()
        tmp.unlink(missing_ok=True)
    events = _events(actors, frames, fps)
    people = [{"id": a.pid, "role": a.role, "height_px": round(a.track.s, 2)} for a in actors]
    truth = {"format": "fallkd-clip", "version": 1, "video": video.name, "scenario": scenario, "seed": seed}
    truth |= {"style": style, "fps": fps, "size": size, "seconds": seconds, "n_frames": n_frames}
    truth |= {"fall_tilt": FALL_TILT, "people": people, "events": events, "frames": frames}
    _atomic_json(truth_path, truth)
    elapsed = time.perf_counter() - start
    return ClipInfo(video, truth_path, scenario, seed, n_frames, fps, size, events, elapsed)


def read_clip_truth(json_path: str | Path) -> dict:
    """The ground truth a clip's JSON holds, checked for the keys a scorer needs."""
    path = Path(json_path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no clip ground truth there; write one with generate_clip(...)")
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UsageError(
            f"{path}: line {err.lineno}: not valid JSON ({err.msg}); regenerate the clip"
        ) from err
    missing = [k for k in TRUTH_KEYS if not isinstance(truth, dict) or k not in truth]
    if missing:
        raise UsageError(
            f"{path}: not a clip ground truth, missing {', '.join(missing)}; regenerate the clip"
        )
    if len(truth["frames"]) != truth["n_frames"]:
        raise UsageError(f"{path}: {len(truth['frames'])} frames listed but n_frames is {truth['n_frames']}")
    return truth


def generate_clip_set(
    out_dir: str | Path,
    per_scenario: int = 2,
    seconds: float = 20.0,
    fps: float = 10.0,
    size: int = 320,
    seed: int = 0,
    style: str = "park",
    progress: bool = True,
) -> list[ClipInfo]:
    """Write `per_scenario` clips of every scenario as OUT_DIR/<scenario>_<k:02d>.mp4/.json (clip seed
    seed * 1000 + k); clips already there with the same settings are kept, not rendered again."""
    if isinstance(per_scenario, bool) or not isinstance(per_scenario, int) or not 1 <= per_scenario <= 1000:
        raise UsageError(f"per_scenario must be a whole number in [1, 1000], got {per_scenario!r}")
    root, infos = Path(out_dir), []
    jobs = [(sc, k) for sc in SCENARIOS for k in range(per_scenario)]
    for scenario, k in tqdm(jobs, desc="clips", unit="clip", disable=not progress):
        clip_seed, out = seed * 1000 + k, root / f"{scenario}_{k:02d}"
        video, truth_path, _ = _paths(out)
        if video.is_file() and truth_path.is_file():
            old = read_clip_truth(truth_path)
            asked = {"scenario": scenario, "seed": clip_seed, "style": style, "fps": float(fps), "size": size}
            if {key: old.get(key) for key in asked} == asked and old.get("seconds") == float(seconds):
                kept = (old["n_frames"], old["fps"], size, old["events"], 0.0)
                infos.append(ClipInfo(video, truth_path, scenario, clip_seed, *kept))
                continue
        infos.append(generate_clip(out, scenario, seconds, fps, size, clip_seed, style))
    return infos
