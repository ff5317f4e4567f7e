"""Alert sinks and the dispatcher, against a real HTTP server on 127.0.0.1 (no network beyond loopback)."""

from __future__ import annotations

import dataclasses
import http.server
import io
import json
import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from fallkd_lib.runtime.alerts import (
    Alert,
    AlertDeliveryError,
    AlertDispatcher,
    JsonlSink,
    StdoutSink,
)
from fallkd_lib.runtime.state import FallEvent
from fallkd_lib.runtime.webhook import WebhookSink, redact_url

TOKEN = "tok-S3CRET-8f1e"
QUERY_SECRET = "QSECRET-77"
ALERT = Alert(
    time=1_700_000_000.25,
    track_id=3,
    box=(10.0, 20.0, 110.0, 220.0),
    probability=0.93,
    seconds_down=12.5,
    camera="ward-2",
    snapshot="runs/alerts/ward-2_3.jpg",
    source_time=42.0,
)
ALERT_DICT = {
    "time": 1_700_000_000.25,
    "iso_time": "2023-11-14T22:13:20.250+00:00",
    "camera": "ward-2",
    "track_id": 3,
    "probability": 0.93,
    "seconds_down": 12.5,
    "box": [10.0, 20.0, 110.0, 220.0],
    "snapshot": "runs/alerts/ward-2_3.jpg",
    "source_time": 42.0,
    "fall_seen": False,
}


