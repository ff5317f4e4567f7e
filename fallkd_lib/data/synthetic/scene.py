"""Whole scenes: a style's camera and backdrop, 1-4 people placed in perspective (some occluded or cut by the
frame), furniture, lighting and camera defects. `render_scene` returns the image and a labelled box per person.

Three styles: the course's two outdoor sources, "park" and "cctv" (STYLES), and "room" (INDOOR_STYLES), a care
room or flat seen from a high corner: beds with people lying in them (normal), chairs, cabinets, doors and
pictures, the indoor things a person detector must learn are not people."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from fallkd_lib.data.synthetic.background import Camera, draw_backdrop
from fallkd_lib.data.synthetic.draw import Part, draw_figure, parts_bounds
from fallkd_lib.data.synthetic.figure import project_figure, skeleton
from fallkd_lib.data.synthetic.furniture import bed_extent, draw_blanket
from fallkd_lib.data.synthetic.poses import is_fall, sample_look, sample_pose
from fallkd_lib.data.synthetic.post import apply_lighting, degrade, timestamp
from fallkd_lib.data.synthetic.props import Prop, draw_prop, make_prop
from fallkd_lib.data.synthetic.room import draw_room
from fallkd_lib.data.yolo import Box
from fallkd_lib.errors import UsageError

STYLES = ("park", "cctv")  # the course's two sources (the quick profile, the shipped detector, the clips)
INDOOR_STYLES = ("room",)  # rendered on request, e.g. for the real recipe's pretraining
ALL_STYLES = STYLES + INDOOR_STYLES
STYLE_CLASS_NAMES = {
    "park": ["Fall-Detected", "person"],
    "cctv": ["fallen", "sitting", "standing", "walking"],
    "room": ["fall", "lie", "sit", "stand"],  # "lie": lying in bed, a normal person
}
_CCTV_NAME = {
    "standing": "standing",
    "walking": "walking",
    "sitting": "sitting",
    "bending": "standing",
    "crouching": "standing",
    "in_bed": "sitting",  # never rendered outdoors; its nearest cctv name
}
_ROOM_NAME = {"in_bed": "lie", "sitting": "sit"}  # other normal postures: "stand"


@dataclass(frozen=True)
class StyleSpec:
    """How one style looks: camera placement, people sizes, lighting odds and image quality."""

    horizon: tuple[float, float]
    person_scale: tuple[float, float]
    heights: tuple[float, float]  # standing height as a fraction of the image
    lighting: dict[str, float]
    quality: str
    occlusion: float  # chance that a person gets an occluder in front
    props: dict[str, int]  # most of each kind of furniture


SPECS = {
    "park": StyleSpec(
        (0.25, 0.6),
        (0.85, 1.35),
        (0.08, 0.7),
        {"day": 0.55, "overcast": 0.2, "dusk": 0.1, "night": 0.12, "ir": 0.03},
        "good",
        0.22,
        {"tree": 3, "lamp": 2, "bench": 2, "bin": 1, "bush": 2},
    ),
    "cctv": StyleSpec(
        (-0.45, 0.2),
        (0.22, 0.5),
        (0.08, 0.4),
        {"day": 0.35, "overcast": 0.15, "dusk": 0.05, "night": 0.2, "ir": 0.25},
        "poor",
        0.25,
        {"tree": 1, "lamp": 3, "bench": 1, "bin": 2, "bush": 1},
    ),
    "room": StyleSpec(
        (-0.7, 0.1),
        (0.5, 0.8),
        (0.12, 0.85),
        {"day": 0.45, "overcast": 0.2, "dusk": 0.05, "night": 0.1, "ir": 0.2},
        "poor",
        0.12,
        {"bed": 2, "chair": 2, "cabinet": 2, "table": 1},
    ),
}
STAMP_ODDS = {"cctv": 0.7, "room": 0.5}  # how often a style's frames carry a burnt-in date and camera number
WORLDS = ("full", "clear")
CLEAR_LIGHTING = {"day": 0.6, "overcast": 0.25, "dusk": 0.15}


def style_spec(style: str, world: str = "full") -> StyleSpec:
    """A style's spec in a world: "full" (night, IR, steep CCTV, occlusion: the hard cases) or "clear".

    The clear world keeps both styles' looks, postures and camera defects but lights every scene (day, overcast,
    dusk), puts the CCTV camera lower (no near-vertical views, where a lying person looks like a standing one),
    rarely hides anyone and keeps people at least 15% of the frame tall. It is the quick profile's world: small
    models trained for minutes on a CPU learn it, and the hard cases stay in the full world.
    """
    spec = SPECS[check_style(style)]
    if world not in WORLDS:
        raise UsageError(f"unknown synthetic world {world!r}: choose one of {', '.join(WORLDS)}")
    if world == "full":
        return spec
    horizon = {"park": spec.horizon, "cctv": (-0.1, 0.3), "room": (-0.3, 0.1)}[style]
    heights = (max(spec.heights[0], 0.15), spec.heights[1])
    return replace(spec, horizon=horizon, lighting=CLEAR_LIGHTING, occlusion=0.08, heights=heights)


POSTURE_ODDS = {
    "standing": 0.14,
    "walking": 0.16,
    "sitting": 0.11,
    "bending": 0.07,
    "crouching": 0.07,
    "lying": 0.24,
    "crumpled": 0.11,
    "falling": 0.10,
}
ROOM_POSTURE_ODDS = {  # indoors a lying person is as often in bed (normal) as on the floor (a fall)
    "standing": 0.12,
    "walking": 0.1,
    "sitting": 0.14,
    "bending": 0.05,
    "crouching": 0.05,
    "in_bed": 0.2,
    "lying": 0.18,
    "crumpled": 0.1,
    "falling": 0.06,
}


def check_style(style: str) -> str:
    """The style name, or a ValueError listing the styles."""
    if style not in ALL_STYLES:
        raise UsageError(f"unknown synthetic style {style!r}: choose one of {', '.join(ALL_STYLES)}")
    return style


def class_name(style: str, posture: str) -> str:
    """The class name a style's dataset uses for a posture (its own names, as separate Roboflow projects would)."""
    check_style(style)
    if is_fall(posture):
        return STYLE_CLASS_NAMES[style][0]
    if style == "room":
        return _ROOM_NAME.get(posture, "stand")
    return "person" if style == "park" else _CCTV_NAME[posture]


