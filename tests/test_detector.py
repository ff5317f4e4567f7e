"""The detector stage on a tiny synthetic dataset: dataset conversion, 1-epoch CPU training, evaluation, loading
and inference, with every network call refused (ultralytics must never try to download anything)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import yaml
from conftest import no_network
from PIL import Image, UnidentifiedImageError

from fallkd_lib.config import detect_config
from fallkd_lib.data import yolo
from fallkd_lib.data.imageio import ImageReadError, open_rgb
from fallkd_lib.detector.dataset import SKIPPED_FILE, detector_dataset, detector_dataset_info
from fallkd_lib.detector.train import METRICS_FILE, evaluate_detector, train_detector
from fallkd_lib.runtime.detector import detect_people
from fallkd_lib.runtime.loaders import detector_input_size, load_detector
from fallkd_lib.settings import get_settings, import_ultralytics

SUMMARY_KEYS = {
    "run_dir",
    "best",
    "last",
    "mAP50",
    "mAP50-95",
    "precision",
    "recall",
    "per_class",
    "epochs_run",
    "epochs",
    "seconds",
    "resumed",
    "data",
    "model",
    "pretrained",
    "imgsz",
    "batch",
    "device",
    "amp",
    "names",
    "config",
}


@pytest.fixture(scope="module")
def merged(tiny_merged: Path) -> Path:
    return tiny_merged


@pytest.fixture(scope="module")
def person_yaml(tiny_detector: dict) -> Path:
    return tiny_detector["data_yaml"]


@pytest.fixture(scope="module")
def trained(tiny_detector: dict) -> tuple[dict, list[str], list[str]]:
    return tiny_detector["summary"], tiny_detector["network_attempts"], tiny_detector["log"]


def label_lines(root: Path) -> dict[str, list[str]]:
    """split/stem -> the label lines of every image of a YOLO dataset."""
    result = {}
    for split, folder in yolo.split_image_dirs(root).items():
        for image in yolo.list_images(folder):
            path = yolo.label_path_for(image)
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            result[f"{split}/{image.stem}"] = text.splitlines()
    return result


@pytest.mark.slow
def test_person_mode_maps_every_class_to_zero(merged: Path, person_yaml: Path) -> None:
    out = person_yaml.parent
    cfg = yaml.safe_load(person_yaml.read_text(encoding="utf-8"))
    assert cfg["path"] == str(out) and Path(cfg["path"]).is_absolute()
    assert (cfg["nc"], cfg["names"]) == (1, ["person"])
    assert (cfg["train"], cfg["val"], cfg["test"]) == ("train/images", "valid/images", "test/images")
    source, converted = label_lines(merged), label_lines(out)
    assert converted.keys() == source.keys()
    for key, lines in source.items():
        expected = ["0 " + line.split(" ", 1)[1] for line in lines]
        assert converted[key] == expected, key
    info = detector_dataset_info(person_yaml)
    for split in yolo.SPLITS:
        images = yolo.list_images(merged / split / "images")
        assert info["images"][split] == len(images)
        assert info["boxes"][split] == sum(len(v) for k, v in source.items() if k.startswith(f"{split}/"))
        for image in images:  # a link per image, resolving to the merged file: no copies
            link = out / split / "images" / image.name
            assert link.is_symlink() and link.resolve() == image.resolve()
    assert (info["mode"], info["skipped_label_lines"], info["links"]) == (
        "person",
        0,
        {"symlink": len(source)},
    )


@pytest.mark.slow
def test_fall_normal_mode_keeps_labels(merged: Path, tmp_path: Path) -> None:
    data_yaml = detector_dataset(merged, tmp_path / "det2", "fall_normal", progress=False)
    cfg = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    assert (cfg["nc"], cfg["names"]) == (2, ["fall", "normal"])
    source, converted = label_lines(merged), label_lines(tmp_path / "det2")
    assert converted == source
    assert {line.split()[0] for lines in converted.values() for line in lines} == {"0", "1"}
    again = detector_dataset(merged, tmp_path / "det2", "fall_normal", progress=False)  # rebuild in place
    assert again == data_yaml and label_lines(tmp_path / "det2") == source


@pytest.mark.slow
def test_dataset_errors(merged: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown detector mode 'people'.*fall_normal.*person"):
        detector_dataset(merged, tmp_path / "x", "people")
    with pytest.raises(FileNotFoundError, match=r"fallkd merge"):
        detector_dataset(tmp_path / "missing", tmp_path / "x")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError, match=r"not empty and was not written by detector_dataset"):
        detector_dataset(merged, foreign)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_bad_label_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    src = tmp_path / "merged"
    yolo.write_data_yaml(src, ["fall", "normal"])
    labels = {
        "train/a": "1 0.5 0.5 0.2 0.4\n7 0.5 0.5 0.2 0.2\n",
        "train/b": "",
        "valid/c": "0 0.25 0.5 0.5 0.5\nnot a box\n",
    }
    for key, text in labels.items():
        split, stem = key.split("/")
        (src / split / "images").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (90, 120, 150)).save(src / split / "images" / f"{stem}.jpg")
        (src / split / "labels").mkdir(parents=True, exist_ok=True)
        (src / split / "labels" / f"{stem}.txt").write_text(text, encoding="utf-8")
    with pytest.warns(UserWarning, match=r"skipped 2 invalid label line"):
        data_yaml = detector_dataset(src, tmp_path / "det", "person", progress=False)
    out = data_yaml.parent
    assert (out / "train/labels/a.txt").read_text(
        encoding="utf-8"
    ) == "0 0.500000 0.500000 0.200000 0.400000\n"
    assert (out / "train/labels/b.txt").read_text(encoding="utf-8") == ""
    assert (out / "valid/labels/c.txt").read_text(
        encoding="utf-8"
    ) == "0 0.250000 0.500000 0.500000 0.500000\n"
    skipped = (out / SKIPPED_FILE).read_text(encoding="utf-8").splitlines()
    assert len(skipped) == 2 and "a.txt:2" in skipped[0] and "c.txt:2" in skipped[1]
    info = detector_dataset_info(data_yaml)
    assert info["images"] == {"train": 2, "valid": 1} and info["boxes"] == {"train": 1, "valid": 1}
    assert info["skipped_label_lines"] == 2
    assert "test" not in yaml.safe_load(data_yaml.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_train_one_epoch(trained: tuple[dict, list[str], list[str]]) -> None:
    summary, attempts, lines = trained
    assert attempts == [], f"network attempted: {attempts}"
    assert not any("download" in line.lower() for line in lines)
    assert set(summary) == SUMMARY_KEYS
    assert Path(summary["best"]).is_file() and Path(summary["last"]).is_file()
    assert Path(summary["best"]).name == "best.pt" and Path(summary["last"]).name == "last.pt"
    for key in ("mAP50", "mAP50-95", "precision", "recall"):
        assert isinstance(summary[key], float) and 0.0 <= summary[key] <= 1.0, key
    assert list(summary["per_class"]) == ["person"]
    person = summary["per_class"]["person"]
    assert all(0.0 <= person[k] <= 1.0 for k in ("precision", "recall", "AP50", "AP50-95"))
    assert person["instances"] == detector_dataset_info(summary["data"])["boxes"]["valid"]
    assert (summary["epochs_run"], summary["epochs"], summary["imgsz"], summary["batch"]) == (1, 1, 128, 8)
    assert (summary["device"], summary["amp"], summary["names"], summary["pretrained"]) == (
        "cpu",
        False,
        ["person"],
        None,
    )
    assert summary["seconds"] > 0 and summary["model"] == "yolov5n.yaml"
    saved = json.loads((Path(summary["run_dir"]) / METRICS_FILE).read_text(encoding="utf-8"))
    assert saved == summary
    args = yaml.safe_load((Path(summary["run_dir"]) / "args.yaml").read_text(encoding="utf-8"))
    assert (args["deterministic"], args["amp"], args["exist_ok"], args["workers"]) == (False, False, True, 0)


@pytest.mark.slow
def test_resume_finished_run_returns_saved_summary(trained: tuple, person_yaml: Path, tmp_path: Path) -> None:
    summary = trained[0]
    run_dir = Path(summary["run_dir"])
    again = train_detector(person_yaml, out_dir=run_dir.parent, name=run_dir.name, resume=True)
    assert again == summary
    assert train_detector(person_yaml, out_dir=run_dir.parent, name=run_dir.name, resume="auto") == summary
    with pytest.raises(FileNotFoundError, match=r"nothing to resume"):
        train_detector(person_yaml, out_dir=tmp_path, name="never", resume=True)
    moved = tmp_path / "moved" / run_dir.name  # a work folder copied elsewhere returns its own weights
    shutil.copytree(run_dir, moved)
    copy = train_detector(person_yaml, out_dir=moved.parent, name=moved.name, resume=True)
    assert (copy["best"], copy["last"], copy["run_dir"]) == (
        str(moved / "weights" / "best.pt"),
        str(moved / "weights" / "last.pt"),
        str(moved),
    )
    assert copy["mAP50"] == summary["mAP50"]


@pytest.mark.slow
def test_evaluate_detector(trained: tuple, person_yaml: Path, capfd: pytest.CaptureFixture) -> None:
    test_boxes = detector_dataset_info(person_yaml)["boxes"]["test"]
    with no_network() as (attempts, _):
        result = evaluate_detector(trained[0]["best"], person_yaml, split="test", workers=0)  # at its 128 px
    assert attempts == [] and "Downloading" not in "".join(capfd.readouterr())
    assert set(result) == {
        "weights",
        "split",
        "imgsz",
        "mAP50",
        "mAP50-95",
        "precision",
        "recall",
        "per_class",
    }
    assert all(0.0 <= result[k] <= 1.0 for k in ("mAP50", "mAP50-95", "precision", "recall"))
    assert result["per_class"]["person"]["instances"] == test_boxes and result["imgsz"] == 128
    with pytest.raises(ValueError, match=r"no 'holdout' split; choose one of \['train', 'val', 'test'\]"):
        evaluate_detector(trained[0]["best"], person_yaml, 128, split="holdout")


@pytest.mark.slow
def test_load_and_detect(trained: tuple, merged: Path) -> None:
    model = load_detector(trained[0]["best"])
    assert model.task == "detect" and model.names == {0: "person"} and detector_input_size(model) == 128
    images = yolo.list_images(merged / "test" / "images")[:3]
    frames = [np.asarray(open_rgb(p)) for p in images]
    boxes = detect_people(model, frames, imgsz=128, conf=0.0, batch=2)
    assert len(boxes) == 3
    for frame, found in zip(frames, boxes, strict=True):
        height, width = frame.shape[:2]
        assert found.dtype == np.float32 and found.ndim == 2 and found.shape[1] == 6
        if len(found):
            assert np.all(found[:, 0] <= found[:, 2]) and np.all(found[:, 1] <= found[:, 3])
            assert found[:, [0, 2]].min() >= 0 and found[:, [0, 2]].max() <= width
            assert found[:, [1, 3]].min() >= 0 and found[:, [1, 3]].max() <= height
            assert set(found[:, 5].tolist()) == {0.0} and found[:, 4].max() <= 1.0
    assert detect_people(model, [], imgsz=128) == []
    with pytest.raises(ValueError, match=r"frame 1: expected an RGB uint8 array.*float32"):
        detect_people(model, [frames[0], frames[0].astype(np.float32)], imgsz=128)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
@pytest.mark.slow
def test_onnx_export_loads_and_detects_like_the_checkpoint(trained: tuple, merged: Path) -> None:
    checkpoint = load_detector(trained[0]["best"])
    with no_network() as (attempts, _):
        exported = Path(checkpoint.export(format="onnx", imgsz=128))
    assert attempts == [] and exported.suffix == ".onnx"
    model = load_detector(exported)
    assert detector_input_size(model) == 128  # read from the export's metadata
    frames = [np.asarray(open_rgb(p)) for p in yolo.list_images(merged / "valid" / "images")[:2]]
    from_onnx = detect_people(model, frames, imgsz=128, conf=0.0)
    from_pt = detect_people(checkpoint, frames, imgsz=128, conf=0.0)
    for a, b in zip(from_onnx, from_pt, strict=True):
        assert a.shape[1] == 6 and len(a) > 0
        top_a, top_b = a[np.argsort(-a[:, 4])[:3]], b[np.argsort(-b[:, 4])[:3]]
        np.testing.assert_allclose(top_a, top_b, atol=0.5)


def test_load_detector_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.pt not found.*best\.pt"):
        load_detector(tmp_path / "absent.pt")
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint", encoding="utf-8")
    with pytest.raises(ValueError, match=r"notes\.pt is not a PyTorch checkpoint"):
        load_detector(text)
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(ValueError, match=r"expected a \.pt or \.onnx file, got '\.txt'"):
        load_detector(tmp_path / "notes.txt")
    torch.save({"model": {"fc.weight": torch.zeros(2, 4)}, "epoch": 3}, tmp_path / "state.pt")
    with pytest.raises(ValueError, match=r"state\.pt is a PyTorch file but not an ultralytics detector"):
        load_detector(tmp_path / "state.pt")
    torch.save(
        {"format": "fallkd-checkpoint", "model": {"fc.weight": torch.zeros(2, 4)}}, tmp_path / "cls.pt"
    )
    with pytest.raises(ValueError, match=r"cls\.pt: this looks like a fallkd classifier checkpoint"):
        load_detector(tmp_path / "cls.pt")
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    tensor = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [node], "g", [tensor("x", onnx.TensorProto.FLOAT, [1])], [tensor("y", onnx.TensorProto.FLOAT, [1])]
    )
    onnx.save(onnx.helper.make_model(graph), tmp_path / "plain.onnx")
    with pytest.raises(ValueError, match=r"plain\.onnx is an ONNX model without ultralytics' metadata"):
        load_detector(tmp_path / "plain.onnx")
    (tmp_path / "fake.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match=r"fake\.onnx is not a readable ONNX model"):
        load_detector(tmp_path / "fake.onnx")


def test_fonts_are_placed_where_ultralytics_looks() -> None:
    """ultralytics downloads Arial.ttf from github.com unless it is in its USER_CONFIG_DIR."""
    import_ultralytics()
    import ultralytics.utils

    looked_in = Path(ultralytics.utils.USER_CONFIG_DIR)
    assert looked_in.is_relative_to(get_settings().yolo_config_dir)
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        assert (looked_in / name).read_bytes() == (get_settings().yolo_config_dir / name).read_bytes()
    assert not list(looked_in.glob("*.tmp*"))  # no temp files left


def test_unreadable_images_still_raise_pillows_error(tmp_path: Path) -> None:
    """ultralytics' PIL.Image.open patch (pi-heif on demand) must not leak into fallkd's image checks."""
    import_ultralytics()
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(UnidentifiedImageError):
        Image.open(junk)
    with pytest.raises(ImageReadError, match=r"junk\.jpg"):
        open_rgb(junk)


@pytest.mark.slow
def test_offline_pretrained_error(person_yaml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"yolov5su\.pt is not a local file.*pretrained=None"):
        train_detector(person_yaml, detect_config("full"), out_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"model yolov5su\.pt is not a local file.*yolov5s\.yaml"):
        train_detector(person_yaml, detect_config("quick", model="yolov5su.pt"), out_dir=tmp_path)
    assert not (tmp_path / "train").exists() and not os.listdir(tmp_path)


def test_images_emptied_by_the_class_map_are_left_out(tmp_path: Path) -> None:
    """A 'danger' patient dropped by the class map is still a person: not a background image for the detector."""
    src = tmp_path / "merged"
    yolo.write_data_yaml(src, ["fall", "normal"])
    for key, text in {"train/a": "1 0.5 0.5 0.2 0.4\n", "train/b": "", "train/c": "", "valid/d": ""}.items():
        split, stem = key.split("/")
        for sub in ("images", "labels"):
            (src / split / sub).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (90, 120, 150)).save(src / split / "images" / f"{stem}.jpg")
        (src / split / "labels" / f"{stem}.txt").write_text(text, encoding="utf-8")
    (src / "report.json").write_text(json.dumps({"fallkd_merge": 1, "emptied": ["train/images/b.jpg"]}))
    info = detector_dataset_info(detector_dataset(src, tmp_path / "det", "person", progress=False))
    assert info["images"] == {"train": 2, "valid": 1} and info["emptied_left_out"] == 1
    assert sorted(p.name for p in (tmp_path / "det" / "train" / "images").iterdir()) == ["a.jpg", "c.jpg"]
    kept = detector_dataset(src, tmp_path / "det_all", "person", progress=False, keep_emptied=True)
    assert detector_dataset_info(kept)["images"] == {"train": 3, "valid": 1}
    assert detector_dataset_info(kept)["emptied_left_out"] == 0


def test_sources_keeps_one_source_and_the_merges_splits(merged: Path, tmp_path: Path) -> None:
    """Train a detector on one camera of a merged dataset: its images only, in the splits the merge gave them."""
    from fallkd_lib.data.crops import dataset_sources

    park = {image for image, source in dataset_sources(merged).items() if source == "park"}
    data_yaml = detector_dataset(merged, tmp_path / "det_park", "person", progress=False, sources=("park",))
    info = detector_dataset_info(data_yaml)
    written = {
        f"{split}/images/{p.name}"
        for split in ("train", "valid", "test")
        for p in (tmp_path / "det_park" / split / "images").glob("*")
    }
    assert written == park and sum(info["images"].values()) == len(park) and info["sources"] == ["park"]
    with pytest.raises(ValueError, match=r"sources \['ward'\] not all in its manifest.csv"):
        detector_dataset(merged, tmp_path / "det_ward", "person", progress=False, sources=("ward",))
