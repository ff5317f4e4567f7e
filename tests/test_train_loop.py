"""The training loop: exact resume, metrics.csv/json, best.pt choice, criterion parts, evaluate()."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import nn

from fallkd_lib.config import train_config
from fallkd_lib.train import checkpoint as ckpt_module
from fallkd_lib.train import loop as loop_module
from fallkd_lib.train.checkpoint import read_checkpoint
from fallkd_lib.train.data import make_loaders
from fallkd_lib.train.loop import evaluate, fit, plain_criterion
from fallkd_lib.train.metrics_file import FIELDS

SIZE = 16
DEVICE = "cpu"  # exact-equality claims hold on the CPU; CUDA kernels may differ in the last bits


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    """train: 6 crops per class, val: 3 per class; fall is reddish, normal bluish, with random noise."""
    root = tmp_path_factory.mktemp("crops")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 3)):
        for name, tint in (("fall", (120, 0, 0)), ("normal", (0, 0, 120))):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(rng.integers(0, 136, (20, 20, 3)) + np.array(tint), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def tiny_net(seed: int = 0) -> nn.Module:
    """Conv + BatchNorm + Dropout: weights, running stats and dropout masks all must resume exactly."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(16, 2),
    )


def _cfg(**overrides):
    base = dict(image_size=SIZE, batch_size=4, epochs=2, lr=0.01, workers=0, seed=0, warmup_epochs=1)
    return train_config("quick", **(base | overrides))


def _loaders(crops: Path) -> dict:
    return make_loaders(crops, SIZE, 4, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, workers=0, seed=0)


def _fit(crops: Path, model: nn.Module, cfg, out: Path, criterion=None, **kwargs) -> dict:
    """fit() on fresh loaders of the tiny crop folder, on the CPU, without progress bars."""
    criterion = criterion or plain_criterion()
    return fit(model, _loaders(crops), criterion, cfg, out, progress=False, device=DEVICE, **kwargs)


class Stop(Exception):
    """Raised by a callback to simulate a crash after an epoch."""


def _stop_after(epoch: int) -> dict:
    def callback(done: int, row: dict) -> None:
        if done == epoch:
            raise Stop

    return {"on_epoch_end": [callback]}


def _csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _interrupted_then_resumed(crops: Path, out: Path, cfg) -> nn.Module:
    with pytest.raises(Stop):
        _fit(crops, tiny_net(0), cfg, out, callbacks=_stop_after(1))
    model = tiny_net(seed=123)  # other initial weights: everything must come from last.pt
    _fit(crops, model, cfg, out)
    return model


def _without(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k != key}


def test_resume_gives_the_same_weights_as_a_straight_run(crops, tmp_path):
    cfg = _cfg()
    straight = tiny_net(0)
    _fit(crops, straight, cfg, tmp_path / "straight")
    resumed = _interrupted_then_resumed(crops, tmp_path / "resumed", cfg)
    for name, tensor in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name

    rows = _csv_rows(tmp_path / "resumed" / "metrics.csv")
    assert [row["epoch"] for row in rows] == ["1", "2"]  # exactly 2 rows, epoch 1 not repeated
    straight_rows = _csv_rows(tmp_path / "straight" / "metrics.csv")
    assert [_without(row, "seconds") for row in rows] == [_without(row, "seconds") for row in straight_rows]
    assert rows[0]["lr"] == str(0.005)  # warmup: epoch 1 runs at lr * 1/2, epoch 2 at the full lr
    assert float(rows[1]["lr"]) == 0.01


def test_resume_without_rng_restore_would_differ(crops, tmp_path, monkeypatch):
    """The check above can fail: skipping the RNG restore changes dropout masks and augmentations."""
    cfg = _cfg()
    straight = tiny_net(0)
    _fit(crops, straight, cfg, tmp_path / "straight")
    real_load = ckpt_module.load_checkpoint
    monkeypatch.setattr(loop_module, "load_checkpoint", lambda *a, **k: real_load(*a, **k, restore_rng=False))
    resumed = _interrupted_then_resumed(crops, tmp_path / "resumed", cfg)
    assert not torch.equal(resumed[-1].weight, straight[-1].weight)


