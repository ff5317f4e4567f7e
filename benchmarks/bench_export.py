"""What the export buys on this CPU: torch eager vs ONNX Runtime fp32 vs int8 per model, and the edge camera
(run_edge's EdgeCamera on ONNX Runtime) vs `fallkd detect` (FallPipeline) per frame on the same clip, each against
this CPU's matrix-multiply roofline, measured in the same run.

    .venv/bin/python benchmarks/bench_export.py [--classifier runs/course/quick/efficientnet_b0_kd_cached]
        [--frames 40] [--repeats 20] [--rounds 3] [--threads 0] [--classifier-threads 1]
        [--classifier-workers 2]

Models: the person detector that ships with fallkd (YOLOv5n at 320; torch eager runs its architecture,
`yolov5n.yaml` with one class: its speed does not depend on the weights) and the course's distilled student
(notebook 04's run; without it, an untrained EfficientNet-B0 with the quick profile's input, 64 px crops at 48 px),
both exported by `fallkd export` into a temporary bundle (opset 13, parity checked). int8 copies are calibrated on
frames and crops of another clip than the timed one. The clip is a rendered crowd with 3 people per frame.

Roofline: the best GFLOP/s of a 1024 x 1024 float32 matrix product on all cores, in torch and in ONNX Runtime (the
higher counts; measured at the start and the end, the higher kept); a model's "roofline share" is its FLOPs / time over that. Target (issue 11): on this CPU the edge
camera's frame with 3 people costs at most 1.25x its detector alone (letterbox + ONNX Runtime + decoding + NMS);
both are timed on the same frame one after the other, in alternating order, so a busy machine slows both alike, and
the verdict is the median of the per-frame ratios. torch eager suffers most on a busy machine: its OpenMP threads wait for each other
at every layer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fallkd_lib.config import pipeline_config  # noqa: E402
from fallkd_lib.data.geometry import CropSpec, crop_people  # noqa: E402
from fallkd_lib.data.synthetic import generate_clip  # noqa: E402
from fallkd_lib.edge import yolo  # noqa: E402
from fallkd_lib.edge.backends import OnnxRuntimeModel  # noqa: E402
from fallkd_lib.edge.runner import EdgeCamera, add_thread_options  # noqa: E402
from fallkd_lib.export.bundle import export_bundle  # noqa: E402
from fallkd_lib.export.classifier_int8 import call_ms, quantize_classifier_onnx  # noqa: E402
from fallkd_lib.export.quantize import quantize_detector_onnx  # noqa: E402
from fallkd_lib.runtime.classifier import TorchClassifier, preprocess  # noqa: E402
from fallkd_lib.runtime.loaders import shipped_detector  # noqa: E402
from fallkd_lib.runtime.pipeline import FallPipeline  # noqa: E402
from fallkd_lib.runtime.sources import iter_frames  # noqa: E402
from fallkd_lib.settings import configure_offline, get_settings, keep_torch_threads  # noqa: E402

TARGET = 1.25  # edge frame with 3 people / detector alone
DEFAULT_CLASSIFIER = get_settings().runs_dir / "course" / "quick" / "efficientnet_b0_kd_cached"


def matmul_gflops(n: int = 1024, repeats: int = 20) -> dict[str, float]:
    """Best GFLOP/s of an n x n float32 matrix product on all cores, in torch (MKL) and in ONNX Runtime (MLAS,
    what runs the models): this CPU's practical peak, as each library reaches it."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    found = {"torch": 2 * n**3 / min(_seconds(lambda: a @ b) for _ in range(repeats)) / 1e9}
    inputs = [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in "ab"]
    output = helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"a": a.numpy(), "b": b.numpy()}
    session.run(None, feed)
    found["onnxruntime"] = (
        2 * n**3 / min(_seconds(lambda: session.run(None, feed)) for _ in range(repeats)) / 1e9
    )
    assert onnx.checker.check_model(model) is None
    return found


