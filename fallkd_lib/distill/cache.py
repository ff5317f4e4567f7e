"""A cache of teacher LOGITS indexed by sample id, tied to its dataset by a fingerprint.

Cached distillation runs the (big, slow) teacher once over the training images and stores its logits; every
epoch then reads the teacher's answer for sample `i` from row `i`. Two things make that safe here:

- rows are looked up by the sample ids the DataLoader yields (contract 1: items are `(image, label, index)`),
  never by batch position, so shuffling cannot hand a student the logits of other images;
- the cache records a fingerprint of the dataset (sample relative paths, file sizes, labels, class_to_idx and
  the transform's repr), and `load_teacher_cache` refuses a cache made for other files or other preprocessing.

Logits (not probabilities) are stored, so the temperature can change without recomputing. The teacher sees
each image once through the dataset's own (eval) transform: build the cache on the training split with EVAL
transforms, and load it with that same dataset; the augmented training dataset over the same folder yields the
same ids. A cache is one `torch.save` file written atomically (tmp file + os.replace).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import save_torch_atomic

FORMAT = "fallkd-teacher-cache/1"
RANDOM_OPS = re.compile(
    r"\b(Random\w*|ColorJitter|RandAugment|TrivialAugment\w*|AutoAugment|AugMix|ElasticTransform|GaussianBlur"
    r"|GaussianNoise|RandomErasing)\b"
)
_REBUILD = (
    "rebuild it with `fallkd cache-teacher` (cache_teacher_logits recomputes a stale cache) or delete {path}"
)


class FingerprintSource(Protocol):
    """What a dataset needs for a fingerprint (CropDataset has it; `root`/`class_to_idx` are optional)."""

    samples: Any  # list of (path, label) pairs or of relative paths
    classes: Any  # class names, index order
    transform: Any  # applied to every image; its repr is part of the fingerprint


def transform_repr(transform: object) -> str:
    """The transform's repr on one line, without memory addresses (`<function f at 0x7f..>` -> `<function f>`)."""
    return " ".join(re.sub(r" at 0x[0-9a-fA-F]+", "", repr(transform)).split())


def random_ops(transform: object) -> list[str]:
    """Names of random augmentations found in the transform's repr (they make cached logits noisy)."""
    return sorted(set(RANDOM_OPS.findall(transform_repr(transform))))


def dataset_manifest(dataset: FingerprintSource) -> dict[str, Any]:
    """What the fingerprint covers: sample count, [relative path, size, label] per sample, class_to_idx, transform."""
    classes = [str(c) for c in dataset.classes]
    class_to_idx = dict(getattr(dataset, "class_to_idx", None) or {c: i for i, c in enumerate(classes)})
    root = getattr(dataset, "root", None)
    items = [(s[0], int(s[1])) if isinstance(s, tuple | list) else (s, None) for s in dataset.samples]
    targets = getattr(dataset, "targets", None)  # ImageFolder/CropDataset keep labels beside plain paths
    if targets is not None and len(targets) == len(items) and all(lab is None for _, lab in items):
        items = [(p, int(t)) for (p, _), t in zip(items, targets, strict=True)]
    paths = [Path(p) for p, _ in items]
    base = Path(os.path.abspath(root)) if root is not None else None
    if base is None and paths and all(p.is_absolute() for p in paths):
        base = Path(os.path.commonpath([str(p.parent) for p in paths]))
    files = []
    for (path, label), p in zip(items, paths, strict=True):
        full = Path(os.path.abspath(p if p.is_absolute() or base is None else base / p))
        rel = full.relative_to(base) if base is not None and full.is_relative_to(base) else Path(path)
        if not full.is_file():
            raise MissingFileError(
                f"sample file {full} listed by the dataset does not exist: rebuild the dataset (crop folder) "
                "or fix its samples list before fingerprinting it."
            )
        files.append([rel.as_posix(), full.stat().st_size, label])
    return {
        "num_samples": len(dataset) if hasattr(dataset, "__len__") else len(files),  # type: ignore[arg-type]
        "files": files,
        "class_to_idx": {str(k): int(v) for k, v in class_to_idx.items()},
        "transform": transform_repr(getattr(dataset, "transform", None)),
    }


