"""Camera augmentations: what another camera does to a person crop, applied at random while training.

A classifier trained on one camera (or on the synthetic world) meets others at deployment. Each op below imitates
one of them; `camera_augment(strength)` applies each with its own probability (CAMERA_OPS x strength, capped
at 1), in the order a camera applies them:

    perspective  p=0.30  another viewpoint: RandomPerspective, distortion 0.15, corners filled with letterbox grey
    low_light    p=0.25  a dim scene: brightness x U(0.35, 0.8), contrast x U(0.7, 1.0) (ColorJitter)
    blur         p=0.20  defocus, motion, a cheap lens: GaussianBlur, 7 px kernel, sigma U(0.5, 1.5) px
    noise        p=0.25  sensor noise (worst in low light): additive Gaussian, sigma U(3, 12) grey levels
    grayscale    p=0.10  a colourless day/night camera: RandomGrayscale (three equal channels)
    ir           p=0.10  a night IR camera: grey, gamma U(0.6, 1.6) and contrast x U(1.0, 1.5)
    jpeg         p=0.25  a compressed stream: a JPEG round trip at quality U{30..80}, through PIL

With strength 1 about a fifth of the crops get none of them and the average crop gets 1.45. Every op works on
uint8 image tensors (the output of v2.ToImage) and returns uint8 of the same shape, so it sits between the
basic augmentation and ToDtype/Normalize (fallkd_lib.train.data.build_transforms, TrainConfig.augment="camera").
JPEG goes through PIL rather than v2.JPEG: v2.JPEG needs torchvision >= 0.19 (fallkd allows 0.16) and rests on
torchvision.io's encoder, deprecated since 0.29 (a DeprecationWarning per call, removal announced).
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from fallkd_lib.data.geometry import LETTERBOX_FILL
from fallkd_lib.errors import UsageError

# each op's probability at strength 1, in the order they are applied (the module docstring says what they imitate)
CAMERA_OPS = {
    "perspective": 0.30,
    "low_light": 0.25,
    "blur": 0.20,
    "noise": 0.25,
    "grayscale": 0.10,
    "ir": 0.10,
    "jpeg": 0.25,
}
JPEG_QUALITY = (30, 80)


def _uniform(low: float, high: float) -> float:
    """One draw from U(low, high) with torch's generator (seeded per DataLoader worker)."""
    return float(torch.empty(()).uniform_(low, high))


class SensorNoise(nn.Module):
    """Additive Gaussian noise on a uint8 image, sigma in grey levels drawn from U(*sigma) per image."""

    def __init__(self, sigma: tuple[float, float] = (3.0, 12.0)) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(image.shape) * _uniform(*self.sigma)
        out = (image.float() + noise).round_().clamp_(0, 255).to(torch.uint8)
        return out.as_subclass(type(image))

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


class IRLook(nn.Module):
    """A night IR camera's look: grey (three equal channels), a gamma and a stronger contrast."""

    def __init__(
        self, gamma: tuple[float, float] = (0.6, 1.6), contrast: tuple[float, float] = (1.0, 1.5)
    ) -> None:
        super().__init__()
        self.gamma, self.contrast = gamma, contrast

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        grey = F.rgb_to_grayscale(image, num_output_channels=3)
        grey = F.adjust_gamma(grey, _uniform(*self.gamma))
        return F.adjust_contrast(grey, _uniform(*self.contrast))

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, contrast={self.contrast}"


class JpegRoundTrip(nn.Module):
    """JPEG compression and decompression of a uint8 [3, H, W] image through PIL, quality drawn from [low, high]."""

    def __init__(self, quality: tuple[int, int] = JPEG_QUALITY) -> None:
        super().__init__()
        self.quality = quality

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        quality = int(torch.randint(self.quality[0], self.quality[1] + 1, ()))
        buffer = io.BytesIO()
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        decoded = np.asarray(Image.open(buffer).convert("RGB"))
        return torch.from_numpy(decoded.copy()).permute(2, 0, 1).contiguous().as_subclass(type(image))

    def extra_repr(self) -> str:
        return f"quality={self.quality}"


def camera_op(name: str, p: float) -> nn.Module:
    """One camera op of CAMERA_OPS, applied with probability p (p=1: always)."""
    if not (isinstance(p, int | float) and 0.0 <= p <= 1.0):
        raise UsageError(f"camera op {name!r}: p={p!r} must be a probability in [0, 1]")
    if name == "perspective":  # RandomPerspective draws its own coin
        return v2.RandomPerspective(distortion_scale=0.15, p=p, fill=LETTERBOX_FILL)
    if name == "grayscale":
        return v2.RandomGrayscale(p=p)
    ops = {
        "low_light": lambda: v2.ColorJitter(brightness=(0.35, 0.8), contrast=(0.7, 1.0)),
        "blur": lambda: v2.GaussianBlur(kernel_size=7, sigma=(0.5, 1.5)),
        "noise": SensorNoise,
        "ir": IRLook,
        "jpeg": JpegRoundTrip,
    }
    if name not in ops:
        raise UsageError(f"unknown camera op {name!r}: choose one of {', '.join(CAMERA_OPS)}")
    return v2.RandomApply([ops[name]()], p=p)


def camera_augment(strength: float = 1.0) -> v2.Compose:
    """Every camera op, each with its CAMERA_OPS probability x strength (0 = none, capped at 1), uint8 in and out."""
    if not (isinstance(strength, int | float) and math.isfinite(strength) and strength >= 0):
        raise UsageError(
            f"camera_augment strength={strength!r}: a finite number >= 0 that scales every op's probability "
            "(0 = off, 1 = the CAMERA_OPS probabilities)"
        )
    return v2.Compose([camera_op(name, min(1.0, p * strength)) for name, p in CAMERA_OPS.items()])