class Recorder(http.server.ThreadingHTTPServer):
    """Records every POST; answers with `status` after waiting `delay` seconds (cut short at teardown)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status, self.delay = 200, 0.0
        self.release = threading.Event()

    def handle_error(self, request, client_address) -> None:  # a client that timed out is expected here
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.path, dict(self.headers), body))
        if self.server.delay:
            self.server.release.wait(self.server.delay)
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    srv = Recorder()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def hook_url(srv: Recorder) -> str:
    return f"http://127.0.0.1:{srv.server_port}/hook?key={QUERY_SECRET}"


def redacted(srv: Recorder) -> str:
    return f"http://127.0.0.1:{srv.server_port}/hook?<redacted>"


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text and QUERY_SECRET not in text


class MemorySink:
    name = "memory"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_alert_fields_iso_time_and_from_event() -> None:
    assert ALERT.to_dict() == ALERT_DICT
    assert Alert(0.0, 1, (0, 0, 1, 1), 0.5, 0.0, "cam").iso_time == "1970-01-01T00:00:00.000+00:00"
    event = FallEvent("long_lie", 42.0, 3, "alerted", 0.93, 12.5, (10.0, 20.0, 110.0, 220.0))
    alert = Alert.from_event(
        event, "ward-2", snapshot=Path("runs/alerts/ward-2_3.jpg"), wall_time=1_700_000_000.25
    )
    assert alert == ALERT


def test_webhook_posts_exact_json_with_bearer_token(server: Recorder, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FALLKD_WEBHOOK_TOKEN", TOKEN)
    sink = WebhookSink(hook_url(server))
    sink.send(ALERT)
    [(path, headers, body)] = server.requests
    assert path == f"/hook?key={QUERY_SECRET}"
    assert json.loads(body) == ALERT_DICT
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert repr(sink) == (
        f"WebhookSink(url='{redacted(server)}', token_env='FALLKD_WEBHOOK_TOKEN', timeout=3.0, retries=2, backoff=0.5)"
    )
    assert_no_secret(repr(sink), str(sink), caplog.text)


def test_webhook_without_token_sends_no_authorization(server: Recorder, monkeypatch) -> None:
    monkeypatch.delenv("FALLKD_WEBHOOK_TOKEN", raising=False)
    WebhookSink(hook_url(server)).send(ALERT)
    [(_, headers, _)] = server.requests
    assert "Authorization" not in headers


def test_webhook_timeout_retries_then_raises_in_time(server: Recorder, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FALLKD_WEBHOOK_TOKEN", TOKEN)
    server.delay = 5.0
    sink = WebhookSink(hook_url(server), timeout=0.3, retries=2, backoff=0.05)
    start = time.monotonic()
    with pytest.raises(AlertDeliveryError) as err:
        sink.send(ALERT)
    elapsed = time.monotonic() - start
    # 3 attempts of 0.3 s each, plus backoffs 0.05 + 0.1 s, plus 1 s slack for a busy 2-core machine
    assert 3 * 0.3 <= elapsed <= 3 * 0.3 + 0.15 + 1.0
    assert len(server.requests) == 3
    message = str(err.value)
    assert message.startswith(
        f"webhook {redacted(server)}: alert for track 3 not delivered after 3 attempt(s): "
    )
    assert message.count("timed out after 0.3 s") == 3
    assert_no_secret(message, repr(err.value), caplog.text)


def test_webhook_http_500_is_retried(server: Recorder) -> None:
    server.status = 500
    with pytest.raises(AlertDeliveryError, match=r"after 3 attempt\(s\): HTTP 500 Internal Server Error;"):
        WebhookSink(hook_url(server), retries=2, backoff=0.0).send(ALERT)
    assert len(server.requests) == 3


def test_webhook_http_401_is_not_retried(server: Recorder) -> None:
    server.status = 401
    with pytest.raises(AlertDeliveryError, match=r"after 1 attempt\(s\): HTTP 401 Unauthorized\."):
        WebhookSink(hook_url(server), retries=2, backoff=0.0).send(ALERT)
    assert len(server.requests) == 1


def test_webhook_connection_refused_is_retried() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(
        AlertDeliveryError, match=r"after 2 attempt\(s\): ConnectionRefusedError: .*; Connection"
    ):
        WebhookSink(f"http://127.0.0.1:{port}/hook", retries=1, backoff=0.0).send(ALERT)


def test_webhook_rejects_bad_urls_and_tokens_without_leaking(monkeypatch) -> None:
    with pytest.raises(ValueError, match="must be http:// or https://"):
        WebhookSink("ftp://example.org/hook")
    assert redact_url(f"https://user:{TOKEN}@example.org/a/b?key={QUERY_SECRET}#frag") == (
        "https://<redacted>@example.org/a/b?<redacted>"
    )
    assert redact_url("https://example.org/a") == "https://example.org/a"
    monkeypatch.setenv("FALLKD_WEBHOOK_TOKEN", f"{TOKEN}\nX-Evil: 1")
    with pytest.raises(AlertDeliveryError, match="holds a newline or non-ASCII character") as err:
        WebhookSink("http://127.0.0.1:9/hook").send(ALERT)
    assert_no_secret(str(err.value))


def test_dispatcher_keeps_failed_alert_in_log_and_other_sinks_still_get_it(
    server: Recorder, tmp_path: Path, monkeypatch, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FALLKD_WEBHOOK_TOKEN", TOKEN)
    server.status = 500
    memory, copy = MemorySink(), tmp_path / "copy" / "alerts.jsonl"
    sinks = [WebhookSink(hook_url(server), retries=0), JsonlSink(copy), memory]
    dispatcher = AlertDispatcher(sinks, tmp_path / "log" / "alerts.jsonl")
    report = dispatcher.dispatch(ALERT)
    error = (
        f"AlertDeliveryError: webhook {redacted(server)}: alert for track 3 not delivered after 1 attempt(s): "
        "HTTP 500 Internal Server Error. Check that the server is up and reachable from this device and that "
        "$FALLKD_WEBHOOK_TOKEN holds a valid token, or raise timeout/retries"
    )
    assert report is not None and not report.ok
    assert report.delivered == {"webhook": False, "jsonl": True, "memory": True}
    assert report.errors == {"webhook": error}
    assert read_jsonl(tmp_path / "log" / "alerts.jsonl") == [
        {
            **ALERT_DICT,
            "delivered": {"webhook": False, "jsonl": True, "memory": True},
            "errors": {"webhook": error},
        }
    ]
    assert read_jsonl(copy) == [ALERT_DICT] and memory.alerts == [ALERT]
    assert (dispatcher.sent, dict(dispatcher.failures), list(dispatcher.failed)) == (
        1,
        {"webhook": 1},
        [report],
    )
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name == "fallkd_lib.runtime.alerts"
    ]
    assert [r.getMessage() for r in warnings] == [
        f"alert for track 3 not delivered by sink 'webhook': {error}"
    ]
    assert_no_secret(caplog.text, (tmp_path / "log" / "alerts.jsonl").read_text())


def test_dispatcher_never_raises_even_when_its_log_cannot_be_written(tmp_path: Path, caplog) -> None:
    class Broken:
        name = "memory"  # same name as the MemorySink: the second becomes memory#2

        def send(self, alert: Alert) -> None:
            raise RuntimeError("disk on fire")

    (tmp_path / "not_a_dir").write_text("x")
    memory = MemorySink()
    dispatcher = AlertDispatcher([Broken(), memory], tmp_path / "not_a_dir" / "alerts.jsonl")
    report = dispatcher.dispatch(ALERT)
    assert report is not None
    assert report.delivered == {"memory": False, "memory#2": True}
    assert report.errors == {"memory": "RuntimeError: disk on fire"}
    assert memory.alerts == [ALERT] and dispatcher.log_errors == 1
    assert "not writable" in caplog.text


def test_background_worker_delivers_without_stalling_and_drains_on_close(
    server: Recorder, tmp_path: Path
) -> None:
    server.delay = 0.2  # a slow server: 3 alerts take >= 0.6 s to deliver
    log = tmp_path / "alerts.jsonl"
    dispatcher = AlertDispatcher([WebhookSink(hook_url(server), timeout=2.0)], log, background=True)
    alerts = [Alert(1_700_000_000.0 + i, i, (0.0, 0.0, 1.0, 1.0), 0.9, 11.0, "cam") for i in (1, 2, 3)]
    start = time.monotonic()
    assert [dispatcher.dispatch(a) for a in alerts] == [None, None, None]
    assert time.monotonic() - start < 0.1  # the caller (the frame loop) did not wait for the server
    assert dispatcher.close(timeout=5.0) is True
    assert [json.loads(body)["track_id"] for _, _, body in server.requests] == [1, 2, 3]
    assert [(r["track_id"], r["delivered"], r["errors"]) for r in read_jsonl(log)] == [
        (1, {"webhook": True}, {}),
        (2, {"webhook": True}, {}),
        (3, {"webhook": True}, {}),
    ]
    assert dispatcher.dispatch(alerts[0]) is not None  # after close, delivery is synchronous


def test_background_queue_full_and_close_timeout_still_log_every_alert(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()

    class Stuck:
        name = "stuck"

        def send(self, alert: Alert) -> None:
            started.set()
            release.wait(5.0)

    log = tmp_path / "alerts.jsonl"
    dispatcher = AlertDispatcher([Stuck()], log, background=True, queue_size=1)
    alerts = [Alert(1_700_000_000.0 + i, i, (0.0, 0.0, 1.0, 1.0), 0.9, 11.0, "cam") for i in (1, 2, 3)]
    assert dispatcher.dispatch(alerts[0]) is None
    assert started.wait(2.0)  # the worker is stuck on alert 1
    assert dispatcher.dispatch(alerts[1]) is None  # queued
    full = dispatcher.dispatch(alerts[2])  # no room: recorded at once, never blocks
    assert full is not None and full.errors == {
        "stuck": "alert queue full (1 waiting): a sink is slow or down"
    }
    assert dispatcher.close(timeout=0.2) is False  # alert 1 still in flight, alert 2 given up
    release.set()
    dispatcher._worker.join(2.0)
    records = {r["track_id"]: (r["delivered"], r["errors"]) for r in read_jsonl(log)}
    assert records == {
        3: ({"stuck": False}, {"stuck": "alert queue full (1 waiting): a sink is slow or down"}),
        2: ({"stuck": False}, {"stuck": "not sent: dispatcher closed after 0.2 s with alerts still queued"}),
        1: ({"stuck": True}, {}),
    }
    assert (dispatcher.sent, dispatcher.failures["stuck"]) == (3, 2)


def test_stdout_and_jsonl_sinks(tmp_path: Path, capsys) -> None:
    StdoutSink().send(ALERT)
    line = (
        "[fallkd ALERT] 2023-11-14T22:13:20.250+00:00 camera=ward-2 track=3 long lie: down 12.5 s, p=0.93, "
        "box=(10, 20, 110, 220) snapshot=runs/alerts/ward-2_3.jpg\n"
    )
    assert capsys.readouterr().out == line
    seen = dataclasses.replace(ALERT, fall_seen=True)  # the fast path: a fall seen, not a long lie
    StdoutSink().send(seen)
    assert capsys.readouterr().out == line.replace(" long lie: ", " fall: ")
    stream = io.StringIO()
    StdoutSink(stream).send(ALERT)
    assert stream.getvalue() == line
    sink = JsonlSink(tmp_path / "a" / "b" / "alerts.jsonl")
    sink.send(ALERT)
    sink.send(ALERT)
    assert read_jsonl(sink.path) == [ALERT_DICT, ALERT_DICT]


def test_the_edge_console_line_names_the_alert_path(tmp_path: Path, capsys) -> None:
    from fallkd_lib.edge.runner import AlertOutbox

    outbox = AlertOutbox(tmp_path)
    outbox.send(ALERT_DICT)
    outbox.send(ALERT_DICT | {"fall_seen": True})
    assert capsys.readouterr().out.splitlines() == [
        "[fallkd ALERT] 2023-11-14T22:13:20.250+00:00 camera=ward-2 track=3 long lie: down 12.5 s, p=0.93",
        "[fallkd ALERT] 2023-11-14T22:13:20.250+00:00 camera=ward-2 track=3 fall: down 12.5 s, p=0.93",
    ]
    assert [r["fall_seen"] for r in read_jsonl(tmp_path / "alerts.jsonl")] == [False, True]


def test_edge_outbox_drains_on_close_and_logs_what_it_could_not_send(
    server: Recorder, tmp_path: Path
) -> None:
    """run_edge.py's AlertOutbox: a live webhook gets every alert before close() returns; a stuck one leaves the
    in-flight and the queued alerts in alert_deliveries.jsonl as not delivered, each once."""
    from fallkd_lib.edge.runner import AlertOutbox

    records = [dict(ALERT_DICT, track_id=i) for i in (1, 2, 3)]
    fine = AlertOutbox(tmp_path / "fine", hook_url(server), timeout=2.0, retries=0)
    for record in records:
        fine.send(record)
    fine.close(timeout=5.0)
    logged = read_jsonl(tmp_path / "fine" / "alert_deliveries.jsonl")
    assert [(r["track_id"], r["delivered"]) for r in logged] == [
        (i, {"webhook": True, "jsonl": True}) for i in (1, 2, 3)
    ]
    server.delay = 10.0  # the server now hangs until the test releases it
    stuck = AlertOutbox(tmp_path / "stuck", hook_url(server), timeout=5.0, retries=0)
    for record in records:
        stuck.send(record)
    time.sleep(0.3)  # the worker is in the POST of alert 1
    start = time.monotonic()
    stuck.close(timeout=0.3)
    assert time.monotonic() - start < 1.5
    server.release.set()  # the POST of alert 1 now returns: the worker must not log it a second time
    stuck._worker.join(3.0)
    logged = read_jsonl(tmp_path / "stuck" / "alert_deliveries.jsonl")
    assert [(r["track_id"], r["delivered"]["webhook"]) for r in logged] == [
        (1, False),
        (2, False),
        (3, False),
    ]
    assert logged[0]["errors"]["webhook"].endswith("delivery unknown")
    assert logged[1]["errors"]["webhook"].startswith("not sent: the camera stopped after waiting 0.3 s")
    assert len(read_jsonl(tmp_path / "stuck" / "alerts.jsonl")) == 3 and stuck.raised == 3
