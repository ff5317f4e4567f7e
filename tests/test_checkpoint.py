"""Checkpoints: exact round trip (weights, optimizer, scheduler, RNG), atomic writes, errors that teach."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from fallkd_lib.train import checkpoint as ckpt_module
from fallkd_lib.train.checkpoint import load_checkpoint, save_checkpoint, seed_everything


def _trained(num_classes: int = 2):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, num_classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    loss = model(torch.randn(4, 3, 2, 2)).logsumexp(dim=1).mean()
    loss.backward()
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


def test_round_trip_restores_weights_optimizer_epoch_and_rng(tmp_path):
    model, optimizer, scheduler = _trained()
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    path = tmp_path / "last.pt"
    seed_everything(3)
    save_checkpoint(
        path, model, optimizer, scheduler, scaler, 4, 0.75, {"lr": 0.1}, {"note": "x"}, ["fall", "normal"]
    )
    after_save = (torch.rand(3), random.random(), np.random.rand())
    assert list(tmp_path.iterdir()) == [path]  # atomic: no .tmp left behind

    torch.manual_seed(99)
    fresh = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.1)
    fresh_sched = torch.optim.lr_scheduler.StepLR(fresh_opt, step_size=1, gamma=0.5)
    assert not torch.equal(fresh[1].weight, model[1].weight)
    ckpt = load_checkpoint(path, fresh, fresh_opt, fresh_sched, class_names=["fall", "normal"])
    after_load = (torch.rand(3), random.random(), np.random.rand())

    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor)
    saved, loaded = optimizer.state_dict(), fresh_opt.state_dict()
    assert loaded["param_groups"][0]["lr"] == pytest.approx(0.05)  # 0.1 after one StepLR step
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(loaded["state"][0][key], saved["state"][0][key])
    assert fresh_sched.state_dict()["last_epoch"] == 1
    assert (ckpt["epoch"], ckpt["best_metric"], ckpt["config"], ckpt["extra"]) == (
        4,
        0.75,
        {"lr": 0.1},
        {"note": "x"},
    )
    assert (ckpt["class_names"], ckpt["num_classes"]) == (["fall", "normal"], 2)
    assert torch.equal(after_save[0], after_load[0])
    assert after_save[1:] == after_load[1:]


def test_class_count_mismatch_says_both_counts_and_the_fix(tmp_path):
    model, optimizer, scheduler = _trained(num_classes=2)
    path = save_checkpoint(tmp_path / "best.pt", model, None, None, None, 1, 0.5, {}, {}, ["fall", "normal"])
    three = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    with pytest.raises(
        ValueError, match=r"trained for 2 classes \['fall', 'normal'\] but the model outputs 3"
    ) as e:
        load_checkpoint(path, three)
    assert "num_classes=2" in str(e.value)
    with pytest.raises(
        ValueError, match=r"trained on classes \['fall', 'normal'\] but the data has \['a', 'b'\]"
    ):
        load_checkpoint(path, model, class_names=["a", "b"])


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, optimizer, scheduler = _trained()
    path = save_checkpoint(tmp_path / "last.pt", model, optimizer, scheduler, None, 1, None, {}, {})

    def broken_save(obj, f):
        open(f, "wb").write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, optimizer, scheduler, None, 2, None, {}, {})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert load_checkpoint(path, model, restore_rng=False)["epoch"] == 1


def test_missing_and_foreign_files_are_explained(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(FileNotFoundError, match="nope.pt not found"):
        load_checkpoint(tmp_path / "nope.pt", model)
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="not a fallkd checkpoint"):
        load_checkpoint(tmp_path / "bare.pt", model)
    (tmp_path / "junk.pt").write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt", model)


def test_architecture_mismatch_is_a_value_error(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    path = save_checkpoint(tmp_path / "a.pt", model, None, None, None, 1, None, {"model": "tiny"}, {})
    other = nn.Sequential(nn.Flatten(), nn.Linear(6, 2))  # same class count, other input size
    with pytest.raises(ValueError, match="does not fit this model"):
        load_checkpoint(path, other)
