"""`fallkd course` on tiny notebooks: PROFILE forced, a failing cell reported and saved, resume, HTML and summary."""

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from fallkd_lib.cli import main
from fallkd_lib.course import export_html
from fallkd_lib.course.execute import set_profile
from fallkd_lib.course.runner import course_notebooks, new_run_folder, run_course, unfinished_run
from fallkd_lib.course.summary import summary_table, write_summary
from fallkd_lib.errors import FallkdError, MissingFileError

REPO = Path(__file__).resolve().parents[1]


def write_notebook(path: Path, *sources: str) -> Path:
    """A notebook of code cells (a markdown cell first, as the course's notebooks have)."""
    nb = new_notebook(cells=[new_markdown_cell("# a test notebook")] + [new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


CARD_CELL = (
    "import os\nfrom fallkd_lib.course.cards import results_card\n"
    "results_card('00_card', {'profile_seen': PROFILE, 'cwd': os.getcwd(), 'score': 0.5}, profile=PROFILE)"
)


def test_set_profile_replaces_the_parameter_line_in_place() -> None:
    nb = new_notebook(
        cells=[new_markdown_cell("PROFILE = 'x'"), new_code_cell('import os\nPROFILE = "quick"  # or full')]
    )
    assert set_profile(nb, "full") == 0
    assert nb.cells[1].source == 'import os\nPROFILE = "full"  # set by fallkd course --profile full'
    bare = new_notebook(cells=[new_code_cell("x = 1")])
    assert set_profile(bare, "quick") == 1  # no PROFILE line: a first cell holds it
    assert [c.source for c in bare.cells] == [
        'PROFILE = "quick"  # set by fallkd course --profile quick',
        "x = 1",
    ]
    assert bare.cells[0].metadata["tags"] == ["injected-parameters"]


def test_course_notebooks_in_order(tmp_path) -> None:
    for name in ("02_b.ipynb", "00_a.ipynb", "notes.ipynb", "1_x.ipynb", "01_c.py"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in course_notebooks(tmp_path)] == ["00_a.ipynb", "02_b.ipynb"]
    with pytest.raises(MissingFileError, match="no NN_name.ipynb notebooks in"):
        course_notebooks(tmp_path / "nope")
    assert [p.stem for p in course_notebooks(REPO / "notebooks")][:2] == ["00_setup", "01_data"]


def test_run_folders_and_which_one_resumes(tmp_path) -> None:
    first, second = new_run_folder(tmp_path), new_run_folder(tmp_path)
    assert second.name == f"{first.name}-2" or second.name > first.name
    assert unfinished_run(tmp_path, "quick") is None  # no run.json yet
    for folder, profile, status in (
        (tmp_path / "20260101-000000", "quick", "failed"),
        (tmp_path / "20260102-000000", "full", "running"),
        (tmp_path / "20260103-000000", "quick", "finished"),
    ):
        folder.mkdir()
        (folder / "run.json").write_text(json.dumps({"profile": profile, "status": status}))
    assert unfinished_run(tmp_path, "full") == tmp_path / "20260102-000000"
    assert unfinished_run(tmp_path, "quick") is None  # the latest quick run finished: start a new one
    (tmp_path / "20260104-000000").mkdir()
    (tmp_path / "20260104-000000" / "run.json").write_text(
        json.dumps({"profile": "quick", "status": "interrupted"})
    )
    assert unfinished_run(tmp_path, "quick") == tmp_path / "20260104-000000"


def test_summary_from_the_cards(tmp_path) -> None:
    from fallkd_lib.course.cards import results_card

    results_card(
        "00_a",
        {"accuracy": 0.91234, "val": {"fall recall": 1.0}},
        profile="quick",
        folder=tmp_path / "results",
    )
    (tmp_path / "results" / "01_b.json").write_text("{")
    record = {
        "profile": "quick",
        "status": "failed",
        "notebooks": {
            "00_a": {"status": "ok", "seconds": 3.5},
            "01_b": {"status": "ok", "seconds": 1.0},
            "02_c": {"status": "failed", "seconds": 0.5},
        },
    }
    table = summary_table(tmp_path, record)
    assert table.to_dict("records")[0] == {
        "notebook": "00_a",
        "status": "ok",
        "seconds": 3.5,
        "profile": "quick",
        "metrics": "accuracy 0.912; val.fall recall 1",
    }
    assert table["metrics"][1].startswith("unreadable card (") and table["metrics"][2] == "no results card"
    text = write_summary(tmp_path, record)
    assert text.splitlines()[:3] == [
        "| notebook | status | seconds | profile | metrics |",
        "|---|---|---|---|---|",
        "| 00_a | ok | 3.5 | quick | accuracy 0.912; val.fall recall 1 |",
    ]
    assert (
        (tmp_path / "summary.md")
        .read_text()
        .startswith("# fallkd course, quick profile: failed\n\n| notebook")
    )
    assert (tmp_path / "summary.csv").read_text().splitlines()[
        1
    ] == "00_a,ok,3.5,quick,accuracy 0.912; val.fall recall 1"


def test_html_falls_back_to_a_plain_page(monkeypatch) -> None:
    nb = new_notebook(cells=[new_markdown_cell("# Title <b>"), new_code_cell("print(1 < 2)")])
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", text="True\n"),
        nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["\x1b[31mTrace <x>\x1b[0m"]),
    ]
    page = export_html.plain_html(nb)
    assert "# Title &lt;b&gt;" in page and "print(1 &lt; 2)" in page and "<pre>True\n</pre>" in page
    assert '<pre class="error">Trace &lt;x&gt;</pre>' in page
    import nbconvert

    class NoTemplates:
        def __init__(self, template_name: str) -> None:
            raise ValueError(f"no template {template_name}")

    monkeypatch.setattr(nbconvert, "HTMLExporter", NoTemplates)
    assert export_html.notebook_html(nb) == page


