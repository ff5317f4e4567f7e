"""Hashing, near-duplicate grouping and the grouped stratified split."""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from fallkd_lib.data import dedup
from fallkd_lib.data.dedup import (
    content_hash,
    deduplicate,
    groups_from_pairs,
    hash_hex,
    near_duplicate_groups,
    near_duplicate_pairs,
    pattern_pairs,
    perceptual_hash,
)
from fallkd_lib.data.split import check_fractions, grouped_stratified_split, image_label, split_table


def smooth_image(seed: int, size: int = 64) -> Image.Image:
    """Random 8x8 colours blown up smoothly: strong low frequencies, so the phash is stable."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize(
        (size, size), Image.BICUBIC
    )


def distance(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


# ---------------------------------------------------------------- hashes


def test_content_hash_is_sha256_of_the_bytes(tmp_path):
    a, b, c = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    smooth_image(1).save(a, quality=95)
    b.write_bytes(a.read_bytes())
    smooth_image(2).save(c, quality=95)
    assert content_hash(a) == hashlib.sha256(a.read_bytes()).hexdigest()
    assert content_hash(a) == content_hash(b) != content_hash(c)


def test_perceptual_hash_is_imagehash_phash_as_int(tmp_path):
    image = smooth_image(3)
    value = perceptual_hash(image)
    assert value == int(str(imagehash.phash(image)), 16)
    assert 0 <= value < 2**64
    assert hash_hex(value) == str(imagehash.phash(image)) and len(hash_hex(5)) == 16


def test_near_duplicates_are_close_and_distinct_images_far(tmp_path):
    original = tmp_path / "a.jpg"
    smooth_image(7).save(original, quality=95)
    brighter = tmp_path / "b.jpg"
    ImageEnhance.Brightness(smooth_image(7)).enhance(1.05).save(brighter, quality=70)
    h = [perceptual_hash(Image.open(p).convert("RGB")) for p in (original, brighter)]
    assert distance(h[0], h[1]) <= 4
    others = [perceptual_hash(smooth_image(s)) for s in range(20, 40)]
    assert min(distance(h[0], o) for o in others) > 8


# ---------------------------------------------------------------- grouping


def test_near_duplicate_pairs_by_hand():
    top = 2**64 - 1  # all 64 bits set: checks the uint64 top bit survives
    hashes = [0b0, 0b1, 0b11111, top, 0b0, top ^ 0b11]
    assert near_duplicate_pairs(hashes, 1).tolist() == [[0, 1], [0, 4], [1, 4]]
    assert near_duplicate_pairs(hashes, 2).tolist() == [[0, 1], [0, 4], [1, 4], [3, 5]]
    assert near_duplicate_pairs([], 4).shape == (0, 2)
    with pytest.raises(ValueError, match="max_distance"):
        near_duplicate_pairs(hashes, -1)


def test_chunking_gives_the_same_pairs(monkeypatch):
    rng = random.Random(0)
    hashes = [rng.getrandbits(64) for _ in range(200)]
    hashes += [h ^ (1 << rng.randrange(64)) for h in hashes[:50]]
    whole = near_duplicate_pairs(hashes, 3).tolist()
    monkeypatch.setattr(dedup, "_PAIR_BLOCK", 7)  # 1 row per chunk
    assert near_duplicate_pairs(hashes, 3).tolist() == whole
    assert len(whole) >= 50


def test_groups_chain_through_near_duplicates():
    # 0 -> 0b1111 is 4 bits, 0b1111 -> 0b11111111 is 4 bits, 0 -> 0b11111111 is 8 bits
    hashes = [0, 0b1111, 0b11111111, 0xFFFF << 40]
    assert near_duplicate_groups(hashes, 4) == [0, 0, 0, 1]
    assert near_duplicate_groups(hashes, 3) == [0, 1, 2, 3]


def test_groups_from_pairs_numbered_by_first_member():
    assert groups_from_pairs(6, np.array([[4, 5], [1, 3], [3, 5]])) == [0, 1, 2, 1, 1, 1]
    assert groups_from_pairs(3, np.zeros((0, 2), dtype=int)) == [0, 1, 2]
    chain = np.array([[i, i + 1] for i in range(999)])[::-1]  # a long chain, worst case for hooking
    assert set(groups_from_pairs(1000, chain)) == {0}


@pytest.mark.slow
def test_thirty_thousand_hashes_in_bounded_chunks():
    """The speed of this is benchmarks/bench_data.py's claim; here: the right groups out of 450 M pairs."""
    rng = random.Random(1)
    hashes = [rng.getrandbits(64) for _ in range(30_000)]
    for i in range(0, 30_000, 100):
        hashes[i + 1] = hashes[i] ^ 0b101  # 300 near-duplicate pairs
    groups = near_duplicate_groups(hashes, 4)
    assert len(set(groups)) == 30_000 - 300 and groups[0] == groups[1] != groups[2]


