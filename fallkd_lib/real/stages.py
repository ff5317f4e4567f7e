"""The real-data recipe's stages, each resuming from its folder under `work`: the merged real data and its crops
split by source, the synthetic world's crops, synthetic pretraining, and a YOLO detector trained on one source."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from fallkd_lib.config import DetectConfig, TrainConfig
from fallkd_lib.data.crops import extract_crops
from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.data.merge import merge_datasets
from fallkd_lib.data.paste import PasteSpec, paste_dataset
from fallkd_lib.data.stage import render_styles
from fallkd_lib.data.subsets import crops_by_source
from fallkd_lib.data.synthetic.scene import ALL_STYLES, STYLES, check_style
from fallkd_lib.errors import MissingFileError, UsageError

# the shipped detector's recipe (fallkd_lib.detector.shipped), from scratch; epochs from RealRecipe.det_epochs
DETECTOR = DetectConfig(model="yolov5n.yaml", pretrained=None, imgsz=320, batch=16, epochs=20, patience=100)
CROP_PAD = 0.1


@dataclass(frozen=True)
class RealRecipe:
    """What `fallkd real` trains on and how long: two local YOLO datasets and CPU-sized models."""

    datasets: Path  # the folder holding both datasets (each with a data.yaml)
    train_source: str = "fall_action_laifi"  # trained on (its train/valid/test after the merge's re-split)
    other_source: str = "hospital_bed_rf"  # the camera it never saw: every image scored, none trained on
    image_size: int = 64  # crop side of every classifier
    epochs: int = 20  # fine-tuning epochs on the real crops
    synth_images: int = 400  # synthetic scenes per style for pretraining
    synth_styles: tuple[str, ...] = ALL_STYLES  # the classifiers' pretraining: park, cctv and room
    det_synth_styles: tuple[str, ...] = ALL_STYLES  # the detector's pretraining scenes
    det_paste: bool = True  # paste the training source's people into them (fallkd_lib.data.paste)
    synth_epochs: int = 6  # pretraining epochs on the synthetic crops
    det_epochs: int = 20  # person detector epochs on the real images
    det_synth_epochs: int = 10  # its pretraining epochs on the synthetic scenes (0: from scratch)
    student: str = "efficientnet_b0"
    teacher: str = "resnet18"
    # training draws: classifier training, the people pasted and the detector's training (the rendered scenes
    # stay seed 0). Another seed in another work folder says how much a result owes to one run's luck
    seed: int = 0

    @property
    def paste_from(self) -> str | None:
        """The source whose people are pasted into the detector's pretraining scenes (None: det_paste is off)."""
        return self.train_source if self.det_paste else None

    def check(self) -> None:
        """Raise a clear error when a dataset is missing or the seed is not an integer >= 0."""
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError(f"seed {self.seed!r}: expected an integer >= 0")
        for name in (self.train_source, self.other_source):
            if not (Path(self.datasets) / name / "data.yaml").is_file():
                raise MissingFileError(
                    f"{Path(self.datasets) / name / 'data.yaml'} not found: pass --datasets, the folder that holds "
                    f"{self.train_source}/ and {self.other_source}/ (YOLO layout, e.g. a Roboflow export)"
                )


def merged_root(work: Path) -> Path:
    """The merged real dataset (both sources, fall/normal, the merge's splits)."""
    return Path(work) / "real" / "merged"


def real_crops(recipe: RealRecipe, work: Path) -> dict[str, Path]:
    """Merge the training source and the other camera, cut crops, and split them by source (resumes)."""
    merged, crops = merged_root(work), Path(work) / "real" / "crops"
    if not (merged / "data.yaml").is_file():
        sources = [(n, Path(recipe.datasets) / n) for n in (recipe.train_source, recipe.other_source)]
        merge_datasets(sources, merged, progress=False)
    extract_crops(merged, crops, CropSpec(recipe.image_size, CROP_PAD), progress=False)
    return crops_by_source(crops, Path(work) / "real" / "by_source")


def parse_styles(text: str) -> tuple[str, ...]:
    """Synthetic styles from a comma-separated list ("park,cctv,room"), each checked."""
    return tuple(check_style(s.strip()) for s in text.split(",") if s.strip())


def _render_merged(root: Path, images: int, styles: Sequence[str], merged: Path) -> Path:
    """Render (or finish) each style's scenes under root (the full world, 320 px, seed 0) and merge them into
    `merged` unless it is there; returns merged."""
    jobs = [
        {"out": root / check_style(s), "images": images, "seed": 0, "style": s, "size": 320, "world": "full"}
        for s in styles
    ]
    render_styles(jobs, progress=False)
    if not (merged / "data.yaml").is_file():
        merge_datasets([(f"synth_{j['style']}", j["out"]) for j in jobs], merged, progress=False)
    return merged


