"""Dataset tables (boxes, images, class balance) and the data plots, headless."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from fallkd_lib.data.crops import extract_crops
from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.data.stats import best_aspect_threshold, box_table, class_balance, image_table
from fallkd_lib.data.yolo import Box, write_data_yaml, write_labels
from fallkd_lib.viz.data_plots import (
    class_colors,
    plot_box_geometry,
    plot_class_balance,
    plot_crop_grid,
    plot_sample_grid,
)

matplotlib.use("Agg")  # headless; the plots never touch pyplot, this guards against a display anyway


def _image(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(path)


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    """4 images: a (fall 40x30 + normal 30x50), c (fall 40x20), bg (no boxes), d (normal 24x48)."""
    root = tmp_path / "data"
    write_data_yaml(root, ["fall", "normal"])
    _image(root / "train/images/a.png", 100, 80)
    write_labels(
        root / "train/labels/a.txt", [Box(0, 0.3, 0.3125, 0.4, 0.375), Box(1, 0.75, 0.5625, 0.3, 0.625)]
    )
    with open(root / "train/labels/a.txt", "a", encoding="utf-8") as f:
        f.write("0 0.5 0.5 1.5 0.1\n")  # invalid: outside [0, 1]
    _image(root / "valid/images/c.png", 50, 100)
    write_labels(root / "valid/labels/c.txt", [Box(0, 0.5, 0.8, 0.8, 0.2)])
    _image(root / "valid/images/bg.png", 40, 40)
    _image(root / "test/images/d.png", 120, 60)
    write_labels(root / "test/labels/d.txt", [Box(1, 0.25, 0.5, 0.2, 0.8)])
    (root / "manifest.csv").write_text(
        "split,image,source\ntrain,train/images/a.png,srcA\nvalid,valid/images/c.png,srcB\n", encoding="utf-8"
    )
    return root


def test_box_table_values(tiny):
    boxes = box_table(tiny, progress=False)
    assert list(boxes["image"]) == [
        "train/images/a.png",
        "train/images/a.png",
        "valid/images/c.png",
        "test/images/d.png",
    ]
    assert list(boxes["split"]) == ["train", "train", "valid", "test"]
    assert list(boxes["source"]) == ["srcA", "srcA", "srcB", "unknown"]
    assert list(boxes["class"]) == ["fall", "normal", "fall", "normal"]
    assert list(boxes["class"].cat.categories) == ["fall", "normal"]
    assert list(boxes["image_width"]) == [100, 100, 50, 120]
    np.testing.assert_allclose(boxes["width_px"], [40, 30, 40, 24])
    np.testing.assert_allclose(boxes["height_px"], [30, 50, 20, 48])
    np.testing.assert_allclose(boxes["aspect"], [4 / 3, 0.6, 2.0, 0.5])
    np.testing.assert_allclose(boxes["area_frac"], [0.15, 0.1875, 0.16, 0.16])
    assert boxes.attrs["invalid_label_lines"] == 1 and boxes.attrs["unreadable_images"] == []


def test_image_table(tiny):
    images = image_table(tiny)
    labels = dict(zip(images["image"], images["label"], strict=True))
    assert labels == {
        "train/images/a.png": "fall",
        "valid/images/bg.png": "background",
        "valid/images/c.png": "fall",
        "test/images/d.png": "normal",
    }
    a = images.set_index("image").loc["train/images/a.png"]
    assert (a["n_boxes"], a["n_invalid_lines"], a["source"]) == (2, 1, "srcA")


def test_class_balance_counts_and_shares(tiny):
    balance = class_balance(tiny)
    assert balance.equals(class_balance(box_table(tiny, progress=False)))
    rows = {(r.by, r.group, r["class"]): (r["count"], r.share) for _, r in balance.iterrows()}
    assert rows == {
        ("split", "train", "fall"): (1, 0.5),
        ("split", "train", "normal"): (1, 0.5),
        ("split", "valid", "fall"): (1, 1.0),
        ("split", "valid", "normal"): (0, 0.0),
        ("split", "test", "fall"): (0, 0.0),
        ("split", "test", "normal"): (1, 1.0),
        ("source", "srcA", "fall"): (1, 0.5),
        ("source", "srcA", "normal"): (1, 0.5),
        ("source", "srcB", "fall"): (1, 1.0),
        ("source", "srcB", "normal"): (0, 0.0),
        ("source", "unknown", "fall"): (0, 0.0),
        ("source", "unknown", "normal"): (1, 1.0),
    }
    assert list(balance.loc[balance["by"] == "split", "group"].unique()) == ["train", "valid", "test"]


def test_best_aspect_threshold_by_hand():
    boxes = pd.DataFrame({"class": ["fall"] * 3 + ["normal"] * 3, "aspect": [2.0, 1.5, 0.8, 0.5, 0.6, 1.0]})
    # sorted: 0.5n 0.6n 0.8f 1.0n 1.5f 2.0f; cutting at 0.7 keeps 2/3 normal below and 3/3 fall above
    threshold, accuracy = best_aspect_threshold(boxes)
    assert threshold == pytest.approx(0.7) and accuracy == pytest.approx(5 / 6)
    separable = pd.DataFrame({"class": ["fall", "normal"], "aspect": [1.5, 0.5]})
    assert best_aspect_threshold(separable) == (pytest.approx(1.0), pytest.approx(1.0))
    with pytest.raises(ValueError, match="need boxes of class 'fall'"):
        best_aspect_threshold(boxes[boxes["class"] == "normal"])


def test_missing_dataset_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="fallkd merge"):
        box_table(tmp_path)


def test_class_colors():
    colors = class_colors(["normal", "fall", "Sit", "Fall-Action"])
    assert (colors["fall"], colors["Fall-Action"], colors["normal"]) == ("#d62728", "#d62728", "#2ca02c")
    assert colors["Sit"] not in ("#d62728", "#2ca02c")


def test_plot_class_balance_and_geometry(tiny):
    boxes = box_table(tiny, progress=False)
    fig = plot_class_balance(boxes)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert sorted(int(p.get_height()) for p in fig.axes[0].patches if p.get_height() > 0) == [1, 1, 1, 1]
    fig = plot_box_geometry(boxes)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "balanced accuracy 100%" in fig.axes[0].get_title()  # aspect alone separates this tiny set


def test_plot_sample_grid(tiny):
    fig = plot_sample_grid(tiny, n=3, seed=0)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert len(plot_sample_grid(tiny, n=50).axes) == 4  # only 4 images
    fig = plot_sample_grid(tiny, n=12, split="valid")
    assert sorted(ax.get_title() for ax in fig.axes) == ["valid/bg.png", "valid/c.png"]
    (c_axis,) = [ax for ax in fig.axes if ax.get_title() == "valid/c.png"]
    (rect,) = [p for p in c_axis.patches if isinstance(p, Rectangle)]
    assert rect.get_edgecolor() == to_rgba("#d62728")  # fall in red
    assert (rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()) == pytest.approx((5, 70, 40, 20))
    with pytest.raises(ValueError, match="unknown split 'val'"):
        plot_sample_grid(tiny, split="val")


def test_plot_crop_grid(tiny, tmp_path):
    extract_crops(tiny, tmp_path / "crops", CropSpec(16, 0.1), progress=False)
    fig = plot_crop_grid(tmp_path / "crops", n=4, seed=0)
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # 2 classes x 2
    assert [fig.axes[0].get_ylabel(), fig.axes[2].get_ylabel()] == ["fall\n(2)", "normal\n(2)"]
    with pytest.raises(FileNotFoundError, match="extract_crops"):
        plot_crop_grid(tmp_path / "nothing")


@pytest.mark.realdata
def test_box_table_real_dataset(shared_datasets):
    root = shared_datasets / "fall_action_laifi"
    boxes = box_table(root, progress=False)
    counts = boxes.groupby(["split", "class"], observed=True).size().to_dict()
    assert counts[("train", "Fall-Action")] == 138 and counts[("valid", "Stand")] == 111  # README table
    assert len(boxes) == 714 and (boxes["aspect"] > 0).all() and (boxes["area_frac"] <= 1).all()
    assert set(boxes["source"]) == {"fd2_rgb", "fd2_frame", "kaggle_uttej", "kaggle_uttej_via_roboflow"}


def test_unreadable_images_are_reported_not_dropped(tiny):
    (tiny / "test/images/junk.jpg").write_bytes(b"not an image")
    write_labels(tiny / "test/labels/junk.txt", [Box(0, 0.5, 0.5, 0.5, 0.5)])
    with pytest.warns(UserWarning, match=r"1 image\(s\) skipped: header unreadable"):
        boxes = box_table(tiny, progress=False)
    assert len(boxes) == 4 and boxes.attrs["unreadable_images"][0].endswith("junk.jpg")
    fig = plot_sample_grid(tiny, split="test")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len(fig.axes) == 2 and "unreadable image" in texts