def test_bit_count_without_numpy_2():
    """pyproject allows numpy>=1.24, which has no np.bitwise_count: the byte-table count must agree with it."""
    values = np.random.default_rng(0).integers(0, 2**63, (5, 7), dtype=np.uint64) * np.uint64(3)
    values[0, :3] = [0, np.iinfo(np.uint64).max, 1 << 63]
    expected = [[bin(int(v)).count("1") for v in row] for row in values]
    assert dedup.popcount_table(values).tolist() == expected
    assert dedup.popcount(values).tolist() == expected


def test_deduplicate_is_the_same_on_numpy_1(monkeypatch):
    rng = random.Random(2)
    hashes = [rng.getrandbits(64) for _ in range(300)]
    for i in range(0, 300, 10):
        hashes[i + 1] = hashes[i] ^ 0b11
    args = ([f"s{i}" for i in range(300)], hashes, [i % 2 for i in range(300)], [f"x{i}" for i in range(300)])
    with_numpy_2 = deduplicate(*args, max_distance=4)
    monkeypatch.delattr(np, "bitwise_count", raising=False)  # what NumPy 1.x looks like
    assert not hasattr(np, "bitwise_count")
    assert deduplicate(*args, max_distance=4) == with_numpy_2
    assert sum(not k for k in with_numpy_2.keep) > 0  # the cross-source pairs were found and dropped


def test_deduplicate_exact_cross_source_and_within_source():
    far = 0xF0F0F0F0F0F0F0F0
    result = deduplicate(
        sha256=["A", "B", "C", "A", "D", "E"],
        phash=[0, 0b111, far, 0, 0b1, far ^ 0b11],
        source=[0, 0, 1, 1, 1, 1],
        stems=["a", "b", "c", "d", "e", "f"],
        max_distance=4,
    )
    assert result.keep == [True, True, True, False, False, True]
    assert result.reason == [None, None, None, "exact_duplicate", "near_duplicate", None]
    assert result.duplicate_of == [None, None, None, 0, 0, None]
    assert result.distance == [None, None, None, 0, 1, None]
    # 0, 1 (same source) and 4 (removed copy) are one group; 2 and 5 are near in source 1; 3 is alone
    assert result.group == [0, 0, 1, 2, 0, 1]


def test_cross_source_removal_needs_a_kept_copy():
    # A (source 0) ~ B (source 1) ~ C (source 2), A and C 8 bits apart: B goes, C stays (its only match is gone)
    result = deduplicate(["a", "b", "c"], [0, 0b1111, 0b11111111], [0, 1, 2], ["a", "b", "c"], max_distance=4)
    assert result.keep == [True, False, True]
    assert result.group == [0, 0, 0]  # C still lands in A's group


def test_group_pattern_unites_within_a_source_only():
    far = [0, 0xFFFF, 0xFFFF << 20, 0xFFFF << 40, 0xFFFF << 48]  # pairwise >= 16 bits apart
    stems = ["vid1_001", "vid1_002", "vid2_001", "vid1_003", "other"]
    result = deduplicate(
        list("abcde"), far, [0, 0, 0, 1, 1], stems, max_distance=2, group_pattern=r"^(vid\d+)_"
    )
    assert result.group == [0, 0, 1, 2, 3]
    assert pattern_pairs(stems, [0] * 5, r"^(vid\d+)_").tolist() == [[0, 1], [0, 3]]
    with pytest.raises(ValueError, match="capture group"):
        pattern_pairs(stems, [0] * 5, r"^vid\d+_")


