"""ONE training loop for plain and distilled training: only the criterion differs.

A criterion is `criterion(logits, labels, ids, images) -> {"loss": scalar, ...}`; every key it returns is
averaged per epoch and logged as `train_<key>`. Per epoch the loop trains, validates with plain cross-entropy,
writes `last.pt` (and `best.pt` when val accuracy improves; ties keep the earlier epoch), a row of
`metrics.csv` and TensorBoard scalars. `metrics.json` (fallkd_lib.train.metrics_file) is written at the end.

Exact resume: `last.pt` holds the weights, optimizer, scheduler, AMP scaler, epoch, history and every RNG state,
and the train loader's shuffle generator is re-seeded at the start of every epoch from (seed, epoch). So epoch k
shuffles, augments and drops out the same way whether or not the run stopped before it: 2 epochs straight and
1 epoch + resume give identical weights on CPU (with workers=0 or non-persistent workers; on CUDA, AMP and cuDNN
kernels may differ in the last bits).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from tqdm.auto import tqdm

from fallkd_lib.config import TrainConfig, as_dict
from fallkd_lib.errors import UsageError
from fallkd_lib.io import write_text_atomic
from fallkd_lib.models.inputs import ClassifierInput
from fallkd_lib.train.checkpoint import load_checkpoint, save_checkpoint, seed_everything
from fallkd_lib.train.metrics import classification_report_dict, train_val_gap
from fallkd_lib.train.metrics_file import SCHEMA, write_metrics

EVENTS = ("on_epoch_end", "on_train_end")  # on_epoch_end(epoch, row); on_train_end(summary)
_RESUME_SAFE_KEYS = {"epochs", "workers", "max_batches"}


def plain_criterion(label_smoothing: float = 0.0) -> Callable:
    """The plain-training criterion: cross-entropy on the hard labels, as `{"loss": ...}`."""
    from fallkd_lib.distill.criteria import CrossEntropyCriterion

    return CrossEntropyCriterion(label_smoothing)


def epoch_seed(seed: int, epoch: int) -> int:
    """The train loader's shuffle seed for an epoch: depends on (seed, epoch) only, so resume repeats it."""
    return seed * 10_000 + epoch


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, or CUDA when available, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW (betas 0.9, 0.999) over the parameters that require gradients."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise UsageError(
            "the model has no trainable parameters (all requires_grad=False): unfreeze some layers"
        )
    optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}  # TrainConfig allows these two
    return optimizers[cfg.optimizer](params, lr=cfg.lr, betas=(0.9, 0.999), weight_decay=cfg.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> LambdaLR | None:
    """Cosine decay stepped once per epoch after a linear warmup, or None for `scheduler="none"`."""
    if cfg.scheduler == "none":  # else "cosine": TrainConfig allows these two
        return None
    warm, total = cfg.warmup_epochs, cfg.epochs

    def factor(done: int) -> float:  # done = epochs completed; the lr of the next epoch is lr * factor
        if done < warm:
            return (done + 1) / (warm + 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (done - warm) / max(1, total - warm))))

    return LambdaLR(optimizer, factor)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    device: str | torch.device | None = None,
    criterion: Callable | None = None,
    progress: bool = False,
) -> dict:
    """Predict a loader: labels, probs (softmax, N x C), ids (numpy) and the mean loss (plain CE by default)."""
    device = resolve_device(device)
    model.eval()
    labels, probs, ids, loss_sum = [], [], [], 0.0
    for images, target, index in tqdm(loader, desc="eval", disable=not progress, leave=False):
        images, target = images.to(device, non_blocking=True), target.to(device, non_blocking=True)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            logits = model(images)
        logits = logits.float()
        loss = criterion(logits, target, index.to(device), images)["loss"] if criterion else None
        loss = F.cross_entropy(logits, target) if loss is None else loss
        loss_sum += float(loss) * len(target)
        labels.append(target.cpu())
        probs.append(logits.softmax(dim=1).cpu())
        ids.append(index)
    n = sum(len(t) for t in labels)
    return {"labels": _cat(labels), "probs": _cat(probs), "ids": _cat(ids), "loss": loss_sum / max(n, 1)}


def _cat(parts: list[torch.Tensor]) -> np.ndarray:
    return torch.cat(parts).numpy() if parts else np.zeros(0)


def use_channels_last(model: nn.Module, device: torch.device, cfg: TrainConfig) -> bool:
    """Whether to train in channels-last (NHWC) memory: on CUDA when cfg says so; on CPU only for models with
    depthwise convolutions (EfficientNet), which oneDNN runs about twice as fast in NHWC (ResNet gains nothing)."""
    if not cfg.channels_last:
        return False
    if device.type == "cuda":
        return True
    return any(
        isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in model.modules()
    )


