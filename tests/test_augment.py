"""Camera augmentations: each op does what it imitates, uint8 in and out, train only, opt-in through TrainConfig."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import make_crops, save_untrained_classifier
from timm.data import IMAGENET_DEFAULT_MEAN as IMAGENET_MEAN
from timm.data import IMAGENET_DEFAULT_STD as IMAGENET_STD
from torchvision.transforms import v2

from fallkd_lib.config import TrainConfig, as_dict, train_config
from fallkd_lib.train.augment import CAMERA_OPS, JpegRoundTrip, camera_augment, camera_op
from fallkd_lib.train.data import build_transforms, make_loaders

CAMERA_NAMES = (
    "RandomPerspective",
    "GaussianBlur",
    "SensorNoise",
    "RandomGrayscale",
    "IRLook",
    "JpegRoundTrip",
)


def scene(height: int = 48, width: int = 64) -> torch.Tensor:
    """A smooth colour image (gradients and a bright block), uint8 [3, H, W], values well inside 0..255."""
    ys = torch.linspace(0, 1, height)[:, None].expand(height, width)
    xs = torch.linspace(0, 1, width)[None, :].expand(height, width)
    image = torch.stack([60 + 120 * xs, 50 + 100 * ys, 180 - 90 * xs * ys])
    image[:, height // 4 : height // 2, width // 3 : width // 2] += 50
    return image.round().to(torch.uint8)


def mad(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two uint8 images, in grey levels."""
    return (a.float() - b.float()).abs().mean().item()