def synthetic_crops(work: Path, images: int, size: int, styles: Sequence[str] = ALL_STYLES) -> Path:
    """Render the synthetic styles (the full world), merge them and cut crops the size of the real ones."""
    root = Path(work) / "synthetic"
    report = root / "merged" / "report.json"
    if report.is_file():
        merged = list(json.loads(report.read_text())["counts"]["per_source"])
        if merged != [f"synth_{s}" for s in styles]:
            raise UsageError(
                f"{root / 'merged'} merges {', '.join(merged)}, not the styles asked ({', '.join(styles)}): "
                f"use another work folder, or delete {root} (and the runs trained on it) to render them again"
            )
    merged = _render_merged(root, images, styles, root / "merged")
    extract_crops(merged, root / "crops", CropSpec(size, CROP_PAD), progress=False)
    return root / "crops"


def pretrain(work: Path, synth: Path, cfg: TrainConfig, progress: bool = False) -> Path:
    """cfg.model trained on the synthetic crops (resumes); its best.pt, the start of every real fine-tuning."""
    from fallkd_lib.train.recipes import train_classifier

    out = Path(work) / "synth_runs" / cfg.model
    train_classifier(synth, out, cfg, progress=progress)
    return out / "best.pt"


def styles_tag(styles: Sequence[str]) -> str:
    """The folder-name suffix of a set of synthetic styles, e.g. "park_cctv"."""
    return "_".join(check_style(s) for s in styles)


def pretraining_kind(paste_from: str | None) -> str:
    """How the detector's pretraining scenes were made, as its folders name it: "pasted" (real people pasted into
    the rendered scenes) or "synth" (rendered people only)."""
    return "pasted" if paste_from else "synth"


def pretrain_detector(
    work: Path,
    epochs: int,
    styles: Sequence[str] = STYLES,
    images: int = 400,
    paste_from: str | None = None,
    seed: int = 0,
) -> Path:
    """A YOLOv5n person detector trained on the synthetic scenes of `styles` (rendered `images` per style if missing;
    resumes): its best.pt, the offline stand-in for COCO weights. With paste_from (a source of the merged real data),
    the people of that source's train split are first pasted into the scenes (paste_dataset): real people at the
    sizes, places and lighting of the rendered cameras. Data and run: det/<kind>_person_<styles>, det_runs/ the same
    (kind: pretraining_kind). seed draws the pasting and the training."""
    from fallkd_lib.detector.dataset import detector_dataset
    from fallkd_lib.detector.train import train_detector

    work, tag = Path(work), styles_tag(styles)
    scenes = _render_merged(work / "synthetic", images, styles, work / "synthetic" / f"merged_{tag}")
    if paste_from:
        pasted = work / "synthetic" / f"pasted_{tag}"
        spec = PasteSpec(seed=seed)
        paste_dataset(scenes, merged_root(work), pasted, spec, sources=(paste_from,), progress=False)
        scenes = pasted
    run = f"{pretraining_kind(paste_from)}_person_{tag}"
    data = detector_dataset(scenes, work / "det" / run, "person", progress=False)
    cfg = replace(DETECTOR, epochs=epochs, seed=seed)
    return Path(train_detector(data, cfg, work / "det_runs", run, plots=False, resume="auto")["best"])


def train_source_detector(
    work: Path,
    mode: str,
    epochs: int,
    source: str,
    pretrained: Path | None = None,
    name: str | None = None,
    seed: int = 0,
) -> dict:
    """One YOLOv5n detector (mode "person" or "fall_normal") on the training source's images, from scratch or from
    `pretrained` weights (resumes), training drawn with seed; its run is det_runs/<name or mode>."""
    from fallkd_lib.detector.dataset import detector_dataset
    from fallkd_lib.detector.train import train_detector

    work = Path(work)
    data = detector_dataset(merged_root(work), work / "det" / mode, mode, progress=False, sources=(source,))
    cfg = replace(DETECTOR, epochs=epochs, pretrained=str(pretrained) if pretrained else None, seed=seed)
    return train_detector(data, cfg, work / "det_runs", name or mode, plots=False, resume="auto")


def source_images(work: Path, source: str, splits: Sequence[str]) -> list[dict]:
    """Ground truth (yolo_ground_truth's image dicts) of one source's images in the merged data's splits; images
    whose every box the class map dropped (the merge's report.json `emptied`) are left out."""
    import json

    from fallkd_lib.data.crops import dataset_sources
    from fallkd_lib.detector.evaluate import yolo_ground_truth

    merged = merged_root(work)
    of = dataset_sources(merged)
    emptied = set(json.loads((merged / "report.json").read_text())["emptied"])
    found = []
    for split in splits:
        for image in yolo_ground_truth(merged, split, progress=False):
            rel = Path(image["image"]).resolve().relative_to(merged.resolve()).as_posix()
            if of.get(rel) == source and rel not in emptied:
                found.append(image)
    return found
