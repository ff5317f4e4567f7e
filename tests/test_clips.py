"""Synthetic video clips: the files, determinism, ground truth that matches the scenario, and errors that teach."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from fallkd_lib.data.synthetic import clip_scene
from fallkd_lib.data.synthetic.clips import (
    SCENARIOS,
    ClipInfo,
    generate_clip,
    generate_clip_set,
    read_clip_truth,
)
from fallkd_lib.data.synthetic.figure import Pose, render_figure
from fallkd_lib.data.synthetic.motion import FALL_TILT, STRIDE, Gait, Script, body_tilt
from fallkd_lib.data.synthetic.poses import FALL_POSTURES, POSTURES, sample_look, sample_pose

SIZE, FPS = 160, 5.0
SECONDS = {"fall_stay": 8.0, "fall_recover": 8.0, "sit": 6.0, "walk": 6.0, "crowd": 6.0}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, tuple[ClipInfo, dict]]:
    root = tmp_path_factory.mktemp("clips")
    out = {}
    for scenario, seconds in SECONDS.items():
        info = generate_clip(root / scenario, scenario, seconds=seconds, fps=FPS, size=SIZE, seed=1)
        out[scenario] = (info, read_clip_truth(info.truth))
    return out


def _decoded(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def _person_frames(truth: dict, pid: int) -> list[tuple[float, dict]]:
    return [(f["time"], p) for f in truth["frames"] for p in f["people"] if p["id"] == pid]


def test_files_and_video_properties(clips):
    assert SCENARIOS == ("fall_stay", "fall_recover", "sit", "walk", "crowd")
    info, truth = clips["fall_stay"]
    assert info.video.name == "fall_stay.mp4" and info.truth.name == "fall_stay.json"
    assert info.n_frames == 40 and info.fps == 5.0 and info.size == SIZE and info.seed == 1
    assert not list(info.video.parent.glob(".*"))  # no temporary files left behind
    cap = cv2.VideoCapture(str(info.video))
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (SIZE, SIZE)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)
    cap.release()
    assert len(_decoded(info.video)) == 40
    assert (truth["fps"], truth["size"], truth["scenario"], truth["seed"], truth["n_frames"]) == (
        5.0,
        SIZE,
        "fall_stay",
        1,
        40,
    )
    assert [f["index"] for f in truth["frames"]] == list(range(40))
    assert [f["time"] for f in truth["frames"]] == [round(i / 5.0, 6) for i in range(40)]
    assert truth["events"] == info.events and truth["fall_tilt"] == FALL_TILT


def test_same_seed_same_clip_other_seed_other_clip(tmp_path, clips):
    info, _ = clips["fall_recover"]
    again = generate_clip(tmp_path / "a" / "fall_recover", "fall_recover", 8.0, FPS, SIZE, seed=1)
    assert again.truth.read_text() == info.truth.read_text()
    first, second = _decoded(info.video), _decoded(again.video)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[-1], second[-1])
    other = generate_clip(tmp_path / "b" / "fall_recover", "fall_recover", 8.0, FPS, SIZE, seed=2)
    assert json.loads(other.truth.read_text())["frames"] != json.loads(info.truth.read_text())["frames"]
    assert not np.array_equal(_decoded(other.video)[0], first[0])


def test_boxes_lie_inside_the_frame_and_labels_are_postures(clips):
    for scenario, (_, truth) in clips.items():
        ids = {p["id"] for p in truth["people"]}
        for frame in truth["frames"]:
            assert [p["id"] for p in frame["people"]] == sorted({p["id"] for p in frame["people"]})
            for p in frame["people"]:
                x0, y0, x1, y1 = p["box"]
                assert 0 <= x0 < x1 <= SIZE and 0 <= y0 < y1 <= SIZE, (scenario, frame["index"], p)
                assert p["posture"] in POSTURES and p["is_fall"] == (p["posture"] in FALL_POSTURES)
                assert p["id"] in ids and 0.0 <= p["visible"] <= 1.0


def test_fall_stay_truth(clips):
    info, truth = clips["fall_stay"]
    (event,) = truth["events"]
    assert event["kind"] == "fall" and event["gets_up"] is False and event["recover"] is None
    assert 1.0 <= event["start"] <= 0.25 * 8.0  # walks for 15-25 % of the clip, at least 1 s
    assert event["start"] <= event["onset"] <= event["start"] + 1.1 + 1 / FPS
    assert event["onset"] <= event["down"] <= event["start"] + 1.1 + 1 / FPS
    assert event["down_seconds"] == pytest.approx(8.0 - event["onset"])
    seen = _person_frames(truth, event["person"])
    assert seen[-1][0] == pytest.approx(7.8)  # still in view, on the ground, at the end
    for t, p in seen:
        if t < event["start"]:
            assert p["posture"] == "walking" and not p["is_fall"]
        assert p["is_fall"] == (t >= event["onset"] - 1e-9)  # down from the onset to the end
    assert seen[-1][1]["posture"] in ("lying", "crumpled")


def test_fall_recover_truth(clips):
    _, truth = clips["fall_recover"]
    (event,) = truth["events"]
    assert event["gets_up"] is True
    assert event["onset"] < event["down"] < event["recover"] <= event["up"] < 8.0
    assert event["down_seconds"] == pytest.approx(event["recover"] - event["onset"])
    assert event["down_seconds"] < 10.0  # with alert_after = 10 s: no alert (with the default 2 s: one)
    for t, p in _person_frames(truth, event["person"]):
        assert p["is_fall"] == (event["onset"] - 1e-9 <= t < event["recover"] - 1e-9)
    assert not truth["frames"][-1]["people"][0]["is_fall"]


def test_sit_never_falls_and_ends_seated(clips):
    _, truth = clips["sit"]
    (event,) = truth["events"]
    assert event["kind"] == "sit" and event["support"] in ("bench", "ground")
    assert event["start"] < event["seated"] <= 6.0
    postures = [p["posture"] for _, p in _person_frames(truth, 0)]
    assert not any(p["is_fall"] for f in truth["frames"] for p in f["people"])
    assert postures[-1] == "sitting" and "walking" in postures


def test_walk_and_crowd_truth(clips):
    _, walk = clips["walk"]
    assert walk["events"] == [] and 1 <= len(walk["people"]) <= 2
    assert not any(p["is_fall"] for f in walk["frames"] for p in f["people"])
    _, crowd = clips["crowd"]
    assert 2 <= len(crowd["people"]) <= 3
    (event,) = crowd["events"]
    faller = event["person"]
    assert [p["role"] for p in crowd["people"]].count("faller") == 1
    assert crowd["people"][faller]["role"] == "faller" and event["gets_up"] is False
    fallen = {p["id"] for f in crowd["frames"] for p in f["people"] if p["is_fall"]}
    assert fallen == {faller}


def test_avi_uses_mjpg(tmp_path):
    info = generate_clip(tmp_path / "walk.avi", "walk", seconds=2.0, fps=FPS, size=96, seed=0)
    assert info.video.suffix == ".avi" and info.truth == tmp_path / "walk.json"
    cap = cv2.VideoCapture(str(info.video))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
    assert "".join(chr((fourcc >> 8 * i) & 0xFF) for i in range(4)) == "MJPG"
    cap.release()
    assert len(_decoded(info.video)) == 10


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(
        ValueError, match="unknown clip scenario 'jump'.*fall_stay, fall_recover, sit, walk, crowd"
    ):
        generate_clip(tmp_path / "x", "jump")
    for fps in (0, -1.0, math.nan, math.inf, True, "10"):
        with pytest.raises(ValueError, match="fps must be a number"):
            generate_clip(tmp_path / "x", "walk", seconds=2.0, fps=fps)
    for seconds in (0, -3.0, math.nan):
        with pytest.raises(ValueError, match="seconds must be a number"):
            generate_clip(tmp_path / "x", "walk", seconds=seconds)
    with pytest.raises(ValueError, match="needs at least 8 s"):
        generate_clip(tmp_path / "x", "fall_recover", seconds=5.0)
    with pytest.raises(ValueError, match="even whole number"):
        generate_clip(tmp_path / "x", "walk", seconds=2.0, size=161)
    with pytest.raises(ValueError, match=r"suffix must be one of \.mp4, \.avi"):
        generate_clip(tmp_path / "x.mov", "walk", seconds=2.0)
    with pytest.raises(ValueError, match="unknown synthetic style"):
        generate_clip(tmp_path / "x", "walk", seconds=2.0, style="indoor")
    assert not list(tmp_path.iterdir())  # nothing written for a refused call


def test_codec_that_does_not_open_is_named(tmp_path, monkeypatch):
    class Closed:
        def __init__(self, *args):
            pass

        def isOpened(self):
            return False

    monkeypatch.setattr(cv2, "VideoWriter", Closed)
    with pytest.raises(ValueError, match="codec 'mp4v'"):
        generate_clip(tmp_path / "walk", "walk", seconds=2.0, fps=FPS, size=96)


def test_read_clip_truth_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no clip ground truth"):
        read_clip_truth(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"fps": 10,\n oops}')
    with pytest.raises(ValueError, match="bad.json: line 2: not valid JSON"):
        read_clip_truth(bad)
    bad.write_text('{"fps": 10}')
    with pytest.raises(
        ValueError, match="missing scenario, seed, style, size, n_frames, people, events, frames"
    ):
        read_clip_truth(bad)


def test_clip_set_names_seeds_and_reuse(tmp_path):
    infos = generate_clip_set(tmp_path, per_scenario=1, seconds=8.0, fps=2.0, size=96, seed=3, progress=False)
    assert [i.video.name for i in infos] == [f"{s}_00.mp4" for s in SCENARIOS]
    assert [(i.scenario, i.seed, i.n_frames) for i in infos] == [(s, 3000, 16) for s in SCENARIOS]
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    again = generate_clip_set(tmp_path, per_scenario=1, seconds=8.0, fps=2.0, size=96, seed=3, progress=False)
    assert [i.elapsed for i in again] == [0.0] * 5 and [i.events for i in again] == [i.events for i in infos]
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps
    with pytest.raises(ValueError, match="per_scenario must be a whole number"):
        generate_clip_set(tmp_path, per_scenario=0)


def test_body_tilt_and_gait_cycle():
    assert body_tilt(Pose()) == 0.0
    assert body_tilt(Pose(pitch=90.0)) == pytest.approx(90.0)
    assert body_tilt(Pose(pitch=-40.0)) == pytest.approx(40.0)
    assert body_tilt(Pose(pitch=60.0, roll=60.0)) == pytest.approx(math.degrees(math.acos(0.25)))
    gait = Gait.sample(np.random.default_rng(0))
    assert gait.pose(0.3, 90.0) == gait.pose(0.3 + STRIDE, 90.0)  # one cycle later, the same pose
    assert gait.pose(0.0, 90.0).l_hip > 0 > gait.pose(0.5 * STRIDE, 90.0).l_hip  # the legs swap


def test_script_track_holds_the_last_pose_and_plants_the_feet():
    script = Script(np.random.default_rng(4), 50.0, 100.0, 1).walk_for(1.0).fall().hold(6.0)
    track = script.track()
    assert track.segments[-1].end == 6.0
    assert track.at(6.0)[0] == track.at(99.0)[0] and track.at(99.0)[3] in ("lying", "crumpled")
    start = track.marks["fall_start"]
    assert track.at(start - 0.01)[3] == "walking"
    assert track.at(start + 2.0)[3] in ("lying", "crumpled") and body_tilt(track.at(7.0)[0]) >= FALL_TILT
    x_walk = track.at(start)[1]
    assert abs(track.at(7.0)[1] - x_walk) > 10  # the pelvis moves over the planted feet as the body tips


def test_cached_drawing_matches_direct_drawing():
    rng = np.random.default_rng(5)
    for k, tilt in enumerate((0.0, 9.0, -14.0)):
        pose, _ = sample_pose(rng, "lying" if k % 2 else "walking")
        look = sample_look(rng)
        direct = np.zeros((200, 200, 3), np.uint8)
        box = render_figure(direct, pose, look, (100.0, 130.0), 80, 20, tilt)
        cached = np.zeros((200, 200, 3), np.uint8)
        sprite = clip_scene._tilted(clip_scene._sprite(pose, look, 80, 20, 0.0), tilt)
        who = np.full((200, 200), -1, np.int16)
        drawn = clip_scene._paste(cached, sprite, (100.0, 130.0), who, 7)
        assert drawn is not None
        assert np.abs(np.array(drawn[0]) - np.array(box)).max() <= 1
        assert np.abs(direct.astype(int) - cached).mean() < 1.0
        assert drawn[1] == int((who == 7).sum()) > 0
