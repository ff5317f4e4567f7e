"""Poses over time for the clip mode: a walk cycle, a fall, lying still, getting up, turning and sitting down.

A `Script` lays a person's actions end to end in time; the finished `Track` gives, at any time, the pose, the
position along the person's ground row (pixels, plus a small shift toward the camera in body heights) and the
posture label. A frame counts as a fall once the whole body tilts `FALL_TILT` degrees or more from upright,
so the labels follow the drawn body, not the script's intent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from fallkd_lib.data.synthetic.figure import Pose, interpolate_pose, skeleton
from fallkd_lib.data.synthetic.poses import is_fall, sample_pose

FALL_TILT = 30.0  # degrees of whole-body tilt from which a frame is labelled a fall
STRIDE = 0.85  # one gait cycle (two steps) in standing heights
BLEND = 0.25  # seconds to blend from a still pose into the walk cycle
PHASES = 16  # walk poses per gait cycle
# lying on the back or front, limbs on the ground: shoulder flexion, shoulder abduction, hip, knee (degrees)
LIE_LIMBS = ((-15, 25), (15, 100), (-5, 25), (0, 40))


def body_tilt(pose: Pose) -> float:
    """Degrees between the whole body's long axis (its pitch and roll) and the vertical."""
    c = math.cos(math.radians(pose.pitch)) * math.cos(math.radians(pose.roll))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def feet_offset(pose: Pose) -> np.ndarray:
    """The feet's mean ground position (x, z) relative to the pelvis, in standing heights."""
    j = skeleton(pose)
    return (j["l_ankle"][[0, 2]] + j["r_ankle"][[0, 2]]) / 2.0


