"""The HTTP webhook sink: POST each alert as JSON with a timeout, retries and a bearer token from the environment.

The token is read at each send and never stored, logged or shown; redirects are refused so it never reaches
another host; URLs are shown with their query and credentials redacted.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from fallkd_lib.errors import UsageError
from fallkd_lib.runtime.alerts import Alert, AlertDeliveryError

_log = logging.getLogger(__name__)
_RETRY_4XX = {408, 425, 429}  # client errors that are worth another try; others (401, 404, ...) never heal


def redact_url(url: str) -> str:
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
            raise UsageError(f"webhook URL {self.url!r} must be http:// or https:// with a host name")
        if not timeout > 0 or retries < 0 or backoff < 0:
            raise UsageError(
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
