"""Postures as random joint-angle poses, and random clothing: who stands, walks, sits, bends, crouches or falls."""

from __future__ import annotations

import cv2
import numpy as np

from fallkd_lib.data.synthetic.figure import Look, Pose
from fallkd_lib.errors import UsageError

NORMAL_POSTURES = ("standing", "walking", "sitting", "bending", "crouching", "in_bed")
FALL_POSTURES = ("lying", "crumpled", "falling")
POSTURES = NORMAL_POSTURES + FALL_POSTURES

SKIN_TONES = ((238, 206, 180), (241, 194, 160), (224, 172, 125), (198, 134, 90), (141, 85, 56), (92, 56, 38))
HAIR_COLOURS = ((25, 20, 18), (60, 40, 25), (110, 75, 40), (200, 170, 110), (150, 150, 150), (90, 30, 20))
TROUSER_COLOURS = ((40, 55, 95), (60, 80, 130), (25, 25, 30), (80, 80, 85), (150, 130, 95), (90, 70, 50))


def is_fall(posture: str) -> bool:
    """True for the postures labelled as a fall (lying, crumpled on the ground, mid-fall)."""
    if posture not in POSTURES:
        raise UsageError(f"unknown posture {posture!r}: choose one of {', '.join(POSTURES)}")
    return posture in FALL_POSTURES


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _arms(
    rng: np.random.Generator, flex: tuple[float, float], abd: tuple[float, float], elbow: tuple[float, float]
) -> dict:
    out = {}
    for side in ("l", "r"):
        out[f"{side}_shoulder"] = _u(rng, *flex)
        out[f"{side}_shoulder_abd"] = _u(rng, *abd)
        out[f"{side}_elbow"] = _u(rng, *elbow)
    return out


def _legs(
    rng: np.random.Generator, hip: tuple[float, float], abd: tuple[float, float], knee: tuple[float, float]
) -> dict:
    out = {}
    for side in ("l", "r"):
        out[f"{side}_hip"] = _u(rng, *hip)
        out[f"{side}_hip_abd"] = _u(rng, *abd)
        out[f"{side}_knee"] = _u(rng, *knee)
    return out


def _upright(rng: np.random.Generator, posture: str) -> dict:
    """Joint angles of the normal postures (the body itself stays upright)."""
    if posture == "standing":
        a = _arms(rng, (-10, 25), (4, 18), (5, 35))
        if rng.random() < 0.3:  # a phone or a cup in one hand
            a.update(r_shoulder=_u(rng, 10, 35), r_elbow=_u(rng, 90, 130))
        return (
            a
            | _legs(rng, (-5, 6), (2, 10), (0, 8))
            | {"torso_bend": _u(rng, -4, 8), "head_pitch": _u(rng, -10, 25)}
        )
    if posture == "walking":
        stride = _u(rng, 14, 32)
        swing = stride * _u(rng, 0.5, 1.0)
        return {
            "l_hip": stride,
            "r_hip": -stride * _u(rng, 0.6, 1.0),
            "l_knee": _u(rng, 3, 15),
            "r_knee": _u(rng, 10, 45),
            "l_shoulder": -swing,
            "r_shoulder": swing,
            "l_elbow": _u(rng, 10, 40),
            "r_elbow": _u(rng, 15, 45),
            "l_shoulder_abd": _u(rng, 4, 12),
            "r_shoulder_abd": _u(rng, 4, 12),
            "torso_bend": _u(rng, 0, 10),
        }
    if posture == "sitting":
        kind = rng.choice(["bench", "straight", "knees_up", "cross"], p=[0.5, 0.2, 0.2, 0.1])
        if kind == "bench":
            return (
                _legs(rng, (75, 100), (4, 18), (70, 110))
                | _arms(rng, (20, 55), (5, 20), (40, 90))
                | {"torso_bend": _u(rng, -15, 15), "head_pitch": _u(rng, -10, 25), "sit": "bench"}
            )
        if kind == "straight":
            return (
                _legs(rng, (75, 95), (3, 15), (0, 25))
                | _arms(rng, (-45, -20), (5, 20), (0, 20))
                | {"torso_bend": _u(rng, -15, 5)}
            )
        if kind == "knees_up":
            return (
                _legs(rng, (105, 130), (3, 15), (100, 140))
                | _arms(rng, (30, 70), (5, 15), (20, 60))
                | {"torso_bend": _u(rng, 0, 20)}
            )
        return (
            _legs(rng, (65, 85), (40, 60), (120, 150))
            | _arms(rng, (20, 50), (5, 20), (30, 70))
            | {"torso_bend": _u(rng, 0, 20)}
        )
    if posture == "bending":
        bend = _u(rng, 45, 100)
        return (
            _legs(rng, (0, 15), (3, 12), (0, 25))
            | _arms(rng, (bend * 0.6, bend + 10), (3, 15), (0, 40))
            | {"torso_bend": bend, "head_pitch": _u(rng, -30, 10)}
        )
    if rng.random() < 0.35:  # kneeling on one knee
        return {
            "l_hip": _u(rng, 80, 100),
            "l_knee": _u(rng, 80, 100),
            "r_hip": _u(rng, -10, 10),
            "r_knee": _u(rng, 85, 110),
            "torso_bend": _u(rng, 0, 25),
        } | _arms(rng, (10, 50), (5, 20), (20, 80))
    return (
        _legs(rng, (110, 140), (5, 25), (120, 150))
        | _arms(rng, (25, 75), (5, 25), (20, 80))
        | {"torso_bend": _u(rng, 15, 50), "head_pitch": _u(rng, -20, 15)}
    )


