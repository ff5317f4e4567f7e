"""The people detector: YOLOv5s trained, evaluated, loaded and run through the `ultralytics` package, offline-safe.

Every entry point calls `prepare_ultralytics()` (settings and the Arial font inside the project cache) and
`configure_offline()` (YOLO_OFFLINE=1 unless the environment says otherwise) before the first
`import ultralytics`, so nothing is downloaded behind your back: a missing pretrained file is an error that
says what to pass instead, the fonts are placed where ultralytics looks for them, and on a GPU ultralytics'
AMP self-test (which downloads yolo26n.pt) is skipped while offline. The dataset comes from
:func:`fallkd_lib.detector.dataset.detector_dataset`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

from fallkd_lib.config import DetectConfig, as_dict
from fallkd_lib.detector.dataset import check_split
from fallkd_lib.errors import MissingFileError
from fallkd_lib.io import write_json_atomic
from fallkd_lib.runtime.detector import input_size, pick_device
from fallkd_lib.runtime.loaders import load_detector
from fallkd_lib.settings import import_ultralytics, is_offline_requested, keep_torch_threads

METRICS_FILE = "fallkd_metrics.json"
YOLOV5U_NOTE = (
    "ultralytics builds `yolov5s.yaml` as YOLOv5su, the anchor-free 'u' variant: the YOLOv5s backbone and neck "
    "with YOLOv8's decoupled, anchor-free (DFL) head. Measured here with one class (person): 9.12 M parameters "
    "and 24.0 GFLOPs at 640 px (ultralytics model.info(); 23.8 by fallkd's count_flops, which leaves out bias "
    "adds and activations), 15.3 GFLOPs at 512, 10.1 at 416, 6.0 at 320. The original anchor-based YOLOv5s of "
    "the reference report is 7.2 M parameters and 16.5 GFLOPs at 640. On the Jetson TX2 budget (<= 13 M "
    "parameters; <= 20 GFLOPs fits, 20-30 tight) YOLOv5su at 640 is 'tight' where YOLOv5s 'fits': expect about "
    "1.45x the detector's compute per frame at 640, or run it at 512 px (15.3 GFLOPs, 'fits') to stay in budget."
)

_AMP_CHECK_WEIGHTS = "yolo26n.pt"  # what ultralytics' AMP check downloads on a GPU


@contextlib.contextmanager
def _offline_amp_check() -> Iterator[None]:
    """Offline, skip ultralytics' AMP self-test when its weights are absent: it would try to download them."""
    from ultralytics.engine import trainer as trainer_module
    from ultralytics.utils import LOGGER, WEIGHTS_DIR

    original = getattr(trainer_module, "check_amp", None)
    if original is None or not is_offline_requested() or (WEIGHTS_DIR / _AMP_CHECK_WEIGHTS).is_file():
        yield
        return

    def check_amp_offline(model: object) -> bool:
        LOGGER.info(
            f"AMP: self-test skipped offline ({_AMP_CHECK_WEIGHTS} not in {WEIGHTS_DIR}); AMP stays on"
        )
        return True

    trainer_module.check_amp = check_amp_offline
    try:
        yield
    finally:
        trainer_module.check_amp = original


def _metrics_dict(metrics: object, names: dict | list) -> dict:
    """mAP50, mAP50-95, mean P/R and per-class P/R/AP50/AP50-95/instances from ultralytics' DetMetrics."""
    names = dict(enumerate(names)) if isinstance(names, list | tuple) else dict(names)
    box = metrics.box
    mean_p, mean_r, map50, map5095 = (float(v) for v in box.mean_results())
    counts = getattr(metrics, "nt_per_class", None)
    per_class = {}
    for i, cls in enumerate(box.ap_class_index):  # only the classes that occur in the evaluated split
        p, r, ap50, ap = (float(v) for v in box.class_result(i))
        row = {"precision": p, "recall": r, "AP50": ap50, "AP50-95": ap}
        if counts is not None:
            row["instances"] = int(counts[int(cls)])
        per_class[str(names.get(int(cls), cls))] = row
    return {
        "mAP50": map50,
        "mAP50-95": map5095,
        "precision": mean_p,
        "recall": mean_r,
        "per_class": per_class,
    }


