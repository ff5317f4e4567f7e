"""Detector export to ONNX, int8 quantization (decoding kept in float) and box parity between two detectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from fallkd_lib.cli import main
from fallkd_lib.data.synthetic import render_scene
from fallkd_lib.detector.train import load_detector
from fallkd_lib.export import (
    box_agreement,
    detector_parity,
    detector_speed,
    export_detector_onnx,
    quantize_detector_onnx,
    quantize_onnx_int8,
)
from fallkd_lib.export.quantize import decode_nodes, detector_inputs
from fallkd_lib.runtime.sources import sample_frames, split_spread
from fallkd_lib.settings import import_ultralytics

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
IMGSZ = 64


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """An (untrained) YOLOv5n checkpoint, its ONNX export at 64 px, and its int8 copy."""
    tmp = tmp_path_factory.mktemp("det")
    import_ultralytics().YOLO("yolov5n.yaml", task="detect").save(tmp / "det.pt")
    onnx_path = export_detector_onnx(tmp / "det.pt", tmp / "deploy" / "det.onnx", imgsz=IMGSZ)
    int8 = quantize_detector_onnx(onnx_path, tmp / "deploy" / "det_int8.onnx", _frames(4))
    return tmp / "det.pt", onnx_path, int8


def _frames(n: int, seed: int = 0) -> list[np.ndarray]:
    return [render_scene(np.random.default_rng(seed + i), "park", 96)[0] for i in range(n)]


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_box_agreement_by_hand() -> None:
    reference = [np.array([[0, 0, 10, 10, 0.9, 0], [20, 20, 30, 30, 0.8, 0]]), np.zeros((0, 6))]
    candidate = [
        np.array([[0, 0, 10, 10, 0.7, 0], [21, 20, 31, 30, 0.8, 0], [50, 50, 60, 60, 0.5, 0]]),
        np.zeros((0, 6)),
    ]
    got = box_agreement(reference, candidate)
    assert (got["frames"], got["reference_boxes"], got["candidate_boxes"], got["matched"]) == (2, 2, 3, 2)
    assert got["recall"] == 1.0 and got["precision"] == pytest.approx(2 / 3)
    assert got["mean_iou"] == pytest.approx((1 + 90 / 110) / 2)  # 9x10 overlap of two 10x10 boxes
    assert got["mean_abs_conf_change"] == pytest.approx(0.1)
    strict = box_agreement(reference, candidate, iou_threshold=0.9)
    assert strict["matched"] == 1 and strict["recall"] == 0.5
    empty = box_agreement([np.zeros((0, 6))], [np.zeros((0, 6))])
    assert empty["matched"] == 0 and np.isnan(empty["recall"]) and np.isnan(empty["mean_iou"])
    with pytest.raises(ValueError, match="cover 2 and 1 frames"):
        box_agreement(reference, candidate[:1])


@pytest.mark.slow
def test_export_writes_where_asked_and_loads(exported: tuple[Path, Path, Path]) -> None:
    weights, onnx_path, _ = exported
    assert onnx_path.is_file() and onnx_path.parent.name == "deploy"
    assert sorted(p.name for p in weights.parent.iterdir()) == ["deploy", "det.pt"]  # nothing left beside it
    props = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert props["task"] == "detect" and "64" in props["imgsz"]
    assert load_detector(onnx_path).task == "detect"
    from ultralytics.utils import NUM_THREADS

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(NUM_THREADS + 1)  # ultralytics' export would set NUM_THREADS for the process
        export_detector_onnx(weights, weights.parent / "again.onnx", imgsz=IMGSZ)
        assert torch.get_num_threads() == NUM_THREADS + 1
    finally:
        torch.set_num_threads(threads)
        (weights.parent / "again.onnx").unlink()
    frames = _frames(3, seed=10)
    model = load_detector(onnx_path)
    same = detector_parity(model, model, frames, IMGSZ, conf=0.0)  # an untrained model's ties break alike
    assert same["reference_boxes"] == same["candidate_boxes"] == same["matched"] > 0
    assert same["recall"] == same["precision"] == 1.0 and same["mean_abs_conf_change"] == 0.0


@pytest.mark.slow
def test_export_refuses_wrong_inputs(tmp_path: Path, exported: tuple[Path, Path, Path]) -> None:
    with pytest.raises(ValueError, match=r"det\.onnx: export needs the detector's \.pt checkpoint"):
        export_detector_onnx(exported[1], tmp_path / "x.onnx")
    with pytest.raises(FileNotFoundError, match=r"absent\.pt not found"):
        export_detector_onnx(tmp_path / "absent.pt", tmp_path / "x.onnx")


@pytest.mark.slow
def test_int8_keeps_metadata_and_float_decoding(exported: tuple[Path, Path, Path]) -> None:
    _, onnx_path, int8 = exported
    model = onnx.load(str(int8))
    graph, props = model.graph, {p.key: p.value for p in model.metadata_props}
    original = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert {k: props[k] for k in original} == original
    assert (
        props["fallkd_quantization"] == "int8 static QDQ per-channel (7-bit weights), 4 calibration batches"
    )
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("Conv") == 76
    producer = {out: n for n in graph.node for out in n.output}
    assert producer[graph.output[0].name].op_type == "Concat"  # boxes + scores joined in float
    decoding = decode_nodes(onnx_path)
    assert "/model.24/dfl/Softmax" in decoding and "/model.24/Concat_3" in decoding
    assert not any("/cv2." in n or "/cv3." in n for n in decoding)  # the head's convolutions are quantized
    assert load_detector(int8).task == "detect"
    assert not list(int8.parent.glob(".*"))  # temporary files removed


@pytest.mark.slow
def test_quantizing_the_decoding_would_erase_the_scores(
    tmp_path: Path, exported: tuple[Path, Path, Path]
) -> None:
    _, onnx_path, int8 = exported
    naive = quantize_onnx_int8(onnx_path, tmp_path / "naive.onnx", detector_inputs(_frames(4), IMGSZ))
    x = next(detector_inputs(_frames(1, seed=20), IMGSZ))
    fp32, ours, everything = (_run(p, x) for p in (onnx_path, int8, naive))
    assert fp32[:, 4:].max() > 0
    # one 8-bit scale for pixel coordinates and probabilities rounds every probability to zero
    assert np.all(everything[:, 4:] == 0)
    np.testing.assert_allclose(ours[:, 4:], fp32[:, 4:], atol=0.05 * float(fp32[:, 4:].max()) + 1e-6)


@pytest.mark.slow
def test_quantize_errors(tmp_path: Path, exported: tuple[Path, Path, Path]) -> None:
    _, onnx_path, _ = exported
    with pytest.raises(FileNotFoundError, match=r"absent\.onnx not found: export the float model"):
        quantize_onnx_int8(tmp_path / "absent.onnx", tmp_path / "q.onnx", [])
    with pytest.raises(ValueError, match="must not overwrite the float model"):
        quantize_onnx_int8(onnx_path, onnx_path, [])
    with pytest.raises(ValueError, match="no calibration batches"):
        quantize_onnx_int8(onnx_path, tmp_path / "q.onnx", [])
    assert not (tmp_path / "q.onnx").exists()
    with pytest.raises(ValueError, match=r"calibration frame 1: expected an RGB uint8"):
        quantize_detector_onnx(onnx_path, tmp_path / "q.onnx", [_frames(1)[0], np.zeros((8, 8), np.uint8)])


def _write_frames(folder: Path, n: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):
        frame = _frames(1, seed=100 + i)[0]
        frame[0, 0] = i  # the frame's number, to check order
        Image.fromarray(frame).save(folder / f"f{i:02d}.png")
    return folder


def test_sample_frames_spread_and_in_order(tmp_path: Path) -> None:
    folder = _write_frames(tmp_path / "cam", 10)
    picked = [int(f[0, 0, 0]) for f in sample_frames(folder, 4)]
    assert len(picked) == 4 and picked == sorted(picked) and len(set(picked)) == 4
    assert [int(f[0, 0, 0]) for f in sample_frames(folder, 50)] == list(range(10))
    assert picked == [int(f[0, 0, 0]) for f in sample_frames(folder, 4)]  # seeded: the same frames again


@pytest.mark.slow
def test_cli_export_det_int8(tmp_path: Path, exported: tuple[Path, Path, Path], capsys) -> None:
    folder = _write_frames(tmp_path / "cam", 8)
    args = ["export-det", str(exported[0]), "--out", str(tmp_path / "deploy"), "--imgsz", str(IMGSZ)]
    assert (
        main([*args, "--calib", str(folder), "--calib-frames", "4", "--check-frames", "4", "--conf", "0"])
        == 0
    )
    out = capsys.readouterr().out
    assert (tmp_path / "deploy" / "detector.onnx").is_file() and (
        tmp_path / "deploy" / "detector_int8.onnx"
    ).is_file()
    report = json.loads((tmp_path / "deploy" / "export.json").read_text())
    assert (report["calibration_frames"], report["check_frames"]) == (4, 4)
    assert set(report["ms_per_frame"]) == {"torch", "onnx", "int8"}
    assert report["parity_int8"]["frames"] == 4 and report["parity_int8"]["reference_boxes"] > 0
    assert "int8" in out and "held-out frames" in out
    assert main([*args, "--calib", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


@pytest.mark.slow
def test_pipeline_runs_on_the_int8_detector(exported: tuple[Path, Path, Path]) -> None:
    from fallkd_lib.config import PipelineConfig
    from fallkd_lib.data.geometry import CropSpec
    from fallkd_lib.runtime.pipeline import FallPipeline
    from fallkd_lib.runtime.sources import Frame

    fn = lambda crops: np.full(len(crops), 0.5)  # noqa: E731
    pipe = FallPipeline(exported[2], fn, PipelineConfig(conf=0.0), crop=CropSpec(32, 0.1))
    assert pipe.imgsz == IMGSZ  # read from the int8 file's metadata
    for i, image in enumerate(_frames(3, seed=30)):
        assert pipe.process(Frame(image, i / 10, i, f"f{i}")).index == i
    # ByteTrack ran on the int8 model (an untrained one's scores are too low to start tracks)
    assert pipe.tracking is True and pipe.frames == 3 and pipe.stage_ms()["detect"] > 0


@pytest.mark.slow
def test_detector_speed_times_each_model(exported: tuple[Path, Path, Path]) -> None:
    weights, onnx_path, int8 = exported
    speed = detector_speed({"torch": weights, "int8": load_detector(int8)}, _frames(3, seed=40), IMGSZ)
    assert list(speed) == ["torch", "int8"] and all(ms > 0 for ms in speed.values())
    with pytest.raises(ValueError, match="at least one frame"):
        detector_speed({"onnx": onnx_path}, [], IMGSZ)


def test_split_spread_keeps_the_share_and_the_order() -> None:
    first, rest = split_spread(list(range(10)), 0.5)
    assert first == [1, 3, 5, 7, 9] and rest == [0, 2, 4, 6, 8]
    first, rest = split_spread(list(range(96)), 64 / 96)
    assert len(first) == 64 and len(rest) == 32 and sorted(first + rest) == list(range(96))
    assert (
        max(b - a for a, b in zip(rest, rest[1:], strict=False)) == 3
    )  # the held-out items span the whole list
    assert split_spread(list(range(4)), 0.0) == ([], [0, 1, 2, 3])
    assert split_spread([], 0.5) == ([], [])
