"""The knowledge-distillation loss (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network",
arXiv:1503.02531).

    loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL( softmax(teacher / T) || softmax(student / T) )

CE is the ordinary cross-entropy with the hard labels (mean over the batch). The KL term compares the teacher's
*softened* class distribution (temperature T > 1 spreads probability onto the wrong classes, which is the "dark
knowledge" the student learns from) with the student's, both at the same T. It is computed as

    F.kl_div(F.log_softmax(student / T), F.log_softmax(teacher / T), reduction="batchmean", log_target=True)

i.e. sum over classes of p_t * (log p_t - log p_s), summed over the batch and divided by the batch size (the
mathematically correct mean KL per sample; reduction="mean" would also divide by the number of classes).

Why T^2: the gradient of the soft term with respect to a student logit z_i is (1/T) * (q_i - p_i) / B, where q and
p are the student's and teacher's softened probabilities, and for large T (q_i - p_i) itself shrinks like 1/T, so
the soft gradients scale as 1/T^2. Multiplying by T^2 keeps the soft term's contribution roughly unchanged when T
is changed, so alpha keeps its meaning across temperatures.

Convention: here `alpha` weights the HARD-label cross-entropy, as in the reference report's recipe
(0.85 * CE + 0.15 * T^2 * KL, T = 2). Conventions differ: torchdistill and timm-style code often call the weight of
the *soft* term alpha (loss = (1 - alpha) * CE + alpha * KD), and timm's LogitDistillationTask takes separate task /
distill weights. Check which one a paper or a library means before copying its alpha.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from fallkd_lib.config import TrainConfig, check_kd_params
from fallkd_lib.errors import UsageError


def kd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor,
    alpha: float = TrainConfig.alpha,
    temperature: float = TrainConfig.temperature,
    *,
    label_smoothing: float = 0.0,
) -> dict[str, Tensor]:
    """Distillation loss parts: {"loss": total, "task_loss": CE with the labels, "kd_loss": T^2-scaled KL}.

    - "task_loss": F.cross_entropy(student_logits, labels) (mean over the batch, optional label smoothing);
    - "kd_loss": T^2 * KL(softmax(teacher/T) || softmax(student/T)), batchmean, i.e. already multiplied by T^2;
    - "loss": alpha * task_loss + (1 - alpha) * kd_loss, the scalar to back-propagate.
    The teacher logits are detached (no gradient ever reaches the teacher); the maths runs in float32
    (float64 inputs stay float64).
    """
    check_kd_params(alpha, temperature)
    alpha, temperature = float(alpha), float(temperature)
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise UsageError(
            f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} must "
            "both be [batch, classes] with the same shape: is the teacher (or its cache) for the same classes and "
            "the same batch?"
        )
    if labels.shape != student_logits.shape[:1]:
        raise UsageError(
            f"labels {tuple(labels.shape)} must be [batch] = {tuple(student_logits.shape[:1])} (one class index "
            "per sample)."
        )
    dtype = torch.promote_types(student_logits.dtype, torch.float32)  # half/bf16 -> float32, float64 kept
    student = student_logits.to(dtype)
    teacher = teacher_logits.detach().to(dtype)
    task = F.cross_entropy(student, labels, label_smoothing=label_smoothing)
    log_q = F.log_softmax(student / temperature, dim=1)
    log_p = F.log_softmax(teacher / temperature, dim=1)
    soft = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True) * (temperature**2)
    return {"loss": alpha * task + (1.0 - alpha) * soft, "task_loss": task, "kd_loss": soft}
