""" "Not a person": what a two-stage system calls the boxes its person detector finds where nobody is.

A classifier that knows only fall and normal must call a wall decoration or an office chair one of the two;
the camera then alerts on it. Two ways out are measured on the detector's false positives: a third class,
``background`` (:mod:`fallkd_lib.data.background`), or a gate on the detector's confidence. Both cost something
on the real people, so :func:`detection_outcomes` counts both sides at once.

A detection is **not a person** when its IoU with every labelled person of the image is below `iou` (the
image's ``"people"`` boxes: every person box of the source, whatever its posture label, so that a person the
merge left out, a ``danger`` patient say, is not counted as clutter; its ``"gt"`` boxes when absent). A
detection that matches a fall (or normal) ground-truth box at `iou` is that fallen (or normal) person.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fallkd_lib.data.geometry import box_iou
from fallkd_lib.data.yolo import label_path_for, read_class_names, read_labels
from fallkd_lib.detector.evaluate import ratio
from fallkd_lib.detector.image_level import detection_rows
from fallkd_lib.errors import MissingFileError

PERSON_CLASSES = ("danger", "fall", "lie", "move", "patient", "person", "sit", "stand")  # hospital_bed_rf's


def _best(dets: np.ndarray, boxes: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """For each detection, the highest IoU with `boxes` and the index of that box (-1 with no box)."""
    if not len(boxes) or not len(dets):
        return np.zeros(len(dets)), np.full(len(dets), -1)
    iou = box_iou(dets[:, :4], np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    return iou.max(axis=1), iou.argmax(axis=1)


def detection_outcomes(
    images: Sequence[Mapping], threshold: float, gate: float = 0.0, iou: float = 0.5
) -> dict:
    """Detections that are not a person, fallen people and normal people, and how many of each were called fall.

    A detection is called fall when its conf >= gate and its fall score >= threshold (and > 0).
    """
    counts = dict.fromkeys(("not_person", "fall_people", "normal_people"), 0)
    called = dict.fromkeys(counts, 0)
    total = 0
    for k, image in enumerate(images):
        dets = detection_rows(image, k)
        total += len(dets)
        people = image.get("people", [box for box, _ in image["gt"]])
        best_person, _ = _best(dets, people)
        best_gt, which = _best(dets, [box for box, _ in image["gt"]])
        is_called = (dets[:, 4] >= gate) & (dets[:, 5] >= threshold) & (dets[:, 5] > 0)
        for d in range(len(dets)):
            if best_person[d] < iou:
                kind = "not_person"
            elif best_gt[d] >= iou:
                kind = f"{image['gt'][which[d]][1]}_people"
            else:
                continue  # a person the merge left out (no fall/normal label): neither side
            counts[kind] += 1
            called[kind] += int(is_called[d])
    return {
        "detections": total,
        **counts,
        **{f"{k}_called_fall": v for k, v in called.items()},
        "not_person_fall_share": ratio(called["not_person"], counts["not_person"]),
        "fall_recall": ratio(called["fall_people"], counts["fall_people"]),
        "normal_fall_share": ratio(called["normal_people"], counts["normal_people"]),
    }


def source_people(
    merged_root: str | Path, images: Sequence[Mapping], person_classes: Sequence[str] = PERSON_CLASSES
) -> list[list[tuple[float, float, float, float]]]:
    """Every person box (pixels) each merged image had in its source, whatever the merge kept or dropped.

    Read through the merge's manifest.csv (merged image -> original file); a class of `person_classes` is a
    person. Images need "image", "width" and "height" (as yolo_ground_truth gives).
    """
    root = Path(merged_root).resolve()
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise MissingFileError(f"{manifest} not found: source_people reads a merged dataset's manifest")
    with open(manifest, newline="", encoding="utf-8") as f:
        original = {row["image"]: Path(row["original_path"]) for row in csv.DictReader(f)}
    names_of: dict[Path, list[str]] = {}
    out = []
    for image in images:
        source = original[Path(image["image"]).resolve().relative_to(root).as_posix()]
        data_yaml = source.parents[2] / "data.yaml"  # SOURCE/{split}/images/x.jpg
        if data_yaml not in names_of:
            names_of[data_yaml] = read_class_names(data_yaml)
        names = names_of[data_yaml]
        boxes, _ = read_labels(label_path_for(source), len(names))
        w, h = image["width"], image["height"]
        out.append([b.to_xyxy(w, h) for b in boxes if names[b.cls] in person_classes])
    return out
