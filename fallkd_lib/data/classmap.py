"""Map the class names of each source dataset onto fallkd's two classes, `fall` and `normal`.

Every source class name resolves to one role:

- ``"fall"``: a person who has fallen or is falling;
- ``"normal"``: any other person (standing, sitting, walking, lying in bed, ...);
- ``"drop"``: boxes that are not used (objects such as beds, ambiguous postures such as ``danger``);
- ``"identity"``: a box that says *who* someone is rather than their posture (see below).

Names are matched after normalising: case-insensitive, with ``-``, ``_`` and spaces equivalent, so
``"Fall-Detected"``, ``"fall_detected"`` and ``"fall detected"`` are the same name. The table
:data:`DEFAULT_CLASS_MAP` covers the public fall datasets fallkd uses; pass ``overrides`` (Python) or
``--map NAME=TARGET`` (CLI) to map or drop other names. ``lying`` is deliberately not in the table: on
the floor it is a fall, in bed it is not, so the user must decide (``--map lying=fall``).

Identity rule
-------------
Some sources draw two boxes over the same human: an identity box (``person``, ``patient``) and a posture
box (``fall``, ``stand``, ``sit``, ``lie``, ``move``, ``danger``). In ``hospital_bed_rf`` every ``fall`` box
overlaps a ``patient`` box. Mapping ``person``/``patient`` to ``normal`` there would put a ``normal`` box on
top of every fallen patient. So:

- In a source whose names include a non-fall posture class (one mapped to ``normal``, or a dropped posture
  such as ``danger``) besides the identity names, the identity names (default ``{"person", "patient"}``,
  overridable) take the ``"identity"`` role. The merge then removes each identity box: one that overlaps
  (IoU >= 0.5) any posture box of the same image (kept or dropped) as redundant, one with no such posture
  box as unpaired. Both are counted and listed in the merge report.
- In a source where the identity name is the only non-fall class (e.g. names ``['Fall-Detected', 'person']``),
  ``person`` is simply a normal person and maps to ``normal`` (an identity name missing from the table, such
  as ``patient``, maps to ``normal`` too).
- An explicit override (``class_map={"person": "normal"}``) always wins over the identity role.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fallkd_lib.data.geometry import box_iou
from fallkd_lib.data.yolo import Box
from fallkd_lib.errors import UsageError

OUTPUT_NAMES = ("fall", "normal")  # class ids of the merged dataset
IDENTITY_IOU = 0.5
TARGETS = ("fall", "normal", "drop")
ROLES = (*TARGETS, "identity")
DEFAULT_IDENTITY_CLASSES = ("person", "patient")


def normalize_name(name: str) -> str:
    """The matching key of a class name: lower case, '-', '_' and runs of spaces become one space."""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()


_DEFAULT = {
    "fall": ["fall", "fallen", "falling", "fall-detected", "fall-action", "fall-down"],
    "normal": [
        "normal",
        "person",
        "standing",
        "stand",
        "walking",
        "walk",
        "sitting",
        "sit",
        "bending",
        "crouching",
        "move",
        "moving",
        "not-fall",
        "no-fall",
        "lie",  # hospital_bed_rf: a patient lying in bed, a hard negative (not a fall)
    ],
    "drop": [
        "bed",
        "danger",  # hospital_bed_rf: losing balance / getting out of bed, often mid-fall: left out
        "walker",
        "wheelchair",
    ],
}

DEFAULT_CLASS_MAP: dict[str, str] = {
    normalize_name(name): target for target, names in _DEFAULT.items() for name in names
}
"""Normalised source class name -> "fall" | "normal" | "drop" (copy and extend it, or pass overrides)."""

POSTURE_DROPS = frozenset({normalize_name("danger")})
"""Dropped names that still describe a person's posture (they count as posture boxes for the identity rule)."""


class UnknownClassError(UsageError):
    """A source class name that the class map does not know; the message says how to map or drop it."""


def check_overrides(overrides: dict[str, str] | None) -> dict[str, str]:
    """Overrides with normalised names, after checking every target is one of fall, normal, drop."""
    checked: dict[str, str] = {}
    bad = []
    for name, target in (overrides or {}).items():
        value = str(target).strip().lower()
        if value not in TARGETS:
            bad.append(f"{name}={target}")
        checked[normalize_name(name)] = value
    if bad:
        raise UsageError(
            f"class map override(s) with an invalid target: {', '.join(bad)}; "
            f"valid targets are {', '.join(TARGETS)} (e.g. --map lying=fall or class_map={{'lying': 'drop'}})"
        )
    return checked


