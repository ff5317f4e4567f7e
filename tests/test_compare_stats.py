"""The arithmetic of the seed comparison and the teacher's settings, by hand (no training)."""

import math

import pandas as pd
import pytest

from fallkd_lib.config import train_config
from fallkd_lib.train.compare import seed_summary
from fallkd_lib.train.recipes import build_model, teacher_config


def test_seed_summary_means_sds_and_paired_gain() -> None:
    rows = [
        ("plain", 0, 0.80, 0.70, 0.75),
        ("plain", 1, 0.84, 0.74, 0.79),
        ("kd", 0, 0.83, 0.80, 0.81),
        ("kd", 1, 0.85, 0.78, 0.80),
    ]
    per_seed = pd.DataFrame(rows, columns=["model", "seed", "accuracy", "fall recall", "fall F1"])
    s = seed_summary(per_seed.set_index(["model", "seed"]), "plain")
    assert list(s.index) == ["plain", "kd"]
    assert s.loc["plain", "accuracy mean"] == pytest.approx(0.82)
    assert s.loc["plain", "accuracy sd"] == pytest.approx(math.sqrt(2 * 0.02**2))  # sample sd of 0.80, 0.84
    assert s.loc["kd", "fall recall mean"] == pytest.approx(0.79)
    # paired gains 0.03 and 0.01: mean 0.02, sd sqrt(2 * 0.01^2)
    assert s.loc["kd", "accuracy gain mean"] == pytest.approx(0.02)
    assert s.loc["kd", "accuracy gain sd"] == pytest.approx(math.sqrt(2 * 0.01**2))
    assert s.loc["plain", "accuracy gain mean"] == 0.0


def test_teacher_config_takes_the_teacher_and_its_epochs() -> None:
    cfg = train_config("quick", epochs=5, teacher="resnet18", teacher_epochs=7)
    t = teacher_config(cfg)
    assert (t.model, t.epochs, t.image_size) == ("resnet18", 7, cfg.image_size)
    assert teacher_config(train_config("quick", epochs=4, teacher_epochs=0)).epochs == 4
    with pytest.raises(ValueError, match="teacher_epochs"):
        train_config("quick", teacher_epochs=-1)


def test_a_vit_is_frozen_only_over_pretrained_weights() -> None:
    """From scratch a ViT trains whole; frozen random blocks could never learn."""
    cfg = train_config("quick", image_size=32, pretrained=False)
    scratch = build_model("vit_tiny", cfg, 2)
    assert all(p.requires_grad for p in scratch.parameters())


def test_build_model_draws_its_initial_weights_from_the_seed() -> None:
    """The same settings give the same starting weights in any process (the quick teacher varied run to run)."""
    import torch

    cfg = train_config("quick", pretrained=False, seed=3)
    a, b = build_model("resnet18", cfg, 2), build_model("resnet18", cfg, 2)
    torch.rand(5)  # the global generator moves on between builds; the seed, not its state, decides
    c = build_model("resnet18", train_config("quick", pretrained=False, seed=4), 2)
    wa, wb, wc = (m.conv1.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
