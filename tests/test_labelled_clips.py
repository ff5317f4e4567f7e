"""Labelled real clips: labels.csv checks (line, column and value in every error), per-clip outcomes
worked out by hand, the pipeline on tiny generated videos with stand-in models (exact outcomes, resume),
looped lying-still clips, the real assist_iot_falls labels, and `fallkd score-clips`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATASETS, save_untrained_classifier

from fallkd_lib.cli import main
from fallkd_lib.config import FallStateConfig, PipelineConfig
from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.runtime.labelled_clips import (
    COLUMNS,
    ClipFrames,
    ClipLabel,
    clip_scores_table,
    clip_scores_verdict,
    read_clip_labels,
    score_clip_alerts,
    score_labelled_clips,
)
from fallkd_lib.runtime.pipeline import FallPipeline

DARK, BRIGHT = 30, 220  # pixel values: the stand-in classifier calls a bright crop a fall
STATE = FallStateConfig(smoothing=0.0, alert_after=1.0, found_down_after=4.0)
CROP = CropSpec(32, 0.1)
HEADER = ",".join(COLUMNS)


def write_video(path: Path, values: list[int], fps: float = 10.0, size: int = 64) -> Path:
    """A grey mp4v clip, one frame per value (its brightness)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    for value in values:
        writer.write(np.full((size, size, 3), value, np.uint8))
    writer.release()
    return path


