"""Frames of rendered synthetic clips as extra detector training images (the people a camera sees mid-fall).

The still-image generator poses each person independently; a clip shows the poses that a fall produces
(stumbling, hitting the ground, lying full length across the frame with the limbs on the ground) and the
people near the camera that walk into it. A detector trained on stills only found those lying people at
confidence 0.2-0.3 with boxes half their length, below ByteTrack's 0.25 new-track threshold, so long lies went
unseen. `add_clip_frames` renders training clips (seeds apart from the evaluation clips), samples every k-th
frame and writes it with its one-class person labels into a detector dataset's train split only, so the
validation and test images stay the still-image splits.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from fallkd_lib.data import yolo
from fallkd_lib.data.synthetic.clips import SCENARIOS, generate_clip, read_clip_truth
from fallkd_lib.errors import UsageError
from fallkd_lib.io import write_atomic

# clips per scenario and style: falls weigh most, since lying people are what the stills under-taught
CLIP_MIX = {"fall_stay": 6, "crowd": 3, "fall_recover": 3, "sit": 2, "walk": 1}
PREFIX = "clip__"  # file-name prefix of the added frames (so a rebuild can find and replace them)


def clip_frame_labels(people: list[dict], size: int, min_visible: float = 0.3) -> list[yolo.Box]:
    """One-class YOLO boxes for a clip frame's people that are at least `min_visible` visible."""
    boxes = []
    for person in people:
        if person.get("visible", 1.0) < min_visible:
            continue
        x1, y1, x2, y2 = (float(v) for v in person["box"])
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        boxes.append(
            yolo.Box(0, (x1 + x2) / 2 / size, (y1 + y2) / 2 / size, (x2 - x1) / size, (y2 - y1) / size)
        )
    return boxes


def add_clip_frames(
    split_dir: str | Path,
    clip_dir: str | Path,
    styles: tuple[str, ...],
    seed: int,
    mix: dict[str, int] | None = None,
    every: int = 8,
    seconds: float = 20.0,
    fps: float = 5.0,
    size: int = 320,
    progress: bool = True,
) -> dict[str, int]:
    """Render the mix of clips (clip seed seed*1000+k) and write every `every`-th frame with labels into
    SPLIT_DIR/{images,labels}; returns counts of clips, frames and boxes."""
    mix = dict(CLIP_MIX if mix is None else mix)
    unknown = sorted(set(mix) - set(SCENARIOS))
    if unknown:
        raise UsageError(f"unknown clip scenario(s) {unknown}: choose from {', '.join(SCENARIOS)}")
    if every < 1:
        raise UsageError(f"every={every!r}: sample at least every frame (every >= 1)")
    split_dir, clip_dir = Path(split_dir), Path(clip_dir)
    (split_dir / "images").mkdir(parents=True, exist_ok=True)
    (split_dir / "labels").mkdir(parents=True, exist_ok=True)
    for old in [*(split_dir / "images").glob(f"{PREFIX}*"), *(split_dir / "labels").glob(f"{PREFIX}*")]:
        old.unlink()
    jobs = [(st, sc, k) for st in styles for sc, n in mix.items() for k in range(n)]
    counts = {"clips": 0, "frames": 0, "boxes": 0}
    for style, scenario, k in tqdm(jobs, desc="clip frames", unit="clip", disable=not progress):
        stem = f"{style}_{scenario}_{k:02d}"
        info = generate_clip(clip_dir / stem, scenario, seconds, fps, size, seed=seed * 1000 + k, style=style)
        truth = read_clip_truth(info.truth)
        capture = cv2.VideoCapture(str(info.video))
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % every == every // 2:  # mid-interval, so frame 0 (often an empty scene) is skipped
                name = f"{PREFIX}{stem}_{index:04d}"
                ok, jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
                if not ok:
                    raise UsageError(f"could not encode frame {index} of {info.video} as JPEG")
                data = np.asarray(jpg).tobytes()
                write_atomic(
                    split_dir / "images" / f"{name}.jpg", lambda tmp, data=data: tmp.write_bytes(data)
                )
                boxes = clip_frame_labels(truth["frames"][index]["people"], size)
                yolo.write_labels(split_dir / "labels" / f"{name}.txt", boxes)
                counts["frames"] += 1
                counts["boxes"] += len(boxes)
            index += 1
        capture.release()
        counts["clips"] += 1
    return counts
