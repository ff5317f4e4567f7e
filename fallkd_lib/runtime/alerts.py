"""Deliver long-lie alerts (console, append-only JSONL; the webhook sink is in `webhook.py`), never stopping the
video pipeline.

A sink is any object with ``name`` and ``send(alert) -> None`` that raises when it fails. ``AlertDispatcher``
sends each alert to every sink, logs failures, and always appends the alert with its delivery status to a
JSONL log, so an alert that a webhook missed is still on disk for the medical station's audit.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from fallkd_lib.edge import alerts as _core
from fallkd_lib.errors import FallkdError
from fallkd_lib.runtime.state import FallEvent

_log = logging.getLogger(__name__)
_APPEND_LOCK = threading.Lock()


class AlertDeliveryError(FallkdError, RuntimeError):
    """A sink could not deliver an alert; the message names the (redacted) destination and the cause."""


@dataclass(frozen=True)
class Alert:
    """One alert: when (unix seconds, UTC ISO), who (track id, box), how sure, how long down, which camera, how found.

    `time` is the wall clock when the alert was raised; `source_time` is the event's time in the source (seconds
    into the video, or the stream's clock), to find the moment in a recording.
    """

    time: float
    track_id: int
    box: tuple[float, float, float, float]
    probability: float
    seconds_down: float
    camera: str
    snapshot: str | None = None
    iso_time: str = ""  # filled from time when empty
    source_time: float | None = None
    fall_seen: bool = False  # True: the fall was seen (fast path); False: found down (slow, long-lie path)

    def __post_init__(self) -> None:
        """Fill iso_time from time (UTC, milliseconds)."""
        if not self.iso_time:
            object.__setattr__(self, "iso_time", _core.iso_time(self.time))

    @classmethod
    def from_event(
        cls, event: FallEvent, camera: str, snapshot: str | Path | None = None, wall_time: float | None = None
    ) -> Alert:
        """Turn a FallTracker "long_lie" event into an alert stamped with wall-clock time (default: now)."""
        record = _core.alert_record(
            event, camera, snapshot, wall_time
        )  # the edge bundle's record, field by field
        record["box"] = tuple(record["box"])
        return cls(**record)

    def to_dict(self) -> dict[str, Any]:
        """The alert as a JSON-ready dict (the webhook body and the JSONL record)."""
        return {
            "time": self.time,
            "iso_time": self.iso_time,
            "camera": self.camera,
            "track_id": self.track_id,
            "probability": self.probability,
            "seconds_down": self.seconds_down,
            "box": [float(v) for v in self.box],
            "snapshot": self.snapshot,
            "source_time": self.source_time,
            "fall_seen": self.fall_seen,
        }


class AlertSink(Protocol):
    """Anything that can deliver an alert; send raises when delivery fails."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver one alert or raise."""


def format_alert(alert: Alert) -> str:
    """One human-readable line for consoles and logs."""
    box = ", ".join(f"{v:.0f}" for v in alert.box)
    snap = f" snapshot={alert.snapshot}" if alert.snapshot else ""
    return (
        f"[fallkd ALERT] {alert.iso_time} camera={alert.camera} track={alert.track_id} "
        f"{_core.alert_kind(alert.fall_seen)}: "
        f"down {alert.seconds_down:.1f} s, p={alert.probability:.2f}, box=({box}){snap}"
    )


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line and fsync it (creates the folders; safe to call from several threads)."""
    _core.append_jsonl(path, record)


class StdoutSink:
    """Print each alert as one line (to stream, default sys.stdout at send time)."""

    name = "stdout"

    def __init__(self, stream: TextIO | None = None) -> None:
        """Remember the stream (None: whatever sys.stdout is when an alert is sent)."""
        self._stream = stream

    def send(self, alert: Alert) -> None:
        """Print the alert and flush."""
        print(format_alert(alert), file=self._stream or sys.stdout, flush=True)


class JsonlSink:
    """Append each alert as one JSON line to a file (flushed and fsynced, folders created)."""

    name = "jsonl"

    def __init__(self, path: str | Path) -> None:
        """Remember the file; it is created on the first alert."""
        self.path = Path(path)

    def send(self, alert: Alert) -> None:
        """Append the alert's JSON line."""
        append_jsonl(self.path, alert.to_dict())

    def __repr__(self) -> str:
        return f"JsonlSink({str(self.path)!r})"


@dataclass(frozen=True)
class DeliveryReport:
    """What happened to one alert: delivered per sink name, and the error of each sink that failed."""

    alert: Alert
    delivered: dict[str, bool]
    errors: dict[str, str]

    @property
    def ok(self) -> bool:
        """True when every sink delivered the alert."""
        return all(self.delivered.values())


