"""The camera loop: detect and track people, crop them as the classifier's training crops were cut, classify all
crops of a frame in one batched call, update each track's fall state, and raise long-lie alerts with a snapshot.

The detector is an ultralytics YOLO (a path is loaded with `load_detector`; its input size is the one it was
trained at unless PipelineConfig.imgsz says otherwise) or any callable
``detector(frame: Frame) -> (N, 6) array of x1, y1, x2, y2, conf, track_id``. The classifier is a
:class:`~fallkd_lib.runtime.classifier.ClassifierRuntime` (a path is loaded with `load_classifier`), whose
recorded crop geometry the pipeline cuts with, or a bare callable ``crops -> (N,) fall probabilities`` that then
needs an explicit `crop`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fallkd_lib.config import IOU_TRACKER, PipelineConfig
from fallkd_lib.data.geometry import CropSpec, crop_people
from fallkd_lib.edge.boxes import TrackGate, clip_boxes
from fallkd_lib.errors import UsageError
from fallkd_lib.io import write_json_atomic
from fallkd_lib.runtime.alerts import Alert, AlertDispatcher
from fallkd_lib.runtime.detector import input_size
from fallkd_lib.runtime.loaders import load_classifier, load_detector, tracker_config
from fallkd_lib.runtime.sources import Frame
from fallkd_lib.runtime.state import FallEvent, FallTracker
from fallkd_lib.runtime.tracking import IouTracker
from fallkd_lib.settings import keep_torch_threads
from fallkd_lib.viz.draw import annotate, draw_tracks

_log = logging.getLogger(__name__)
STAGES = ("detect", "crop", "classify", "track", "total")


@dataclass
class PersonResult:
    """One person in one frame: track id, box (pixels), detector confidence, raw and smoothed fall probability."""

    track_id: int
    box: tuple[float, float, float, float]
    conf: float
    fall_prob: float
    prob: float
    state: str
    seconds_down: float


@dataclass
class FrameResult:
    """What process() found in one frame: the people, the state events, the alerts sent and stage timings (s)."""

    index: int
    timestamp: float
    name: str
    people: list[PersonResult]
    events: list[FallEvent]
    alerts: list[Alert] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


class FallPipeline:
    """Detector + tracker + batched crop classifier + per-track fall state + alerts, one frame at a time."""

    def __init__(
        self,
        detector: object,
        classifier: object,
        config: PipelineConfig | None = None,
        crop: CropSpec | None = None,
        dispatcher: AlertDispatcher | None = None,
        camera: str = "camera",
        snapshot_dir: str | Path | None = None,
        device: str | None = None,
    ) -> None:
        """Load what is given as a path; take the crop geometry from the classifier (crop must agree with it)."""
        if isinstance(detector, str | Path):
            detector = load_detector(detector)
        if isinstance(classifier, str | Path):
            classifier = load_classifier(classifier, device=device)
        if not (hasattr(classifier, "predict") or callable(classifier)):
            raise UsageError(f"classifier {classifier!r} has no predict(crops) and is not callable")
        model_input = getattr(classifier, "input", None)
        if model_input is not None:
            crop = model_input.check_crop(crop, "FallPipeline")
        elif crop is None:
            raise UsageError(
                "a bare callable classifier carries no crop settings: pass crop=CropSpec(size, pad) as its "
                "training crops were cut, or pass a trained classifier (run folder, best.pt or .onnx)"
            )
        self.detector, self.classifier, self.crop = detector, classifier, crop
        self.config = config or PipelineConfig()
        self.tracker_yaml = tracker_config(self.config.tracker)  # resolved once, not per frame
        self.imgsz = self.config.imgsz
        if hasattr(detector, "predict"):
            self.imgsz = input_size(detector, self.config.imgsz)
        self.dispatcher, self.camera = dispatcher, camera
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir is not None else None
        self.reset()

    def reset(self) -> None:
        """Forget every track, timing and count (a new video starts here)."""
        self.fall_tracker = FallTracker(self.config.state)
        self.timings: dict[str, float] = defaultdict(float)
        self.frames, self.alerts_sent = 0, 0
        # tracks reach the classifier once confirmed (by score, motion or handover; the edge bundle's gate)
        self._gate = TrackGate(
            self.config.confirm_conf, self.config.state.forget_after, self.config.confirm_motion
        )
        # None: not tried yet; False: IoU tracker (chosen with tracker="iou", or ByteTrack's `lap` missing, see
        # tracking.py); callables track themselves
        lap = importlib.util.find_spec("lap") is not None
        iou = self.config.tracker == IOU_TRACKER or not lap
        self.tracking = False if iou and hasattr(self.detector, "predict") else None
        self._fallback = IouTracker()
        predictor = getattr(self.detector, "predictor", None)
        for trk in getattr(predictor, "trackers", None) or []:
            trk.reset()

    def _detect(self, frame: Frame) -> np.ndarray:
        """(N, 6) float array x1, y1, x2, y2, conf, track_id for one frame."""
        with keep_torch_threads():  # ultralytics would take a core from the classifier for good
            return self._run_detector(frame)

    def _run_detector(self, frame: Frame) -> np.ndarray:
        """The detector (and ByteTrack) call behind _detect."""
        if not hasattr(self.detector, "predict"):
            out = np.asarray(self.detector(frame), dtype=np.float64)
            return out.reshape(-1, 6) if out.size else np.zeros((0, 6))
        bgr = np.ascontiguousarray(frame.image[..., ::-1])
        # one person is one box and one track whatever the detector's classes: a fall/normal detector's NMS per
        # class would keep a "fall" and a "normal" box on the same person, and the tracker would follow both
        args = dict(
            imgsz=self.imgsz, conf=self.config.conf, iou=self.config.iou, agnostic_nms=True, verbose=False
        )
        if self.tracking is not False:
            try:
                result = self.detector.track(bgr, persist=True, tracker=self.tracker_yaml, **args)[0]
            except ImportError as exc:  # ByteTrack's `lap` missing: ultralytics may not install it here
                self.tracking = False
                _log.warning(
                    "ultralytics tracking (%s) unavailable (%s: %s); falling back to IoU matching of "
                    "untracked detections (install `lap` for ByteTrack)",
                    self.config.tracker,
                    type(exc).__name__,
                    exc,
                )
            else:
                self.tracking = True
                boxes = result.boxes
                if boxes is None or boxes.id is None:
                    return np.zeros((0, 6))
                xyxy, conf = boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy()
                return np.column_stack([xyxy, conf, boxes.id.cpu().numpy()])
        result = self.detector.predict(bgr, **args)[0]
        xyxy, conf = result.boxes.xyxy.cpu().numpy(), result.boxes.conf.cpu().numpy()
        return np.column_stack([xyxy, conf, self._fallback.assign(xyxy)])

    @property
    def unconfirmed(self) -> int:
        """Tracked boxes held back so far because their track was not confirmed (by score, motion or handover)."""
        return self._gate.unconfirmed

    @property
    def _confirmed(self) -> dict[int, float]:
        """Confirmed track id -> last time seen."""
        return self._gate.confirmed

    def _classify(self, crops: np.ndarray) -> np.ndarray:
        """Fall probability per crop, from one batched classifier call."""
        if len(crops) == 0:
            return np.zeros(0)
        if hasattr(self.classifier, "predict"):
            return np.asarray(self.classifier.predict(crops))[:, self.classifier.fall_index]
        return np.asarray(self.classifier(crops), dtype=np.float64).reshape(len(crops))

    def process(self, frame: Frame) -> FrameResult:
        """Run every stage on one frame; long-lie events send an alert with a snapshot."""
        t0 = time.perf_counter()
        height, width = frame.image.shape[:2]
        dets = clip_boxes(self._detect(frame), width, height)  # boxes left empty are dropped
        dets = self._gate.filter(frame.timestamp, dets)
        t1 = time.perf_counter()
        crops = crop_people(frame.image, dets[:, :4], self.crop)
        t2 = time.perf_counter()
        fall = self._classify(crops)
        t3 = time.perf_counter()
        observations = [
            (int(d[5]), float(np.clip(p, 0, 1)), tuple(d[:4])) for d, p in zip(dets, fall, strict=True)
        ]
        events = self.fall_tracker.update(frame.timestamp, observations)
        states = self.fall_tracker.states()
        people = []
        for (track_id, prob, box), det in zip(observations, dets, strict=True):
            snap = states.get(track_id)
            state = (snap.prob, snap.state, snap.seconds_down) if snap else (prob, "normal", 0.0)
            people.append(PersonResult(track_id, tuple(float(v) for v in box), float(det[4]), prob, *state))
        result = FrameResult(frame.index, frame.timestamp, frame.name, people, events)
        for event in events:
            if event.kind == "long_lie":
                result.alerts.append(self._alert(frame, result, event))
        t4 = time.perf_counter()
        result.timings = dict(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True))
        for stage, seconds in result.timings.items():
            self.timings[stage] += seconds
        self.frames += 1
        return result

    def _alert(self, frame: Frame, result: FrameResult, event: FallEvent) -> Alert:
        """Save the annotated snapshot (when snapshot_dir is set) and dispatch the alert."""
        snapshot = None
        if self.snapshot_dir is not None:
            from PIL import Image

            from fallkd_lib.data.imageio import save_image_atomic

            snapshot = self.snapshot_dir / f"{self.camera}_{frame.name}_track{event.track_id}.jpg"
            save_image_atomic(Image.fromarray(draw_tracks(frame.image, result)), snapshot, quality=90)
        alert = Alert.from_event(event, self.camera, snapshot)
        if self.dispatcher is not None:
            self.dispatcher.dispatch(alert)
        self.alerts_sent += 1
        return alert

    def _tracking_name(self) -> str:
        """Who gave the track ids: ultralytics, iou (chosen), iou-fallback (ByteTrack unavailable) or detector."""
        if self.tracking is False:
            return "iou" if self.config.tracker == IOU_TRACKER else "iou-fallback"
        return {True: "ultralytics"}.get(self.tracking, "detector")

    def stage_ms(self) -> dict[str, float]:
        """Mean milliseconds per frame of each stage so far."""
        n = max(self.frames, 1)
        return {stage: round(1000 * self.timings.get(stage, 0.0) / n, 3) for stage in STAGES}

    def run(
        self,
        source: object,
        out_dir: str | Path,
        save_video: bool = True,
        progress: bool = True,
        webhook: str | None = None,
        webhook_timeout: float = 3.0,
        fps: float | None = None,
        max_frames: int | None = None,
    ) -> dict:
        """Process a source into out_dir (events.jsonl, alerts.jsonl, alert_deliveries.jsonl, annotated video or
        images, snapshots/, summary.json); returns the summary. source is what iter_frames reads (fps then
        overrides a video's clock) or an iterable of Frame objects (fps is then only the annotated video's)."""
        from tqdm.auto import tqdm

        from fallkd_lib.runtime.alerts import JsonlSink, StdoutSink
        from fallkd_lib.runtime.sources import (
            ImageFolderSink,
            SourceStats,
            iter_frames,
            open_sink,
            video_fps_of,
        )
        from fallkd_lib.runtime.webhook import WebhookSink

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.reset()
        given_snapshot_dir = self.snapshot_dir
        self.snapshot_dir = given_snapshot_dir or out / "snapshots"
        own_dispatcher = self.dispatcher is None
        if own_dispatcher:
            sinks: list = [StdoutSink(), JsonlSink(out / "alerts.jsonl")]
            if webhook:
                sinks.append(WebhookSink(webhook, timeout=webhook_timeout))
            self.dispatcher = AlertDispatcher(sinks, out / "alert_deliveries.jsonl", background=bool(webhook))
        stats, sink, counts = SourceStats(), None, defaultdict(int)
        video_fps = fps or video_fps_of(source)
        start, error = time.perf_counter(), None
        try:
            with open(out / "events.jsonl", "w", encoding="utf-8") as events_file:
                given = isinstance(source, Iterable) and not isinstance(source, str | Path)
                frames = source if given else iter_frames(source, fps=fps, stats=stats)
                for frame in tqdm(frames, desc="detect", unit="frame", disable=not progress):
                    result = self.process(frame)
                    for event in result.events:
                        record = {"frame": frame.index, "name": frame.name, **event._asdict()}
                        events_file.write(json.dumps(record) + "\n")
                        counts[event.kind] += 1
                    events_file.flush()
                    if save_video:
                        sink = sink or open_sink(out, frame, video_fps)
                        image = annotate(frame.image, result, frame.timestamp)
                        if isinstance(sink, ImageFolderSink):
                            sink.write(image, frame.name)
                        else:
                            sink.write(image)
                    if max_frames is not None and self.frames >= max_frames:
                        break
        except BaseException as exc:  # a dropped stream, Ctrl-C: the summary still says what was done
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            output = str(sink.close()) if sink is not None else None
            summary = self._write_summary(out, source, start, counts, stats, output, error)
            self.snapshot_dir = given_snapshot_dir
            if own_dispatcher:
                self.dispatcher.close(timeout=max(10.0, 3 * webhook_timeout))
                summary["alerts_undelivered"] = dict(self.dispatcher.failures)
                write_json_atomic(out / "summary.json", summary)
                self.dispatcher = None
        return summary

    def _write_summary(
        self,
        out: Path,
        source: object,
        start: float,
        counts: dict,
        stats: object,
        output: str | None,
        error: str | None,
    ) -> dict:
        """Write out/summary.json (atomically) and return it."""
        seconds = time.perf_counter() - start
        summary = {
            "source": "<stream>" if "://" in str(source) else str(source),  # a URL may hold credentials
            "camera": self.camera,
            "frames": self.frames,
            "seconds": round(seconds, 3),
            "fps": round(self.frames / seconds, 3) if seconds > 0 else None,
            "stage_ms": self.stage_ms(),
            "tracking": self._tracking_name(),
            "unconfirmed_boxes": self.unconfirmed,
            "confirmed_by": self._gate.confirmed_by(),
            "events": dict(counts),
            "alerts": self.alerts_sent,
            "alerts_undelivered": dict(self.dispatcher.failures) if self.dispatcher is not None else {},
            "skipped_frames": stats.skipped,
            "reconnects": stats.reconnects,
            "annotated": output,
            "out_dir": str(out),
            "error": error,
        }
        write_json_atomic(out / "summary.json", summary)
        return summary