def parse_map_args(items: Iterable[str]) -> dict[str, str]:
    """CLI `--map NAME=TARGET` strings as an overrides dict (targets are checked)."""
    overrides: dict[str, str] = {}
    for item in items:
        name, sep, target = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--map {item!r}: expected NAME=TARGET with TARGET one of {', '.join(TARGETS)}")
        overrides[name.strip()] = target.strip()
    check_overrides(overrides)
    return overrides


def _unknown_message(source: str, unknown: list[str]) -> str:
    where = f"source {source!r}" if source else "this source"
    names = ", ".join(repr(n) for n in unknown)
    cli = " ".join(f"--map {n.replace(' ', '_')}=fall" for n in unknown)
    py = ", ".join(f'"{n}": "fall"' for n in unknown)
    return (
        f"{where}: {len(unknown)} class name(s) not in fallkd's class map: {names}. "
        f"Say what each one is: on the CLI `{cli}`, in Python `class_map={{{py}}}`; "
        f"use =normal for a person who has not fallen, or =drop to leave those boxes out "
        f"(valid targets: {', '.join(TARGETS)})."
    )


def resolve_class_map(
    source_names: list[str],
    overrides: dict[str, str] | None = None,
    source: str = "",
    identity_classes: Iterable[str] = DEFAULT_IDENTITY_CLASSES,
) -> list[str]:
    """Per source class id, its role: "fall" | "normal" | "drop" | "identity" (see the module docstring)."""
    checked = check_overrides(overrides)
    identity = {normalize_name(n) for n in identity_classes}
    table = {**dict.fromkeys(identity, "normal"), **DEFAULT_CLASS_MAP, **checked}  # identity alone: normal
    keys = [normalize_name(n) for n in source_names]
    unknown = [name for name, key in zip(source_names, keys, strict=True) if key not in table]
    if unknown:
        raise UnknownClassError(_unknown_message(source, unknown))
    roles = [table[key] for key in keys]
    candidates = [i for i, key in enumerate(keys) if key in identity and key not in checked]
    if candidates and has_posture_besides(keys, roles, identity):
        for i in candidates:
            roles[i] = "identity"
    return roles


def has_posture_besides(keys: list[str], roles: list[str], identity: set[str]) -> bool:
    """True when a non-identity class is a non-fall posture (mapped to normal, or a dropped posture)."""
    return any(
        key not in identity and (role == "normal" or key in POSTURE_DROPS)
        for key, role in zip(keys, roles, strict=True)
    )


def posture_ids(source_names: list[str], roles: list[str]) -> set[int]:
    """Class ids whose boxes describe a posture: fall/normal, or dropped but a posture (danger, a dropped sit)."""
    ids = set()
    for i, (name, role) in enumerate(zip(source_names, roles, strict=True)):
        key = normalize_name(name)
        by_nature = key in POSTURE_DROPS or DEFAULT_CLASS_MAP.get(key) in ("fall", "normal")
        if role in ("fall", "normal") or (role == "drop" and by_nature):
            ids.add(i)
    return ids


def apply_class_map(
    boxes: list[Box], names: list[str], roles: list[str], iou_threshold: float = IDENTITY_IOU
) -> tuple[list[Box], list[tuple[int, str, str]]]:
    """Boxes remapped to fall=0 / normal=1, and (index, kind, reason) for each box left out.

    kind is "dropped_class", "identity_redundant" (overlaps a posture box, IoU >= iou_threshold) or
    "identity_unpaired" (no such posture box).
    """
    posture = posture_ids(names, roles)
    postures = [b for b in boxes if b.cls in posture]
    # IoU does not depend on the scale: normalised corners will do
    ious = box_iou([b.to_xyxy(1, 1) for b in boxes], [p.to_xyxy(1, 1) for p in postures])
    kept: list[Box] = []
    left_out: list[tuple[int, str, str]] = []
    for index, box in enumerate(boxes):
        role, name = roles[box.cls], names[box.cls]
        if role in ("fall", "normal"):
            kept.append(Box(OUTPUT_NAMES.index(role), box.cx, box.cy, box.w, box.h))
        elif role == "drop":
            left_out.append((index, "dropped_class", f"class {name!r} is mapped to drop"))
        else:
            best = postures[int(ious[index].argmax())] if postures else None
            iou = float(ious[index].max()) if postures else 0.0
            if iou >= iou_threshold:
                why = f"identity box {name!r} overlaps posture box {names[best.cls]!r} (IoU {iou:.2f})"
                left_out.append((index, "identity_redundant", why))
            else:
                why = f"identity box {name!r} has no posture box with IoU >= {iou_threshold} in this image"
                left_out.append((index, "identity_unpaired", why))
    return kept, left_out
