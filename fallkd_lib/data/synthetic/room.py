"""Indoor backdrops: a floor in perspective (wood, tiles, vinyl or carpet), a back wall and sometimes a side wall,
with doors, windows, curtains and pictures on them. The room style's camera hangs high in a corner, as in a care
home or a flat; its walls carry the shapes (frames, doors, hanging clothes) a person detector must not take for
people."""

from __future__ import annotations

import math

import cv2
import numpy as np

from fallkd_lib.data.synthetic.background import Camera, ground_texture, smooth_noise

FLOORS = ("wood", "tiles", "vinyl", "carpet")


def _rgb(rng: np.random.Generator, lo: tuple[int, int, int], hi: tuple[int, int, int]) -> np.ndarray:
    return rng.uniform(lo, hi).astype(np.float32)


def _floor_colour(rng: np.random.Generator, floor: str) -> np.ndarray:
    return {
        "wood": lambda: _rgb(rng, (110, 70, 40), (200, 150, 100)),
        "tiles": lambda: _rgb(rng, (150, 145, 135), (225, 220, 210)),
        "vinyl": lambda: _rgb(rng, (70, 80, 90), (170, 180, 180)),
        "carpet": lambda: _rgb(rng, (60, 55, 55), (150, 130, 120)),
    }[floor]()


def wall_row(rng: np.random.Generator, camera: Camera) -> float:
    """Where the floor meets the back wall (image row, fraction): far enough to leave the floor most of the view."""
    top = max(camera.horizon, 0.0) + 0.06
    return float(rng.uniform(top, max(top + 0.02, 0.45)))


def _floor_lines(
    rng: np.random.Generator, img: np.ndarray, size: int, camera: Camera, floor: str, wall: float, colour
) -> None:
    """Plank or tile joints: lines toward the vanishing point and, for tiles, rows at even steps of distance."""
    if floor == "carpet":
        return
    h, vx = camera.horizon * size, rng.uniform(0.2, 0.8) * size
    line = (colour * rng.uniform(0.6, 0.85)).tolist()
    spacing = rng.uniform(0.04, 0.09 if floor == "wood" else 0.16) * size
    for x in np.arange(vx % spacing - 6 * size, 7 * size, spacing):  # joints run away from the camera
        t = (wall - h) / max(size - h, 1.0)
        cv2.line(img, (int(vx + (x - vx) * t), int(wall)), (int(x), size), line, 1, cv2.LINE_AA)
    if floor == "tiles":
        step = rng.uniform(0.15, 0.35)
        for k in range(1, 80):
            y = (camera.horizon + (1.0 - camera.horizon) / (k * step + 0.1)) * size
            if y < wall:
                break
            if y < size:
                cv2.line(img, (0, int(y)), (size, int(y)), line, 1, cv2.LINE_AA)


def _rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour) -> None:
    cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), colour, -1)


