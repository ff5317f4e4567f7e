"""The training commands of `fallkd`: train-cls, cache-teacher, distill, compare (classifiers) and train-det."""

from __future__ import annotations

import argparse
from pathlib import Path

from fallkd_lib.cli_data import config_options
from fallkd_lib.config import AUGMENTS, DetectConfig, TrainConfig, cli_config


def _train_cfg(args: argparse.Namespace) -> TrainConfig:
    """The profile's TrainConfig with --set overrides and the --model / --epochs / --augment flags."""
    shortcuts = {key: getattr(args, key, None) for key in ("model", "epochs", "augment")}
    return cli_config(TrainConfig, args.profile, args.set, **shortcuts)  # type: ignore[return-value]


def _print_metrics(metrics: dict, out: Path) -> None:
    scored = metrics["test"] or metrics["val"]
    fall = scored["per_class"].get("fall", {})
    budget = metrics["budget"]
    print(
        f"{metrics['name']}: accuracy {scored['accuracy']:.3f}, fall recall {fall.get('recall', float('nan')):.3f}, "
        f"ECE {scored['ece']:.3f}, {budget['params_m']:.2f} M params, "
        f"{budget['gflops']:.2f} GFLOPs@224 ({budget['verdict']}); {out / 'metrics.json'}"
    )


def cmd_train_cls(args: argparse.Namespace) -> None:
    """Train a classifier (or a ViT teacher) on person crops."""
    from fallkd_lib.train.recipes import train_classifier

    cfg = _train_cfg(args)
    out = args.out or Path("runs") / "cls" / cfg.model
    _print_metrics(train_classifier(args.crops, out, cfg, other_crops=args.other, weights=args.weights), out)


def cmd_cache_teacher(args: argparse.Namespace) -> None:
    """Cache a trained teacher's logits on the train crops, indexed by sample id."""
    from fallkd_lib.train.recipes import cache_teacher

    cache = cache_teacher(args.teacher, args.crops, _train_cfg(args))
    print(f"{len(cache)} logits of teacher {cache.teacher} in {cache.path}")


def cmd_distill(args: argparse.Namespace) -> None:
    """Distil a trained teacher into the student (cached or online teacher outputs)."""
    from fallkd_lib.train.recipes import distill

    cfg = _train_cfg(args)
    out = args.out or Path("runs") / "kd" / f"{cfg.model}_{args.mode}"
    _print_metrics(distill(args.crops, out, cfg, args.teacher, args.mode, other_crops=args.other), out)


# two single-threaded trainings side by side beat the same two one after the other with two threads each: the quick
# profile's small inputs leave a second thread mostly idle (2 epochs of EfficientNet-B0 at 48 px on 2 cores: 20.0 s
# on 1 thread, 18.9 s on 2; ResNet18 29.0 s vs 21.7 s), so the demo's five trainings take 238 s at 2 jobs
DEFAULT_JOBS = 2


def jobs_option(p: argparse.ArgumentParser, default: int = DEFAULT_JOBS) -> None:
    """The --jobs option: trainings run side by side, each with the cores shared out (changes the numbers)."""
    p.add_argument(
        "--jobs",
        type=int,
        default=default,
        help=f"train this many runs at a time, each in its own process with cores/jobs threads (default {default}); "
        "the table depends on it (float sums in another order), not on timing",
    )


def cmd_compare(args: argparse.Namespace) -> None:
    """Train every model of the comparison and print the table."""
    from fallkd_lib.train.compare import format_seed_summary, run_comparison, run_seed_comparison

    cfg = _train_cfg(args)
    table = run_comparison(args.crops, args.out, cfg, other_crops=args.other, jobs=args.jobs)
    print(table.to_string(float_format="{:.3f}".format))
    print(f"written to {args.out / 'comparison.csv'}")
    if args.seeds > 1:
        summary = run_seed_comparison(args.crops, args.out, cfg, seeds=args.seeds, jobs=args.jobs)
        print(
            f"\nplain vs distilled EfficientNet-B0 over {args.seeds} seeds (one teacher; gain = paired, same seed):"
        )
        print(format_seed_summary(summary))
        print(f"written to {args.out / 'seeds_summary.csv'}")


def cmd_train_det(args: argparse.Namespace) -> None:
    """Train the YOLO detector (person or fall/normal) on a merged dataset."""
    from fallkd_lib.detector.dataset import detector_dataset
    from fallkd_lib.detector.train import train_detector

    cfg = cli_config(DetectConfig, args.profile, args.set, epochs=args.epochs, imgsz=args.imgsz)
    data_yaml = detector_dataset(args.merged, args.out / f"data_{args.mode}", mode=args.mode)
    result = train_detector(data_yaml, cfg, out_dir=args.out, name=args.mode, resume="auto")  # type: ignore[arg-type]
    print(
        f"{args.mode} detector: mAP50 {result['mAP50']:.3f}, mAP50-95 {result['mAP50-95']:.3f}; {result['best']}"
    )


def add_train_commands(sub: argparse._SubParsersAction) -> None:
    """Add the training commands to the fallkd parser."""

    def crops_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("crops", type=Path, help="person crops (ImageFolder: train|val|test/{fall,normal})")
        config_options(p, "TrainConfig")

    def other_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--other", type=Path, default=None, help="crops of another origin, scored after training"
        )

    def augment_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--augment",
            default=None,
            choices=AUGMENTS,
            help="training augmentation (TrainConfig.augment): basic (the profile's default) or camera "
            "(adds blur, sensor noise, JPEG, grey/IR, low light and viewpoint)",
        )

    p = sub.add_parser("train-cls", help="train a classifier (resnet18, efficientnet_b0) or a ViT teacher")
    crops_options(p)
    other_option(p)
    p.add_argument("--model", default=None, help="resnet18, efficientnet_b0, vit_b_16, vit_tiny")
    p.add_argument("--epochs", type=int, default=None)
    augment_option(p)
    p.add_argument("--weights", type=Path, default=None, help="a local pretrained weights file")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/cls/MODEL)")
    p.set_defaults(func=cmd_train_cls)

    p = sub.add_parser("cache-teacher", help="cache a trained teacher's logits (indexed by sample id)")
    crops_options(p)
    p.add_argument("--teacher", type=Path, required=True, help="the teacher's run folder (holds best.pt)")
    p.set_defaults(func=cmd_cache_teacher)

    p = sub.add_parser("distill", help="distil a trained teacher into the student")
    crops_options(p)
    other_option(p)
    p.add_argument("--teacher", type=Path, required=True, help="the teacher's run folder (holds best.pt)")
    p.add_argument("--mode", default="cached", choices=["cached", "online"])
    p.add_argument("--model", default=None, help="the student (default efficientnet_b0)")
    p.add_argument("--epochs", type=int, default=None)
    augment_option(p)
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/kd/MODEL_MODE)")
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("compare", help="teacher, baselines and distilled students in one table")
    crops_options(p)
    other_option(p)
    p.add_argument("--out", type=Path, default=Path("runs") / "compare")
    jobs_option(p)
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="also train plain and KD students with this many seeds: mean +- sd",
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "train-det", help="train the YOLOv5s detector (person or fall/normal) on a merged dataset"
    )
    p.add_argument("merged", type=Path, help="a dataset made by `fallkd merge`")
    p.add_argument("--mode", default="person", choices=["person", "fall_normal"])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--imgsz", type=int, default=None, help="the detector's input side (DetectConfig.imgsz)")
    p.add_argument("--out", type=Path, default=Path("runs") / "detector")
    config_options(p, "DetectConfig")
    p.set_defaults(func=cmd_train_det)
