"""Training recipes and the comparison table end to end on a tiny crop folder (real timm models, 32 px)."""

import json
from pathlib import Path

import pytest
from conftest import make_crops
from PIL import Image

from fallkd_lib.cli import main
from fallkd_lib.config import train_config
from fallkd_lib.train.compare import comparison_table, run_comparison
from fallkd_lib.train.recipes import CACHE_NAME, cache_teacher, distill, train_classifier

pytestmark = pytest.mark.slow  # every test here trains real timm models
CFG = train_config("quick", image_size=32, epochs=1, batch_size=8, seed=0)


def _crops(root: Path, per_class: int = 6, classes=("fall", "normal")) -> Path:
    return make_crops(root, per_class, classes)


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


def test_a_finished_run_is_scored_again_only_when_its_weights_or_crops_change(runs, monkeypatch) -> None:
    import fallkd_lib.train.recipes as recipes

    out = runs["base"] / "rescore"
    first = train_classifier(runs["crops"], out, CFG, name="resnet18", progress=False)
    calls = []
    real = recipes.score_folder
    monkeypatch.setattr(recipes, "score_folder", lambda *a: calls.append(a[1]) or real(*a))
    again = train_classifier(runs["crops"], out, CFG, name="resnet18", progress=False)
    assert calls == []  # nothing changed: the saved scores are returned, not computed again
    assert again["test"] == first["test"] and again == json.loads((out / "metrics.json").read_text())
    other = train_classifier(
        runs["crops"], out, CFG, name="resnet18", other_crops=runs["other"], progress=False
    )
    assert calls == [runs["crops"], runs["other"]] and other["other_origin"]["n"] == 18
    best = out / "best.pt"
    best.write_bytes(best.read_bytes())  # new weights (a later mtime): score again
    train_classifier(runs["crops"], out, CFG, name="resnet18", other_crops=runs["other"], progress=False)
    assert len(calls) == 4
    (out / "scores.json").write_text("{not json")  # a damaged key is not trusted
    train_classifier(runs["crops"], out, CFG, name="resnet18", other_crops=runs["other"], progress=False)
    assert len(calls) == 6


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


def test_distillation_keeps_label_smoothing(runs) -> None:
    """The KD criterion gets cfg.label_smoothing: its task term is the smoothed cross-entropy."""
    import torch

    class Fixed(torch.nn.Module):
        def __init__(self, logits: torch.Tensor) -> None:
            super().__init__()
            self.logits = logits

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.logits

    from fallkd_lib.distill import kd_loss
    from fallkd_lib.train.recipes import kd_criterion

    cfg = train_config("quick", image_size=32, label_smoothing=0.1, alpha=0.5, temperature=3.0)
    logits, labels = torch.tensor([[2.0, -1.0], [0.5, 0.3]]), torch.tensor([0, 1])
    for mode in ("cached", "online"):
        criterion = kd_criterion(cfg, runs["teacher"], mode, runs["crops"])
        assert (criterion.alpha, criterion.temperature, criterion.label_smoothing) == (0.5, 3.0, 0.1)
        teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        if mode == "cached":
            criterion.cache.logits = teacher  # rows 0 and 1: the samples of ids 0 and 1
            got = criterion(logits, labels, torch.tensor([0, 1]), None)
        else:
            criterion.teacher = Fixed(teacher)  # a stand-in teacher with known logits
            got = criterion(logits, labels, None, torch.zeros(2, 3, 32, 32))
        expected = kd_loss(logits, teacher, labels, 0.5, 3.0, label_smoothing=0.1)
        torch.testing.assert_close(got["task_loss"], expected["task_loss"])
        torch.testing.assert_close(got["loss"], expected["loss"])
        assert got["task_loss"] != kd_loss(logits, teacher, labels, 0.5, 3.0)["task_loss"]


def test_the_teacher_is_rebuilt_from_its_checkpoint(runs, capsys) -> None:
    """cache-teacher and distill read the teacher's architecture from its run, not from cfg.teacher."""
    cfg = train_config("full", image_size=32, batch_size=8)  # cfg.teacher = vit_b_16; the run holds vit_tiny
    cache = cache_teacher(runs["teacher"], runs["crops"], cfg, progress=False)
    assert cache.teacher == "vit_tiny" and len(cache) == 12
    assert (
        main(
            ["cache-teacher", str(runs["crops"]), "--teacher", str(runs["teacher"]), "--set", "image_size=32"]
        )
        == 0
    )
    assert "logits of teacher vit_tiny" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # --other is for commands that score on other crops
        main(["cache-teacher", str(runs["crops"]), "--teacher", str(runs["teacher"]), "--other", "x"])


