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
    assert full.val and not detect_config("quick").val  # the quick lesson validates after its last epoch only
    with pytest.raises(ValueError, match="val"):
        detect_config("quick", val="no")
    with pytest.raises(ValueError, match="Did you mean 'imgsz'"):
        detect_config("quick", imgsize=320)


# ---------------------------------------------------------------- values are checked when a config is made


@pytest.mark.parametrize(
    ("factory", "key", "value", "message"),
    [
        ("train", "temperature", 0.0, "temperature=0.0 is invalid"),
        ("train", "alpha", 1.5, "alpha=1.5 is invalid"),
        ("train", "model", "mobilenet", "TrainConfig.model='mobilenet': choose one of resnet18"),
        ("train", "label_smoothing", 1.0, r"label_smoothing=1.0: in \[0, 1\)"),
        ("train", "epochs", 0, "TrainConfig.epochs=0"),
        ("data", "split", (0.5, 0.5, 0.5), "sum to 1"),
        ("data", "crop_pad", -0.1, "pad must be a number >= 0"),
        ("data", "crop_size", 8, "crop size must be an integer >= 16"),
        ("detect", "imgsz", 100, "DetectConfig.imgsz=100: a multiple of 32"),
        ("pipeline", "conf", 2.0, r"PipelineConfig.conf=2.0: a probability in \[0, 1\]"),
    ],
)
def test_bad_values_fail_when_the_config_is_made(factory, key, value, message) -> None:
    from fallkd_lib import config

    with pytest.raises(ValueError, match=message):
        getattr(config, f"{factory}_config")("quick", **{key: value})


def test_vit_image_size_must_fit_its_patches() -> None:
    from fallkd_lib.config import train_config

    with pytest.raises(ValueError, match="vit_tiny needs a multiple of 16: try 64"):
        train_config("quick", model="vit_tiny", image_size=70)
    assert train_config("quick", model="resnet18", image_size=70).image_size == 70  # a CNN takes any size


def test_fall_state_lives_inside_the_pipeline_config() -> None:
    from fallkd_lib.config import FallStateConfig, pipeline_config

    cfg = pipeline_config("full", **{"state.alert_after": 30.0, "conf": 0.4})
    assert cfg.state == FallStateConfig(alert_after=30.0) and cfg.conf == 0.4 and cfg.imgsz is None
    with pytest.raises(ValueError, match="need 0 <= exit < enter <= 1"):
        pipeline_config("full", **{"state.exit": 0.9})
    with pytest.raises(
        ValueError, match="unknown PipelineConfig key 'alert_after'. Did you mean 'state.alert_after'"
    ):
        pipeline_config("full", alert_after=3)


def test_set_values_are_converted_to_each_fields_type() -> None:
    from fallkd_lib.config import DataConfig, DetectConfig, PipelineConfig, TrainConfig, parse_overrides

    assert parse_overrides(TrainConfig, ["epochs=5", "lr=3e-4", "amp=false", "model=resnet18"]) == {
        "epochs": 5,
        "lr": 3e-4,
        "amp": False,
        "model": "resnet18",
    }
    assert parse_overrides(DataConfig, ["split=0.8,0.1,0.1"]) == {"split": (0.8, 0.1, 0.1)}
    assert parse_overrides(DetectConfig, ["pretrained=none"]) == {"pretrained": None}
    assert parse_overrides(PipelineConfig, ["imgsz=320", "state.alert_after=5"]) == {
        "imgsz": 320,
        "state.alert_after": 5.0,
    }
    with pytest.raises(ValueError, match=r"--set epochs=five: expected int \(e.g. epochs=5\)"):
        parse_overrides(TrainConfig, ["epochs=five"])
    with pytest.raises(ValueError, match="--set takes KEY=VALUE"):
        parse_overrides(TrainConfig, ["epochs"])
    with pytest.raises(ValueError, match="Did you mean 'batch_size'"):
        parse_overrides(TrainConfig, ["batchsize=4"])


def test_a_flag_and_a_set_that_disagree_are_an_error() -> None:
    from fallkd_lib.config import TrainConfig, cli_config

    assert cli_config(TrainConfig, "quick", ["epochs=4"], epochs=None).epochs == 4
    assert cli_config(TrainConfig, "quick", ["epochs=4"], epochs=4).epochs == 4
    with pytest.raises(ValueError, match="disagrees with the flag"):
        cli_config(TrainConfig, "quick", ["epochs=4"], epochs=5)


def test_kd_and_detector_defaults_are_defined_once() -> None:
    """kd_loss and the criteria take their defaults from TrainConfig; the detector's from DetectConfig."""
    import inspect

    from fallkd_lib.config import FULL_DETECT, TrainConfig
    from fallkd_lib.detector.train import train_detector
    from fallkd_lib.distill import CachedKDCriterion, OnlineKDCriterion, kd_loss

    for fn in (kd_loss, CachedKDCriterion, OnlineKDCriterion):
        params = inspect.signature(fn).parameters
        assert (params["alpha"].default, params["temperature"].default) == (
            TrainConfig.alpha,
            TrainConfig.temperature,
        )
    params = inspect.signature(train_detector).parameters
    assert not {"epochs", "imgsz", "batch", "model", "pretrained"} & set(params)  # only through DetectConfig
    assert FULL_DETECT.patience == 100
