"""Crop datasets, transforms and loaders: the (image, label, index) contract and the errors that teach."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN as IMAGENET_MEAN
from timm.data import IMAGENET_DEFAULT_STD as IMAGENET_STD

from fallkd_lib.train.data import (
    CropDataset,
    build_transforms,
    class_counts,
    make_loaders,
)

COLORS = {"fall": (200, 30, 30), "normal": (30, 30, 200)}


def make_crops(root: Path, counts: dict[str, dict[str, int]], size: tuple[int, int] = (20, 20)) -> Path:
    """PNG crops root/split/class/<class>_<i>.png; the green channel encodes i (10 * i) so files can be told apart."""
    for split, per_class in counts.items():
        for name, n in per_class.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                red, _, blue = COLORS[name]
                Image.new("RGB", size, (red, 10 * i, blue)).save(folder / f"{name}_{i}.png")
    return root


def test_dataset_items_follow_the_index_contract(tmp_path):
    root = make_crops(tmp_path, {"train": {"fall": 3, "normal": 2}})
    raw = CropDataset(root, "train")  # no transform: PIL images
    assert raw.classes == ["fall", "normal"]
    assert raw.targets == [0, 0, 0, 1, 1]
    assert raw.samples == [
        "train/fall/fall_0.png",
        "train/fall/fall_1.png",
        "train/fall/fall_2.png",
        "train/normal/normal_0.png",
        "train/normal/normal_1.png",
    ]
    assert len(raw) == 5
    image, label, index = raw[4]
    assert (label, index) == (1, 4)
    assert image.getpixel((0, 0)) == (30, 10, 200)  # normal_1.png: green = 10 * 1

    ds = CropDataset(root, "train", build_transforms(16, False, IMAGENET_MEAN, IMAGENET_STD))
    image, label, index = ds[2]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert (label, index) == (0, 2)
    assert class_counts(ds) == {"fall": 3, "normal": 2}
    assert "5 crops" in repr(ds)

    images, labels, ids = next(iter(torch.utils.data.DataLoader(ds, batch_size=5)))
    assert images.shape == (5, 3, 16, 16)
    assert labels.tolist() == [0, 0, 0, 1, 1]
    assert ids.tolist() == [0, 1, 2, 3, 4]


def test_split_with_one_class_names_the_missing_class(tmp_path):
    root = make_crops(tmp_path, {"train": {"fall": 2, "normal": 2}, "val": {"fall": 2}})
    with pytest.raises(ValueError, match=r"found \['fall'\], missing \['normal'\]") as err:
        CropDataset(root, "val")
    assert str(root / "val") in str(err.value)
    assert "fallkd crops" in str(err.value)


def test_empty_class_folder_is_an_error(tmp_path):
    root = make_crops(tmp_path, {"train": {"fall": 2, "normal": 2}})
    (root / "train" / "other").mkdir()
    with pytest.raises(ValueError, match=r"\['other'\] hold no images"):
        CropDataset(root, "train")


def test_missing_split_folder_names_it_and_the_command(tmp_path):
    root = make_crops(tmp_path, {"train": {"fall": 1, "normal": 1}})
    with pytest.raises(FileNotFoundError, match="fallkd crops") as err:
        CropDataset(root, "test")
    assert str(root / "test") in str(err.value)
    with pytest.raises(FileNotFoundError, match="fallkd crops"):
        make_loaders(tmp_path / "nowhere", 16, 2, IMAGENET_MEAN, IMAGENET_STD)


def test_transform_shapes_and_normalisation():
    image = Image.new("RGB", (20, 28), (255, 0, 128))
    train = build_transforms(16, True, IMAGENET_MEAN, IMAGENET_STD)(image)
    assert train.shape == (3, 16, 16) and train.dtype == torch.float32
    out = build_transforms(12, train=False, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))(image)
    assert out.shape == (3, 12, 12)
    # a flat colour stays flat: (value / 255 - mean) / std per channel
    expected = torch.tensor([(1.0 - 0.5) / 0.25, (0.0 - 0.5) / 0.5, (128 / 255 - 0.5) / 1.0])
    torch.testing.assert_close(out[:, 5, 5], expected)
    torch.testing.assert_close(out.amax(dim=(1, 2)), out.amin(dim=(1, 2)))


def test_make_loaders_shuffle_is_seeded_and_val_is_ordered(tmp_path):
    root = make_crops(tmp_path, {"train": {"fall": 4, "normal": 4}, "val": {"fall": 2, "normal": 2}})
    orders = []
    for _ in range(2):
        loaders = make_loaders(root, 16, 3, IMAGENET_MEAN, IMAGENET_STD, workers=0, seed=7)
        assert set(loaders) == {"train", "val"}  # no test folder: no test loader
        orders.append(torch.cat([ids for _, _, ids in loaders["train"]]).tolist())
        assert torch.cat([ids for _, _, ids in loaders["val"]]).tolist() == [0, 1, 2, 3]
    assert orders[0] == orders[1]  # same seed, same shuffle
    assert sorted(orders[0]) == list(range(8)) and orders[0] != list(range(8))
    assert len(loaders["train"]) == 3  # 8 crops, batch 3, drop_last=False


def test_make_loaders_rejects_splits_with_other_classes(tmp_path):
    root = make_crops(tmp_path, {"train": {"fall": 2, "normal": 2}})
    make_crops(tmp_path, {"val": {"fall": 1}})
    (tmp_path / "val" / "sitting").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "val" / "sitting" / "a.png")
    with pytest.raises(ValueError, match=r"classes \['fall', 'sitting'\] but train has \['fall', 'normal'\]"):
        make_loaders(root, 16, 2, IMAGENET_MEAN, IMAGENET_STD, workers=0)
