"""Rebuild the person detector that ships with fallkd: a YOLOv5n trained from scratch on the synthetic world.

The quick profile has no pretrained weights offline, and a detector trained in a few CPU minutes finds nobody,
so fallkd ships one small ONNX detector (fallkd_lib/assets/) with a model card that says exactly how it was
made. `build_shipped_detector` is that recipe: render both synthetic styles (seeded), merge them, train a person
detector (about an hour on 2 CPU cores, resumable), score it on the validation split, export it to ONNX at its
training size and write the card (command, data, settings, metrics, versions, checksum). Run it with
``python scripts/build_shipped_detector.py``. The runtime finds the file with
`fallkd_lib.runtime.loaders.shipped_detector`.
"""

from __future__ import annotations

import hashlib
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from fallkd_lib import __version__
from fallkd_lib.config import DetectConfig, as_dict
from fallkd_lib.data.merge import merge_datasets
from fallkd_lib.data.synthetic import STYLES, generate_dataset
from fallkd_lib.detector.clip_frames import CLIP_MIX, add_clip_frames
from fallkd_lib.detector.dataset import detector_dataset
from fallkd_lib.detector.train import evaluate_detector, train_detector
from fallkd_lib.export.detector import export_detector_onnx
from fallkd_lib.io import write_json_atomic, write_text_atomic
from fallkd_lib.runtime.loaders import SHIPPED_CARD, SHIPPED_DETECTOR

COMMAND = "python scripts/build_shipped_detector.py"
DEFAULT_CONFIG = DetectConfig(
    model="yolov5n.yaml", pretrained=None, imgsz=320, batch=16, epochs=30, patience=30
)
IMAGES_PER_STYLE = 400
CLIP_EVERY = 8  # one training frame per 1.6 s of a 5 fps clip


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    import onnx
    import torch
    import ultralytics

    return {
        "fallkd": __version__,
        "ultralytics": ultralytics.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "python": platform.python_version(),
    }


def build_shipped_detector(
    work: str | Path,
    cfg: DetectConfig = DEFAULT_CONFIG,
    images_per_style: int = IMAGES_PER_STYLE,
    seed: int = 0,
    clip_mix: dict[str, int] | None = None,
    out: str | Path = SHIPPED_DETECTOR,
    card: str | Path = SHIPPED_CARD,
    progress: bool = True,
) -> dict:
    """Render, merge, train, score, export and describe the shipped detector; returns the model card."""
    work, out, card = Path(work), Path(out), Path(card)
    start = time.perf_counter()
    sources = []
    for style in STYLES:
        folder = work / "synthetic" / style
        generate_dataset(folder, images_per_style, seed=seed, style=style, size=cfg.imgsz, progress=progress)
        sources.append((f"synth_{style}", folder))
    merge_datasets(sources, work / "merged", seed=seed, progress=progress)
    data_yaml = detector_dataset(work / "merged", work / "detector_data", "person", progress=progress)
    # training clips use clip seeds (seed + 1) * 1000 + k: apart from `fallkd clips` (seed 0 -> 0, 1, ...)
    clip_mix = dict(CLIP_MIX if clip_mix is None else clip_mix)
    clip_counts = add_clip_frames(
        data_yaml.parent / "train",
        work / "train_clips",
        STYLES,
        seed + 1,
        clip_mix,
        CLIP_EVERY,
        progress=progress,
    )
    summary = train_detector(data_yaml, cfg, out_dir=work / "runs", name="person", plots=False, resume="auto")
    valid = evaluate_detector(summary["best"], data_yaml, split="valid")
    test = evaluate_detector(summary["best"], data_yaml, split="test")
    export_detector_onnx(summary["best"], out, imgsz=cfg.imgsz)
    record = {
        "file": out.name,
        "sha256": sha256(out),
        "bytes": out.stat().st_size,
        "command": COMMAND,
        "what": "person detector (one class), YOLOv5n (ultralytics' anchor-free 'u' variant) from scratch",
        "input_size": cfg.imgsz,
        "classes": ["person"],
        "data": {
            "generator": "fallkd_lib.data.synthetic.generate_dataset",
            "styles": list(STYLES),
            "images_per_style": images_per_style,
            "image_size": cfg.imgsz,
            "seed": seed,
            "split": "merged by fallkd_lib.data.merge (0.7 / 0.15 / 0.15, grouped, stratified)",
            "clip_frames": {
                "generator": "fallkd_lib.detector.clip_frames.add_clip_frames (train split only)",
                "clips_per_scenario_and_style": clip_mix,
                "clip_seed": seed + 1,
                "every": CLIP_EVERY,
                **clip_counts,
            },
        },
        "training": as_dict(cfg) | {"epochs_run": summary["epochs_run"], "seconds": summary["seconds"]},
        "metrics": {
            split: {k: round(float(r[k]), 4) for k in ("mAP50", "mAP50-95", "precision", "recall")}
            for split, r in (("valid", valid), ("test", test))
        },
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    write_json_atomic(card, record)
    write_text_atomic(card.with_suffix(".md"), model_card_text(record))
    return record


def _clip_line(data: dict) -> str:
    """The card's sentence on the clip frames added to the train split (older cards have none)."""
    clips = data.get("clip_frames")
    if not clips:
        return ""
    return (
        f"\n  Plus {clips['frames']} frames (every {clips['every']}th) of {clips['clips']} rendered clips in the train "
        f"split only (clip seed {clips['clip_seed']}, clips per scenario and style {clips['clips_per_scenario_and_style']})."
    )


def model_card_text(card: dict) -> str:
    """The model card as Markdown, for people."""
    m = card["metrics"]
    rows = "\n".join(
        f"| {split} | {r['mAP50']:.3f} | {r['mAP50-95']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} |"
        for split, r in m.items()
    )
    data, train = card["data"], card["training"]
    versions = ", ".join(f"{k} {v}" for k, v in card["versions"].items())
    return f"""# Model card: `{card["file"]}`

{card["what"]}, shipped so that fallkd's quick profile (offline, CPU) runs the whole pipeline on real
detections. It was trained only on fallkd's synthetic scenes: it finds the rendered people of the course,
not people in real photos (use a COCO-pretrained detector fine-tuned on your camera for that, `--profile full`).

- Input: {card["input_size"]} x {card["input_size"]} RGB, letterboxed (ultralytics ONNX export, fixed size);
  classes {card["classes"]}.
- Data: `{data["generator"]}`, styles {", ".join(data["styles"])}, {data["images_per_style"]} images per
  style at {data["image_size"]} px, seed {data["seed"]}; {data["split"]}.{_clip_line(data)}
- Training: {train["model"]} from scratch, {train["epochs_run"]} epochs at {train["imgsz"]} px, batch
  {train["batch"]}, seed {train["seed"]} ({train["seconds"] / 60:.0f} min on the CPU).
- Versions: {versions}.
- SHA-256 `{card["sha256"]}` ({card["bytes"] / 2**20:.1f} MiB); created {card["created"]}.

| split | mAP50 | mAP50-95 | precision | recall |
|---|---|---|---|---|
{rows}

Rebuild it (about an hour on 2 CPU cores; resumes after an interruption): `{card["command"]}`.
"""
