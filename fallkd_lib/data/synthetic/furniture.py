"""Indoor furniture drawn with cv2: beds (with a pillow, a blanket and rails), chairs, cabinets and tables.

Like the park props, each piece stands on the floor at (x, y) pixels, sized by `s`, the height in pixels of a
standing person there, and seen from the camera's elevation `e`: a box's top is foreshortened by sin(e), its
front by cos(e). Beds, chairs and cabinets are the things a person detector must learn are not people.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FURNITURE_KINDS = ("bed", "chair", "cabinet", "table")
BED_TOP = 0.32  # mattress top over the floor, in standing heights (about 0.55 m)
BED_SIZE = (0.55, 1.2)  # width and length in standing heights (about 0.95 x 2.05 m)
SIZE = {
    "chair": (0.35, 0.9),
    "table": (0.8, 0.9),
}  # bounds (w, h) in standing heights; beds and cabinets: computed
_AA = cv2.LINE_AA


def _colour(rng: np.random.Generator, lo: tuple[int, int, int], hi: tuple[int, int, int]) -> tuple[int, ...]:
    return tuple(int(v) for v in rng.uniform(lo, hi))


def furniture_params(rng: np.random.Generator, kind: str) -> dict:
    """A piece's fixed random looks (colours, proportions), so drawing it later needs no randomness."""
    wood = _colour(rng, (90, 60, 35), (200, 160, 115))
    if kind == "bed":
        sheets = [(235, 235, 230), (240, 200, 210), (190, 215, 235), (200, 225, 200), (230, 225, 200)]
        return {
            "along": bool(rng.random() < 0.6),  # long axis toward the camera, else across the view
            "head_left": bool(rng.random() < 0.5),  # an across bed's head end
            "frame": wood if rng.random() < 0.35 else _colour(rng, (170, 175, 175), (235, 235, 230)),
            "sheet": tuple(int(c) for c in sheets[int(rng.integers(len(sheets)))]),
            "blanket": _colour(rng, (60, 60, 60), (235, 230, 225)),
            "cover": float(rng.uniform(0.4, 0.75)),  # share of the mattress under the blanket
            "rails": bool(rng.random() < 0.5),  # a care bed's side rails
        }
    if kind == "chair":
        return {"colour": wood if rng.random() < 0.5 else _colour(rng, (30, 30, 35), (150, 150, 160))}
    if kind == "cabinet":
        return {
            "colour": wood if rng.random() < 0.6 else _colour(rng, (170, 170, 165), (240, 240, 235)),
            "tall": float(rng.uniform(0.45, 1.15)),
            "drawers": int(rng.integers(1, 5)),
        }
    return {"colour": wood, "top": float(rng.uniform(0.4, 0.48))}


def bed_extent(p: dict, s: float, e: float) -> tuple[float, float, float]:
    """A bed's image width, its top's depth (rows) and its mattress height (rows) in pixels."""
    across, along = BED_SIZE if p["along"] else BED_SIZE[::-1]  # image width, ground depth (standing heights)
    width = across * s * p.get("width", 1.0)
    return width, along * s * math.sin(math.radians(e)), BED_TOP * s * math.cos(math.radians(e))


def _poly(img: np.ndarray, pts: list[tuple[float, float]], colour) -> None:
    cv2.fillConvexPoly(img, np.round(np.array(pts) * 16).astype(np.int32), colour, _AA, 4)


def _box(
    img: np.ndarray, x: float, y: float, w: float, d: float, h: float, colour, lift: float = 0.0
) -> None:
    """A box seen from above and the front: front face (w x h) standing at row y - lift, top of depth d behind."""
    front, top = tuple(int(c * 0.78) for c in colour), tuple(min(255, int(c * 1.08)) for c in colour)
    y0 = y - lift
    _poly(img, [(x - w / 2, y0), (x + w / 2, y0), (x + w / 2, y0 - h), (x - w / 2, y0 - h)], front)
    _poly(
        img,
        [(x - w / 2, y0 - h), (x + w / 2, y0 - h), (x + 0.46 * w, y0 - h - d), (x - 0.46 * w, y0 - h - d)],
        top,
    )


