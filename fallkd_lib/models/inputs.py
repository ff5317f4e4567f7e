"""What shapes a classifier's input, stored with the trained model and read back by everything that runs it.

As timm carries a `pretrained_cfg` with each model, a fallkd classifier carries a `ClassifierInput`: how person
boxes were cut into crops (the crop folder's CropSpec: size, pad, letterbox fill), the side the crops are resized
to (the training image size) and the normalisation (mean, std). Training writes it into the checkpoint (key
"input") and the ONNX export into the file's metadata; the camera pipeline and the export read it from there,
so "what you trained is what runs" holds without restating a single number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.errors import UsageError

KEYS = ("crop_size", "pad", "fill", "image_size", "mean", "std")


def _triple(values: Sequence[float], what: str, positive: bool) -> tuple[float, float, float]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        out = ()
    if len(out) != 3 or not all(math.isfinite(v) and (v > 0 or not positive) for v in out):
        rule = "3 numbers > 0" if positive else "3 numbers"
        raise UsageError(f"classifier input {what}={values!r} must be {rule}, one per RGB channel")
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class ClassifierInput:
    """The crop geometry, the model's input side and the normalisation a classifier was trained with."""

    crop: CropSpec
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        """Check the values and store them as plain Python numbers."""
        if not isinstance(self.crop, CropSpec):
            raise UsageError(f"classifier input crop={self.crop!r} must be a CropSpec")
        if isinstance(self.image_size, bool) or not (
            isinstance(self.image_size, int) and self.image_size >= 16
        ):
            raise UsageError(
                f"classifier input image_size={self.image_size!r} must be an integer >= 16 pixels"
            )
        object.__setattr__(self, "mean", _triple(self.mean, "mean", positive=False))
        object.__setattr__(self, "std", _triple(self.std, "std", positive=True))

    def to_dict(self) -> dict:
        """A JSON-ready dict with the KEYS (what checkpoints, ONNX metadata and pipeline files hold)."""
        return {
            "crop_size": self.crop.size,
            "pad": self.crop.pad,
            "fill": self.crop.fill,
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, data: Mapping | None, source: object) -> ClassifierInput:
        """Read what to_dict wrote; a model that does not record it is an error naming `source`."""
        missing = [k for k in KEYS if not isinstance(data, Mapping) or k not in data]
        if missing:
            raise UsageError(
                f"{source} does not record its input settings (missing {', '.join(missing)}): it was trained or "
                "exported by an older fallkd. Train it again with `fallkd train-cls` (or re-export the new "
                "checkpoint), so that the camera cuts and normalises people exactly as in training"
            )
        assert isinstance(data, Mapping)
        crop = CropSpec(int(data["crop_size"]), float(data["pad"]), int(data["fill"]))
        return cls(crop, int(data["image_size"]), tuple(data["mean"]), tuple(data["std"]))

    def check_crop(self, crop: CropSpec | None, where: str) -> CropSpec:
        """The model's crop geometry; an explicit one that disagrees with it is an error, never an override."""
        if crop is not None and crop != self.crop:
            raise UsageError(
                f"{where}: the classifier was trained on crops cut with {self.crop} but {crop} was asked for; "
                "leave the crop settings out (they come from the model), or train a classifier on crops cut "
                "that way (`fallkd crops --size ... --pad ...`, then `fallkd train-cls`)"
            )
        return self.crop
