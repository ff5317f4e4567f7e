"""The course's training recipes: a baseline classifier, the ViT teacher, its logit cache, and the distilled student.

Each recipe builds the model with `create_classifier`, trains it with the one loop (`fit`), reloads the best
epoch, scores the test split (and, when given, crops of another origin), and writes `metrics.json` in its run
folder with everything the comparison table needs. Runs resume: call a recipe again after an interruption and
it continues from `last.pt`; call it on a finished run and it only re-reads and re-scores.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader

from fallkd_lib.config import TrainConfig
from fallkd_lib.data.crops import read_crop_spec
from fallkd_lib.distill import CachedKDCriterion, OnlineKDCriterion, cache_teacher_logits, load_teacher_cache
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import files_digest, write_json_atomic
from fallkd_lib.models import create_classifier, freeze_for_finetune, input_stats, model_budget
from fallkd_lib.models.inputs import ClassifierInput
from fallkd_lib.models.trained import load_trained_classifier
from fallkd_lib.train.checkpoint import load_checkpoint, seed_everything
from fallkd_lib.train.data import SPLITS, CropDataset, build_transforms, make_loaders
from fallkd_lib.train.loop import evaluate, fit, plain_criterion
from fallkd_lib.train.metrics import classification_report_dict
from fallkd_lib.train.metrics_file import read_metrics, write_metrics

DEPLOY_SIZE = (
    224  # the TX2 budget is judged at the deployment resolution, whatever size a quick run trains at
)
CACHE_NAME = "teacher_logits_train.pt"


def crop_classes(crops_dir: str | Path) -> list[str]:
    """Class names of a crop folder, in the order the models use (sorted, as ImageFolder does)."""
    return CropDataset(crops_dir, "train").classes


def build_model(
    name: str, cfg: TrainConfig, num_classes: int, weights: str | Path | None = None
) -> nn.Module:
    """A classifier for a recipe: ViTs get the run's image size; a pretrained one is frozen but for its last block(s).

    Freezing only makes sense over learnt features: a ViT from scratch with frozen random blocks cannot learn, so
    it trains whole. The random initial weights come from cfg.seed, so the same settings give the same model.
    """
    seed_everything(cfg.seed)  # before the weights are drawn: fit() seeds again only for the data order
    is_vit = name.startswith("vit")
    model = create_classifier(
        name,
        num_classes,
        pretrained=cfg.pretrained,
        weights=weights,
        image_size=cfg.image_size if is_vit else None,
    )
    if is_vit and (cfg.pretrained or weights is not None):
        freeze_for_finetune(model, cfg.teacher_train_last_blocks)
    return model


def deploy_budget(name: str, num_classes: int) -> dict:
    """Parameters and GFLOPs of the architecture at the deployment size (built on the meta device: no memory)."""
    with torch.device("meta"):
        model = create_classifier(
            name, num_classes, image_size=DEPLOY_SIZE if name.startswith("vit") else None
        )
    return model_budget(model, DEPLOY_SIZE)


def score_folder(
    model: nn.Module,
    crops_dir: str | Path,
    cfg: TrainConfig,
    splits: tuple[str, ...],
    class_names: list[str] | None = None,
) -> dict:
    """Classification report of a model over the given splits of a crop folder (eval transform).

    class_names are the model's classes (default: the folder's); each crop's label is looked up by its class
    name, so a 3-class model (background, fall, normal) is scored on a fall/normal folder: a fall it calls
    background is a missed fall.
    """
    mean, std = input_stats(model)
    transform = build_transforms(cfg.image_size, False, mean, std)
    parts = [CropDataset(crops_dir, s, transform) for s in splits if (Path(crops_dir) / s).is_dir()]
    if not parts:
        raise MissingFileError(
            f"{crops_dir}: none of the splits {splits} exist; make crops with `fallkd crops`"
        )
    names = list(class_names or parts[0].classes)
    lookup = []
    for part in parts:
        unknown = [c for c in part.classes if c not in names]
        if unknown:
            raise UsageError(
                f"{part.root / part.split}: classes {unknown} are not the model's classes {names}"
            )
        lookup.append(np.array([names.index(c) for c in part.classes])[np.asarray(part.targets, dtype=int)])
    loader = DataLoader(ConcatDataset(parts), batch_size=cfg.batch_size, shuffle=False, num_workers=0)
    result = evaluate(model, loader)
    labels = np.concatenate(lookup)  # the loader keeps the parts' order
    return classification_report_dict(labels, result["probs"], names, "fall" if "fall" in names else names[0])


def train_classifier(
    crops_dir: str | Path,
    out_dir: str | Path,
    cfg: TrainConfig,
    name: str | None = None,
    criterion: Callable | None = None,
    other_crops: str | Path | None = None,
    weights: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Train (or resume) one classifier on a crop folder and write its metrics.json; returns that record.

    The checkpoint records the crop folder's CropSpec with the input side and mean/std (ClassifierInput), so the
    camera cuts and normalises people as these crops were.
    """
    name = name or cfg.model
    cfg = replace(cfg, model=name)  # the checkpoint's config must name the architecture it holds
    out_dir = Path(out_dir)
    crop = read_crop_spec(crops_dir)  # first: a crop folder that does not say how it was cut fails at once
    classes = crop_classes(crops_dir)
    model = build_model(name, cfg, len(classes), weights)
    mean, std = input_stats(model)
    model_input = ClassifierInput(crop, cfg.image_size, mean, std)
    loaders = make_loaders(
        crops_dir, cfg.image_size, cfg.batch_size, mean, std, cfg.workers, cfg.seed, augment=cfg.augment
    )
    criterion = criterion or plain_criterion(cfg.label_smoothing)
    fit(model, loaders, criterion, cfg, out_dir, None, classes, progress=progress, model_input=model_input)
    record = read_metrics(out_dir)
    key = _scores_key(out_dir, record, crops_dir, other_crops)
    saved = _read_scores(out_dir / SCORES_FILE)
    if saved.get("key") == key:  # a finished run asked again: its scores still hold, no need to score again
        scores = {k: saved[k] for k in SCORED}
    else:
        load_checkpoint(out_dir / "best.pt", model, restore_rng=False, class_names=classes)
        scores = {
            "budget": deploy_budget(name, len(classes)),
            "test": score_folder(model, crops_dir, cfg, ("test",), classes) if "test" in loaders else None,
            "other_origin": score_folder(model, other_crops, cfg, SPLITS, classes) if other_crops else None,
        }
        write_json_atomic(out_dir / SCORES_FILE, {"key": key, **scores})
    record.update(scores)
    write_metrics(out_dir / "metrics.json", record)
    return record


