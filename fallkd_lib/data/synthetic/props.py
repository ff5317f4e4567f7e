"""Park and street furniture drawn with cv2: trees, lamp posts, benches, bins and bushes (and, through
fallkd_lib.data.synthetic.furniture, the room style's beds, chairs, cabinets and tables).

Each prop stands on the ground at (x, y) pixels and is sized by `s`, the height in pixels of a standing
person at that spot, so props and people share one perspective. Props also serve as occluders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from fallkd_lib.data.synthetic.furniture import (
    FURNITURE_KINDS,
    draw_furniture,
    furniture_bounds,
    furniture_params,
)
from fallkd_lib.errors import UsageError

PROP_KINDS = ("tree", "lamp", "bench", "bin", "bush", *FURNITURE_KINDS)
_AA = cv2.LINE_AA


@dataclass
class Prop:
    """One piece of furniture: kind, ground point (pixels), person-height scale and its fixed random looks."""

    kind: str
    x: float
    y: float
    s: float
    params: dict = field(default_factory=dict)

    def bounds(self) -> tuple[float, float, float, float]:
        """Approximate pixel extent (x0, y0, x1, y1)."""
        if self.kind in FURNITURE_KINDS:
            return furniture_bounds(self.kind, self.x, self.y, self.s, self.params)
        w, h = {
            "tree": (1.2, 3.5),
            "lamp": (0.25, 2.6),
            "bench": (1.1, 0.55),
            "bin": (0.35, 0.6),
            "bush": (1.0, 0.6),
        }[self.kind]
        w *= self.params.get("width", 1.0)
        return self.x - w * self.s / 2, self.y - h * self.s, self.x + w * self.s / 2, self.y + 0.05 * self.s


def make_prop(rng: np.random.Generator, kind: str, x: float, y: float, s: float, **params) -> Prop:
    """A prop with its colours and proportions drawn from rng (so drawing it later needs no randomness)."""
    p: dict = {"width": float(rng.uniform(0.8, 1.25))}
    if kind in FURNITURE_KINDS:
        p.update(furniture_params(rng, kind))
    elif kind == "tree":
        p["trunk"] = tuple(int(v) for v in rng.uniform((70, 50, 35), (120, 95, 70)))
        p["leaves"] = [tuple(int(v) for v in rng.uniform((30, 70, 25), (90, 140, 60))) for _ in range(7)]
        p["blobs"] = rng.uniform(-1, 1, (7, 3)).tolist()
        p["height"] = float(rng.uniform(2.2, 3.2))
    elif kind == "lamp":
        p["colour"] = tuple(int(v) for v in rng.uniform((30, 30, 30), (80, 85, 90)))
        p["height"] = float(rng.uniform(2.0, 2.6))
    elif kind == "bench":
        p["wood"] = tuple(int(v) for v in rng.uniform((90, 60, 35), (160, 115, 70)))
        p["metal"] = tuple(int(v) for v in rng.uniform((25, 25, 25), (70, 70, 70)))
        p["seat"] = 0.27 * float(np.cos(np.radians(params.get("elevation", 10.0))))
    elif kind == "bin":
        p["colour"] = tuple(int(v) for v in rng.uniform((20, 50, 20), (90, 110, 90)))
    elif kind == "bush":
        p["leaves"] = [tuple(int(v) for v in rng.uniform((25, 60, 20), (80, 130, 55))) for _ in range(8)]
        p["blobs"] = rng.uniform(-1, 1, (8, 3)).tolist()
        p["height"] = float(rng.uniform(0.3, 0.6))
    else:
        raise UsageError(f"unknown prop kind {kind!r}: choose one of {', '.join(PROP_KINDS)}")
    p.update(params)
    return Prop(kind, float(x), float(y), float(s), p)


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * 16)), int(round(y * 16))


def _rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour) -> None:
    pts = np.round(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) * 16).astype(np.int32)
    cv2.fillConvexPoly(img, pts, colour, _AA, 4)


def _blobs(img: np.ndarray, cx: float, cy: float, rx: float, ry: float, blobs: list, colours: list) -> None:
    for (dx, dy, dr), colour in zip(blobs, colours, strict=False):
        r = max(1.0, (0.55 + 0.2 * dr) * min(rx, ry))
        cv2.circle(img, _pt(cx + dx * rx * 0.6, cy + dy * ry * 0.5), int(r * 16), colour, -1, _AA, 4)


def draw_prop(img: np.ndarray, prop: Prop) -> tuple[float, float] | None:
    """Draw a prop in place; a lamp returns where its light is (pixels), other props None."""
    x, y, s, p = prop.x, prop.y, prop.s, prop.params
    if prop.kind in FURNITURE_KINDS:
        draw_furniture(img, prop.kind, x, y, s, p)
    elif prop.kind == "tree":
        top = y - p["height"] * s
        trunk_w = 0.09 * s * p["width"]
        _rect(img, x - trunk_w / 2, top + 0.6 * s, x + trunk_w / 2, y, p["trunk"])
        _blobs(img, x, top + 0.45 * s, 0.75 * s * p["width"], 0.65 * s, p["blobs"], p["leaves"])
    elif prop.kind == "lamp":
        top = y - p["height"] * s
        w = max(1.0, 0.035 * s)
        _rect(img, x - w / 2, top, x + w / 2, y, p["colour"])
        _rect(img, x - w * 1.4, y - 0.08 * s, x + w * 1.4, y, p["colour"])
        cv2.ellipse(
            img, _pt(x, top), (int(0.09 * s * 16), int(0.05 * s * 16)), 0, 0, 360, (235, 230, 200), -1, _AA, 4
        )
        return x, top
    elif prop.kind == "bench":
        half, e = 0.5 * s * p["width"], np.radians(p.get("elevation", 10.0))
        front = y - p["seat"] * s
        dy = 0.22 * s * np.sin(e)  # the seat's depth, seen from above
        back = front - dy
        legs = [x - half * 0.8, x + half * 0.8]
        for lx in legs:  # back legs and backrest posts
            _rect(img, lx - 0.02 * s, back - 0.3 * s * np.cos(e), lx + 0.02 * s, y - dy, p["metal"])
        for k in range(3):  # backrest slats
            yy = back - (0.1 + 0.08 * k) * s * np.cos(e)
            _rect(img, x - half, yy - 0.025 * s, x + half, yy + 0.025 * s, p["wood"])
        top = tuple(min(255, int(c * 1.15)) for c in p["wood"])
        seat = np.round(
            np.array([[x - half, front], [x + half, front], [x + half, back], [x - half, back]]) * 16
        )
        cv2.fillConvexPoly(img, seat.astype(np.int32), top, _AA, 4)
        _rect(img, x - half, front - 0.015 * s, x + half, front + 0.035 * s, p["wood"])
        for lx in legs:  # front legs
            _rect(img, lx - 0.022 * s, front, lx + 0.022 * s, y, p["metal"])
    elif prop.kind == "bin":
        w, h = 0.16 * s * p["width"], 0.55 * s
        _rect(img, x - w, y - h, x + w, y, p["colour"])
        dark = tuple(int(c * 0.6) for c in p["colour"])
        cv2.ellipse(img, _pt(x, y - h), (int(w * 16), int(w * 0.35 * 16)), 0, 0, 360, dark, -1, _AA, 4)
    else:
        rx, ry = 0.5 * s * p["width"], p["height"] * s  # the bush stays within about ry of the ground
        for (dx, dy, dr), colour in zip(p["blobs"], p["leaves"], strict=False):
            r = max(1.0, 0.42 * ry * (1.0 + 0.2 * dr))
            cv2.circle(
                img,
                _pt(x + dx * max(rx - r, 0.0), y - 0.45 * ry + dy * 0.1 * ry),
                int(r * 16),
                colour,
                -1,
                _AA,
                4,
            )
        base = (int(rx * 16), int(ry * 0.35 * 16))
        cv2.ellipse(img, _pt(x, y - ry * 0.3), base, 0, 0, 360, p["leaves"][0], -1, _AA, 4)
    return None