def _seconds(call: object) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def crowd_frames(folder: Path, frames: int, seed: int) -> tuple[list, list[np.ndarray]]:
    """Frames (fallkd Frame) of a 320 px crowd clip with >= 3 people in every frame, and its true boxes."""
    for style in ("park", "cctv"):
        for k in range(8):
            info = generate_clip(
                folder / f"crowd_{seed}_{k}", "crowd", max(4.0, frames / 10), 10.0, 320, seed + k, style
            )
            truth = json.loads(Path(info.truth).read_text())["frames"]
            boxes = [np.array([p["box"] for p in f["people"] if p["visible"] > 0], float) for f in truth]
            if min(len(b) for b in boxes[:frames]) >= 3:
                return list(iter_frames(info.video))[:frames], boxes[:frames]
    raise RuntimeError("no crowd clip with 3 people in every frame")


def classifier_run(path: str, folder: Path) -> tuple[Path, str]:
    """The classifier run folder to export, and how it was made."""
    if path != "none" and (Path(path) / "best.pt").is_file():
        return Path(path), f"{path} (trained)"
    from fallkd_lib.config import as_dict, train_config
    from fallkd_lib.models import create_classifier, input_stats
    from fallkd_lib.models.inputs import ClassifierInput
    from fallkd_lib.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = create_classifier("efficientnet_b0", 2, pretrained=False)
    cfg = as_dict(train_config("quick", model="efficientnet_b0"))
    model_input = ClassifierInput(CropSpec(64, 0.1), cfg["image_size"], *input_stats(net))
    run = folder / "untrained_efficientnet_b0"
    save_checkpoint(
        run / "best.pt", net, None, None, None, 1, None, cfg, None, ["fall", "normal"], model_input
    )
    return (
        run,
        f"untrained efficientnet_b0 at {cfg['image_size']} px ({path} has no best.pt: run notebook 04)",
    )


def person_crops(images: list[np.ndarray], truth: list[np.ndarray], crop: CropSpec) -> np.ndarray:
    """The true people of the frames, cut as the classifier's training crops were."""
    return np.concatenate(
        [crop_people(image, boxes, crop) for image, boxes in zip(images, truth, strict=True)]
    )


