"""Deliver long-lie alerts (console, append-only JSONL file, webhook) without ever stopping the video pipeline.

A sink is any object with ``name`` and ``send(alert) -> None`` that raises when it fails. ``AlertDispatcher``
sends each alert to every sink, logs failures, and always appends the alert with its delivery status to a
JSONL log, so an alert that a webhook missed is still on disk for the medical station's audit.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, TextIO

from fallkd_lib.detect.state import FallEvent

_log = logging.getLogger(__name__)
_APPEND_LOCK = threading.Lock()
_RETRY_4XX = {408, 425, 429}  # client errors that are worth another try; others (401, 404, ...) never heal


class AlertDeliveryError(RuntimeError):
    """A sink could not deliver an alert; the message names the (redacted) destination and the cause."""


@dataclass(frozen=True)
class Alert:
    """One long-lie alert: when (unix seconds, UTC ISO), who (track id, box), how sure, how long, which camera."""

    time: float
    track_id: int
    box: tuple[float, float, float, float]
    probability: float
    seconds_down: float
    camera: str
    snapshot: str | None = None
    iso_time: str = ""  # filled from time when empty

    def __post_init__(self) -> None:
        """Fill iso_time from time (UTC, milliseconds)."""
        if not self.iso_time:
            iso = datetime.fromtimestamp(self.time, tz=timezone.utc).isoformat(timespec="milliseconds")
            object.__setattr__(self, "iso_time", iso)

    @classmethod
    def from_event(
        cls, event: FallEvent, camera: str, snapshot: str | Path | None = None, wall_time: float | None = None
    ) -> Alert:
        """Turn a FallTracker "long_lie" event into an alert stamped with wall-clock time (default: now)."""
        return cls(
            time=time.time() if wall_time is None else float(wall_time),
            track_id=int(event.track_id),
            box=tuple(float(v) for v in event.box),  # type: ignore[arg-type]
            probability=float(event.prob),
            seconds_down=float(event.seconds_down),
            camera=str(camera),
            snapshot=None if snapshot is None else str(snapshot),
        )

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
        f"[fallkd ALERT] {alert.iso_time} camera={alert.camera} track={alert.track_id} long lie: "
        f"down {alert.seconds_down:.1f} s, p={alert.probability:.2f}, box=({box}){snap}"
    )


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line and fsync it (creates the folders; safe to call from several threads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with _APPEND_LOCK, open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def redact_url(url: str) -> str:
    """The URL without its query, fragment or user:password (safe to log)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if "@" in parts.netloc:
        netloc = "<redacted>@" + netloc
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, "<redacted>" if parts.query else "", "")
    )


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects, so the bearer token is never replayed to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        """Return no new request, so urllib raises HTTPError for the 3xx."""
        return None


class WebhookSink:
    """POST each alert as JSON (stdlib urllib), with a bearer token from the environment, retrying on failure."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        token_env: str = "FALLKD_WEBHOOK_TOKEN",
        timeout: float = 3.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        """Check the URL and settings; the token is read from $token_env at each send (never stored)."""
        self.url = redact_url(url)  # safe to show; the real one stays private
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook URL {self.url!r} must be http:// or https:// with a host name")
        if not timeout > 0 or retries < 0 or backoff < 0:
            raise ValueError(
                f"WebhookSink: need timeout > 0, retries >= 0, backoff >= 0; got timeout={timeout!r}, "
                f"retries={retries!r}, backoff={backoff!r}"
            )
        self._url = url
        self.token_env, self.timeout = token_env, float(timeout)
        self.retries, self.backoff = int(retries), float(backoff)
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        return (
            f"WebhookSink(url={self.url!r}, token_env={self.token_env!r}, timeout={self.timeout}, "
            f"retries={self.retries}, backoff={self.backoff})"
        )

    def send(self, alert: Alert) -> None:
        """POST the alert; retry timeouts, refused connections and 5xx/408/429, then raise AlertDeliveryError."""
        token = os.environ.get(self.token_env, "").strip()
        if token and not (token.isascii() and token.isprintable()):
            raise AlertDeliveryError(
                f"webhook {self.url}: ${self.token_env} holds a newline or non-ASCII character, which cannot "
                "go in an HTTP header; set it to the bare token"
            )
        headers = {"Content-Type": "application/json", "User-Agent": "fallkd-alerts"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps(alert.to_dict()).encode("utf-8")
        causes: list[str] = []
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    response.read()
                return
            except (OSError, http.client.HTTPException, ValueError) as exc:
                causes.append(self._scrub(self._describe(exc), token))
                _log.debug(
                    "webhook %s attempt %d/%d failed: %s", self.url, attempt + 1, self.retries + 1, causes[-1]
                )
                if isinstance(exc, urllib.error.HTTPError) and exc.code < 500 and exc.code not in _RETRY_4XX:
                    break
        raise AlertDeliveryError(
            f"webhook {self.url}: alert for track {alert.track_id} not delivered after {len(causes)} attempt(s): "
            f"{'; '.join(causes)}. Check that the server is up and reachable from this device and that "
            f"${self.token_env} holds a valid token, or raise timeout/retries"
        )

    def _describe(self, exc: BaseException) -> str:
        """A short cause for one failed attempt."""
        if isinstance(exc, urllib.error.HTTPError):
            hint = " (redirects are not followed; use the final URL)" if 300 <= exc.code < 400 else ""
            return f"HTTP {exc.code} {exc.reason}{hint}"
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError):
            return f"timed out after {self.timeout:g} s"
        return f"{type(reason).__name__}: {reason}"

    def _scrub(self, text: str, token: str) -> str:
        """Remove the token and the URL's query from a message (defence in depth)."""
        query = urllib.parse.urlsplit(self._url).query
        for secret in (token, self._url, query):
            if secret:
                text = text.replace(secret, "<redacted>")
        return text


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
