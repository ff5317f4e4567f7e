"""run_edge.py: the fall camera of a `fallkd export` bundle, with numpy, OpenCV and ONNX Runtime or TensorRT only
(no torch, no ultralytics; Python 3.6, JetPack 4.6's).

    python3 run_edge.py --source 0 --out alerts/ [--backend tensorrt] [--webhook URL] [--camera NAME]

Every setting comes from the bundle's pipeline.json, which `fallkd export` wrote from the models and the camera's
PipelineConfig: per frame, the detector (ultralytics' letterbox, YOLO decoding, class-agnostic NMS), the IoU tracker,
the confirm gate, the person crops cut as the classifier's training crops were, one batched classifier call,
the fall state machine (two alert paths), and the alerts: a console line, alerts.jsonl, the webhook (a background
thread; a failing webhook never stops the camera) and alert_deliveries.jsonl. events.jsonl and summary.json are
written as `fallkd detect` writes them. --source is a video file, a folder of images or a camera index.
"""

import argparse
import concurrent.futures
import json
import os
import queue
import signal
import sys
import threading
import time

import cv2
import numpy as np

from .alerts import alert_kind, alert_record, append_jsonl, header_safe, post_json, redact_url
from .backends import open_model
from .boxes import IouTracker, TrackGate, clip_boxes
from .crops import classifier_batch, crop_people, softmax
from .errors import UsageError
from .fall_state import FallTracker, settings
from .yolo import detect

BUNDLE_FORMAT = "fallkd-edge-bundle"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
STAGES = ("detect", "crop", "classify", "track", "total")
# The two ONNX Runtime sessions run one after the other on the same cores. The detector, most of a frame's FLOPs,
# takes them all; the classifier, a few small crops, one thread: split over cores, each of its many small layers
# wakes and waits for a second thread. On a 2-core CPU with the quick student (3 crops at 48 px) its stage fell
# from 7.4 to 4.4 ms (benchmarks/bench_export.py). A large classifier (224 px crops) may prefer 0 (all cores).
CLASSIFIER_THREADS = 1
# A one-thread classifier leaves the other cores idle while it runs, and a few crops are too small to share one call
# over threads. So the crops are split instead: each worker's call runs its share on its own core (ONNX Runtime
# releases the GIL). On the 2-core CPU, 3-4 int8 crops at 48 px fell from 3.7 to about 2 ms. TensorRT keeps one
# call: one engine context, and the GPU batches by itself.
CLASSIFIER_WORKERS = 2


def add_thread_options(parser):
    """Add --threads (the detector's ONNX Runtime threads), --classifier-threads and --classifier-workers to a parser."""
    parser.add_argument(
        "--threads", type=int, default=0, help="ONNX Runtime threads of the detector (0: all cores)"
    )
    parser.add_argument(
        "--classifier-threads",
        type=int,
        default=CLASSIFIER_THREADS,
        help="ONNX Runtime threads of the classifier (default 1: a few small crops; 0: all cores)",
    )
    parser.add_argument(
        "--classifier-workers",
        type=int,
        default=CLASSIFIER_WORKERS,
        help="split a frame's crops over this many parallel ONNX Runtime calls (default 2; 1: one call, e.g. "
        "with --classifier-threads 0)",
    )


def read_bundle(folder):
    """pipeline.json of a bundle folder, checked for its format."""
    path = os.path.join(str(folder), "pipeline.json")
    if not os.path.isfile(path):
        raise UsageError("{} not found: pass the folder `fallkd export` wrote".format(path))
    with open(path, encoding="utf-8") as f:
        bundle = json.load(f)
    if bundle.get("format") != BUNDLE_FORMAT:
        raise UsageError("{} is not a fallkd edge bundle (format {!r})".format(path, bundle.get("format")))
    return bundle


def iter_source(source, fps=None, loop=False):
    """(index, timestamp s, name, RGB frame) of a video file, a folder of images or a camera index; timestamps as
    `fallkd detect` gives them (frame / fps for files, 1 fps for images unless fps is given; the clock for a
    camera). loop replays a file or folder forever, index and time running on (a soak test, a demo screen)."""
    if not loop or str(source).isdigit():
        for item in _iter_once(source, fps):
            yield item
        return
    index, offset, replay = 0, 0.0, 0
    while True:
        stamps = []
        for _, stamp, name, image in _iter_once(source, fps):
            yield index, offset + stamp, name if not replay else "{}_r{}".format(name, replay), image
            index += 1
            stamps.append(stamp)
        if not stamps:
            return
        step = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else 1.0 / (fps or 1.0)
        offset, replay = offset + stamps[-1] + step, replay + 1