def model_table(
    bundle: Path,
    classifier: TorchClassifier,
    timed: tuple[list[np.ndarray], list[np.ndarray]],
    calib: tuple[list[np.ndarray], list[np.ndarray]],
    repeats: int,
    threads: tuple[int, int],
    budget: dict,
) -> list[dict]:
    """torch / ONNX Runtime / int8 ms per call for the detector and the classifier at batch 1, 3, 8; timed and
    calib are (RGB frames, true boxes) of two clips."""
    from ultralytics.nn.tasks import DetectionModel

    size = json.loads((bundle / "pipeline.json").read_text())["detector"]["input_size"]
    det_int8 = quantize_detector_onnx(bundle / "detector.onnx", bundle / "detector_int8.onnx", calib[0])
    calib_crops = person_crops(*calib, classifier.input.crop)[:64]
    cls_int8 = quantize_classifier_onnx(
        bundle / "classifier.onnx", bundle / "classifier_int8.onnx", calib_crops
    )
    with keep_torch_threads(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch_det = DetectionModel("yolov5n.yaml", nc=1, verbose=False).fuse(verbose=False).eval()
    x = yolo.detector_input(timed[0][0], size)
    batch = preprocess(person_crops(*timed, classifier.input.crop)[:8], classifier.input).numpy()
    ways = {
        "detector": (
            lambda x: torch_det(torch.from_numpy(x)),
            OnnxRuntimeModel(bundle / "detector.onnx", threads[0]),
            OnnxRuntimeModel(det_int8, threads[0]),
        ),
        "classifier": (
            lambda x: classifier.logits(torch.from_numpy(x)),
            OnnxRuntimeModel(bundle / "classifier.onnx", threads[1]),
            OnnxRuntimeModel(cls_int8, threads[1]),
        ),
    }
    rows = []
    for name, (eager, fp32, int8) in ways.items():
        for k in (1,) if name == "detector" else (1, 3, 8):
            inp = x if name == "detector" else batch[:k]
            with torch.inference_mode(), keep_torch_threads():
                ms = [call_ms(way, inp, repeats) for way in (eager, fp32, int8)]
            gflops = budget["models"][name]["gflops"] * k
            rows.append(
                {
                    "model": name,
                    "batch": k,
                    "gflops": gflops,
                    "ms": ms,
                }
            )
    return rows


def edge_vs_host(
    bundle: Path, classifier: Path, frames: list, threads: tuple[int, int], rounds: int, workers: int
) -> dict:
    """Per frame, paired: the edge detector alone, the edge camera, and the edge camera with the int8 classifier
    (bundle/classifier_int8.onnx) on the same frame, one after the other in an order that rotates frame by frame
    (so a busy machine slows all alike); then FallPipeline over the frames on its own (torch's OpenMP threads keep
    spinning after a call and would slow whatever follows), one round after a warm-up. Medians over frames and
    rounds, the first round a warm-up."""
    cameras = {
        "edge": EdgeCamera(bundle, "onnxruntime", *threads, classifier_workers=workers),
        "int8": EdgeCamera(
            bundle,
            "onnxruntime",
            *threads,
            classifier_file="classifier_int8.onnx",
            classifier_workers=workers,
        ),
    }
    camera = cameras["edge"]
    det = camera.det
    host = FallPipeline(shipped_detector(), classifier, pipeline_config("quick"))
    times: dict[str, list[float]] = {
        "alone": [],
        "edge": [],
        "int8": [],
        "host": [],
        "ratio": [],
        "ratio_int8": [],
    }
    people = {"edge": [], "host": []}
    stages: dict[str, list[dict]] = {"edge": [], "int8": []}

    def alone(image: np.ndarray, _: int) -> float:
        start = time.perf_counter()
        yolo.detect(camera.detector, image, det["input_size"], det["conf"], det["iou"], det["max_det"])
        return 1000 * (time.perf_counter() - start)

    def way(name: str) -> Callable:
        def run(image: np.ndarray, i: int) -> float:
            start = time.perf_counter()
            found = cameras[name].process(image, i / 10)[0]
            if name == "edge":
                people["edge"].append(len(found))
            return 1000 * (time.perf_counter() - start)

        return run

    ways = {"alone": alone, "edge": way("edge"), "int8": way("int8")}
    order = list(ways)
    for round_ in range(rounds + 1):
        for c in cameras.values():
            c.reset()
        for i, frame in enumerate(frames):
            k = i % len(order)
            ms = {name: ways[name](frame.image, i) for name in order[k:] + order[:k]}
            if round_:
                for name, value in ms.items():
                    times[name].append(value)
                times["ratio"].append(ms["edge"] / ms["alone"])
                times["ratio_int8"].append(ms["int8"] / ms["alone"])
        if round_:
            for name, c in cameras.items():
                stages[name].append(c.stage_ms())
        else:
            people["edge"].clear()
    for warm_up in (True, False):  # one timed round: the host is the slow way
        host.reset()
        for frame in frames[:5] if warm_up else frames:
            start = time.perf_counter()
            found = host.process(frame).people
            if not warm_up:
                times["host"].append(1000 * (time.perf_counter() - start))
                people["host"].append(len(found))
    result = {key: float(np.median(values)) for key, values in times.items()}
    result.update({f"{way}_people": float(np.mean(n)) for way, n in people.items()})
    for name, rows in stages.items():
        result.update({f"{name}_{s}": float(np.median([r[s] for r in rows])) for s in rows[0]})
    return result


def main() -> int:
    """Build the bundle, time every way, print both tables and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--classifier", default=str(DEFAULT_CLASSIFIER), help="classifier run folder ('none': untrained)"
    )
    parser.add_argument("--frames", type=int, default=40, help="frames of the crowd clip timed per round")
    parser.add_argument("--repeats", type=int, default=20, help="calls per model timing (median)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the clip (best shown)")
    add_thread_options(parser)
    args = parser.parse_args()
    configure_offline()
    threads = torch.get_num_threads()
    ort_threads = (args.threads, args.classifier_threads)
    load = os.getloadavg()[0]
    roofline = matmul_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run, made = classifier_run(args.classifier, tmp)
        frames, truth = crowd_frames(tmp / "clip", args.frames, seed=0)
        calib_frames, calib_truth = crowd_frames(tmp / "calib", 24, seed=50)
        calib = ([f.image for f in calib_frames], calib_truth)
        config = pipeline_config("quick", tracker="iou")
        report = export_bundle(shipped_detector(), run, tmp / "deploy", config=config)
        classifier = TorchClassifier.from_checkpoint(run / "best.pt", "cpu")
        torch.set_num_threads(
            threads
        )  # ultralytics drops one core for the whole process when it loads a model
        timed = ([f.image for f in frames], truth)
        rows = model_table(
            tmp / "deploy", classifier, timed, calib, args.repeats, ort_threads, report["budget"]
        )
        per_frame = edge_vs_host(
            tmp / "deploy", run, frames, ort_threads, args.rounds, args.classifier_workers
        )
    end = matmul_gflops()
    peak = max(*roofline.values(), *end.values())
    print(
        f"torch {torch.__version__}, {threads} threads; matmul roofline {peak:.1f} GFLOP/s (start: torch "
        f"{roofline['torch']:.1f}, ONNX Runtime {roofline['onnxruntime']:.1f}; end: {end['torch']:.1f}, "
        f"{end['onnxruntime']:.1f}); load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on "
        f"{os.cpu_count()} cores (a busy machine's numbers are not comparable)"
    )
    print(
        f"detector: shipped YOLOv5n at 320; classifier: {made}; ONNX Runtime threads: detector "
        f"{args.threads or 'all cores'}, classifier {args.classifier_threads or 'all cores'} x "
        f"{args.classifier_workers} parallel calls\n"
    )
    print(
        f"{'model':11s} {'batch':>5s} {'GFLOPs':>7s} {'torch ms':>9s} {'ORT ms':>7s} {'int8 ms':>8s} "
        f"{'ORT/torch':>9s} {'int8/ORT':>8s} {'ORT roofline':>12s}"
    )
    for r in rows:
        t, o, q = r["ms"]
        print(
            f"{r['model']:11s} {r['batch']:5d} {r['gflops']:7.3f} {t:9.2f} {o:7.2f} {q:8.2f} {t / o:8.2f}x "
            f"{o / q:7.2f}x {r['gflops'] / o * 1000 / peak:11.1%}"
        )
    det_g, cls_g = (report["budget"]["models"][m]["gflops"] for m in ("detector", "classifier"))
    frame_g = det_g + 3 * cls_g
    print(f"\nper frame, paired on each of {args.frames} frames x {args.rounds} rounds (medians):")
    print(f"{'way':48s} {'ms/frame':>9s} {'GFLOP/s':>8s} {'roofline':>9s}")
    lines = [
        ("edge detector alone (ONNX Runtime + numpy)", per_frame["alone"], det_g),
        ("edge camera, run_edge (ONNX Runtime)", per_frame["edge"], frame_g),
        ("edge camera, int8 classifier (--classifier-file)", per_frame["int8"], frame_g),
        ("fallkd detect (FallPipeline, torch classifier)", per_frame["host"], frame_g),
    ]
    for name, ms, gflops in lines:
        print(f"{name:48s} {ms:9.2f} {gflops / ms * 1000:8.1f} {gflops / ms * 1000 / peak:8.1%}")
    for name in ("edge", "int8"):
        stages = ", ".join(
            f"{s} {per_frame[f'{name}_{s}']:.2f}" for s in ("detect", "crop", "classify", "track")
        )
        print(f"{name} stages (ms/frame): {stages}")
    print(
        f"frame {frame_g:.3f} GFLOPs (detector {det_g:.3f} + 3 x {cls_g:.3f}); people classified per frame: edge "
        f"{per_frame['edge_people']:.1f}, host {per_frame['host_people']:.1f}"
    )
    for name, key in (("edge camera", "ratio"), ("edge camera, int8 classifier", "ratio_int8")):
        ratio = per_frame[key]
        print(
            f"{name} / detector alone, median of the per-frame ratios: {ratio:.2f}x (target <= {TARGET}x): "
            f"{'met' if ratio <= TARGET else 'NOT met'}"
        )
    print(f"fallkd detect / edge camera: {per_frame['host'] / per_frame['edge']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
