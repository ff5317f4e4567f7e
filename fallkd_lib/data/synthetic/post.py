"""Lighting (day, overcast, dusk, night, infrared) and camera defects (blur, motion blur, low resolution,
sensor noise, timestamp overlay), applied to a whole rendered scene with numpy and cv2."""

from __future__ import annotations

import cv2
import numpy as np

from fallkd_lib.errors import UsageError

LIGHTING = ("day", "overcast", "dusk", "night", "ir")


def _light_map(
    size: int, lamps: list[tuple[float, float]], ambient: float, strength: float, reach: float
) -> np.ndarray:
    """Ambient light plus a Gaussian pool of light under each lamp, computed coarse and resized (float32)."""
    n = 48
    grid = (np.arange(n, dtype=np.float32) + 0.5) * (size / n)
    light = np.full((n, n), ambient, np.float32)
    sigma2 = 2.0 * (reach * size) ** 2
    for lx, ly in lamps:
        # the pool is centred below the lamp head, on the ground
        cy = ly + 0.6 * reach * size
        light += strength * np.exp(-((grid[None, :] - lx) ** 2 + (grid[:, None] - cy) ** 2) / sigma2)
    return cv2.resize(light, (size, size), interpolation=cv2.INTER_LINEAR)


def _glow(size: int, lamps: list[tuple[float, float]], radius: float) -> np.ndarray:
    glow = np.zeros((size, size), np.float32)
    r = max(2, int(radius))
    for lx, ly in lamps:
        cv2.circle(glow, (int(lx), int(ly)), r, 1.0, -1, cv2.LINE_AA)
    k = 4 * r + 1
    return cv2.GaussianBlur(glow, (k, k), r)


def apply_lighting(
    rng: np.random.Generator, img: np.ndarray, mode: str, lamps: list[tuple[float, float]]
) -> np.ndarray:
    """The scene under one lighting mode (see LIGHTING); lamps are light positions in pixels."""
    if mode not in LIGHTING:
        raise UsageError(f"unknown lighting {mode!r}: choose one of {', '.join(LIGHTING)}")
    size = img.shape[0]
    f = img.astype(np.float32)
    if mode == "day":
        f *= rng.uniform(0.85, 1.15) * rng.uniform(0.94, 1.06, 3).astype(np.float32)
    elif mode == "overcast":
        grey = f.mean(axis=2, keepdims=True)
        f = grey + (f - grey) * rng.uniform(0.5, 0.8)
        f = f.mean() + (f - f.mean()) * rng.uniform(0.65, 0.9)
    elif mode == "dusk":
        f *= np.array([1.0, rng.uniform(0.75, 0.85), rng.uniform(0.55, 0.7)], np.float32) * rng.uniform(
            0.55, 0.8
        )
    else:
        if not lamps or rng.random() < 0.3:  # light from somewhere off-frame
            lamps = lamps + [(float(rng.uniform(0, size)), float(rng.uniform(-0.2, 0.5) * size))]
        ambient = rng.uniform(0.25, 0.45) if mode == "night" else rng.uniform(0.4, 0.65)
        light = _light_map(size, lamps, ambient, rng.uniform(0.5, 1.1), rng.uniform(0.15, 0.3))
        if mode == "ir":
            grey = f @ np.array([0.25, 0.55, 0.2], np.float32)  # skin and leaves come out bright in near-IR
            r2 = (np.arange(size, dtype=np.float32) / size - 0.5) ** 2
            vignette = 1.0 - rng.uniform(0.3, 0.7) * (r2[None, :] + r2[:, None]) * 2
            f = (grey * light * vignette * rng.uniform(0.9, 1.4))[..., None].repeat(3, axis=2)
            if rng.random() < 0.25:
                f *= np.array([0.85, 1.0, 0.85], np.float32)
        else:
            tint = [
                np.array([0.7, 0.85, 1.2], np.float32),
                np.array([0.75, 1.05, 0.9], np.float32),
                np.array([1.0, 0.9, 0.75], np.float32),
            ][int(rng.integers(3))]
            grey = f.mean(axis=2, keepdims=True)
            f = grey + (f - grey) * rng.uniform(0.3, 0.7)
            f = f * light[..., None] * tint
            glow = _glow(size, lamps, 0.025 * size) * rng.uniform(120, 230)
            f += glow[..., None] * np.array([1.0, 0.92, 0.7], np.float32)
    return np.clip(f, 0, 255).astype(np.uint8)


def degrade(rng: np.random.Generator, img: np.ndarray, quality: str, night: bool) -> np.ndarray:
    """Blur, motion blur, low resolution and sensor noise; quality is 'good' (park) or 'poor' (cctv)."""
    size = img.shape[0]
    scale = size / 640.0
    if quality == "poor" and rng.random() < 0.7:
        small = max(16, int(size * rng.uniform(0.35, 0.7)))
        img = cv2.resize(
            cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA),
            (size, size),
            interpolation=cv2.INTER_LINEAR,
        )
    if rng.random() < 0.35:
        sigma = rng.uniform(0.4, 1.3) * scale
        img = cv2.GaussianBlur(img, (0, 0), max(sigma, 0.3))
    if rng.random() < 0.15:
        length = max(3, int(rng.uniform(3, 11) * scale)) | 1
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    sigma = rng.uniform(3, 9) if night else rng.uniform(1, 5)
    if quality == "poor":
        sigma *= 1.5
    # one noise field; its mirror images give the other channels their own (chroma) part of the noise
    noise = rng.standard_normal((size, size), dtype=np.float32) * sigma
    out = img.astype(np.float32)
    out[..., 0] += noise
    out[..., 1] += 0.75 * noise + 0.35 * noise[::-1]
    out[..., 2] += 0.75 * noise + 0.35 * noise[:, ::-1]
    return np.clip(out, 0, 255).astype(np.uint8)


def timestamp(rng: np.random.Generator, img: np.ndarray, night: bool) -> np.ndarray:
    """Burn a CCTV date/time (an hour that fits the lighting) and camera number into two corners, in place."""
    size = img.shape[0]
    hour = (rng.integers(20, 30) % 24) if night else rng.integers(7, 19)
    stamp = (
        f"20{rng.integers(18, 25)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d} "
        f"{hour:02d}:{rng.integers(0, 60):02d}:{rng.integers(0, 60):02d}"
    )
    scale = 0.45 * size / 640 * 1.6
    thick = max(1, int(round(size / 400)))
    for text, org in (
        (stamp, (int(0.02 * size), int(0.05 * size))),
        (f"CAM {rng.integers(1, 17):02d}", (int(0.82 * size), int(0.97 * size))),
    ):
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), thick, cv2.LINE_AA)
    return img