def forced(name: str, image: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One camera op applied for sure (p = 1), with a fixed torch seed."""
    torch.manual_seed(seed)
    return camera_op(name, 1.0)(image)


@pytest.mark.parametrize("strength", [0.0, 1.0, 10.0])
def test_camera_augment_keeps_dtype_and_shape(strength) -> None:
    image = scene(40, 56)
    for seed in range(5):
        torch.manual_seed(seed)
        out = camera_augment(strength)(image)
        assert out.dtype == torch.uint8 and out.shape == image.shape
    if strength == 0:
        assert torch.equal(out, image)  # strength 0: every op off
    if strength == 10:
        assert not torch.equal(out, image)  # every op on


@pytest.mark.parametrize("name", list(CAMERA_OPS))
def test_each_forced_op_keeps_dtype_shape_and_changes_the_image(name) -> None:
    image = scene()
    out = forced(name, image)
    assert out.dtype == torch.uint8 and out.shape == image.shape
    assert not torch.equal(out, image)


@pytest.mark.parametrize("name", ["grayscale", "ir"])
def test_grayscale_and_ir_give_three_equal_channels(name) -> None:
    out = forced(name, scene())
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


def test_noise_is_of_the_documented_size_and_seeded() -> None:
    image = torch.full((3, 64, 64), 128, dtype=torch.uint8)  # mid grey: nothing clips
    out = forced("noise", image)
    # |N(0, s)| averages s * sqrt(2 / pi) ~ 0.8 s, and s is drawn from U(3, 12) grey levels
    assert 0.8 * 3 - 0.3 < mad(out, image) < 0.8 * 12 + 0.3
    assert not torch.equal(out[0], out[1])  # independent per channel
    assert torch.equal(forced("noise", image, seed=3), forced("noise", image, seed=3))
    assert not torch.equal(forced("noise", image, seed=3), forced("noise", image, seed=4))


def test_low_light_darkens() -> None:
    image = scene()
    for seed in range(5):
        assert forced("low_light", image, seed).float().mean() < 0.85 * image.float().mean()


def test_blur_smooths_edges() -> None:
    image = torch.zeros(3, 32, 32, dtype=torch.uint8)
    image[:, :, ::2] = 255  # one-pixel stripes
    out = forced("blur", image)
    edges = (out[..., 1:].float() - out[..., :-1].float()).abs().mean()
    assert edges < 0.5 * 255


def test_jpeg_changes_the_image_but_stays_close() -> None:
    image = scene()
    errors = [mad(forced("jpeg", image, seed), image) for seed in range(4)]
    assert all(0 < e < 6 for e in errors)
    worst, best = JpegRoundTrip((30, 30))(image), JpegRoundTrip((80, 80))(image)
    assert mad(worst, image) > mad(best, image) > 0  # lower quality, larger error


def test_perspective_moves_pixels_and_fills_with_letterbox_grey() -> None:
    image = scene(64, 64)
    out = forced("perspective", image)
    assert out.shape == image.shape and mad(out, image) > 1
    corners = out[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 114).any()  # a corner pulled inwards shows the crops' letterbox grey


def test_bad_op_name_or_strength_names_the_valid_values() -> None:
    with pytest.raises(ValueError, match=r"unknown camera op 'fog'.*perspective, low_light, blur, noise"):
        camera_op("fog", 0.5)
    with pytest.raises(ValueError, match=r"p=1.5 must be a probability"):
        camera_op("blur", 1.5)
    with pytest.raises(ValueError, match=r"strength=-1: a finite number >= 0"):
        camera_augment(-1)


def test_train_config_augment_is_checked_and_off_in_both_profiles() -> None:
    with pytest.raises(ValueError, match=r"TrainConfig.augment='nope': choose one of basic, camera"):
        TrainConfig(augment="nope")
    assert train_config("quick").augment == train_config("full").augment == "basic"
    assert train_config("quick", augment="camera").augment == "camera"


def test_camera_ops_are_in_train_transforms_only() -> None:
    def build(train: bool, augment: str) -> str:
        return repr(build_transforms(32, train, IMAGENET_MEAN, IMAGENET_STD, augment))

    camera = build(True, "camera")
    assert all(name in camera for name in CAMERA_NAMES)
    for text in (build(True, "basic"), build(False, "camera"), build(False, "basic")):
        assert not any(name in text for name in CAMERA_NAMES)
    assert build(False, "camera") == build(False, "basic")
    # the camera ops run on uint8, after the basic augmentation and before ToDtype / Normalize
    steps = [
        type(t).__name__ for t in build_transforms(32, True, IMAGENET_MEAN, IMAGENET_STD, "camera").transforms
    ]
    assert steps[-3:] == ["Compose", "ToDtype", "Normalize"]
    with pytest.raises(ValueError, match=r"augment='strong': choose one of basic, camera"):
        build_transforms(32, True, IMAGENET_MEAN, IMAGENET_STD, "strong")


def test_make_loaders_with_camera_augment_yields_normalised_batches(tmp_path) -> None:
    root = make_crops(tmp_path / "crops", per_class=3, size=32, splits=("train", "val"))
    torch.manual_seed(0)
    loaders = make_loaders(root, 24, 6, IMAGENET_MEAN, IMAGENET_STD, workers=0, augment="camera")
    images, labels, ids = next(iter(loaders["train"]))
    assert images.shape == (6, 3, 24, 24) and images.dtype == torch.float32
    assert torch.isfinite(images).all() and images.min() < 0 < images.max()  # normalised, not 0..1
    assert sorted(ids.tolist()) == list(range(6))
    assert "SensorNoise" not in repr(loaders["val"].dataset.transform)


def test_cli_flag_and_set_reach_the_config(tmp_path) -> None:
    from fallkd_lib.cli import build_parser
    from fallkd_lib.cli_train import _train_cfg

    parser = build_parser()
    crops, teacher = str(tmp_path), str(tmp_path / "teacher")
    assert _train_cfg(parser.parse_args(["train-cls", crops])).augment == "basic"
    assert _train_cfg(parser.parse_args(["train-cls", crops, "--augment", "camera"])).augment == "camera"
    args = parser.parse_args(["distill", crops, "--teacher", teacher, "--augment", "camera"])
    assert _train_cfg(args).augment == "camera"
    assert _train_cfg(parser.parse_args(["compare", crops, "--set", "augment=camera"])).augment == "camera"
    with pytest.raises(ValueError, match="disagrees"):
        _train_cfg(parser.parse_args(["train-cls", crops, "--set", "augment=camera", "--augment", "basic"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["train-cls", crops, "--augment", "strong"])


def test_checkpoints_without_augment_still_load_and_resume_quietly(tmp_path) -> None:
    from fallkd_lib.models.trained import load_trained_classifier
    from fallkd_lib.train.loop import _warn_changes

    run = save_untrained_classifier(tmp_path / "run")
    checkpoint = torch.load(run / "best.pt", weights_only=False)
    assert checkpoint["config"]["augment"] == "basic"  # recorded in new checkpoints
    del checkpoint["config"]["augment"]  # as written before the field existed
    torch.save(checkpoint, run / "best.pt")
    model, loaded = load_trained_classifier(run)
    assert "augment" not in loaded["config"] and model.num_classes == 2

    old = loaded["config"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_changes(run / "last.pt", old, as_dict(train_config("quick", image_size=32, model="resnet18")))
    with pytest.warns(UserWarning, match=r"'augment': \('basic', 'camera'\)"):
        _warn_changes(run / "last.pt", old, {**old, "augment": "camera"})


def test_camera_augment_is_a_v2_compose_of_every_op() -> None:
    pipeline = camera_augment()
    assert isinstance(pipeline, v2.Compose) and len(pipeline.transforms) == len(CAMERA_OPS)
