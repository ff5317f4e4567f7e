"""A run's summary: one row per notebook (status, seconds, the key metrics of its results card) as CSV and Markdown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fallkd_lib.course.cards import flatten, read_card
from fallkd_lib.errors import FallkdError
from fallkd_lib.io import write_text_atomic


def format_value(value: object) -> str:
    """A metric as short text: floats with 3 significant digits, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def metrics_text(metrics: dict) -> str:
    """A card's metrics on one line: 'name value; name value' (nested names joined with '.')."""
    return "; ".join(f"{key} {format_value(value)}" for key, value in flatten(metrics).items())


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (its index left out)."""

    def cell(value: object) -> str:
        return (
            ""
            if value is None or (isinstance(value, float) and pd.isna(value))
            else str(value).replace("|", "\\|")
        )

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def summary_table(folder: str | Path, record: dict) -> pd.DataFrame:
    """notebook, status, seconds, profile and metrics of each notebook of run.json's record."""
    rows = []
    for name, entry in record["notebooks"].items():
        row = {"notebook": name, "status": entry["status"], "seconds": entry.get("seconds"), "profile": None}
        path = Path(folder) / "results" / f"{name}.json"
        try:
            card = read_card(path)
            row.update(profile=card["profile"], metrics=metrics_text(card["metrics"]))
        except FallkdError as exc:
            row["metrics"] = "no results card" if not path.exists() else f"unreadable card ({exc})"
        rows.append(row)
    return pd.DataFrame(rows, columns=["notebook", "status", "seconds", "profile", "metrics"])


def write_summary(folder: str | Path, record: dict) -> str:
    """Write summary.csv and summary.md in the run folder; returns the Markdown table."""
    table = summary_table(folder, record)
    write_text_atomic(Path(folder) / "summary.csv", table.to_csv(index=False))
    text = markdown_table(table)
    header = f"# fallkd course, {record['profile']} profile: {record['status']}\n\n"
    write_text_atomic(Path(folder) / "summary.md", header + text)
    return text
