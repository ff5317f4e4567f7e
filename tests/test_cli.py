"""The `fallkd` command line end to end on tiny synthetic data: files written, exit codes, error messages."""

import json
from pathlib import Path

import pytest

from fallkd_lib.cli import main


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--out", str(out), "--images", "12", "--imgsz", "160", "--seed", "3"]) == 0
    return out


def test_synth_writes_one_export_per_style(synth: Path) -> None:
    for style, names in (
        ("park", ["Fall-Detected", "person"]),
        ("cctv", ["fallen", "sitting", "standing", "walking"]),
        ("room", ["fall", "lie", "sit", "stand"]),
    ):
        text = (synth / style / "data.yaml").read_text()
        assert all(name in text for name in names)
        images = sorted((synth / style).glob("*/images/*.jpg"))
        assert len(images) == 12 and all(p.name.startswith(style) for p in images)


def test_merge_crops_stats_chain(synth: Path, tmp_path: Path, capsys) -> None:
    merged, crops, plots = tmp_path / "merged", tmp_path / "crops", tmp_path / "plots"
    assert (
        main(
            ["merge", f"park={synth / 'park'}", f"cctv={synth / 'cctv'}", "--out", str(merged), "--seed", "1"]
        )
        == 0
    )
    assert "24 of 24 images kept" in capsys.readouterr().out
    report = json.loads((merged / "report.json").read_text())
    assert list(report["counts"]["per_source"]) == ["park", "cctv"]
    assert (merged / "data.yaml").read_text().count("fall") >= 1
    assert main(["crops", str(merged), "--out", str(crops), "--size", "32", "--pad", "0.2"]) == 0
    boxes = report["counts"]["boxes"]
    skipped = json.loads((crops / "report.json").read_text())["skipped"]
    assert all(s["kind"] == "small_box" for s in skipped)  # boxes under 8 px are counted, not cropped
    assert len(list(crops.glob("*/*/*.jpg"))) + len(skipped) == boxes["fall"] + boxes["normal"]
    assert main(["stats", str(merged), "--out", str(plots)]) == 0
    assert sorted(p.name for p in plots.iterdir()) == ["box_geometry.png", "class_balance.png", "samples.png"]


def test_unknown_class_name_exits_2_with_the_fix(synth: Path, tmp_path: Path, capsys) -> None:
    odd = tmp_path / "odd"
    (odd / "train" / "images").mkdir(parents=True)
    (odd / "data.yaml").write_text("names: [lying, standing]\n")
    assert main(["merge", str(odd), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "fallkd merge: error:" in err and "'lying'" in err and "--map lying=fall" in err
    assert main(["merge", str(odd), "--out", str(tmp_path / "m"), "--map", "lying"]) == 2
    assert "NAME=TARGET" in capsys.readouterr().err


def test_synth_unknown_style_exits_2_naming_the_styles(tmp_path: Path, capsys) -> None:
    assert main(["synth", "--out", str(tmp_path / "s"), "--style", "office", "--images", "2"]) == 2
    assert "unknown synthetic style 'office': choose one of park, cctv, room" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_crops_of_missing_dataset_names_the_command(tmp_path: Path, capsys) -> None:
    assert main(["crops", str(tmp_path / "nothing"), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "fallkd merge" in err or "fallkd synth" in err


def test_download_offline_fails_fast_with_alternatives(tmp_path: Path, capsys, monkeypatch) -> None:
    from fallkd_lib.data import sources

    def unreachable(**kwargs):
        raise sources.OfflineError(
            "cannot reach api.roboflow.com: you seem to be offline; use `fallkd import`"
        )

    monkeypatch.setattr(sources, "check_online", unreachable)
    assert main(["download", "fall_detection_ca3o8", "--out", str(tmp_path / "rf")]) == 2
    assert "fallkd import" in capsys.readouterr().err
    assert not (tmp_path / "rf").exists()


@pytest.mark.slow
def test_demo_runs_the_data_stage(tmp_path: Path, capsys, monkeypatch) -> None:
    from dataclasses import replace

    from fallkd_lib import config

    monkeypatch.setattr(config, "QUICK_DATA", replace(config.QUICK_DATA, synth_images=10, synth_size=128))
    assert main(["demo", "--out", str(tmp_path), "--data-only"]) == 0
    out = capsys.readouterr().out
    assert "data stage (quick profile) done" in out
    assert (tmp_path / "merged" / "report.json").is_file()
    assert len(list((tmp_path / "crops").glob("*/*/*.jpg"))) > 0
    assert (tmp_path / "plots" / "samples.png").is_file()
    tiny = replace(config.QUICK_TRAIN, image_size=32, epochs=1, teacher_epochs=1, batch_size=16)
    monkeypatch.setattr(config, "QUICK_TRAIN", tiny)
    from fallkd_lib.runtime import clip_check

    monkeypatch.setitem(clip_check.CLIPS, "per_scenario", 1)
    monkeypatch.setitem(clip_check.CLIPS, "seconds", 8.0)
    monkeypatch.setitem(clip_check.CLIPS, "fps", 2.0)
    assert (
        main(["demo", "--out", str(tmp_path), "--runs", str(tmp_path / "runs")]) == 0
    )  # data reused, then training, then the shipped detector and the student on the clips
    out = capsys.readouterr().out
    assert "efficientnet_b0 + KD (cached)" in out
    table = (tmp_path / "runs" / "comparison.csv").read_text()
    assert table.count("\n") == 6  # header + teacher, resnet18, efficientnet_b0, KD cached, KD online
    assert "person detector: shipped yolov5n at 320 px" in out
    assert "over 5 clips" in out and "demo wall time:" in out
    assert len(list((tmp_path / "runs" / "pipeline").glob("*/events.jsonl"))) == 5


@pytest.mark.slow
def test_clips_and_train_det(synth: Path, tmp_path: Path, capsys) -> None:
    clip_args = ["--per-scenario", "1", "--seconds", "8", "--fps", "2", "--imgsz", "128"]
    assert main(["clips", "--out", str(tmp_path / "clips"), *clip_args]) == 0
    scenarios = sorted(("fall_stay", "fall_recover", "sit", "walk", "crowd"))
    assert sorted(p.name for p in (tmp_path / "clips").glob("*.mp4")) == [f"{s}_00.mp4" for s in scenarios]
    merged = tmp_path / "merged"
    assert main(["merge", str(synth / "park"), "--out", str(merged)]) == 0
    assert (
        main(
            [
                "train-det",
                str(merged),
                "--mode",
                "fall_normal",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "det"),
            ]
        )
        == 0
    )
    assert "fall_normal detector: mAP50" in capsys.readouterr().out
    assert (tmp_path / "det" / "fall_normal" / "weights" / "best.pt").is_file()
