"""`fallkd export`: the deploy bundle from the shipped detector and a trained tiny classifier (files, opsets read
back, pipeline.json read from the models, parity, budget, build_engines.sh's opset guard, bad inputs that write
nothing), run_edge.py without torch on a clip and a folder of images, and the whole system: run_edge.py on ONNX
Runtime against FallPipeline on the torch models, event for event."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from conftest import save_untrained_classifier

from fallkd_lib.config import FallStateConfig, as_dict, pipeline_config
from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.data.synthetic import generate_clip
from fallkd_lib.errors import OutputExistsError, UsageError
from fallkd_lib.export.bundle import export_bundle
from fallkd_lib.runtime.loaders import shipped_detector

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
# every confirmed track goes down at once and alerts 2 s later: events that do not hinge on a tiny classifier
EVENTFUL = FallStateConfig(enter=0.01, exit=0.0, alert_after=1.0, found_down_after=2.0, smoothing=0.5)
CONFIG = pipeline_config("quick", tracker="iou", state=EVENTFUL)
# run_edge.py as on the Jetson: torch, ultralytics and fallkd_lib cannot be imported
NO_TORCH = (
    "import runpy, sys\n"
    "for name in ('torch', 'torchvision', 'ultralytics', 'fallkd_lib', 'timm'):\n"
    "    sys.modules[name] = None\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


@pytest.fixture(scope="module")
def classifier(tiny_merged, tmp_path_factory) -> Path:
    """A ResNet18 trained 1 epoch at 32 px on 48 px crops of the tiny merged dataset (trained weights, real crops)."""
    from fallkd_lib.config import train_config
    from fallkd_lib.data.crops import extract_crops
    from fallkd_lib.train.recipes import train_classifier

    root = tmp_path_factory.mktemp("bundle_cls")
    extract_crops(tiny_merged, root / "crops", CropSpec(48, 0.1), progress=False)
    cfg = train_config("quick", model="resnet18", image_size=32, epochs=1, batch_size=16)
    train_classifier(root / "crops", root / "run", cfg, progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 6 s fall_stay clip at 320 px, 5 fps."""
    root = tmp_path_factory.mktemp("bundle_clip")
    return generate_clip(root / "fall_stay", "fall_stay", seconds=6.0, fps=5, size=320, seed=0).video


@pytest.fixture(scope="module")
def bundle(classifier, clip, tmp_path_factory) -> tuple[Path, dict]:
    """The bundle of the shipped detector (ONNX, opset 18) + the tiny classifier, calibrated on the clip."""
    out = tmp_path_factory.mktemp("bundle") / "deploy"
    return out, export_bundle(shipped_detector(), classifier, out, calib=clip, config=CONFIG)