def _train_epoch(model, loader, criterion, optimizer, scaler, device, cfg, desc, progress) -> dict:
    """One pass over the train loader; returns the mean of every criterion key and the accuracy."""
    model.train()
    cuda = device.type == "cuda"
    nhwc = use_channels_last(model, device, cfg)
    n_batches = min(len(loader), cfg.max_batches) if cfg.max_batches > 0 else len(loader)
    sums, correct, seen = {}, 0, 0
    bar = tqdm(
        itertools.islice(loader, n_batches), total=n_batches, desc=desc, disable=not progress, leave=False
    )
    for step, (images, labels, ids) in enumerate(bar):
        images, labels, ids = (t.to(device, non_blocking=True) for t in (images, labels, ids))
        if nhwc:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, enabled=cuda and cfg.amp):
            logits = model(images)
            parts = criterion(logits, labels, ids, images)
        if not isinstance(parts, dict) or "loss" not in parts:
            raise TypeError(
                f"a criterion must return a dict with a 'loss' tensor, got {type(parts).__name__}"
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(parts["loss"]).backward()
        scaler.step(optimizer)
        scaler.update()
        for key, value in parts.items():
            sums[key] = sums.get(key, 0.0) + value.detach().float() * len(labels)
        correct, seen = correct + (logits.argmax(dim=1) == labels).sum(), seen + len(labels)
        if progress and step % 10 == 0:  # a float() waits for the GPU: only now and then
            bar.set_postfix(loss=f"{float(parts['loss'].detach()):.4f}")
    if seen == 0:
        raise UsageError("the train loader yielded no batches: is the train split empty?")
    return {f"train_{k}": float(v) / seen for k, v in sums.items()} | {"train_acc": float(correct) / seen}


def _val_columns(result: dict, report: dict) -> dict:
    pos = report["per_class"][report["positive"]]
    return {
        "val_loss": result["loss"],
        "val_acc": report["accuracy"],
        f"val_recall_{report['positive']}": pos["recall"],
        f"val_precision_{report['positive']}": pos["precision"],
        "val_macro_f1": report["macro_f1"],
        "val_auc": report["roc_auc"],
        "val_ece": report["ece"],
    }


def _csv_text(rows: list[dict]) -> str:
    text = io.StringIO()
    if rows:
        writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return text.getvalue()


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(row), lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow(row)


def _tensorboard(log_dir: Path, purge_step: int):
    try:
        from torch.utils.tensorboard import SummaryWriter  # lazy: tensorboard is optional
    except ImportError:
        warnings.warn(
            "tensorboard is not installed: skipping TensorBoard logs (metrics.csv has them all)", stacklevel=3
        )
        return None
    return SummaryWriter(str(log_dir), purge_step=purge_step)


def _log_tensorboard(writer, row: dict, epoch: int) -> None:
    if writer is not None:
        for key, value in row.items():
            if key != "epoch" and value is not None:
                writer.add_scalar(key, value, epoch)
        writer.flush()


def _summary(
    out_dir: Path,
    state: dict,
    cfg: TrainConfig,
    class_names: list[str],
    criterion: Callable,
    model_input: ClassifierInput | None,
) -> dict:
    """The end-of-training record (fallkd_lib.train.metrics_file's schema), also written to out_dir/metrics.json."""
    history = state["history"]
    record = {
        "schema": SCHEMA,
        "name": cfg.model,
        "criterion": repr(criterion),
        "config": as_dict(cfg),
        "class_names": class_names,
        "input": model_input.to_dict() if model_input is not None else None,
        "epochs_done": len(history),
        "best_epoch": (state["best_report"] or {}).get("epoch"),
        "epoch_seconds": float(np.mean([row["seconds"] for row in history])) if history else None,
        "train_val_gap": train_val_gap(history),
        "val": state["best_report"],
        "final": state["val_report"],
        "test": None,
        "other_origin": None,
        "budget": None,
        "history": history,
        "paths": {"best": str(out_dir / "best.pt"), "last": str(out_dir / "last.pt")},
    }
    write_metrics(out_dir / "metrics.json", record)
    return record


def _check_args(loaders: dict, callbacks: dict | None) -> dict:
    missing = [k for k in ("train", "val") if k not in loaders]
    if missing:
        raise UsageError(f"fit needs loaders for 'train' and 'val'; missing {missing} (got {list(loaders)})")
    unknown = set(callbacks or {}) - set(EVENTS)
    if unknown:
        raise UsageError(f"unknown callback event(s) {sorted(unknown)}: valid events are {', '.join(EVENTS)}")
    return callbacks or {}


def _warn_changes(path: Path, old: dict, new: dict) -> None:
    # a key an older checkpoint lacks (augment) was added with the default that keeps its behaviour
    old = as_dict(TrainConfig()) | old
    changed = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v and k not in _RESUME_SAFE_KEYS}
    if changed:
        warnings.warn(
            f"resuming {path} with changed settings {changed} (old, new): the run mixes both", stacklevel=3
        )


