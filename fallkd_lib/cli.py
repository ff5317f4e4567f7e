"""`fallkd <command>`: a thin command line over the library's functions.

The commands live beside this file by stage (cli_data, cli_train, cli_edge, cli_course); every command with a config takes
`--profile quick|full` and `--set KEY=VALUE` (fallkd_lib.config), and writes where `--out` says.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fallkd_lib.cli_course import add_course_commands
from fallkd_lib.cli_data import add_data_commands
from fallkd_lib.cli_edge import add_edge_commands
from fallkd_lib.cli_real import add_real_commands
from fallkd_lib.cli_train import add_train_commands, jobs_option
from fallkd_lib.errors import FallkdError


def cmd_env(args: argparse.Namespace) -> None:
    """Show host, accelerator, network and package versions."""
    from fallkd_lib.envcheck import environment_report

    print(json.dumps(environment_report(), indent=2))


def cmd_demo(args: argparse.Namespace) -> None:
    """Run the course's main job end to end on the embedded synthetic data."""
    from fallkd_lib.data.stage import run_data_stage

    started = time.perf_counter()
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
    table = run_comparison(result["crops_dir"], runs, train_config(args.profile), jobs=args.jobs)
    print(
        f"\nclassifiers and distillation ({table.attrs['seconds']} s), written to {runs / 'comparison.csv'}:"
    )
    print(table.to_string(float_format="{:.3f}".format))
    if args.profile == "quick":
        _demo_pipeline(result, runs)
    else:
        print(
            "\nthe full profile's pipeline needs your trained detector: `fallkd detect VIDEO --detector ...`"
        )
    print(f"\ndemo wall time: {time.perf_counter() - started:.0f} s")


def _demo_pipeline(result: dict, runs: Path) -> None:
    """The quick demo's last stage: the shipped person detector and the distilled student on the clip set."""
    from fallkd_lib.runtime.clip_check import QUICK_CLASSIFIER_RUN, clip_verdict, quick_camera_on_clips
    from fallkd_lib.runtime.events import event_scores_table
    from fallkd_lib.runtime.loaders import shipped_detector, shipped_detector_card

    card = shipped_detector_card()
    print(
        f"\nperson detector: shipped {card['training']['model'].removesuffix('.yaml')} at {card['input_size']} px, "
        f"synthetic valid mAP50 {card['metrics']['valid']['mAP50']:.3f} ({shipped_detector()})"
    )
    summary = quick_camera_on_clips(runs, Path(result["merged"]).parent / "clips")
    print(
        f"pipeline on clips (detector -> crops -> {QUICK_CLASSIFIER_RUN} -> tracker -> alerts, "
        f"{summary['timing']['frames']} frames, {summary['timing']['seconds']} s): {clip_verdict(summary)}"
    )
    print(event_scores_table(summary).to_string(float_format="{:.2f}".format))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `fallkd` command."""
    parser = argparse.ArgumentParser(prog="fallkd", description="fallkd: fall detection for the edge")
    sub = parser.add_subparsers(dest="command", required=True)
    add_data_commands(sub)
    add_train_commands(sub)
    add_edge_commands(sub)
    add_real_commands(sub)
    add_course_commands(sub)

    p = sub.add_parser("env", help="show host, accelerator, network and package versions")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("demo", help="run the course end to end on the embedded synthetic data")
    p.add_argument("--profile", default="quick", choices=["quick", "full"])
    p.add_argument("--out", type=Path, default=None, help="data folder (default: <data dir>/demo)")
    p.add_argument("--runs", type=Path, default=None, help="training runs (default: <runs dir>/demo/PROFILE)")
    p.add_argument("--data-only", action="store_true", help="stop after the data stage")
    jobs_option(p)
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
