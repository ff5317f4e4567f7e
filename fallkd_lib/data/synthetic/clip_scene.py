"""The scene of a clip: who is in it (`cast`), the static backdrop, and drawing frames fast.

A person is drawn once per distinct pose (a `_Sprite`: premultiplied colour, coverage and a ground shadow) and
pasted at whole-pixel anchors after that, so a person lying still, sitting or walking (the gait cycle has
`motion.PHASES` poses) costs a copy per frame, not a redraw.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import cv2
import numpy as np

from fallkd_lib.data.synthetic.background import Camera, draw_backdrop
from fallkd_lib.data.synthetic.draw import draw_parts, mask_box, parts_bounds
from fallkd_lib.data.synthetic.figure import Look, Pose, project_figure, skeleton
from fallkd_lib.data.synthetic.motion import Script, Track, u
from fallkd_lib.data.synthetic.poses import is_fall, sample_look
from fallkd_lib.data.synthetic.props import draw_prop, make_prop
from fallkd_lib.data.synthetic.scene import SPECS

HEIGHTS = {"park": (0.2, 0.45), "cctv": (0.14, 0.32)}  # standing height as a fraction of the frame
LIGHTS = {
    "park": {"day": 0.6, "overcast": 0.25, "dusk": 0.15},
    "cctv": {"day": 0.45, "overcast": 0.25, "ir": 0.3},
}
CACHE = 400  # drawn people kept per clip


@dataclass
class Actor:
    """One person in a clip: id, role, script, clothes, ground row and the camera's look-down angle there."""

    pid: int
    role: str  # "faller", "sitter" or "walker"
    track: Track
    look: Look
    row: float  # foot row in pixels
    elevation: float  # degrees the camera looks down at the row
    bench: bool = False


@dataclass(frozen=True)
class _Sprite:
    """A drawn person (premultiplied colour and coverage) and its ground shadow, placed relative to the anchor."""

    x: int
    y: int
    paint: np.ndarray  # h x w x 3 uint8, colour times coverage
    mask: np.ndarray  # h x w uint8 coverage
    sx: int
    sy: int
    shade: np.ndarray  # h x w x 1 float32, what the shadow leaves of the light


def _walker(rng: np.random.Generator, size: int, s: float, seconds: float) -> Script:
    script = Script(rng, u(rng, 0.1, 0.9) * size, s, int(rng.choice([-1, 1])))
    return script.pace(seconds, u(rng, 0.05, 0.25) * size, u(rng, 0.75, 0.95) * size)


def _arrive(
    rng: np.random.Generator, size: int, s: float, seconds: float, share: tuple[float, float]
) -> Script:
    """A person who walks for a share of the clip (1 to 5 s) to a spot near the middle of the frame."""
    script = Script(rng, 0.0, s, int(rng.choice([-1, 1])))
    walk = min(5.0, max(1.0, u(rng, *share) * seconds))
    script.x = u(rng, 0.35, 0.65) * size - script.heading * script.speed_px() * walk
    return script.walk_for(walk)


def cast(
    rng: np.random.Generator, scenario: str, heights: list[float], size: int, seconds: float
) -> list[tuple[str, Script, bool]]:
    """The people of a scenario, one per standing height in pixels: (role, finished script, sits on a bench)."""
    faller = int(rng.integers(len(heights))) if scenario == "crowd" else 0
    people = []
    for pid, s in enumerate(heights):
        bench = False
        if scenario in ("fall_stay", "fall_recover") or (scenario == "crowd" and pid == faller):
            recover = scenario == "fall_recover"
            role, script = "faller", _arrive(rng, size, s, seconds, (0.12, 0.2) if recover else (0.15, 0.25))
            script.fall()
            if recover:
                script.hold(script.t + u(rng, 2.5, 3.5)).get_up().stand(u(rng, 0.3, 0.6))
                script.pace(seconds, 0.05 * size, 0.95 * size)
            script.hold(seconds)
        elif scenario == "sit":
            role, script = "sitter", _arrive(rng, size, s, seconds, (0.2, 0.3))
            bench = bool(rng.random() < 0.6)
            facing = u(rng, -35, 35) if bench else script.heading * u(rng, 30, 90)
            script.sit(bench, facing).hold(seconds)
        else:
            role, script = "walker", _walker(rng, size, s, seconds)
        people.append((role, script, bench))
    return people


