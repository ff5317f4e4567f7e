"""The HTTP webhook sink: POST each alert as JSON with a timeout, retries and a bearer token from the environment.

The token is read at each send and never stored, logged or shown; redirects are refused so it never reaches
another host; URLs are shown with their query and credentials redacted.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse

from fallkd_lib.edge import alerts as _core
from fallkd_lib.errors import UsageError
from fallkd_lib.runtime.alerts import Alert, AlertDeliveryError

_log = logging.getLogger(__name__)


def redact_url(url: str) -> str:
    """The URL without its query, fragment or user:password (safe to log)."""
    return _core.redact_url(url)


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
        self._opener = _core.no_redirect_opener()

    def __repr__(self) -> str:
        return (
            f"WebhookSink(url={self.url!r}, token_env={self.token_env!r}, timeout={self.timeout}, "
            f"retries={self.retries}, backoff={self.backoff})"
        )

    def send(self, alert: Alert) -> None:
        """POST the alert; retry timeouts, refused connections and 5xx/408/429, then raise AlertDeliveryError."""
        token = os.environ.get(self.token_env, "").strip()
        if token and not _core.header_safe(token):
            raise AlertDeliveryError(
                f"webhook {self.url}: ${self.token_env} holds a newline or non-ASCII character, which cannot "
                "go in an HTTP header; set it to the bare token"
            )
        body = json.dumps(alert.to_dict()).encode("utf-8")
        query = urllib.parse.urlsplit(self._url).query
        secrets = (
            self._url,
            query,
        )  # the POST and its retries are the edge bundle's (fallkd_lib.edge.alerts)
        causes = _core.post_json(
            self._url, body, token, self.timeout, self.retries, self.backoff, self._opener, secrets
        )
        if not causes:
            return
        for cause in causes:
            _log.debug("webhook %s attempt failed: %s", self.url, cause)
        raise AlertDeliveryError(
            f"webhook {self.url}: alert for track {alert.track_id} not delivered after {len(causes)} attempt(s): "
            f"{'; '.join(causes)}. Check that the server is up and reachable from this device and that "
            f"${self.token_env} holds a valid token, or raise timeout/retries"
        )
