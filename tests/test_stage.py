"""The data stage as the notebooks call it: done once, then reused while its sources, settings and outputs hold."""

from dataclasses import replace
from pathlib import Path

import pytest

from fallkd_lib import config
from fallkd_lib.data import merge
from fallkd_lib.data.stage import STAGE_FILE, run_data_stage


@pytest.fixture
def tiny_data(monkeypatch):
    monkeypatch.setattr(config, "QUICK_DATA", replace(config.QUICK_DATA, synth_images=10, synth_size=128))


def test_a_finished_data_stage_is_reused_until_something_it_depends_on_changes(
    tiny_data, tmp_path: Path, monkeypatch
) -> None:
    first = run_data_stage("quick", tmp_path, progress=False)
    assert first["reused"] is False and (tmp_path / STAGE_FILE).is_file()
    merges = []
    real = merge.merge_datasets
    monkeypatch.setattr(merge, "merge_datasets", lambda *a, **k: merges.append(a) or real(*a, **k))
    again = run_data_stage("quick", tmp_path, progress=False)
    assert again["reused"] is True and merges == []  # nothing merged, cut or plotted again
    assert {k: v for k, v in again.items() if k not in ("seconds", "reused")} == {
        k: v for k, v in first.items() if k not in ("seconds", "reused")
    }
    (tmp_path / "plots" / "samples.png").unlink()  # an output is gone: the stage runs again
    assert run_data_stage("quick", tmp_path, progress=False)["reused"] is False and len(merges) == 1
    assert (tmp_path / "plots" / "samples.png").is_file()
    monkeypatch.setattr(config, "QUICK_DATA", replace(config.QUICK_DATA, crop_pad=0.2))  # other settings
    assert run_data_stage("quick", tmp_path, progress=False)["reused"] is False and len(merges) == 2