def _line(img: np.ndarray, a: tuple[float, float], b: tuple[float, float], colour, width: float) -> None:
    cv2.line(
        img,
        (int(a[0] * 16), int(a[1] * 16)),
        (int(b[0] * 16), int(b[1] * 16)),
        colour,
        max(1, int(round(width))),
        _AA,
        4,
    )


def draw_bed(img: np.ndarray, x: float, y: float, s: float, e: float, p: dict) -> None:
    """A bed whose foot end (along) or near side (across) stands on row y; draws frame, mattress and pillow."""
    w, d, h = bed_extent(p, s, e)
    ce = math.cos(math.radians(e))
    frame, sheet = p["frame"], p["sheet"]
    for lx in (x - 0.45 * w, x + 0.45 * w):  # legs under the frame
        _line(img, (lx, y), (lx, y - 0.5 * h), tuple(int(c * 0.6) for c in frame), 0.03 * s)
    _box(img, x, y, w, d, 0.2 * h, frame, lift=0.5 * h)  # the frame under the mattress
    _box(img, x, y, w, d, 0.3 * h, sheet, lift=0.7 * h)  # the mattress: its top at row y - h
    board = 0.28 * s * ce
    if p["along"]:  # headboard at the far end, pillow before it
        top_y = y - h - d
        _poly(
            img,
            [
                (x - 0.47 * w, top_y),
                (x + 0.47 * w, top_y),
                (x + 0.47 * w, top_y - board),
                (x - 0.47 * w, top_y - board),
            ],
            frame,
        )
        cv2.ellipse(
            img,
            (int(x * 16), int((top_y + 0.12 * d) * 16)),
            (int(0.3 * w * 16), int(max(1, 0.08 * d) * 16)),
            0,
            0,
            360,
            (245, 245, 242),
            -1,
            _AA,
            4,
        )
    else:  # headboard at one end, pillow beside it
        hx = x - 0.5 * w if p["head_left"] else x + 0.5 * w
        _poly(
            img,
            [
                (hx, y - 0.3 * h),
                (hx, y - h - d - board),
                (hx + (4 if p["head_left"] else -4), y - h - d - board),
                (hx + (4 if p["head_left"] else -4), y - 0.3 * h),
            ],
            frame,
        )
        px = hx + (0.1 if p["head_left"] else -0.1) * w
        cv2.ellipse(
            img,
            (int(px * 16), int((y - h - 0.5 * d) * 16)),
            (int(0.07 * w * 16), int(max(1, 0.35 * d) * 16)),
            0,
            0,
            360,
            (245, 245, 242),
            -1,
            _AA,
            4,
        )


def draw_blanket(img: np.ndarray, x: float, y: float, s: float, e: float, p: dict) -> None:
    """The blanket over a bed's foot end, drawn after its occupant so that it covers their legs."""
    w, d, h = bed_extent(p, s, e)
    c, side = p["blanket"], tuple(int(v * 0.8) for v in p["blanket"])
    bump = 0.06 * s * math.cos(math.radians(e))
    if p["along"]:
        k = p["cover"]
        _poly(
            img,
            [
                (x - 0.5 * w, y - h - bump),
                (x + 0.5 * w, y - h - bump),
                (x + 0.48 * w, y - h - k * d - bump),
                (x - 0.48 * w, y - h - k * d - bump),
            ],
            c,
        )
        _poly(
            img,
            [
                (x - 0.5 * w, y - h - bump),
                (x + 0.5 * w, y - h - bump),
                (x + 0.5 * w, y - 0.4 * h),
                (x - 0.5 * w, y - 0.4 * h),
            ],
            side,
        )
    else:
        k = p["cover"] * w
        x0, x1 = (x + 0.5 * w - k, x + 0.5 * w) if p["head_left"] else (x - 0.5 * w, x - 0.5 * w + k)
        _poly(
            img, [(x0, y - h - bump), (x1, y - h - bump), (x1, y - h - d - bump), (x0, y - h - d - bump)], c
        )
        _poly(img, [(x0, y - h - bump), (x1, y - h - bump), (x1, y - 0.4 * h), (x0, y - 0.4 * h)], side)
    if p["rails"]:
        rail = tuple(int(v) for v in np.clip(np.array(p["frame"]) * 1.1, 0, 255))
        ry = y - h - 0.16 * s * math.cos(math.radians(e))
        _line(img, (x - 0.5 * w, ry), (x + 0.5 * w, ry), rail, 0.02 * s)


