"""Merge several YOLO-layout datasets into one `fall`/`normal` dataset with a manifest and a JSON report.

Every image is checked (label lines validated, image fully decoded), its classes remapped
(:mod:`fallkd_lib.data.classmap`, identity rule included), exact and cross-source near duplicates removed
and near duplicates grouped (:mod:`fallkd_lib.data.dedup`), then all sources are pooled and re-split by
group (:mod:`fallkd_lib.data.split`). Output::

    OUT/{train,valid,test}/{images,labels}/<source>__<original stem>.<ext>   (original image bytes)
    OUT/data.yaml      names: [fall, normal]
    OUT/manifest.csv   one row per kept image
    OUT/report.json    counts, every dropped item with its reason, the settings used
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from fallkd_lib.data import yolo
from fallkd_lib.data.classmap import (
    DEFAULT_IDENTITY_CLASSES,
    OUTPUT_NAMES,
    UnknownClassError,
    apply_class_map,
    check_overrides,
    resolve_class_map,
)
from fallkd_lib.data.dedup import content_hash, deduplicate, hash_hex, perceptual_hash
from fallkd_lib.data.imageio import ImageReadError, open_rgb
from fallkd_lib.data.merge_report import IMAGE_DROPS, MergeReport, count_merge
from fallkd_lib.data.split import check_fractions, grouped_stratified_split, image_label
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import write_text_atomic

NAMES = list(OUTPUT_NAMES)
MANIFEST_COLUMNS = "split image source original_path sha256 phash group label n_fall n_normal".split()


@dataclass
class _Item:
    source: int
    path: Path
    boxes: list[yolo.Box] = field(default_factory=list)
    sha256: str = ""
    phash: int = 0
    had_boxes: bool = False

    @property
    def emptied(self) -> bool:
        """True when the image had boxes and the class map dropped every one (background now, a person in it)."""
        return self.had_boxes and not self.boxes


def _normalise_sources(sources: list) -> list[tuple[str, Path]]:
    """(name, folder) per source, after checking folders exist and names are plain and unique."""
    result: list[tuple[str, Path]] = []
    for entry in sources:
        name, path = entry if isinstance(entry, tuple | list) else (Path(entry).resolve().name, entry)
        path = Path(path)
        if not path.is_dir():
            raise MissingFileError(
                f"source {name!r}: {path} is not a folder; pass a YOLO export (data.yaml + splits)"
            )
        if not name or any(c in str(name) for c in "/\\") or str(name) in (".", ".."):
            raise UsageError(
                f"source name {name!r} ({path}) must be a plain name; pass (name, path) to choose one"
            )
        result.append((str(name), path))
    seen = Counter(n for n, _ in result)
    twice = sorted(n for n, k in seen.items() if k > 1)
    if twice:
        raise UsageError(f"source names must be unique, got {twice} more than once; pass (name, path) pairs")
    if not result:
        raise UsageError("no sources given: pass a list of dataset folders or (name, path) pairs")
    return result


def is_fallkd_merge(folder: str | Path) -> bool:
    """True when folder holds the report.json of a previous fallkd merge."""
    try:
        report = json.loads((Path(folder) / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and "fallkd_merge" in report


def _check_out(out: Path) -> None:
    """Refuse an output that is a file, or a non-empty folder that a previous merge did not write."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {out} is a file; choose a folder for the merged dataset")
    if out.is_dir() and any(out.iterdir()) and not is_fallkd_merge(out):
        raise UsageError(
            f"output folder {out} is not empty and is not a previous fallkd merge (no report.json with "
            f"'fallkd_merge'); choose a new or empty folder, or delete it yourself"
        )