@pytest.fixture
def kernel_env(monkeypatch) -> None:
    """The kernels import this checkout's fallkd_lib, whatever is installed."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


@pytest.mark.slow
def test_course_runs_fails_saves_and_resumes(tmp_path, kernel_env, capsys) -> None:
    notebooks, out = tmp_path / "notebooks", tmp_path / "runs"
    write_notebook(notebooks / "00_card.ipynb", 'PROFILE = "quick"', CARD_CELL)
    failing = write_notebook(
        notebooks / "01_fail.ipynb",
        "x = 41",
        "\n# the answer\nraise ValueError(f'bad x {x}')",
        "print('after')",
    )
    write_notebook(notebooks / "02_last.ipynb", "print('last')")
    with pytest.raises(FallkdError) as failed:
        run_course(notebooks, out, "full", progress=False)
    (run,) = out.iterdir()
    message = str(failed.value)
    assert message.startswith(
        "notebook 01_fail failed at cell 2 (counting from 0) `# the answer`: ValueError: bad x 41."
    )
    assert str(run / "01_fail.ipynb") in message
    partial = nbformat.read(run / "01_fail.ipynb", as_version=4)
    assert partial.cells[0].source.startswith('PROFILE = "full"')  # no PROFILE line: an injected first cell
    assert [o.output_type for o in partial.cells[3].outputs] == ["error"]
    assert partial.cells[4].outputs == [] and partial.cells[4].execution_count is None  # stopped there
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and record["profile"] == "full"
    assert {k: v["status"] for k, v in record["notebooks"].items()} == {
        "00_card": "ok",
        "01_fail": "failed",
        "02_last": "pending",
    }
    assert record["notebooks"]["01_fail"]["error"] == {
        "cell": 2,
        "source": "# the answer",
        "ename": "ValueError",
        "evalue": "bad x 41",
    }
    card = json.loads((run / "results" / "00_card.json").read_text())
    assert card["profile"] == "full" and card["metrics"]["profile_seen"] == "full"  # PROFILE forced
    assert card["metrics"]["cwd"] == str(notebooks)  # run in its own folder, as nbmake does
    assert sorted(p.name for p in run.glob("*.html")) == ["00_card.html", "01_fail.html"]
    assert "bad x 41" in (run / "01_fail.html").read_text()
    first_run = (run / "00_card.ipynb").stat().st_mtime_ns

    nb = nbformat.read(failing, as_version=4)
    nb.cells[2].source = "print(x + 1)"
    nbformat.write(nb, str(failing))
    capsys.readouterr()
    assert (
        main(["course", "--notebooks", str(notebooks), "--out", str(out), "--profile", "full", "--resume"])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"resuming {run}" in printed and "00_card: done before" in printed
    assert [p.name for p in out.iterdir()] == [run.name]
    assert (run / "00_card.ipynb").stat().st_mtime_ns == first_run  # skipped, not run again
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "finished" and record["finished"] >= record["started"]
    assert {k: v["status"] for k, v in record["notebooks"].items()} == dict.fromkeys(
        record["notebooks"], "ok"
    )
    summary = (run / "summary.md").read_text()
    assert "| 00_card | ok |" in summary and "profile_seen full" in summary and "| 02_last | ok |" in summary
    assert sorted(p.name for p in run.glob("*.html")) == ["00_card.html", "01_fail.html", "02_last.html"]
    # the card the kernel showed is the one in the file: collect finds it in the executed notebook
    from fallkd_lib.course.collect import collect_results

    table = collect_results([run], ["00_card", "01_fail", "02_last"])
    assert table[["notebook", "status", "profile", "flags"]].values.tolist() == [
        ["00_card", "ok", "full", ""],
        ["01_fail", "no card", "", ""],
        ["02_last", "no card", "", ""],
    ]
    assert table.loc[0, "profile_seen"] == "full" and table.loc[0, "score"] == 0.5


def test_a_stuck_quick_cell_times_out_but_the_full_profile_may_train_for_hours(tmp_path, monkeypatch) -> None:
    from fallkd_lib.course import runner
    from fallkd_lib.course.execute import NotebookRun

    nb = new_notebook(cells=[new_code_cell('PROFILE = "quick"')])
    nbformat.write(nb, str(tmp_path / "00_a.ipynb"))
    seen = []

    def fake(source, target, profile, env, cell_timeout, kernel, progress) -> NotebookRun:
        seen.append((profile, cell_timeout, env["FALLKD_HEADLESS"]))
        return NotebookRun(Path(source).stem, "ok", 0.1)

    monkeypatch.setattr(runner, "execute_notebook", fake)
    for profile in ("quick", "full"):
        run_course(tmp_path, tmp_path / f"runs_{profile}", profile, progress=False)
    run_course(tmp_path, tmp_path / "runs_set", "full", cell_timeout=60, progress=False)
    assert seen == [("quick", 900, "1"), ("full", None, "1"), ("full", 60, "1")]  # no live widgets either