def draw_furniture(img: np.ndarray, kind: str, x: float, y: float, s: float, p: dict) -> None:
    """Draw one piece of indoor furniture in place (its blanket, for a bed, with draw_blanket)."""
    e = p.get("elevation", 30.0)
    ce, se = math.cos(math.radians(e)), math.sin(math.radians(e))
    c = p.get("colour", (120, 100, 80))
    dark = tuple(int(v * 0.6) for v in c)
    if kind == "bed":
        draw_bed(img, x, y, s, e, p)
    elif kind == "chair":
        w, seat = 0.3 * s * p.get("width", 1.0), p.get("seat", 0.27 * ce) * s
        for lx in (x - 0.42 * w, x + 0.42 * w):
            _line(img, (lx, y), (lx, y - seat), dark, 0.025 * s)
        back = y - seat - 0.25 * s * se
        for lx in (x - 0.42 * w, x + 0.42 * w):
            _line(img, (lx, back), (lx, back - 0.3 * s * ce), dark, 0.025 * s)
        _poly(
            img,
            [
                (x - w / 2, back - 0.18 * s * ce),
                (x + w / 2, back - 0.18 * s * ce),
                (x + w / 2, back - 0.32 * s * ce),
                (x - w / 2, back - 0.32 * s * ce),
            ],
            c,
        )
        _box(img, x, y - seat + 0.03 * s * ce, w, 0.25 * s * se, 0.04 * s * ce, c)
    elif kind == "cabinet":
        w, h = 0.5 * s * p.get("width", 1.0), p["tall"] * s * ce
        _box(img, x, y, w, 0.3 * s * se, h, c)
        for k in range(1, p["drawers"]):
            yy = y - k * h / p["drawers"]
            _line(img, (x - 0.5 * w, yy), (x + 0.5 * w, yy), dark, 0.01 * s)
        for k in range(p["drawers"]):
            yy = y - (k + 0.5) * h / p["drawers"]
            _line(img, (x - 0.06 * w, yy), (x + 0.06 * w, yy), (200, 200, 195), 0.015 * s)
    else:
        w, top = 0.7 * s * p.get("width", 1.0), p["top"] * s * ce
        for lx in (x - 0.45 * w, x + 0.45 * w):
            _line(img, (lx, y), (lx, y - top), dark, 0.03 * s)
        _box(img, x, y - top + 0.04 * s * ce, w, 0.4 * s * se, 0.04 * s * ce, c)


def furniture_bounds(kind: str, x: float, y: float, s: float, p: dict) -> tuple[float, float, float, float]:
    """A piece's approximate pixel extent (x0, y0, x1, y1)."""
    if kind == "bed":
        w, d, h = bed_extent(p, s, p.get("elevation", 30.0))
        top = y - h - d - 0.28 * s * math.cos(math.radians(p.get("elevation", 30.0)))
        return x - w / 2, top, x + w / 2, y + 0.02 * s
    if kind == "cabinet":
        w, h = 0.5, p["tall"] + 0.3
    else:
        w, h = SIZE[kind]
    w *= p.get("width", 1.0)
    return x - w * s / 2, y - h * s, x + w * s / 2, y + 0.02 * s
