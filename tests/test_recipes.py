"""Training recipes and the comparison table end to end on a tiny crop folder (real timm models, 32 px)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fallkd_lib.cli import main
from fallkd_lib.config import train_config
from fallkd_lib.train.compare import comparison_table, run_comparison
from fallkd_lib.train.recipes import CACHE_NAME, cache_teacher, distill, train_classifier

CFG = train_config("quick", image_size=32, epochs=1, batch_size=8, seed=0)


def _crops(root: Path, per_class: int = 6, classes=("fall", "normal")) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 80, (32, 32, 3)) + (150 if c == 0 else 0)
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}_{i}.png")
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("recipes")
    crops = _crops(base / "crops")
    other = _crops(base / "other", per_class=3)
    teacher = base / "teacher"
    train_classifier(crops, teacher, CFG, name="vit_tiny", progress=False)
    cache_teacher(teacher, crops, CFG, progress=False)
    return {"base": base, "crops": crops, "other": other, "teacher": teacher}


def test_train_classifier_writes_the_figures(runs) -> None:
    out = runs["base"] / "resnet"
    metrics = train_classifier(
        runs["crops"], out, CFG, name="resnet18", other_crops=runs["other"], progress=False
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["name"] == "resnet18" and saved["class_names"] == ["fall", "normal"]
    assert saved["budget"]["params"] == 11_177_538 and saved["budget"]["verdict"] == "fits"
    assert saved["test"]["n"] == 12 and saved["other_origin"]["n"] == 18  # 3 splits x 2 classes x 3
    assert len(saved["history"]) == 1 and len(saved["train_val_gap"]) == 1
    again = train_classifier(
        runs["crops"], out, CFG, name="resnet18", progress=False
    )  # finished: no retraining
    assert again["history"] == metrics["history"]


def test_distill_cached_and_online(runs) -> None:
    cached = distill(runs["crops"], runs["base"] / "kd_c", CFG, runs["teacher"], "cached", progress=False)
    online = distill(runs["crops"], runs["base"] / "kd_o", CFG, runs["teacher"], "online", progress=False)
    for m in (cached, online):
        assert {"train_loss", "train_task_loss", "train_kd_loss"} <= set(m["history"][0])
        assert m["budget"]["params"] == 4_010_110
    assert "CachedKD" in cached["criterion"] and "OnlineKD" in online["criterion"]
    with pytest.raises(ValueError, match="'cached' or 'online'"):
        distill(runs["crops"], runs["base"] / "kd_x", CFG, runs["teacher"], "offline")


def test_stale_cache_is_refused(runs, tmp_path: Path) -> None:
    crops = _crops(tmp_path / "crops")
    teacher = tmp_path / "teacher"
    for name in ("best.pt", CACHE_NAME):
        (teacher / name).parent.mkdir(exist_ok=True)
        (teacher / name).write_bytes((runs["teacher"] / name).read_bytes())
    Image.new("RGB", (32, 32)).save(crops / "train" / "fall" / "extra.png")
    with pytest.raises(ValueError, match="1 file\\(s\\) added"):
        distill(crops, tmp_path / "kd", CFG, teacher, "cached", progress=False)


def test_comparison_table_rows(runs) -> None:
    table = run_comparison(
        runs["crops"], runs["base"] / "cmp", CFG, include=("efficientnet_b0",), progress=False
    )
    assert list(table.index) == ["efficientnet_b0"]
    assert table.loc["efficientnet_b0", "params (M)"] == 4.01
    assert (runs["base"] / "cmp" / "comparison.csv").is_file()
    metrics = json.loads((runs["base"] / "cmp" / "efficientnet_b0" / "metrics.json").read_text())
    assert comparison_table({"x": metrics}).loc["x", "accuracy"] == metrics["test"]["accuracy"]
    with pytest.raises(ValueError, match="unknown runs"):
        run_comparison(runs["crops"], runs["base"] / "cmp", CFG, include=("mobilenet",))


def test_cli_train_and_clear_errors(runs, tmp_path: Path, capsys) -> None:
    args = ["--set", "image_size=32", "--set", "batch_size=8", "--epochs", "1"]
    out = tmp_path / "cli_run"
    assert main(["train-cls", str(runs["crops"]), "--model", "resnet18", "--out", str(out), *args]) == 0
    assert "resnet18: accuracy" in capsys.readouterr().out and (out / "best.pt").is_file()
    one_class = _crops(tmp_path / "one", classes=("fall",))
    assert main(["train-cls", str(one_class), "--out", str(tmp_path / "x"), *args]) == 2
    assert "missing ['a second class']" in capsys.readouterr().err
    assert main(["train-cls", str(runs["crops"]), "--set", "image_sise=32"]) == 2
    assert "Did you mean 'image_size'" in capsys.readouterr().err
    missing = tmp_path / "nope.safetensors"
    assert (
        main(
            ["train-cls", str(runs["crops"]), "--weights", str(missing), "--out", str(tmp_path / "y"), *args]
        )
        == 2
    )
    assert str(missing) in capsys.readouterr().err
