"""The background crop class: person-shaped boxes where nobody is, written as a third class and counted; a 3-class
classifier scored on fall/normal crops; the runtime and the pipeline with a 3-class model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_crops, save_untrained_classifier
from PIL import Image
from torch import nn

from fallkd_lib.data import yolo
from fallkd_lib.data.background import REPORT_FILE, background_boxes, link_crops, write_background_crops
from fallkd_lib.data.geometry import CropSpec, box_iou, crop_people
from fallkd_lib.models.inputs import ClassifierInput
from fallkd_lib.runtime.classifier import TorchClassifier


def test_background_boxes_are_person_shaped_inside_and_overlap_nobody() -> None:
    rng = np.random.default_rng(0)
    people = np.array([[0, 0, 50, 100], [120, 20, 160, 110]])
    sizes = np.array([[0.2, 0.5]])  # w 40 px, h 60 px in a 200 x 120 image
    boxes = background_boxes(people, 200, 120, sizes, rng, count=3)
    assert len(boxes) == 3
    b = np.array(boxes)
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 2] <= 200).all() and (b[:, 3] <= 120).all()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    np.testing.assert_allclose(h / w, 60 / 40)  # the person's aspect ratio, shrunk by 0.5-1.0
    assert ((w >= 20 - 1e-9) & (w <= 40 + 1e-9)).all()
    assert (box_iou(b, people) == 0).all() and (box_iou(b, b) - np.eye(3) == 0).all()
    # an image filled by a person has no room
    assert background_boxes(np.array([[0, 0, 200, 120]]), 200, 120, sizes, rng, count=2) == []
    with pytest.raises(ValueError, match="sizes is empty"):
        background_boxes(people, 200, 120, np.zeros((0, 2)), rng)


def tiny_dataset(root: Path) -> Path:
    """A YOLO dataset with one source manifest: 'a' images and a 'b' image, one person box each."""
    yolo.write_data_yaml(root, ["fall", "normal"])
    rows = ["split,image,source"]
    for split, stem, source in (("train", "a1", "a"), ("train", "b1", "b"), ("valid", "a2", "a")):
        for sub in ("images", "labels"):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (160, 120), (40, 90, 160)).save(root / split / "images" / f"{stem}.jpg")
        (root / split / "labels" / f"{stem}.txt").write_text("0 0.15 0.5 0.2 0.6\n")
        rows.append(f"{split},{split}/images/{stem}.jpg,{source}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_write_background_crops_adds_a_counted_third_class(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "data")
    crops = link_crops(make_crops(tmp_path / "crops", per_class=2, size=32), tmp_path / "three")
    report = write_background_crops(data, crops, per_image=2, sources=("a",), progress=False)
    assert report["images"] == 2 and report["crops"] == {"train": 2, "val": 2}
    assert json.loads((crops / REPORT_FILE).read_text()) == report
    files = sorted((crops / "train" / "background").iterdir())
    assert [f.name for f in files] == ["a1_bg0.jpg", "a1_bg1.jpg"]  # source b left out
    assert Image.open(files[0]).size == (32, 32)  # cut as the person crops were (crop_params.json)
    stamp = files[0].stat().st_mtime_ns
    assert write_background_crops(data, crops, per_image=2, sources=("a",), progress=False) == report
    assert files[0].stat().st_mtime_ns == stamp  # resumed: nothing cut again
    assert sorted(p.name for p in (tmp_path / "crops" / "train").iterdir()) == [
        "fall",
        "normal",
    ]  # links only


class Fixed(nn.Module):
    """A stand-in classifier that gives every input the same logits."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1)


def runtime(classes: list[str], logits: list[float]) -> TorchClassifier:
    model_input = ClassifierInput(CropSpec(32, 0.1), 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    return TorchClassifier.from_module(Fixed(logits), classes, model_input, device="cpu")


def test_background_mass_lowers_the_fall_probability() -> None:
    crops = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    two = runtime(["fall", "normal"], [2.0, 0.0])
    three = runtime(["background", "fall", "normal"], [3.0, 2.0, 0.0])
    assert three.fall_index == 1
    p2, p3 = two.predict(crops)[:, two.fall_index], three.predict(crops)[:, three.fall_index]
    np.testing.assert_allclose(p2, np.exp(2) / (np.exp(2) + 1), rtol=1e-6)
    np.testing.assert_allclose(p3, np.exp(2) / (np.exp(3) + np.exp(2) + 1), rtol=1e-6)
    assert (p3 < p2).all()


def test_the_pipeline_runs_a_three_class_classifier(tmp_path: Path) -> None:
    from fallkd_lib.runtime.pipeline import FallPipeline
    from fallkd_lib.runtime.sources import Frame

    run = save_untrained_classifier(tmp_path / "run", classes=("background", "fall", "normal"))
    frame = Frame(np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8), 0.0, 0, "f0")
    box = [20.0, 10.0, 60.0, 90.0]
    pipe = FallPipeline(lambda f: np.array([[*box, 0.9, 1]]), run)
    result = pipe.process(frame)
    probs = pipe.classifier.predict(crop_people(frame.image, [box], pipe.crop))
    assert pipe.classifier.class_names == ["background", "fall", "normal"]
    assert result.people[0].fall_prob == pytest.approx(float(probs[0, 1]), abs=1e-5)
    assert result.people[0].fall_prob < 1 - float(probs[0, 0]) + 1e-6  # the background mass is not fall


def test_a_three_class_model_is_scored_on_fall_normal_crops(tmp_path: Path) -> None:
    from fallkd_lib.config import train_config
    from fallkd_lib.train.recipes import score_folder

    crops = make_crops(tmp_path / "crops", per_class=3, size=32)
    cfg = train_config("quick", image_size=32, batch_size=4)
    calls_background = Fixed([3.0, 2.0, 0.0])  # argmax background for every crop: every fall missed
    report = score_folder(calls_background, crops, cfg, ("test",), ["background", "fall", "normal"])
    assert report["per_class"]["fall"]["recall"] == 0.0 and report["per_class"]["fall"]["support"] == 3
    assert report["accuracy"] == 0.0 and report["confusion_matrix"][1] == [3, 0, 0]
    calls_fall = Fixed([0.0, 2.0, 1.0])
    report = score_folder(calls_fall, crops, cfg, ("test",), ["background", "fall", "normal"])
    assert report["per_class"]["fall"]["recall"] == 1.0 and report["per_class"]["fall"]["precision"] == 0.5
    with pytest.raises(ValueError, match=r"classes \['normal'\] are not the model's classes"):
        score_folder(calls_fall, crops, cfg, ("test",), ["background", "fall"])
