"""The data commands of `fallkd`: synth, clips, merge, crops, stats, import, download."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fallkd_lib.config import DataConfig, cli_config
from fallkd_lib.errors import UsageError


def config_options(p: argparse.ArgumentParser, name: str) -> None:
    """--profile and --set KEY=VALUE (a field of the command's config), the same on every command."""
    p.add_argument("--profile", default="quick", choices=["quick", "full"], help="defaults of every setting")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a {name} field (repeatable)",
    )


def _data_cfg(args: argparse.Namespace, **shortcuts: object) -> DataConfig:
    return cli_config(DataConfig, args.profile, args.set, **shortcuts)  # type: ignore[return-value]


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


def cmd_synth(args: argparse.Namespace) -> None:
    """Render the embedded synthetic dataset."""
    from fallkd_lib.data.synthetic import ALL_STYLES, check_style, generate_dataset

    cfg = _data_cfg(
        args, synth_images=args.images, synth_size=args.imgsz, seed=args.seed, synth_world=args.world
    )
    styles = ALL_STYLES if args.style == "all" else (check_style(args.style),)
    for style in styles:
        out = args.out / style if args.style == "all" else args.out
        summary = generate_dataset(
            out,
            cfg.synth_images,
            seed=cfg.seed,
            style=style,
            size=cfg.synth_size,
            split=cfg.split,
            world=cfg.synth_world,
        )
        print(f"{style}: {out} {json.dumps(summary)}")


def cmd_clips(args: argparse.Namespace) -> None:
    """Render short synthetic clips with ground truth (walk, fall and stay, fall and recover, sit, crowd)."""
    from fallkd_lib.data.synthetic import generate_clip_set

    given = dict(
        per_scenario=args.per_scenario, seconds=args.seconds, fps=args.fps, size=args.imgsz, seed=args.seed
    )
    for clip in generate_clip_set(args.out, **{k: v for k, v in given.items() if v is not None}):
        print(f"{clip.scenario:<13} {clip.video} ({clip.n_frames} frames)")


def cmd_merge(args: argparse.Namespace) -> None:
    """Merge YOLO datasets into one fall/normal dataset."""
    from fallkd_lib.data.merge import merge_datasets

    cfg = _data_cfg(args, split=args.split, seed=args.seed, near_duplicate_distance=args.near_dup)
    report = merge_datasets(
        [_parse_source(s) for s in args.sources],
        args.out,
        class_map=_parse_map(args.map),
        split=cfg.split,
        seed=cfg.seed,
        near_duplicate_distance=cfg.near_duplicate_distance,
        group_pattern=args.group_pattern,
    )
    print(report.summary())


def cmd_crops(args: argparse.Namespace) -> None:
    """Cut person crops into ImageFolder layout."""
    from fallkd_lib.data.crops import extract_crops

    cfg = _data_cfg(args, crop_size=args.size, crop_pad=args.pad)
    print(extract_crops(args.dataset, args.out, cfg.crop_spec()).summary())


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


def add_data_commands(sub: argparse._SubParsersAction) -> None:
    """Add the data commands to the fallkd parser."""
    p = sub.add_parser("synth", help="render the synthetic fall dataset (Roboflow YOLO layout)")
    p.add_argument(
        "--out", type=Path, required=True, help="output folder (one sub-folder per style with 'all')"
    )
    p.add_argument("--images", type=int, default=None, help="images per style (DataConfig.synth_images)")
    p.add_argument("--imgsz", type=int, default=None, help="image side in pixels (DataConfig.synth_size)")
    p.add_argument("--world", default=None, choices=["full", "clear"], help="DataConfig.synth_world")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--style",
        default="all",
        help="park, cctv (the course's two), room (indoor: beds, chairs) or all three",
    )
    config_options(p, "DataConfig")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("clips", help="render short synthetic clips with ground truth, for event-level tests")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-scenario", type=int, default=None, help="clips per scenario (default 2)")
    p.add_argument("--seconds", type=float, default=None, help="clip length (default 20)")
    p.add_argument("--fps", type=float, default=None, help="frames per second (default 10)")
    p.add_argument("--imgsz", type=int, default=None, help="frame side in pixels (default 320)")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_clips)

    p = sub.add_parser("merge", help="merge YOLO datasets into one fall/normal dataset")
    p.add_argument("sources", nargs="+", help="dataset folders, optionally NAME=PATH")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--map", action="append", default=[], metavar="NAME=TARGET", help="fall, normal or drop")
    p.add_argument("--split", type=_parse_fractions, default=None, help="train,valid,test fractions")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--near-dup", type=int, default=None, help="perceptual-hash bits counted as the same photo"
    )
    p.add_argument("--group-pattern", default=None, help="regex on file names whose first group joins images")
    config_options(p, "DataConfig")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("crops", help="cut letterboxed person crops (ImageFolder layout)")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", type=int, default=None, help="crop side in pixels (DataConfig.crop_size)")
    p.add_argument("--pad", type=float, default=None, help="context per side, a fraction of the box")
    config_options(p, "DataConfig")
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
