"""The classifier's int8 path: crops of a split read as the camera cuts them, scores computed by hand, an int8 copy
that keeps its metadata and loads like the float file, and the torch / ONNX / int8 table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import make_crops, save_untrained_classifier

from fallkd_lib.errors import UsageError
from fallkd_lib.export import export_classifier_onnx
from fallkd_lib.export.classifier_int8 import (
    classifier_scores,
    compare_classifiers,
    quantize_classifier_onnx,
    read_crop_split,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")


def test_classifier_scores_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]])
    labels = np.array([0, 0, 1, 1, 0])  # fall = 0: said fall for 0 and 2; true falls 0, 1, 4
    got = classifier_scores(probs, labels, fall_index=0)
    assert got["accuracy"] == pytest.approx(2 / 5)  # right: 0 and 3
    assert got["fall_recall"] == pytest.approx(1 / 3) and got["fall_precision"] == pytest.approx(1 / 2)
    assert got["fall_f1"] == pytest.approx(2 * 1 / (3 + 2))
    nobody = classifier_scores(probs, np.ones(5, int), fall_index=0)
    assert np.isnan(nobody["fall_recall"]) and nobody["fall_precision"] == 0.0


def test_read_crop_split_keeps_every_class(tmp_path) -> None:
    crops_dir = make_crops(tmp_path / "crops", per_class=5, size=24)
    crops, labels, classes = read_crop_split(crops_dir, "val")
    assert crops.shape == (10, 24, 24, 3) and crops.dtype == np.uint8
    assert classes == ["fall", "normal"] and labels.tolist() == [0] * 5 + [1] * 5
    assert crops[:5].mean() > crops[5:].mean() + 100  # make_crops: fall crops bright, normal dark
    some, some_labels, _ = read_crop_split(crops_dir, "val", limit=4)
    assert len(some) == 4 and sorted(set(some_labels.tolist())) == [0, 1]
    with pytest.raises(Exception, match="not found"):
        read_crop_split(crops_dir, "nope")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, Path, Path]:
    """An (untrained) ResNet18 run at 32 px, its ONNX export, its int8 copy, and a crop folder."""
    root = tmp_path_factory.mktemp("cls_int8")
    run = save_untrained_classifier(root / "run", size=32)
    crops_dir = make_crops(root / "crops", per_class=8, size=32)
    onnx_path = export_classifier_onnx(run, root / "deploy" / "classifier.onnx")
    calib = read_crop_split(crops_dir, "train")[0]
    int8 = quantize_classifier_onnx(onnx_path, root / "deploy" / "classifier_int8.onnx", calib, batch_size=4)
    return run, onnx_path, int8, crops_dir


def test_the_int8_copy_keeps_metadata_and_loads(exported) -> None:
    from fallkd_lib.runtime.classifier import OnnxClassifier, read_onnx_metadata
    from fallkd_lib.runtime.loaders import load_classifier

    _, onnx_path, int8, _ = exported
    graph = onnx.load(str(int8))
    assert any(n.op_type == "QuantizeLinear" for n in graph.graph.node)
    assert not any(n.op_type == "QuantizeLinear" for n in onnx.load(str(onnx_path)).graph.node)
    assert read_onnx_metadata(int8) == read_onnx_metadata(onnx_path)
    props = {p.key: p.value for p in graph.metadata_props}
    assert props["fallkd_quantization"].endswith("(7-bit weights), 4 calibration batches")  # 16 crops / 4
    runtime = load_classifier(int8)
    assert isinstance(runtime, OnnxClassifier) and runtime.class_names == ["fall", "normal"]
    assert sorted(p.name for p in int8.parent.iterdir()) == ["classifier.onnx", "classifier_int8.onnx"]


def test_compare_classifiers_table(exported) -> None:
    from fallkd_lib.runtime.classifier import TorchClassifier, preprocess
    from fallkd_lib.runtime.loaders import load_classifier

    run, onnx_path, int8, crops_dir = exported
    crops, labels, classes = read_crop_split(crops_dir, "val")
    torch_model = TorchClassifier.from_checkpoint(run / "best.pt", "cpu")
    models = {"torch": torch_model, "onnx": load_classifier(onnx_path), "int8": load_classifier(int8)}
    table = compare_classifiers(models, crops, labels, classes, batch_sizes=(1, 3), repeats=2)
    assert list(table.index) == ["torch", "onnx", "int8"]
    assert {"accuracy", "fall_recall", "fall_f1", "agreement", "ms_batch_1", "ms_batch_3"} <= set(
        table.columns
    )
    expected = torch_model.logits(preprocess(crops, torch_model.input)).argmax(1)
    assert table.loc["torch", "accuracy"] == pytest.approx(np.mean(expected == labels))
    assert table.loc["torch", "agreement"] == 1.0 and table.loc["torch", "max_prob_change"] == 0.0
    assert table.loc["onnx", "agreement"] == 1.0 and table.loc["onnx", "max_prob_change"] < 1e-4
    assert table.loc["int8", "max_prob_change"] < 0.5 and (table.filter(like="ms_") > 0).all().all()
    with pytest.raises(UsageError, match="batch size 8 > the 4 crops"):
        compare_classifiers(models, crops[:4], labels[:4], classes, batch_sizes=(8,))
    with pytest.raises(UsageError, match="has classes"):
        compare_classifiers(models, crops, labels, ["normal", "fall"])


def test_quantize_classifier_refuses_no_crops_and_non_classifiers(exported, tmp_path) -> None:
    from fallkd_lib.runtime.loaders import shipped_detector

    _, onnx_path, _, _ = exported
    with pytest.raises(UsageError, match="needs person crops"):
        quantize_classifier_onnx(onnx_path, tmp_path / "q.onnx", np.zeros((0, 32, 32, 3), np.uint8))
    with pytest.raises(UsageError, match="ultralytics detector export, not a classifier"):
        quantize_classifier_onnx(shipped_detector(), tmp_path / "q.onnx", np.zeros((2, 32, 32, 3), np.uint8))
    assert not list(tmp_path.iterdir())