def write_labels(folder: Path, rows: list[str], header: str = HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return folder


class StandIn:
    """One person (track 1) in every frame: upright (8..56) on a dark frame, lying (40..56: the top drops 32 px,
    over fall_drop 0.4 of 48, a seen fall) on a bright one; fall probability 0.95 on a bright crop, else 0.05."""

    def __init__(self) -> None:
        self.calls = 0

    def detector(self, frame) -> np.ndarray:
        self.calls += 1
        top = 40.0 if frame.image.mean() > 128 else 8.0
        return np.array([[8.0, top, 56.0, 56.0, 0.9, 1.0]])

    def classifier(self, crops: np.ndarray) -> np.ndarray:
        return np.array([0.95 if crop.mean() > 128 else 0.05 for crop in crops])


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """10 fps: a fall (dark 1 s, then bright 2 s), a daily activity (dark 2 s), lying still (bright 2 s)."""
    folder = tmp_path / "clips"
    write_video(folder / "videos" / "fall.mp4", [DARK] * 10 + [BRIGHT] * 20)
    write_video(folder / "videos" / "walk.mp4", [DARK] * 20)
    write_video(folder / "videos" / "lying.mp4", [BRIGHT] * 20)
    return write_labels(
        folder,
        [
            "videos/fall.mp4,fall,faint,3.0,10,64,64,1.0,1.2,3.0,,lies still to the end",
            "videos/walk.mp4,daily_activity,walking,2.0,10,64,64,,,,,",
            'videos/lying.mp4,lying_still,on the back,2.0,10,64,64,,0.0,2.0,,"already down, no fall"',
        ],
    )


# ------------------------------------------------------------------ labels.csv


def test_read_clip_labels_parses_every_column(clips: Path) -> None:
    fall, walk, lying = read_clip_labels(clips)
    assert fall == ClipLabel(
        "videos/fall.mp4", clips / "videos/fall.mp4", "fall", "faint", 3.0, 10.0, 64, 64, 1.0, 1.2, 3.0, None,
        "lies still to the end", 2,
    )  # fmt: skip
    assert (walk.kind, walk.fall_onset_s, walk.down_from_s, walk.line) == ("daily_activity", None, None, 3)
    assert (lying.down_from_s, lying.notes, lying.line) == (0.0, "already down, no fall", 4)


GOOD = "videos/walk.mp4,daily_activity,walking,2.0,10,64,64,,,,,"


@pytest.mark.parametrize(
    ("row", "error", "message"),
    [
        (
            "videos/walk.mp4,stumble,x,2.0,10,64,64,,,,,",
            UsageError,
            "line 3: kind='stumble' is not one of fall,",
        ),
        ("videos/nope.mp4,fall,x,2.0,10,64,64,1.0,,,,", MissingFileError, "line 3: clip='videos/nope.mp4': "),
        (
            "videos/fall.mp4,fall,x,abc,10,64,64,1.0,,,,",
            UsageError,
            "line 3: duration_s='abc' is not a number",
        ),
        ("videos/fall.mp4,fall,x,3.0,10,64.5,64,1.0,,,,", UsageError, "line 3: width='64.5' is not a whole"),
        (
            "videos/fall.mp4,fall,x,3.0,10,64,64,-1,,,,",
            UsageError,
            "line 3: fall_onset_s='-1' is not a number",
        ),
        (
            "videos/fall.mp4,fall,x,3.0,10,64,64,,1.2,,,",
            UsageError,
            "line 3: fall_onset_s='': a fall row needs",
        ),
        (
            "videos/fall.mp4,fall,x,3.0,10,64,64,2.5,1.0,,,",
            UsageError,
            "line 3: fall_onset_s=2.5 is after down_",
        ),
        (
            "videos/fall.mp4,fall,x,3.0,10,64,64,1.0,,9.0,,",
            UsageError,
            "line 3: down_until_s=9.0 is after the cl",
        ),
        (
            "videos/fall.mp4,fall,x,0,10,64,64,0,,,,",
            UsageError,
            "line 3: duration_s='0', fps='10': both must",
        ),
        ("videos/fall.mp4,daily_activity,x,3.0,10,64,64,1.0,,,,", UsageError, "fall_onset_s='1.0': a daily_"),
        (
            "videos/fall.mp4,daily_activity,x,3.0,10,64,64,,,,1to2,",
            UsageError,
            "line 3: lying_deliberately='1to",
        ),
        ("videos/fall.mp4,daily_activity,x,3.0,10,64,64,,,,2-1,", UsageError, "='2-1' ends before it starts"),
        ("videos/fall.mp4,daily_activity,x,3.0,10,64,64,,,,", UsageError, "line 3: 12 cells expected"),
        (GOOD, UsageError, "line 3: clip='videos/walk.mp4' is on line 2 too"),
    ],
)
def test_a_bad_row_names_its_line_column_and_value(clips: Path, row: str, error: type, message: str) -> None:
    write_labels(clips, [GOOD, row])
    with pytest.raises(error, match=re.escape(message)) as info:
        read_clip_labels(clips)
    assert str(clips / "labels.csv") in str(info.value)


def test_missing_labels_or_columns_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(
        MissingFileError, match=re.escape(f"{tmp_path / 'labels.csv'} not found: pass a folder")
    ):
        read_clip_labels(tmp_path)
    write_labels(tmp_path, [], header=HEADER.removesuffix(",notes"))
    with pytest.raises(UsageError, match=re.escape("line 1: missing columns ['notes']")):
        read_clip_labels(tmp_path)
    write_labels(tmp_path, [])
    with pytest.raises(UsageError, match="holds no clip rows"):
        read_clip_labels(tmp_path)


# ------------------------------------------------------------------ scoring by hand


def label(kind: str, duration: float, onset: float | None = None, down: float | None = None) -> ClipLabel:
    return ClipLabel(
        "c.mp4", Path("c.mp4"), kind, "x", duration, 30.0, 64, 64, onset, down, None, None, "", 2
    )


def pick(row: dict, *keys: str) -> tuple:
    return tuple(row[k] for k in keys)


def test_a_fall_is_caught_with_exact_delays_or_missed_when_too_short() -> None:
    faint = label("fall", 15.1, onset=2.5, down=4.0)  # assist_iot_falls 05: down for 11.1 s
    row = score_clip_alerts(faint, [14.1], alert_after=10.0, found_down_after=30.0)
    assert pick(row, "outcome", "caught", "false_alerts", "long_enough") == ("caught", True, 0, True)
    assert pick(row, "first_alert_s", "delay_from_onset_s", "delay_from_down_s") == (14.1, 11.6, 10.1)
    row = score_clip_alerts(faint, [2.5], alert_after=10.0, found_down_after=30.0)
    assert pick(row, "outcome", "delay_from_onset_s", "delay_from_down_s") == ("caught", 0.0, -1.5)
    knees = label("fall", 9.07, onset=1.2, down=2.2)  # assist_iot_falls 07: down for 6.87 s < alert_after
    row = score_clip_alerts(knees, [], alert_after=10.0, found_down_after=30.0)
    assert pick(row, "outcome", "alerted", "long_enough", "delay_from_onset_s") == (
        "missed",
        False,
        False,
        None,
    )
    row = score_clip_alerts(label("fall", 9.0, onset=1.0), [3.5], alert_after=2.0, found_down_after=30.0)
    assert pick(row, "delay_from_onset_s", "delay_from_down_s", "long_enough") == (
        2.5,
        2.5,
        True,
    )  # down = onset


def test_alerts_before_the_onset_are_false() -> None:
    faint = label("fall", 15.1, onset=2.5, down=4.0)
    row = score_clip_alerts(faint, [14.5, 1.0], alert_after=10.0, found_down_after=30.0)  # unsorted
    assert pick(row, "alert_times", "n_alerts", "first_alert_s") == ([1.0, 14.5], 2, 1.0)
    assert pick(row, "outcome", "caught", "false_alerts", "delay_from_onset_s") == (
        "early_false_alert",
        True,
        1,
        12.0,
    )
    row = score_clip_alerts(faint, [2.4], alert_after=10.0, found_down_after=30.0)
    assert pick(row, "outcome", "caught", "false_alerts", "delay_from_onset_s") == (
        "early_false_alert",
        False,
        1,
        None,
    )


def test_daily_activities_and_lying_still() -> None:
    walk = label("daily_activity", 5.0)
    row = score_clip_alerts(walk, [], 10.0, 30.0)
    assert pick(row, "outcome", "n_alerts", "false_alerts", "first_alert_s") == ("quiet", 0, 0, None)
    row = score_clip_alerts(walk, [3.0, 5.0], 10.0, 30.0)
    assert pick(row, "outcome", "n_alerts", "false_alerts", "long_enough") == ("false_alert", 2, 2, None)
    back = label("lying_still", 4.17, down=0.0)  # assist_iot_falls imm clips: 4.17 s < found_down_after
    row = score_clip_alerts(back, [], alert_after=10.0, found_down_after=30.0)
    assert pick(row, "outcome", "long_enough", "last_frame_s") == ("found_down_quiet", False, 4.17)
    row = score_clip_alerts(back, [30.2], alert_after=10.0, found_down_after=30.0, last_frame_s=39.8)
    assert pick(row, "outcome", "long_enough", "delay_from_down_s", "false_alerts") == (
        "found_down_alert",
        True,
        30.2,
        0,
    )


# ------------------------------------------------------------------ the pipeline on tiny clips


def test_score_labelled_clips_end_to_end_and_resume(clips: Path, tmp_path: Path) -> None:
    stand_in = StandIn()
    pipeline = FallPipeline(stand_in.detector, stand_in.classifier, PipelineConfig(state=STATE), crop=CROP)
    out = tmp_path / "scores"
    result = score_labelled_clips(pipeline, clips, out, fps=5.0, progress=False)
    assert stand_in.calls == 15 + 10 + 10  # 3 s + 2 s + 2 s at 5 fps
    fall, walk, lying = result["clips"]
    # dark until 1.0 s: the fall starts at 1.0 (smoothing off) and alerts alert_after = 1 s later
    assert pick(fall, "outcome", "alert_times", "delay_from_onset_s", "delay_from_down_s") == (
        "caught",
        [2.0],
        1,
        0.8,
    )
    assert pick(fall, "last_frame_s", "long_enough") == (2.8, True)
    assert pick(walk, "outcome", "n_alerts") == ("quiet", 0)
    # down from its first frame: waits found_down_after = 4 s, but the clip ends at 1.8 s
    assert pick(lying, "outcome", "long_enough", "last_frame_s") == ("found_down_quiet", False, 1.8)
    summary = result["summary"]
    assert pick(summary, "falls", "falls_alerted", "daily_activities", "daily_false_alerts") == (1, 1, 1, 0)
    assert pick(summary, "delay_from_onset_mean", "delay_from_onset_max", "delay_from_down_max") == (
        1,
        1,
        0.8,
    )
    assert pick(summary, "lying_still", "lying_still_alerted", "lying_still_long_enough") == (1, 0, 0)
    verdict = clip_scores_verdict(summary)
    assert verdict.startswith(
        "falls alerted 1/1 (mean delay from onset 1.0 s, 0 too short for alert_after 1 s)"
    )
    assert verdict.endswith("lying still alerted 0/1 (1 shorter than found_down_after 4 s)")
    assert list(clip_scores_table(result).index) == ["videos/fall.mp4", "videos/walk.mp4", "videos/lying.mp4"]
    csv_lines = (out / "clip_scores.csv").read_text().splitlines()
    assert csv_lines[1].startswith("videos/fall.mp4,fall,faint,2.8,1,") and csv_lines[1].endswith(",caught,2")
    assert json.loads((out / "clip_scores.json").read_text())["clips"][0]["alert_times"] == [2.0]
    assert json.loads((out / "fall" / "summary.json").read_text())["source"] == str(clips / "videos/fall.mp4")

    stand_in.calls = 0
    again = score_labelled_clips(pipeline, clips, out, fps=5.0, progress=False)
    assert stand_in.calls == 0 and again["clips"] == result["clips"]  # every clip resumed, scored the same
    looped = score_labelled_clips(pipeline, clips, out, fps=5.0, loop_seconds=6.0, progress=False)
    assert stand_in.calls == 30  # only the lying-still clip runs again: 6 s at 5 fps
    lying = looped["clips"][2]
    assert pick(lying, "outcome", "alert_times", "long_enough", "last_frame_s") == (
        "found_down_alert",
        [4.0],
        1,
        5.8,
    )
    assert looped["clips"][:2] == result["clips"][:2]


def test_a_looped_clip_keeps_its_clock_and_lets_the_found_down_wait_pass(tmp_path: Path) -> None:
    video = write_video(tmp_path / "lying.mp4", [BRIGHT] * 20)  # 2 s at 10 fps
    frames = list(ClipFrames(video, fps=None, loop_seconds=12.0))
    assert [f.timestamp for f in frames] == [round(i / 10, 6) for i in range(120)]  # increasing, last 11.9 s
    assert [f.index for f in frames] == list(range(120)) and frames[-1].name == "lying_000119"
    assert [f.timestamp for f in ClipFrames(video, fps=5.0, loop_seconds=12.0)] == [i / 5 for i in range(60)]
    assert [f.timestamp for f in ClipFrames(video, fps=4.0)] == [0.0, 0.3, 0.5, 0.8, 1.0, 1.3, 1.5, 1.8]
    stand_in = StandIn()
    state = FallStateConfig(smoothing=0.0, alert_after=1.0, found_down_after=8.0)
    pipeline = FallPipeline(stand_in.detector, stand_in.classifier, PipelineConfig(state=state), crop=CROP)
    summary = pipeline.run(
        ClipFrames(video, loop_seconds=12.0), tmp_path / "out", save_video=False, progress=False
    )
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["time"]) for e in events] == [("fall_started", 0.0), ("long_lie", 8.0)]
    assert summary["frames"] == 120 and summary["alerts"] == 1
    with pytest.raises(UsageError, match="loop_seconds=0"):
        ClipFrames(video, loop_seconds=0)