def _check(k: int, image: Path, source: str, names: list[str], roles: list[str]) -> tuple[_Item | None, list]:
    """Validate, remap, decode and hash one image; the item (None if unreadable) and what was left out."""
    dropped: list[dict] = []

    def drop(kind: str, file: str, line: int, reason: str) -> None:
        dropped.append(dict(kind=kind, source=source, file=file, line=line, reason=reason, of=None))

    label_path = yolo.label_path_for(image)
    boxes, issues = yolo.read_labels(label_path, len(names))
    for issue in issues:
        drop(
            "bad_label_line",
            issue.path,
            issue.line,
            f"{issue.reason} ({issue.text!r})" if issue.text else issue.reason,
        )
    bad = {issue.line for issue in issues}
    text = label_path.read_text(encoding="utf-8") if boxes else ""
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip() and n not in bad]
    item = _Item(k, image, had_boxes=bool(boxes))
    item.boxes, left_out = apply_class_map(boxes, names, roles)
    for index, kind, why in left_out:
        drop(kind, str(label_path), lines[index], why)
    try:
        decoded = open_rgb(image)
    except ImageReadError as exc:
        drop("unreadable_image", str(image), 0, str(exc).removeprefix(f"{image}: "))
        return None, dropped
    item.sha256, item.phash = content_hash(image), perceptual_hash(decoded)
    return item, dropped


def _scan(srcs, names_of, roles_of, workers: int, progress: bool) -> tuple[int, list[_Item], list[dict]]:
    """Check every image of every source in threads (results in source order, then path)."""
    todo = [
        (k, image)
        for k, (_, path) in enumerate(srcs)
        for image in sorted(
            (im for d in yolo.split_image_dirs(path).values() for im in yolo.list_images(d)),
            key=lambda p, root=path: p.relative_to(root).as_posix(),
        )
    ]
    items: list[_Item] = []
    dropped: list[dict] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # PIL decodes without holding the GIL
        results = pool.map(lambda t: _check(t[0], t[1], srcs[t[0]][0], names_of[t[0]], roles_of[t[0]]), todo)
        bar = tqdm(results, total=len(todo), desc="merge: checking images", unit="img", disable=not progress)
        for item, left_out in bar:
            items += [item] if item is not None else []
            dropped += left_out
    return len(todo), items, dropped


