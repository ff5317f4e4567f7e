"""The indoor synthetic style: its class names, beds and the people in them, furniture bounds, and the real
recipe's guard against pretraining crops rendered with other styles."""

import json
import math
from collections import Counter

import numpy as np
import pytest

from fallkd_lib.data.classmap import resolve_class_map
from fallkd_lib.data.synthetic import ALL_STYLES, INDOOR_STYLES, STYLE_CLASS_NAMES, STYLES, generate_dataset
from fallkd_lib.data.synthetic.furniture import FURNITURE_KINDS, bed_extent
from fallkd_lib.data.synthetic.poses import is_fall, sample_pose
from fallkd_lib.data.synthetic.props import draw_prop, make_prop
from fallkd_lib.data.synthetic.scene import check_style, class_name, render_scene
from fallkd_lib.errors import UsageError


def test_room_is_a_third_style_beside_the_courses_two():
    assert (
        STYLES == ("park", "cctv") and INDOOR_STYLES == ("room",) and ALL_STYLES == ("park", "cctv", "room")
    )
    assert check_style("room") == "room"
    with pytest.raises(ValueError, match="choose one of park, cctv, room"):
        check_style("office")


def test_room_class_names_map_in_bed_to_normal():
    assert STYLE_CLASS_NAMES["room"] == ["fall", "lie", "sit", "stand"]
    names = [class_name("room", p) for p in ("in_bed", "sitting", "standing", "walking", "bending", "lying")]
    assert names == ["lie", "sit", "stand", "stand", "stand", "fall"]
    assert not is_fall("in_bed")
    # the merge's default table: lying in bed is a normal person, as hospital_bed_rf labels it
    assert resolve_class_map(STYLE_CLASS_NAMES["room"]) == ["fall", "normal", "normal", "normal"]


def test_in_bed_pose_lies_on_its_back_and_asks_for_a_bed():
    for seed in range(10):
        pose, support = sample_pose(np.random.default_rng(seed), "in_bed")
        assert support == "bed" and -92 <= pose.pitch <= -80 and abs(pose.yaw) < 30


def test_bed_extent_by_hand():
    along = {"along": True, "width": 1.0}
    w, d, h = bed_extent(along, 100.0, 30.0)
    assert (w, d, h) == pytest.approx((55.0, 60.0, 32 * math.cos(math.radians(30))))  # 0.55 s, 1.2 s sin e
    across = {"along": False, "width": 1.0}
    assert bed_extent(across, 100.0, 30.0)[:2] == pytest.approx((120.0, 27.5))  # 1.2 s wide, 0.55 s sin e


@pytest.mark.parametrize("kind", FURNITURE_KINDS)
def test_furniture_stays_within_its_bounds(kind):
    # scenes keep furniture from covering people by its bounds: a drawing outside them would hide someone
    for seed in range(20):
        rng = np.random.default_rng(seed)
        prop = make_prop(rng, kind, 200.0, 300.0, 120.0, elevation=float(rng.uniform(10, 70)))
        img = np.zeros((500, 400, 3), np.uint8)
        draw_prop(img, prop)
        ys, xs = np.nonzero(img.max(axis=2))
        x0, y0, x1, y1 = prop.bounds()
        assert len(xs) > 100
        assert xs.min() >= x0 - 2 and xs.max() <= x1 + 2 and ys.min() >= y0 - 2 and ys.max() <= y1 + 2


def test_room_scenes_label_every_person_with_the_rooms_names():
    postures: Counter = Counter()
    for i in range(30):
        image, labels = render_scene(np.random.default_rng([3, i]), "room", 128)
        assert image.shape == (128, 128, 3) and 1 <= len(labels) <= 4
        for posture, box in labels:
            postures[posture] += 1
            assert STYLE_CLASS_NAMES["room"][box.cls] == class_name("room", posture)
            assert 0 <= box.cx - box.w / 2 + 1e-6 and box.cx + box.w / 2 <= 1 + 1e-6
    assert postures["in_bed"] >= 3 and sum(postures[p] for p in ("lying", "crumpled", "falling")) >= 10
    same, _ = render_scene(np.random.default_rng([3, 0]), "room", 128)
    again, _ = render_scene(np.random.default_rng([3, 0]), "room", 128)
    assert np.array_equal(same, again)


def test_a_room_dataset_merges_into_fall_and_normal(tmp_path):
    from fallkd_lib.data.merge import merge_datasets

    generate_dataset(tmp_path / "room", 8, seed=2, style="room", size=96, progress=False)
    classes = Counter()
    for line in (tmp_path / "room" / "manifest.csv").read_text().splitlines()[1:]:
        classes.update(c for c in line.split(",")[-1].split(";") if c)
    assert sum(classes.values()) >= 8 and classes["fall"] and classes["stand"]
    merge_datasets([("room", tmp_path / "room")], tmp_path / "merged", progress=False)
    boxes = json.loads((tmp_path / "merged" / "report.json").read_text())["counts"]["boxes"]
    assert (
        boxes["fall"] == classes["fall"]
        and boxes["normal"] == classes["lie"] + classes["sit"] + classes["stand"]
    )


def test_real_recipe_refuses_pretraining_crops_of_other_styles(tmp_path):
    from fallkd_lib.real.stages import synthetic_crops

    merged = tmp_path / "synthetic" / "merged"
    merged.mkdir(parents=True)
    (merged / "report.json").write_text(
        json.dumps({"counts": {"per_source": {"synth_park": {}, "synth_cctv": {}}}})
    )
    with pytest.raises(
        UsageError, match=r"merges synth_park, synth_cctv, not the styles asked \(park, cctv, room\)"
    ):
        synthetic_crops(tmp_path, 4, 32, ALL_STYLES)
    assert not (tmp_path / "synthetic" / "room").exists()  # nothing rendered before the refusal