@pytest.mark.realdata
def test_assist_iot_falls_labels() -> None:
    folder = SHARED_DATASETS / "assist_iot_falls"
    if not (folder / "labels.csv").is_file():
        pytest.skip(f"{folder} not found")
    labels = read_clip_labels(folder)
    kinds = [label.kind for label in labels]
    assert (len(labels), kinds.count("fall"), kinds.count("lying_still"), kinds.count("daily_activity")) == (
        22,
        2,
        2,
        18,
    )
    assert all(label.video.is_file() for label in labels)
    by_name = {Path(label.clip).stem: label for label in labels}
    knees = by_name["07_fall_to_knees_forward"]
    assert (knees.fall_onset_s, knees.down_from_s, knees.duration_s) == (1.2, 2.2, 9.07)
    assert by_name["11_sitting_laying_down_slowly"].lying_deliberately == (3.5, 9.5)


# ------------------------------------------------------------------ fallkd score-clips


def test_cli_missing_folder_is_one_line(tmp_path: Path, capsys) -> None:
    args = ["--detector", "d.onnx", "--classifier", "c.pt", "--out", str(tmp_path / "out")]
    assert main(["score-clips", str(tmp_path / "nothing"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "labels.csv not found" in err and "nothing" in err
    assert not (tmp_path / "out").exists()


def test_cli_missing_classifier_names_the_path(clips: Path, tmp_path: Path, capsys) -> None:
    from fallkd_lib.runtime.loaders import shipped_detector

    args = ["--detector", str(shipped_detector()), "--classifier", str(tmp_path / "no_run")]
    assert main(["score-clips", str(clips), *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"classifier {tmp_path / 'no_run'} not found" in err


@pytest.mark.slow  # ~9 s: ultralytics, torch and a resnet18 on 70 frames
def test_cli_prints_a_row_per_clip_and_the_verdict(clips: Path, tmp_path: Path, capsys) -> None:
    from fallkd_lib.runtime.loaders import shipped_detector

    classifier = save_untrained_classifier(tmp_path / "cls")  # real loaders; its outcomes are not the point
    args = [
        "--detector",
        str(shipped_detector()),
        "--classifier",
        str(classifier),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(["score-clips", str(clips), *args, "--fps", "0", "--set", "state.alert_after=1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"3 clips in {clips}, sampled at their own fps"
    rows = [line.split()[:2] for line in lines if line.startswith("videos/")]
    assert rows == [
        ["videos/fall.mp4", "fall"],
        ["videos/walk.mp4", "daily_activity"],
        ["videos/lying.mp4", "lying_still"],
    ]
    verdict = next(line for line in lines if line.startswith("falls alerted "))
    assert "/1 (mean delay from onset " in verdict and "daily activities alerted " in verdict
    assert "too short for alert_after 1 s" in verdict and "(1 shorter than found_down_after" in verdict
    scores = json.loads((tmp_path / "o" / "clip_scores.json").read_text())
    assert (
        scores["summary"]["fps"] is None and scores["clips"][0]["last_frame_s"] == 2.9
    )  # every frame at 10 fps
