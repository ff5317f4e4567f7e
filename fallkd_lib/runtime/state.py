"""Per-track fall state: smooth each person's fall probability and raise a long-lie alert when they stay down.

The state machine (two alert paths, the handover of a live track's boxes to a new id, durations in seconds of the
stream's clock) lives in `fallkd_lib.edge.fall_state`, in Python 3.6, so that the deploy bundle runs the very same
code on the Jetson; read its docstring for the rules. Here it gets fallkd's defaults: FallTracker() uses
FallStateConfig().
"""

from __future__ import annotations

from fallkd_lib.config import FallStateConfig
from fallkd_lib.edge import fall_state as _core
from fallkd_lib.edge.fall_state import (  # noqa: F401 (re-exported)
    EVENT_KINDS,
    HANDOVER,
    STATES,
    FallEvent,
    TrackSnapshot,
    _overlap,
)


class FallTracker(_core.FallTracker):
    """Follow every tracked person's fall probability over time and report falls, long lies and recoveries."""

    def __init__(self, config: FallStateConfig | None = None) -> None:
        """Start with no tracks; config defaults to FallStateConfig()."""
        super().__init__(config or FallStateConfig())


__all__ = [
    "EVENT_KINDS",
    "HANDOVER",
    "STATES",
    "FallEvent",
    "FallStateConfig",
    "FallTracker",
    "TrackSnapshot",
]
