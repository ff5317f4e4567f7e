"""Does the person detector find the people? Average precision, recall and the most confident box of each image,
on a set of images: what says whether a two-stage system's misses on a new camera are its detector's or its
classifier's (the labelled boxes + classifier row of the image-level table is the other half).

Images are dicts as :mod:`fallkd_lib.detector.image_level` takes them: ``"detections"`` rows x1, y1, x2, y2, conf,
(anything), and the people as ``"people"`` boxes (every person of the source, see
:func:`~fallkd_lib.detector.not_person.source_people`) or else the ``"gt"`` boxes. A detection is a person found
when its IoU with a person not yet matched is >= `iou`, the most confident detections matched first (as COCO and
ultralytics do); AP is ultralytics' (`compute_ap`: 101-point interpolation, 0.995 for a perfect ranking).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fallkd_lib.data.geometry import box_iou
from fallkd_lib.detector.image_level import detection_rows
from fallkd_lib.errors import UsageError


def match_people(dets: np.ndarray, people: Sequence, iou: float = 0.5) -> np.ndarray:
    """(N,) bool: is each detection (rows x1, y1, x2, y2, conf, ...) a person found, most confident first."""
    dets = np.asarray(dets, dtype=np.float64)
    found = np.zeros(len(dets), dtype=bool)
    people = np.asarray(people, dtype=np.float64).reshape(-1, 4)
    if not len(dets) or not len(people):
        return found
    overlap = box_iou(dets[:, :4], people)
    free = np.ones(len(people), dtype=bool)
    for d in np.argsort(-dets[:, 4], kind="stable"):
        candidates = np.where(free, overlap[d], -1.0)
        best = int(candidates.argmax())
        if candidates[best] >= iou:
            found[d], free[best] = True, False
    return found


def people_found(images: Sequence[Mapping], iou: float = 0.5) -> dict:
    """AP at `iou` (AP50 by default), recall (every box counted), the share of images whose most confident box is a person, and the median
    best confidence of the people found, over images that hold at least one person (None: no such image, no
    person found)."""
    from ultralytics.utils.metrics import compute_ap

    if not 0 < iou <= 1:
        raise UsageError(f"iou={iou}: give an IoU in (0, 1], e.g. 0.5")
    confs, hits, best_confs = [], [], []
    people_total, with_people, top_is_person = 0, 0, 0
    for k, image in enumerate(images):
        dets = detection_rows(image, k)
        people = np.asarray(image.get("people", [box for box, _ in image["gt"]]), np.float64).reshape(-1, 4)
        found = match_people(dets, people, iou)
        confs.append(dets[:, 4])
        hits.append(found)
        people_total += len(people)
        if len(people):
            with_people += 1
            top_is_person += int(len(dets) > 0 and found[int(dets[:, 4].argmax())])
            if len(dets):  # each person's best box: the most confident detection overlapping it at iou
                overlap = box_iou(people, dets[:, :4]) >= iou
                best_confs += [float(dets[row, 4].max()) for row in overlap if row.any()]
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