def _rows(rng: np.random.Generator, camera: Camera, size: int, n: int, style: str) -> list[float]:
    """Foot rows (fractions of the frame) for n people, far to near, at least 6 % of the frame apart."""
    lo, hi = (camera.foot_row(h) for h in HEIGHTS[style])
    lo, hi = max(lo, 0.45), min(hi, 0.9)
    if hi - lo < 0.06 * n:
        lo, hi = max(0.45, min(lo, 0.9 - 0.06 * n)), 0.9
    for _ in range(100):
        rows = np.sort(rng.uniform(lo, hi, n))
        if n == 1 or np.diff(rows).min() >= 0.06:
            return [float(r) for r in rows]
    return [float(r) for r in np.linspace(lo, hi, n)]


def make_actors(
    rng: np.random.Generator, scenario: str, camera: Camera, size: int, seconds: float, style: str
) -> list[Actor]:
    """The people of a scenario clip, placed on ground rows and dressed."""
    n = {"walk": int(rng.integers(1, 3)), "crowd": int(rng.integers(2, 4))}.get(scenario, 1)
    rows = _rows(rng, camera, size, n, style)
    people = cast(rng, scenario, [camera.person_height(r) * size for r in rows], size, seconds)
    return [
        Actor(pid, role, script.track(), sample_look(rng), row * size, camera.elevation(row), bench)
        for pid, ((role, script, bench), row) in enumerate(zip(people, rows, strict=True))
    ]


def draw_background(
    rng: np.random.Generator, camera: Camera, size: int, style: str, actors: list[Actor]
) -> np.ndarray:
    """The static backdrop, with furniture only behind every person, and the sitter's bench."""
    canvas = draw_backdrop(rng, size, camera, style)
    far = min(a.row for a in actors) / size - 0.03
    props = []
    for kind, most in SPECS[style].props.items():
        for _ in range(int(rng.integers(0, most + 1))):
            fy = float(rng.uniform(max(camera.horizon, 0.0) + 0.02, far))
            s = camera.person_height(fy) * size
            if fy < far and s >= 6:
                x = rng.uniform(-0.05, 1.05) * size
                props.append(make_prop(rng, kind, x, fy * size, s, elevation=camera.elevation(fy)))
    for a in (a for a in actors if a.bench):
        pose, x, _, _ = a.track.at(math.inf)
        e, s = a.elevation, a.track.s
        seat = float(skeleton(pose)["pelvis"][1]) * math.cos(math.radians(e)) - 0.03
        y = a.row + 0.1 * s * math.sin(math.radians(e))
        props.append(make_prop(rng, "bench", x, y, s, seat=seat, elevation=e))
    for prop in sorted(props, key=lambda p: p.y):
        draw_prop(canvas, prop)
    return canvas


def _sprite(pose: Pose, look: Look, s: float, elevation: float, shadow: float) -> _Sprite:
    """Draw a person once, upright in the image, at anchor (0, 0) on a small black canvas; and its shadow."""
    parts = project_figure(pose, look, (0.0, 0.0), s, elevation)
    x0, y0, x1, y1 = parts_bounds(parts)
    x, y = math.floor(x0) - 1, math.floor(y0) - 1
    paint = np.zeros((math.ceil(y1) - y + 2, math.ceil(x1) - x + 2, 3), np.uint8)
    mask = np.zeros(paint.shape[:2], np.uint8)
    draw_parts(paint, [replace(p, points=p.points - (x, y)) for p in parts], mask)
    ground = np.array([[p[0], p[2]] for p in skeleton(pose).values()]) * s
    se = math.sin(math.radians(elevation))
    xs, ys = ground[:, 0], ground[:, 1] * se
    rx, ry = np.ptp(xs) / 2 + 0.14 * s, np.ptp(ys) / 2 + 0.03 * s + 0.08 * s * se
    pad = int(rx + ry) // 4 + 2
    sx, sy = math.floor(xs.mean() - rx) - pad, math.floor(ys.mean() - ry) - pad
    m = np.zeros((int(2 * ry) + 2 * pad + 2, int(2 * rx) + 2 * pad + 2), np.float32)
    centre = (int(xs.mean() - sx), int(ys.mean() - sy))
    cv2.ellipse(m, centre, (max(1, int(rx)), max(1, int(ry))), 0, 0, 360, 1.0, -1)
    m = cv2.GaussianBlur(m, (0, 0), max(0.5, ry * 0.5))
    return _Sprite(x, y, paint, mask, sx, sy, (1.0 - shadow * m)[..., None])