@dataclass
class _Person:
    posture: str
    parts: list[Part]
    # the figure's extent (and its bed's): what others must not cover
    bounds: tuple[float, float, float, float]
    anchor: tuple[float, float]
    s: float  # standing height in pixels
    shadow: tuple[float, float, float, float] | None  # ellipse centre x, y and half-axes in pixels
    seat: float  # pelvis height over the ground in image, as a fraction of s (the bench seat of a sitter)
    bed: Prop | None = None  # the bed someone lies in


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def _area(b: tuple[float, ...]) -> float:
    return max(1e-6, (b[2] - b[0]) * (b[3] - b[1]))


def _shadow(pose, anchor, s, elevation) -> tuple[float, float, float, float]:
    ground = np.array([[p[0], p[2]] for p in skeleton(pose).values()])
    se = math.sin(math.radians(elevation))
    xs, ys = anchor[0] + s * ground[:, 0], anchor[1] + s * ground[:, 1] * se
    return (
        float(xs.mean()),
        float(ys.mean()),
        float(np.ptp(xs)) / 2 + 0.14 * s,
        float(np.ptp(ys)) / 2 + 0.03 * s + 0.08 * s * se,
    )


def _in_bed(
    rng, pose, camera: Camera, size: int, fx: float, fy: float, s: float, floor: float
) -> tuple[object, Prop, tuple] | None:
    """A new bed under the floor spot (fx, fy) and the lying-in-bed pose turned to it; returns the pose, the bed
    (its ground point: the near edge) and the person's anchor, the spot lifted onto the mattress (pixels), or None
    when the bed would reach past the floor's far edge (row fraction `floor`) into the back wall."""
    e = camera.elevation(fy)
    bed = make_prop(rng, "bed", fx * size, fy * size, s, elevation=e)
    w, d, h = bed_extent(bed.params, s, e)
    anchor = (fx * size, fy * size - h)
    if bed.params["along"]:  # head at the far end: the pose as sampled, the pelvis a little past the middle
        bed.y += 0.55 * d
    else:  # facing image right and tipped back puts the head on the left
        head_left = bed.params["head_left"]
        bed.x -= (0.04 if head_left else -0.04) * w
        bed.y += 0.5 * d
        pose = replace(pose, yaw=pose.yaw + (90.0 if head_left else -90.0))
    if bed.y - h - d < floor * size:
        return None
    return pose, bed, anchor


