"""The IoU tracker: track ids by greedy IoU matching, fallkd's own tracker and the edge bundle's.

ByteTrack (ultralytics, with the `lap` package for its assignment step) is the host pipeline's default tracker.
`PipelineConfig.tracker = "iou"` chooses `IouTracker` instead, and the pipeline falls back to it when `lap` is
missing (ultralytics would pip-install it at run time, which fallkd forbids). It is also the only tracker of the
deploy bundle: ultralytics' ByteTrack is AGPL code that fallkd neither copies nor ships, so a camera exported with
`fallkd export` tracks with this one, and its parity with the host is measured with tracker="iou" on both sides.
Each box joins the live track it overlaps most (IoU >= min_iou), the rest start new tracks. It has no motion model
and no second pass for low-confidence boxes, so ids switch more often in crowds. The code is in
`fallkd_lib.edge.boxes` (Python 3.6, numpy only), shared with the bundle.
"""

from __future__ import annotations

from fallkd_lib.edge.boxes import IouTracker

__all__ = ["IouTracker"]
