"""Classifier runtimes (torch checkpoint and ONNX export), the ONNX export's metadata and parity, and the errors
for files that are not classifiers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import save_untrained_classifier

from fallkd_lib.config import as_dict, train_config
from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.export import check_onnx_parity, export_classifier_onnx, read_onnx_metadata
from fallkd_lib.models import create_classifier
from fallkd_lib.models.inputs import ClassifierInput
from fallkd_lib.runtime.classifier import OnnxClassifier, TorchClassifier, fall_class_index, preprocess
from fallkd_lib.runtime.loaders import load_classifier
from fallkd_lib.train.checkpoint import save_checkpoint

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def model_input(size: int) -> ClassifierInput:
    return ClassifierInput(CropSpec(size, 0.1), size, MEAN, STD)


def make_run(folder, size: int = 32, classes=("fall", "normal")):
    """A fallkd run folder with an untrained ResNet18 checkpoint (what a training run saves, without training)."""
    return save_untrained_classifier(folder, size=size, classes=classes)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("cls_run"))


@pytest.fixture(scope="module")
def onnx_file(run_dir, tmp_path_factory):
    return export_classifier_onnx(run_dir, tmp_path_factory.mktemp("onnx") / "cls.onnx")


def crops(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_preprocess_normalises_by_hand() -> None:
    x = np.zeros((1, 16, 16, 3), dtype=np.uint8)
    x[..., 0], x[..., 1], x[..., 2] = 0, 255, 51
    out = preprocess(x, model_input(16))
    assert out.shape == (1, 3, 16, 16) and out.dtype == torch.float32
    expected = [(0 - 0.485) / 0.229, (1 - 0.456) / 0.224, (0.2 - 0.406) / 0.225]
    assert torch.allclose(out[0, :, 0, 0], torch.tensor(expected), atol=1e-5)
    resized = preprocess(np.full((2, 48, 48, 3), 200, np.uint8), model_input(32))  # a flat image stays flat
    assert resized.shape == (2, 3, 32, 32)
    assert torch.allclose(resized[:, 0], torch.full((2, 32, 32), (200 / 255 - 0.485) / 0.229), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, S, S, 3\) uint8"):
        preprocess(np.zeros((2, 16, 16, 3), np.float32), model_input(16))


def test_torch_backend_from_run_folder(run_dir) -> None:
    runtime = load_classifier(run_dir, device="cpu")
    assert isinstance(runtime, TorchClassifier) and runtime.backend == "torch"
    assert (runtime.class_names, runtime.image_size, runtime.fall_index) == (["fall", "normal"], 32, 0)
    assert runtime.model_name == "resnet18" and runtime.input == model_input(32) and runtime.crop.pad == 0.1
    assert runtime.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)  # faster on CPU
    batch = crops(3, 32)
    probs = runtime.predict(batch)
    assert probs.shape == (3, 2) and np.allclose(probs.sum(1), 1.0, atol=1e-6)
    with torch.no_grad():
        logits = runtime.model(preprocess(batch, model_input(32)))
    assert np.allclose(probs, torch.softmax(logits, 1).numpy(), atol=1e-6)
    assert runtime.predict(crops(2, 48)).shape == (2, 2)  # other crop sizes are resized
    assert runtime.predict(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, 2)
    assert load_classifier(run_dir / "best.pt", device="cpu").class_names == ["fall", "normal"]


def test_onnx_export_metadata_and_parity(run_dir, onnx_file) -> None:
    assert onnx_file.is_file() and not list(onnx_file.parent.glob("*.tmp*"))
    meta = read_onnx_metadata(onnx_file)
    assert meta == {"class_names": ["fall", "normal"], "model": "resnet18", "input": model_input(32)}
    torch_rt = load_classifier(run_dir, device="cpu")
    batch = preprocess(crops(4, 32, seed=1), model_input(32))
    assert check_onnx_parity(torch_rt.model, onnx_file, batch) < 1e-4


def test_torch_and_onnx_backends_agree(run_dir, onnx_file) -> None:
    torch_rt, onnx_rt = load_classifier(run_dir, device="cpu"), load_classifier(onnx_file, device="cpu")
    assert isinstance(onnx_rt, OnnxClassifier) and onnx_rt.backend == "onnxruntime"
    assert (onnx_rt.class_names, onnx_rt.image_size, onnx_rt.fall_index) == (["fall", "normal"], 32, 0)
    for n, size in ((1, 32), (5, 32), (3, 40)):  # dynamic batch axis; resize in both
        batch = crops(n, size, seed=n)
        assert np.max(np.abs(torch_rt.predict(batch) - onnx_rt.predict(batch))) < 1e-4


def test_fall_index_follows_the_class_names(tmp_path) -> None:
    runtime = load_classifier(make_run(tmp_path, 32, ("normal", "fall")), device="cpu")
    assert runtime.fall_index == 1
    assert fall_class_index(["Fall-Detected", "Walking"], "x") == 0
    with pytest.raises(ValueError, match="cannot tell which class is the fall"):
        fall_class_index(["cat", "dog"], "model.pt")


def test_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.pt not found"):
        load_classifier(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="folder without best.pt"):
        load_classifier(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(
        ValueError, match=r"notes.txt: expected a run folder, a .pt checkpoint or an .onnx file"
    ):
        load_classifier(text)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        load_classifier(junk)
    fake_onnx = tmp_path / "fake.onnx"
    fake_onnx.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ValueError, match="fake.onnx"):
        load_classifier(fake_onnx)


def test_detector_checkpoint_is_refused_as_classifier(tmp_path) -> None:
    from fallkd_lib.settings import import_ultralytics

    path = tmp_path / "detector.pt"
    import_ultralytics().YOLO("yolov5n.yaml", task="detect").save(str(path))
    with pytest.raises(ValueError, match="this is an ultralytics detector checkpoint, not a classifier"):
        load_classifier(path)


def test_a_checkpoint_without_input_settings_is_refused(tmp_path) -> None:
    """What an older fallkd (or fit() without model_input) saved: the camera could not know how to crop."""
    cfg = as_dict(train_config("quick", image_size=32, model="resnet18"))
    save_checkpoint(tmp_path / "best.pt", create_classifier("resnet18"), None, None, None, 1, None, cfg, None)
    with pytest.raises(
        ValueError, match=r"best.pt does not record its input settings .*crop_size.*train-cls"
    ):
        load_classifier(tmp_path)


def test_an_export_needs_the_input_settings() -> None:
    with pytest.raises(ValueError, match="a bare module does not say how its inputs were cut"):
        export_classifier_onnx(create_classifier("resnet18"), "x.onnx")
