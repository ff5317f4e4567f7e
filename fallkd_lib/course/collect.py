"""`fallkd collect`: many students' course runs in one table, with what an instructor should look at flagged.

Each path given is one student (named after the folder, or after the folder holding a given .ipynb file):
a run folder of `fallkd course` (run.json, results/*.json, executed notebooks), a folder holding such run
folders (the latest is read), a folder of bare results cards, or exported .ipynb files (their cards are read
from the outputs, mimetype CARD_MIMETYPE). One row per student and notebook of the course, with flags:
`quick profile`, `card != notebook` (the card file differs from the card the executed notebook showed),
`failed ...`, `missing`; a folder that cannot be read is a row with the reason, never a crash.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd

from fallkd_lib.course.cards import CARD_MIMETYPE, check_card, flatten, read_card
from fallkd_lib.course.runner import NOTEBOOK_NAME, RUN_NAME
from fallkd_lib.errors import FallkdError, UsageError
from fallkd_lib.io import write_text_atomic

# the course's notebooks, from notebooks/ (tests/test_course_collect.py checks they agree)
COURSE_NOTEBOOKS = (
    "00_setup",
    "01_data",
    "02_detector",
    "03_classifier_baselines",
    "04_teacher_and_distillation",
    "05_pipeline",
    "06_export_tx2",
)
COLUMNS = ["student", "notebook", "status", "profile", "flags"]


def expected_notebooks(notebooks_dir: str | Path | None = None) -> list[str]:
    """The notebook names every student should hand in: NN_*.ipynb of notebooks_dir, or COURSE_NOTEBOOKS."""
    if notebooks_dir is None:
        return list(COURSE_NOTEBOOKS)
    names = sorted(p.stem for p in Path(notebooks_dir).glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))
    if not names:
        raise UsageError(
            f"no NN_name.ipynb notebooks in {notebooks_dir}: give the course's notebooks/ folder"
        )
    return names


def same_metrics(a: dict, b: dict, rel: float = 1e-6, tol: float = 1e-9) -> bool:
    """True when two cards' metrics have the same names and values (numbers within rel/tol)."""
    a, b = flatten(a), flatten(b)
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))
        if numbers:
            same = math.isclose(x, y, rel_tol=rel, abs_tol=tol)  # type: ignore[arg-type]
        else:
            same = type(x) is type(y) and x == y  # True is not 1.0 here
        if not same:
            return False
    return True


