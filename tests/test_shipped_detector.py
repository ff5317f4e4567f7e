"""The shipped synthetic-world person detector: its file matches its model card, and it finds rendered people."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fallkd_lib.data.geometry import box_iou
from fallkd_lib.data.synthetic import render_scene
from fallkd_lib.detector.clip_frames import add_clip_frames, clip_frame_labels
from fallkd_lib.detector.shipped import model_card_text, sha256
from fallkd_lib.errors import UsageError
from fallkd_lib.runtime.detector import detect_people
from fallkd_lib.runtime.loaders import SHIPPED_CARD, load_detector, shipped_detector


def test_shipped_file_matches_its_card() -> None:
    card = json.loads(SHIPPED_CARD.read_text(encoding="utf-8"))
    path = shipped_detector()
    assert path.name == card["file"]
    assert path.stat().st_size == card["bytes"] <= 12 * 2**20
    assert sha256(path) == card["sha256"]
    assert card["metrics"]["valid"]["mAP50"] >= 0.7
    assert card["input_size"] == 320 and card["classes"] == ["person"]
    assert card["sha256"] in model_card_text(card)
    assert SHIPPED_CARD.with_suffix(".md").read_text(encoding="utf-8") == model_card_text(card)


@pytest.mark.slow
def test_shipped_detector_finds_people_in_a_fresh_scene() -> None:
    detector = load_detector(shipped_detector())  # the same path as a trained detector
    found = truth = 0
    for seed, style in ((1234, "park"), (5678, "cctv"), (91011, "park")):  # not the build's seed 0 stream
        image, people = render_scene(np.random.default_rng(seed), style, 320)
        boxes = detect_people(detector, [image], conf=0.25)[0]
        assert boxes.shape[1] == 6
        gt = np.array(
            [
                [
                    (b.cx - b.w / 2) * 320,
                    (b.cy - b.h / 2) * 320,
                    (b.cx + b.w / 2) * 320,
                    (b.cy + b.h / 2) * 320,
                ]
                for _, b in people
            ]
        )
        truth += len(gt)
        if len(boxes):
            found += int((box_iou(gt, boxes[:, :4]).max(axis=1) >= 0.5).sum())
    assert truth > 0 and found / truth >= 0.6


def test_clip_frame_labels_are_normalised_and_skip_hidden_people() -> None:
    people = [
        {"id": 0, "box": [32, 64, 96, 96], "visible": 1.0},  # centre (64, 80), 64 x 32 of a 320 frame
        {"id": 1, "box": [0, 0, 10, 10], "visible": 0.1},  # mostly hidden: not a label
        {"id": 2, "box": [5, 5, 5.5, 40]},  # under a pixel wide: not a label
    ]
    (box,) = clip_frame_labels(people, 320)
    assert (box.cls, box.cx, box.cy, box.w, box.h) == (0, 0.2, 0.25, 0.2, 0.1)


def test_add_clip_frames_writes_labelled_frames_and_replaces_its_own(tmp_path) -> None:
    train = tmp_path / "train"
    (train / "images").mkdir(parents=True)
    (train / "images" / "clip__old_0001.jpg").write_bytes(b"stale")  # a previous build's frame
    (train / "images" / "scene_0001.png").write_bytes(b"kept")  # not ours: left alone
    counts = add_clip_frames(train, tmp_path / "clips", ("park",), 3, {"fall_stay": 1}, every=10, seconds=4)
    images = sorted(p.name for p in (train / "images").iterdir())
    # 4 s at 5 fps = 20 frames; every 10th, mid-interval: frames 5 and 15
    assert images == [
        "clip__park_fall_stay_00_0005.jpg",
        "clip__park_fall_stay_00_0015.jpg",
        "scene_0001.png",
    ]
    assert counts["clips"] == 1 and counts["frames"] == 2
    labels = [(train / "labels" / n).with_suffix(".txt").read_text() for n in images[:2]]
    assert counts["boxes"] == sum(len(t.splitlines()) for t in labels) >= 1
    assert all(line.startswith("0 ") for t in labels for line in t.splitlines())


def test_add_clip_frames_rejects_an_unknown_scenario(tmp_path) -> None:
    with pytest.raises(UsageError, match="unknown clip scenario"):
        add_clip_frames(tmp_path, tmp_path, ("park",), 0, {"dance": 1})


def _wide_is_fallen(crops: np.ndarray) -> np.ndarray:
    """A stand-in classifier that reads only the box's shape: a crop letterboxed with full rows of fill (a box
    wider than tall, a person lying) is 'fall' 0.95, else 0.05."""
    fill = (crops == 114).all(axis=-1)
    rows, cols = fill.all(axis=2).sum(axis=1), fill.all(axis=1).sum(axis=1)
    return np.where(rows > cols, 0.95, 0.05)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "seed", "alerts"), [("fall_stay", 0, 1), ("fall_stay", 1, 1), ("walk", 0, 0)]
)
def test_the_quick_camera_follows_a_faller_on_shipped_detections(
    tmp_path, scenario: str, seed: int, alerts: int
) -> None:
    """Shipped detector -> fallkd_bytetrack -> confirmation -> state machine, as the quick profile runs them: the
    person who falls keeps a confirmed track while lying (boxes scored low), so one long-lie alert; walkers none.
    Under ultralytics' default tracker settings (the full profile's camera) fall_stay seed 1 raises no alert."""
    from fallkd_lib.config import pipeline_config
    from fallkd_lib.data.geometry import CropSpec
    from fallkd_lib.data.synthetic import generate_clip
    from fallkd_lib.runtime.pipeline import FallPipeline

    info = generate_clip(tmp_path / scenario, scenario, seconds=20.0, fps=5, size=320, seed=seed)
    pipe = FallPipeline(shipped_detector(), _wide_is_fallen, pipeline_config("quick"), crop=CropSpec(32, 0.1))
    summary = pipe.run(info.video, tmp_path / "out", save_video=False, progress=False)
    assert summary["tracking"] == "ultralytics" and summary["alerts"] == alerts