def fit(
    model: nn.Module,
    loaders: dict,
    criterion: Callable,
    cfg: TrainConfig,
    out_dir: str | Path,
    device: str | torch.device | None = None,
    class_names: list[str] | None = None,
    resume: bool = True,
    callbacks: dict[str, list[Callable]] | None = None,
    progress: bool = True,
    model_input: ClassifierInput | None = None,
) -> dict:
    """Train (or resume from out_dir/last.pt) for cfg.epochs; returns the record saved as metrics.json.

    model_input (crop geometry, input side, mean/std) is saved in every checkpoint, for the camera to read back.
    """
    callbacks = _check_args(loaders, callbacks)
    out_dir, device = Path(out_dir), resolve_device(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    class_names = list(class_names or getattr(loaders["train"].dataset, "classes", None) or [])
    if len(class_names) < 2:
        raise UsageError("fit needs class_names (or a train dataset with .classes) naming at least 2 classes")
    positive = "fall" if "fall" in class_names else class_names[0]
    cuda, config = device.type == "cuda", as_dict(cfg)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"

    seed_everything(cfg.seed)
    model.to(device)
    if use_channels_last(model, device, cfg):
        model.to(memory_format=torch.channels_last)
    if isinstance(criterion, nn.Module):
        criterion.to(device)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    scaler = torch.amp.GradScaler(device.type, enabled=cuda and cfg.amp)
    start, best, state = 0, None, {"history": [], "best_report": None, "val_report": None}
    if resume and last_path.exists():
        ckpt = load_checkpoint(last_path, model, optimizer, scheduler, scaler, class_names=class_names)
        _warn_changes(last_path, ckpt["config"], config)
        start, best, state = ckpt["epoch"], ckpt["best_metric"], ckpt["extra"]
        if start >= cfg.epochs:
            return _summary(out_dir, state, cfg, class_names, criterion, model_input)

    def save(path: Path, epoch: int) -> None:
        save_checkpoint(
            path, model, optimizer, scheduler, scaler, epoch, best, config, state, class_names, model_input
        )

    write_text_atomic(out_dir / "metrics.csv", _csv_text(state["history"]))  # keep rows up to `start` only
    writer = _tensorboard(out_dir / "tb", purge_step=start + 1)
    try:
        for epoch in range(start + 1, cfg.epochs + 1):
            began = time.perf_counter()
            if isinstance(loaders["train"].generator, torch.Generator):
                loaders["train"].generator.manual_seed(epoch_seed(cfg.seed, epoch))
            row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
            desc = f"epoch {epoch}/{cfg.epochs}"
            row |= _train_epoch(
                model, loaders["train"], criterion, optimizer, scaler, device, cfg, desc, progress
            )
            if not math.isfinite(row["train_loss"]):
                raise FloatingPointError(
                    f"epoch {epoch}: the train loss is {row['train_loss']}; last.pt keeps epoch {epoch - 1}. "
                    f"Lower the learning rate (lr={cfg.lr}) or check the inputs for NaNs"
                )
            if scheduler is not None:
                scheduler.step()
            result = evaluate(model, loaders["val"], device)
            report = classification_report_dict(result["labels"], result["probs"], class_names, positive)
            row |= _val_columns(result, report) | {"seconds": round(time.perf_counter() - began, 3)}
            state["history"].append(row)
            state["val_report"] = {"epoch": epoch, "loss": result["loss"], **report}
            if best is None or row["val_acc"] > best:  # strictly better: ties keep the earlier epoch
                best, state["best_report"] = row["val_acc"], state["val_report"]
                save(best_path, epoch)
            save(last_path, epoch)
            _append_csv(out_dir / "metrics.csv", row)
            _log_tensorboard(writer, row, epoch)
            for callback in callbacks.get("on_epoch_end", []):
                callback(epoch, row)
    finally:
        if writer is not None:
            writer.close()
    summary = _summary(out_dir, state, cfg, class_names, criterion, model_input)
    for callback in callbacks.get("on_train_end", []):
        callback(summary)
    return summary
