"""Every notebook has what a lesson needs (badges, the hosted setup cell, PROFILE, a self-checking exercise, the
results card last), stores no outputs, and matches its jupytext .py pair. scripts/check_notebooks.py runs the same
checks for `make notebooks`; this test also shows that they catch a broken notebook."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jupytext
import nbformat
import pytest

from fallkd_lib.course.links import badges_markdown, setup_cell_source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("check_notebooks", ROOT / "scripts" / "check_notebooks.py")
check_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_notebooks)


def test_the_course_has_its_seven_notebooks() -> None:
    assert [p.stem[:2] for p in NOTEBOOKS] == ["00", "01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_has_every_part_of_a_lesson(ipynb: Path) -> None:
    notebook = nbformat.read(ipynb, as_version=4)
    assert check_notebooks.structure_problems(notebook, ipynb.stem) == []
    assert notebook.cells[0].source == badges_markdown(ipynb.stem)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].source == setup_cell_source()
    assert any(c.source.startswith('PROFILE = "quick"') for c in code)
    assert f'results_card(\n    "{ipynb.stem}"' in code[-1].source
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"{ipynb.name}: a cell stores outputs"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_matches_its_py_pair(ipynb: Path) -> None:
    pair = jupytext.read(ipynb.with_suffix(".py"))
    assert check_notebooks.cells(nbformat.read(ipynb, as_version=4)) == check_notebooks.cells(pair)


def test_the_checks_catch_a_broken_notebook(tmp_path: Path) -> None:
    notebook = nbformat.read(ROOT / "notebooks" / "01_data.ipynb", as_version=4)
    assert check_notebooks.structure_problems(notebook, "01_data") == []
    assert (
        check_notebooks.structure_problems(notebook, "02_detector") != []
    )  # badges and card name the notebook
    broken = nbformat.from_dict(notebook)
    broken.cells = [
        c for c in broken.cells[1:] if "= None  # TODO:" not in c.source
    ]  # no badges, no exercise
    broken.cells.append(nbformat.v4.new_code_cell("print('after the card')"))
    problems = " | ".join(check_notebooks.structure_problems(broken, "01_data"))
    for expected in ("launch badges", "self-checking exercise", 'does not end with results_card("01_data"'):
        assert expected in problems

    folder = tmp_path / "notebooks"
    folder.mkdir()
    broken = nbformat.from_dict(notebook)
    broken.cells[-1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    broken.cells[-1].execution_count = 3
    nbformat.write(broken, folder / "01_data.ipynb")
    stale = jupytext.read(ROOT / "notebooks" / "01_data.py")
    stale.cells[2].source += "\nprint('edited in the .py only')"
    jupytext.write(stale, folder / "01_data.py", fmt="py:percent")
    problems = " | ".join(check_notebooks.check(folder))
    assert "carries outputs" in problems and "differ; run `jupytext --sync" in problems
