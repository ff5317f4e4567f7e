"""`fallkd course`: every notebook of the course, in order, executed into runs/<timestamp>/.

A run folder holds, per notebook, the executed `NN_name.ipynb` and `NN_name.html`; `results/` with the results
cards the notebooks write (FALLKD_RESULTS points there); `run.json` (profile, times, each notebook's status and
seconds, the fallkd commit), rewritten after every notebook; and, at the end, `summary.csv` / `summary.md`.

A failed notebook stops the run (FallkdError naming the notebook, cell and error). `resume=True` goes on in the
latest run folder of the same profile if it is unfinished, skipping the notebooks that already succeeded (and
whose source has not changed since); without an unfinished run it starts a new one. The trained models are
reused either way: the notebooks train under FALLKD_RUNS (runs/course/<profile>/), which the runner leaves as is,
and the recipes resume from there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

from tqdm.auto import tqdm

import fallkd_lib
from fallkd_lib.course.cards import RESULTS_ENV
from fallkd_lib.course.execute import execute_notebook
from fallkd_lib.course.provenance import git_commit
from fallkd_lib.course.summary import write_summary
from fallkd_lib.errors import FallkdError, MissingFileError
from fallkd_lib.io import write_json_atomic
from fallkd_lib.settings import HEADLESS_ENV

NOTEBOOK_NAME = re.compile(r"^\d\d_.+\.ipynb$")
RUN_NAME = re.compile(r"^\d{8}-\d{6}(-\d+)?$")
QUICK_CELL_TIMEOUT = 900  # seconds: a quick-profile cell runs minutes at most; longer is a stuck kernel


def course_notebooks(notebooks_dir: str | Path) -> list[Path]:
    """The course's notebooks in order: NN_*.ipynb in notebooks_dir, sorted by name."""
    folder = Path(notebooks_dir)
    found = (
        sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_NAME.match(p.name)) if folder.is_dir() else []
    )
    if not found:
        raise MissingFileError(f"no NN_name.ipynb notebooks in {folder}: give the course's notebooks/ folder")
    return found


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def new_run_folder(out: str | Path) -> Path:
    """A new, empty out/<YYYYmmdd-HHMMSS> (local time; -2, -3... when two runs start in the same second)."""
    out = Path(out)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder, n = out / stamp, 1
    while folder.exists():
        n += 1
        folder = out / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    return folder


def unfinished_run(out: str | Path, profile: str) -> Path | None:
    """The latest run folder under out for this profile, if it did not finish; else None."""
    runs = sorted(
        (p for p in Path(out).glob("*/run.json") if RUN_NAME.match(p.parent.name)),
        key=lambda p: p.parent.name,
    )
    for path in reversed(runs):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a broken run.json is not one to resume
        if record.get("profile") == profile:
            return path.parent if record.get("status") != "finished" else None
    return None


def run_course(
    notebooks_dir: str | Path,
    out: str | Path,
    profile: str = "quick",
    resume: bool = False,
    *,
    cell_timeout: int | None = None,
    kernel: str = "python3",
    progress: bool = True,
) -> dict:
    """Execute the course's notebooks into a run folder under out; returns run.json's record (with "folder")."""
    notebooks = course_notebooks(notebooks_dir)
    if cell_timeout is None:
        cell_timeout = QUICK_CELL_TIMEOUT if profile == "quick" else None
    folder = unfinished_run(out, profile) if resume else None
    record: dict = {}
    if folder is not None:
        record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        tqdm.write(f"resuming {folder}")
    else:
        folder = new_run_folder(out)
        if resume:
            tqdm.write(f"no unfinished {profile} run under {out}: starting {folder}")
    done = record.get("notebooks", {})
    record = {
        "schema": 1,
        "profile": profile,
        "notebooks_dir": str(Path(notebooks_dir).resolve()),
        "started": record.get("started", _now()),
        "finished": None,
        "status": "running",
        "fallkd": {"version": fallkd_lib.__version__, **git_commit()},
        "notebooks": {nb.stem: {"status": "pending", "seconds": None} for nb in notebooks},
    }
    env = {RESULTS_ENV: str(folder / "results"), HEADLESS_ENV: "1"}  # no live widgets: they can hang nbclient
    (folder / "results").mkdir(exist_ok=True)
    write_json_atomic(folder / "run.json", record)
    failure = None
    bar = tqdm(notebooks, desc=f"course ({profile})", unit="notebook", disable=not progress)
    try:
        for source in bar:
            name, digest = source.stem, _digest(source)
            previous = done.get(name, {})
            if previous.get("status") == "ok" and previous.get("source") == digest:
                record["notebooks"][name] = previous
                tqdm.write(f"{name}: done before ({previous['seconds']} s), skipped")
                continue
            bar.set_postfix_str(name)
            result = execute_notebook(
                source, folder / source.name, profile, env, cell_timeout, kernel, progress
            )
            entry = {"status": result.status, "seconds": result.seconds, "source": digest}
            record["notebooks"][name] = {**entry, **({"error": result.error} if result.error else {})}
            tqdm.write(f"{name}: {result.status} in {result.seconds} s")
            write_json_atomic(folder / "run.json", record)
            if result.status != "ok":
                failure = result.message(folder / source.name)
                break
    except KeyboardInterrupt:
        record["status"] = "interrupted"
        write_json_atomic(folder / "run.json", record)
        raise
    finally:
        bar.close()
    record["status"] = "failed" if failure else "finished"
    record["finished"] = _now()
    write_json_atomic(folder / "run.json", record)
    table = write_summary(folder, record)
    print(f"\n{folder}\n{table}")
    if failure:
        raise FallkdError(failure)
    return {**record, "folder": str(folder)}
