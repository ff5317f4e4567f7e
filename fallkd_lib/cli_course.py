"""The course commands of `fallkd`: course (execute every notebook into runs/<timestamp>/) and collect."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_course(args: argparse.Namespace) -> None:
    """Execute every notebook of the course into a run folder, with HTML copies and a summary."""
    from fallkd_lib.course.runner import run_course
    from fallkd_lib.settings import configure_offline, get_settings

    settings = get_settings()
    if args.profile == "quick":
        configure_offline()  # the kernels inherit the switches, as `make demo` sets them
    record = run_course(
        args.notebooks or settings.root / "notebooks",
        args.out or settings.runs_dir,
        args.profile,
        args.resume,
        cell_timeout=args.cell_timeout,
    )
    seconds = sum(entry["seconds"] or 0 for entry in record["notebooks"].values())
    print(f"course finished ({args.profile} profile, {seconds:.0f} s of notebooks): {record['folder']}")


def cmd_collect(args: argparse.Namespace) -> None:
    """Gather students' run folders, card folders or notebooks into collected.csv and collected.html."""
    from fallkd_lib.course.collect import collect, expected_notebooks

    collect(args.paths, args.out, expected_notebooks(args.notebooks))


def add_course_commands(sub: argparse._SubParsersAction) -> None:
    """Register `course` and `collect`."""
    p = sub.add_parser("course", help="execute every notebook into runs/<timestamp>/ (ipynb, html, summary)")
    p.add_argument("--profile", default="quick", choices=["quick", "full"])
    p.add_argument("--out", type=Path, default=None, help="where run folders go (default: the runs dir)")
    p.add_argument("--notebooks", type=Path, default=None, help="the notebooks folder (default: notebooks/)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="go on in the latest unfinished run of this profile, skipping the notebooks that succeeded",
    )
    p.add_argument(
        "--cell-timeout",
        type=int,
        default=None,
        help="seconds one cell may run (default: 900 in the quick profile, where a cell that long is stuck; "
        "no limit in the full profile, whose training cells run for hours)",
    )
    p.set_defaults(func=cmd_course)

    p = sub.add_parser("collect", help="gather students' runs into one table with flags (csv and html)")
    p.add_argument(
        "paths", nargs="+", type=Path, help="one per student: run folder, card folder or .ipynb files"
    )
    p.add_argument("--out", type=Path, required=True, help="folder for collected.csv and collected.html")
    p.add_argument(
        "--notebooks",
        type=Path,
        default=None,
        help="the course's notebooks folder, for the list every student should hand in (default: the course's)",
    )
    p.set_defaults(func=cmd_collect)