def _wall_things(rng: np.random.Generator, img: np.ndarray, size: int, wall: float, s: float, wall_c) -> None:
    """Doors, windows, curtains and pictures on the back wall, sized by s, a standing person's height at its foot."""
    things = rng.choice(
        ["door", "window", "curtain", "picture", "picture", "coat"], size=int(rng.integers(1, 5))
    )
    for kind in things:
        x = rng.uniform(-0.1, 1.0) * size
        if kind == "door":
            w, h = 0.5 * s, 1.2 * s
            frame = (wall_c * rng.uniform(0.6, 0.9)).tolist()
            _rect(img, x - 0.06 * s, wall - h - 0.06 * s, x + w + 0.06 * s, wall, frame)
            door = _rgb(rng, (90, 60, 40), (235, 230, 220))
            if rng.random() < 0.3:  # a glass door: the room behind shows through, darker
                door = wall_c * rng.uniform(0.35, 0.6)
            _rect(img, x, wall - h, x + w, wall, door.tolist())
            cv2.circle(
                img, (int(x + 0.85 * w), int(wall - 0.55 * s)), max(1, int(0.025 * s)), (200, 200, 190), -1
            )
        elif kind == "window":
            w, bottom, top = rng.uniform(0.5, 1.0) * s, wall - 0.5 * s, wall - 1.25 * s
            _rect(img, x - 0.04 * s, top - 0.04 * s, x + w + 0.04 * s, bottom + 0.04 * s, (235, 235, 230))
            sky = (
                _rgb(rng, (150, 180, 200), (235, 240, 250))
                if rng.random() < 0.7
                else _rgb(rng, (20, 25, 40), (60, 70, 90))
            )
            _rect(img, x, top, x + w, bottom, sky.tolist())
            cv2.line(
                img,
                (int(x + w / 2), int(top)),
                (int(x + w / 2), int(bottom)),
                (235, 235, 230),
                max(1, int(0.03 * s)),
            )
        elif kind == "curtain":  # a care room's bed curtain or a window's drape, hanging in folds
            w = rng.uniform(0.3, 1.2) * s
            c = _rgb(rng, (120, 140, 150), (230, 230, 225))
            cols = np.arange(int(x), int(x + w))
            folds = 0.85 + 0.15 * np.sin((cols - x) / max(0.06 * s, 1.0) * math.pi)
            y0, y1 = max(0, int(wall - 1.4 * s)), max(0, int(wall - rng.uniform(0.0, 0.3) * s))
            for col, f in zip(cols, folds, strict=True):
                if 0 <= col < size:
                    img[y0:y1, col] = c * f
        elif kind == "coat":  # clothes on a hook: a person-sized, person-coloured shape that is not a person
            c = _rgb(rng, (20, 20, 30), (200, 60, 60))
            top = wall - 1.05 * s
            pts = np.array(
                [
                    [x, top],
                    [x + 0.12 * s, top],
                    [x + 0.16 * s, top + 0.55 * s],
                    [x - 0.04 * s, top + 0.55 * s],
                ]
            )
            cv2.fillConvexPoly(img, np.round(pts).astype(np.int32), c.tolist(), cv2.LINE_AA)
        else:
            w, h = rng.uniform(0.15, 0.45) * s, rng.uniform(0.12, 0.35) * s
            y = wall - rng.uniform(0.9, 1.2) * s
            _rect(img, x - 0.02 * s, y - 0.02 * s, x + w + 0.02 * s, y + h + 0.02 * s, (40, 35, 30))
            art = (
                smooth_noise(rng, (max(1, int(h)), max(1, int(w))), (3, 3)) * 40
                + _rgb(rng, (60, 60, 60), (220, 200, 180)).mean()
            )
            ya, xa = int(max(y, 0)), int(max(x, 0))
            yb, xb = int(min(y + art.shape[0], size)), int(min(x + art.shape[1], size))
            if yb > ya and xb > xa:
                tint = _rgb(rng, (0.6, 0.6, 0.6), (1.2, 1.2, 1.2))
                img[ya:yb, xa:xb] = art[ya - int(y) : yb - int(y), xa - int(x) : xb - int(x), None] * tint


def draw_room(rng: np.random.Generator, size: int, camera: Camera) -> tuple[np.ndarray, float]:
    """Floor, walls and what hangs on them: an RGB uint8 image and the floor's far edge (image row, pixels)."""
    wall = wall_row(rng, camera) * size
    img = np.empty((size, size, 3), np.float32)
    wall_c = _rgb(rng, (150, 140, 120), (245, 240, 230))
    if rng.random() < 0.3:
        wall_c = _rgb(rng, (120, 150, 140), (230, 235, 200))  # a coloured wall
    img[: int(wall)] = wall_c + smooth_noise(rng, (int(wall), size), (3, 6))[..., None] * rng.uniform(2, 8)
    floor = str(rng.choice(FLOORS, p=[0.35, 0.3, 0.2, 0.15]))
    colour = _floor_colour(rng, floor)
    rows = slice(int(wall), size)
    tex = ground_texture(rng, size, camera, rows) * (
        rng.uniform(4, 12) if floor in ("wood", "carpet") else rng.uniform(1, 4)
    )
    shine = np.linspace(rng.uniform(-15, 5), rng.uniform(-5, 20), size - int(wall), dtype=np.float32)[:, None]
    img[rows] = colour + (tex + shine)[..., None]
    _floor_lines(rng, img, size, camera, floor, wall, colour)
    s_wall = camera.person_height(wall / size) * size
    cv2.line(
        img, (0, int(wall)), (size, int(wall)), (wall_c * 0.6).tolist(), max(1, int(0.04 * s_wall))
    )  # skirting
    _wall_things(rng, img, size, wall, s_wall, wall_c)
    if rng.random() < 0.5:  # a side wall, its foot running from the corner toward the camera
        left = rng.random() < 0.5
        corner = rng.uniform(0.05, 0.35) * size
        corner = corner if left else size - corner
        vx, h = rng.uniform(0.3, 0.7) * size, camera.horizon * size
        t = (size - h) / max(wall - h, 1.0)
        bottom = vx + (corner - vx) * t
        edge = 0 if left else size
        pts = np.array([[corner, wall], [bottom, size], [edge, size], [edge, 0], [corner, 0]])
        shade = wall_c * rng.uniform(0.75, 0.95)
        cv2.fillPoly(img, [np.round(pts).astype(np.int32)], shade.tolist(), cv2.LINE_AA)
        cv2.line(
            img,
            (int(corner), int(wall)),
            (int(bottom), size),
            (shade * 0.6).tolist(),
            max(1, int(0.03 * s_wall)),
        )
    return np.clip(img, 0, 255).astype(np.uint8), wall
