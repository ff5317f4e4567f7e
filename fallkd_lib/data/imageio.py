"""Open images safely: decode fully, convert to RGB, and fail with the file's name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fallkd_lib.errors import FallkdError, UsageError
from fallkd_lib.io import write_atomic


class ImageReadError(FallkdError, OSError):
    """An image that cannot be decoded (truncated, corrupt, or not an image)."""


def open_rgb(path: str | Path) -> Image.Image:
    """Decode an image completely (so a truncated file fails here, not later) and return it as RGB."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return im.convert("RGB")
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: cannot decode image ({exc}); re-export or delete the file") from exc


def save_image_atomic(image: Image.Image, path: str | Path, quality: int = 92) -> None:
    """Save an image through a temporary file so a crash never leaves half a file behind."""
    fmt = "PNG" if Path(path).suffix.lower() == ".png" else "JPEG"
    kwargs = {"quality": quality} if fmt == "JPEG" else {}
    write_atomic(path, lambda tmp: image.save(tmp, format=fmt, **kwargs))


def check_rgb_frame(frame: object, where: str) -> None:
    """Raise a UsageError naming `where` unless frame is a non-empty (H, W, 3) uint8 RGB array."""
    if not (
        isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    ):
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise UsageError(
            f"{where}: expected an RGB uint8 array of shape (H, W, 3) (HxWx3 uint8 RGB), got {got}; convert with "
            "np.asarray(pil_image.convert('RGB')) or cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)"
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise UsageError(f"{where}: empty image of shape {frame.shape}")