def _iter_once(source, fps=None):
    """One pass over a source (see iter_source)."""
    if str(source).isdigit():
        cap, start, index = cv2.VideoCapture(int(source)), time.monotonic(), 0
        if not cap.isOpened():
            raise UsageError("camera {} cannot be opened".format(source))
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    return
                stamp = time.monotonic() - start
                yield index, stamp, "cam{}_{:06d}".format(source, index), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            cap.release()
    if not os.path.exists(str(source)):
        raise UsageError(
            "{} not found: pass a video file, a folder of images or a camera index".format(source)
        )
    if os.path.isdir(str(source)):
        names = sorted(n for n in os.listdir(str(source)) if n.lower().endswith(IMAGE_SUFFIXES))
        if not names:
            raise UsageError("{}: folder without images".format(source))
        index = 0
        for name in names:
            bgr = cv2.imread(os.path.join(str(source), name), cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            yield index, index / (fps or 1.0), os.path.splitext(name)[0], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
        return
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise UsageError("{}: OpenCV cannot open this video".format(source))
    rate = fps or cap.get(cv2.CAP_PROP_FPS) or 25.0
    stem, index = os.path.splitext(os.path.basename(str(source)))[0], 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield index, index / rate, "{}_{:06d}".format(stem, index), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()


class EdgeCamera(object):
    """Detector + IoU tracker + confirm gate + batched crop classifier + fall state, one frame at a time."""

    def __init__(
        self,
        folder,
        backend="onnxruntime",
        threads=0,
        classifier_threads=CLASSIFIER_THREADS,
        classifier_file=None,
        classifier_workers=CLASSIFIER_WORKERS,
    ):
        """Open both models of the bundle with `backend`; every setting from pipeline.json. ONNX Runtime threads:
        `threads` for the detector, `classifier_threads` for the classifier (0: all cores); classifier_workers
        parallel calls share a frame's crops (ONNX Runtime only). classifier_file: another file of the same
        classifier in the bundle (e.g. classifier_int8.onnx, for a CPU) instead of pipeline.json's."""
        if int(classifier_workers) < 1:
            raise UsageError("classifier_workers must be >= 1, got {}".format(classifier_workers))
        self.bundle = bundle = read_bundle(folder)
        det, cls = bundle["detector"], bundle["classifier"]
        self.detector = open_model(os.path.join(str(folder), det["file"]), backend, threads)
        path = os.path.join(str(folder), classifier_file or cls["file"])
        if not os.path.isfile(path):
            raise UsageError(
                "{} not found: --classifier-file names a file of the bundle (classifier_int8.onnx is written by "
                "`fallkd export --calib`)".format(path)
            )
        self.classifier = open_model(path, backend, classifier_threads)
        self.workers = int(classifier_workers) if backend == "onnxruntime" else 1
        self._pool = None
        if self.workers > 1:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.workers - 1, "fallkd-classifier")
        self.det, self.cls = det, cls
        self.state = settings(bundle["state"])
        self.reset()

    def reset(self):
        """Forget every track (a new video starts here)."""
        tracker = self.bundle["tracker"]
        self.tracker = IouTracker(tracker["min_iou"], tracker["max_age"])
        self.gate = TrackGate(
            self.bundle["confirm_conf"], self.state.forget_after, self.bundle.get("confirm_motion")
        )
        self.fall_tracker = FallTracker(self.state)
        self.timings = dict.fromkeys(STAGES, 0.0)
        self.frames = 0

    def fall_probabilities(self, crops):
        """Fall probability per crop, from one batched classifier call."""
        if not len(crops):
            return np.zeros(0, dtype=np.float32)
        cls = self.cls
        batch = classifier_batch(crops, cls["image_size"], cls["mean"], cls["std"])
        return softmax(self.logits(batch))[:, cls["fall_index"]]

    def logits(self, batch):
        """The classifier's scores of a batch: one call, or split in up to `workers` parallel calls (the last
        share on this thread)."""
        parts = min(self.workers, len(batch))
        if parts < 2:
            return self.classifier(batch)
        shares = np.array_split(batch, parts)
        pending = [self._pool.submit(self.classifier, share) for share in shares[:-1]]
        last = self.classifier(shares[-1])
        return np.concatenate([job.result() for job in pending] + [last])

    def process(self, image, timestamp):
        """(dets (N, 6) x1 y1 x2 y2 conf track, fall probabilities, events) of one RGB frame."""
        det, crop = self.det, self.cls["crop"]
        t0 = time.perf_counter()
        found = detect(self.detector, image, det["input_size"], det["conf"], det["iou"], det["max_det"])
        found = found[:, :5].astype(np.float64)
        dets = np.column_stack([found, self.tracker.assign(found[:, :4])]) if len(found) else np.zeros((0, 6))
        dets = clip_boxes(dets, image.shape[1], image.shape[0])
        dets = self.gate.filter(timestamp, dets)
        t1 = time.perf_counter()
        crops = crop_people(image, dets[:, :4], crop["size"], crop["pad"], crop["fill"])
        t2 = time.perf_counter()
        probs = self.fall_probabilities(crops)
        t3 = time.perf_counter()
        observations = [(int(d[5]), float(np.clip(p, 0, 1)), tuple(d[:4])) for d, p in zip(dets, probs)]
        events = self.fall_tracker.update(timestamp, observations)
        t4 = time.perf_counter()
        for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            self.timings[stage] += seconds
        self.frames += 1
        return dets, probs, events

    def stage_ms(self):
        """Mean milliseconds per frame of each stage so far."""
        n = max(self.frames, 1)
        return {stage: round(1000 * seconds / n, 3) for stage, seconds in self.timings.items()}


