"""Fail when a notebook carries outputs or drifts from its jupytext pair (notebooks/NAME.ipynb <-> NAME.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext


def cells(notebook) -> list[tuple[str, str]]:
    """(cell type, source) of every cell, whitespace-trimmed."""
    return [(c.cell_type, c.source.strip()) for c in notebook.cells]


def check(folder: Path) -> list[str]:
    """Every problem found in the notebooks of a folder."""
    problems = []
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        problems.append(f"{folder}: no notebooks found")
    for ipynb in notebooks:
        pair = ipynb.with_suffix(".py")
        nb = jupytext.read(ipynb)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
                problems.append(
                    f"{ipynb}: cell {i} carries outputs; strip them (jupyter nbconvert --clear-output)"
                )
        if not pair.exists():
            problems.append(
                f"{ipynb}: no paired {pair.name}; run `jupytext --set-formats ipynb,py:percent {ipynb}`"
            )
            continue
        if cells(nb) != cells(jupytext.read(pair)):
            problems.append(f"{ipynb} and {pair.name} differ; run `jupytext --sync {pair}` and commit both")
    for py in sorted(folder.glob("*.py")):
        if not py.with_suffix(".ipynb").exists():
            problems.append(f"{py}: no paired notebook; run `jupytext --sync {py}`")
    return problems


if __name__ == "__main__":
    found = check(Path(sys.argv[1] if len(sys.argv) > 1 else "notebooks"))
    for line in found:
        print(line)
    print(f"notebook check: {'FAILED' if found else 'ok'} ({len(found)} problems)")
    sys.exit(1 if found else 0)
