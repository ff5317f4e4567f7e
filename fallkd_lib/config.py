"""Typed configuration: defaults that reproduce the reference recipe, a quick profile for laptops and CI."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields, replace

from fallkd_lib.errors import UsageError

PROFILES = ("quick", "full")


@dataclass(frozen=True)
class DataConfig:
    """Settings of the data stage (synthetic generation, merge, crops)."""

    source: str = "roboflow"  # "synthetic" (embedded default, offline) or "roboflow" (the report's data)
    synth_images: int = 600  # images per synthetic style
    synth_size: int = 640  # synthetic image side in pixels (the detector's input size)
    seed: int = 0
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train / valid / test fractions
    near_duplicate_distance: int = 4  # perceptual-hash Hamming distance that counts as the same photo
    crop_size: int = 224  # classifier input side, as in the reference report
    crop_pad: float = 0.1  # context added around each person box, as a fraction of its size


QUICK_DATA = DataConfig(source="synthetic", synth_images=60, synth_size=320, crop_size=96)
FULL_DATA = DataConfig()


@dataclass(frozen=True)
class TrainConfig:
    """Settings of classifier training and distillation; defaults are the reference recipe."""

    model: str = (
        "efficientnet_b0"  # resnet18 | efficientnet_b0 | vit_b_16 (teacher) | vit_tiny (quick teacher)
    )
    pretrained: bool = True  # ImageNet weights (downloaded online, or from a local file)
    image_size: int = 224
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adam"  # adam | adamw
    lr: float = 1e-3  # the report: Adam 1e-3, betas (0.9, 0.999)
    weight_decay: float = 0.0
    scheduler: str = "cosine"  # cosine | none
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    alpha: float = 0.85  # KD: weight of the hard-label cross-entropy (the report's recipe)
    temperature: float = 2.0  # KD: softmax temperature T
    teacher: str = "vit_b_16"
    teacher_train_last_blocks: int = 1  # the report: only the last encoder block, final norm and head train
    workers: int = 2
    seed: int = 0
    amp: bool = True  # mixed precision, used on CUDA only
    channels_last: bool = True  # used on CUDA only
    max_batches: int = 0  # cap batches per epoch (0 = all): quick smoke runs


QUICK_TRAIN = TrainConfig(
    pretrained=False, image_size=64, epochs=3, batch_size=32, teacher="vit_tiny", workers=0
)
FULL_TRAIN = TrainConfig()


@dataclass(frozen=True)
class DetectConfig:
    """Settings of detector training; defaults are the reference recipe (YOLOv5s, 640 px, batch 8, 50 epochs)."""

    model: str = "yolov5s.yaml"  # ultralytics builds the anchor-free YOLOv5su from it
    pretrained: str | None = "yolov5su.pt"  # COCO weights (online, or a local file); None trains from scratch
    imgsz: int = 640
    batch: int = 8
    epochs: int = 50
    workers: int = 2
    seed: int = 0


QUICK_DETECT = DetectConfig(pretrained=None, imgsz=160, epochs=3, workers=0)
FULL_DETECT = DetectConfig()


def _check_keys(cls: type, overrides: dict) -> None:
    valid = [f.name for f in fields(cls)]
    for key in overrides:
        if key not in valid:
            hint = difflib.get_close_matches(key, valid, n=1)
            did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
            raise UsageError(
                f"unknown {cls.__name__} key {key!r}.{did_you_mean} Valid keys: {', '.join(valid)}"
            )


def data_config(profile: str = "quick", **overrides) -> DataConfig:
    """The data settings of a profile ('quick' or 'full'), with keyword overrides checked by name."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    _check_keys(DataConfig, overrides)
    base = QUICK_DATA if profile == "quick" else FULL_DATA
    return replace(base, **overrides)


def train_config(profile: str = "quick", **overrides) -> TrainConfig:
    """The training settings of a profile ('quick' or 'full'), with keyword overrides checked by name."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    _check_keys(TrainConfig, overrides)
    return replace(QUICK_TRAIN if profile == "quick" else FULL_TRAIN, **overrides)


def detect_config(profile: str = "quick", **overrides) -> DetectConfig:
    """The detector settings of a profile ('quick' or 'full'), with keyword overrides checked by name."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    _check_keys(DetectConfig, overrides)
    return replace(QUICK_DETECT if profile == "quick" else FULL_DETECT, **overrides)


def as_dict(config: DataConfig | TrainConfig | DetectConfig) -> dict:
    """A plain dict of a config, for JSON reports."""
    return asdict(config)
