"""`fallkd <command>`: a thin command line over the library's functions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fallkd_lib.cli_edge import add_edge_commands
from fallkd_lib.errors import FallkdError, UsageError


def _parse_fractions(text: str) -> tuple[float, float, float]:
    parts = [float(p) for p in text.split(",")]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"--split takes three fractions like 0.7,0.15,0.15, got {text!r}")
    return parts[0], parts[1], parts[2]


def _parse_source(text: str) -> Path | tuple[str, Path]:
    if "=" in text and not Path(text).exists():
        name, path = text.split("=", 1)
        return name, Path(path)
    return Path(text)


def _parse_map(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--map takes NAME=TARGET (TARGET: fall, normal or drop), got {item!r}")
        name, target = item.split("=", 1)
        mapping[name.strip()] = target.strip()
    return mapping


def _train_cfg(args: argparse.Namespace):
    """The profile's TrainConfig with --set KEY=VALUE overrides converted to each field's type."""
    from dataclasses import fields

    from fallkd_lib.config import TrainConfig, train_config

    types = {f.name: f.type for f in fields(TrainConfig)}
    overrides = {}
    for item in args.set:
        if "=" not in item:
            raise UsageError(f"--set takes KEY=VALUE (e.g. --set epochs=5), got {item!r}")
        key, value = (part.strip() for part in item.split("=", 1))
        kind = types.get(key, "str")
        if kind == "bool":
            if value.lower() not in ("true", "false", "1", "0"):
                raise UsageError(f"--set {key}={value}: expected true or false")
            overrides[key] = value.lower() in ("true", "1")
        elif kind in ("int", "float"):
            try:
                overrides[key] = int(value) if kind == "int" else float(value)
            except ValueError:
                raise UsageError(f"--set {key}={value}: expected a number ({kind})") from None
        else:
            overrides[key] = value
    for key in ("model", "epochs"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    return train_config(args.profile, **overrides)


def _print_metrics(metrics: dict, out: Path) -> None:
    scored = metrics["test"] or metrics["val"]
    fall = scored["per_class"].get("fall", {})
    print(
        f"{metrics['name']}: accuracy {scored['accuracy']:.3f}, fall recall {fall.get('recall', float('nan')):.3f}, "
        f"ECE {scored['ece']:.3f}, {metrics['budget']['params_m']:.2f} M params, "
        f"{metrics['budget']['gflops']:.2f} GFLOPs@224 ({metrics['budget']['verdict']}); {out / 'metrics.json'}"
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
    print(f"{len(cache)} teacher logits in {cache.path}")


def cmd_distill(args: argparse.Namespace) -> None:
    """Distil a trained teacher into the student (cached or online teacher outputs)."""
    from fallkd_lib.train.recipes import distill

    cfg = _train_cfg(args)
    out = args.out or Path("runs") / "kd" / f"{cfg.model}_{args.mode}"
    _print_metrics(distill(args.crops, out, cfg, args.teacher, args.mode, other_crops=args.other), out)


def cmd_compare(args: argparse.Namespace) -> None:
    """Train every model of the comparison and print the table."""
    from fallkd_lib.train.compare import run_comparison

    table = run_comparison(args.crops, args.out, _train_cfg(args), other_crops=args.other)
    print(table.to_string(float_format="{:.3f}".format))
    print(f"written to {args.out / 'comparison.csv'}")


def cmd_train_det(args: argparse.Namespace) -> None:
    """Train the YOLO detector (person or fall/normal) on a merged dataset."""
    from dataclasses import asdict

    from fallkd_lib.config import detect_config
    from fallkd_lib.detect.detector import detector_dataset, train_detector

    cfg = asdict(detect_config(args.profile, **({"epochs": args.epochs} if args.epochs else {})))
    data_yaml = detector_dataset(args.merged, args.out / f"data_{args.mode}", mode=args.mode)
    result = train_detector(data_yaml, out_dir=args.out, name=args.mode, resume="auto", **cfg)
    print(
        f"{args.mode} detector: mAP50 {result['mAP50']:.3f}, mAP50-95 {result['mAP50-95']:.3f}; {result['best']}"
    )


def cmd_clips(args: argparse.Namespace) -> None:
    """Render short synthetic clips with ground truth (walk, fall and stay, fall and recover, sit, crowd)."""
    from fallkd_lib.data.synthetic import generate_clip_set

    for clip in generate_clip_set(args.out, args.per_scenario, args.seconds, args.fps, args.size, args.seed):
        print(f"{clip.scenario:<13} {clip.video} ({clip.n_frames} frames)")


def cmd_synth(args: argparse.Namespace) -> None:
    """Render the embedded synthetic dataset."""
    from fallkd_lib.data.synthetic import STYLES, generate_dataset

    styles = STYLES if args.style == "all" else (args.style,)
    for style in styles:
        out = Path(args.out) / style if args.style == "all" else Path(args.out)
        summary = generate_dataset(out, args.images, seed=args.seed, style=style, size=args.size)
        print(f"{style}: {out} {json.dumps(summary)}")


def cmd_merge(args: argparse.Namespace) -> None:
    """Merge YOLO datasets into one fall/normal dataset."""
    from fallkd_lib.data.merge import merge_datasets

    report = merge_datasets(
        [_parse_source(s) for s in args.sources],
        args.out,
        class_map=_parse_map(args.map),
        split=args.split,
        seed=args.seed,
        near_duplicate_distance=args.near_dup,
        group_pattern=args.group_pattern,
    )
    print(report.summary())


def cmd_crops(args: argparse.Namespace) -> None:
    """Cut person crops into ImageFolder layout."""
    from fallkd_lib.data.crops import extract_crops

    report = extract_crops(args.dataset, args.out, size=args.size, pad=args.pad)
    print(report.summary())


def cmd_stats(args: argparse.Namespace) -> None:
    """Print class balance and save the data plots."""
    from fallkd_lib.data.stage import save_data_plots
    from fallkd_lib.data.stats import box_table, class_balance

    boxes = box_table(args.dataset)
    print(class_balance(boxes).to_string())
    if args.out:
        for path in save_data_plots(args.dataset, args.out, boxes=boxes):
            print(f"wrote {path}")


def cmd_import(args: argparse.Namespace) -> None:
    """Bring a local Roboflow export (folder or zip) into the data folder."""
    from fallkd_lib.data.sources import import_export

    print(import_export(args.source, args.out))


def cmd_download(args: argparse.Namespace) -> None:
    """Download a Roboflow dataset (online; key from ROBOFLOW_API_KEY)."""
    from fallkd_lib.data.sources import download_preset

    print(download_preset(args.preset, args.out, version=args.version, timeout=args.timeout))


def cmd_env(args: argparse.Namespace) -> None:
    """Show host, accelerator, network and package versions."""
    from fallkd_lib.envcheck import environment_report

    print(json.dumps(environment_report(), indent=2))


def cmd_demo(args: argparse.Namespace) -> None:
    """Run the course's main job end to end on the embedded synthetic data."""
    from fallkd_lib.data.stage import run_data_stage

    result = run_data_stage(profile=args.profile, out=args.out)
    print(f"data stage ({result['profile']} profile) done in {result['seconds']} s")
    per_split = {split: row["images"] for split, row in result["merge"]["per_split"].items()}
    for name, path in result["sources"].items():
        print(f"  source {name:<12} {path}")
    print(f"  merged dataset    {result['merged']}  images per split: {per_split}")
    print(f"  person crops      {result['crops_dir']}  crops: {result['crops']}")
    for path in result["plots"]:
        print(f"  plot              {path}")
    if args.data_only:
        return
    from fallkd_lib.config import train_config
    from fallkd_lib.settings import get_settings
    from fallkd_lib.train.compare import run_comparison

    runs = args.runs or get_settings().runs_dir / "demo" / args.profile
    table = run_comparison(result["crops_dir"], runs, train_config(args.profile))
    print(
        f"\nclassifiers and distillation ({table.attrs['seconds']} s), written to {runs / 'comparison.csv'}:"
    )
    print(table.to_string(float_format="{:.3f}".format))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `fallkd` command."""
    parser = argparse.ArgumentParser(prog="fallkd", description="fallkd: fall detection for the edge")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="render the synthetic fall dataset (Roboflow YOLO layout)")
    p.add_argument("out", type=Path)
    p.add_argument("--images", type=int, default=300, help="images per style")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--style", default="all", help="park, cctv or all (one sub-folder per style)")
    p.add_argument("--size", type=int, default=640)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("merge", help="merge YOLO datasets into one fall/normal dataset")
    p.add_argument("sources", nargs="+", help="dataset folders, optionally NAME=PATH")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--map", action="append", default=[], metavar="NAME=TARGET", help="fall, normal or drop")
    p.add_argument("--split", type=_parse_fractions, default=(0.7, 0.15, 0.15))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--near-dup", type=int, default=4, help="perceptual-hash distance counted as the same photo"
    )
    p.add_argument("--group-pattern", default=None, help="regex on file names whose first group joins images")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("crops", help="cut letterboxed person crops (ImageFolder layout)")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--pad", type=float, default=0.1)
    p.set_defaults(func=cmd_crops)

    p = sub.add_parser("stats", help="class balance and data plots of a YOLO dataset")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, default=None, help="folder for the PNG plots")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("import", help="import a local Roboflow YOLO export (folder or zip)")
    p.add_argument("source", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("download", help="download a Roboflow preset (needs internet and ROBOFLOW_API_KEY)")
    p.add_argument("preset")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=cmd_download)

    def training_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("crops", type=Path, help="person crops (ImageFolder: train|val|test/{fall,normal})")
        p.add_argument("--profile", default="quick", choices=["quick", "full"])
        p.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE", help="override a TrainConfig field"
        )
        p.add_argument(
            "--other", type=Path, default=None, help="crops of another origin, scored after training"
        )

    p = sub.add_parser("train-cls", help="train a classifier (resnet18, efficientnet_b0) or a ViT teacher")
    training_options(p)
    p.add_argument("--model", default=None, help="resnet18, efficientnet_b0, vit_b_16, vit_tiny")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--weights", type=Path, default=None, help="a local pretrained weights file")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/cls/MODEL)")
    p.set_defaults(func=cmd_train_cls)

    p = sub.add_parser("cache-teacher", help="cache a trained teacher's logits (indexed by sample id)")
    training_options(p)
    p.add_argument("--teacher", type=Path, required=True, help="the teacher's run folder (holds best.pt)")
    p.set_defaults(func=cmd_cache_teacher)

    p = sub.add_parser("distill", help="distil a trained teacher into the student")
    training_options(p)
    p.add_argument("--teacher", type=Path, required=True, help="the teacher's run folder (holds best.pt)")
    p.add_argument("--mode", default="cached", choices=["cached", "online"])
    p.add_argument("--model", default=None, help="the student (default efficientnet_b0)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/kd/MODEL_MODE)")
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("compare", help="teacher, baselines and distilled students in one table")
    training_options(p)
    p.add_argument("--out", type=Path, default=Path("runs") / "compare")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "train-det", help="train the YOLOv5s detector (person or fall/normal) on a merged dataset"
    )
    p.add_argument("merged", type=Path, help="a dataset made by `fallkd merge`")
    p.add_argument("--mode", default="person", choices=["person", "fall_normal"])
    p.add_argument("--profile", default="quick", choices=["quick", "full"])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--out", type=Path, default=Path("runs") / "detector")
    p.set_defaults(func=cmd_train_det)

    p = sub.add_parser("clips", help="render short synthetic clips with ground truth, for event-level tests")
    p.add_argument("out", type=Path)
    p.add_argument("--per-scenario", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_clips)

    add_edge_commands(sub)

    p = sub.add_parser("env", help="show host, accelerator, network and package versions")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("demo", help="run the course end to end on the embedded synthetic data")
    p.add_argument("--profile", default="quick", choices=["quick", "full"])
    p.add_argument("--out", type=Path, default=None, help="default: <data dir>/demo")
    p.add_argument("--runs", type=Path, default=None, help="training runs (default: <runs dir>/demo/PROFILE)")
    p.add_argument("--data-only", action="store_true", help="stop after the data stage")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `fallkd` console script: fallkd's own errors print one line, bugs keep their traceback."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except FallkdError as exc:
        print(f"fallkd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