def test_more_epochs_continue_a_finished_run(crops, tmp_path):
    cfg = _cfg(scheduler="none")
    straight = tiny_net(0)
    _fit(crops, straight, cfg, tmp_path / "straight")
    _fit(crops, tiny_net(0), _cfg(scheduler="none", epochs=1), tmp_path / "b")
    model = tiny_net(5)
    summary = _fit(crops, model, cfg, tmp_path / "b")  # epochs 1 -> 2: continues at epoch 2
    assert [row["epoch"] for row in summary["history"]] == [1, 2]
    for name, tensor in straight.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name

    # all epochs done: fit only returns the summary, nothing trains or is rewritten
    stamp = (tmp_path / "b" / "last.pt").stat().st_mtime_ns
    again = _fit(crops, tiny_net(7), cfg, tmp_path / "b")
    assert again["history"] == summary["history"]
    assert (tmp_path / "b" / "last.pt").stat().st_mtime_ns == stamp


class Scripted(nn.Module):
    """Val accuracy follows a plan per epoch: 'right' classifies by colour, 'fall' says fall for everything."""

    def __init__(self, plan: list[str]) -> None:
        super().__init__()
        self.plan, self.epoch = plan, 0
        self.w = nn.Parameter(torch.zeros(2))

    def train(self, mode: bool = True):
        self.epoch += int(mode)  # fit calls model.train() once per epoch
        return super().train(mode)

    def forward(self, x):
        red_minus_blue = x[:, 0].mean(dim=(1, 2)) - x[:, 2].mean(dim=(1, 2))
        right = torch.stack([red_minus_blue, -red_minus_blue], dim=1)
        all_fall = torch.tensor([1.0, 0.0]).expand(len(x), 2)
        return (right if self.plan[self.epoch - 1] == "right" else all_fall) + self.w


def test_best_checkpoint_is_the_first_epoch_with_the_best_val_accuracy(crops, tmp_path):
    plan = ["fall", "right", "right", "fall"]  # val accuracy 0.5, 1.0, 1.0 (a tie), 0.5
    summary = _fit(crops, Scripted(plan), _cfg(epochs=4, lr=0.0), tmp_path)
    assert [row["val_acc"] for row in summary["history"]] == [0.5, 1.0, 1.0, 0.5]
    best, last = read_checkpoint(tmp_path / "best.pt"), read_checkpoint(tmp_path / "last.pt")
    assert (best["epoch"], best["best_metric"]) == (2, 1.0)
    assert (last["epoch"], last["best_metric"]) == (4, 1.0)
    assert summary["val"]["epoch"] == summary["best_epoch"] == 2 and summary["val"]["accuracy"] == 1.0
    assert summary["final"]["epoch"] == 4 and summary["final"]["confusion_matrix"] == [[3, 0], [3, 0]]


