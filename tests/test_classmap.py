"""Class-name mapping: normalisation, the default table, overrides, unknown names, the identity rule."""

from __future__ import annotations

import pytest

from fallkd_lib.data.classmap import (
    DEFAULT_CLASS_MAP,
    UnknownClassError,
    apply_class_map,
    normalize_name,
    parse_map_args,
    resolve_class_map,
)
from fallkd_lib.data.yolo import Box

HOSPITAL = [
    "bed",
    "danger",
    "fall",
    "lie",
    "move",
    "patient",
    "person",
    "sit",
    "stand",
    "walker",
    "wheelchair",
]


def test_normalize_name_makes_case_dash_underscore_and_space_equivalent():
    assert normalize_name("Fall-Detected") == "fall detected"
    assert normalize_name("fall_detected") == "fall detected"
    assert normalize_name("  FALL   detected ") == "fall detected"
    assert normalize_name("Not - Fall") == "not fall"


@pytest.mark.parametrize(
    ("name", "target"),
    [
        *[(n, "fall") for n in ["fall", "fallen", "falling", "fall-detected", "fall-action", "fall-down"]],
        *[
            (n, "normal")
            for n in ["normal", "person", "standing", "stand", "walking", "walk", "sitting", "sit", "bending"]
            + ["crouching", "move", "moving", "not-fall", "no-fall", "lie"]
        ],
        *[(n, "drop") for n in ["bed", "danger", "walker", "wheelchair"]],
    ],
)
def test_default_table_entries(name, target):
    assert DEFAULT_CLASS_MAP[normalize_name(name)] == target


def test_lying_is_deliberately_not_in_the_table():
    assert "lying" not in DEFAULT_CLASS_MAP
    with pytest.raises(UnknownClassError, match="'lying'"):
        resolve_class_map(["fall", "lying"])


def test_resolve_roboflow_style_names():
    assert resolve_class_map(["Fall-Action", "Sit", "Stand"]) == ["fall", "normal", "normal"]
    assert resolve_class_map(["FALL_DOWN", "Not Fall"]) == ["fall", "normal"]


def test_hospital_names_give_identity_roles():
    roles = resolve_class_map(HOSPITAL, source="hospital_bed_rf")
    assert roles == [
        "drop", "drop", "fall", "normal", "normal", "identity", "identity", "normal", "normal", "drop", "drop",
    ]  # fmt: skip


def test_identity_name_alone_with_fall_maps_to_normal():
    assert resolve_class_map(["Fall-Detected", "person"]) == ["fall", "normal"]
    assert resolve_class_map(["fall", "patient"]) == ["fall", "normal"]  # patient is not in the table
    assert resolve_class_map(["fall", "person", "bed"]) == ["fall", "normal", "drop"]  # bed is no posture


def test_a_dropped_posture_is_enough_for_the_identity_role():
    assert resolve_class_map(["fall", "danger", "person"]) == ["fall", "drop", "identity"]


def test_identity_classes_and_explicit_overrides_win():
    roles = resolve_class_map(HOSPITAL, identity_classes=("patient",))
    assert roles[HOSPITAL.index("patient")] == "identity"
    assert roles[HOSPITAL.index("person")] == "normal"
    roles = resolve_class_map(HOSPITAL, overrides={"Person": "drop"})
    assert roles[HOSPITAL.index("person")] == "drop"
    assert roles[HOSPITAL.index("patient")] == "identity"


def test_overrides_are_normalised_and_beat_the_table():
    names = ["fall", "Lying-Down", "sit"]
    roles = resolve_class_map(names, overrides={"lying_down": "Fall", "SIT": "drop"})
    assert roles == ["fall", "fall", "drop"]


def test_unknown_names_are_all_listed_with_the_fix():
    with pytest.raises(UnknownClassError) as info:
        resolve_class_map(["fall", "lying", "Foo Bar", "stand"], source="mysrc")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "source 'mysrc'" in message
    assert "2 class name(s)" in message
    assert "'lying'" in message and "'Foo Bar'" in message
    assert "--map lying=fall --map Foo_Bar=fall" in message
    assert 'class_map={"lying": "fall", "Foo Bar": "fall"}' in message
    assert "=drop" in message and "=normal" in message