def u(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A uniform draw in [lo, hi) as a plain float."""
    return float(rng.uniform(lo, hi))


def _sides(**ranges: tuple[float, float]) -> dict[str, tuple[float, float]]:
    return {f"{side}_{name}": r for name, r in ranges.items() for side in "lr"}


def stand_pose(rng: np.random.Generator, yaw: float) -> Pose:
    """A relaxed standing pose facing `yaw`."""
    ranges = {"torso_bend": (0, 5), "head_pitch": (-5, 10)} | _sides(shoulder=(-5, 5), shoulder_abd=(5, 10))
    ranges |= _sides(elbow=(5, 20), knee=(0, 4))
    return Pose(yaw=yaw, **{name: u(rng, *r) for name, r in ranges.items()})


@dataclass(frozen=True)
class Gait:
    """One person's walk: four key poses per cycle (left contact, right swing, right contact, left swing)."""

    keys: tuple[Pose, Pose, Pose, Pose]
    speed: float  # standing heights per second

    @staticmethod
    def sample(rng: np.random.Generator) -> Gait:
        """A random gait: stride, arm swing, knee lift and speed."""
        a, arm, lift = u(rng, 18, 28), u(rng, 0.5, 0.9), u(rng, 40, 60)
        base = {"torso_bend": u(rng, 0, 8), "l_elbow": u(rng, 10, 30), "r_elbow": u(rng, 10, 30)}
        base |= {"l_shoulder_abd": u(rng, 4, 10), "r_shoulder_abd": u(rng, 4, 10)}
        contact = {"l_hip": a, "l_knee": u(rng, 3, 10), "r_hip": -0.8 * a, "r_knee": 15.0}
        contact |= {"l_shoulder": -arm * a, "r_shoulder": arm * a}
        swing = {
            "l_hip": 0.0,
            "l_knee": 8.0,
            "r_hip": 0.3 * a,
            "r_knee": lift,
            "l_shoulder": 0,
            "r_shoulder": 0,
        }
        swap = {"l": "r", "r": "l"}

        def mirror(d: dict) -> dict:
            return {(swap[k[0]] + k[1:] if k[1] == "_" else k): v for k, v in d.items()}

        keys = (contact, swing, mirror(contact), mirror(swing))
        return Gait(tuple(Pose(**(base | k)) for k in keys), u(rng, 0.55, 0.85))  # type: ignore[arg-type]

    def pose(self, distance: float, yaw: float) -> Pose:
        """The walk pose after `distance` standing heights walked, facing `yaw`."""
        phase = round((distance / STRIDE) % 1.0 * PHASES) / PHASES * 4.0  # quantized: poses repeat
        k = int(phase) % 4
        return replace(interpolate_pose(self.keys[k], self.keys[(k + 1) % 4], phase - int(phase)), yaw=yaw)


@dataclass(frozen=True)
class Key:
    """A key pose at a fraction of its segment, with the labels of the way toward it (upright, tilted)."""

    at: float
    pose: Pose
    label: str  # the posture once this key is reached
    upright: str = "standing"  # label on the way here while the body is upright
    tilted: str = "falling"  # label on the way here while the body tilts FALL_TILT or more


@dataclass(frozen=True)
class Segment:
    """A stretch of time: a walk from x0 to x1 (gait set) or a keyed pose change at x0 (keys set)."""

    start: float
    end: float
    x0: float
    x1: float
    z0: float = 0.0  # shift toward the camera, in standing heights
    gait: Gait | None = None
    yaw: float = 0.0
    dist0: float = 0.0  # distance walked before this segment, in heights (keeps the gait phase)
    blend_from: Pose | None = None
    keys: tuple[Key, ...] = ()
    plant: bool = False  # keep the feet where they were (a fall pivots about the feet, not the pelvis)

    def at(self, t: float, s: float) -> tuple[Pose, float, float, str]:
        """Pose, position (pixels along the row), shift toward the camera (heights) and posture at time t."""
        f = 1.0 if t >= self.end else max(0.0, (t - self.start) / (self.end - self.start))
        if self.gait is not None:
            x = self.x0 + (self.x1 - self.x0) * f
            pose = self.gait.pose(self.dist0 + abs(x - self.x0) / s, self.yaw)
            if self.blend_from is not None and t - self.start < BLEND:
                pose = interpolate_pose(self.blend_from, pose, max(0.0, t - self.start) / BLEND)
            return pose, x, self.z0, "walking"
        i = next((i for i, k in enumerate(self.keys) if k.at >= f), len(self.keys) - 1)
        key = self.keys[i]
        if i == 0 or f >= key.at:
            pose = key.pose
        else:
            prev = self.keys[i - 1]
            pose = interpolate_pose(prev.pose, key.pose, (f - prev.at) / (key.at - prev.at))
        if i == 0 or (f >= key.at and i == len(self.keys) - 1):
            label = key.label  # the segment's first and last poses carry their own labels
        else:
            label = key.tilted if body_tilt(pose) >= FALL_TILT else key.upright
        x, z = self.x0, self.z0
        if self.plant:
            shift = feet_offset(self.keys[0].pose) - feet_offset(pose)
            x, z = x + float(shift[0]) * s, z + float(shift[1])
        return pose, x, z, label


@dataclass
class Track:
    """A person's whole script: the segments in time order, the standing height in pixels, and time marks."""

    segments: list[Segment]
    s: float
    marks: dict[str, float] = field(default_factory=dict)

    def at(self, t: float) -> tuple[Pose, float, float, str]:
        """Pose, x (pixels), z (heights toward the camera) and posture at time t (the last pose holds)."""
        seg = next((g for g in self.segments if t < g.end), self.segments[-1])
        return seg.at(t, self.s)


class Script:
    """Builds a `Track` action by action: walk, stand and turn, fall, lie, get up, sit."""

    def __init__(self, rng: np.random.Generator, x: float, s: float, heading: int) -> None:
        """Start at x (pixels) standing, facing image right (heading +1) or left (-1); s is the height in pixels."""
        self.rng, self.s, self.x, self.z, self.t, self.dist = rng, s, x, 0.0, 0.0, 0.0
        self.gait = Gait.sample(rng)
        self.yaw_off = u(rng, -25, 25)  # a little toward (+) or away from the camera
        self.heading = heading
        self.pose = stand_pose(rng, self.yaw())
        self.segments: list[Segment] = []
        self.marks: dict[str, float] = {}

    def yaw(self, heading: int | None = None) -> float:
        """The walking yaw for a heading (+1 image right, -1 left)."""
        return (heading or self.heading) * (90.0 - self.yaw_off)

    def speed_px(self) -> float:
        """Walking speed in pixels per second."""
        return self.gait.speed * self.s

    def _add(self, seg: Segment) -> None:
        self.segments.append(seg)
        self.pose, self.x, self.z, _ = seg.at(seg.end, self.s)
        self.t = seg.end

    def _keys(self, seconds: float, keys: list[Key], plant: bool = False) -> None:
        self._add(Segment(self.t, self.t + seconds, self.x, self.x, self.z, keys=tuple(keys), plant=plant))

    def walk_to(self, x: float) -> Script:
        """Walk along the row to x (turning first when x lies behind)."""
        heading = 1 if x >= self.x else -1
        if heading != self.heading:
            self.stand(u(self.rng, 0.6, 1.2), heading)
        duration = abs(x - self.x) / self.speed_px()
        walked = self.dist
        self.dist += abs(x - self.x) / self.s
        self._add(
            Segment(self.t, self.t + duration, self.x, x, self.z, self.gait, self.yaw(), walked, self.pose)
        )
        return self

    def walk_for(self, seconds: float) -> Script:
        """Walk on in the current heading for a time."""
        return self.walk_to(self.x + self.heading * self.speed_px() * seconds)

    def stand(self, seconds: float, heading: int | None = None) -> Script:
        """Stop (and turn to a new heading) and stand for a time."""
        self.heading = heading or self.heading
        still = stand_pose(self.rng, self.yaw())
        settle = min(1.0, 0.5 / max(seconds, 1e-6))
        self._keys(
            seconds,
            [Key(0.0, self.pose, "standing"), Key(settle, still, "standing"), Key(1.0, still, "standing")],
        )
        return self

    def hold(self, until: float) -> Script:
        """Keep the current pose (lying, sitting) until a time."""
        if until > self.t:
            label = self._label()
            self._keys(until - self.t, [Key(0.0, self.pose, label), Key(1.0, self.pose, label, label, label)])
        return self

    def _label(self) -> str:
        return self.segments[-1].at(self.t, self.s)[3] if self.segments else "standing"

    def fall(self) -> Script:
        """Fall over in about a second: stumble, tip, hit the ground (forward, backward or to a side)."""
        rng, start = self.rng, self.pose
        mode = str(rng.choice(["forward", "backward", "side"], p=[0.45, 0.3, 0.25]))
        posture = "crumpled" if rng.random() < 0.25 else "lying"
        mode = "side" if posture == "crumpled" and mode == "backward" else mode  # nobody curls up on the back
        end = sample_pose(rng, posture)[0]
        if posture == "lying":  # limbs rest on the ground (flexion points them at the sky on the back)
            flex, abd, hip, knee = ((-20, 90), (5, 35), (0, 60), (10, 70)) if mode == "side" else LIE_LIMBS
            for x in "lr":
                end = replace(end, **{f"{x}_shoulder": u(rng, *flex), f"{x}_shoulder_abd": u(rng, *abd)})
                end = replace(end, **{f"{x}_hip": u(rng, *hip), f"{x}_knee": u(rng, *knee)})
        if mode == "side":
            pitch, roll = u(rng, -10, 10), float(rng.choice([-1, 1])) * u(rng, 75, 90)
        else:
            pitch, roll = (1 if mode == "forward" else -1) * u(rng, 84, 92), u(rng, -8, 8)
        end = replace(end, yaw=start.yaw, pitch=pitch, roll=roll)
        reach = u(rng, 40, 80) if mode == "forward" else u(rng, -30, 20)
        k1 = replace(interpolate_pose(start, end, 0.3), pitch=0.25 * end.pitch, roll=0.25 * end.roll)
        k1 = replace(k1, l_shoulder=reach, r_shoulder=reach + u(rng, -20, 20), l_knee=start.l_knee + 20)
        k1 = replace(
            k1, l_shoulder_abd=u(rng, 40, 80), r_shoulder_abd=u(rng, 40, 80), r_knee=start.r_knee + 20
        )
        brace = u(rng, 90, 120) if mode == "forward" else u(rng, 20, 70)
        k2 = replace(interpolate_pose(start, end, 0.7), pitch=0.65 * end.pitch, roll=0.65 * end.roll)
        k2 = replace(k2, l_shoulder=brace, r_shoulder=brace, l_knee=30.0, r_knee=30.0)
        self.marks["fall_start"] = self.t
        upright = self._label()
        keys = [Key(0.0, start, upright), Key(0.4, k1, "falling", upright), Key(0.75, k2, "falling", upright)]
        self._keys(u(self.rng, 0.8, 1.1), keys + [Key(1.0, end, posture, upright, "falling")], plant=True)
        self.marks["fall_end"] = self.t
        return self

    def get_up(self) -> Script:
        """Get up from the ground: sit up (or push up to all fours), crouch or kneel, stand."""
        rng, down = self.rng, self.pose
        still = stand_pose(rng, down.yaw)
        base = Pose(yaw=down.yaw, l_shoulder_abd=10.0, r_shoulder_abd=10.0)
        if down.pitch > 45:  # face down: push up to hands and knees, then kneel on one knee
            g1 = replace(base, pitch=88.0, l_hip=90.0, r_hip=90.0, l_knee=90.0, r_knee=90.0)
            g1 = replace(g1, l_shoulder=90.0, r_shoulder=90.0, l_elbow=0.0, r_elbow=0.0)
            first = Key(0.4, g1, "crumpled", "crouching", "crumpled")
            g2 = replace(base, l_hip=85.0, l_knee=85.0, r_knee=95.0, torso_bend=10.0)
            g2 = replace(g2, l_shoulder=30.0, r_shoulder=30.0)
        else:  # on the back or a side: sit up, then crouch
            g1 = replace(base, torso_bend=u(rng, 15, 30), l_hip=85.0, r_hip=85.0, l_knee=u(rng, 60, 90))
            g1 = replace(g1, r_knee=g1.l_knee, l_shoulder=-25.0, r_shoulder=-25.0, l_elbow=10.0, r_elbow=10.0)
            first = Key(0.4, g1, "sitting", "sitting", "crumpled")
            g2 = replace(base, l_hip=120.0, r_hip=120.0, l_knee=130.0, r_knee=130.0, torso_bend=40.0)
            g2 = replace(g2, l_shoulder=40.0, r_shoulder=40.0)
        self.marks["getup_start"] = self.t
        keys = [Key(0.0, down, self._label()), first, Key(0.7, g2, "crouching", "crouching", "crumpled")]
        self._keys(u(rng, 1.6, 2.0), keys + [Key(1.0, still, "standing", "crouching", "crumpled")])
        self.marks["getup_end"] = self.t
        return self

    def sit(self, bench: bool, facing: float) -> Script:
        """Turn to `facing` (yaw) and sit down on a bench seat or on the ground."""
        rng = self.rng
        turn = stand_pose(rng, facing)
        self._keys(0.6, [Key(0.0, self.pose, "standing"), Key(1.0, turn, "standing")])
        arms = {"l_shoulder": u(rng, 25, 50), "r_shoulder": u(rng, 25, 50), "l_elbow": 70.0, "r_elbow": 70.0}
        if bench:
            hips, knees, mid = u(rng, 80, 95), u(rng, 80, 100), (50.0, 50.0)
        elif rng.random() < 0.5:  # legs out in front, leaning on the hands
            hips, knees, mid = u(rng, 80, 90), u(rng, 5, 20), (110.0, 120.0)
            arms = {"l_shoulder": -30.0, "r_shoulder": -30.0, "l_elbow": 5.0, "r_elbow": 5.0}
        else:  # knees up, arms round them
            hips, knees, mid = u(rng, 105, 125), u(rng, 100, 130), (110.0, 120.0)
        half = replace(turn, l_hip=mid[0], r_hip=mid[0], l_knee=mid[1], r_knee=mid[1], torso_bend=30.0)
        seat = replace(turn, l_hip=hips, r_hip=hips, l_knee=knees, r_knee=knees, **arms)
        seat = replace(seat, torso_bend=u(rng, -5, 15))
        self.marks["sit_start"] = self.t
        keys = [Key(0.0, turn, "standing"), Key(0.5, half, "crouching", "crouching")]
        self._keys(u(rng, 1.0, 1.4), keys + [Key(1.0, seat, "sitting", "crouching")])
        self.marks["sit_end"] = self.t
        return self

    def pace(self, until: float, lo: float, hi: float) -> Script:
        """Walk back and forth between lo and hi (pixels), pausing at each end, until a time."""
        while self.t < until:
            target = hi if self.heading > 0 else lo
            if abs(target - self.x) < 0.05 * self.s:
                target = lo if self.heading > 0 else hi
            self.walk_to(target)
            if self.t < until:
                self.stand(u(self.rng, 0.5, 1.5), -self.heading)
        return self

    def track(self) -> Track:
        """The finished track."""
        for seg in self.segments:
            for key in seg.keys:
                is_fall(key.label)  # every label is a known posture
        return Track(list(self.segments), self.s, dict(self.marks))