def test_metrics_json_csv_and_tensorboard(crops, tmp_path):
    summary = _fit(crops, tiny_net(0), _cfg(epochs=2), tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert set(saved) == set(FIELDS) and saved["schema"] == "fallkd-metrics/1"
    assert (
        saved["test"] is saved["other_origin"] is saved["budget"] is saved["input"] is None
    )  # a recipe's part
    assert saved["epochs_done"] == 2 and saved["class_names"] == ["fall", "normal"]
    assert saved["config"]["epochs"] == 2 and saved["config"]["batch_size"] == 4
    assert saved["final"]["epoch"] == 2 and saved["final"]["n"] == 6
    assert saved["final"]["accuracy"] == saved["history"][-1]["val_acc"]
    assert saved["final"]["loss"] == saved["history"][-1]["val_loss"]
    assert list(saved["final"]["per_class"]) == ["fall", "normal"]
    assert saved["val"]["accuracy"] == max(row["val_acc"] for row in saved["history"])
    assert (
        len(saved["train_val_gap"]) == 2
        and saved["criterion"] == "CrossEntropyCriterion(label_smoothing=0.0)"
    )
    columns = list(saved["history"][0])
    assert columns[:4] == ["epoch", "lr", "train_loss", "train_acc"]
    expected = {
        "val_loss",
        "val_acc",
        "val_recall_fall",
        "val_precision_fall",
        "val_auc",
        "val_ece",
        "seconds",
    }
    assert expected <= set(columns)
    rows = _csv_rows(tmp_path / "metrics.csv")
    assert len(rows) == 2 and list(rows[0]) == columns
    assert list(tmp_path.glob("tb/events.out.tfevents.*"))
    assert not list(tmp_path.glob("*.tmp*"))


def test_every_criterion_key_is_logged_and_max_batches_caps_the_epoch(crops, tmp_path):
    calls = []

    def criterion(logits, labels, ids, images):
        calls.append(ids.tolist())
        ce = F.cross_entropy(logits, labels)
        return {"loss": ce, "task_loss": ce, "kd_loss": 2 * ce}

    summary = _fit(crops, tiny_net(0), _cfg(epochs=2, max_batches=2), tmp_path, criterion=criterion)
    assert [len(batch) for batch in calls] == [4, 4, 4, 4]  # 2 epochs x 2 batches of 4 (of 3 per epoch)
    for row in summary["history"]:
        assert row["train_kd_loss"] == pytest.approx(2 * row["train_task_loss"])
        assert row["train_loss"] == pytest.approx(row["train_task_loss"])


def test_evaluate_returns_probs_labels_ids_and_cross_entropy(crops):
    model, loader = tiny_net(0).eval(), _loaders(crops)["val"]
    result = evaluate(model, loader, device=DEVICE)
    assert result["probs"].shape == (6, 2) and result["labels"].tolist() == [0, 0, 0, 1, 1, 1]
    assert result["ids"].tolist() == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(result["probs"].sum(axis=1), 1.0, rtol=1e-6)
    images = torch.stack([loader.dataset[i][0] for i in range(6)])
    with torch.no_grad():
        expected = F.cross_entropy(model(images), torch.tensor([0, 0, 0, 1, 1, 1])).item()
    assert result["loss"] == pytest.approx(expected, rel=1e-5)


def test_bad_arguments_are_explained(crops, tmp_path):
    loaders = _loaders(crops)
    with pytest.raises(ValueError, match=r"missing \['val'\]"):
        fit(tiny_net(), {"train": loaders["train"]}, plain_criterion(), _cfg(), tmp_path, device=DEVICE)
    with pytest.raises(ValueError, match="unknown callback event"):
        _fit(crops, tiny_net(), _cfg(), tmp_path, callbacks={"on_batch": []})
    with pytest.raises(TypeError, match="must return a dict with a 'loss'"):
        _fit(crops, tiny_net(), _cfg(), tmp_path, criterion=lambda *args: F.cross_entropy(*args[:2]))
    with pytest.raises(ValueError, match="TrainConfig.optimizer='sgd': choose adam or adamw"):
        _cfg(optimizer="sgd")  # refused before any model or data is touched


def test_channels_last_on_cpu_only_for_depthwise_models():
    """NHWC pays on CPU for depthwise convs (EfficientNet) only; cfg.channels_last=False always wins."""
    cpu = torch.device("cpu")
    depthwise = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 3, groups=8))
    grouped = nn.Sequential(nn.Conv2d(8, 8, 3, groups=2))  # grouped, not depthwise
    plain = nn.Sequential(nn.Conv2d(3, 8, 3))
    on, off = train_config(channels_last=True), train_config(channels_last=False)
    assert loop_module.use_channels_last(depthwise, cpu, on) is True
    assert loop_module.use_channels_last(grouped, cpu, on) is False
    assert loop_module.use_channels_last(plain, cpu, on) is False
    assert loop_module.use_channels_last(depthwise, cpu, off) is False
    assert loop_module.use_channels_last(plain, torch.device("cuda"), on) is True
