"""Does the person detector find the people? Average precision, recall and the most confident box of each image,
on a set of images: what says whether a two-stage system's misses on a new camera are its detector's or its
classifier's (the labelled boxes + classifier row of the image-level table is the other half).

Images are dicts as :mod:`fallkd_lib.detector.image_level` takes them: ``"detections"`` rows x1, y1, x2, y2, conf,
(anything), and the people as ``"people"`` boxes (every person of the source, see
:func:`~fallkd_lib.detector.not_person.source_people`) or else the ``"gt"`` boxes. A detection is a person found
when its IoU with a person not yet matched is >= `iou`, the most confident detections matched first (as COCO
does; ultralytics' validation and :func:`~fallkd_lib.data.geometry.match_boxes` take the highest IoU first); AP is
ultralytics' (`compute_ap`: 101-point interpolation, 0.995 for a perfect ranking).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fallkd_lib.data.geometry import box_iou
from fallkd_lib.detector.image_level import detection_rows
from fallkd_lib.errors import UsageError


def _match(conf: np.ndarray, overlap: np.ndarray, iou: float) -> np.ndarray:
    """(N,) bool from detection confidences (N,) and their IoU with the people (N, M), most confident first."""
    found = np.zeros(len(conf), dtype=bool)
    free = np.ones(overlap.shape[1], dtype=bool)
    for d in np.argsort(-conf, kind="stable"):
        candidates = np.where(free, overlap[d], -1.0)
        best = int(candidates.argmax())
        if candidates[best] >= iou:
            found[d], free[best] = True, False
    return found


def match_people(dets: np.ndarray, people: Sequence, iou: float = 0.5) -> np.ndarray:
    """(N,) bool: is each detection (rows x1, y1, x2, y2, conf, ...) a person found, most confident first."""
    dets = np.asarray(dets, dtype=np.float64)
    people = np.asarray(people, dtype=np.float64).reshape(-1, 4)
    if not len(dets) or not len(people):
        return np.zeros(len(dets), dtype=bool)
    return _match(dets[:, 4], box_iou(dets[:, :4], people), iou)


def people_found(images: Sequence[Mapping], iou: float = 0.5) -> dict:
    """AP at `iou` (AP50 by default), recall (every box counted), the share of images whose most confident box is
    a person, and the median best confidence of the people found, over images that hold at least one person
    (None: no such image, no person found)."""
    from ultralytics.utils.metrics import compute_ap

    if not 0 < iou <= 1:
        raise UsageError(f"iou={iou}: give an IoU in (0, 1], e.g. 0.5")
    confs, hits, best_confs = [], [], []
    people_total, with_people, top_is_person = 0, 0, 0
    for k, image in enumerate(images):
        dets = detection_rows(image, k)
        people = np.asarray(image.get("people", [box for box, _ in image["gt"]]), np.float64).reshape(-1, 4)
        overlap = box_iou(dets[:, :4], people)  # (detections, people), once per image
        found = _match(dets[:, 4], overlap, iou) if overlap.size else np.zeros(len(dets), dtype=bool)
        confs.append(dets[:, 4])
        hits.append(found)
        people_total += len(people)
        if len(people):
            with_people += 1
            top_is_person += int(len(dets) > 0 and found[int(dets[:, 4].argmax())])
            # each person's best box: the most confident detection overlapping it at iou
            best_confs += [float(dets[col, 4].max()) for col in (overlap >= iou).T if col.any()]
    conf, hit = np.concatenate(confs) if confs else np.zeros(0), np.concatenate(hits) if hits else np.zeros(0)
    order = np.argsort(-conf, kind="stable")
    tp = np.cumsum(hit[order])
    recall = tp / max(people_total, 1)
    precision = tp / np.arange(1, len(tp) + 1)
    ap = float(compute_ap(recall, precision)[0]) if len(tp) and people_total else 0.0
    return {
        "images": len(images),
        "people": people_total,
        "detections": int(len(conf)),
        "iou": iou,
        "AP": ap,
        "recall": float(recall[-1]) if len(recall) else 0.0,
        "top_box_person": top_is_person / with_people if with_people else None,
        "best_conf_median": float(np.median(best_confs)) if best_confs else None,
    }