def run_edge(bundle_dir: Path, source: Path, out: Path, *extra: str) -> dict:
    """run_edge.py in a fresh interpreter that cannot import torch; returns its summary.json."""
    args = [sys.executable, "-c", NO_TORCH, str(bundle_dir / "run_edge.py"), "--source", str(source)]
    done = subprocess.run([*args, "--out", str(out), *extra], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "summary.json").read_text())


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_bundle_holds_everything_the_device_needs(bundle, classifier) -> None:
    from fallkd_lib.runtime.classifier import TorchClassifier

    out, report = bundle
    names = {p.name for p in out.iterdir()}
    assert names >= {"detector.onnx", "classifier.onnx", "pipeline.json", "budget.json", "parity.json"}
    assert names >= {"build_engines.sh", "run_edge.py", "README.md", "fallkd_edge", "detector_calib.cache"}
    for name in ("detector", "classifier"):
        assert {o.domain: o.version for o in onnx.load(str(out / f"{name}.onnx")).opset_import}[""] == 13
    cls_input = onnx.load(str(out / "classifier.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert cls_input[0].dim_param and [d.dim_value for d in cls_input[1:]] == [3, 32, 32]  # dynamic batch
    pipeline = json.loads((out / "pipeline.json").read_text())
    model = TorchClassifier.from_checkpoint(classifier / "best.pt", "cpu")
    assert (
        pipeline["classifier"]["crop"] == {"size": 48, "pad": 0.1, "fill": 114} == model.input.crop.to_dict()
    )
    assert (
        pipeline["classifier"]["mean"] == list(model.input.mean)
        and pipeline["classifier"]["image_size"] == 32
    )
    assert pipeline["classifier"]["fall_index"] == model.class_names.index("fall")
    assert pipeline["detector"]["input_size"] == 320 and pipeline["detector"]["conf"] == CONFIG.conf == 0.05
    assert pipeline["state"] == as_dict(EVENTFUL) and pipeline["confirm_conf"] == 0.3
    assert pipeline["confirm_motion"] == CONFIG.confirm_motion
    assert pipeline["tracker"]["type"] == "iou" and pipeline["tracker"]["host_tracker"] == "iou"
    parity = json.loads((out / "parity.json").read_text())
    assert parity["classifier"]["max_abs_logit_diff"] < 1e-3 and parity["classifier"]["top1_agreement"] == 1.0
    assert parity["classifier"]["crops"] >= 10 and parity["detector"]["frames"] >= 12
    assert parity["detector"]["recall"] >= 0.98 and parity["detector"]["mean_iou"] >= 0.99
    budget = json.loads((out / "budget.json").read_text())
    assert set(budget["per_frame"]) == {"detector + 1 crops", "detector + 3 crops", "detector + 8 crops"}
    assert 10.5 < budget["models"]["classifier"]["params_m"] < 11.5  # ResNet18, batch norms folded
    assert budget["per_frame"]["detector + 3 crops"]["gflops"] == pytest.approx(
        budget["models"]["detector"]["gflops"] + 3 * budget["models"]["classifier"]["gflops"]
    )
    # 2.5 M + 11.2 M is over 13 M summed, but the parameter budget is per model: the frame fits on its FLOPs
    assert budget["per_frame"]["detector + 3 crops"]["params_m"] > 13
    assert {row["verdict"] for row in budget["per_frame"].values()} == {"fits"}
    assert report["parity"] == parity and "estimate" in (out / "README.md").read_text()
    # --calib also writes the int8 classifier for CPU devices, calibrated on more crops than the parity scenes'
    q = parity["classifier_int8"]
    assert q["file"] == "classifier_int8.onnx" and (out / q["file"]).is_file()
    assert q["crops"] > parity["classifier"]["crops"] and 0 <= q["max_abs_prob_diff"] <= 1
    assert "classifier_int8.onnx" in (out / "README.md").read_text()


def test_budget_counts_the_flops_torch_counts(bundle, classifier) -> None:
    from fallkd_lib.export.budget import onnx_cost
    from fallkd_lib.models.budget import count_flops
    from fallkd_lib.models.trained import load_trained_classifier

    net, _ = load_trained_classifier(classifier)
    assert onnx_cost(bundle[0] / "classifier.onnx")["flops"] == count_flops(net, 32)


def test_build_engines_refuses_an_opset_above_13(bundle, tmp_path) -> None:
    copy = tmp_path / "deploy"
    shutil.copytree(bundle[0], copy)
    fake = tmp_path / "trtexec"
    fake.write_text('#!/bin/sh\necho trtexec "$@" >> "$(dirname "$0")/calls.txt"\n')
    fake.chmod(0o755)
    env = {**os.environ, "TRTEXEC": str(fake), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(copy / "build_engines.sh")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls.txt").read_text()
    assert "--saveEngine=detector.engine --fp16" in calls and "--maxShapes=images:8x3x32x32" in calls
    shutil.copy(shipped_detector(), copy / "detector.onnx")  # opset 18
    (tmp_path / "calls.txt").unlink()
    done = subprocess.run(["bash", str(copy / "build_engines.sh")], capture_output=True, text=True, env=env)
    assert done.returncode != 0 and "opset 18, above 13" in done.stderr
    assert not (tmp_path / "calls.txt").exists()  # trtexec never ran


def test_bad_inputs_write_nothing(bundle, classifier, tmp_path) -> None:
    from fallkd_lib.settings import import_ultralytics

    out = tmp_path / "deploy"
    with pytest.raises(OutputExistsError, match="another fallkd export"):
        export_bundle(shipped_detector(), classifier, bundle[0])
    no_fall = save_untrained_classifier(tmp_path / "cats", size=32, classes=("cat", "dog"))
    with pytest.raises(UsageError, match="cannot tell which class is the fall"):
        export_bundle(shipped_detector(), no_fall, out)
    import_ultralytics().YOLO("yolov5n.yaml", task="detect").save(tmp_path / "coco.pt")  # 80 COCO classes
    with pytest.raises(UsageError, match="not only 'person'"):
        export_bundle(tmp_path / "coco.pt", classifier, out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="folder without images"):
        export_bundle(shipped_detector(), classifier, out, calib=tmp_path / "empty")
    with pytest.raises(UsageError, match="run folder or best.pt"):
        export_bundle(shipped_detector(), bundle[0] / "classifier.onnx", out)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".deploy")]


def test_run_edge_without_torch_on_a_clip_and_a_folder(bundle, clip, tmp_path) -> None:
    summary = run_edge(bundle[0], clip, tmp_path / "clip_out")
    assert summary["frames"] == 30 and summary["tracking"] == "iou" and summary["error"] is None
    cap, folder = cv2.VideoCapture(str(clip)), tmp_path / "frames"
    folder.mkdir()
    for i in range(5):
        ok, bgr = cap.read()
        cv2.imwrite(str(folder / f"f{i:03d}.png"), bgr)
    cap.release()
    summary = run_edge(bundle[0], folder, tmp_path / "folder_out")
    assert summary["frames"] == 5 and (tmp_path / "folder_out" / "events.jsonl").is_file()
    summary = run_edge(bundle[0], clip, tmp_path / "loop_out", "--loop", "--max-frames", "45")
    assert summary["frames"] == 45 and summary["error"] is None  # 30 frames, then 15 of the replay
    events = lines(tmp_path / "loop_out" / "events.jsonl")
    assert max(e["frame"] for e in events) < 45 and all(e["time"] < 45 / 5 for e in events)


def test_run_edge_with_the_int8_classifier_and_a_missing_file(bundle, clip, tmp_path) -> None:
    from fallkd_lib.edge.runner import EdgeCamera

    summary = run_edge(bundle[0], clip, tmp_path / "int8", "--classifier-file", "classifier_int8.onnx")
    assert summary["frames"] == 30 and summary["error"] is None
    camera = EdgeCamera(bundle[0], classifier_file="classifier_int8.onnx")
    ops = {node.op_type for node in onnx.load(str(bundle[0] / "classifier_int8.onnx")).graph.node}
    assert "QuantizeLinear" in ops and camera.classifier is not None
    args = [sys.executable, "-c", NO_TORCH, str(bundle[0] / "run_edge.py"), "--source", str(clip)]
    done = subprocess.run(
        [*args, "--out", str(tmp_path / "x"), "--classifier-file", "nope.onnx"],
        capture_output=True,
        text=True,
    )
    assert (
        done.returncode == 2
        and "nope.onnx not found: --classifier-file names a file of the bundle" in done.stderr
    )


def test_the_edge_cameras_sessions_are_sized_for_one_core_each_way(bundle) -> None:
    """The detector's ONNX Runtime session takes every core, the classifier's one thread (--classifier-threads)."""
    from fallkd_lib.edge.runner import EdgeCamera

    def threads(model: object) -> int:
        return model.session.get_session_options().intra_op_num_threads

    camera = EdgeCamera(bundle[0])
    assert (threads(camera.detector), threads(camera.classifier)) == (0, 1)
    camera = EdgeCamera(bundle[0], threads=2, classifier_threads=0)
    assert (threads(camera.detector), threads(camera.classifier)) == (2, 0)
    options = camera.classifier.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_the_classifier_workers_split_a_frames_crops_and_agree_with_one_call(bundle) -> None:
    """--classifier-workers N: the crops go out in N parallel calls (the last on the caller's thread), in order,
    with the scores of one call; a count below 1 is refused."""
    from fallkd_lib.edge.errors import UsageError as EdgeUsageError
    from fallkd_lib.edge.runner import EdgeCamera

    one = EdgeCamera(bundle[0], classifier_workers=1)
    three = EdgeCamera(bundle[0], classifier_workers=3)
    calls: list[int] = []
    inner = three.classifier
    three.classifier = lambda x: calls.append(len(x)) or inner(x)
    size = one.cls["crop"]["size"]
    crops = np.random.default_rng(0).integers(0, 256, (5, size, size, 3), dtype=np.uint8)
    assert one._pool is None and three.workers == 3
    np.testing.assert_allclose(three.fall_probabilities(crops), one.fall_probabilities(crops), atol=1e-6)
    assert sorted(calls) == [1, 2, 2]  # np.array_split: 2 + 2 + 1, the last share on this thread
    calls.clear()
    three.fall_probabilities(crops[:1])
    assert calls == [1]  # one crop: one call, no thread
    with pytest.raises(EdgeUsageError, match="classifier_workers must be >= 1"):
        EdgeCamera(bundle[0], classifier_workers=0)


def test_run_edge_stops_cleanly_on_sigterm(bundle, clip, tmp_path) -> None:
    """A service manager stops the camera with SIGTERM: it exits 0 with its summary written, as after Ctrl-C."""
    import signal
    import time

    out = tmp_path / "out"
    args = [sys.executable, "-c", NO_TORCH, str(bundle[0] / "run_edge.py"), "--source", str(clip), "--loop"]
    process = subprocess.Popen([*args, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (out / "events.jsonl").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # a few frames in
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, process.stdout.read().decode()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error"] == "KeyboardInterrupt" and summary["frames"] > 0


def _host_events(bundle_dir: Path, classifier: Path, video: Path, out: Path) -> list[dict]:
    from fallkd_lib.runtime.pipeline import FallPipeline

    config = json.loads((bundle_dir / "pipeline.json").read_text())
    cfg = pipeline_config("quick", tracker="iou", state=FallStateConfig(**config["state"]))
    pipe = FallPipeline(shipped_detector(), classifier, cfg)
    summary = pipe.run(video, out, save_video=False, progress=False)
    assert summary["tracking"] == "iou"
    return lines(out / "events.jsonl")


def assert_same_events(host: list[dict], edge: list[dict], frame_s: float) -> None:
    """The same events (kind, track, state) in the same order, times within one frame, similar probabilities."""
    assert [(e["kind"], e["track_id"], e["state"]) for e in edge] == [
        (e["kind"], e["track_id"], e["state"]) for e in host
    ]
    for h, e in zip(host, edge, strict=True):
        assert abs(h["time"] - e["time"]) <= frame_s + 1e-9
        assert abs(h["prob"] - e["prob"]) < 0.02 and np.allclose(h["box"], e["box"], atol=0.5)


def test_the_edge_camera_raises_the_host_cameras_events(bundle, classifier, clip, tmp_path) -> None:
    """Whole-system parity, fast: the same tracks and alerts from run_edge.py (ONNX Runtime, numpy) as from
    FallPipeline (ultralytics + torch) on one clip, with the IoU tracker on both sides."""
    host = _host_events(bundle[0], classifier, clip, tmp_path / "host")
    run_edge(bundle[0], clip, tmp_path / "edge")
    edge = lines(tmp_path / "edge" / "events.jsonl")
    assert any(e["kind"] == "long_lie" for e in host)
    assert_same_events(host, edge, frame_s=1 / 5)
    alerts = lines(tmp_path / "edge" / "alerts.jsonl")
    assert len(alerts) == sum(e["kind"] == "long_lie" for e in edge) and Path(alerts[0]["snapshot"]).is_file()


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "seed"), [("fall_stay", 1), ("walk", 0), ("crowd", 0), ("sit", 0)])
def test_whole_system_parity_on_quick_profile_clips(classifier, tmp_path, scenario: str, seed: int) -> None:
    """Whole-system parity under the quick profile's own state machine (tracker iou) on 20 s clips."""
    out = tmp_path / "deploy"
    export_bundle(shipped_detector(), classifier, out, config=pipeline_config("quick", tracker="iou"))
    video = generate_clip(tmp_path / scenario, scenario, seconds=20.0, fps=5, size=320, seed=seed).video
    host = _host_events(out, classifier, video, tmp_path / "host")
    run_edge(out, video, tmp_path / "edge")
    assert_same_events(host, lines(tmp_path / "edge" / "events.jsonl"), frame_s=1 / 5)


@pytest.mark.slow
def test_cli_export_prints_the_budget_and_parity(classifier, clip, tmp_path, capsys) -> None:
    from fallkd_lib.cli import main

    main(
        [
            "export",
            "--detector",
            str(shipped_detector()),
            "--classifier",
            str(classifier),
            "--out",
            str(tmp_path / "d"),
        ]
    )
    printed = capsys.readouterr().out
    assert "detector + 8 crops" in printed and "parity: classifier" in printed and "IoU tracker" in printed
    again = ["export", "--detector", str(shipped_detector()), "--classifier", str(classifier)]
    assert main([*again, "--out", str(tmp_path / "d")]) == 2
    assert "already holds another fallkd export" in capsys.readouterr().err


@pytest.mark.slow
def test_a_detector_checkpoint_is_exported_at_opset_13(tiny_detector, classifier, clip, tmp_path) -> None:
    """A .pt person detector (the shared 1-epoch YOLOv5n at 128 px) goes through ultralytics' exporter at opset 13."""
    from fallkd_lib.export.bundle import ParityError

    weights = Path(tiny_detector["summary"]["best"])
    try:
        report = export_bundle(weights, classifier, tmp_path / "d", calib=clip, config=CONFIG)
    except (
        ParityError
    ) as exc:  # a detector trained one epoch may find nobody: the export says so, writes nothing
        assert "found no person" in str(exc) and not (tmp_path / "d").exists()
        return
    assert (
        report["pipeline"]["detector"]["input_size"] == 128 and report["parity"]["opsets"]["detector"] == 13
    )
