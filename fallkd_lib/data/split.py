"""Split items into train/valid/test so that no group straddles splits and each class keeps its proportions.

Greedy and deterministic for a seed: shuffle the groups with the seed, sort them by size (largest first,
ties keep the shuffled order), then give each group to the split with the largest deficit (target count
minus count so far) for the group's majority class. With single-item groups and integer targets this hits
the targets exactly; large groups make the shares approximate.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

from fallkd_lib.data.yolo import SPLITS
from fallkd_lib.errors import UsageError

LABEL_ORDER = ("fall", "normal", "background")


def image_label(n_fall: int, n_normal: int) -> str:
    """Stratification label of an image: "fall" if any fall box, "normal" if only normal boxes, else "background"."""
    if n_fall > 0:
        return "fall"
    return "normal" if n_normal > 0 else "background"


def check_fractions(fractions: tuple[float, ...]) -> tuple[float, float, float]:
    """The (train, valid, test) fractions, after checking there are three, none negative, summing to 1."""
    values = tuple(float(f) for f in fractions)
    if len(values) != len(SPLITS):
        raise UsageError(f"split fractions must be 3 numbers for {'/'.join(SPLITS)}, got {fractions!r}")
    if any(not math.isfinite(f) or f < 0 for f in values) or values[0] <= 0:
        raise UsageError(
            f"split fractions {fractions!r} must be >= 0 with a positive train share, e.g. (0.7, 0.15, 0.15)"
        )
    if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise UsageError(
            f"split fractions {fractions!r} sum to {sum(values):g}, not 1; e.g. (0.7, 0.15, 0.15) for train/valid/test"
        )
    return values  # type: ignore[return-value]


def _class_rank(label: str) -> tuple[int, str]:
    return (LABEL_ORDER.index(label) if label in LABEL_ORDER else len(LABEL_ORDER), label)


def grouped_stratified_split(
    labels: list[str],
    groups: list[int],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> list[str]:
    """ "train" / "valid" / "test" per item; a group never straddles splits, class shares follow fractions."""
    fractions = check_fractions(fractions)
    if len(labels) != len(groups):
        raise UsageError(f"labels ({len(labels)}) and groups ({len(groups)}) must have the same length")
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    totals = Counter(labels)
    target = {c: [totals[c] * f for f in fractions] for c in totals}
    have = {c: [0] * len(SPLITS) for c in totals}
    order = sorted(members, key=lambda g: (members[g][0], g))  # seed-independent start order
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: -len(members[g]))  # stable: equal sizes keep the shuffled order
    open_splits = [s for s, f in enumerate(fractions) if f > 0]  # a 0 share never receives a group
    result = [""] * len(labels)
    for g in order:
        counts = Counter(labels[i] for i in members[g])
        major = min(counts, key=lambda c: (-counts[c], _class_rank(c)))
        deficit = [t - h for t, h in zip(target[major], have[major], strict=True)]
        best = max(open_splits, key=lambda s: (deficit[s], -s))
        for c, k in counts.items():
            have[c][best] += k
        for i in members[g]:
            result[i] = SPLITS[best]
    return result


def split_table(labels: list[str], splits: list[str]) -> dict[str, dict[str, int]]:
    """Counts of each label per split: {split: {label: n}} (every split and label present, zeros included)."""
    classes = sorted(set(labels), key=_class_rank)
    table = {s: dict.fromkeys(classes, 0) for s in SPLITS}
    for label, split in zip(labels, splits, strict=True):
        table[split][label] += 1
    return table
