"""The quick profile end to end, stage by stage: where its minutes go, and whether it still meets its targets.

    .venv/bin/python benchmarks/bench_quick.py [--out DIR] [--workdir DIR] [--jobs N]

Runs what `fallkd demo` runs, in a fresh folder (or --workdir, reused: finished stages are then only re-read),
and prints two tables: seconds per stage against the course's budget (the whole course, every notebook, within
600 s on 2 CPU cores), and each target of issue 9 with its measured value: every classifier's test accuracy
>= 0.85 and fall recall >= 0.80, the teacher at least as good as the best student, the shipped detector's
synthetic valid mAP50 >= 0.7, and on the clip set every long lie alerted with 0 false alerts. A regression in
learning or in speed shows up as a number. --out writes both tables as CSV. --jobs 2 (the default, as in
`fallkd demo`) trains the runs two at a time and times them as one stage; --jobs 1 trains them one after the
other and times each run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fallkd_lib.cli_train import DEFAULT_JOBS  # noqa: E402
from fallkd_lib.config import train_config  # noqa: E402
from fallkd_lib.data.stage import run_data_stage  # noqa: E402
from fallkd_lib.runtime.clip_check import quick_camera_on_clips  # noqa: E402
from fallkd_lib.runtime.loaders import shipped_detector_card  # noqa: E402
from fallkd_lib.train.compare import RUNS, run_comparison  # noqa: E402

COURSE_BUDGET_S = 600.0
ACCURACY, RECALL, MAP50 = 0.85, 0.80, 0.7


def run_stages(work: Path, jobs: int = DEFAULT_JOBS) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Time every stage of the quick profile in work/; return the comparison table, stage times and clip scores."""
    times = {}
    started = time.perf_counter()
    data = run_data_stage("quick", work / "data", progress=False)
    times["data: render, merge, crops, plots"] = time.perf_counter() - started
    cfg, runs = train_config("quick"), work / "runs"
    if jobs > 1:
        t = time.perf_counter()
        run_comparison(data["crops_dir"], runs, cfg, progress=False, jobs=jobs)
        times[f"train all {len(RUNS)} runs, {jobs} at a time"] = time.perf_counter() - t
    else:
        for run in RUNS:  # one at a time: each gets its own time (the teacher's with its cache)
            t = time.perf_counter()
            run_comparison(data["crops_dir"], runs, cfg, include=(run,), progress=False)
            times[f"train {run}"] = time.perf_counter() - t
    table = run_comparison(data["crops_dir"], runs, cfg, progress=False)  # every run finished: re-read only
    t = time.perf_counter()
    clips = quick_camera_on_clips(runs, work / "data" / "clips", progress=False)
    times["clips: render + pipeline"] = time.perf_counter() - t
    stages = pd.DataFrame({"seconds": times})
    stages.loc["total (the demo)"] = stages["seconds"].sum()
    stages["share of the 600 s course budget"] = stages["seconds"] / COURSE_BUDGET_S
    return table, stages, clips


def targets(table: pd.DataFrame, clips: dict) -> pd.DataFrame:
    """Each target with its measured value and whether it is met."""
    rows = []
    for model, row in table.iterrows():
        rows.append(
            (f"{model}: test accuracy", row["accuracy"], f">= {ACCURACY}", row["accuracy"] >= ACCURACY)
        )
        rows.append(
            (f"{model}: fall recall", row["fall recall"], f">= {RECALL}", row["fall recall"] >= RECALL)
        )
    teacher = table[table.index.str.startswith("teacher")]["accuracy"]
    students = table[~table.index.str.startswith("teacher")]["accuracy"]
    if len(teacher):
        gap = float(teacher.iloc[0] - students.max())
        rows.append(("teacher accuracy - best student's", gap, ">= 0", gap >= 0))
    card = shipped_detector_card()
    m = card["metrics"]["valid"]["mAP50"]
    rows.append(("shipped detector: synthetic valid mAP50 (model card)", m, f">= {MAP50}", m >= MAP50))
    rows.append(("clips: long-lie recall", clips["recall"], "= 1", clips["recall"] == 1.0))
    rows.append(("clips: false alerts", clips["false_alerts"], "= 0", clips["false_alerts"] == 0))
    rows.append(("clips: mean alert delay (s)", clips["delay_mean"], "(reported)", True))
    return pd.DataFrame(rows, columns=["target", "value", "goal", "met"]).set_index("target")


def main() -> int:
    """Run the quick profile and print stage times and targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=None, help="reuse this folder (default: a fresh temp one)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write stages.csv and targets.csv here")
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="trainings at a time (as fallkd demo)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        table, stages, clips = run_stages(work, args.jobs)
        checks = targets(table, clips)
    print("quick profile, seconds per stage (this machine):")
    print(stages.to_string(float_format="{:.2f}".format))
    print("\ntargets:")
    print(checks.to_string(float_format="{:.3f}".format))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stages.to_csv(args.out / "stages.csv")
        checks.to_csv(args.out / "targets.csv")
    print(f"\n{int(checks['met'].sum())}/{len(checks)} targets met")
    return 0 if checks["met"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
