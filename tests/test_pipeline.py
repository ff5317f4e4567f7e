"""The camera pipeline: event logic with an injected fake detector and classifier on generated clips (exact alert
counts), a real tiny detector + classifier writing every output, an unreachable webhook, and `fallkd detect`."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import save_untrained_classifier

from fallkd_lib.cli import main
from fallkd_lib.config import FallStateConfig, PipelineConfig
from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.data.synthetic import generate_clip
from fallkd_lib.runtime.pipeline import STAGES, FallPipeline, FrameResult
from fallkd_lib.runtime.tracking import IouTracker

STATE = FallStateConfig(smoothing=0.0, alert_after=1.0)
CONFIG = PipelineConfig(state=STATE)
CROP = CropSpec(32, 0.1)  # what a bare callable classifier must be told


class Truth:
    """A fake detector and classifier from a clip's ground truth: exact boxes, track id = person id, and fall
    probability 0.95 for a fallen person, 0.05 otherwise (matched through the current frame)."""

    def __init__(self, truth_path: Path) -> None:
        self.frames = json.loads(truth_path.read_text())["frames"]
        self.current: list[dict] = []
        self.calls: list[tuple[int, ...]] = []

    def detector(self, frame) -> np.ndarray:
        self.current = [p for p in self.frames[frame.index]["people"] if p["visible"] > 0]
        return np.array([[*p["box"], 0.9, p["id"]] for p in self.current], dtype=float).reshape(-1, 6)

    def classifier(self, crops: np.ndarray) -> np.ndarray:
        self.calls.append(crops.shape)
        assert len(crops) == len(self.current)
        return np.array([0.95 if p["is_fall"] else 0.05 for p in self.current])


def clip(tmp_path: Path, scenario: str) -> tuple[Path, Truth]:
    info = generate_clip(tmp_path / scenario, scenario, seconds=4.0, fps=5, size=96, seed=0)
    return info.video, Truth(info.truth)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_fall_stay_alerts_exactly_once(tmp_path) -> None:
    video, truth = clip(tmp_path, "fall_stay")
    pipe = FallPipeline(truth.detector, truth.classifier, CONFIG, crop=CROP, camera="ward1")
    summary = pipe.run(video, tmp_path / "out", progress=False)
    out = tmp_path / "out"
    events = lines(out / "events.jsonl")
    kinds = [e["kind"] for e in events]
    assert kinds.count("long_lie") == 1 and kinds.count("fall_started") == 1
    first_down = next(f["index"] for f in truth.frames if any(p["is_fall"] for p in f["people"]))
    lie = next(e for e in events if e["kind"] == "long_lie")
    assert lie["frame"] == first_down + 5 and lie["seconds_down"] == pytest.approx(1.0)  # 5 frames at 5 fps
    alerts = lines(out / "alerts.jsonl")
    assert len(alerts) == 1 and alerts[0]["camera"] == "ward1" and alerts[0]["track_id"] == lie["track_id"]
    assert alerts[0]["source_time"] == pytest.approx((first_down + 5) / 5)  # the video's clock: 5 fps
    assert Path(alerts[0]["snapshot"]).is_file() and Path(alerts[0]["snapshot"]).parent == out / "snapshots"
    deliveries = lines(out / "alert_deliveries.jsonl")
    assert deliveries[0]["delivered"] == {"stdout": True, "jsonl": True}
    assert summary["frames"] == 20 and summary["alerts"] == 1 and summary["events"]["long_lie"] == 1
    assert summary["tracking"] == "detector" and set(summary["stage_ms"]) == set(STAGES)
    assert json.loads((out / "summary.json").read_text()) == summary
    # one batched classifier call per frame with people, crops at the classifier's size
    assert len(truth.calls) == sum(1 for f in truth.frames if any(p["visible"] > 0 for p in f["people"]))
    assert all(shape[1:] == (32, 32, 3) for shape in truth.calls)
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    cap.release()


def test_sit_never_alerts(tmp_path) -> None:
    video, truth = clip(tmp_path, "sit")
    summary = FallPipeline(truth.detector, truth.classifier, CONFIG, crop=CROP).run(
        video, tmp_path / "out", save_video=False, progress=False
    )
    assert summary["alerts"] == 0 and "long_lie" not in summary["events"] and summary["annotated"] is None
    assert (
        not (tmp_path / "out" / "alerts.jsonl").exists() and not (tmp_path / "out" / "annotated.mp4").exists()
    )


class WeakWhenDown(Truth):
    """Truth boxes scored as the shipped detector scores them: 0.8 upright, 0.1 once fallen; plus, with clutter,
    a still object (track 99) detected at 0.2 in every frame that the classifier calls a fall."""

    def __init__(self, truth_path: Path, clutter: bool = False, upright: float = 0.8) -> None:
        super().__init__(truth_path)
        self.clutter, self.upright = clutter, upright

    def detector(self, frame) -> np.ndarray:
        self.current = [p for p in self.frames[frame.index]["people"] if p["visible"] > 0]
        rows = [[*p["box"], 0.1 if p["is_fall"] else self.upright, p["id"]] for p in self.current]
        if self.clutter:
            rows.append([2.0, 2.0, 20.0, 12.0, 0.2, 99])
            self.current = [*self.current, {"is_fall": True}]
        return np.array(rows, dtype=float).reshape(-1, 6)

    def classifier(self, crops: np.ndarray) -> np.ndarray:
        self.calls.append(crops.shape)  # the clutter comes last: a gated frame sends only the person's crop
        return np.array([0.95 if p["is_fall"] else 0.05 for p in self.current[: len(crops)]])


def test_a_confirmed_track_alerts_on_weak_boxes_and_unconfirmed_clutter_never_does(tmp_path) -> None:
    info = generate_clip(tmp_path / "fall_stay", "fall_stay", seconds=4.0, fps=5, size=96, seed=0)
    video, truth = info.video, WeakWhenDown(info.truth, clutter=True)
    cfg = PipelineConfig(state=STATE, confirm_conf=0.3)
    summary = FallPipeline(truth.detector, truth.classifier, cfg, crop=CROP).run(
        video, tmp_path / "out", save_video=False, progress=False
    )
    alerts = lines(tmp_path / "out" / "alerts.jsonl")
    assert summary["alerts"] == 1 and alerts[0]["track_id"] != 99  # the person, seen upright first
    assert summary["unconfirmed_boxes"] == 20  # the clutter box, held back in each of the 20 frames
    assert all(shape[0] == 1 for shape in truth.calls)  # the clutter never reaches the classifier
    # without the gate the clutter, "fallen" from its first frame, is a track found down: it waits
    # found_down_after (30 s, longer than this clip) and stays quiet...
    truth = WeakWhenDown(info.truth, clutter=True)
    summary = FallPipeline(truth.detector, truth.classifier, CONFIG, crop=CROP).run(
        video, tmp_path / "out2", save_video=False, progress=False
    )
    assert summary["alerts"] == 1 and summary["unconfirmed_boxes"] == 0
    # ... and alerts too when a found-down track waits no longer than a seen fall
    truth = WeakWhenDown(info.truth, clutter=True)
    same_wait = PipelineConfig(state=FallStateConfig(smoothing=0.0, alert_after=1.0, found_down_after=1.0))
    summary = FallPipeline(truth.detector, truth.classifier, same_wait, crop=CROP).run(
        video, tmp_path / "out3", save_video=False, progress=False
    )
    assert summary["alerts"] == 2


def test_a_person_the_detector_is_unsure_of_is_confirmed_by_walking_and_still_clutter_is_not(
    tmp_path,
) -> None:
    info = generate_clip(tmp_path / "fall_stay", "fall_stay", seconds=4.0, fps=5, size=96, seed=0)
    unsure = PipelineConfig(state=STATE, confirm_conf=0.3)  # the person scores 0.2 upright, 0.1 down
    truth = WeakWhenDown(info.truth, clutter=True, upright=0.2)
    summary = FallPipeline(truth.detector, truth.classifier, unsure, crop=CROP).run(
        info.video, tmp_path / "out", save_video=False, progress=False
    )
    assert summary["alerts"] == 0 and summary["confirmed_by"] == {"handover": 0, "motion": 0}
    truth = WeakWhenDown(info.truth, clutter=True, upright=0.2)
    moving = PipelineConfig(state=STATE, confirm_conf=0.3, confirm_motion=0.5)
    summary = FallPipeline(truth.detector, truth.classifier, moving, crop=CROP).run(
        info.video, tmp_path / "out2", save_video=False, progress=False
    )
    alerts = lines(tmp_path / "out2" / "alerts.jsonl")
    assert summary["alerts"] == 1 and alerts[0]["track_id"] != 99 and summary["confirmed_by"]["motion"] == 1
    assert all(shape[0] == 1 for shape in truth.calls)  # the still clutter never reaches the classifier


def test_confirm_motion_must_be_positive() -> None:
    from fallkd_lib.errors import UsageError

    with pytest.raises(UsageError, match="confirm_motion"):
        PipelineConfig(confirm_motion=0)
    assert PipelineConfig(confirm_motion=0.5).confirm_motion == 0.5


def test_a_confirmed_track_is_forgotten_after_forget_after() -> None:
    from fallkd_lib.runtime.sources import Frame

    boxes = {0: 0.9, 1: 0.1, 2: 0.1, 8: 0.1}  # frame index -> conf of track 7's box (frames at 1 s)

    def detector(f) -> np.ndarray:
        return np.array([[10, 10, 40, 60, boxes[f.index], 7]]) if f.index in boxes else np.zeros((0, 6))

    cfg = PipelineConfig(state=FallStateConfig(forget_after=5.0), confirm_conf=0.5)
    pipe = FallPipeline(detector, lambda c: np.zeros(len(c)), cfg, crop=CROP)
    image = np.zeros((80, 120, 3), np.uint8)
    seen = [len(pipe.process(Frame(image, float(i), i, f"f{i}")).people) for i in range(9)]
    assert seen == [
        1,
        1,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    ]  # unseen from 2 s to 8 s (> 5 s): frame 8's weak box is held back
    assert pipe.unconfirmed == 1
    pipe.reset()
    assert pipe.unconfirmed == 0 and pipe._confirmed == {}


def test_tracker_names_resolve_to_fallkd_assets_first() -> None:
    import yaml

    from fallkd_lib.config import pipeline_config
    from fallkd_lib.runtime.loaders import ASSETS, tracker_config

    own = tracker_config("fallkd_bytetrack.yaml")
    assert own == str(ASSETS / "fallkd_bytetrack.yaml")
    settings = yaml.safe_load(Path(own).read_text())
    assert settings["tracker_type"] == "bytetrack" and settings["fuse_score"] is False
    assert settings["track_low_thresh"] >= pipeline_config("quick").conf  # else ultralytics drops them first
    assert tracker_config("bytetrack.yaml") == "bytetrack.yaml"  # ultralytics' own
    assert tracker_config("/x/fallkd_bytetrack.yaml") == "/x/fallkd_bytetrack.yaml"


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "0.3"])
def test_confirm_conf_must_be_a_probability(value) -> None:
    from fallkd_lib.errors import UsageError

    with pytest.raises(UsageError, match="confirm_conf"):
        PipelineConfig(confirm_conf=value)


def test_process_returns_people_states_and_timings(tmp_path) -> None:
    video, truth = clip(tmp_path, "fall_stay")
    from fallkd_lib.runtime.sources import iter_frames

    pipe = FallPipeline(truth.detector, truth.classifier, CONFIG, crop=CROP)
    results = [pipe.process(f) for f in iter_frames(video)]
    assert all(isinstance(r, FrameResult) and set(r.timings) == set(STAGES) for r in results)
    states = [p.state for r in results for p in r.people]
    assert {"normal", "down", "alerted"} <= set(states)
    assert pipe.frames == 20 and pipe.timings["total"] >= pipe.timings["classify"] > 0
    assert pipe.alerts_sent == 1 and pipe.dispatcher is None  # no dispatcher: alerts are returned, not sent


def test_unreachable_webhook_keeps_running_and_logs_undelivered(tmp_path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    video, truth = clip(tmp_path, "fall_stay")
    pipe = FallPipeline(truth.detector, truth.classifier, CONFIG, crop=CROP)
    summary = pipe.run(
        video,
        tmp_path / "out",
        save_video=False,
        progress=False,
        webhook=f"http://127.0.0.1:{port}/alert",
        webhook_timeout=0.2,
    )
    assert summary["frames"] == 20 and summary["alerts"] == 1
    assert summary["alerts_undelivered"] == {"webhook": 1}
    (delivery,) = lines(tmp_path / "out" / "alert_deliveries.jsonl")
    assert delivery["delivered"] == {"stdout": True, "jsonl": True, "webhook": False}
    assert "not delivered" in delivery["errors"]["webhook"]
    assert len(lines(tmp_path / "out" / "alerts.jsonl")) == 1


def test_iou_tracker_keeps_ids() -> None:
    tracker = IouTracker()
    a = np.array([[0, 0, 10, 10], [50, 50, 60, 70]], float)
    assert tracker.assign(a).tolist() == [1, 2]
    assert tracker.assign(a[::-1] + 1).tolist() == [2, 1]
    assert tracker.assign(np.array([[100, 100, 110, 110]], float)).tolist() == [3]


@pytest.fixture(scope="module")
def models(tiny_detector, tmp_path_factory) -> dict[str, Path]:
    """The shared 1-epoch YOLOv5n person detector (128 px), an untrained ResNet18 run folder and a 4 s clip."""
    root = tmp_path_factory.mktemp("pipeline_models")
    cls = save_untrained_classifier(root / "cls", size=32)
    video = generate_clip(root / "clip", "fall_stay", seconds=4.0, fps=5, size=128, seed=0).video
    return {"detector": Path(tiny_detector["summary"]["best"]), "classifier": cls, "video": video}


@pytest.mark.slow
def test_real_tiny_models_write_every_output(models, tmp_path) -> None:
    pipe = FallPipeline(models["detector"], models["classifier"], PipelineConfig(conf=0.001, state=STATE))
    assert pipe.imgsz == 128 and pipe.crop == CropSpec(32, 0.1)  # both read from the models
    summary = pipe.run(models["video"], tmp_path / "out", progress=False, max_frames=4)
    out = tmp_path / "out"
    assert summary["frames"] == 4 and summary["tracking"] in ("ultralytics", "iou-fallback")
    assert (out / "events.jsonl").is_file() and (out / "summary.json").is_file()
    assert json.loads((out / "summary.json").read_text())["frames"] == 4
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5)
    cap.release()
    assert pipe.frames == 4 and all(pipe.timings[s] > 0 for s in ("detect", "total"))


@pytest.mark.slow
def test_cli_detect_runs_and_reports_errors(models, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FALLKD_WEBHOOK_TOKEN", "sekrit-token")
    base = ["--detector", str(models["detector"]), "--classifier", str(models["classifier"])]
    args = [
        "detect",
        str(models["video"]),
        *base,
        "--out",
        str(tmp_path / "o"),
        "--conf",
        "0.001",
        "--max-frames",
        "3",
        "--alert-after",
        "5",
        "--no-video",
    ]
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "3 frames" in printed.out and "sekrit" not in printed.out + printed.err
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["frames"] == 3
    assert not (tmp_path / "o" / "annotated.mp4").exists()

    assert main(["detect", str(tmp_path / "none.mp4"), *base, "--out", str(tmp_path / "e1")]) == 2
    assert "none.mp4 not found" in capsys.readouterr().err
    wrong = ["--detector", str(models["detector"]), "--classifier", str(models["detector"])]
    assert main(["detect", str(models["video"]), *wrong, "--out", str(tmp_path / "e2")]) == 2
    assert "not a classifier" in capsys.readouterr().err
    missing = ["--detector", str(tmp_path / "det.pt"), "--classifier", str(models["classifier"])]
    assert main(["detect", str(models["video"]), *missing, "--out", str(tmp_path / "e3")]) == 2
    assert "det.pt not found" in capsys.readouterr().err


def test_draw_tracks_colours_by_state() -> None:
    from fallkd_lib.runtime.pipeline import PersonResult
    from fallkd_lib.viz.draw import STATE_COLOURS, draw_tracks, track_label

    assert (
        track_label(3, 0.923, 4.12) == "id 3 fall 0.92 down 4.1s"
        and track_label(7, 0.1, 0.0) == "id 7 fall 0.10"
    )
    frame = np.zeros((120, 200, 3), np.uint8)
    people = [
        PersonResult(1, (10, 40, 50, 100), 0.9, 0.1, 0.1, "normal", 0.0),
        PersonResult(2, (70, 40, 110, 100), 0.9, 0.8, 0.8, "down", 1.5),
        PersonResult(3, (130, 40, 170, 100), 0.9, 0.95, 0.95, "alerted", 12.0),
    ]
    image = draw_tracks(frame, people)
    assert frame.max() == 0 and image.shape == frame.shape  # the input is not drawn on
    for person, x in zip(people, (10, 70, 130), strict=True):
        assert tuple(image[80, x]) == STATE_COLOURS[person.state]  # the box's left edge, below the label


def test_image_folder_run_writes_annotated_images_and_counts_skips(tmp_path) -> None:
    from PIL import Image

    src = tmp_path / "frames"
    src.mkdir()
    for i in range(2):
        Image.fromarray(np.full((64, 80, 3), 100, np.uint8)).save(src / f"f{i}.png")
    (src / "f1b.jpg").write_bytes(b"\xff\xd8 broken")

    def detector(frame):
        return np.array([[10, 10, 40, 60, 0.9, 1]], float)

    summary = FallPipeline(detector, lambda crops: np.full(len(crops), 0.1), crop=CROP).run(
        src, tmp_path / "out", progress=False
    )
    assert summary["frames"] == 2 and summary["skipped_frames"] == 1 and summary["events"] == {}
    assert sorted(p.name for p in (tmp_path / "out" / "annotated").iterdir()) == ["f0.jpg", "f1.jpg"]


def test_a_failing_source_still_writes_the_summary(tmp_path) -> None:
    pipe = FallPipeline(lambda f: np.zeros((0, 6)), lambda crops: np.zeros(len(crops)), crop=CROP)
    with pytest.raises(FileNotFoundError, match="nope.mp4 not found"):
        pipe.run(tmp_path / "nope.mp4", tmp_path / "out", progress=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (
        summary["frames"] == 0
        and summary["error"].startswith("MissingFileError: ")
        and "nope.mp4" in summary["error"]
    )


def test_tracker_unavailable_falls_back_to_iou_ids(tmp_path, caplog) -> None:
    """An ultralytics-like detector whose track() fails (e.g. `lap` missing offline): predict + IoU ids, warned once."""
    import logging
    from types import SimpleNamespace

    import torch

    from fallkd_lib.runtime.sources import Frame

    class FakeYolo:
        def __init__(self) -> None:
            self.track_calls, self.predict_calls = 0, 0

        def track(self, image, **kwargs):
            self.track_calls += 1
            raise ModuleNotFoundError("No module named 'lap'")

        def predict(self, image, **kwargs):
            self.predict_calls += 1
            shift = 2.0 * self.predict_calls  # the person walks right by 2 px a frame
            xyxy = torch.tensor([[10 + shift, 10, 40 + shift, 60], [60, 5, 90, 50]])
            return [SimpleNamespace(boxes=SimpleNamespace(xyxy=xyxy, conf=torch.tensor([0.8, 0.7])))]

    yolo = FakeYolo()
    pipe = FallPipeline(yolo, lambda crops: np.full(len(crops), 0.2), PipelineConfig(imgsz=64), crop=CROP)
    image = np.zeros((80, 120, 3), np.uint8)
    with caplog.at_level(logging.WARNING, logger="fallkd_lib.runtime.pipeline"):
        results = [pipe.process(Frame(image, i / 10, i, f"f{i}")) for i in range(3)]
    assert yolo.track_calls == 1 and yolo.predict_calls == 3 and pipe.tracking is False
    assert [[p.track_id for p in r.people] for r in results] == [[1, 2], [1, 2], [1, 2]]
    assert results[2].people[0].box == (16.0, 10.0, 46.0, 60.0) and results[0].people[
        1
    ].conf == pytest.approx(0.7)
    assert caplog.text.count("falling back to IoU matching") == 1


def test_lap_missing_means_iou_ids_without_trying_bytetrack(monkeypatch) -> None:
    import importlib.util

    from fallkd_lib.runtime.sources import Frame

    class NoTrack:
        def track(self, *args, **kwargs):
            raise AssertionError("track() must not be called without lap")

        def predict(self, image, **kwargs):
            from types import SimpleNamespace

            import torch

            xyxy = torch.tensor([[10.0, 10, 40, 60]])
            return [SimpleNamespace(boxes=SimpleNamespace(xyxy=xyxy, conf=torch.tensor([0.9])))]

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "lap" else real(name, *a)
    )
    pipe = FallPipeline(NoTrack(), lambda c: np.zeros(len(c)), PipelineConfig(imgsz=64), crop=CROP)
    result = pipe.process(Frame(np.zeros((80, 120, 3), np.uint8), 0.0, 0, "f0"))
    assert pipe.tracking is False and [p.track_id for p in result.people] == [1]


@pytest.mark.parametrize("lap", [True, False])
def test_the_detector_runs_class_agnostic_nms_with_and_without_bytetrack(monkeypatch, lap: bool) -> None:
    """A two-class detector (fall/normal) must give one box per person: NMS across classes, for track and predict."""
    import importlib.util
    from types import SimpleNamespace

    import torch

    from fallkd_lib.runtime.sources import Frame

    class Recorder:
        def __init__(self) -> None:
            self.kwargs: list[dict] = []

        def _result(self, kwargs: dict, ids: bool) -> list:
            self.kwargs.append(kwargs)
            xyxy, conf = torch.tensor([[10.0, 10, 40, 60]]), torch.tensor([0.9])
            return [
                SimpleNamespace(
                    boxes=SimpleNamespace(xyxy=xyxy, conf=conf, id=torch.tensor([3.0]) if ids else None)
                )
            ]

        def track(self, image, **kwargs):
            return self._result(kwargs, ids=True)

        def predict(self, image, **kwargs):
            return self._result(kwargs, ids=False)

    real = importlib.util.find_spec
    if not lap:
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda name, *a: None if name == "lap" else real(name, *a)
        )
    yolo = Recorder()
    pipe = FallPipeline(yolo, lambda c: np.zeros(len(c)), PipelineConfig(imgsz=64, iou=0.5), crop=CROP)
    result = pipe.process(Frame(np.zeros((80, 120, 3), np.uint8), 0.0, 0, "f0"))
    assert [p.track_id for p in result.people] == ([3] if lap else [1])
    assert len(yolo.kwargs) == 1 and yolo.kwargs[0]["agnostic_nms"] is True and yolo.kwargs[0]["iou"] == 0.5


# ---------------------------------------------------------------- what you train is what runs


@pytest.fixture(scope="module")
def pad03_classifier(tiny_merged, tmp_path_factory) -> Path:
    """A ResNet18 trained (1 epoch, 32 px) on crops cut from the tiny merged dataset with pad=0.3."""
    from fallkd_lib.config import train_config
    from fallkd_lib.data.crops import extract_crops
    from fallkd_lib.train.recipes import train_classifier

    root = tmp_path_factory.mktemp("pad03")
    extract_crops(tiny_merged, root / "crops", CropSpec(48, 0.3), progress=False)
    cfg = train_config("quick", model="resnet18", image_size=32, epochs=1, batch_size=16)
    train_classifier(root / "crops", root / "run", cfg, progress=False)
    return root / "run"


@pytest.mark.slow
def test_the_pipeline_crops_as_the_training_crops_were_cut(pad03_classifier, tmp_path) -> None:
    from fallkd_lib.data.geometry import crop_people
    from fallkd_lib.export.onnx import export_classifier_onnx
    from fallkd_lib.runtime.sources import Frame

    frame = Frame(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8), 0.0, 0, "f0")
    box = [40.0, 20.0, 80.0, 100.0]
    onnx_file = export_classifier_onnx(pad03_classifier, tmp_path / "cls.onnx")
    for classifier in (pad03_classifier, pad03_classifier / "best.pt", onnx_file):
        pipe = FallPipeline(lambda f: np.array([[*box, 0.9, 1]]), classifier, CONFIG)
        seen = []
        predict = pipe.classifier.predict
        pipe.classifier.predict = lambda crops, p=predict, s=seen: s.append(crops) or p(crops)
        pipe.process(frame)
        assert pipe.crop == CropSpec(48, 0.3)
        np.testing.assert_array_equal(seen[0], crop_people(frame.image, [box], CropSpec(48, 0.3)))
        assert not np.array_equal(seen[0], crop_people(frame.image, [box], CropSpec(48, 0.1)))


@pytest.mark.slow
def test_a_crop_that_disagrees_with_the_model_is_an_error(pad03_classifier) -> None:
    with pytest.raises(ValueError, match=r"trained on crops cut with CropSpec\(size=48, pad=0.3.*pad=0.1"):
        FallPipeline(lambda f: np.zeros((0, 6)), pad03_classifier, crop=CropSpec(48, 0.1))
    assert FallPipeline(lambda f: np.zeros((0, 6)), pad03_classifier, crop=CropSpec(48, 0.3)).crop.pad == 0.3
    with pytest.raises(ValueError, match="a bare callable classifier carries no crop settings"):
        FallPipeline(lambda f: np.zeros((0, 6)), lambda crops: np.zeros(len(crops)))