class AlertOutbox(object):
    """Deliver alerts without stalling frames: console + alerts.jsonl at once, the webhook on a background thread;
    every alert ends in alert_deliveries.jsonl with what reached where."""

    def __init__(
        self, out, webhook=None, token_env="FALLKD_WEBHOOK_TOKEN", timeout=3.0, retries=2, backoff=0.5
    ):
        """Start the webhook thread when a URL is given."""
        self.out, self.webhook, self.token_env = str(out), webhook, token_env
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.raised, self.failures = 0, 0
        self._queue = queue.Queue(maxsize=100)
        self._worker, self._lock, self._closed, self._current = None, threading.Lock(), False, None
        if webhook:
            self._worker = threading.Thread(target=self._run, name="fallkd-alerts", daemon=True)
            self._worker.start()

    def send(self, record):
        """Print and log the alert now; queue it for the webhook (a full queue is logged as not sent)."""
        self.raised += 1
        print(
            "[fallkd ALERT] {} camera={} track={} {}: down {:.1f} s, p={:.2f}".format(
                record["iso_time"],
                record["camera"],
                record["track_id"],
                alert_kind(record.get("fall_seen")),
                record["seconds_down"],
                record["probability"],
            ),
            flush=True,
        )
        append_jsonl(os.path.join(self.out, "alerts.jsonl"), record)
        if self._worker is None:
            self._log(record, {}, {})
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._log(
                record, {"webhook": False}, {"webhook": "alert queue full: the webhook is slow or down"}
            )

    def _run(self):
        """The webhook thread: POST each queued alert, log the outcome."""
        while True:
            record = self._queue.get()
            with self._lock:
                if record is None or self._closed:
                    return
                self._current = record
            token = os.environ.get(self.token_env, "").strip()
            if token and not header_safe(token):
                causes = ["${} cannot go in an HTTP header".format(self.token_env)]
            else:
                body = json.dumps(record).encode("utf-8")
                causes = post_json(self.webhook, body, token, self.timeout, self.retries, self.backoff)
            error = {"webhook": "; ".join(causes)} if causes else {}
            with self._lock:
                if self._closed:  # close() gave up waiting and has logged this alert
                    return
                self._current = None
                self._log(record, {"webhook": not causes}, error)

    def _log(self, record, delivered, errors):
        """Append the delivery record."""
        self.failures += sum(1 for ok in delivered.values() if not ok)
        entry = dict(record, delivered=dict(delivered, jsonl=True), errors=errors)
        append_jsonl(os.path.join(self.out, "alert_deliveries.jsonl"), entry)

    def close(self, timeout=10.0):
        """Let the webhook thread finish what is queued (up to timeout seconds); what it could not send by then is
        logged as not delivered, so every alert raised has its line in alert_deliveries.jsonl."""
        if self._worker is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._worker.join(timeout)
        with self._lock:
            if not self._worker.is_alive():
                return
            self._closed = True
            if self._current is not None:
                error = "the camera stopped during the POST (after waiting {:g} s): delivery unknown".format(
                    timeout
                )
                self._log(self._current, {"webhook": False}, {"webhook": error})
        while True:
            try:
                record = self._queue.get_nowait()
            except queue.Empty:
                return
            if record is not None:
                error = "not sent: the camera stopped after waiting {:g} s with alerts still queued".format(
                    timeout
                )
                self._log(record, {"webhook": False}, {"webhook": error})


