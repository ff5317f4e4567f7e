"""fallkd_lib.edge, the camera logic the deploy bundle runs on the Jetson: Python 3.6 syntax (vermin), and each
numpy port checked against what the host runs (torchvision's IoU and NMS, torch's antialiased resize, ultralytics'
detector pre/post-processing), the opset reader against onnx, and the alert record against the host's Alert."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torchvision

from fallkd_lib.config import FallStateConfig
from fallkd_lib.edge import boxes, crops, fall_state, onnx_info, yolo
from fallkd_lib.edge.alerts import alert_record
from fallkd_lib.runtime.alerts import Alert
from fallkd_lib.runtime.loaders import shipped_detector
from fallkd_lib.runtime.state import FallEvent, FallTracker

EDGE = Path(__file__).resolve().parents[1] / "fallkd_lib" / "edge"


def _vermin(*paths: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("vermin", reason="vermin is not installed (pip install -r requirements-dev.txt)")
    args = ["-t=3.6-", "--no-tips", "--violations", "--eval-annotations", "--backport", "argparse"]
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vermin.main import main; sys.exit(main())",
            *args,
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
    )


def test_the_edge_core_is_python_3_6(tmp_path) -> None:
    done = _vermin(EDGE)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = tmp_path / "bad.py"  # vermin does flag what Python 3.6 lacks
    bad.write_text("from dataclasses import dataclass\nx = [1]\nif (n := len(x)) > 0:\n    print(f'{n=}')\n")
    assert _vermin(bad).returncode != 0


def test_the_edge_core_imports_no_torch_and_no_fallkd_lib() -> None:
    banned = re.compile(r"^\s*(from|import)\s+(torch|torchvision|ultralytics|fallkd_lib|__future__)\b", re.M)
    for path in EDGE.glob("*.py"):
        text = path.read_text().replace(
            "    from fallkd_lib.errors import UsageError", ""
        )  # errors.py, host only
        assert not banned.findall(text), (path, banned.findall(text))


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 100, (n, 2))
    b = np.concatenate([xy, xy + rng.uniform(0, 40, (n, 2))], axis=1)
    b[: n // 10] = b[: n // 10, [2, 3, 0, 1]]  # some inverted
    return b


def test_box_iou_equals_torchvision() -> None:
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 40), _random_boxes(rng, 30)
    ta, tb = torch.as_tensor(a.copy()), torch.as_tensor(b.copy())
    for t in (ta, tb):
        t[:, 2:] = torch.maximum(t[:, 2:], t[:, :2])
    expected = torch.nan_to_num(torchvision.ops.box_iou(ta, tb), nan=0.0).numpy()
    np.testing.assert_array_equal(boxes.box_iou(a, b), expected)


@pytest.mark.parametrize("seed", range(5))
def test_nms_equals_torchvision(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b = _random_boxes(rng, 200).astype(np.float32)
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])
    scores = rng.random(200).astype(np.float32)
    scores[:20] = scores[20:40]  # ties keep their input order in both
    for iou in (0.3, 0.45, 0.7):
        expected = torchvision.ops.nms(torch.from_numpy(b), torch.from_numpy(scores), iou).numpy()
        np.testing.assert_array_equal(boxes.nms(b, scores, iou), expected)


@pytest.mark.parametrize(("size_in", "size_out"), [(64, 48), (96, 48), (32, 48), (48, 48), (224, 96)])
def test_classifier_batch_matches_the_host_preprocessing(size_in: int, size_out: int) -> None:
    from fallkd_lib.data.geometry import CropSpec
    from fallkd_lib.models.inputs import ClassifierInput
    from fallkd_lib.runtime.classifier import preprocess

    rng = np.random.default_rng(size_in)
    batch = rng.integers(0, 256, (8, size_in, size_in, 3), dtype=np.uint8)
    model_input = ClassifierInput(
        CropSpec(size_in, 0.1), size_out, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    )
    expected = preprocess(batch, model_input).numpy()
    got = crops.classifier_batch(batch, size_out, model_input.mean, model_input.std)
    step = 1 / (255 * min(model_input.std))  # one grey level, normalised
    diff = np.abs(got - expected)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert diff.max() <= step + 1e-5 and (diff > 1e-4).mean() < 0.002  # float32 ties: a level, rarely
    again = crops.classifier_batch(batch, size_out, model_input.mean, model_input.std)
    np.testing.assert_array_equal(again, got)  # the cached taps give the same batch the second time
    index, weight = crops.antialias_taps(size_in, size_out)
    assert crops.antialias_taps(size_in, size_out)[1] is weight and not weight.flags.writeable
    assert not crops.resize_matrix(size_in, size_out).flags.writeable
    empty = crops.classifier_batch(batch[:0], size_out, model_input.mean, model_input.std)
    assert empty.shape == (0, 3, size_out, size_out) and empty.dtype == np.float32


def test_host_geometry_and_tracker_are_the_edge_core() -> None:
    from fallkd_lib.data import geometry
    from fallkd_lib.runtime.tracking import IouTracker

    assert IouTracker is boxes.IouTracker and issubclass(FallTracker, fall_state.FallTracker)
    assert geometry.LETTERBOX_FILL == crops.LETTERBOX_FILL
    assert fall_state.STATE_FIELDS == tuple(f.name for f in dataclasses.fields(FallStateConfig))


def test_the_edge_detector_finds_what_ultralytics_finds() -> None:
    """The shipped detector through ultralytics (the host camera) and through yolo.detect on ONNX Runtime (the
    edge): the same boxes, bit for bit, on rendered scenes and on a frame that is not square."""
    from fallkd_lib.data.synthetic import render_scene
    from fallkd_lib.edge.backends import OnnxRuntimeModel
    from fallkd_lib.runtime.detector import detect_people
    from fallkd_lib.runtime.loaders import load_detector

    frames = [render_scene(np.random.default_rng(i), ("park", "cctv")[i % 2], 320)[0] for i in range(4)]
    frames.append(np.ascontiguousarray(frames[0][:200, :300]))
    reference = detect_people(load_detector(shipped_detector()), frames, 320, conf=0.05, iou=0.45)
    model = OnnxRuntimeModel(shipped_detector())
    for ref, frame in zip(reference, frames, strict=True):
        got = yolo.detect(model, frame, 320, 0.05, 0.45)
        assert len(got) == len(ref)
        np.testing.assert_allclose(got, ref, atol=1e-4)
    assert sum(len(r) for r in reference) > 5


def test_opset_reader_agrees_with_onnx(tmp_path) -> None:
    from fallkd_lib.export.opset import lower_opset

    path = shipped_detector()
    assert onnx_info.read_opsets(path) == {o.domain: o.version for o in onnx.load(str(path)).opset_import}
    lowered = tmp_path / "det13.onnx"
    onnx.save(lower_opset(onnx.load(str(path)), 13, "shipped"), str(lowered))
    assert onnx_info.onnx_opset(lowered) == 13
    assert onnx_info.main([str(lowered)]) == 0 and onnx_info.main([str(path)]) == 1
    (tmp_path / "junk.onnx").write_bytes(b"\xff\xff\xff")
    with pytest.raises(ValueError, match="junk.onnx"):
        onnx_info.read_opsets(tmp_path / "junk.onnx")


def test_lowering_refuses_what_opset_13_cannot_say() -> None:
    from onnx import TensorProto, helper

    from fallkd_lib.errors import UsageError
    from fallkd_lib.export.opset import lower_opset

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2]) for n in ("a", "b")]
    split = helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2)
    model = helper.make_model(
        helper.make_graph([split], "g", [x], outs), opset_imports=[helper.make_opsetid("", 18)]
    )
    with pytest.raises(UsageError, match="cannot lower operator Split"):
        lower_opset(model, 13, "split.onnx")


def test_the_alert_record_is_the_host_alert() -> None:
    event = FallEvent("long_lie", 42.0, 3, "alerted", 0.93, 12.5, (10.0, 20.0, 110.0, 220.0), True)
    host = Alert.from_event(event, "ward1", "snap.jpg", wall_time=1_700_000_000.5).to_dict()
    assert alert_record(event, "ward1", "snap.jpg", wall_time=1_700_000_000.5) == host


def test_confirm_gate_and_clipping() -> None:
    gate = boxes.TrackGate(0.3, forget_after=5.0)
    dets = np.array([[0, 0, 10, 10, 0.1, 1], [0, 0, 10, 10, 0.5, 2]], float)
    assert gate.filter(0.0, dets)[:, 5].tolist() == [2] and gate.unconfirmed == 1
    assert gate.filter(1.0, dets[[1]] * [1, 1, 1, 1, 0.2, 1])[:, 5].tolist() == [2]  # confirmed stays
    assert len(gate.filter(7.0, dets[[1]] * [1, 1, 1, 1, 0.2, 1])) == 0  # forgotten after 5 s unseen
    clipped = boxes.clip_boxes(np.array([[-5, -5, 5, 5, 0.9, 1], [99.5, 0, 120, 10, 0.9, 2]]), 100, 50)
    assert clipped.tolist() == [[0, 0, 5, 5, 0.9, 1]]


def test_a_new_id_born_on_a_vanished_confirmed_track_is_confirmed_once() -> None:
    standing, lying = (0, 0, 10, 40), (0, 20, 40, 40)  # overlap 10 x 20 = 200 of the smaller (400): 0.5
    row = lambda box, conf, track: [*box, conf, track]  # noqa: E731

    def gate_after_standing() -> boxes.TrackGate:
        gate = boxes.TrackGate(0.3, forget_after=2.0)
        assert len(gate.filter(0.0, np.array([row(standing, 0.5, 1)], float))) == 1  # confirmed by its conf
        return gate

    gate = gate_after_standing()  # track 1 vanishes; track 2 appears where it was, weak: the same person
    assert gate.filter(0.2, np.array([row(lying, 0.1, 2)], float))[:, 5].tolist() == [2]
    assert gate.handovers == 1
    assert gate.filter(0.4, np.array([row(lying, 0.1, 2)], float))[:, 5].tolist() == [2]  # and stays so
    gate = gate_after_standing()  # track 1 still seen beside it: a second thing, not a new id for the person
    kept = gate.filter(0.2, np.array([row(standing, 0.1, 1), row(lying, 0.1, 2)], float))
    assert kept[:, 5].tolist() == [1] and gate.handovers == 0
    gate = gate_after_standing()  # far from where track 1 was
    assert len(gate.filter(0.2, np.array([row((30, 30, 40, 40), 0.1, 2)], float))) == 0
    gate = boxes.TrackGate(
        0.3, forget_after=2.0
    )  # track 2 was there beside track 1, unconfirmed: only a first
    gate.filter(0.0, np.array([row(standing, 0.5, 1), row(lying, 0.1, 2)], float))  # box takes over
    assert len(gate.filter(0.2, np.array([row(lying, 0.1, 2)], float))) == 0
    gate = boxes.TrackGate(0.3, forget_after=2.0)  # track 2 seen at first (a weak box elsewhere), then lost
    gate.filter(0.0, np.array([row(standing, 0.5, 1), row((30, 30, 40, 40), 0.1, 2)], float))
    assert len(gate.filter(0.2, np.zeros((0, 6)))) == 0  # a frame with no one: track 2 is lost
    kept = gate.filter(
        0.4, np.array([row(lying, 0.1, 2)], float)
    )  # the tracker gives the lost id to the lying
    assert kept[:, 5].tolist() == [2] and gate.handovers == 1  # person: found again after a gap, a first box
    gate = gate_after_standing()  # track 1 forgotten (unseen 2 s or more): nothing to take over
    assert len(gate.filter(2.5, np.array([row(lying, 0.1, 2)], float))) == 0 and gate.handovers == 0


def test_a_weak_track_that_moves_half_its_body_is_confirmed_and_a_still_one_is_not() -> None:
    assert boxes.moved((0, 0, 10, 40), (20, 0, 30, 40)) == pytest.approx(0.5)  # 20 px of a 40 px side
    assert boxes.moved((0, 0, 10, 40), (0, 20, 40, 40)) == pytest.approx(
        np.hypot(15, 10) / 40
    )  # fell in place
    gate = boxes.TrackGate(0.3, forget_after=5.0, confirm_motion=0.5)
    walk = [(0, 0, 10, 40), (8, 0, 18, 40), (19, 0, 29, 40), (20, 0, 30, 40), (0, 0, 10, 40)]
    still = [(50, 50, 60, 60), (51, 50, 61, 61), (49, 49, 59, 60), (50, 51, 60, 60), (50, 50, 60, 60)]
    kept = [
        gate.filter(0.2 * i, np.array([[*a, 0.1, 1], [*b, 0.2, 2]], float))[:, 5].tolist()
        for i, (a, b) in enumerate(zip(walk, still, strict=True))
    ]
    assert kept == [[], [], [], [1], [1]]  # 0.2, 0.475 of 40 px: held; 0.5: confirmed, and stays so
    assert gate.by_motion == 1 and gate.unconfirmed == 3 + 5
    scored_only = boxes.TrackGate(0.3, forget_after=5.0)  # the same walk without confirm_motion: never
    assert all(
        len(scored_only.filter(0.2 * i, np.array([[*a, 0.1, 1]], float))) == 0 for i, a in enumerate(walk)
    )


def test_a_looping_source_replays_with_time_running_on(tmp_path) -> None:
    import itertools

    import cv2

    from fallkd_lib.edge.runner import iter_source

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (32, 24))
    for i in range(4):
        writer.write(np.full((24, 32, 3), 60 * i, np.uint8))
    writer.release()
    once = list(iter_source(video))
    assert [i for i, *_ in once] == [0, 1, 2, 3] and [t for _, t, *_ in once] == pytest.approx(
        [0, 0.2, 0.4, 0.6]
    )
    looped = list(itertools.islice(iter_source(video, loop=True), 10))
    assert [i for i, *_ in looped] == list(range(10))
    assert [t for _, t, *_ in looped] == pytest.approx(
        [0.2 * i for i in range(10)]
    )  # 0.8 s: the frame after 0.6
    names = [name for _, _, name, _ in looped]
    assert names[:5] == ["clip_000000", "clip_000001", "clip_000002", "clip_000003", "clip_000000_r1"]
    assert len(set(names)) == 10  # snapshots of a replay never overwrite the first pass's
    assert all(
        np.array_equal(a[3], b[3]) for a, b in zip(once * 2, looped[4:], strict=False)
    )  # the same frames
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((8, 8, 3), np.uint8))
    assert [t for _, t, *_ in itertools.islice(iter_source(folder, fps=2.0, loop=True), 3)] == [0.0, 0.5, 1.0]
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="folder without images"):
        next(iter_source(tmp_path / "empty", loop=True))