def _tilted(sprite: _Sprite, tilt: float) -> _Sprite:
    """The person turned `tilt` degrees about the anchor (how a high camera leans verticals), shadow unchanged."""
    if abs(tilt) < 0.25:
        return sprite
    h, w = sprite.mask.shape
    c, s = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
    rot = np.array([[c, -s], [s, c]])
    corners = (np.array([[0, 0], [w, 0], [0, h], [w, h]]) + (sprite.x, sprite.y)) @ rot.T
    x, y = np.floor(corners.min(axis=0)).astype(int) - 1
    size = tuple(int(v) for v in np.ceil(corners.max(axis=0)) - (x, y) + 2)
    m = np.hstack([rot, (rot @ (sprite.x, sprite.y) - (x, y))[:, None]])
    paint = cv2.warpAffine(sprite.paint, m, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(sprite.mask, m, size, flags=cv2.INTER_LINEAR)
    return _Sprite(int(x), int(y), paint, mask, sprite.sx, sprite.sy, sprite.shade)


def _window(
    size: int, x: int, y: int, shape: tuple[int, ...]
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """The frame slices and the patch slices where a patch at (x, y) overlaps the frame, or None."""
    x0, y0, x1, y1 = max(0, x), max(0, y), min(size, x + shape[1]), min(size, y + shape[0])
    if x1 <= x0 or y1 <= y0:
        return None
    return (slice(y0, y1), slice(x0, x1)), (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))


def _paste(
    frame: np.ndarray, sprite: _Sprite, anchor: tuple[float, float], who: np.ndarray, pid: int
) -> tuple[tuple[int, int, int, int], int] | None:
    """Shadow and person onto the frame at the anchor (whole pixels), marking its pixels with pid in `who`;
    the person's tight box in the frame and pixel count, or None when it is out of the frame."""
    size, ax, ay = frame.shape[0], round(anchor[0]), round(anchor[1])
    win = _window(size, ax + sprite.sx, ay + sprite.sy, sprite.shade.shape)
    if win is not None:
        frame[win[0]] = (frame[win[0]] * sprite.shade[win[1]]).astype(np.uint8)
    win = _window(size, ax + sprite.x, ay + sprite.y, sprite.mask.shape)
    if win is None:
        return None
    (fy, fx), patch = win
    cover = sprite.mask[patch][..., None] * np.float32(1 / 255)
    frame[fy, fx] = np.minimum(frame[fy, fx] * (1 - cover) + sprite.paint[patch] + 0.5, 255).astype(np.uint8)
    solid = sprite.mask[patch] >= 128
    box = mask_box(sprite.mask[patch])
    if box is None:
        return None
    who[fy, fx][solid] = pid
    return (box[0] + fx.start, box[1] + fy.start, box[2] + fx.start, box[3] + fy.start), int(solid.sum())


def _lighting(rng: np.random.Generator, style: str) -> tuple[str, np.ndarray]:
    """A lighting mode and its 3 x 4 colour matrix (RGB out = M @ [R, G, B, 1])."""
    odds = LIGHTS[style]
    mode = str(rng.choice(list(odds), p=list(odds.values())))
    m = np.zeros((3, 4), np.float32)
    if mode == "day":
        m[:, :3] = np.diag(rng.uniform(0.9, 1.1) * rng.uniform(0.95, 1.05, 3))
    elif mode == "overcast":
        a, b = rng.uniform(0.5, 0.8), rng.uniform(0.7, 0.9)
        m[:, :3] = b * (a * np.eye(3) + (1 - a) / 3.0)
        m[:, 3] = (1 - b) * 110.0
    elif mode == "dusk":
        m[:, :3] = np.diag([1.0, rng.uniform(0.75, 0.85), rng.uniform(0.55, 0.7)]) * rng.uniform(0.6, 0.8)
    else:  # infrared: grey, skin and leaves bright
        m[:, :3] = np.array([0.25, 0.55, 0.2]) * rng.uniform(0.9, 1.3)
    return mode, m


def _noise_bank(
    rng: np.random.Generator, size: int, sigma: float, k: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """k frames of sensor noise with some chroma, split into positive and negative uint8 parts."""
    n = rng.standard_normal((k, size, size)).astype(np.float32) * sigma
    rgb = np.stack([n, 0.75 * n + 0.35 * n[:, ::-1], 0.75 * n + 0.35 * n[:, :, ::-1]], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8), np.clip(-rgb, 0, 255).astype(np.uint8)


def render_frames(
    rng: np.random.Generator,
    camera: Camera,
    size: int,
    style: str,
    actors: list[Actor],
    n_frames: int,
    fps: float,
) -> Iterator[tuple[np.ndarray, list[dict]]]:
    """Yield each frame (RGB) with the people in it: id, tight box xyxy (x1, y1 exclusive), posture, is_fall
    and visible (the share of the body's pixels that no nearer person hides)."""
    backdrop = draw_background(rng, camera, size, style, actors)
    lighting, matrix = _lighting(rng, style)
    shadow = {"day": 0.45, "dusk": 0.35}.get(lighting, 0.2)
    poor = style == "cctv"
    small = int(size * rng.uniform(0.5, 0.75)) if poor else size
    blur = float(rng.uniform(0.5, 0.8)) if rng.random() < 0.5 else 0.0
    pos, neg = _noise_bank(rng, size, float(rng.uniform(3, 6) if poor else rng.uniform(1.5, 3.5)))
    pick = rng.integers(len(pos), size=n_frames)
    clock = int(rng.integers(0, 86400)) if poor and rng.random() < 0.7 else None
    cache: dict[tuple, _Sprite] = {}
    for i in range(n_frames):
        t, frame, people, states = i / fps, backdrop.copy(), [], []
        who = np.full((size, size), -1, np.int16)  # which person each pixel shows
        for a in actors:
            pose, x, z, posture = a.track.at(t)
            y = a.row + a.track.s * z * math.sin(math.radians(a.elevation))  # z: toward the camera
            states.append((a, pose, (x, y), posture))
        for a, pose, anchor, posture in sorted(states, key=lambda st: st[2][1]):  # far to near
            if len(cache) > CACHE:
                cache.clear()
            if (a.pid, pose) not in cache:
                cache[a.pid, pose] = _sprite(pose, a.look, a.track.s, a.elevation, shadow)
            tilt = camera.tilt(anchor[0] / size, anchor[1] / size)
            drawn = _paste(frame, _tilted(cache[a.pid, pose], tilt), anchor, who, a.pid)
            if drawn is not None:
                box, area = drawn
                entry = {"id": a.pid, "box": list(box), "posture": posture, "is_fall": is_fall(posture)}
                people.append((entry, area))
        for entry, area in people:  # the share of each person that no one nearer hides
            x0, y0, x1, y1 = entry["box"]
            entry["visible"] = round(float((who[y0:y1, x0:x1] == entry["id"]).sum()) / max(area, 1), 3)
        frame = cv2.transform(frame, matrix)
        if small < size:
            frame = cv2.resize(cv2.resize(frame, (small, small), interpolation=cv2.INTER_AREA), (size, size))
        if blur:
            frame = cv2.GaussianBlur(frame, (3, 3), blur)
        cv2.add(frame, pos[pick[i]], dst=frame)
        cv2.subtract(frame, neg[pick[i]], dst=frame)
        if clock is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1.6e9 + clock + int(t)))
            org, scale = (4, max(10, size // 24)), size / 900
            cv2.putText(frame, stamp, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (235,) * 3, 1, cv2.LINE_AA)
        yield frame, sorted((entry for entry, _ in people), key=lambda p: p["id"])
