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
