"""The detector's files: its dataset (made from a merged fall/normal dataset without copying an image), the
split and weights-file checks, and atomic JSON summaries. Training and inference live in `detector.py`.

Two modes: "person" maps every class to one class `person` (the detector of the two-stage pipeline, whose
crops the classifier then labels fall/normal); "fall_normal" keeps [fall, normal] (the reference report's
2-class detector). Output::

    OUT/data.yaml                       absolute `path`, the splits present, names, and a `fallkd_detector` record
    OUT/{train,valid,test}/images/x.jpg -> a symbolic link to the merged image (hard link or copy where links fail)
    OUT/{train,valid,test}/labels/x.txt  the converted labels (an empty file for a background image)
    OUT/skipped_labels.txt              only when invalid label lines were skipped: one line per skipped line

Each image gets its own link inside a real `images` folder: ultralytics resolves a split folder
(`Path.resolve()`) before it maps .../images/x.jpg to .../labels/x.txt, so one link per folder would lead it
back to the merged (2-class) labels.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections import Counter
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from fallkd_lib.data import yolo
from fallkd_lib.data.crops import dataset_sources
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import write_atomic, write_text_atomic

DETECTOR_MODES: dict[str, list[str]] = {"person": ["person"], "fall_normal": ["fall", "normal"]}
MARKER = "fallkd_detector"  # data.yaml key: marks a folder that detector_dataset may rebuild
SKIPPED_FILE = "skipped_labels.txt"


def _link(target: Path, link: Path) -> str:
    """Place `link` pointing at `target`: a symbolic link, else a hard link, else a copy; return which."""
    for method, make in (("symlink", os.symlink), ("hardlink", os.link), ("copy", shutil.copy2)):
        try:
            write_atomic(link, lambda tmp, make=make: make(target, tmp))
        except OSError:
            continue
        return method
    raise OSError(f"could not link or copy {target} to {link}: check that {link.parent} is writable")


def _check_out(out: Path, merged_root: Path) -> None:
    """Refuse to write into the merged dataset or into a folder that detector_dataset did not make."""
    if out == merged_root or merged_root in out.parents or out in merged_root.parents:
        raise UsageError(f"out={out} overlaps the merged dataset {merged_root}: choose a folder beside it")
    if out.is_dir() and any(out.iterdir()):
        try:
            cfg = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            cfg = {}
        if not isinstance(cfg, dict) or MARKER not in cfg:
            raise UsageError(
                f"{out} is not empty and was not written by detector_dataset (no `{MARKER}` in its data.yaml): "
                "choose an empty or new folder"
            )


def _merged_names(merged_root: Path) -> list[str]:
    if not (merged_root / "data.yaml").is_file():
        raise MissingFileError(
            f"{merged_root / 'data.yaml'} not found: make the merged dataset first with "
            f"`fallkd merge SOURCE... --out {merged_root}` (or `fallkd demo` for the synthetic one)"
        )
    return yolo.read_class_names(merged_root / "data.yaml")


def _write_yaml(out: Path, names: list[str], splits: list[str], record: dict) -> Path:
    keys = {"train": "train", "valid": "val", "test": "test"}
    cfg: dict = {"path": str(out)}
    cfg.update({keys[s]: f"{s}/images" for s in splits})
    cfg.update({"nc": len(names), "names": list(names), MARKER: record})
    path = out / "data.yaml"
    write_text_atomic(path, yaml.safe_dump(cfg, sort_keys=False))
    return path


def _emptied(merged_root: Path) -> set[str]:
    """Merged images (relative paths) whose every box the class map dropped, from the merge's report.json."""
    try:
        report = json.loads((merged_root / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(report.get("emptied") or []) if isinstance(report, dict) else set()


def _of_sources(work: list[tuple[str, Path]], merged_root: Path, sources: tuple[str, ...]) -> list:
    """The (split, image) items whose source (from the merge's manifest.csv) is one of `sources`."""
    of = dataset_sources(merged_root)
    known = sorted(set(of.values()))
    if not of or not set(sources) <= set(known):
        raise UsageError(
            f"{merged_root}: sources {list(sources)} not all in its manifest.csv (sources: {known or 'none'}); "
            "pass names the merge was given, or sources=None for every image"
        )
    return [(split, i) for split, i in work if of.get(i.relative_to(merged_root).as_posix()) in sources]


def detector_dataset(
    merged_root: str | Path,
    out: str | Path,
    mode: str = "person",
    progress: bool = True,
    keep_emptied: bool = False,
    sources: tuple[str, ...] | None = None,
) -> Path:
    """Write the detector's dataset (linked images, converted labels) and return its data.yaml.

    Images whose every box the merge's class map dropped (a `danger` patient, say) still show a person, so as
    "background" they would teach the detector to miss people: they are left out and counted
    (``emptied_left_out``) unless keep_emptied. `sources` keeps only the images of those sources (the merge's
    manifest.csv says which image came from where): train on one camera, keep the merge's splits.
    """
    if mode not in DETECTOR_MODES:
        raise UsageError(f"unknown detector mode {mode!r}: choose one of {sorted(DETECTOR_MODES)}")
    merged_root, out = Path(merged_root).resolve(), Path(out).resolve()
    source_names = _merged_names(merged_root)
    if mode == "fall_normal" and source_names != DETECTOR_MODES["fall_normal"]:
        raise UsageError(
            f"{merged_root / 'data.yaml'}: mode 'fall_normal' needs names {DETECTOR_MODES['fall_normal']}, got "
            f"{source_names}; merge the sources with `fallkd merge` first, or use mode='person'"
        )
    image_dirs = yolo.split_image_dirs(merged_root)
    for split in ("train", "valid"):
        if split not in image_dirs or not yolo.list_images(image_dirs[split]):
            raise MissingFileError(
                f"{merged_root}: the {split!r} split has no images ({split}/images); a detector needs train and "
                "valid images: re-run `fallkd merge` with a split that gives every split some images"
            )
    _check_out(out, merged_root)
    names = DETECTOR_MODES[mode]
    images: Counter = Counter()
    boxes: Counter = Counter()
    links: Counter = Counter()
    skipped: list[yolo.LabelIssue] = []
    work = [(split, image) for split, folder in image_dirs.items() for image in yolo.list_images(folder)]
    emptied = set() if keep_emptied else _emptied(merged_root)
    is_emptied = [
        i.is_relative_to(merged_root) and i.relative_to(merged_root).as_posix() in emptied for _, i in work
    ]
    left_out = sum(is_emptied)
    work = [item for item, drop in zip(work, is_emptied, strict=True) if not drop]
    if sources is not None:
        work = _of_sources(work, merged_root, tuple(sources))
    for split in yolo.SPLITS:  # a rebuild starts from empty split folders (links and our labels only)
        shutil.rmtree(out / split, ignore_errors=True)
    for split, image in tqdm(work, desc=f"detector dataset ({mode})", unit="img", disable=not progress):
        split_dir = out / split
        (split_dir / "images").mkdir(parents=True, exist_ok=True)
        links[_link(image.resolve(), split_dir / "images" / image.name)] += 1
        found, issues = yolo.read_labels(yolo.label_path_for(image), len(source_names))
        skipped.extend(issues)
        if mode == "person":
            found = [yolo.Box(0, b.cx, b.cy, b.w, b.h) for b in found]
        yolo.write_labels(split_dir / "labels" / f"{image.stem}.txt", found)
        images[split] += 1
        boxes[split] += len(found)
    skipped_path = out / SKIPPED_FILE
    if skipped:
        write_text_atomic(skipped_path, "".join(f"{issue}\n" for issue in skipped))
        warnings.warn(
            f"detector_dataset skipped {len(skipped)} invalid label line(s) of {merged_root}; "
            f"each is listed in {skipped_path}",
            stacklevel=2,
        )
    else:
        skipped_path.unlink(missing_ok=True)
    splits = [s for s in yolo.SPLITS if images[s]]
    record = {
        "mode": mode,
        "source": str(merged_root),
        "source_names": source_names,
        "images": {s: images[s] for s in splits},
        "boxes": {s: boxes[s] for s in splits},
        "skipped_label_lines": len(skipped),
        "emptied_left_out": left_out,
        "sources": None if sources is None else list(sources),
        "links": dict(links),
    }
    return _write_yaml(out, names, splits, record)


def detector_dataset_info(data_yaml: str | Path) -> dict:
    """The `fallkd_detector` record of a data.yaml written by detector_dataset (mode, counts, source)."""
    data_yaml = Path(data_yaml)
    cfg = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
    if MARKER not in cfg:
        raise UsageError(f"{data_yaml} was not written by detector_dataset (no `{MARKER}` key)")
    return dict(cfg[MARKER])


def check_split(data_yaml: Path, split: str) -> str:
    """ultralytics' split key for `split` ('valid' is its 'val'), checked against the data.yaml."""
    key = {"valid": "val"}.get(split, split)
    cfg = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
    present = [k for k in ("train", "val", "test") if cfg.get(k)]
    if key not in present:
        raise UsageError(f"{data_yaml} has no {split!r} split; choose one of {present}")
    return key