def read_notebook(path: Path) -> dict:
    """What an executed notebook shows: {"card": the last card in its outputs or None, "error": text or None}."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a readable notebook ({exc})") from exc
    card, error = None, None
    for cell in cells:
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            data = output.get("data", {})
            if CARD_MIMETYPE in data:
                value = data[CARD_MIMETYPE]
                card = check_card(json.loads(value) if isinstance(value, str) else value, f"{path} (output)")
            if output.get("output_type") == "error" and error is None:
                error = f"{output.get('ename')}: {output.get('evalue')}"
    return {"card": card, "error": error}


def _latest_run(folder: Path) -> Path | None:
    if (folder / "run.json").is_file():
        return folder
    runs = [p.parent for pattern in ("*/run.json", "runs/*/run.json") for p in folder.glob(pattern)]
    runs = [p for p in runs if RUN_NAME.match(p.name)]
    return max(runs, key=lambda p: p.name) if runs else None


def read_submission(paths: list[Path]) -> dict:
    """One student's run, cards and notebooks: {"kind", "statuses", "cards", "notebooks", "problems"}."""
    sub: dict = {"kind": "files", "statuses": {}, "cards": {}, "notebooks": {}, "problems": {}}
    card_files: list[Path] = []
    notebook_files: list[Path] = []
    for path in paths:
        if path.is_file():
            (notebook_files if path.suffix == ".ipynb" else card_files).append(path)
            continue
        run = _latest_run(path)
        if run is not None:
            sub["kind"] = "run"
            try:
                record = json.loads((run / "run.json").read_text(encoding="utf-8"))
                sub["statuses"] = dict(record["notebooks"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise UsageError(f"{run / 'run.json'}: unreadable ({exc})") from exc
            path = run
        card_files += sorted((path / "results").glob("*.json")) or sorted(path.glob("*.json"))
        notebook_files += sorted(p for p in path.glob("*.ipynb"))
    card_files = [p for p in card_files if p.name != "run.json"]
    if not card_files and not notebook_files:
        raise UsageError(f"{', '.join(map(str, paths))}: no run.json, results cards or .ipynb files")
    for path in card_files:
        try:
            card = read_card(path)
            sub["cards"][card["notebook"]] = card
        except FallkdError as exc:
            sub["problems"][path.stem] = f"unreadable card: {exc}"
    for path in notebook_files:
        try:
            shown = read_notebook(path)
        except FallkdError as exc:
            sub["problems"][path.stem] = str(exc)
            continue
        sub["notebooks"][shown["card"]["notebook"] if shown["card"] else path.stem] = shown
    return sub


def _failure(entry: dict, shown: dict | None) -> str | None:
    """'failed at cell N: ename: evalue' from run.json, else the notebook's error output; None if it did not fail."""
    if entry.get("status") == "failed":
        e = entry.get("error", {})
        return f"failed at cell {e.get('cell')}: {e.get('ename')}: {e.get('evalue')}"
    if entry.get("status") != "ok" and shown and shown["error"]:
        return f"failed: {shown['error']}"
    return None


def notebook_row(student: str, name: str, sub: dict) -> dict:
    """One student's row for one notebook: status, profile, flags and the card's flattened metrics."""
    entry = sub["statuses"].get(name, {})
    card, shown = sub["cards"].get(name), sub["notebooks"].get(name)
    shown_card = shown["card"] if shown else None
    flags: list[str] = []
    failure = _failure(entry, shown)
    if failure:
        status = "failed"
        flags.append(failure)
    elif card or shown_card:
        status = "ok"
    elif shown:
        status = "no card"
    else:  # neither the executed notebook nor its card is in the folder, whatever run.json says
        status = "missing"
        flags.append("missing (run.json says it ran)" if entry.get("status") == "ok" else "missing")
    if name in sub["problems"]:
        flags.append(sub["problems"][name])
    used = card or shown_card
    if used and used["profile"] == "quick":
        flags.append("quick profile")
    if (
        card
        and shown
        and (
            shown_card is None
            or card["profile"] != shown_card["profile"]
            or not same_metrics(card["metrics"], shown_card["metrics"])
        )
    ):
        flags.append("card != notebook")
    if sub["kind"] == "run" and shown_card and not card:
        flags.append("no card file")
    row = {
        "student": student,
        "notebook": name,
        "status": status,
        "profile": used["profile"] if used else "",
    }
    row["flags"] = "; ".join(flags)
    for key, value in flatten(used["metrics"] if used else {}).items():
        row[f"metrics.{key}" if key in COLUMNS else key] = value
    return row


def _student_names(paths: list[Path]) -> dict[str, list[Path]]:
    """Paths grouped by student: a folder's name, or the name of the folder holding a file; repeats get the parent."""
    groups: dict[str, list[Path]] = {}
    owners: dict[str, Path] = {}
    for path in paths:
        folder = path.parent if path.is_file() else path
        name = folder.resolve().name
        if name in owners and owners[name] != folder.resolve():
            name = f"{folder.resolve().parent.name}/{name}"
        owners.setdefault(name, folder.resolve())
        groups.setdefault(name, []).append(path)
    return groups


def collect_results(paths: list[str | Path], notebooks: list[str] | None = None) -> pd.DataFrame:
    """One row per student and notebook (status, profile, flags, metrics); unreadable folders are rows too."""
    expected = list(notebooks or COURSE_NOTEBOOKS)
    rows: list[dict] = []
    for student, group in _student_names([Path(p) for p in paths]).items():
        missing = [str(p) for p in group if not p.exists()]
        try:
            if missing:
                raise UsageError(f"{', '.join(missing)} not found")
            sub = read_submission(group)
        except FallkdError as exc:
            rows.append(
                {
                    "student": student,
                    "notebook": "",
                    "status": "unreadable",
                    "profile": "",
                    "flags": str(exc),
                }
            )
            continue
        found = set(sub["cards"]) | set(sub["notebooks"]) | set(sub["statuses"]) | set(sub["problems"])
        names = expected + sorted(found - set(expected))
        rows += [notebook_row(student, name, sub) for name in names]
    frame = pd.DataFrame(rows, dtype=object)  # whole numbers stay whole beside missing values
    return (
        frame[COLUMNS + [c for c in frame.columns if c not in COLUMNS]]
        if rows
        else pd.DataFrame(columns=COLUMNS)
    )


def _flag_kind(flag: str) -> str:
    for kind in ("failed", "unreadable card"):
        if flag.startswith(kind):
            return kind
    return flag


def summary_line(table: pd.DataFrame) -> str:
    """'3 students; notebooks: 18 ok, 1 failed, 2 missing; flags: 21 quick profile, 1 card != notebook'."""
    statuses = Counter(table["status"])
    flags = Counter(
        _flag_kind(flag)
        for text in table.loc[
            table["status"] != "unreadable", "flags"
        ]  # there it is the reason, counted above
        for flag in filter(None, str(text).split("; "))
        if flag != "missing"
    )
    counts = ", ".join(
        f"{statuses[s]} {s}" for s in ("ok", "failed", "missing", "no card", "unreadable") if statuses[s]
    )
    flagged = ", ".join(f"{n} {flag}" for flag, n in sorted(flags.items())) or "none"
    return f"{table['student'].nunique()} students; notebooks: {counts or 'none'}; flags: {flagged}"


def write_collection(table: pd.DataFrame, out: str | Path) -> tuple[Path, Path]:
    """Write OUT/collected.csv and OUT/collected.html (the summary, then one table per notebook)."""
    out = Path(out)
    csv = write_text_atomic(out / "collected.csv", table.to_csv(index=False))
    parts = [f"<h1>fallkd collect</h1>\n<p>{html.escape(summary_line(table))}</p>"]
    for notebook, rows in table.groupby("notebook", sort=False):
        rows = rows.dropna(axis=1, how="all")
        parts.append(f"<h2>{html.escape(str(notebook) or 'unreadable')}</h2>")
        parts.append(rows.to_html(index=False, na_rep="", float_format="{:.4g}".format))
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    page = f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><style>{style}</style></head><body>\n"
    page += "\n".join(parts) + "\n</body></html>\n"
    return csv, write_text_atomic(out / "collected.html", page)


def collect(paths: list[str | Path], out: str | Path, notebooks: list[str] | None = None) -> pd.DataFrame:
    """collect_results, written as collected.csv and collected.html under out, with the summary printed."""
    table = collect_results(paths, notebooks)
    csv, page = write_collection(table, out)
    print(summary_line(table))
    print(f"written: {csv}, {page}")
    return table