def _finished_run(run_dir: Path) -> dict | None:
    """The saved summary when the run in run_dir completed (its last.pt has no optimizer state left), its paths
    those of run_dir now (a work folder copied or moved elsewhere returns its own weights, not the old ones)."""
    import torch

    last, summary = run_dir / "weights" / "last.pt", run_dir / METRICS_FILE
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    if ckpt.get("optimizer") is not None and ckpt.get("epoch", -1) >= 0:
        return None
    if summary.is_file():
        saved = json.loads(summary.read_text(encoding="utf-8"))
        return saved | {
            "run_dir": str(run_dir),
            "best": str(run_dir / "weights" / "best.pt"),
            "last": str(last),
        }
    raise MissingFileError(
        f"{last} is a finished run (no optimizer state to resume) without {summary}: evaluate "
        f"{run_dir / 'weights' / 'best.pt'} with evaluate_detector, or train again with resume=False"
    )


def train_detector(
    data_yaml: str | Path,
    cfg: DetectConfig | None = None,
    out_dir: str | Path = "runs/detector",
    name: str = "train",
    device: str | int | None = None,
    resume: bool | str = False,
    plots: bool = True,
    amp: bool | None = None,
    extra: dict | None = None,
) -> dict:
    """Train the YOLO detector with ultralytics as `cfg` says (or resume its run); return and save the summary.

    cfg defaults to the reference recipe (DetectConfig(): yolov5s at 640 px, batch 8, 50 epochs from pretrained
    yolov5su.pt); ultralytics builds `yolov5s.yaml` as the anchor-free YOLOv5su (about 9.1 M parameters, 24
    GFLOPs at 640, measured) rather than the original anchor-based YOLOv5s (7.2 M, 16.5 GFLOPs): 'tight' on the
    TX2 budget at 640 (YOLOV5U_NOTE). `cfg.pretrained` must be a local file while offline (else
    MissingFileError: set it to None to train from scratch). `amp=None` turns mixed precision off on CPU and on
    for a GPU. The run goes to out_dir/name (a relative out_dir is taken from the current folder);
    `resume=True` continues that run from weights/last.pt through ultralytics' own resume (a finished run
    returns its saved summary); `resume="auto"` resumes when last.pt exists and trains afresh otherwise.
    `extra` adds or overrides any ultralytics train argument. Returns run_dir, best, last, mAP50, mAP50-95,
    precision, recall, per_class ({name: precision, recall, AP50, AP50-95, instances}, validation split),
    epochs_run, seconds and the settings; also written atomically to run_dir/fallkd_metrics.json.
    """
    cfg = cfg or DetectConfig()
    data_yaml = Path(data_yaml).resolve()
    if not data_yaml.is_file():
        raise MissingFileError(
            f"{data_yaml} not found: make the detector's dataset with detector_dataset(...)"
        )
    run_dir = Path(out_dir).resolve() / name
    last = run_dir / "weights" / "last.pt"
    if resume == "auto":  # notebooks: continue (or just re-read) a run that exists, else start one
        resume = last.is_file()
    if resume and not last.is_file():
        raise MissingFileError(f"nothing to resume: {last} does not exist; train with resume=False first")
    model, weights = (None, None) if resume else check_weights_args(cfg.model, cfg.pretrained)
    YOLO = import_ultralytics().YOLO
    device = pick_device(device)
    use_amp = (device not in ("cpu", "mps")) if amp is None else bool(amp)
    start = time.perf_counter()
    if resume:
        done = _finished_run(run_dir)
        if done is not None:
            print(f"{run_dir} already finished {done.get('epochs_run')} epochs: returning its saved summary")
            return done
        yolo = YOLO(str(last))
        args = {
            "resume": True,
            "data": str(data_yaml),
            "device": device,
            "workers": cfg.workers,
            "plots": plots,
        }
    else:
        yolo = YOLO(model)
        args = {
            "data": str(data_yaml),
            "epochs": cfg.epochs,
            "imgsz": cfg.imgsz,
            "batch": cfg.batch,
            "device": device,
            "workers": cfg.workers,
            "seed": cfg.seed,
            "patience": cfg.patience,
            "fraction": cfg.fraction,
            "val": cfg.val,
            "amp": use_amp,
            "plots": plots,
            "project": str(run_dir.parent),
            "name": name,
            "exist_ok": True,
        }
        if weights is not None:
            args["pretrained"] = weights
    args.update(extra or {})
    with _offline_amp_check(), keep_torch_threads():
        metrics = yolo.train(**args)
    trainer = yolo.trainer
    run_dir = Path(trainer.save_dir)
    summary = {
        "run_dir": str(run_dir),
        "best": str(trainer.best),
        "last": str(trainer.last),
        **_metrics_dict(metrics, yolo.names),
        "epochs_run": int(trainer.epoch) + 1,
        "epochs": int(trainer.epochs),
        "seconds": round(time.perf_counter() - start, 1),
        "resumed": bool(resume),
        "data": str(data_yaml),
        "model": str(trainer.args.model) if resume else model,  # a resumed run keeps its own settings
        "pretrained": (trainer.args.pretrained or None) if resume else weights,
        "imgsz": int(trainer.args.imgsz),
        "batch": int(trainer.args.batch),
        "device": device,
        "amp": bool(trainer.amp),
        "names": list(yolo.names.values()),
        "config": None if resume else as_dict(cfg),
    }
    write_json_atomic(run_dir / METRICS_FILE, summary)
    return summary