SCORES_FILE = "scores.json"  # a run's scores after training, with what they were computed from
SCORED = ("budget", "test", "other_origin")


def _read_scores(path: Path) -> dict:
    """The scores saved beside a run's metrics ({} when absent, unreadable or incomplete: score again)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) and {"key", *SCORED} <= set(saved) else {}


def _scores_key(out_dir: Path, record: dict, crops_dir: str | Path, other_crops: str | Path | None) -> dict:
    """The weights (best.pt's size and time, epochs done) and crop files that a run's scores depend on."""
    best = (out_dir / "best.pt").stat()
    return {
        "best": [best.st_size, best.st_mtime_ns, record["epochs_done"]],
        "test": files_digest([("test", Path(crops_dir) / "test")]),
        "other": files_digest((s, Path(other_crops) / s) for s in SPLITS) if other_crops else None,
    }


def teacher_config(cfg: TrainConfig) -> TrainConfig:
    """The settings the teacher trains under: its architecture (cfg.teacher) and epochs (cfg.teacher_epochs)."""
    return replace(cfg, model=cfg.teacher, epochs=cfg.teacher_epochs or cfg.epochs)


def train_teacher(
    crops_dir: str | Path,
    out_dir: str | Path,
    cfg: TrainConfig,
    other_crops: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Train (or resume) the teacher, cfg.teacher for cfg.teacher_epochs, like any classifier; returns its record."""
    tcfg = teacher_config(cfg)
    return train_classifier(crops_dir, out_dir, tcfg, other_crops=other_crops, progress=progress)


def load_trained(run: str | Path) -> nn.Module:
    """A recipe's trained model from a run folder's best.pt or a checkpoint file: the architecture it recorded."""
    return load_trained_classifier(run)[0]


def teacher_dataset(crops_dir: str | Path, teacher: nn.Module, cfg: TrainConfig) -> CropDataset:
    """The train split as the teacher sees it for caching: eval transform, the teacher's normalisation."""
    mean, std = input_stats(teacher)
    return CropDataset(crops_dir, "train", build_transforms(cfg.image_size, False, mean, std))


def _teacher(teacher_dir: str | Path) -> tuple[nn.Module, str]:
    """The trained teacher of a run folder and its architecture name (both from its checkpoint)."""
    model, checkpoint = load_trained_classifier(teacher_dir)
    return model, str(checkpoint["config"]["model"])


def cache_teacher(teacher_dir: str | Path, crops_dir: str | Path, cfg: TrainConfig, progress: bool = True):
    """Run the trained teacher once over the train crops and save its logits beside it (reused when valid)."""
    teacher, name = _teacher(teacher_dir)
    return cache_teacher_logits(
        teacher,
        teacher_dataset(crops_dir, teacher, cfg),
        Path(teacher_dir) / CACHE_NAME,
        cfg.batch_size,
        progress=progress,
        teacher_name=name,
    )


def kd_criterion(cfg: TrainConfig, teacher_dir: str | Path, mode: str, crops_dir: str | Path) -> Callable:
    """The distillation criterion of a recipe: cached or online teacher outputs, cfg's alpha, T, label smoothing."""
    if mode not in ("cached", "online"):
        raise UsageError(f"distillation mode {mode!r}: choose 'cached' or 'online'")
    teacher, _ = _teacher(teacher_dir)
    kd = dict(alpha=cfg.alpha, temperature=cfg.temperature, label_smoothing=cfg.label_smoothing)
    if mode == "cached":
        cache = load_teacher_cache(Path(teacher_dir) / CACHE_NAME, teacher_dataset(crops_dir, teacher, cfg))
        return CachedKDCriterion(cache, **kd)
    with torch.device("meta"):  # only the student's normalisation is needed: build nothing
        student_stats = input_stats(create_classifier(cfg.model, 2, pretrained=False))
    return OnlineKDCriterion(teacher, student_stats=student_stats, teacher_stats=input_stats(teacher), **kd)


def distill(
    crops_dir: str | Path,
    out_dir: str | Path,
    cfg: TrainConfig,
    teacher_dir: str | Path,
    mode: str = "cached",
    other_crops: str | Path | None = None,
    progress: bool = True,
    weights: str | Path | None = None,
) -> dict:
    """Distil the teacher into cfg.model with cached (looked up by sample id) or online teacher outputs; the
    student starts from `weights` when given (a local file, as in train_classifier)."""
    criterion = kd_criterion(cfg, teacher_dir, mode, crops_dir)
    return train_classifier(
        crops_dir,
        out_dir,
        cfg,
        criterion=criterion,
        other_crops=other_crops,
        weights=weights,
        progress=progress,
    )


def device_name() -> str:
    """Where training runs, for the record."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