def test_roboflow_copies_of_one_original_are_always_grouped():
    far = [0, 0xFFFF, 0xFFFF << 20, 0xFFFF << 40]  # pairwise >= 16 bits apart: no near duplicates
    stems = [
        "10_100023_png_jpg.rf.5e3d98",
        "10_100023_png_jpg.rf.a21594",
        "10_100026_png_jpg.rf.5e3d98",
        "plain",
    ]
    result = deduplicate(list("abcd"), far, [0, 0, 0, 0], stems, max_distance=2)
    assert result.group == [0, 0, 1, 2]
    across_sources = deduplicate(list("abcd"), far, [0, 1, 1, 1], stems, max_distance=2)
    assert across_sources.group == [0, 1, 2, 3]  # only within one source


# ---------------------------------------------------------------- split


def test_image_label():
    assert [image_label(1, 0), image_label(2, 5), image_label(0, 3), image_label(0, 0)] == [
        "fall",
        "fall",
        "normal",
        "background",
    ]


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ((0.7, 0.2, 0.2), "sum to 1.1"),
        ((0.5, 0.5), "3 numbers"),
        ((1.1, -0.1, 0.0), ">= 0"),
        ((0, 0.5, 0.5), ">= 0"),
    ],
)
def test_bad_fractions(fractions, message):
    with pytest.raises(ValueError, match=message):
        check_fractions(fractions)


def test_exact_counts_for_single_item_groups():
    # Unit groups and integer targets (fall 42/9/9, normal 28/6/6): each item goes to the split with the
    # largest remaining deficit of its class, which is > 0 while items remain, so every target is met exactly.
    labels = ["fall"] * 60 + ["normal"] * 40
    for seed in range(5):
        splits = grouped_stratified_split(labels, list(range(100)), (0.7, 0.15, 0.15), seed=seed)
        assert split_table(labels, splits) == {
            "train": {"fall": 42, "normal": 28},
            "valid": {"fall": 9, "normal": 6},
            "test": {"fall": 9, "normal": 6},
        }


def test_groups_by_hand():
    # 10 fall items, groups of 5, 2, 2, 1; targets 6/2/2. Largest first: the 5 go to train (deficits 6, 2, 2);
    # the first pair goes to valid (1, 2, 2: tie, first split wins), the second to test (1, 0, 2), the single
    # item to train (1, 0, 0). Which pair is first depends on the seed.
    groups = [0] * 5 + [1] * 2 + [2] * 2 + [3]
    for seed in range(6):
        splits = grouped_stratified_split(["fall"] * 10, groups, (0.6, 0.2, 0.2), seed=seed)
        assert splits[:5] == ["train"] * 5 and splits[9] == "train"
        assert {splits[5], splits[7]} == {"valid", "test"}
        assert Counter(splits) == {"train": 6, "valid": 2, "test": 2}


def test_no_group_straddles_and_shares_stay_close():
    for seed in range(25):
        rng = random.Random(100 + seed)
        labels, groups, group = [], [], 0
        while len(labels) < 300:
            size, label = rng.randint(1, 5), rng.choice(["fall", "normal", "background"])
            for _ in range(size):
                labels.append(label if rng.random() < 0.8 else rng.choice(["fall", "normal", "background"]))
                groups.append(group)
            group += 1
        splits = grouped_stratified_split(labels, groups, seed=seed)
        per_group = defaultdict(set)
        for g, s in zip(groups, splits, strict=True):
            per_group[g].add(s)
        assert all(len(s) == 1 for s in per_group.values())
        table, totals = split_table(labels, splits), Counter(labels)
        for split, fraction in zip(("train", "valid", "test"), (0.7, 0.15, 0.15), strict=True):
            for label, total in totals.items():
                assert abs(table[split][label] - total * fraction) <= 5  # at most one group of <= 5 off


def test_deterministic_for_a_seed_and_seed_matters():
    labels = ["fall", "normal", "background"] * 40
    groups = [i // 3 for i in range(120)]
    first = grouped_stratified_split(labels, groups, seed=3)
    assert grouped_stratified_split(labels, groups, seed=3) == first
    assert grouped_stratified_split(labels, groups, seed=4) != first


def test_zero_share_split_stays_empty():
    splits = grouped_stratified_split(
        ["fall"] * 7 + ["normal"] * 3, [0, 0, 0, 1, 2, 3, 4, 5, 6, 7], (0.8, 0.2, 0.0)
    )
    assert "test" not in splits
    with pytest.raises(ValueError, match="same length"):
        grouped_stratified_split(["fall"], [0, 1])