def test_bad_override_target_lists_valid_targets():
    with pytest.raises(ValueError, match=r"lying=maybe.*valid targets are fall, normal, drop"):
        resolve_class_map(["fall"], overrides={"lying": "maybe"})


def test_parse_map_args():
    assert parse_map_args(["lying=fall", " Foo = drop "]) == {"lying": "fall", "Foo": "drop"}
    with pytest.raises(ValueError, match="NAME=TARGET"):
        parse_map_args(["lying"])
    with pytest.raises(ValueError, match="valid targets"):
        parse_map_args(["lying=sideways"])


def test_apply_class_map_identity_rule():
    roles = resolve_class_map(HOSPITAL)
    fall, patient, bed, stand, staff = (
        HOSPITAL.index(n) for n in ("fall", "patient", "bed", "stand", "person")
    )
    boxes = [
        Box(patient, 0.50, 0.50, 0.20, 0.40),  # 0: over the fall box: 0.18*0.32 / (0.08+0.064-0.0576) = 0.67
        Box(fall, 0.52, 0.50, 0.20, 0.32),  # 1: kept as fall (class 0)
        Box(bed, 0.30, 0.30, 0.30, 0.30),  # 2: dropped class
        Box(patient, 0.10, 0.10, 0.10, 0.10),  # 3: no posture box near it -> unpaired
        Box(stand, 0.80, 0.60, 0.10, 0.30),  # 4: kept as normal (class 1)
        Box(staff, 0.80, 0.63, 0.10, 0.30),  # 5: over the stand box: 0.027 / (0.03+0.03-0.027) = 0.82
    ]
    kept, left_out = apply_class_map(boxes, HOSPITAL, roles)
    assert kept == [Box(0, 0.52, 0.50, 0.20, 0.32), Box(1, 0.80, 0.60, 0.10, 0.30)]
    assert [(i, kind) for i, kind, _ in left_out] == [
        (0, "identity_redundant"),
        (2, "dropped_class"),
        (3, "identity_unpaired"),
        (5, "identity_redundant"),
    ]
    assert "overlaps posture box 'fall' (IoU 0.67)" in left_out[0][2]
    assert "overlaps posture box 'stand' (IoU 0.82)" in left_out[3][2]


def test_identity_box_over_a_dropped_posture_is_redundant_not_kept():
    roles = resolve_class_map(HOSPITAL)
    danger, patient = HOSPITAL.index("danger"), HOSPITAL.index("patient")
    kept, left_out = apply_class_map(
        [Box(danger, 0.5, 0.5, 0.2, 0.4), Box(patient, 0.5, 0.5, 0.2, 0.4)], HOSPITAL, roles
    )
    assert kept == []
    assert [(i, kind) for i, kind, _ in left_out] == [(0, "dropped_class"), (1, "identity_redundant")]


def test_a_posture_dropped_by_override_still_makes_identity_boxes_redundant():
    roles = resolve_class_map(HOSPITAL, overrides={"sit": "drop"})
    sit, person, bed = HOSPITAL.index("sit"), HOSPITAL.index("person"), HOSPITAL.index("bed")
    boxes = [Box(sit, 0.5, 0.5, 0.2, 0.4), Box(person, 0.5, 0.5, 0.2, 0.4), Box(bed, 0.5, 0.5, 0.2, 0.4)]
    kept, left_out = apply_class_map(boxes, HOSPITAL, roles)
    assert kept == []
    # the person box overlaps the dropped sit box; a bed is no posture even where it overlaps exactly
    assert [(i, kind) for i, kind, _ in left_out] == [
        (0, "dropped_class"),
        (1, "identity_redundant"),
        (2, "dropped_class"),
    ]
    assert "posture box 'sit'" in left_out[1][2]
