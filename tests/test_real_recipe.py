"""`fallkd real`: the real-data recipe end to end on two tiny rendered "cameras" standing in for real sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fallkd_lib.cli import main
from fallkd_lib.data.synthetic import generate_dataset
from fallkd_lib.detector.image_level import OPERATING_GATES
from fallkd_lib.errors import MissingFileError
from fallkd_lib.real.recipe import train_real
from fallkd_lib.real.stages import RealRecipe, source_images


def test_a_missing_dataset_names_its_data_yaml_and_the_option(tmp_path) -> None:
    (tmp_path / "laifi").mkdir()
    recipe = RealRecipe(tmp_path, train_source="laifi", other_source="hospital")
    with pytest.raises(MissingFileError, match=r"laifi/data.yaml not found: pass --datasets"):
        recipe.check()
    assert main(["real", "--datasets", str(tmp_path), "--out", str(tmp_path / "w"), "--train", "x"]) == 2
    assert not (tmp_path / "w").exists()  # nothing written before the check


@pytest.mark.slow
def test_train_real_writes_the_camera_and_resumes(tmp_path) -> None:
    for name, style, seed in (("cam_a", "park", 1), ("cam_b", "cctv", 2)):
        generate_dataset(tmp_path / "sets" / name, 48, seed=seed, style=style, size=160, progress=False)
    recipe = RealRecipe(
        tmp_path / "sets",
        "cam_a",
        "cam_b",
        image_size=32,
        epochs=1,
        synth_images=8,
        synth_epochs=1,
        det_epochs=1,
        det_synth_epochs=1,
    )
    summary = train_real(recipe, tmp_path / "work", progress=False)
    saved = json.loads((tmp_path / "work" / "real.json").read_text())
    assert saved["classifier"] == summary["classifier"] and saved["recipe"]["train_source"] == "cam_a"
    assert Path(summary["detector"]).is_file() and (Path(summary["classifier"]) / "best.pt").is_file()
    # the person detector started from one trained on the synthetic scenes
    assert "person_synth_pretrained" in summary["detector"]
    assert (tmp_path / "work" / "det_runs" / "synth_person" / "weights" / "best.pt").is_file()
    assert set(summary["seconds"]) == {
        "real crops",
        "synthetic crops",
        "synthetic pretraining",
        "teacher",
        "student (KD)",
        "person detector",
        "operating point",
    }
    # the camera's conf: one of the gates, chosen on cam_a's valid images, kept for these two models' files
    point = json.loads((tmp_path / "work" / "operating_point.json").read_text())
    assert point["conf"] in OPERATING_GATES and summary["operating_point"]["conf"] == point["conf"]
    assert point["valid_images"] == len(source_images(tmp_path / "work", "cam_a", ["valid"])) > 0
    assert set(point["models"]) == {summary["detector"], str(Path(summary["classifier"]) / "best.pt")}
    for model in ("teacher", "student"):
        assert all(0 <= v <= 1 for v in summary["scores"][model].values())
    # the student started from the synthetic-pretrained weights and learned from the teacher's cache
    assert (tmp_path / "work" / "synth_runs" / "efficientnet_b0" / "best.pt").is_file()
    assert any((tmp_path / "work" / "runs" / "teacher").glob("*logits*"))
    stamp = (Path(summary["classifier"]) / "best.pt").stat().st_mtime_ns
    again = train_real(recipe, tmp_path / "work", progress=False)
    assert again["scores"] == summary["scores"]
    assert (Path(summary["classifier"]) / "best.pt").stat().st_mtime_ns == stamp  # resumed, not retrained
    same = json.dumps(again["operating_point"]) == json.dumps(summary["operating_point"])  # F1 may be NaN
    assert same