def _place_person(
    rng,
    spec: StyleSpec,
    camera: Camera,
    size: int,
    placed: list[_Person],
    tries: int = 15,
    odds: dict[str, float] = POSTURE_ODDS,
    floor: float = 0.0,
) -> tuple[_Person, str] | None:
    postures = list(odds)
    p_odds = np.array([odds[p] for p in postures])
    lo_h = max(spec.heights[0], 12.0 / size)
    for _ in range(tries):
        posture = str(rng.choice(postures, p=p_odds / p_odds.sum()))
        pose, support = sample_pose(rng, posture)
        if support == "bench":
            pose = replace(pose, yaw=float(rng.uniform(-50, 50)))
        feasible = (camera.person_height(max(camera.horizon + 0.02, 0.12, floor)), camera.person_height(1.1))
        lo, hi = max(lo_h, feasible[0]), min(spec.heights[1], feasible[1])
        height = math.exp(rng.uniform(math.log(lo), math.log(max(hi, lo * 1.01))))
        fy, fx = camera.foot_row(height), float(rng.uniform(-0.05, 1.05))
        anchor, s = (fx * size, fy * size), height * size
        elevation, tilt = camera.elevation(fy), camera.tilt(fx, fy)
        bed = None
        if support == "bed":
            in_bed = _in_bed(rng, pose, camera, size, fx, fy, s, floor)
            if in_bed is None:
                continue
            pose, bed, anchor = in_bed
        parts = project_figure(pose, sample_look(rng), anchor, s, elevation, tilt)
        b = parts_bounds(parts)
        if _overlap(b, (0, 0, size, size)) < 0.5 * _area(b):
            continue
        if bed is not None:
            bb = bed.bounds()
            b = (min(b[0], bb[0]), min(b[1], bb[1]), max(b[2], bb[2]), max(b[3], bb[3]))
        if any(_overlap(b, q.bounds) > 0.45 * min(_area(b), _area(q.bounds)) for q in placed):
            continue
        seat = float(skeleton(pose)["pelvis"][1]) * math.cos(math.radians(elevation)) - 0.03
        shadow = None if bed is not None else _shadow(pose, anchor, s, elevation)
        return _Person(posture, parts, b, anchor, s, shadow, seat, bed), support
    return None


def _occluder(rng, person: _Person, elevation: float, indoor: bool = False) -> Prop:
    x0, y0, x1, y1 = person.bounds
    bw, bh, s = x1 - x0, y1 - y0, person.s
    ax, ay = person.anchor
    upright = not is_fall(person.posture) and bh > 0.6 * s  # a bench or bin in front would hide a faller
    y = max(ay, y1 - 0.02 * s) + 0.03 * s
    if indoor:  # a chair, table or cabinet in front of someone standing; a chair or table before a faller
        kind = str(rng.choice(["chair", "table", "cabinet"] if upright else ["chair", "table"]))
        return make_prop(rng, kind, rng.uniform(x0, x1), y, s, elevation=elevation)
    kind = str(rng.choice(["bush", "bench", "bin", "tree"] if upright else ["bush", "bush", "tree"]))
    if kind == "bush":
        return make_prop(
            rng,
            "bush",
            rng.uniform(x0, x1),
            y,
            s,
            height=rng.uniform(0.3, 0.5) * bh / s,
            width=rng.uniform(0.5, 1.0) * bw / s,
        )
    if kind == "tree":
        tree = make_prop(rng, "tree", rng.uniform(x0 + 0.2 * bw, x1 - 0.2 * bw), y, s)
        tree.params["width"] = float(rng.uniform(0.12, 0.25) * bw / (0.09 * s))
        return tree
    if kind == "bin":
        return make_prop(rng, "bin", rng.choice([x0, x1]), y, s)
    return make_prop(rng, "bench", ax + rng.uniform(-0.3, 0.3) * bw, y, s, elevation=elevation)


def _scenery(
    rng, spec: StyleSpec, camera: Camera, size: int, people: list[_Person], floor: float = 0.0
) -> list[Prop]:
    props = []
    for kind, most in spec.props.items():
        for _ in range(int(rng.integers(0, most + 1))):
            fy = float(rng.uniform(max(camera.horizon, 0.0, floor) + 0.02, 1.05))
            s = camera.person_height(fy) * size
            if s < 6:
                continue
            prop = make_prop(
                rng, kind, rng.uniform(-0.05, 1.05) * size, fy * size, s, elevation=camera.elevation(fy)
            )
            if any(prop.y > p.anchor[1] and _overlap(prop.bounds(), p.bounds) > 0 for p in people):
                continue  # would hide a person by chance: occlusion is placed on purpose only
            props.append(prop)
    return props


