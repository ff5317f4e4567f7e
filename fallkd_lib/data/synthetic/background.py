"""Outdoor backdrops drawn with numpy: sky gradient, ground plane in perspective, far tree line or buildings,
paths, pavement tiles and texture noise. Everything is vectorised over whole rows and columns."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Camera:
    """A pinhole camera over flat ground, in image fractions: where the horizon lies and how tall people are."""

    horizon: float  # image row of the horizon as a fraction of the height (may be above the frame: < 0)
    person_scale: (
        float  # a person's height over (foot row - horizon row); camera height = 1.7 m / person_scale
    )
    focal: float = 0.9  # focal length as a fraction of the image side

    def person_height(self, foot_y: float) -> float:
        """A standing person's height (fraction of the image) whose feet are at image row foot_y."""
        return self.person_scale * (foot_y - self.horizon)

    def foot_row(self, height: float) -> float:
        """The image row (fraction) where a person of the given height fraction stands."""
        return self.horizon + height / self.person_scale

    def elevation(self, foot_y: float) -> float:
        """Degrees the camera looks down at a point on the ground at image row foot_y."""
        return math.degrees(math.atan2(foot_y - self.horizon, self.focal))

    def tilt(self, foot_x: float, foot_y: float) -> float:
        """Image rotation (degrees) of a vertical standing at (foot_x, foot_y): verticals meet below a high camera."""
        if self.horizon >= 0.45:
            return 0.0
        nadir = 0.5 + self.focal**2 / (0.5 - self.horizon)
        return math.degrees(math.atan2(foot_x - 0.5, nadir - foot_y))


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Zero-mean, unit-scale value noise: a coarse random grid resized smoothly to `shape` (float32)."""
    coarse = rng.standard_normal(cells).astype(np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def tileable_noise(rng: np.random.Generator, side: int, sigma: float) -> np.ndarray:
    """White noise Gaussian-blurred with wrap-around (in the Fourier domain), so copies of it tile without seams;
    unit std (float32)."""
    noise = rng.standard_normal((side, side))
    freq = np.fft.fftfreq(side)
    gain = np.exp(-2.0 * (np.pi * sigma) ** 2 * (freq[:, None] ** 2 + freq[None, :] ** 2))
    smooth = np.fft.ifft2(np.fft.fft2(noise) * gain).real
    return (smooth / max(float(smooth.std()), 1e-9)).astype(np.float32)


def _rand_colour(rng: np.random.Generator, lo: tuple[int, ...], hi: tuple[int, ...]) -> np.ndarray:
    return np.array([rng.uniform(a, b) for a, b in zip(lo, hi, strict=True)], np.float32)


def _sky(rng: np.random.Generator, rows: np.ndarray, horizon_px: float, overcast: bool) -> np.ndarray:
    if overcast:
        grey = rng.uniform(165, 215)
        top, low = np.full(3, grey - 25, np.float32), np.full(3, grey + 15, np.float32)
    else:
        top = _rand_colour(rng, (60, 110, 185), (120, 165, 240))
        low = _rand_colour(rng, (175, 195, 215), (220, 230, 250))
    t = np.clip(rows / max(horizon_px, 1.0), 0, 1)[:, None]
    return top + (low - top) * t


def _far_band(
    rng: np.random.Generator, size: int, horizon_px: float, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column height of a far tree line or skyline above the horizon, and its colour."""
    x = np.arange(size, dtype=np.float32)
    if kind == "trees":
        prof = size * (
            rng.uniform(0.03, 0.07)
            + 0.02 * smooth_noise(rng, (1, size), (1, 8))[0]
            + 0.008 * np.abs(smooth_noise(rng, (1, size), (1, 50))[0])
        )
        colour = _rand_colour(rng, (35, 60, 30), (70, 100, 55))
    else:
        edges = np.sort(rng.uniform(0, size, 14))
        heights = rng.uniform(0.03, 0.2, 15) * size
        prof = heights[np.searchsorted(edges, x)]
        colour = _rand_colour(rng, (110, 110, 115), (170, 165, 160))
    return np.maximum(prof, 0.0), colour


