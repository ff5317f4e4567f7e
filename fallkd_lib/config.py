"""Typed configuration: defaults that reproduce the reference recipe, a quick profile for laptops and CI."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields, replace

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


def _check_keys(cls: type, overrides: dict) -> None:
    valid = [f.name for f in fields(cls)]
    for key in overrides:
        if key not in valid:
            hint = difflib.get_close_matches(key, valid, n=1)
            did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
            raise ValueError(
                f"unknown {cls.__name__} key {key!r}.{did_you_mean} Valid keys: {', '.join(valid)}"
            )


def data_config(profile: str = "quick", **overrides) -> DataConfig:
    """The data settings of a profile ('quick' or 'full'), with keyword overrides checked by name."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    _check_keys(DataConfig, overrides)
    base = QUICK_DATA if profile == "quick" else FULL_DATA
    return replace(base, **overrides)


def as_dict(config: DataConfig) -> dict:
    """A plain dict of a config, for JSON reports."""
    return asdict(config)
