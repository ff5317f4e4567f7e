"""kd_loss against golden values computed by hand (plain Python math, tests/fixtures/kd_golden.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fallkd_lib.distill import kd_loss

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "kd_golden.json").read_text())
CASES = [(case, exp) for case in GOLDEN["cases"] for exp in case["expected"]]
IDS = [f"{case['name']}-a{exp['alpha']}-T{exp['temperature']}" for case, exp in CASES]


def _tensors(
    case: dict, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    student = torch.tensor(case["student"], dtype=dtype, requires_grad=True)
    teacher = torch.tensor(case["teacher"], dtype=dtype, requires_grad=True)
    return student, teacher, torch.tensor(case["labels"])


def test_golden_file_covers_the_requested_settings() -> None:
    assert GOLDEN["settings"] == [[0.85, 2.0], [0.5, 4.0], [1.0, 2.0], [0.0, 1.0]]
    assert len(GOLDEN["cases"]) == 3 and len(CASES) == 12


@pytest.mark.parametrize(("case", "exp"), CASES, ids=IDS)
def test_matches_hand_computed_values_in_float64(case: dict, exp: dict) -> None:
    student, teacher, labels = _tensors(case)
    out = kd_loss(student, teacher, labels, alpha=exp["alpha"], temperature=exp["temperature"])
    assert set(out) == {"loss", "task_loss", "kd_loss"}
    assert out["task_loss"].item() == pytest.approx(exp["ce"], rel=1e-12, abs=1e-15)
    assert out["kd_loss"].item() == pytest.approx(exp["kd"], rel=1e-12, abs=1e-15)
    assert out["loss"].item() == pytest.approx(exp["loss"], rel=1e-12, abs=1e-15)
    out["loss"].backward()
    torch.testing.assert_close(student.grad, torch.tensor(exp["grad_student"], dtype=torch.float64))
    assert teacher.grad is None  # the teacher is detached inside


@pytest.mark.parametrize(("case", "exp"), CASES[:4], ids=IDS[:4])
def test_float32_and_half_inputs_give_float32_results(case: dict, exp: dict) -> None:
    for dtype in (torch.float32, torch.float16):
        student, teacher, labels = _tensors(case, dtype)
        out = kd_loss(student, teacher, labels, alpha=exp["alpha"], temperature=exp["temperature"])
        assert out["loss"].dtype == torch.float32
        assert out["loss"].item() == pytest.approx(exp["loss"], rel=2e-3 if dtype == torch.float16 else 1e-5)


def test_alpha_one_is_exactly_cross_entropy() -> None:
    student, teacher, labels = _tensors(GOLDEN["cases"][1], torch.float32)
    out = kd_loss(student, teacher, labels, alpha=1.0, temperature=3.0)
    assert torch.equal(out["loss"], F.cross_entropy(student, labels))
    assert out["kd_loss"].item() > 0  # still logged although it does not count


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0, 7.5])
def test_kd_part_is_t_squared_times_unscaled_batchmean_kl(temperature: float) -> None:
    student, teacher, labels = _tensors(GOLDEN["cases"][1])
    p = torch.softmax(teacher.detach() / temperature, dim=1)
    q = torch.softmax(student.detach() / temperature, dim=1)
    unscaled = (p * (p.log() - q.log())).sum() / len(labels)  # sum over classes, mean over samples
    out = kd_loss(student, teacher, labels, alpha=0.3, temperature=temperature)
    assert out["kd_loss"].item() == pytest.approx(temperature**2 * unscaled.item(), rel=1e-12)


def test_golden_unscaled_kl_times_t_squared_is_the_kd_part() -> None:
    for _case, exp in CASES:
        assert exp["kd"] == pytest.approx(exp["temperature"] ** 2 * exp["kl_unscaled"], rel=1e-15)


def test_identical_logits_give_zero_kl() -> None:
    logits = torch.tensor([[3.0, -1.0, 0.5], [0.0, 0.0, 0.0], [-2.0, 4.0, 1.0]])
    for temperature in (0.5, 1.0, 2.0, 10.0):
        out = kd_loss(logits, logits.clone(), torch.tensor([0, 1, 2]), alpha=0.5, temperature=temperature)
        assert out["kd_loss"].item() == pytest.approx(0.0, abs=1e-6)


def test_argument_order_matters() -> None:
    asym = GOLDEN["asymmetry"]
    assert asym["kl_teacher_student"] == pytest.approx(0.5 * math.log(4 / 3), rel=1e-15)
    assert asym["kl_swapped"] == pytest.approx(0.75 * math.log(1.5) - 0.25 * math.log(2), rel=1e-15)
    student = torch.tensor(asym["student"], dtype=torch.float64)
    teacher = torch.tensor(asym["teacher"], dtype=torch.float64)
    labels = torch.tensor(asym["labels"])
    right = kd_loss(student, teacher, labels, alpha=0.0, temperature=1.0)["kd_loss"].item()
    swapped = kd_loss(teacher, student, labels, alpha=0.0, temperature=1.0)["kd_loss"].item()
    assert right == pytest.approx(asym["kl_teacher_student"], rel=1e-12)  # KL(teacher || student)
    assert swapped == pytest.approx(asym["kl_swapped"], rel=1e-12)
    assert abs(right - swapped) > 0.01


def test_gradients_reach_the_student_only() -> None:
    torch.manual_seed(0)
    student_net, teacher_net = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    x, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    kd_loss(student_net(x), teacher_net(x), labels, alpha=0.0, temperature=2.0)["loss"].backward()
    assert student_net.weight.grad is not None and student_net.weight.grad.abs().sum() > 0
    assert teacher_net.weight.grad is None and teacher_net.bias.grad is None


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"alpha": 1.5}, "alpha=1.5"),
        ({"alpha": -0.1}, "alpha=-0.1"),
        ({"alpha": float("nan")}, "alpha=nan"),
        ({"temperature": 0.0}, "temperature=0.0"),
        ({"temperature": -2}, "temperature=-2"),
        ({"temperature": float("inf")}, "temperature=inf"),
    ],
)
def test_bad_alpha_or_temperature_is_refused_naming_the_value(kwargs: dict, named: str) -> None:
    logits = torch.zeros(2, 2)
    with pytest.raises(ValueError, match=named):
        kd_loss(logits, logits, torch.tensor([0, 1]), **kwargs)


def test_shape_mismatches_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(2, 3\)"):
        kd_loss(torch.zeros(2, 2), torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"labels \(3,\)"):
        kd_loss(torch.zeros(2, 2), torch.zeros(2, 2), torch.tensor([0, 1, 1]))


def test_soft_target_bars_are_softmax_over_t() -> None:
    from fallkd_lib.viz.kd_plots import plot_soft_targets

    logits = [math.log(3.0), 0.0]  # T=1 -> (3/4, 1/4); T=2 -> (sqrt3, 1)/(sqrt3 + 1)
    # entropies: 0.75*ln(4/3) + 0.25*ln(4) = 0.562; at T=2 0.634*0.456 + 0.366*1.005 = 0.657
    fig = plot_soft_targets(logits, temperatures=(1, 2), class_names=["fall", "normal"])
    heights = [[round(b.get_height(), 12) for b in ax.patches] for ax in fig.axes]
    s3 = math.sqrt(3.0)
    assert heights == [[0.75, 0.25], [round(s3 / (s3 + 1), 12), round(1 / (s3 + 1), 12)]]
    assert [ax.get_title() for ax in fig.axes] == ["T = 1  (entropy 0.56)", "T = 2  (entropy 0.66)"]
    with pytest.raises(ValueError, match="3 class names"):
        plot_soft_targets(logits, class_names=["a", "b", "c"])


def test_temperature_widget_redraws_on_the_slider(monkeypatch) -> None:
    pytest.importorskip("ipywidgets")
    from fallkd_lib.viz.kd_plots import temperature_widget

    monkeypatch.delenv("FALLKD_HEADLESS", raising=False)

    widget = temperature_widget(torch.tensor([[2.0, 0.0]]), ["fall", "normal"])
    slider = widget.children[0]
    assert (slider.description, slider.value, slider.min) == ("T", 2.0, 0.5)
    slider.value = 4.0
    assert widget.kwargs == {"temperature": 4.0}


def test_unattended_runs_get_still_figures_instead_of_widgets(monkeypatch, tmp_path, capsys) -> None:
    """FALLKD_HEADLESS=1 (fallkd course, make test): no live widget, which can leave nbclient waiting for ever."""
    import cv2
    import numpy as np
    from matplotlib.figure import Figure

    from fallkd_lib.viz.kd_plots import temperature_widget
    from fallkd_lib.viz.video_widget import video_player

    monkeypatch.setenv("FALLKD_HEADLESS", "1")
    fig = temperature_widget(torch.tensor([[2.0, 0.0]]), ["fall", "normal"])
    assert isinstance(fig, Figure) and [ax.get_title().split()[2] for ax in fig.axes] == ["1", "2", "4", "8"]
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5, (32, 24))
    for k in range(8):
        writer.write(np.full((24, 32, 3), 30 * k, np.uint8))
    writer.release()
    fig = video_player({"clip": video})
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert capsys.readouterr().out.count("unattended run (FALLKD_HEADLESS=1)") == 2
