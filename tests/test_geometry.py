"""Box geometry by hand: IoU (torchvision), greedy matching, the padded box, the letterbox, person crops."""

from __future__ import annotations

import numpy as np
import pytest

from fallkd_lib.data.geometry import (
    CropSpec,
    box_iou,
    crop_people,
    crop_person,
    letterbox,
    letterbox_params,
    match_boxes,
    padded_box,
)

RED = (200, 0, 0)
A = (0, 0, 10, 10)
SPEC32 = CropSpec(32, 0.1)


# ---------------------------------------------------------------- CropSpec


def test_crop_spec_is_validated_and_round_trips() -> None:
    assert CropSpec(96, 0.3).to_dict() == {"size": 96, "pad": 0.3, "fill": 114}
    assert CropSpec(np.int64(64), 0) == CropSpec(64, 0.0)  # numpy ints and int pads are normalised
    with pytest.raises(ValueError, match="crop size must be an integer >= 16"):
        CropSpec(8, 0.1)
    with pytest.raises(ValueError, match="pad must be a number >= 0"):
        CropSpec(64, -0.1)
    with pytest.raises(ValueError, match="fill must be a grey level"):
        CropSpec(64, 0.1, fill=300)


# ---------------------------------------------------------------- IoU and matching


def test_iou_of_yolo_boxes_by_hand() -> None:
    # 0.2 x 0.2 boxes whose centres are 0.05 apart: overlap 0.15 x 0.2 = 0.03, union 0.04 + 0.04 - 0.03 = 0.05
    iou = box_iou([(0.4, 0.4, 0.6, 0.6)], [(0.45, 0.4, 0.65, 0.6), (0.85, 0.85, 0.95, 0.95)])
    np.testing.assert_allclose(iou, [[0.6, 0.0]])


def test_iou_matrix_by_hand() -> None:
    iou = box_iou(np.array([A, (0, 0, 0, 10)]), np.array([(5, 0, 15, 10), A, (20, 20, 30, 30)]))
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou, [[50 / 150, 1.0, 0.0], [0.0, 0.0, 0.0]])  # degenerate box: 0, not NaN
    assert box_iou(np.zeros((0, 4)), np.array([A, A])).shape == (0, 2)


def test_two_predictions_on_one_person_match_the_better_one_only() -> None:
    assert match_boxes(np.array([(0, 0, 10, 8), A]), np.array([A])) == [(1, 0)]  # IoU 0.8 vs 1.0


def test_threshold_is_inclusive_and_checked() -> None:
    assert match_boxes(np.array([(0, 0, 10, 5)]), np.array([A]), 0.5) == [(0, 0)]  # IoU exactly 0.5
    assert match_boxes(np.array([(0, 0, 10, 5)]), np.array([A]), 0.51) == []
    with pytest.raises(ValueError, match="iou_threshold"):
        match_boxes(np.array([A]), np.array([A]), 0.0)


def test_greedy_takes_highest_iou_first_and_breaks_ties_by_index() -> None:
    gt = np.array([A, (6, 0, 16, 10)])
    # pred 0 overlaps both gts at 70/130; pred 1 is gt 0 exactly (1.0) so pred 0 gets gt 1
    assert match_boxes(np.array([(3, 0, 13, 10), A]), gt) == [(0, 1), (1, 0)]
    assert match_boxes(np.array([(3, 0, 13, 10)]), gt) == [(0, 0)]  # tie: lower gt index
    assert match_boxes(np.zeros((0, 4)), gt) == [] and match_boxes(np.array([A]), np.zeros((0, 4))) == []


# ---------------------------------------------------------------- padded_box


@pytest.mark.parametrize(
    ("xyxy", "pad", "expected"),
    [
        ((20, 30, 60, 70), 0.1, (16, 26, 64, 74)),  # inside: 40x40 box grows by 4 px on each side
        ((10.5, 20.2, 30.5, 60.7), 0.0, (10, 20, 31, 61)),  # no pad: rounded outward
        ((2, 40, 42, 60), 0.1, (0, 38, 46, 62)),  # left border: x1 = 2 - 4 -> 0
        ((40, 1, 60, 21), 0.1, (38, 0, 62, 23)),  # top border: y1 = 1 - 2 -> 0
        ((80, 40, 99, 60), 0.1, (78, 38, 100, 62)),  # right: 78.1 -> 78, 100.9 -> 101 -> 100
        ((40, 90, 60, 100), 0.1, (38, 89, 62, 100)),  # bottom: 101 -> 100
        ((0, 0, 10, 10), 0.5, (0, 0, 15, 15)),  # top-left corner
        ((90, 95, 100, 100), 0.5, (85, 92, 100, 100)),  # bottom-right: y1 = 92.5 -> 92
        (
            (0, 0, 90, 10),
            0.7,
            (0, 0, 100, 17),
        ),  # 0.7 * 90 = 62.99999999999999 is not rounded to 62/63 wrongly
        ((9.999999999999998, 10, 50, 40), 0.1, (6, 7, 54, 43)),  # float noise of YOLO -> pixel conversion
    ],
)
def test_padded_box_by_hand(xyxy, pad, expected):
    assert padded_box(xyxy, pad, 100, 100) == expected


