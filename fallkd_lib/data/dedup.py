"""Find exact and near-duplicate images, and group images that must stay in the same split.

- Exact duplicates (same SHA-256 of the file bytes) are removed everywhere; the first copy (by source order,
  then path) is kept.
- Near duplicates (perceptual-hash Hamming distance <= ``max_distance``) across sources are removed: the copy
  of the earliest source is kept. Within a source they are kept (consecutive video frames are real data) but
  united in one group, so that they never straddle train/valid/test.
- An optional ``group_pattern`` regex, searched in each file stem, unites images whose first capture group is
  equal within a source (e.g. ``r"^(.+?)_\\d+"`` for a video prefix).

Groups are connected components of the near-duplicate graph (scipy.sparse.csgraph), so an image similar to a
removed cross-source copy still lands in the group of the copy that was kept. Bits are counted with NumPy 2's
`np.bitwise_count` where it exists and with a byte table on NumPy 1.x (Kaggle's image still ships 1.26).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fallkd_lib.errors import UsageError

_PAIR_BLOCK = 4_000_000  # hash comparisons per chunk (about 32 MB of uint64 XORs)


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount_table(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64, by a 256-entry byte table (NumPy 1.x has no bitwise_count)."""
    values = np.ascontiguousarray(values, dtype=np.uint64)
    return _BYTE_BITS[values.view(np.uint8)].reshape(*values.shape, 8).sum(axis=-1, dtype=np.uint8)


def popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (np.bitwise_count on NumPy >= 2, else the byte table)."""
    count = getattr(np, "bitwise_count", None)
    return count(values) if count is not None else popcount_table(values)


def content_hash(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def perceptual_hash(image: Image.Image) -> int:
    """The 64-bit DCT perceptual hash (imagehash.phash) of an image, as an int."""
    bits = imagehash.phash(image).hash.flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def hash_hex(value: int) -> str:
    """A 64-bit hash as 16 hex digits."""
    return f"{value:016x}"


def iter_near_duplicate_pairs(hashes: list[int], max_distance: int) -> Iterator[np.ndarray]:
    """Chunks of the pairs (i, j), i < j, within max_distance bits; memory stays bounded by the chunk size."""
    if max_distance < 0:
        raise UsageError(f"max_distance must be >= 0 bits, got {max_distance}")
    h = np.asarray(hashes, dtype=np.uint64)
    n = len(h)
    rows = max(1, _PAIR_BLOCK // max(n, 1))
    for start in range(0, n, rows):
        dist = popcount(h[start : start + rows, None] ^ h[None, start:])
        ii, jj = np.nonzero(dist <= max_distance)
        upper = jj > ii  # columns start at `start`, rows too: j > i in block coordinates
        yield np.stack([ii[upper], jj[upper]], axis=1).astype(np.int64) + start


def near_duplicate_pairs(hashes: list[int], max_distance: int) -> np.ndarray:
    """All pairs (i, j), i < j, whose hashes differ in at most max_distance bits, as an (n, 2) int array."""
    chunks = list(iter_near_duplicate_pairs(hashes, max_distance))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2), dtype=np.int64)


def groups_from_pairs(n: int, pairs: np.ndarray) -> list[int]:
    """Connected components of n items linked by (m, 2) pairs, numbered in order of each component's first item."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first = np.unique(labels, return_index=True)  # the first item of each component
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[labels].astype(int).tolist()


def near_duplicate_groups(hashes: list[int], max_distance: int) -> list[int]:
    """Group id per item: items linked by chains of near duplicates share a group (ids by first member)."""
    chunks = list(iter_near_duplicate_pairs(hashes, max_distance))
    return groups_from_pairs(len(hashes), np.concatenate(chunks) if chunks else np.zeros((0, 2)))


# Roboflow names export files "<original stem>_<ext>.rf.<hash>"; its augmented copies of one original share
# the part before ".rf." but may look different (flips, 90-degree turns) and escape the perceptual hash.
# They are always grouped, so a re-split never puts copies of one photo on both sides.
ROBOFLOW_COPY_PATTERN = r"^(.+)\.rf\.[0-9a-fA-F]+$"


def pattern_pairs(stems: list[str], sources: list[int], pattern: str | None) -> np.ndarray:
    """Pairs linking items of the same source whose stems give the same first capture group of pattern."""
    if not pattern:
        return np.zeros((0, 2), dtype=np.int64)
    regex = re.compile(pattern)
    if regex.groups < 1:
        raise UsageError(
            f"group_pattern {pattern!r} has no capture group; e.g. r'^(.+?)_\\d+' for a video prefix"
        )
    first: dict[tuple[int, str], int] = {}
    pairs = []
    for i, (stem, source) in enumerate(zip(stems, sources, strict=True)):
        match = regex.search(stem)
        if match is None or match.group(1) is None:
            continue
        key = (source, match.group(1))
        if key in first:
            pairs.append((first[key], i))
        else:
            first[key] = i
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


@dataclass
class DedupResult:
    """Outcome of deduplication: per item, kept or not, why not, the copy it duplicates, and its group."""

    keep: list[bool]
    reason: list[str | None]  # "exact_duplicate" | "near_duplicate" | None
    duplicate_of: list[int | None]
    distance: list[int | None]  # Hamming distance to duplicate_of (0 for exact duplicates)
    group: list[int]  # group id (over all items; renumber the kept ones if needed)
    n_near_pairs: int = 0


def deduplicate(
    sha256: list[str],
    phash: list[int],
    source: list[int],
    stems: list[str],
    max_distance: int = 4,
    group_pattern: str | None = None,
) -> DedupResult:
    """Exact and cross-source near-duplicate removal plus grouping; items must come in keep-priority order."""
    n = len(sha256)
    keep = [True] * n
    reason: list[str | None] = [None] * n
    dup_of: list[int | None] = [None] * n
    distance: list[int | None] = [None] * n
    first_by_sha: dict[str, int] = {}
    for i, digest in enumerate(sha256):
        if digest in first_by_sha:
            keep[i], reason[i], dup_of[i], distance[i] = False, "exact_duplicate", first_by_sha[digest], 0
        else:
            first_by_sha[digest] = i
    alive = np.flatnonzero(keep)
    src = np.asarray(source, dtype=np.int64)
    links, cross, n_pairs = [], [], 0
    for chunk in iter_near_duplicate_pairs([phash[i] for i in alive], max_distance):
        pairs = alive[chunk].reshape(-1, 2)
        links.append(pairs)
        cross.append(pairs[src[pairs[:, 0]] != src[pairs[:, 1]]])
        n_pairs += len(pairs)
    for i, j in sorted(map(tuple, np.concatenate(cross).tolist()) if cross else []):
        if keep[i] and keep[j]:  # i < j, so source[i] < source[j] (priority order) and keep[i] is final
            d = int(popcount(np.array([phash[i] ^ phash[j]], dtype=np.uint64))[0])
            keep[j], reason[j], dup_of[j], distance[j] = False, "near_duplicate", i, d
    links += [
        pattern_pairs(stems, source, ROBOFLOW_COPY_PATTERN),
        pattern_pairs(stems, source, group_pattern),
    ]
    groups = groups_from_pairs(n, np.concatenate(links))
    return DedupResult(keep, reason, dup_of, distance, groups, n_near_pairs=n_pairs)
