"""`fallkd real`: the real-data recipe end to end on two tiny rendered "cameras" standing in for real sets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fallkd_lib.cli import main
from fallkd_lib.data import paste
from fallkd_lib.data.synthetic import generate_dataset
from fallkd_lib.detector.image_level import OPERATING_GATES
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.real.recipe import detector_reach, operating_point, train_real
from fallkd_lib.real.stages import RealRecipe, source_images


def test_a_missing_dataset_names_its_data_yaml_and_the_option(tmp_path) -> None:
    (tmp_path / "laifi").mkdir()
    recipe = RealRecipe(tmp_path, train_source="laifi", other_source="hospital")
    with pytest.raises(MissingFileError, match=r"laifi/data.yaml not found: pass --datasets"):
        recipe.check()
    assert main(["real", "--datasets", str(tmp_path), "--out", str(tmp_path / "w"), "--train", "x"]) == 2
    assert not (tmp_path / "w").exists()  # nothing written before the check


def test_an_unknown_pretraining_style_stops_before_anything_is_written(tmp_path, capsys) -> None:
    args = [
        "real",
        "--datasets",
        str(tmp_path),
        "--out",
        str(tmp_path / "w"),
        "--det-synth-styles",
        "park,office",
    ]
    assert main(args) == 2
    assert "unknown synthetic style 'office': choose one of park, cctv, room" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


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
    # the person detector started from one trained on the synthetic scenes of the three styles with cam_a's
    # train-split people pasted in (none of the other camera's); the classifiers' crops hold the same three styles
    assert "person_pasted_park_cctv_room" in summary["detector"]
    assert (tmp_path / "work" / "det_runs" / "pasted_person_park_cctv_room" / "weights" / "best.pt").is_file()
    pasted = json.loads(
        (tmp_path / "work" / "synthetic" / "pasted_park_cctv_room" / "paste_report.json").read_text()
    )
    assert pasted["sources"] == ["cam_a"] and pasted["cuts"] > 0 and pasted["spec"]["seed"] == 0
    assert pasted["cuts"] == len(
        paste.people_cuts(tmp_path / "work" / "real" / "merged", "train", ("cam_a",))
    )
    det_sources = json.loads(
        (tmp_path / "work" / "synthetic" / "merged_park_cctv_room" / "report.json").read_text()
    )
    assert list(det_sources["counts"]["per_source"]) == ["synth_park", "synth_cctv", "synth_room"]
    cls_sources = json.loads((tmp_path / "work" / "synthetic" / "merged" / "report.json").read_text())
    assert list(cls_sources["counts"]["per_source"]) == ["synth_park", "synth_cctv", "synth_room"]
    assert set(summary["seconds"]) == {
        "real crops",
        "synthetic crops",
        "synthetic pretraining",
        "teacher",
        "student (KD)",
        "person detector",
        "operating point",
        "detector on the other camera",
    }
    reach = summary["scores"]["detector_reach"]
    assert reach["cam_a"]["splits"] == ["test"] and reach["cam_b"]["splits"] == ["train", "valid", "test"]
    assert reach["cam_b"]["images"] == len(
        source_images(tmp_path / "work", "cam_b", ["train", "valid", "test"])
    )
    assert all(0 <= reach[c]["AP"] <= 1 for c in reach)
    # the camera's conf: one of the gates, chosen on cam_a's valid images, kept for these two models' files
    point = json.loads((tmp_path / "work" / "operating_point.json").read_text())
    assert point["conf"] is None or point["conf"] in OPERATING_GATES  # None: a 1-epoch detector found no one
    assert summary["operating_point"]["conf"] == point["conf"] and point["source"] == "cam_a"
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
    assert again["operating_point"] == summary["operating_point"]
    cached = tmp_path / "work" / "operating_point.json"
    stamp = cached.stat().st_mtime_ns
    assert (
        operating_point(tmp_path / "work", "cam_a", summary["detector"], summary["classifier"])["conf"]
        == (point["conf"])
    )
    assert cached.stat().st_mtime_ns == stamp  # the same two model files: read back, not chosen again
    weights = Path(summary["classifier"]) / "best.pt"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    operating_point(tmp_path / "work", "cam_a", summary["detector"], summary["classifier"])
    assert cached.stat().st_mtime_ns != stamp  # the classifier changed: chosen again


def _fake_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: list[dict], rows: list) -> tuple:
    """operating_point's inputs without training: the valid images, and each image's detection rows."""
    import fallkd_lib.detector.image_systems as systems
    import fallkd_lib.real.recipe as recipe
    import fallkd_lib.runtime.loaders as loaders

    detector, classifier = tmp_path / "det.pt", tmp_path / "cls"
    classifier.mkdir()
    for path in (detector, classifier / "best.pt"):
        path.write_bytes(b"weights")
    monkeypatch.setattr(recipe, "source_images", lambda work, source, splits: images)
    monkeypatch.setattr(loaders, "load_detector", lambda path: "detector")
    monkeypatch.setattr(loaders, "load_classifier", lambda path, device=None: "classifier")
    monkeypatch.setattr(systems, "detect_images", lambda det, imgs, conf: [None] * len(imgs))
    monkeypatch.setattr(systems, "classify_boxes", lambda cls, imgs, boxes: [np.array(r) for r in rows])
    return detector, classifier


def test_the_operating_point_is_the_gate_and_threshold_with_the_best_valid_f1(tmp_path, monkeypatch) -> None:
    box = (0, 0, 10, 20)
    labels = ["fall", "fall", "normal", "normal"]
    images = [{"image": f"{k}.jpg", "gt": [(box, label)]} for k, label in enumerate(labels)]
    rows = [  # x1 y1 x2 y2 conf fall, per image: the first fall is found only at conf 0.04, a chair at 0.03
        [[0, 0, 10, 20, 0.04, 0.9]],
        [[0, 0, 10, 20, 0.3, 0.8]],
        [[0, 0, 10, 20, 0.3, 0.1]],
        [[0, 0, 10, 20, 0.03, 0.95]],
    ]
    detector, classifier = _fake_models(tmp_path, monkeypatch, images, rows)
    point = operating_point(tmp_path, "cam_a", detector, classifier)
    # gate 0.04 keeps the first fall and drops the chair: threshold 0.8 calls both falls and nothing else (F1 1);
    # 0.03 lets the chair in (F1 0.8), 0.05 and up lose the first fall (F1 2/3)
    assert (point["conf"], point["threshold"], point["valid_fall_f1"], point["valid_accuracy"]) == (
        0.04,
        0.8,
        1.0,
        1.0,
    )
    assert point["valid_images"] == 4 and point["source"] == "cam_a"


def test_an_operating_point_needs_a_fall_in_the_valid_split(tmp_path, monkeypatch) -> None:
    images = [{"image": "0.jpg", "gt": [((0, 0, 10, 20), "normal")]}]
    detector, classifier = _fake_models(tmp_path, monkeypatch, images, [[]])
    with pytest.raises(UsageError, match=r"cam_a: its valid split holds 1 images and none with a fall"):
        operating_point(tmp_path, "cam_a", detector, classifier)
    assert not (tmp_path / "operating_point.json").exists()


def test_detector_reach_scores_both_cameras_and_is_cached_for_the_detector_file(
    tmp_path, monkeypatch
) -> None:
    import fallkd_lib.detector.image_systems as systems
    import fallkd_lib.real.recipe as recipe_module
    import fallkd_lib.runtime.loaders as loaders

    person = (0, 0, 10, 20)
    images = {  # cam_a: its person found; cam_b: a box on nobody first, its person found second
        "cam_a": [{"image": "a.jpg", "gt": [(person, "fall")]}],
        "cam_b": [{"image": "b.jpg", "gt": [(person, "normal")]}],
    }
    rows = {"a.jpg": [[0, 0, 10, 20, 0.5, 0]], "b.jpg": [[50, 50, 60, 70, 0.6, 0], [0, 0, 10, 20, 0.2, 0]]}
    calls = []
    monkeypatch.setattr(recipe_module, "source_images", lambda work, source, splits: images[source])
    monkeypatch.setattr(loaders, "load_detector", lambda path: "detector")

    def detect(det, imgs, conf):
        calls.append(conf)
        return [np.array(rows[i["image"]], dtype=float) for i in imgs]

    monkeypatch.setattr(systems, "detect_images", detect)
    detector = tmp_path / "det.pt"
    detector.write_bytes(b"weights")
    recipe = RealRecipe(tmp_path, "cam_a", "cam_b")
    reach = detector_reach(tmp_path, recipe, detector)
    assert calls == [min(OPERATING_GATES)] * 2  # boxes down to the lowest gate the camera may choose
    # cam_a: one person, found by the only box: ultralytics' perfect AP; cam_b: precision 1/2 at recall 1
    assert reach["cam_a"]["AP"] == pytest.approx(0.995) and reach["cam_a"]["top_box_person"] == 1.0
    assert reach["cam_b"]["AP"] == pytest.approx(0.5 * (1 - 0.005)) and reach["cam_b"]["recall"] == 1.0
    assert reach["cam_b"]["top_box_person"] == 0.0
    assert json.loads((tmp_path / "detector_reach.json").read_text()) == reach
    assert detector_reach(tmp_path, recipe, detector) == reach and len(calls) == 2  # cached
    os.utime(detector, ns=(detector.stat().st_atime_ns, detector.stat().st_mtime_ns + 10**9))
    detector_reach(tmp_path, recipe, detector)
    assert len(calls) == 4  # another detector file: scored again


def test_fallkd_real_prints_the_detector_reach_and_warns_when_it_does_not_cross(
    tmp_path, monkeypatch, capsys
):
    import fallkd_lib.real.recipe as recipe_module

    crop = {"test accuracy": 0.9, "test fall F1": 0.9, "other accuracy": 0.6, "other fall F1": 0.5}
    reach = {"splits": ["test"], "AP": 0.6, "recall": 0.8, "top_box_person": 0.7}
    summary = {
        "detector": "D.pt",
        "classifier": "C",
        "operating_point": {"conf": 0.05, "threshold": 0.4, "valid_fall_f1": 0.9, "valid_images": 10},
        "scores": {
            "teacher": crop,
            "student": crop,
            "detector_valid_mAP50": 0.55,
            "detector_reach": {
                "fall_action_laifi": reach,
                "hospital_bed_rf": {
                    **reach,
                    "splits": ["train", "valid", "test"],
                    "AP": 0.01,
                    "top_box_person": None,
                },
            },
        },
        "seconds": {},
    }
    recipes = []
    monkeypatch.setattr(recipe_module, "train_real", lambda recipe, out: recipes.append(recipe) or summary)
    assert main(["real", "--datasets", str(tmp_path), "--out", str(tmp_path / "w")]) in (0, None)
    assert recipes[-1].det_paste is True and recipes[-1].det_synth_styles == ("park", "cctv", "room")
    out = capsys.readouterr().out
    assert (
        "person detector on fall_action_laifi (test): AP50 0.600, recall 0.800, most confident box a person in 70%"
        in out
    )
    assert "person detector on hospital_bed_rf (train, valid, test): AP50 0.010" in out
    assert "warning: the detector finds hospital_bed_rf's people far less well than its own camera's" in out
    summary["scores"]["detector_reach"]["hospital_bed_rf"]["AP"] = (
        0.4  # two thirds of the source's: no warning
    )
    main(["real", "--datasets", str(tmp_path), "--out", str(tmp_path / "w"), "--no-det-paste"])
    assert "far less well" not in capsys.readouterr().out
    assert recipes[-1].det_paste is False  # rendered people only
    assert recipes[-1].seed == 0
    main(["real", "--datasets", str(tmp_path), "--out", str(tmp_path / "w"), "--seed", "3"])
    assert recipes[-1].seed == 3


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_a_bad_seed_is_refused_before_anything_is_written(tmp_path, seed) -> None:
    with pytest.raises(UsageError, match=rf"seed {seed!r}: expected an integer >= 0"):
        train_real(RealRecipe(tmp_path, seed=seed), tmp_path / "w", progress=False)
    assert not (tmp_path / "w").exists()


def test_a_work_folder_keeps_its_seed(tmp_path, monkeypatch) -> None:
    from fallkd_lib.real import recipe as recipe_module

    monkeypatch.setattr(RealRecipe, "check", lambda self: None)  # no datasets: stop at the first step
    monkeypatch.setattr(recipe_module, "real_crops", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        train_real(RealRecipe(tmp_path, seed=2), tmp_path / "w", progress=False)
    assert json.loads((tmp_path / "w" / "seed.json").read_text()) == {"seed": 2}
    with pytest.raises(UsageError, match=r"trained with seed 2 .*not 0: its runs would resume as they are"):
        train_real(RealRecipe(tmp_path), tmp_path / "w", progress=False)
    with pytest.raises(KeyboardInterrupt):  # the same seed resumes
        train_real(RealRecipe(tmp_path, seed=2), tmp_path / "w", progress=False)