def test_padded_box_degenerate_and_bad_input():
    with pytest.raises(ValueError, match=r"box \(110, 10, 120, 20\) is empty inside the 100x100 image"):
        padded_box((110, 10, 120, 20), 0.1, 100, 100)
    with pytest.raises(ValueError, match="x1 <= x2"):
        padded_box((50, 10, 40, 20), 0.1, 100, 100)
    with pytest.raises(ValueError, match="pad must be >= 0"):
        padded_box((10, 10, 20, 20), -0.1, 100, 100)


# ---------------------------------------------------------------- letterbox


def test_letterbox_params_wide_and_tall():
    assert letterbox_params(50, 100, 64) == (0.64, 64, 32, 0, 16)  # height 50, width 100
    assert letterbox_params(100, 50, 64) == (0.64, 32, 64, 16, 0)
    assert letterbox_params(64, 33, 64) == (1.0, 33, 64, 15, 0)  # odd margin: 15 left, 16 right


def test_letterbox_wide_input_has_grey_rows():
    image = np.full((50, 100, 3), RED, np.uint8)
    out = letterbox(image, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert (out[:16] == 114).all() and (out[48:] == 114).all()
    assert (out[16:48] == RED).all()


def test_letterbox_tall_input_has_grey_columns_and_enlarges():
    image = np.full((20, 10, 3), RED, np.uint8)  # enlarged x3.2 (INTER_LINEAR) to 32 wide x 64 tall
    out = letterbox(image, 64, fill=0)
    assert (out[:, :16] == 0).all() and (out[:, 48:] == 0).all()
    assert (out[:, 16:48] == RED).all()


def test_letterbox_no_resize_keeps_pixels_and_odd_margins():
    image = np.random.default_rng(0).integers(0, 256, (64, 33, 3), dtype=np.uint8)
    out = letterbox(image, 64)
    np.testing.assert_array_equal(out[:, 15:48], image)
    assert (out[:, :15] == 114).all() and (out[:, 48:] == 114).all()


def test_letterbox_shrinks_with_area_interpolation():
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, ::4] = 255  # one bright column in four: INTER_AREA averages to 63.75 -> 64, INTER_LINEAR gives 0
    assert (letterbox(image, 2) == 64).all()


def test_letterbox_rejects_non_rgb():
    with pytest.raises(ValueError, match="HxWx3 uint8 RGB"):
        letterbox(np.zeros((10, 10), np.uint8), 16)
    with pytest.raises(ValueError, match="HxWx3 uint8 RGB"):
        letterbox(np.zeros((10, 10, 3), np.float32), 16)


# ---------------------------------------------------------------- crop_person / crop_people


def _border_scene() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    image = np.zeros((80, 100, 3), np.uint8)  # 100 wide, 80 tall, black
    box = (0, 20, 30, 60)  # touches the left border
    image[20:60, 0:30] = RED
    return image, box


def test_crop_person_at_image_border():
    image, box = _border_scene()
    # padded box (0, 16, 33, 64): 33 x 48 -> scale 64/48, 44 x 64, left margin (64 - 44) // 2 = 10
    assert padded_box(box, 0.1, 100, 80) == (0, 16, 33, 64)
    crop = crop_person(image, box, CropSpec(64, 0.1))
    assert crop.shape == (64, 64, 3)
    assert tuple(crop[32, 32]) == RED
    assert (crop[:, :10] == 114).all() and (crop[:, 54:] == 114).all()
    assert (crop[0, 10:54] == 0).all()  # the black context above the box (rows 16..19) is kept


def test_crop_people_batch_and_empty():
    image, box = _border_scene()
    batch = crop_people(image, [box, (50, 10, 90, 70)], SPEC32)
    assert batch.shape == (2, 32, 32, 3) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[0], crop_person(image, box, SPEC32))
    assert crop_people(image, np.zeros((0, 4)), SPEC32).shape == (0, 32, 32, 3)
    assert crop_people(image, [], SPEC32).shape == (0, 32, 32, 3)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        crop_people(image, [1, 2, 3], SPEC32)
