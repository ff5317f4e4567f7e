"""Frames per second of the camera pipeline: fallkd's batched crops vs the reference report's per-person loop.

    .venv/bin/python benchmarks/bench_pipeline.py [--frames 24] [--size 640] [--imgsz 640] [--device cuda]
        [--detector yolov5s.yaml | runs/.../weights/best.pt]

Same detector (the mission's YOLOv5s at 640 from its yaml, untrained, unless a trained best.pt is given), same
classifier (EfficientNet-B0 at 224, randomly initialised), same frames (a generated 'crowd' clip with 3 people):

* reference: detector in torch, then for each person a PIL crop, PIL resize to 224, ToTensor + Normalize and one
  classifier call per person (the report's loop);
* fallkd (torch): FallPipeline: crop_people (shared training geometry) + one batched, normalised classifier call
  per frame, then the fall state machine;
* fallkd (onnxruntime): the same with the classifier exported to ONNX;
* fallkd (onnxruntime, both models): the detector exported to ONNX by ultralytics as well;
* fallkd (onnxruntime, int8 detector): that ONNX detector quantized to int8 (calibrated on another clip), the
  CPU build that ships; with a trained detector the script also prints its box parity with the float one.

An untrained detector finds nobody, so the detector still runs on every frame (its time counts) but the boxes
handed to the classifier stage are the clip's ground truth, for every way alike; the output says so.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fallkd_lib.data.geometry import CropSpec  # noqa: E402
from fallkd_lib.data.synthetic import generate_clip  # noqa: E402
from fallkd_lib.export import (  # noqa: E402
    box_agreement,
    export_classifier_onnx,
    export_detector_onnx,
    quantize_detector_onnx,
)
from fallkd_lib.models import create_classifier, input_stats  # noqa: E402
from fallkd_lib.models.inputs import ClassifierInput  # noqa: E402
from fallkd_lib.runtime.classifier import OnnxClassifier, TorchClassifier  # noqa: E402
from fallkd_lib.runtime.detector import detect_people  # noqa: E402
from fallkd_lib.runtime.loaders import load_detector  # noqa: E402
from fallkd_lib.runtime.pipeline import FallPipeline  # noqa: E402
from fallkd_lib.runtime.sources import iter_frames  # noqa: E402
from fallkd_lib.settings import import_ultralytics, keep_torch_threads  # noqa: E402

CLASSES = ["fall", "normal"]


def crowd_clip(folder: Path, size: int, frames: int, fps: float = 10.0) -> tuple[list, list[np.ndarray]]:
    """Frames of a crowd clip with >= 3 people (first seed that has them) and the ground-truth boxes per frame."""
    for style in ("cctv", "park"):
        for seed in range(6):
            info = generate_clip(
                folder / f"crowd_{style}{seed}", "crowd", max(4.0, frames / fps), fps, size, seed, style
            )
            truth = json.loads(Path(info.truth).read_text())["frames"]
            boxes = [np.array([p["box"] for p in f["people"] if p["visible"] > 0], float) for f in truth]
            if min(len(b) for b in boxes) >= 3:
                return list(iter_frames(info.video))[:frames], boxes
    raise RuntimeError("no crowd clip with 3 people found")


class Detector:
    """Runs the YOLO model on every frame (timed as the detect stage) and returns its boxes, or the clip's ground
    truth when it finds nobody (untrained)."""

    def __init__(self, yolo, imgsz: int, truth: list[np.ndarray], device: str) -> None:
        self.yolo, self.imgsz, self.truth, self.device = yolo, imgsz, truth, device
        self.used_truth = 0

    def __call__(self, frame) -> np.ndarray:
        bgr = np.ascontiguousarray(frame.image[..., ::-1])
        with keep_torch_threads():  # every way keeps all cores (ultralytics would drop one for good)
            result = self.yolo.predict(bgr, imgsz=self.imgsz, conf=0.25, verbose=False, device=self.device)[0]
        boxes = result.boxes.xyxy.cpu().numpy()
        if len(boxes) == 0:
            self.used_truth += 1
            boxes = self.truth[frame.index]
        ids = np.arange(len(boxes))
        return np.column_stack([boxes, np.full(len(boxes), 0.9), ids])


def reference(frames, detector: Detector, model: torch.nn.Module, device: str) -> dict:
    """The report's way: per person PIL crop + resize 224 + ToTensor/Normalize + one classifier call."""
    from torchvision import transforms

    mean, std = input_stats(model)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    times = {"detect": 0.0, "crop": 0.0, "classify": 0.0}
    start = time.perf_counter()
    for frame in frames:
        t0 = time.perf_counter()
        boxes = detector(frame)
        t1 = time.perf_counter()
        pil = Image.fromarray(frame.image)
        tensors = [transform(pil.crop(tuple(int(v) for v in b[:4])).resize((224, 224))) for b in boxes]
        t2 = time.perf_counter()
        with torch.inference_mode():
            probs = [torch.softmax(model(x.unsqueeze(0).to(device)), 1)[0, 0].item() for x in tensors]
        t3 = time.perf_counter()
        assert len(probs) == len(boxes)
        for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            times[key] += value
    total = time.perf_counter() - start
    return {"fps": len(frames) / total, **{k: 1000 * v / len(frames) for k, v in times.items()}}


