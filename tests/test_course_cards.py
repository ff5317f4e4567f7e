"""Results cards: the file written (exact keys and values), where it goes, JSON conversion, the notebook output."""

import datetime as dt
import json
import platform
import subprocess

import numpy as np
import pandas as pd
import pytest

import fallkd_lib
from fallkd_lib.course.cards import CARD_KEYS, CARD_MIMETYPE, read_card, results_card
from fallkd_lib.course.provenance import REPO_ROOT, git_commit
from fallkd_lib.errors import MissingFileError, UsageError


def test_card_holds_exactly_what_was_given(tmp_path) -> None:
    metrics = {
        "accuracy": np.float32(0.75),
        "per_class": {"fall": {"recall": np.float64(0.5)}},
        "images": np.int64(120),
        "passed": np.bool_(True),
        "curve": np.array([1, 2]),
        "ece": float("nan"),
        "model": "efficientnet_b0",
    }
    table = results_card(
        "03_classifier_baselines",
        metrics,
        profile="quick",
        budgets={"params_m": np.float64(4.01)},
        timings={"train": 12.5},
        folder=tmp_path,
    )
    card = json.loads((tmp_path / "03_classifier_baselines.json").read_text())
    assert tuple(card) == CARD_KEYS
    assert (
        card["notebook"] == "03_classifier_baselines" and card["profile"] == "quick" and card["schema"] == 1
    )
    assert card["metrics"] == {
        "accuracy": 0.75,
        "per_class": {"fall": {"recall": 0.5}},
        "images": 120,
        "passed": True,
        "curve": [1, 2],
        "ece": None,
        "model": "efficientnet_b0",
    }
    assert card["budgets"] == {"params_m": 4.01} and card["timings"] == {"train": 12.5}
    assert dt.datetime.fromisoformat(card["created"]).utcoffset() == dt.timedelta(0)
    env = card["environment"]
    assert set(env) == {
        "python", "platform", "torch", "torchvision", "ultralytics", "timm", "cuda", "gpu", "fallkd", "commit", "dirty"
    }  # fmt: skip
    assert env["python"] == platform.python_version() and env["fallkd"] == fallkd_lib.__version__
    import torch

    assert torch.__version__.startswith(env["torch"])  # 2.14.1 (metadata) and 2.14.1+cpu
    assert env["cuda"] == torch.cuda.is_available() and (env["gpu"] is None) == (not env["cuda"])
    assert list(table.itertuples(index=False, name=None)) == [
        ("accuracy", 0.75),
        ("per_class.fall.recall", 0.5),
        ("images", 120),
        ("passed", True),
        ("curve", [1, 2]),
        ("ece", None),
        ("model", "efficientnet_b0"),
    ]
    assert read_card(tmp_path / "03_classifier_baselines.json") == card


def test_card_names_the_git_commit_of_the_checkout(tmp_path) -> None:
    if (REPO_ROOT / ".git").exists():
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True
        )
        assert git_commit()["commit"] == head.stdout.decode().strip()
        assert isinstance(git_commit()["dirty"], bool)
    assert git_commit(tmp_path) == {"commit": None, "dirty": None}  # not a checkout


def test_folder_from_env_then_runs_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FALLKD_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("FALLKD_RESULTS", raising=False)
    results_card("01_data", {"images": 3}, profile="full")
    assert json.loads((tmp_path / "runs" / "results" / "01_data.json").read_text())["metrics"] == {
        "images": 3
    }
    monkeypatch.setenv("FALLKD_RESULTS", str(tmp_path / "course_run"))
    results_card("01_data", {"images": 4}, profile="full")
    assert read_card(tmp_path / "course_run" / "01_data.json")["metrics"] == {"images": 4}
    assert sorted(p.name for p in tmp_path.rglob("*.json")) == [
        "01_data.json",
        "01_data.json",
    ]  # no temp file left


def test_card_is_shown_in_the_notebook_output(tmp_path, monkeypatch) -> None:
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append((a, k)))
    results_card("05_pipeline", {"alerts": 2}, profile="quick", folder=tmp_path)
    ((bundle,), options) = shown[0]
    assert options == {"raw": True}
    assert bundle[CARD_MIMETYPE] == read_card(tmp_path / "05_pipeline.json")
    assert bundle["text/plain"].startswith("fallkd results card 05_pipeline (quick profile): ")


def test_nothing_shown_outside_ipython(tmp_path, monkeypatch) -> None:
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    results_card("05_pipeline", {"alerts": 2}, profile="quick", folder=tmp_path)  # no error, just the file
    assert (tmp_path / "05_pipeline.json").is_file()


def test_values_json_cannot_hold_are_named(tmp_path) -> None:
    with pytest.raises(UsageError, match=r"metrics\.model is a object"):
        results_card("03_x", {"model": object()}, profile="quick", folder=tmp_path)
    with pytest.raises(UsageError, match="without .ipynb"):
        results_card("notebooks/03_x.ipynb", {}, profile="quick", folder=tmp_path)
    with pytest.raises(UsageError, match="PROFILE"):
        results_card("03_x", {}, profile=None, folder=tmp_path)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_frames_and_series_become_objects(tmp_path) -> None:
    frame = pd.DataFrame({"accuracy": [0.5, 0.75]}, index=["resnet18", "efficientnet_b0"])
    results_card("03_x", {"table": frame, "row": frame.loc["resnet18"]}, profile="quick", folder=tmp_path)
    metrics = read_card(tmp_path / "03_x.json")["metrics"]
    assert metrics == {
        "table": {"resnet18": {"accuracy": 0.5}, "efficientnet_b0": {"accuracy": 0.75}},
        "row": {"accuracy": 0.5},
    }


def test_bad_card_files_name_the_file(tmp_path) -> None:
    with pytest.raises(MissingFileError, match="nope.json not found"):
        read_card(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"notebook": ')
    with pytest.raises(UsageError, match=r"broken\.json: not valid JSON"):
        read_card(broken)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"notebook": "01_data", "profile": "quick", "metrics": {}}))
    with pytest.raises(
        UsageError, match=r"partial\.json: not a fallkd results card, missing budgets, timings"
    ):
        read_card(partial)
    results_card("01_data", {}, profile="quick", folder=tmp_path)
    card = json.loads((tmp_path / "01_data.json").read_text())
    (tmp_path / "future.json").write_text(json.dumps({**card, "schema": 2}))
    with pytest.raises(UsageError, match=r"future\.json: results card schema 2, this fallkd reads schema 1"):
        read_card(tmp_path / "future.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(UsageError, match="list.json: a results card is a JSON object, found list"):
        read_card(tmp_path / "list.json")