def save_snapshot(out, name, image, box):
    """The frame with the alerted person's box, as a JPEG; returns its path."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(bgr, (x1, y1), (x2, y2), (0, 0, 255), 2)
    path = os.path.join(out, "snapshots", name + ".jpg")
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    cv2.imwrite(path, bgr)
    return path


def run(camera, source, out, outbox, name="camera", fps=None, max_frames=None, loop=False):
    """Process a source into out (events.jsonl, alerts, snapshots/, summary.json); returns the summary. loop
    replays a file or folder until max_frames, Ctrl-C or SIGTERM."""
    camera.reset()
    if not os.path.isdir(out):
        os.makedirs(out)
    counts, start, error = {}, time.perf_counter(), None
    try:
        with open(os.path.join(out, "events.jsonl"), "w", encoding="utf-8") as events_file:
            for index, stamp, frame_name, image in iter_source(source, fps, loop):
                _, _, events = camera.process(image, stamp)
                for event in events:
                    record = dict(frame=index, name=frame_name, **event._asdict())
                    events_file.write(json.dumps(record) + "\n")
                    counts[event.kind] = counts.get(event.kind, 0) + 1
                    if event.kind == "long_lie":
                        snap = "{}_{}_track{}".format(name, frame_name, event.track_id)
                        outbox.send(alert_record(event, name, save_snapshot(out, snap, image, event.box)))
                events_file.flush()
                if max_frames is not None and camera.frames >= max_frames:
                    break
    except KeyboardInterrupt:
        error = "KeyboardInterrupt"
    finally:
        outbox.close()
        seconds = time.perf_counter() - start
        summary = {
            "source": str(source),
            "camera": name,
            "frames": camera.frames,
            "seconds": round(seconds, 3),
            "fps": round(camera.frames / seconds, 3) if seconds > 0 else None,
            "stage_ms": camera.stage_ms(),
            "tracking": "iou",
            "unconfirmed_boxes": camera.gate.unconfirmed,
            "confirmed_by": camera.gate.confirmed_by(),
            "events": counts,
            "alerts": outbox.raised,
            "alerts_undelivered": outbox.failures,
            "error": error,
        }
        with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    return summary


def _stop(signum, frame):
    """SIGTERM (systemctl stop, docker stop) ends the camera as Ctrl-C does: alerts flushed, summary written."""
    raise KeyboardInterrupt


def main(argv=None):
    """The command line of run_edge.py."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(
        description="fallkd's fall camera on the edge (a `fallkd export` bundle)"
    )
    parser.add_argument("--source", required=True, help="video file, folder of images or camera index (0)")
    parser.add_argument("--out", required=True, help="output folder (events, alerts, snapshots, summary)")
    parser.add_argument("--bundle", default=here, help="the bundle folder (default: this script's)")
    parser.add_argument("--backend", default="onnxruntime", choices=("onnxruntime", "tensorrt"))
    add_thread_options(parser)
    parser.add_argument(
        "--classifier-file",
        default=None,
        help="the classifier file in the bundle (default pipeline.json's; classifier_int8.onnx: int8 on a CPU)",
    )
    parser.add_argument("--webhook", default=None, help="POST alerts here (token from $FALLKD_WEBHOOK_TOKEN)")
    parser.add_argument("--camera", default="camera", help="camera name in alerts")
    parser.add_argument(
        "--fps", type=float, default=None, help="override the source's frame rate (timestamps)"
    )
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument(
        "--loop",
        action="store_true",
        help="replay a video or folder until --max-frames or Ctrl-C (time runs on)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    try:
        camera = EdgeCamera(
            args.bundle,
            args.backend,
            args.threads,
            args.classifier_threads,
            args.classifier_file,
            args.classifier_workers,
        )
        if args.webhook:
            print("alerts also go to {}".format(redact_url(args.webhook)))
        outbox = AlertOutbox(args.out, args.webhook)
        summary = run(
            camera, args.source, args.out, outbox, args.camera, args.fps, args.max_frames, args.loop
        )
    except (UsageError, OSError) as exc:
        print("error: {}".format(exc), file=sys.stderr)
        return 2
    print(
        "{} frames at {} fps ({} ms/frame), alerts {}, events {}".format(
            summary["frames"],
            summary["fps"],
            summary["stage_ms"]["total"],
            summary["alerts"],
            summary["events"],
        )
    )
    return 0