def _toward(rng: np.random.Generator, base: float) -> float:
    """A yaw that points the body's long axis (nearly) toward or away from the camera."""
    return base + 180.0 * int(rng.integers(2)) + float(rng.normal(0, 12))


def _fallen(rng: np.random.Generator, posture: str) -> dict:
    """Joint angles and body orientation of the fall postures."""
    if posture == "lying":
        mode = rng.choice(["back", "front", "side"], p=[0.45, 0.3, 0.25])
        limbs = _arms(rng, (-30, 130), (10, 110), (0, 90)) | _legs(rng, (-10, 45), (3, 30), (0, 70))
        limbs |= {
            "torso_bend": _u(rng, -10, 20),
            "torso_side": _u(rng, -15, 15),
            "head_pitch": _u(rng, -30, 30),
        }
        if mode == "side":
            orient = {"roll": float(rng.choice([-1, 1])) * _u(rng, 75, 95), "pitch": _u(rng, -15, 15)}
            base = 90.0
        else:
            orient = {"pitch": (-1 if mode == "back" else 1) * _u(rng, 82, 95), "roll": _u(rng, -8, 8)}
            base = 0.0
        foreshortened = rng.random() < 0.4
        return limbs | orient | {"yaw": _toward(rng, base) if foreshortened else _u(rng, 0, 360)}
    if posture == "crumpled":
        if rng.random() < 0.65:  # curled on a side
            pose = _legs(rng, (50, 110), (3, 20), (60, 130)) | _arms(rng, (40, 110), (5, 30), (50, 130))
            pose |= {
                "torso_bend": _u(rng, 15, 50),
                "head_pitch": _u(rng, 10, 40),
                "roll": float(rng.choice([-1, 1])) * _u(rng, 65, 90),
                "pitch": _u(rng, -10, 20),
            }
            base = 90.0
        else:  # collapsed face down, knees tucked
            pose = _legs(rng, (30, 90), (5, 25), (50, 120)) | _arms(rng, (60, 160), (10, 60), (10, 90))
            pose |= {"torso_bend": _u(rng, 0, 30), "pitch": _u(rng, 80, 95), "roll": _u(rng, -20, 20)}
            base = 0.0
        foreshortened = rng.random() < 0.35
        return pose | {"yaw": _toward(rng, base) if foreshortened else _u(rng, 0, 360)}
    tilt = _u(rng, 45, 80)
    direction = rng.choice(["forward", "backward", "left", "right"])
    orient = {
        "forward": {"pitch": tilt},
        "backward": {"pitch": -tilt},
        "left": {"roll": tilt},
        "right": {"roll": -tilt},
    }
    pose = _arms(rng, (-40, 100), (50, 140), (0, 40)) | _legs(rng, (-10, 45), (5, 25), (5, 45))
    return pose | orient[str(direction)] | {"torso_bend": _u(rng, -15, 25), "head_pitch": _u(rng, -25, 20)}


def _in_bed(rng: np.random.Generator) -> dict:
    """Lying in bed on the back, legs nearly straight, head toward the far end (yaw 0: the scene turns it)."""
    pose = _arms(rng, (-20, 40), (5, 35), (0, 70)) | _legs(rng, (0, 25), (2, 12), (0, 35))
    pose |= {"head_pitch": _u(rng, -10, 35), "torso_bend": _u(rng, 0, 30), "torso_side": _u(rng, -10, 10)}
    return pose | {
        "yaw": float(rng.normal(0, 6)),
        "pitch": -_u(rng, 80, 92),
        "roll": _u(rng, -15, 15),
        "sit": "bed",
    }


def sample_pose(rng: np.random.Generator, posture: str) -> tuple[Pose, str]:
    """A random pose of a posture and its support ('bench' when sitting on a seat, 'bed' in bed, else 'ground')."""
    is_fall(posture)  # validates the name
    if posture == "in_bed":
        values = _in_bed(rng)
    else:
        values = _fallen(rng, posture) if posture in FALL_POSTURES else _upright(rng, posture)
    support = str(values.pop("sit", "ground"))
    values.setdefault("yaw", _u(rng, 0, 360))
    return Pose(**{k: float(v) for k, v in values.items()}), support


def _vivid(rng: np.random.Generator) -> tuple[int, int, int]:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(40, 230), rng.integers(50, 240)]]], np.uint8)
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def _jitter(rng: np.random.Generator, colour: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def sample_look(rng: np.random.Generator) -> Look:
    """Random skin, hair and clothing colours and cut."""
    shirt = (
        _vivid(rng)
        if rng.random() < 0.75
        else _jitter(rng, (235, 235, 235) if rng.random() < 0.5 else (35, 35, 40), 15)
    )
    trousers = _jitter(rng, TROUSER_COLOURS[int(rng.integers(len(TROUSER_COLOURS)))], 18)
    if rng.random() < 0.15:
        trousers = _vivid(rng)
    return Look(
        skin=_jitter(rng, SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], 10),
        hair=_jitter(rng, HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))], 10),
        shirt=shirt,
        trousers=trousers,
        shoes=_jitter(rng, (30, 28, 28) if rng.random() < 0.6 else (200, 200, 195), 20),
        long_sleeves=bool(rng.random() < 0.6),
        shorts=bool(rng.random() < 0.2),
        long_hair=bool(rng.random() < 0.35),
        build=_u(rng, 0.85, 1.2),
    )