def fallkd(frames, detector: Detector, classifier, out: Path) -> dict:
    """FallPipeline.process over the frames (no video writing: the same work the reference does)."""
    pipe = FallPipeline(detector, classifier)  # crops as the classifier's input says: 224 px, pad 0.1
    start = time.perf_counter()
    for frame in frames:
        pipe.process(frame)
    total = time.perf_counter() - start
    ms = pipe.stage_ms()
    return {"fps": len(frames) / total, **{k: ms[k] for k in ("detect", "crop", "classify", "track")}}


def _median(rows: list[dict]) -> dict:
    """The median of every number over the rounds."""
    return {k: float(np.median([r[k] for r in rows])) for k in rows[0] if k != "truth_boxes"}


def main() -> int:
    """Build the models and the clip, time each way after a warm-up, print the median table and the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=640, help="frame size of the generated clip")
    parser.add_argument("--imgsz", type=int, default=640, help="detector input size")
    parser.add_argument(
        "--detector",
        default="yolov5s.yaml",
        help="yolov5s.yaml / yolov5n.yaml (untrained) or a trained best.pt",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the frames; medians are shown")
    parser.add_argument(
        "--calib-frames", type=int, default=16, help="frames of another clip that calibrate int8"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    gpu = "0" if args.device == "cuda" else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frames, truth = crowd_clip(tmp, args.size, args.frames)
        yolo = import_ultralytics().YOLO(args.detector, task="detect")
        detector = Detector(yolo, args.imgsz, truth, gpu)
        model = create_classifier("efficientnet_b0", 2, pretrained=False).eval()
        model_input = ClassifierInput(CropSpec(224, 0.1), 224, *input_stats(model))
        torch_rt = TorchClassifier.from_module(model, CLASSES, model_input, args.device, "efficientnet_b0")
        onnx_path = export_classifier_onnx(torch_rt, tmp / "cls.onnx")  # exported from a CPU copy
        onnx_rt = OnnxClassifier.from_file(onnx_path, device=args.device)
        yolo.save(tmp / "detector.pt")
        det_onnx = export_detector_onnx(tmp / "detector.pt", tmp / "detector.onnx", imgsz=args.imgsz)
        onnx_detector = Detector(load_detector(det_onnx), args.imgsz, truth, gpu)
        calib = generate_clip(tmp / "calib", "crowd", 8.0, 10.0, args.size, 99, "park")  # another scene
        calib_frames = [f.image for f in iter_frames(calib.video)]
        pick = np.linspace(0, len(calib_frames) - 1, args.calib_frames).round().astype(int)
        det_int8 = quantize_detector_onnx(
            det_onnx, tmp / "detector_int8.onnx", [calib_frames[i] for i in pick]
        )
        int8_detector = Detector(load_detector(det_int8), args.imgsz, truth, gpu)
        images = [f.image for f in frames]
        parity = box_agreement(
            *(detect_people(d.yolo, images, args.imgsz) for d in (onnx_detector, int8_detector))
        )
        people = sum(len(b) for b in truth[: args.frames]) / args.frames
        untrained = " (untrained)" if args.detector.endswith(".yaml") else ""
        print(
            f"device {args.device}; torch threads {torch.get_num_threads()} (of {threads} at start); onnxruntime providers "
            f"{onnx_rt.session.get_providers()}"
        )
        print(
            f"{len(frames)} frames {args.size}x{args.size}, {people:.1f} people/frame; detector {args.detector}{untrained} "
            f"at {args.imgsz}; classifier efficientnet_b0 (random init) at 224"
        )
        ways = {
            "reference (per-person PIL)": lambda f: reference(f, detector, model, args.device),
            "fallkd torch (batched)": lambda f: fallkd(f, detector, torch_rt, tmp),
            "fallkd onnxruntime (batched)": lambda f: fallkd(f, detector, onnx_rt, tmp),
            "fallkd onnxruntime, both models": lambda f: fallkd(f, onnx_detector, onnx_rt, tmp),
            "fallkd onnxruntime, int8 detector": lambda f: fallkd(f, int8_detector, onnx_rt, tmp),
        }
        for way in ways.values():  # warm-up: cuDNN autotuning, lazy CUDA init, ONNX Runtime arenas
            way(frames[: args.warmup])
        runs: dict[str, list[dict]] = {name: [] for name in ways}
        for _ in range(args.repeats):  # interleaved rounds, so clock or load drift hits every way alike
            for name, way in ways.items():
                for d in (detector, onnx_detector, int8_detector):
                    d.used_truth = 0
                row = way(frames)
                used = detector.used_truth + onnx_detector.used_truth + int8_detector.used_truth
                runs[name].append({**row, "truth_boxes": used})
        rows = {
            name: {**_median(r), "truth_boxes": sum(x["truth_boxes"] for x in r)} for name, r in runs.items()
        }
    print(
        f"\n{'way':34s} {'frames/s':>9s} {'detect ms':>10s} {'crop ms':>8s} {'classify ms':>12s} {'track ms':>9s}"
    )
    for name, r in rows.items():
        print(
            f"{name:34s} {r['fps']:9.2f} {r['detect']:10.2f} {r['crop']:8.2f} {r['classify']:12.2f} "
            f"{r.get('track', 0.0):9.2f}"
        )
    if any(r["truth_boxes"] for r in rows.values()):
        print(
            "note: the untrained detector found nobody; its time counts, but the classifier stage got the clip's "
            "ground-truth boxes (same boxes for every way)"
        )
    if parity["reference_boxes"]:
        print(
            f"int8 detector vs float ONNX on these frames: {parity['matched']}/{parity['reference_boxes']} boxes "
            f"found again (recall {parity['recall']:.3f}, precision {parity['precision']:.3f}, mean IoU "
            f"{parity['mean_iou']:.3f}, mean confidence change {parity['mean_abs_conf_change']:.3f})"
        )
    else:
        print(
            "int8 parity: the detector found no boxes (untrained); pass --detector a trained best.pt to measure it"
        )
    base = rows["reference (per-person PIL)"]
    for name in list(rows)[1:]:
        total = rows[name]["fps"] / base["fps"]
        stage = (base["crop"] + base["classify"]) / max(rows[name]["crop"] + rows[name]["classify"], 1e-9)
        print(f"{name}: {total:.2f}x the reference's frames/s (crop+classify stages {stage:.2f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
