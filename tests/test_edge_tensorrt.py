"""TensorRT, where a GPU is present: fp16 engines built from the bundle with the tensorrt Python package (what
build_engines.sh does with trtexec on the Jetson), then run_edge.py --backend tensorrt against ONNX Runtime on the
same clip: the same events, alert times within one frame. Skipped without CUDA or tensorrt."""

from __future__ import annotations

import json
import time

import pytest

tensorrt = pytest.importorskip("tensorrt", reason="the tensorrt Python package is not installed")
from test_bundle import bundle, classifier, clip  # noqa: E402, F401 (the shared bundle's fixtures)

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


@pytest.fixture(scope="module")
def engines(bundle) -> object:  # noqa: F811
    """fp16 engines of the shared bundle (test_bundle's fixtures)."""
    from fallkd_lib.edge.backends import _cudart, build_engine

    try:
        _cudart()
    except ValueError as exc:
        pytest.skip(f"no CUDA runtime: {exc}")
    out, _ = bundle
    pipeline = json.loads((out / "pipeline.json").read_text())
    side, batch = pipeline["classifier"]["image_size"], pipeline["classifier"]["max_batch"]
    shapes = {"images": ((1, 3, side, side), (max(1, batch // 2), 3, side, side), (batch, 3, side, side))}
    build_engine(out / "detector.onnx", out / "detector.engine")
    build_engine(out / "classifier.onnx", out / "classifier.engine", shapes=shapes)
    yield out
    for name in ("detector.engine", "classifier.engine"):
        (out / name).unlink(missing_ok=True)


def test_tensorrt_engines_raise_the_same_events(engines, clip, tmp_path) -> None:  # noqa: F811
    from test_bundle import assert_same_events, lines

    from fallkd_lib.edge.runner import AlertOutbox, EdgeCamera, run

    results = {}
    for backend in ("onnxruntime", "tensorrt"):
        out = tmp_path / backend
        camera = EdgeCamera(engines, backend)
        start = time.perf_counter()
        summary = run(camera, clip, str(out), AlertOutbox(out))
        results[backend] = (lines(out / "events.jsonl"), summary, time.perf_counter() - start)
        print(f"{backend}: {summary['stage_ms']} ms/frame")
    assert_same_events(results["onnxruntime"][0], results["tensorrt"][0], frame_s=1 / 5)