def merge_datasets(
    sources: list,
    out: str | Path,
    class_map: dict[str, str] | None = None,
    identity_classes: tuple[str, ...] | list[str] = DEFAULT_IDENTITY_CLASSES,
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    near_duplicate_distance: int = 4,
    group_pattern: str | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> MergeReport:
    """Merge YOLO datasets (paths or (name, path) pairs) into OUT with classes [fall, normal]; see the module doc."""
    start = time.perf_counter()
    out = Path(out).resolve()
    srcs = _normalise_sources(sources)
    fractions = check_fractions(split)
    overrides = check_overrides(class_map)
    _check_out(out)
    names_of = [yolo.read_class_names(path / "data.yaml") for _, path in srcs]
    roles_of, errors = [], []
    for (name, _), names in zip(srcs, names_of, strict=True):
        try:
            roles_of.append(resolve_class_map(names, class_map, name, identity_classes))
        except UnknownClassError as exc:
            errors.append(str(exc))
    if errors:
        raise UnknownClassError("\n".join(errors))
    workers = workers or min(8, os.cpu_count() or 1)
    n_input, items, dropped = _scan(srcs, names_of, roles_of, workers, progress)
    columns = [[it.sha256 for it in items], [it.phash for it in items], [it.source for it in items]]
    result = deduplicate(*columns, [it.path.stem for it in items], near_duplicate_distance, group_pattern)
    for i, it in enumerate(items):
        if not result.keep[i]:
            other = items[result.duplicate_of[i]]
            what = f"perceptual hash within {result.distance[i]} bits of"
            what = "same bytes as" if result.reason[i] == "exact_duplicate" else what
            why = f"{what} {other.path} (source {srcs[other.source][0]!r})"
            entry = dict(kind=result.reason[i], source=srcs[it.source][0], file=str(it.path), line=0)
            dropped.append(dict(entry, reason=why, of=str(other.path)))
    kept = [i for i, k in enumerate(result.keep) if k]
    if not kept:
        why = Counter(d["kind"] for d in dropped if d["kind"] in IMAGE_DROPS)
        examples = "; ".join(f"{d['file']}: {d['reason']}" for d in dropped[:3])
        raise UsageError(
            f"no images left to merge from {[s for s, _ in srcs]}: {n_input} image(s) found in split/images "
            f"folders, dropped {dict(why)}{' e.g. ' + examples if examples else ''}; fix or replace the sources"
        )
    group_ids = {g: n for n, g in enumerate(dict.fromkeys(result.group[i] for i in kept))}
    groups = [group_ids[result.group[i]] for i in kept]
    counts = [
        (sum(b.cls == 0 for b in it.boxes), sum(b.cls == 1 for b in it.boxes))
        for it in map(items.__getitem__, kept)
    ]
    labels = [image_label(f, n) for f, n in counts]
    splits = grouped_stratified_split(labels, groups, fractions, seed)
    settings = dict(
        sources=[[n, str(p)] for n, p in srcs],
        class_map=overrides,
        identity_classes=list(identity_classes),
        split=list(fractions),
        seed=seed,
        near_duplicate_distance=near_duplicate_distance,
        group_pattern=group_pattern,
        classes={n: dict(zip(names_of[k], roles_of[k], strict=True)) for k, (n, _) in enumerate(srcs)},
    )
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    try:
        rows = _write(tmp, srcs, [items[i] for i in kept], splits, groups, labels, counts, progress)
        report = MergeReport(
            str(out), list(NAMES), count_merge(srcs, n_input, rows, dropped, items, kept), settings
        )
        report.counts["groups"] = len(group_ids)
        report.elapsed_s = round(time.perf_counter() - start, 3)
        report.dropped = dropped
        report.emptied = [r["image"] for r, i in zip(rows, kept, strict=True) if items[i].emptied]
        _finish(out, tmp, report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _write(tmp: Path, srcs, items: list[_Item], splits, groups, labels, counts, progress: bool) -> list[dict]:
    """Copy images, write labels, data.yaml and manifest.csv under tmp; the manifest rows."""
    shutil.rmtree(tmp, ignore_errors=True)
    rows, used = [], set()
    for split in yolo.SPLITS:
        for sub in ("images", "labels"):
            (tmp / split / sub).mkdir(parents=True, exist_ok=True)
    todo = list(zip(items, splits, groups, labels, counts, strict=True))
    for it, split, group, label, (n_fall, n_normal) in tqdm(
        todo, desc="merge: writing", unit="img", disable=not progress
    ):
        stem = base = f"{srcs[it.source][0]}__{it.path.stem}"
        n = 1
        while stem.lower() in used:  # the same stem twice in one source (e.g. in two splits)
            n += 1
            stem = f"{base}__{n}"
        used.add(stem.lower())
        image = tmp / split / "images" / (stem + it.path.suffix)
        shutil.copyfile(it.path, image)
        yolo.write_labels(tmp / split / "labels" / (stem + ".txt"), it.boxes)
        rel, src, ph = image.relative_to(tmp).as_posix(), srcs[it.source][0], hash_hex(it.phash)
        values = (split, rel, src, str(it.path), it.sha256, ph, group, label, n_fall, n_normal)
        rows.append(dict(zip(MANIFEST_COLUMNS, values, strict=True)))
    yolo.write_data_yaml(tmp, NAMES)
    with open(tmp / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _finish(out: Path, tmp: Path, report: MergeReport) -> None:
    """Write report.json into tmp, then swap tmp into place (replacing a previous merge)."""
    write_text_atomic(tmp / "report.json", json.dumps(report.to_dict(), indent=1))
    _check_out(out)  # still empty or a previous merge (nobody filled it meanwhile)
    if out.is_dir() and any(out.iterdir()):
        old = out.with_name(f"{out.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_dir():
            out.rmdir()
        out.parent.mkdir(parents=True, exist_ok=True)
        os.rename(tmp, out)
