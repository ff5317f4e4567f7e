"""Long-lie alerts as records: the alert's JSON form, the append-only JSONL log and the webhook POST (timeout,
retries, a bearer token read from the environment at each send and never logged, redirects refused). The host's
sinks (fallkd_lib.runtime.alerts / webhook) and the bundle's run_edge.py both use these. Python 3.6, stdlib only.
"""

import datetime
import http.client
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

_APPEND_LOCK = threading.Lock()
RETRY_4XX = {408, 425, 429}  # client errors worth another try; others (401, 404, ...) never heal


def iso_time(seconds):
    """UTC ISO time with milliseconds of a unix time."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def alert_record(event, camera, snapshot=None, wall_time=None):
    """The JSON-ready record of a "long_lie" FallEvent: wall-clock time (default now), camera, track, probability,
    seconds down, box, snapshot, the time in the source and whether the fall was seen (the fast path) or the person
    found down (the slow one): the webhook body and the JSONL line."""
    wall = time.time() if wall_time is None else float(wall_time)
    return {
        "time": wall,
        "iso_time": iso_time(wall),
        "camera": str(camera),
        "track_id": int(event.track_id),
        "probability": float(event.prob),
        "seconds_down": float(event.seconds_down),
        "box": [float(v) for v in event.box],
        "snapshot": None if snapshot is None else str(snapshot),
        "source_time": float(event.time),
        "fall_seen": bool(event.fall_seen),
    }


def alert_kind(fall_seen):
    """What the alert reports: "fall" when the fall was seen, "long lie" when the person was found down."""
    return "fall" if fall_seen else "long lie"


def append_jsonl(path, record):
    """Append one JSON line and fsync it (creates the folders; safe to call from several threads)."""
    path = str(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with _APPEND_LOCK, open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def redact_url(url):
    """The URL without its query, fragment or user:password (safe to log)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if "@" in parts.netloc:
        netloc = "<redacted>@" + netloc
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, "<redacted>" if parts.query else "", "")
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects, so the bearer token is never replayed to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        """Return no new request, so urllib raises HTTPError for the 3xx."""
        return None


def no_redirect_opener():
    """A urllib opener that refuses redirects."""
    return urllib.request.build_opener(_NoRedirect())


def describe_failure(exc, timeout):
    """A short cause for one failed POST attempt."""
    if isinstance(exc, urllib.error.HTTPError):
        hint = " (redirects are not followed; use the final URL)" if 300 <= exc.code < 400 else ""
        return "HTTP {} {}{}".format(exc.code, exc.reason, hint)
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out after {:g} s".format(timeout)
    return "{}: {}".format(type(reason).__name__, reason)


def post_json(url, body, token, timeout, retries, backoff, opener=None, secrets=()):
    """POST body (bytes of JSON) with the bearer token; retry timeouts, refused connections and 5xx/408/425/429.
    Returns [] when delivered, else the causes of each failed attempt with the token and `secrets` scrubbed."""
    headers = {"Content-Type": "application/json", "User-Agent": "fallkd-alerts"}
    if token:
        headers["Authorization"] = "Bearer " + token
    opener = opener or no_redirect_opener()
    causes = []
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read()
            return []
        except (OSError, http.client.HTTPException, ValueError) as exc:
            cause = describe_failure(exc, timeout)
            for secret in (token,) + tuple(secrets):
                if secret:
                    cause = cause.replace(secret, "<redacted>")
            causes.append(cause)
            if isinstance(exc, urllib.error.HTTPError) and exc.code < 500 and exc.code not in RETRY_4XX:
                break
    return causes


def header_safe(token):
    """True when the token can go in an HTTP header (printable ASCII, no newline)."""
    try:
        token.encode("ascii")
    except UnicodeEncodeError:
        return False
    return token.isprintable()