class AlertDispatcher:
    """Send alerts to every sink; a failing sink is logged and recorded, never raised, and the JSONL log always
    gets the alert with its delivery status. With background=True one daemon thread delivers from a queue so a
    slow webhook never stalls frames; close(timeout) drains it."""

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        log_path: str | Path,
        background: bool = False,
        queue_size: int = 100,
    ) -> None:
        """Name the sinks (duplicates get #2, #3...) and start the worker thread when background is set."""
        self.sinks = list(sinks)
        self.names: list[str] = []
        for sink in self.sinks:
            base = str(getattr(sink, "name", type(sink).__name__))
            name, n = base, 1
            while name in self.names:
                n += 1
                name = f"{base}#{n}"
            self.names.append(name)
        self.log_path = Path(log_path)
        self.sent = 0  # alerts handled (delivered or not)
        self.failures: Counter[str] = Counter()  # failed deliveries per sink name
        self.failed: deque[DeliveryReport] = deque(maxlen=100)  # the latest reports with a failure
        self.log_errors = 0  # alerts that could not be written to log_path
        self._lock = threading.Lock()
        self._queue: queue.Queue[Alert] = queue.Queue(maxsize=queue_size)
        self._stop, self._abandon = threading.Event(), threading.Event()
        self._worker: threading.Thread | None = None
        if background:
            self._worker = threading.Thread(target=self._run, name="fallkd-alerts", daemon=True)
            self._worker.start()

    def dispatch(self, alert: Alert) -> DeliveryReport | None:
        """Deliver now (returns the report) or, in background mode, queue it (returns None); never raises."""
        if self._worker is None or self._stop.is_set():
            return self.deliver(alert)
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            return self._not_sent(
                alert, f"alert queue full ({self._queue.maxsize} waiting): a sink is slow or down"
            )
        return None

    def deliver(self, alert: Alert) -> DeliveryReport:
        """Send to every sink in this thread, log failures, append the record to log_path; never raises."""
        delivered: dict[str, bool] = {}
        errors: dict[str, str] = {}
        for name, sink in zip(self.names, self.sinks, strict=True):
            try:
                sink.send(alert)
                delivered[name] = True
            except Exception as exc:  # a broken sink must not stop the others or the pipeline
                delivered[name], errors[name] = False, f"{type(exc).__name__}: {exc}"
                _log.warning(
                    "alert for track %s not delivered by sink %r: %s", alert.track_id, name, errors[name]
                )
        return self._record(alert, delivered, errors)

    @property
    def pending(self) -> int:
        """Alerts waiting in the background queue."""
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the worker after it drains the queue; alerts still queued after timeout are logged as not sent."""
        if self._worker is None:
            return True
        self._stop.set()
        self._worker.join(timeout)
        drained = not self._worker.is_alive()
        if not drained:
            self._abandon.set()
            while True:
                try:
                    alert = self._queue.get_nowait()
                except queue.Empty:
                    break
                self._not_sent(
                    alert, f"not sent: dispatcher closed after {timeout:g} s with alerts still queued"
                )
        return drained

    def __enter__(self) -> AlertDispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        """The worker: deliver queued alerts until close() is called and the queue is empty."""
        while True:
            try:
                alert = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if self._abandon.is_set():
                self._not_sent(alert, "not sent: dispatcher closed before delivery")
            else:
                self.deliver(alert)

    def _not_sent(self, alert: Alert, error: str) -> DeliveryReport:
        """Record an alert that reached no sink."""
        _log.warning("alert for track %s not sent: %s", alert.track_id, error)
        return self._record(alert, dict.fromkeys(self.names, False), dict.fromkeys(self.names, error))

    def _record(self, alert: Alert, delivered: dict[str, bool], errors: dict[str, str]) -> DeliveryReport:
        """Count the outcome and append it to the JSONL log (a log failure is logged, not raised)."""
        report = DeliveryReport(alert, delivered, errors)
        try:
            append_jsonl(self.log_path, {**alert.to_dict(), "delivered": delivered, "errors": errors})
        except (OSError, TypeError, ValueError) as exc:
            _log.error(
                "alert log %s not writable (%s); alert was: %s", self.log_path, exc, format_alert(alert)
            )
            with self._lock:
                self.log_errors += 1
        with self._lock:
            self.sent += 1
            self.failures.update(name for name, ok in delivered.items() if not ok)
            if not report.ok:
                self.failed.append(report)
        return report
