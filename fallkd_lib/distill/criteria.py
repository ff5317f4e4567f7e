"""Training criteria (contract 2): `criterion(logits, labels, ids, images) -> dict[str, Tensor]` with "loss".

The training loop is the same for plain and distilled training; only the criterion differs:

- `CrossEntropyCriterion`: the plain baseline, {"loss"};
- `CachedKDCriterion`: teacher logits read from a `TeacherCache` by sample id, {"loss", "task_loss", "kd_loss"};
- `OnlineKDCriterion` (an nn.Module, so the loop moves it and its teacher with `.to(device)`): the frozen teacher
  runs on the SAME augmented batch as the student, after re-normalising the images from the student's mean/std
  to the teacher's when they differ (as timm's LogitDistillationTask does).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN as IMAGENET_MEAN
from timm.data import IMAGENET_DEFAULT_STD as IMAGENET_STD
from torch import Tensor, nn

from fallkd_lib.config import TrainConfig, check_kd_params
from fallkd_lib.distill.cache import TeacherCache
from fallkd_lib.distill.loss import kd_loss
from fallkd_lib.errors import UsageError

Stats = tuple[Sequence[float], Sequence[float]]


class CrossEntropyCriterion:
    """Plain cross-entropy with the hard labels: {"loss"}; ids and images are ignored."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise UsageError(
                f"label_smoothing={label_smoothing!r} must lie in [0, 1) (0 = none, 0.1 is common)."
            )
        self.label_smoothing = label_smoothing

    def __call__(
        self, logits: Tensor, labels: Tensor, ids: Tensor | None = None, images: Tensor | None = None
    ) -> dict[str, Tensor]:
        """{"loss": mean cross-entropy of the logits against the labels}."""
        return {"loss": F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)}

    def __repr__(self) -> str:
        return f"CrossEntropyCriterion(label_smoothing={self.label_smoothing})"


class CachedKDCriterion:
    """Distillation from cached teacher logits looked up BY SAMPLE ID (safe under shuffling)."""

    def __init__(
        self,
        cache: TeacherCache,
        alpha: float = TrainConfig.alpha,
        temperature: float = TrainConfig.temperature,
        *,
        label_smoothing: float = 0.0,
    ) -> None:
        check_kd_params(alpha, temperature)
        self.cache, self.alpha, self.temperature = cache, float(alpha), float(temperature)
        self.label_smoothing = label_smoothing

    def teacher_logits(self, ids: Tensor, device: torch.device | str) -> Tensor:
        """The cached teacher logits of these sample ids, on `device`."""
        return self.cache.lookup(ids.to(device))

    def __call__(
        self, logits: Tensor, labels: Tensor, ids: Tensor | None = None, images: Tensor | None = None
    ) -> dict[str, Tensor]:
        """kd_loss parts {"loss", "task_loss", "kd_loss"} with the teacher logits of the batch's ids."""
        if ids is None:
            raise UsageError(
                "CachedKDCriterion needs the batch's sample ids: the dataset must yield (image, label, index) and "
                "the loop must pass criterion(logits, labels, ids, images)."
            )
        teacher = self.teacher_logits(ids, logits.device)
        return kd_loss(
            logits, teacher, labels, self.alpha, self.temperature, label_smoothing=self.label_smoothing
        )

    def __repr__(self) -> str:
        return (
            f"CachedKDCriterion(teacher={self.cache.teacher!r}, samples={len(self.cache)}, alpha={self.alpha}, "
            f"temperature={self.temperature})"
        )


def _stats_buffer(values: Sequence[float], what: str) -> Tensor:
    t = torch.as_tensor([float(v) for v in values], dtype=torch.float32)
    if t.shape != (3,) or (what.endswith("std") and bool((t <= 0).any())):
        rule = "3 numbers > 0" if what.endswith("std") else "3 numbers"
        raise UsageError(
            f"{what}={tuple(values)!r} must be {rule} (one per RGB channel, e.g. {IMAGENET_STD})."
        )
    return t.view(1, 3, 1, 1)


class OnlineKDCriterion(nn.Module):
    """Distillation from a frozen teacher run on the same (augmented) batch; the teacher always stays in eval."""

    def __init__(
        self,
        teacher: nn.Module,
        alpha: float = TrainConfig.alpha,
        temperature: float = TrainConfig.temperature,
        student_stats: Stats = (IMAGENET_MEAN, IMAGENET_STD),
        teacher_stats: Stats = (IMAGENET_MEAN, IMAGENET_STD),
        *,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        check_kd_params(alpha, temperature)
        self.alpha, self.temperature, self.label_smoothing = float(alpha), float(temperature), label_smoothing
        self.teacher = teacher.requires_grad_(False).eval()
        for name, value in zip(
            ("student_mean", "student_std", "teacher_mean", "teacher_std"),
            (*student_stats, *teacher_stats),
            strict=True,
        ):
            self.register_buffer(name, _stats_buffer(value, name), persistent=False)
        self.renormalise = not (
            torch.equal(self.student_mean, self.teacher_mean)
            and torch.equal(self.student_std, self.teacher_std)
        )

    def train(self, mode: bool = True) -> OnlineKDCriterion:
        """Set the criterion's mode; the teacher stays in eval mode (frozen BatchNorm/dropout) regardless."""
        super().train(mode)
        self.teacher.eval()
        return self

    def teacher_input(self, images: Tensor) -> Tensor:
        """The batch as the teacher expects it: undo the student's normalisation, apply the teacher's."""
        if not self.renormalise:
            return images
        return (images * self.student_std + self.student_mean - self.teacher_mean) / self.teacher_std

    def forward(
        self, logits: Tensor, labels: Tensor, ids: Tensor | None = None, images: Tensor | None = None
    ) -> dict[str, Tensor]:
        """kd_loss parts {"loss", "task_loss", "kd_loss"} with the teacher run on `images` under no_grad."""
        if images is None:
            raise UsageError(
                "OnlineKDCriterion needs the batch images: call criterion(logits, labels, ids, images)."
            )
        with torch.no_grad():
            teacher = self.teacher(self.teacher_input(images.detach()))
        return kd_loss(
            logits, teacher, labels, self.alpha, self.temperature, label_smoothing=self.label_smoothing
        )