def ground_texture(rng: np.random.Generator, size: int, camera: Camera, rows: slice) -> np.ndarray:
    """Grass/gravel-like noise laid on the ground plane, finer toward the horizon (float32, zero mean)."""
    tile = tileable_noise(rng, 128, 0.7) * rng.uniform(0.5, 1.0) + tileable_noise(
        rng, 128, 6.0
    ) * rng.uniform(0.6, 1.4)
    y = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None] / size
    x = (np.arange(size, dtype=np.float32)[None, :] / size - 0.5) * camera.focal
    depth = 1.0 / np.maximum(y - camera.horizon, 1e-3)  # distance on the ground, up to a constant
    near = 1.0 / max(1.0 - camera.horizon, 1e-3)
    a = 0.35 * size / near  # tile texels per unit of ground: about 1 texel per 3 pixels at the frame bottom
    map_x = (x * depth * a / camera.focal).astype(np.float32)
    map_y = np.broadcast_to(depth * a * 1.5, map_x.shape).astype(np.float32)
    return cv2.remap(tile, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def draw_backdrop(rng: np.random.Generator, size: int, camera: Camera, style: str) -> np.ndarray:
    """Sky, far band, ground with texture and a path or pavement: an RGB uint8 image of size x size."""
    h = camera.horizon * size
    rows = np.arange(size, dtype=np.float32)
    overcast = bool(rng.random() < 0.35)
    img = np.empty((size, size, 3), np.float32)
    sky_rows = max(0, min(size, int(math.ceil(h))))
    if sky_rows:
        img[:sky_rows] = _sky(rng, rows[:sky_rows], h, overcast)[:, None, :]
        clouds = smooth_noise(rng, (sky_rows, size), (4, 8))
        img[:sky_rows] += (np.clip(clouds, 0, None) * rng.uniform(10, 40))[..., None]
    if style == "park":
        near = _rand_colour(rng, (55, 100, 35), (110, 160, 80))
    else:
        near = _rand_colour(rng, (95, 95, 95), (160, 155, 150))
    haze = rng.uniform(150, 200) + _rand_colour(rng, (-5, 0, 5), (0, 5, 15))
    dist = np.clip((rows[sky_rows:] - h) / size, 1e-3, None)  # nearer rows: larger
    fog = np.exp(-dist / rng.uniform(0.05, 0.2))[:, None]
    ground = img[sky_rows:]
    ground[:] = (near * (1 - fog) + haze * fog)[:, None, :]
    if sky_rows:
        kind = "trees" if style == "park" or rng.random() < 0.4 else "buildings"
        prof, colour = _far_band(rng, size, h, kind)
        top = max(0, int(h - prof.max()))
        band = img[top:sky_rows]
        inside = rows[top:sky_rows, None] >= h - prof[None, :]
        spots = smooth_noise(rng, inside.shape, (max(2, inside.shape[0] // 6), size // 6))[..., None]
        spots *= 12 if kind == "trees" else 3
        band[:] = np.where(inside[..., None], colour + spots, band)
    if sky_rows < size:
        rough = (5, 14) if style == "park" else (3, 8)
        texture = ground_texture(rng, size, camera, slice(sky_rows, size)) * rng.uniform(*rough)
        texture += smooth_noise(rng, texture.shape, (4, 4)) * rng.uniform(3, 8)
        ground += (texture * (1.0 - 0.7 * fog))[..., None]
    _paths(rng, img, size, camera, style)
    return np.clip(img, 0, 255).astype(np.uint8)


def _ground_y(camera: Camera, size: int, depth: float) -> float:
    """Image row (pixels) of ground at a relative distance `depth` (1 = where the frame bottom is)."""
    return (camera.horizon + (1.0 - camera.horizon) / depth) * size


def _paths(rng: np.random.Generator, img: np.ndarray, size: int, camera: Camera, style: str) -> None:
    """Paths (park) or paving tiles and a road (cctv) drawn in perspective, in place."""
    h = camera.horizon * size
    vx = rng.uniform(0.1, 0.9) * size
    paving = _rand_colour(rng, (120, 115, 105), (200, 190, 170))
    if style == "park":
        for _ in range(int(rng.integers(1, 3))):
            half = rng.uniform(0.08, 0.35) * size
            foot = rng.uniform(-0.2, 1.2) * size
            top_y = max(h + 2, 0.0)
            t = (top_y - h) / max(size - h, 1.0)
            top_x = vx + (foot - vx) * t
            poly = np.array(
                [
                    [foot - half, size],
                    [foot + half, size],
                    [top_x + half * t, top_y],
                    [top_x - half * t, top_y],
                ]
            )
            cv2.fillPoly(img, [np.round(poly).astype(np.int32)], paving.tolist(), cv2.LINE_AA)
            edge = (paving * 0.7).tolist()
            for a, b in ((0, 3), (1, 2)):
                cv2.line(
                    img,
                    tuple(map(int, poly[a])),
                    tuple(map(int, poly[b])),
                    edge,
                    max(1, size // 320),
                    cv2.LINE_AA,
                )
        return
    line = (paving * rng.uniform(0.6, 0.85)).tolist()
    if rng.random() < 0.5:  # a road across the view, with a dashed centre line
        y0, y1 = sorted(rng.uniform(max(h, 0) + 0.05 * size, size, 2))
        cv2.rectangle(
            img, (0, int(y0)), (size, int(y1)), _rand_colour(rng, (55, 55, 60), (95, 95, 100)).tolist(), -1
        )
        mid = int((y0 + y1) / 2)
        for x in range(0, size, max(8, size // 12)):
            cv2.line(img, (x, mid), (x + max(4, size // 30), mid), (220, 220, 210), max(1, size // 200))
        return
    step = rng.uniform(0.3, 0.7)
    for k in range(1, 60):
        y = _ground_y(camera, size, k * step / 4 + 0.1)
        if y < max(h, 0) + 2:
            break
        if y < size:
            cv2.line(img, (0, int(y)), (size, int(y)), line, 1, cv2.LINE_AA)
    spacing = rng.uniform(0.08, 0.2) * size
    for x in np.arange(vx % spacing - 6 * size, 7 * size, spacing):
        cv2.line(img, (int(vx), int(h)), (int(x), size), line, 1, cv2.LINE_AA)
