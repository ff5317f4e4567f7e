"""Fail when a notebook carries outputs, drifts from its jupytext pair (notebooks/NAME.ipynb <-> NAME.py) or misses
a part every lesson has: launch badges, the hosted setup cell, the PROFILE cell, a self-checking exercise and the
results card as its last code cell."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import jupytext

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's fallkd_lib

from fallkd_lib.course.links import badges_markdown, setup_cell_source  # noqa: E402

EXERCISE = re.compile(r"^\w+ = None  # TODO: ", re.M)
CHECK_CALL = re.compile(r"\bcheck_\w+\(")


def cells(notebook) -> list[tuple[str, str]]:
    """(cell type, source) of every cell, whitespace-trimmed."""
    return [(c.cell_type, c.source.strip()) for c in notebook.cells]


def _is_results_card_call(source: str, stem: str) -> bool:
    """The cell's last statement is `results_card("<stem>", ...)`, a bare expression the notebook shows."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    last = body[-1] if body else None
    return (
        isinstance(last, ast.Expr)
        and isinstance(last.value, ast.Call)
        and isinstance(last.value.func, ast.Name)
        and last.value.func.id == "results_card"
        and bool(last.value.args)
        and isinstance(last.value.args[0], ast.Constant)
        and last.value.args[0].value == stem
    )


def structure_problems(notebook, stem: str) -> list[str]:
    """What a course notebook lacks: badges, setup cell, PROFILE cell, a self-checking exercise, the results card."""
    problems = []
    code = [c.source.strip() for c in notebook.cells if c.cell_type == "code"]
    first = notebook.cells[0] if notebook.cells else None
    if first is None or first.cell_type != "markdown" or first.source.strip() != badges_markdown(stem):
        problems.append("the first cell is not its launch badges; run `python scripts/badges.py`")
    if not code or code[0] != setup_cell_source():
        problems.append("the first code cell is not the hosted setup cell; run `python scripts/badges.py`")
    if not any(re.match(r'PROFILE = "quick"', c) for c in code):
        problems.append('no PROFILE = "quick" cell')
    if not any(EXERCISE.search(c) and CHECK_CALL.search(c) for c in code):
        problems.append(
            "no self-checking exercise (`answer = None  # TODO: ...` and a check_...(answer, ...) call)"
        )
    if not any("from fallkd_lib.course.exercises import" in c for c in code):
        problems.append("the checks are not imported from fallkd_lib.course.exercises")
    if not code or not _is_results_card_call(code[-1], stem):
        problems.append(f'the last code cell does not end with results_card("{stem}", ...)')
    return problems


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
        problems += [f"{ipynb}: {problem}" for problem in structure_problems(nb, ipynb.stem)]
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
