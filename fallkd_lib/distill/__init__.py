"""Knowledge distillation: the KD loss, a teacher-logit cache indexed by sample id, and training criteria."""

from __future__ import annotations

from fallkd_lib.distill.cache import (
    TeacherCache,
    cache_teacher_logits,
    dataset_fingerprint,
    load_teacher_cache,
    read_teacher_cache,
)
from fallkd_lib.distill.criteria import CachedKDCriterion, CrossEntropyCriterion, OnlineKDCriterion
from fallkd_lib.distill.loss import kd_loss

__all__ = [
    "CachedKDCriterion",
    "CrossEntropyCriterion",
    "OnlineKDCriterion",
    "TeacherCache",
    "cache_teacher_logits",
    "dataset_fingerprint",
    "kd_loss",
    "load_teacher_cache",
    "read_teacher_cache",
]