def evaluate_detector(
    weights: str | Path,
    data_yaml: str | Path,
    imgsz: int | None = None,
    split: str = "test",
    conf: float = 0.001,
    iou: float = 0.6,
    batch: int = 16,
    device: str | int | None = None,
    workers: int = 2,
) -> dict:
    """mAP50, mAP50-95, mean and per-class precision/recall of a detector on one split (ultralytics val, no plots).

    imgsz defaults to the size the detector was trained at.
    """
    data_yaml = Path(data_yaml).resolve()
    if not data_yaml.is_file():
        raise MissingFileError(
            f"{data_yaml} not found: make the detector's dataset with detector_dataset(...)"
        )
    key = check_split(data_yaml, split)
    yolo = load_detector(weights)
    imgsz = input_size(yolo, imgsz)
    weights = Path(weights).resolve()
    out = weights.parent.parent if weights.parent.name == "weights" else weights.parent
    with keep_torch_threads():
        metrics = yolo.val(
            data=str(data_yaml),
            imgsz=imgsz,
            split=key,
            conf=conf,
            iou=iou,
            batch=batch,
            device=pick_device(device),
            workers=workers,
            plots=False,
            project=str(out),
            name=f"eval_{split}",
            exist_ok=True,
            verbose=False,
        )
    return {"weights": str(weights), "split": split, "imgsz": imgsz, **_metrics_dict(metrics, yolo.names)}


def _offline_missing(what: str, value: str | Path, hint: str) -> MissingFileError:
    return MissingFileError(
        f"{what} {value!s} is not a local file and fallkd is offline (YOLO_OFFLINE=1), so ultralytics may not "
        f"download it: {hint}"
    )


def check_weights_args(model: str | Path, pretrained: str | Path | None) -> tuple[str, str | None]:
    """The model and pretrained arguments for ultralytics, checked before anything could be downloaded."""
    model = str(model)
    if model.lower().endswith(".pt") and not Path(model).is_file():
        if is_offline_requested():
            raise _offline_missing(
                "model", model, "pass model='yolov5s.yaml' to build it, or a local .pt file"
            )
    elif model.lower().endswith(".pt"):
        model = str(Path(model).resolve())
    if pretrained is None:
        return model, None
    if Path(pretrained).is_file():
        return model, str(Path(pretrained).resolve())
    if is_offline_requested():
        raise _offline_missing(
            "pretrained weights",
            pretrained,
            "pass pretrained=None to train from scratch, or the path of a local file such as a yolov5su.pt "
            "downloaded beforehand (set YOLO_OFFLINE=0 to let ultralytics download it by name)",
        )
    return model, str(pretrained)