def _draw_shadow(canvas: np.ndarray, shadow: tuple[float, float, float, float], strength: float) -> None:
    cx, cy, rx, ry = shadow
    size = canvas.shape[0]
    pad = int(rx + ry) // 4 + 2
    x0, x1 = max(0, int(cx - rx) - pad), min(size, int(cx + rx) + pad + 1)
    y0, y1 = max(0, int(cy - ry) - pad), min(size, int(cy + ry) + pad + 1)
    if x1 <= x0 or y1 <= y0:
        return
    m = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.ellipse(m, (int(cx - x0), int(cy - y0)), (max(1, int(rx)), max(1, int(ry))), 0, 0, 360, 1.0, -1)
    m = cv2.GaussianBlur(m, (0, 0), max(0.5, ry * 0.5))
    roi = canvas[y0:y1, x0:x1]
    roi[:] = (roi * (1.0 - strength * m[..., None])).astype(np.uint8)


def render_scene(
    rng: np.random.Generator, style: str, size: int, world: str = "full"
) -> tuple[np.ndarray, list[tuple[str, Box]]]:
    """One scene of a style: an RGB uint8 image (size x size) and a (posture, Box) per person, Box in the style's
    class ids. Uses only rng, so the same generator state gives the same image; world: see style_spec."""
    spec = style_spec(style, world)
    camera = Camera(float(rng.uniform(*spec.horizon)), float(rng.uniform(*spec.person_scale)))
    lighting = str(rng.choice(list(spec.lighting), p=list(spec.lighting.values())))
    indoor = style in INDOOR_STYLES
    floor = 0.0
    if indoor:
        canvas, wall = draw_room(rng, size, camera)
        floor = wall / size + 0.02
    else:
        canvas = draw_backdrop(rng, size, camera, style)
    odds = ROOM_POSTURE_ODDS if indoor else POSTURE_ODDS
    n = int(rng.choice([1, 2, 3, 4], p=[0.3, 0.3, 0.22, 0.18]))
    people: list[_Person] = []
    layers: list[tuple[float, int, object]] = []  # (ground row, order, person or prop): drawn far to near
    for i in range(n):
        placed = _place_person(rng, spec, camera, size, people, 15 if i else 500, odds, floor)
        if placed is None:
            continue
        person, support = placed
        people.append(person)
        row = person.anchor[1] if person.bed is None else person.bed.y  # in bed: drawn with the bed's row
        layers.append((row, 1, person))
        if person.bed is not None:
            layers.append((row - 0.01, 0, person.bed))
        elif support == "bench":
            e = camera.elevation(person.anchor[1] / size)
            y = person.anchor[1] + 0.1 * person.s * math.sin(math.radians(e))
            seat = make_prop(
                rng,
                "chair" if indoor else "bench",
                person.anchor[0],
                y,
                person.s,
                seat=person.seat,
                elevation=e,
            )
            layers.append((person.anchor[1] - 0.01, 0, seat))
        elif rng.random() < spec.occlusion:
            occ = _occluder(rng, person, camera.elevation(person.anchor[1] / size), indoor)
            layers.append((occ.y, 2, occ))
    layers += [(p.y, 0, p) for p in _scenery(rng, spec, camera, size, people, floor)]
    shadow_strength = {"day": 0.45, "dusk": 0.35}.get(lighting, 0.2)
    lamps, labels = [], []
    for _, _, item in sorted(layers, key=lambda t: (t[0], t[1])):
        if isinstance(item, Prop):
            light = draw_prop(canvas, item)
            if light is not None:
                lamps.append(light)
            continue
        if item.shadow is not None:
            _draw_shadow(canvas, item.shadow, shadow_strength)
        box = draw_figure(canvas, item.parts)
        if item.bed is not None:
            bed = item.bed
            draw_blanket(canvas, bed.x, bed.y, bed.s, bed.params["elevation"], bed.params)
        if box is not None:
            x0, y0, x1, y1 = box
            cls = STYLE_CLASS_NAMES[style].index(class_name(style, item.posture))
            labels.append(
                (
                    item.posture,
                    Box(cls, (x0 + x1) / 2 / size, (y0 + y1) / 2 / size, (x1 - x0) / size, (y1 - y0) / size),
                )
            )
    image = apply_lighting(rng, canvas, lighting, lamps)
    image = degrade(rng, image, spec.quality, lighting in ("night", "ir"))
    stamp_odds = STAMP_ODDS.get(style, 0.0)
    if stamp_odds and rng.random() < stamp_odds:
        image = timestamp(rng, image, lighting in ("night", "ir"))
    return image, labels
