"""Drawing projected body parts with cv2 (anti-aliased, sub-pixel), the figure's own mask, and its tight box."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SHIFT = 4  # cv2 fixed-point bits: sub-pixel accurate, anti-aliased drawing
_ONE = 1 << SHIFT


@dataclass
class Part:
    """One drawable piece of a projected figure: a capsule chain, a polygon or a disc, with its depth."""

    kind: str  # "capsule", "poly", "disc" or "ellipse"
    points: np.ndarray  # image points (N x 2, pixels)
    radii: tuple[float, ...]
    colour: tuple[int, int, int]
    depth: float
    angle: float = 0.0  # ellipse rotation in degrees


def shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    """A colour scaled by factor (darker below 1, lighter above), clipped to 0..255."""
    return tuple(int(min(255, max(0, c * factor))) for c in colour)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * _ONE).astype(np.int32)


def _draw_one(img: np.ndarray, part: Part, colour) -> None:
    if part.kind == "disc":
        c = _fixed(part.points[0])
        cv2.circle(
            img, (int(c[0]), int(c[1])), max(1, int(part.radii[0] * _ONE)), colour, -1, cv2.LINE_AA, SHIFT
        )
    elif part.kind == "ellipse":
        c = _fixed(part.points[0])
        axes = (max(1, int(part.radii[0] * _ONE)), max(1, int(part.radii[1] * _ONE)))
        cv2.ellipse(img, (int(c[0]), int(c[1])), axes, part.angle, 0, 360, colour, -1, cv2.LINE_AA, SHIFT)
    elif part.kind == "poly":
        pts = _fixed(part.points)
        thickness = max(1, int(round(2 * part.radii[0])))
        cv2.fillConvexPoly(img, cv2.convexHull(pts), colour, cv2.LINE_AA, SHIFT)
        cv2.polylines(img, [pts], True, colour, thickness, cv2.LINE_AA, SHIFT)
    else:
        p0, p1 = part.points
        r0, r1 = part.radii
        d = p1 - p0
        length = float(np.hypot(*d))
        for p, r in ((p0, r0), (p1, r1)):
            c = _fixed(p)
            cv2.circle(img, (int(c[0]), int(c[1])), max(1, int(r * _ONE)), colour, -1, cv2.LINE_AA, SHIFT)
        if length > 1e-6:
            n = np.array([-d[1], d[0]]) / length
            quad = np.stack([p0 + n * r0, p1 + n * r1, p1 - n * r1, p0 - n * r0])
            cv2.fillConvexPoly(img, _fixed(quad), colour, cv2.LINE_AA, SHIFT)


_LIGHT = np.array([-0.45, -0.89])  # light from the upper left, in image coordinates


def _highlight(part: Part) -> Part | None:
    """A narrower, lighter copy of a limb or head shifted toward the light: a cheap cylinder shading."""
    if part.kind not in ("capsule", "ellipse") or max(part.radii) < 2.5:
        return None
    offset = _LIGHT * 0.35 * min(part.radii)
    return Part(
        part.kind,
        part.points + offset,
        tuple(r * 0.5 for r in part.radii),
        shade(part.colour, 1.12),
        part.depth,
        part.angle,
    )


def draw_parts(canvas: np.ndarray, parts: list[Part], mask: np.ndarray | None = None) -> None:
    """Draw projected parts far to near onto an RGB canvas, and the figure's silhouette onto mask (255)."""
    for part in parts:
        _draw_one(canvas, part, part.colour)
        light = _highlight(part)
        if light is not None:
            _draw_one(canvas, light, light.colour)
        if mask is not None:
            _draw_one(mask, part, 255)


def parts_bounds(parts: list[Part]) -> tuple[float, float, float, float]:
    """The pixel extent (x0, y0, x1, y1) the parts cover, before clipping to any frame."""
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for part in parts:
        r = max(part.radii) + 1.0
        x0 = min(x0, float(part.points[:, 0].min()) - r)
        y0 = min(y0, float(part.points[:, 1].min()) - r)
        x1 = max(x1, float(part.points[:, 0].max()) + r)
        y1 = max(y1, float(part.points[:, 1].max()) + r)
    return x0, y0, x1, y1


def mask_box(mask: np.ndarray, threshold: int = 128) -> tuple[int, int, int, int] | None:
    """The tight pixel box (x0, y0, x1, y1), x1/y1 exclusive, of mask pixels >= threshold; None when empty."""
    x, y, w, h = cv2.boundingRect((mask >= threshold).astype(np.uint8))
    return None if w == 0 or h == 0 else (x, y, x + w, y + h)


def draw_figure(canvas: np.ndarray, parts: list[Part]) -> tuple[int, int, int, int] | None:
    """Draw projected parts on canvas (in place) and return their tight pixel box clipped to the frame, or None."""
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = parts_bounds(parts)
    if x1 < 0 or y1 < 0 or x0 >= w or y0 >= h:
        return None
    mask = np.zeros((h, w), np.uint8)
    draw_parts(canvas, parts, mask)
    bx0, by0 = max(0, int(x0)), max(0, int(y0))
    box = mask_box(mask[by0 : min(h, int(math.ceil(y1)) + 1), bx0 : min(w, int(math.ceil(x1)) + 1)])
    if box is None:
        return None
    return box[0] + bx0, box[1] + by0, box[2] + bx0, box[3] + by0