def _digest(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def dataset_fingerprint(dataset: FingerprintSource) -> str:
    """sha256 over the samples' relative paths, file sizes and labels, class_to_idx and the transform repr."""
    return _digest(dataset_manifest(dataset))


def describe_mismatch(cached: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable differences between the manifest a cache was built on and the dataset's manifest now."""
    out: list[str] = []
    old, new = cached["files"], current["files"]
    n_old, n_new = cached.get("num_samples", len(old)), current.get("num_samples", len(new))
    if n_old != n_new:
        out.append(f"sample count: cache {n_old}, dataset {n_new}")
    old_by, new_by = {f[0]: f for f in old}, {f[0]: f for f in new}
    added, removed = sorted(set(new_by) - set(old_by)), sorted(set(old_by) - set(new_by))
    for word, names in (("added", added), ("removed", removed)):
        if names:
            out.append(
                f"{len(names)} file(s) {word}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
            )
    resized = [n for n in sorted(set(old_by) & set(new_by)) if old_by[n][1] != new_by[n][1]]
    if resized:
        shown = ", ".join(f"{n} ({old_by[n][1]} -> {new_by[n][1]} bytes)" for n in resized[:5])
        out.append(f"{len(resized)} file(s) changed size: {shown}")
    relabelled = [n for n in sorted(set(old_by) & set(new_by)) if old_by[n][2] != new_by[n][2]]
    if relabelled:
        out.append(f"{len(relabelled)} file(s) changed label: {', '.join(relabelled[:5])}")
    if not (added or removed) and [f[0] for f in old] != [f[0] for f in new]:
        out.append("sample order differs (row i would no longer be sample i)")
    if cached["class_to_idx"] != current["class_to_idx"]:
        out.append(f"class names: cache {cached['class_to_idx']}, dataset {current['class_to_idx']}")
    if cached["transform"] != current["transform"]:
        out.append(f"transform: cache {cached['transform']!r}, dataset {current['transform']!r}")
    return out or ["fingerprint differs"]


def teacher_fingerprint(teacher: nn.Module) -> str:
    """sha256 over the teacher's state_dict (names, dtypes, shapes, bytes): other weights -> other logits."""
    h = hashlib.sha256()
    for name, tensor in teacher.state_dict().items():
        t = tensor.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass
class TeacherCache:
    """Teacher logits [N, C] (float32, row i = sample index i) plus what they were computed from."""

    logits: Tensor
    fingerprint: str
    manifest: dict[str, Any]
    teacher: str
    teacher_fingerprint: str
    description: str = ""
    created: str = ""
    path: Path | None = None
    _copies: dict[torch.device, Tensor] = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        """Number of logits per sample."""
        return int(self.logits.shape[1])

    def __len__(self) -> int:
        return int(self.logits.shape[0])

    def lookup(self, ids: Tensor) -> Tensor:
        """The teacher logits of these sample ids, [len(ids), C] float32, on the ids' device."""
        if ids.dim() != 1 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise UsageError(
                f"ids must be a 1-D integer tensor of sample indices, got {ids.dtype} {tuple(ids.shape)}"
            )
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= len(self)):
            raise UsageError(
                f"sample ids {int(ids.min())}..{int(ids.max())} fall outside the cache's 0..{len(self) - 1}: "
                "the cache was built on another dataset (split?) than the one being trained on."
            )
        if ids.device not in self._copies:
            self._copies[ids.device] = self.logits.to(ids.device)
        return self._copies[ids.device].index_select(0, ids.long())

    def save(self, path: str | Path) -> Path:
        """Write the cache atomically (torch.save to a tmp file, then os.replace)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: getattr(self, k) for k in ("fingerprint", "manifest", "teacher", "teacher_fingerprint")}
        meta.update(description=self.description, created=self.created, num_classes=self.num_classes)
        save_torch_atomic(
            {"format": FORMAT, "logits": self.logits.float().cpu().contiguous(), "meta": meta}, path
        )
        self.path = path
        return path


def read_teacher_cache(path: str | Path) -> TeacherCache:
    """Read a cache file WITHOUT checking it against a dataset (use `load_teacher_cache` for training)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"no teacher cache at {path}: build it first with `fallkd cache-teacher` (or cache_teacher_logits)."
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        meta, logits = data["meta"], data["logits"]
        assert data["format"] == FORMAT and logits.dim() == 2
    except Exception as err:
        raise UsageError(
            f"{path} is not a readable fallkd teacher cache ({err!r}): {_REBUILD.format(path=path)}."
        ) from err
    keys = ("fingerprint", "manifest", "teacher", "teacher_fingerprint", "description", "created")
    return TeacherCache(logits=logits.float(), path=path, **{k: meta[k] for k in keys})


def load_teacher_cache(path: str | Path, dataset: FingerprintSource) -> TeacherCache:
    """Read a cache and refuse it (ValueError saying what differs) unless it was built on this very dataset."""
    cache = read_teacher_cache(path)
    current = dataset_manifest(dataset)
    if _digest(current) != cache.fingerprint:
        reasons = "\n".join(f"  - {r}" for r in describe_mismatch(cache.manifest, current))
        if random_ops(getattr(dataset, "transform", None)):
            reasons += (
                "\n  (this dataset augments: load the cache with the EVAL-transform dataset over the same folder; "
                "the augmented training dataset yields the same sample ids)"
            )
        raise UsageError(
            f"teacher cache {path} was built on another dataset than {getattr(dataset, 'root', 'this one')}:\n"
            f"{reasons}\nIts logits belong to other images or other preprocessing, so distilling from them would "
            f"teach wrong targets: {_REBUILD.format(path=path)}."
        )
    return cache


def _teacher_name(teacher: nn.Module) -> str:
    cfg = getattr(teacher, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(teacher).__name__)


def _module_device(module: nn.Module) -> torch.device:
    return next((p.device for p in module.parameters()), torch.device("cpu"))


def cache_teacher_logits(
    teacher: nn.Module,
    dataset: Dataset,
    path: str | Path,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: bool = True,
    *,
    teacher_name: str | None = None,
    description: str = "",
    workers: int = 0,
    overwrite: bool = False,
) -> TeacherCache:
    """Run the teacher (eval, no_grad) over the dataset IN ORDER and save its logits; reuse a matching cache."""
    path = Path(path)
    ops = random_ops(getattr(dataset, "transform", None))
    if ops:
        warnings.warn(
            f"the dataset given to cache_teacher_logits has random transforms ({', '.join(ops)}): the cache would "
            "freeze one random view per image. Pass the training split with EVAL transforms.",
            stacklevel=2,
        )
    manifest = dataset_manifest(dataset)  # type: ignore[arg-type]
    fingerprint, teacher_fp = _digest(manifest), teacher_fingerprint(teacher)
    if path.exists() and not overwrite:
        try:
            old = read_teacher_cache(path)
        except ValueError as err:
            reasons = [str(err).split(":")[0]]
        else:
            if old.fingerprint == fingerprint and old.teacher_fingerprint == teacher_fp:
                if progress:
                    print(f"teacher cache {path} matches the dataset and the teacher: reused, no recompute.")
                return old
            reasons = [] if old.fingerprint == fingerprint else describe_mismatch(old.manifest, manifest)
            reasons += [] if old.teacher_fingerprint == teacher_fp else ["teacher weights differ"]
        if progress:
            print(f"teacher cache {path} is stale ({'; '.join(reasons)}): recomputing.")
    device = torch.device(device) if device is not None else _module_device(teacher)
    logits = _run_teacher(teacher.to(device), dataset, batch_size, device, workers, progress)
    if logits.shape[1] != len(manifest["class_to_idx"]):
        raise UsageError(
            f"the teacher gives {logits.shape[1]} logits but the dataset has {len(manifest['class_to_idx'])} "
            f"classes {list(manifest['class_to_idx'])}: give the teacher a {len(manifest['class_to_idx'])}-class "
            "head (and fine-tune it) before caching."
        )
    cache = TeacherCache(
        logits=logits,
        fingerprint=fingerprint,
        manifest=manifest,
        teacher=teacher_name or _teacher_name(teacher),
        teacher_fingerprint=teacher_fp,
        description=description,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    cache.save(path)
    return cache


def _run_teacher(
    teacher: nn.Module, dataset: Dataset, batch_size: int, device: torch.device, workers: int, progress: bool
) -> Tensor:
    n = len(dataset)  # type: ignore[arg-type]
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    rows: Tensor | None = None
    seen = torch.zeros(n, dtype=torch.bool)
    was_training, start = teacher.training, 0
    teacher.eval()
    try:
        with torch.no_grad():
            for batch in tqdm(loader, desc="teacher logits", unit="batch", disable=not progress):
                images = batch[0]
                ids = batch[2] if len(batch) > 2 else torch.arange(start, start + len(images))
                out = teacher(images.to(device)).float().cpu()
                if rows is None:
                    rows = torch.empty(n, out.shape[1], dtype=torch.float32)
                rows[ids.long()] = out
                seen[ids.long()] = True
                start += len(images)
    finally:
        teacher.train(was_training)
    if rows is None or not bool(seen.all()):
        missing = (~seen).nonzero().flatten()[:5].tolist()
        raise UsageError(
            f"the dataset's ids did not cover 0..{n - 1} (missing e.g. {missing}): items must be "
            "(image, label, index) with index = position in the dataset."
        )
    return rows
