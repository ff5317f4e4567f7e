"""Rewrite every notebook's badge cell and hosted-setup cell from pyproject.toml's repository URL; print the README table.

    python scripts/badges.py            # rewrite notebooks/NN_name.py and sync their .ipynb pairs, print the table
    python scripts/badges.py --check    # change nothing; exit 1 when a notebook's cells are out of date

A fork changes `[project.urls] Repository` in pyproject.toml and runs this script. The badge cell is the first
cell (Open in Colab, Open in Kaggle, Launch Binder); the setup cell (`links.SETUP_CELL`) follows the title cell and
is the first code cell.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
from jupytext.cli import jupytext as jupytext_cli
from nbformat.v4 import new_code_cell, new_markdown_cell

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fallkd_lib.course.links import (  # noqa: E402 (the checkout's fallkd_lib, not an installed one)
    COLAB_BADGE,
    SETUP_CELL,
    badges_markdown,
    binder_url,
    colab_url,
    kaggle_url,
    setup_cell_source,
)

SETUP_FIRST_LINE = SETUP_CELL.splitlines()[0]


def is_badge_cell(cell) -> bool:
    """The markdown cell of launch badges."""
    return cell.cell_type == "markdown" and COLAB_BADGE in cell.source


def is_setup_cell(cell) -> bool:
    """The hosted-setup code cell (it starts with SETUP_CELL's first line)."""
    return cell.cell_type == "code" and cell.source.startswith(SETUP_FIRST_LINE)


def update_notebook(notebook, stem: str) -> bool:
    """Put the badge cell first and the setup cell right after the title cell; True when anything changed."""
    before = [(c.cell_type, c.source) for c in notebook.cells]
    cells = [c for c in notebook.cells if not is_badge_cell(c) and not is_setup_cell(c)]
    title_cell = next(
        (i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("# ")), -1
    )
    cells.insert(title_cell + 1, new_code_cell(setup_cell_source()))
    cells.insert(0, new_markdown_cell(badges_markdown(stem)))
    notebook.cells = cells
    return [(c.cell_type, c.source) for c in cells] != before


def title(py: Path) -> str:
    """The notebook's title: its first markdown heading, without the number."""
    for cell in jupytext.read(py).cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].split("·", 1)[-1].strip()
    return py.stem


def readme_table(notebooks: list[Path]) -> str:
    """The course table for the README: one row per notebook with its launch badges."""
    rows = ["| notebook | lesson | run it |", "|---|---|---|"]
    for py in notebooks:
        stem = py.stem
        links = f"[Colab]({colab_url(stem)}) · [Kaggle]({kaggle_url(stem)}) · [Binder]({binder_url(stem)})"
        rows.append(f"| [`{stem}`](notebooks/{stem}.ipynb) | {title(py)} | {links} |")
    return "\n".join(rows)


README_ROW = re.compile(r"^\| \[`(\d\d_[a-z0-9_]+)`\]\(notebooks/\1\.ipynb\) \|(.*)\|([^|]*)\|$")


def readme_links(text: str) -> str:
    """The README with the launch links of every course-table row rebuilt from the repository URL."""
    lines = []
    for line in text.splitlines():
        row = README_ROW.match(line)
        if row:
            stem, middle = row.group(1), row.group(2)
            links = (
                f"[Colab]({colab_url(stem)}) · [Kaggle]({kaggle_url(stem)}) · [Binder]({binder_url(stem)})"
            )
            line = f"| [`{stem}`](notebooks/{stem}.ipynb) |{middle}| {links} |"
        lines.append(line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or, with --check, only check) the badge and setup cells of every notebook."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(ROOT / "notebooks"))
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when a notebook is out of date"
    )
    args = parser.parse_args(argv)
    notebooks = sorted(Path(args.folder).glob("*.py"))
    stale = []
    for py in notebooks:
        notebook = jupytext.read(py)
        if update_notebook(notebook, py.stem):
            stale.append(py)
            if not args.check:
                jupytext.write(notebook, py, fmt="py:percent")
                jupytext_cli(["--sync", "--quiet", str(py)])
    for py in stale:
        print(f"{py}: badge or setup cell {'out of date' if args.check else 'rewritten'}")
    readme = ROOT / "README.md"
    if readme.is_file() and readme_links(readme.read_text(encoding="utf-8")) != readme.read_text(
        encoding="utf-8"
    ):
        stale.append(readme)
        print(f"{readme}: course-table links {'out of date' if args.check else 'rewritten'}")
        if not args.check:
            readme.write_text(readme_links(readme.read_text(encoding="utf-8")), encoding="utf-8")
    if args.check:
        return 1 if stale else 0
    print(readme_table(notebooks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
