"""Boxes of one frame: pairwise IoU, class-agnostic non-maximum suppression, the IoU tracker, clipping to the frame
and the confirm gate (score, motion, handover). numpy only; Python 3.6."""

import numpy as np

from .fall_state import HANDOVER, _overlap


def box_iou(a_xyxy, b_xyxy):
    """Pairwise IoU (N, M) of two sets of (x1, y1, x2, y2) boxes, float64; empty or inverted boxes give 0.

    The same arithmetic as torchvision.ops.box_iou (inter / (area_a + area_b - inter)), so both give equal values.
    """
    a = np.array(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.array(b_xyxy, dtype=np.float64).reshape(-1, 4)
    for boxes in (a, b):  # an inverted box is empty, not negative
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
    return np.nan_to_num(iou, nan=0.0)  # 0 / 0 for two empty boxes


def nms(boxes, scores, iou_threshold):
    """Indices of the boxes kept by greedy NMS, best score first: torchvision.ops.nms's rule (a box is dropped when
    its IoU with a kept, better box is > iou_threshold; equal scores keep their input order), in float32."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    threshold = np.float32(iou_threshold)
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(int(i))
        rest = order[pos + 1 :]
        rest = rest[~suppressed[rest]]
        if not len(rest):
            continue
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):
            overlap = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[overlap > threshold]] = True
    return np.array(keep, dtype=np.int64)


class IouTracker(object):
    """Track ids by greedy IoU matching: each box joins the live track it overlaps most (IoU >= min_iou, best pairs
    first), the rest start new tracks; a track unseen for max_age frames is forgotten. No motion model."""

    MIN_IOU = 0.3
    MAX_AGE = 30  # frames

    def __init__(self, min_iou=MIN_IOU, max_age=MAX_AGE):
        """Match a box to a live track when IoU >= min_iou; forget tracks unseen for max_age frames."""
        self.min_iou, self.max_age = float(min_iou), int(max_age)
        self._tracks = {}  # track id -> (box, frame last seen)
        self._next, self._frame = 1, 0

    def assign(self, boxes):
        """Track ids (int64) for the (N, 4) boxes of the next frame."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self._frame += 1
        self._tracks = {k: v for k, v in self._tracks.items() if self._frame - v[1] <= self.max_age}
        keys = list(self._tracks)
        iou = box_iou(boxes, [self._tracks[k][0] for k in keys])
        ids = np.zeros(len(boxes), dtype=np.int64)
        taken_boxes, taken_tracks = set(), set()
        rows, cols = np.nonzero(iou >= self.min_iou)
        order = sorted(((iou[i, j], i, keys[j]) for i, j in zip(rows, cols)), reverse=True)
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


def clip_boxes(dets, width, height):
    """Rows of (N, 6+) x1 y1 x2 y2 ... clipped to a width x height frame, without the boxes left under 1 pixel."""
    dets = np.array(dets, dtype=np.float64).reshape(len(dets), -1) if len(dets) else np.zeros((0, 6))
    if len(dets):
        dets[:, [0, 2]] = dets[:, [0, 2]].clip(0, width)
        dets[:, [1, 3]] = dets[:, [1, 3]].clip(0, height)
        dets = dets[(dets[:, 2] - dets[:, 0] >= 1) & (dets[:, 3] - dets[:, 1] >= 1)]
    return dets


def moved(first, box):
    """How far box's centre lies from first's, in first's longer sides (x1 y1 x2 y2 each): 0 in place, 1 a body away."""
    side = max(first[2] - first[0], first[3] - first[1], 1e-9)
    dx = (box[0] + box[2] - first[0] - first[2]) / 2.0
    dy = (box[1] + box[3] - first[1] - first[3]) / 2.0
    return float(np.hypot(dx, dy) / side)


class TrackGate(object):
    """The confirm_conf gate: only confirmed tracks' boxes pass. A track is confirmed by one box with conf >=
    confirm_conf; or, with confirm_motion, once its box centre has moved confirm_motion of its first box's longer
    side from where it was first seen (people walk, sit down and fall; a chair or a picture on the wall stays put,
    however a detector scores it); or, at its first box, when that box overlaps (by HANDOVER of the smaller box) the
    last box of a confirmed track not seen in this frame: the tracker gave a confirmed person a new id, as trackers
    do when someone falls (a tall box turns wide), and the lying person scores under confirm_conf. A track found
    again after frames unseen counts as a first box too: trackers hand a lost id to whatever box turns up near its
    old place (ByteTrack's lost-track buffer), so an id back from being lost is no surer an identity than a new one.
    A track stays confirmed until unseen for forget_after seconds. confirm_conf None lets every box pass."""

    def __init__(self, confirm_conf, forget_after, confirm_motion=None):
        """Remember the thresholds; no track is confirmed yet."""
        self.confirm_conf, self.forget_after = confirm_conf, float(forget_after)
        self.confirm_motion = confirm_motion
        self.confirmed = {}  # track id -> last time seen
        self.last_box = {}  # confirmed track id -> its last box
        self.seen = {}  # every track id seen (confirmed or not) -> last time seen: a new id is a handover candidate
        self.first_box = {}  # every track id seen -> its first box (where its motion is measured from)
        self.unconfirmed = 0  # boxes held back so far
        self.handovers = 0  # tracks confirmed by taking over a confirmed track that vanished
        self.by_motion = 0  # tracks confirmed by moving (under confirm_conf)
        self.previous = None  # the timestamp of the frame before

    def confirmed_by(self):
        """Tracks confirmed so far other than by score, as the camera summaries report them."""
        return {"handover": self.handovers, "motion": self.by_motion}

    def filter(self, timestamp, dets):
        """The rows of (N, 6) x1 y1 x2 y2 conf track_id whose track is confirmed at `timestamp` (seconds)."""
        if self.confirm_conf is None:
            return dets
        forget = self.forget_after
        self.confirmed = {t: seen for t, seen in self.confirmed.items() if timestamp - seen <= forget}
        self.last_box = {t: box for t, box in self.last_box.items() if t in self.confirmed}
        self.seen = {t: seen for t, seen in self.seen.items() if timestamp - seen <= forget}
        self.first_box = {t: box for t, box in self.first_box.items() if t in self.seen}
        here = set(int(det[5]) for det in dets)
        vanished = [box for t, box in self.last_box.items() if t not in here]
        keep = np.zeros(len(dets), dtype=bool)
        for i, det in enumerate(dets):
            track, box = int(det[5]), tuple(float(v) for v in det[:4])
            keep[i] = det[4] >= self.confirm_conf or track in self.confirmed
            if not keep[i] and self.seen.get(track) != self.previous:  # new, or found again after a gap
                keep[i] = any(_overlap(old, box) >= HANDOVER for old in vanished)
                self.handovers += int(keep[i])
            first = self.first_box.setdefault(track, box)
            if not keep[i] and self.confirm_motion is not None:
                keep[i] = moved(first, box) >= self.confirm_motion
                self.by_motion += int(keep[i])
            self.seen[track] = timestamp
            if keep[i]:
                self.confirmed[track], self.last_box[track] = timestamp, box
        self.unconfirmed += int((~keep).sum())
        self.previous = timestamp
        return dets[keep]
