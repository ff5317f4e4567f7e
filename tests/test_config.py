import pytest

from fallkd_lib.config import FULL_DATA, data_config


def test_profiles_differ_where_they_should() -> None:
    quick, full = data_config("quick"), data_config("full")
    assert quick.source == "synthetic" and full.source == "roboflow"
    assert full.crop_size == 224 and full == FULL_DATA
    assert quick.crop_size < full.crop_size


def test_overrides_are_checked_by_name() -> None:
    assert data_config("quick", seed=3).seed == 3
    with pytest.raises(ValueError, match="unknown DataConfig key 'crop_sise'. Did you mean 'crop_size'"):
        data_config("quick", crop_sise=64)
    with pytest.raises(ValueError, match="unknown profile 'fast': choose one of quick, full"):
        data_config("fast")


def test_detector_profiles_follow_the_reference_recipe() -> None:
    from fallkd_lib.config import detect_config

    full = detect_config("full")
    assert (full.model, full.imgsz, full.batch, full.epochs, full.pretrained) == (
        "yolov5s.yaml",
        640,
        8,
        50,
        "yolov5su.pt",
    )
    assert detect_config("quick").pretrained is None
    with pytest.raises(ValueError, match="Did you mean 'imgsz'"):
        detect_config("quick", imgsize=320)
