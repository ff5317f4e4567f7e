"""Articulated people: a joint-angle pose, its 3-D skeleton, and drawing it at a position and scale.

Units are fractions of the standing body height (about 1.0 from soles to the top of the head). World axes:
X to the image right, Y up, Z toward the camera. A pose with yaw 0 faces the camera, so the person's left is +X.
The camera looks at the figure from `elevation` degrees above the horizontal (orthographic per figure); the
figure is placed by the ground point below its pelvis and can be tilted in the image (perspective of a
high camera, where verticals converge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from fallkd_lib.data.synthetic.draw import Part, draw_figure, shade

# Body proportions, as fractions of the standing height.
HIP_HALF, SHOULDER_HALF, TORSO, WAIST = 0.05, 0.085, 0.285, 0.07
UPPER_ARM, FOREARM, THIGH, SHIN, FOOT = 0.165, 0.145, 0.237, 0.225, 0.075
NECK, HEAD_RX, HEAD_RY = 0.045, 0.056, 0.07


@dataclass(frozen=True)
class Pose:
    """Joint angles in degrees (flexion forward is positive) and the body's orientation in the world."""

    torso_bend: float = 0.0  # spine flexion forward
    torso_side: float = 0.0  # lean toward the person's left
    head_pitch: float = 0.0  # nod forward
    l_shoulder: float = 0.0  # arm raised forward (negative: backward)
    l_shoulder_abd: float = 8.0  # arm raised sideways
    l_elbow: float = 10.0
    r_shoulder: float = 0.0
    r_shoulder_abd: float = 8.0
    r_elbow: float = 10.0
    l_hip: float = 0.0  # thigh raised forward
    l_hip_abd: float = 3.0
    l_knee: float = 0.0  # shin bent backward
    r_hip: float = 0.0
    r_hip_abd: float = 3.0
    r_knee: float = 0.0
    yaw: float = 0.0  # facing direction about the vertical: 0 faces the camera, 90 faces image right
    pitch: float = 0.0  # whole body tipped forward (+) or backward (-), e.g. +-90 lying face down / up
    roll: float = 0.0  # whole body tipped toward its left (+) or right (-), e.g. +-90 lying on a side


POSE_FIELDS = tuple(f.name for f in fields(Pose))


def interpolate_pose(a: Pose, b: Pose, t: float) -> Pose:
    """The pose a fraction t of the way from a to b (yaw takes the shorter way round)."""
    values = {}
    for name in POSE_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        delta = (y - x + 180.0) % 360.0 - 180.0 if name == "yaw" else y - x
        values[name] = x + delta * t
    return Pose(**values)


