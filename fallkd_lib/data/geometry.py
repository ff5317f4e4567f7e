"""Box geometry shared by the data stage, the detector's evaluation and the camera: IoU, the padded person box,
the letterbox, and the crop a classifier sees.

`CropSpec` is how a person box becomes a classifier input: `fallkd crops` cuts the training crops with one and
records it in the crop folder, training stores it in the classifier's checkpoint and ONNX metadata, and the
camera pipeline cuts with the classifier's own. Every function here works on numpy uint8 HxWx3 RGB arrays.
The arithmetic of IoU and of the crop lives in `fallkd_lib.edge` (Python 3.6, numpy + OpenCV), which the deploy
bundle runs on the Jetson; these functions check their inputs and call it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from fallkd_lib.data.imageio import check_rgb_frame
from fallkd_lib.edge import boxes as _core
from fallkd_lib.edge import crops as _crops
from fallkd_lib.edge.crops import LETTERBOX_FILL
from fallkd_lib.errors import UsageError

MIN_CROP_SIZE = 16


@dataclass(frozen=True)
class CropSpec:
    """How a person box becomes a crop: `size` x `size` pixels, `pad` context per side, `fill` letterbox grey.

    pad is a fraction of the box: 0.1 adds 10% of its width left and right and 10% of its height above and below.
    """

    size: int
    pad: float
    fill: int = LETTERBOX_FILL

    def __post_init__(self) -> None:
        """Reject a crop no classifier could use."""
        if (
            not isinstance(self.size, int | np.integer)
            or isinstance(self.size, bool)
            or self.size < MIN_CROP_SIZE
        ):
            raise UsageError(
                f"crop size must be an integer >= {MIN_CROP_SIZE} pixels, got {self.size!r} "
                "(the course uses 224; 96 in the quick profile)"
            )
        if not (isinstance(self.pad, int | float) and math.isfinite(self.pad) and self.pad >= 0):
            raise UsageError(
                f"pad must be a number >= 0 (a fraction of the box size added on each side), got {self.pad!r}"
            )
        if not (isinstance(self.fill, int | np.integer) and 0 <= self.fill <= 255):
            raise UsageError(f"letterbox fill must be a grey level 0..255, got {self.fill!r}")
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "pad", float(self.pad))
        object.__setattr__(self, "fill", int(self.fill))

    def to_dict(self) -> dict:
        """{"size", "pad", "fill"}, for JSON files and ONNX metadata."""
        return asdict(self)


def box_iou(a_xyxy: np.ndarray | Sequence, b_xyxy: np.ndarray | Sequence) -> np.ndarray:
    """Pairwise IoU (N, M) of two sets of (x1, y1, x2, y2) boxes, as torchvision.ops.box_iou; empty boxes give 0."""
    return _core.box_iou(a_xyxy, b_xyxy)


def match_boxes(
    pred_xyxy: np.ndarray, gt_xyxy: np.ndarray, iou_threshold: float = 0.5
) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by IoU: (pred_idx, gt_idx) pairs with IoU >= threshold, sorted by pred_idx.

    All pairs are visited from the highest IoU down (ties: lower pred index, then lower gt index first) and a
    pair is kept when neither box is taken yet, so a second prediction on an already matched person stays
    unmatched (a false positive), as in the VOC / COCO protocols.
    """
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise UsageError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}; 0.5 is the usual choice")
    iou = box_iou(pred_xyxy, gt_xyxy)
    p_idx, g_idx = np.nonzero(iou >= iou_threshold)
    order = np.lexsort((g_idx, p_idx, -iou[p_idx, g_idx]))
    used_p: set[int] = set()
    used_g: set[int] = set()
    pairs = []
    for k in order:
        p, g = int(p_idx[k]), int(g_idx[k])
        if p not in used_p and g not in used_g:
            used_p.add(p)
            used_g.add(g)
            pairs.append((p, g))
    return sorted(pairs)


def padded_box(xyxy: Sequence[float], pad: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Grow a box by `pad` x its size on each side, round outward to pixels and clip to the image."""
    return _crops.padded_box(xyxy, pad, width, height)


def letterbox_params(height: int, width: int, size: int) -> tuple[float, int, int, int, int]:
    """(scale, new_w, new_h, left, top): the resize that fits the longer side to `size`, centred."""
    return _crops.letterbox_params(height, width, size)


def letterbox(image: np.ndarray, size: int, fill: int = LETTERBOX_FILL) -> np.ndarray:
    """Resize keeping the aspect ratio (longer side = size) and centre on a size x size canvas of `fill`."""
    check_rgb_frame(image, "image")
    return _crops.letterbox(image, size, fill)


def crop_person(image: np.ndarray, xyxy: Sequence[float], spec: CropSpec) -> np.ndarray:
    """The letterboxed crop of one person box (pixels, x1 y1 x2 y2), cut as `spec` says."""
    check_rgb_frame(image, "image")
    return _crops.crop_person(image, xyxy, spec.size, spec.pad, spec.fill)


def crop_people(image: np.ndarray, boxes_xyxy: Sequence | np.ndarray, spec: CropSpec) -> np.ndarray:
    """Crops of all boxes (N x 4 pixels) of one frame as an (N, size, size, 3) uint8 array."""
    check_rgb_frame(image, "image")
    return _crops.crop_people(image, boxes_xyxy, spec.size, spec.pad, spec.fill)