def test_metrics_json_has_one_schema(runs, tmp_path: Path) -> None:
    from fallkd_lib.train.metrics_file import FIELDS, read_metrics, write_metrics

    record = read_metrics(runs["teacher"])
    assert set(record) == set(FIELDS) and record["name"] == "vit_tiny" and record["test"]["n"] == 12
    assert record["input"] == {
        "crop_size": 32,
        "pad": 0.1,
        "fill": 114,
        "image_size": 32,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
    }  # ViT-Tiny's own stats
    with pytest.raises(ValueError, match=r"missing \['test'\]"):
        write_metrics(tmp_path / "m.json", {k: v for k, v in record.items() if k != "test"})
    (tmp_path / "old.json").write_text(json.dumps({"name": "x", "best": {}, "test": None}))
    with pytest.raises(ValueError, match="written by an older fallkd"):
        read_metrics(tmp_path / "old.json")


def test_seed_comparison_reuses_seed_0_and_writes_one_row_per_model_and_seed(runs, tmp_path: Path) -> None:
    """Seed cfg.seed trains in the main runs folder, later seeds in seed_<s>/; one teacher serves them all."""
    from fallkd_lib.train.compare import format_seed_summary, run_seed_comparison

    cfg = train_config(
        "quick", image_size=32, epochs=1, batch_size=8, seed=0, teacher_epochs=1, max_batches=1
    )
    out = tmp_path / "cmp"
    summary = run_seed_comparison(runs["crops"], out, cfg, seeds=2, progress=False)
    assert list(summary.index) == [
        "efficientnet_b0",
        "efficientnet_b0 + KD (cached)",
        "efficientnet_b0 + KD (online)",
    ]
    assert (summary["seeds"] == 2).all()
    assert summary.loc["efficientnet_b0", "accuracy gain mean"] == 0.0  # the baseline against itself
    for run in ("efficientnet_b0", "efficientnet_b0_kd_cached", "efficientnet_b0_kd_online"):
        assert (out / run / "best.pt").is_file() and (out / "seed_1" / run / "best.pt").is_file()
    assert not (out / "seed_1" / "teacher").exists()
    assert not (out / "comparison.csv").exists()  # the main table of runs_dir is run_comparison's alone
    assert len(open(out / "seeds.csv").read().strip().splitlines()) == 1 + 3 * 2
    assert "+-" in format_seed_summary(summary)
    with pytest.raises(ValueError, match="seeds must be"):
        run_seed_comparison(runs["crops"], out, cfg, seeds=0)


def test_comparison_side_by_side_trains_the_teacher_first_and_resumes_alone(runs, tmp_path: Path) -> None:
    """jobs=2: every run trains in a worker (KD after its teacher); a later jobs=1 call reuses them all."""
    cfg = train_config(
        "quick", image_size=32, epochs=1, batch_size=8, seed=0, teacher_epochs=1, max_batches=1
    )
    include = ("teacher", "resnet18", "efficientnet_b0_kd_cached")
    out = tmp_path / "lanes"
    table = run_comparison(runs["crops"], out, cfg, include=include, progress=False, jobs=2)
    assert list(table.index) == ["teacher (resnet18)", "resnet18", "efficientnet_b0 + KD (cached)"]
    assert (out / "teacher" / CACHE_NAME).is_file()
    stamps = {run: (out / run / "best.pt").stat().st_mtime_ns for run in include}
    again = run_comparison(runs["crops"], out, cfg, include=include, progress=False)
    assert {run: (out / run / "best.pt").stat().st_mtime_ns for run in include} == stamps  # nothing retrained
    assert again["accuracy"].tolist() == table["accuracy"].tolist()


def test_seed_comparison_side_by_side_matches_a_later_sequential_call(runs, tmp_path: Path) -> None:
    """jobs=2 trains the teacher, then every seed's students in workers; jobs=1 afterwards retrains nothing."""
    from fallkd_lib.train.compare import run_seed_comparison

    cfg = train_config(
        "quick", image_size=32, epochs=1, batch_size=8, seed=0, teacher_epochs=1, max_batches=1
    )
    include, out = ("efficientnet_b0", "efficientnet_b0_kd_cached"), tmp_path / "seeds"
    summary = run_seed_comparison(runs["crops"], out, cfg, seeds=2, include=include, progress=False, jobs=2)
    assert list(summary.index) == ["efficientnet_b0", "efficientnet_b0 + KD (cached)"]
    assert (out / "teacher" / CACHE_NAME).is_file() and (out / "seed_1" / include[1] / "best.pt").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("best.pt")}
    assert len(stamps) == 1 + 2 * 2  # the teacher and two students per seed
    again = run_seed_comparison(runs["crops"], out, cfg, seeds=2, include=include, progress=False)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("best.pt")} == stamps
    assert again.equals(summary)
