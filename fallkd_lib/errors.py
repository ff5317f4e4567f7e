"""The errors fallkd raises on purpose: each message names the bad value (file, line, setting) and the next step.

`fallkd <command>` prints a `FallkdError` as one line and exits with status 2; any other exception is a bug and
keeps its traceback. Each class also derives from the builtin that fits, so `except ValueError` (or
`pytest.raises(FileNotFoundError)`) keeps working.
"""

from __future__ import annotations


class FallkdError(Exception):
    """Base of the errors fallkd raises on purpose (bad input, a missing file, no network)."""


class UsageError(FallkdError, ValueError):
    """A value fallkd cannot use: an argument, a setting, a label line, a file's content."""


class MissingFileError(FallkdError, FileNotFoundError):
    """A file or folder fallkd needs is not there; the message says which command makes it."""


class OutputExistsError(FallkdError, FileExistsError):
    """An output folder already holds something fallkd must not overwrite."""


class MissingSecretError(FallkdError, KeyError):
    """A secret (an API key, a token) is not in the environment or the notebook host's secret store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RemoteError(FallkdError, ConnectionError):
    """A server or stream answered with an error, or could not be reached."""
