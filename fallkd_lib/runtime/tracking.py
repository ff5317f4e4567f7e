"""The fallback tracker: track ids by greedy IoU matching, for when ultralytics' ByteTrack cannot run.

ByteTrack (ultralytics, with the `lap` package for its assignment step) is the pipeline's tracker. Without
`lap` ultralytics would pip-install it at run time, which fallkd forbids, so the pipeline detects without
tracking and gives ids with `IouTracker`: each box joins the live track it overlaps most (IoU >= min_iou),
the rest start new tracks. It has no motion model and no second pass for low-confidence boxes, so ids switch
more often in crowds; install `lap` for ByteTrack.
"""

from __future__ import annotations

import numpy as np

from fallkd_lib.data.geometry import box_iou


class IouTracker:
    """Greedy IoU matching of each frame's boxes to the previous frames' tracks."""

    def __init__(self, min_iou: float = 0.3, max_age: int = 30) -> None:
        """Match a box to a live track when IoU >= min_iou; forget tracks unseen for max_age frames."""
        self.min_iou, self.max_age = min_iou, max_age
        self._tracks: dict[int, tuple[np.ndarray, int]] = {}
        self._next, self._frame = 1, 0

    def assign(self, boxes: np.ndarray) -> np.ndarray:
        """Track ids for the (N, 4) boxes of the next frame."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self._frame += 1
        self._tracks = {k: v for k, v in self._tracks.items() if self._frame - v[1] <= self.max_age}
        keys = list(self._tracks)
        iou = box_iou(boxes, [self._tracks[k][0] for k in keys])
        ids = np.zeros(len(boxes), dtype=np.int64)
        taken_boxes: set[int] = set()
        taken_tracks: set[int] = set()
        rows, cols = np.nonzero(iou >= self.min_iou)
        order = sorted(((iou[i, j], i, keys[j]) for i, j in zip(rows, cols, strict=True)), reverse=True)
        for _, i, key in order:  # best overlaps first
            if i not in taken_boxes and key not in taken_tracks:
                ids[i] = key
                taken_boxes.add(i)
                taken_tracks.add(key)
        for i in range(len(boxes)):
            if i not in taken_boxes:
                ids[i], self._next = self._next, self._next + 1
        for i, box in enumerate(boxes):
            self._tracks[int(ids[i])] = (box, self._frame)
        return ids