@dataclass(frozen=True)
class Look:
    """How a person is dressed: RGB colours and clothing cut."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    shoes: tuple[int, int, int]
    long_sleeves: bool = True
    shorts: bool = False
    long_hair: bool = False
    build: float = 1.0  # girth multiplier


def _rx(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


_DOWN, _UP, _FWD = np.array([0.0, -1.0, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])


def skeleton(pose: Pose) -> dict[str, np.ndarray]:
    """3-D joint positions of a pose, rotated into the world and resting on the ground (y = 0)."""
    j: dict[str, np.ndarray] = {"pelvis": np.zeros(3)}
    spine = _rz(-pose.torso_side) @ _rx(pose.torso_bend)
    j["neck"] = spine @ (TORSO * _UP)
    j["waist"] = spine @ (WAIST * _UP)
    head = spine @ _rx(pose.head_pitch)
    j["head"] = j["neck"] + head @ np.array([0.0, NECK + HEAD_RY, 0.01])
    j["hair"] = j["head"] + head @ np.array([0.0, 0.014, -0.016])
    j["head_up"] = j["head"] + head @ (HEAD_RY * _UP)
    for side, sign in (("l", 1.0), ("r", -1.0)):
        shoulder = j["neck"] + spine @ np.array([sign * SHOULDER_HALF, -0.025, 0.0])
        arm = (
            spine
            @ _rz(sign * getattr(pose, f"{side}_shoulder_abd"))
            @ _rx(-getattr(pose, f"{side}_shoulder"))
        )
        j[f"{side}_shoulder"] = shoulder
        j[f"{side}_elbow"] = shoulder + arm @ (UPPER_ARM * _DOWN)
        j[f"{side}_hand"] = j[f"{side}_elbow"] + arm @ _rx(-getattr(pose, f"{side}_elbow")) @ (
            FOREARM * _DOWN
        )
        hip = np.array([sign * HIP_HALF, -0.02, 0.0])
        thigh = _rz(sign * getattr(pose, f"{side}_hip_abd")) @ _rx(-getattr(pose, f"{side}_hip"))
        shin = thigh @ _rx(getattr(pose, f"{side}_knee"))
        j[f"{side}_hip"] = hip
        j[f"{side}_knee"] = hip + thigh @ (THIGH * _DOWN)
        j[f"{side}_ankle"] = j[f"{side}_knee"] + shin @ (SHIN * _DOWN)
        j[f"{side}_heel"] = j[f"{side}_ankle"] + shin @ np.array([0.0, -0.01, -0.015])
        j[f"{side}_toe"] = j[f"{side}_ankle"] + shin @ np.array([0.0, -0.015, FOOT])
    world = _ry(pose.yaw) @ _rz(-pose.roll) @ _rx(pose.pitch)
    points = {name: world @ p for name, p in j.items()}
    lowest = min(p[1] - (0.02 if name.endswith(("toe", "heel")) else 0.03) for name, p in points.items())
    lift = np.array([0.0, -lowest, 0.0])
    return {name: p + lift for name, p in points.items()}


def project_figure(
    pose: Pose,
    look: Look,
    anchor: tuple[float, float],
    height_px: float,
    elevation: float = 0.0,
    tilt: float = 0.0,
) -> list[Part]:
    """The parts of a figure in image pixels, sorted far to near, ready for `draw.draw_parts`."""
    joints = skeleton(pose)
    joints["l_waist"] = joints["waist"] + (joints["l_hip"] - joints["pelvis"]) * 1.1
    joints["r_waist"] = joints["waist"] + (joints["r_hip"] - joints["pelvis"]) * 1.1
    joints["face"] = 2 * joints["head"] - joints["hair"]
    e = math.radians(elevation)
    ce, se = math.cos(e), math.sin(e)
    ct, st = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
    s, b = height_px, look.build

    def img(name: str) -> np.ndarray:
        x, y, z = joints[name]
        u = y * ce - z * se
        return np.array([anchor[0] + s * (x * ct + u * st), anchor[1] + s * (x * st - u * ct)])

    def depth(*names: str) -> float:
        return float(np.mean([joints[n][2] * ce + joints[n][1] * se for n in names]))

    parts: list[Part] = []

    def seg(a: str, c: str, r0: float, r1: float, colour, bias: float = 0.0) -> None:
        parts.append(
            Part("capsule", np.stack([img(a), img(c)]), (r0 * s, r1 * s), colour, depth(a, c) + bias)
        )

    sleeve = look.shirt if look.long_sleeves else look.skin
    shin = look.skin if look.shorts else look.trousers
    for side in ("l", "r"):
        dim = 0.85 if depth(f"{side}_shoulder") < depth("neck") - 0.02 else 1.0  # the far side is in shade
        seg(f"{side}_hip", f"{side}_knee", 0.052 * b, 0.042 * b, shade(look.trousers, dim))
        seg(f"{side}_knee", f"{side}_ankle", 0.04 * b, 0.028 * b, shade(shin, dim))
        seg(f"{side}_heel", f"{side}_toe", 0.024, 0.02, shade(look.shoes, dim))
        seg(f"{side}_shoulder", f"{side}_elbow", 0.034 * b, 0.028 * b, shade(look.shirt, dim), 0.01)
        seg(f"{side}_elbow", f"{side}_hand", 0.027 * b, 0.021 * b, shade(sleeve, dim), 0.01)
        hand = img(f"{side}_hand")[None]
        parts.append(Part("disc", hand, (0.024 * s,), shade(look.skin, dim), depth(f"{side}_hand") + 0.011))
    seg("l_hip", "r_hip", 0.058 * b, 0.058 * b, look.trousers, -0.005)
    seg("waist", "neck", 0.068 * b, 0.072 * b, look.shirt, -0.012)  # the chest's depth, seen from a side
    torso = np.stack([img("l_shoulder"), img("r_shoulder"), img("r_waist"), img("l_waist")])
    parts.append(Part("poly", torso, (0.048 * b * s,), look.shirt, depth("pelvis", "neck") - 0.01))
    seg("neck", "head", 0.026, 0.026, look.skin, -0.008)
    head_c, up = img("head"), img("head_up") - img("head")
    angle = math.degrees(math.atan2(up[1], up[0])) + 90.0
    stretch = min(1.0, float(np.hypot(*up)) / (HEAD_RY * s + 1e-9))
    ry = (HEAD_RX + (HEAD_RY - HEAD_RX) * stretch) * s
    hair_front = depth("face") < depth("head") - 0.012  # the back of the head faces the camera
    hair_c = img("hair") + (up / (np.hypot(*up) + 1e-9) * 0.02 * s if look.long_hair else 0.0)
    hair_r = (HEAD_RX * 1.06 * s, ry * (1.12 if look.long_hair else 1.02))
    parts.append(Part("ellipse", head_c[None], (HEAD_RX * s, ry), look.skin, depth("head"), angle))
    hair_depth = depth("head") + (0.001 if hair_front else -0.001)
    parts.append(Part("ellipse", hair_c[None], hair_r, look.hair, hair_depth, angle))
    parts.sort(key=lambda p: p.depth)
    return parts


def render_figure(
    canvas: np.ndarray,
    pose: Pose,
    look: Look,
    anchor: tuple[float, float],
    height_px: float,
    elevation: float = 0.0,
    tilt: float = 0.0,
) -> tuple[int, int, int, int] | None:
    """Draw one person standing (or lying) at anchor, the ground point below the pelvis, `height_px` tall when
    upright; return its tight pixel box (x0, y0, x1, y1; x1, y1 exclusive) clipped to the frame, or None."""
    return draw_figure(canvas, project_figure(pose, look, anchor, height_px, elevation, tilt))
