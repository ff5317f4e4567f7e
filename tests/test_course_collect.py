"""`fallkd collect` on students' run folders, card folders and exported notebooks: rows, statuses and flags."""

import json
from pathlib import Path

import nbformat
import pandas as pd
from nbformat.v4 import new_code_cell, new_notebook, new_output

from fallkd_lib.cli import main
from fallkd_lib.course.cards import CARD_MIMETYPE, read_card, results_card
from fallkd_lib.course.collect import (
    COURSE_NOTEBOOKS,
    collect,
    collect_results,
    expected_notebooks,
    same_metrics,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["00_a", "01_b", "02_c"]
METRICS = {"00_a": {"accuracy": 0.5, "val": {"recall": 1.0}}, "01_b": {"images": 10}, "02_c": {"alerts": 2}}
OOM = {"cell": 5, "source": "train()", "ename": "RuntimeError", "evalue": "out of memory"}


def executed_notebook(path: Path, card: dict | None = None, error: tuple[str, str] | None = None) -> None:
    """An executed notebook whose one cell showed the card (as results_card does) or raised error."""
    nb = new_notebook(cells=[new_code_cell("results_card(...)")])
    if card:
        nb.cells[0].outputs.append(
            new_output("display_data", data={CARD_MIMETYPE: card, "text/plain": "fallkd results card"})
        )
    if error:
        nb.cells[0].outputs.append(new_output("error", ename=error[0], evalue=error[1], traceback=[]))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def fake_run(folder: Path, profile: str, failed: str | None = None, pending: tuple[str, ...] = ()) -> Path:
    """A run folder as `fallkd course` leaves it: run.json, results/ cards and executed notebooks."""
    statuses = {}
    for name in NOTEBOOKS:
        if name in pending:
            statuses[name] = {"status": "pending", "seconds": None}
        elif name == failed:
            statuses[name] = {"status": "failed", "seconds": 1.0, "error": OOM}
            executed_notebook(folder / f"{name}.ipynb", error=("RuntimeError", "out of memory"))
        else:
            results_card(name, METRICS[name], profile=profile, folder=folder / "results")
            executed_notebook(folder / f"{name}.ipynb", card=read_card(folder / "results" / f"{name}.json"))
            statuses[name] = {"status": "ok", "seconds": 2.0}
    status = "failed" if failed else "finished"
    (folder / "run.json").write_text(
        json.dumps({"schema": 1, "profile": profile, "status": status, "notebooks": statuses})
    )
    return folder


def edit_card(path: Path, **metrics: object) -> None:
    card = json.loads(path.read_text())
    card["metrics"].update(metrics)
    path.write_text(json.dumps(card))


def test_course_notebook_list_matches_the_notebooks_folder() -> None:
    assert expected_notebooks(REPO / "notebooks") == list(COURSE_NOTEBOOKS)


def test_same_metrics_within_a_small_tolerance() -> None:
    assert same_metrics({"a": 0.9, "b": {"c": "x"}}, {"a": 0.9 + 1e-12, "b": {"c": "x"}})
    assert not same_metrics({"a": 0.9}, {"a": 0.91})
    assert not same_metrics({"a": 0.9}, {"a": 0.9, "b": 1})
    assert not same_metrics({"a": True}, {"a": 1.0}) and not same_metrics({"a": "1"}, {"a": 1})


def test_runs_of_three_students_and_two_broken_folders(tmp_path, capsys) -> None:
    fake_run(tmp_path / "alice" / "runs" / "20260101-000000", "full", failed="00_a")  # older, failed
    fake_run(tmp_path / "alice" / "runs" / "20260102-000000", "full")  # the latest: this one counts
    bob = fake_run(tmp_path / "bob", "quick", failed="01_b", pending=("02_c",))
    edit_card(bob / "results" / "00_a.json", accuracy=0.95)  # tampered after the notebook ran
    carol = fake_run(tmp_path / "carol", "quick")
    edit_card(carol / "results" / "01_b.json", images=10 + 1e-12)  # rounding, not tampering
    (tmp_path / "eve").mkdir()
    (tmp_path / "frank").mkdir()
    (tmp_path / "frank" / "run.json").write_text("{not json")
    students = [tmp_path / name for name in ("alice", "bob", "carol", "eve", "frank")]

    table = collect(students, tmp_path / "out", NOTEBOOKS)
    csv = pd.read_csv(tmp_path / "out" / "collected.csv", keep_default_na=False)
    assert list(csv.columns) == ["student", "notebook", "status", "profile", "flags", "accuracy", "val.recall", "images", "alerts"]  # fmt: skip
    rows = csv[["student", "notebook", "status", "profile", "flags"]].values.tolist()
    assert rows == [
        ["alice", "00_a", "ok", "full", ""],
        ["alice", "01_b", "ok", "full", ""],
        ["alice", "02_c", "ok", "full", ""],
        ["bob", "00_a", "ok", "quick", "quick profile; card != notebook"],
        ["bob", "01_b", "failed", "", "failed at cell 5: RuntimeError: out of memory"],
        ["bob", "02_c", "missing", "", "missing"],
        ["carol", "00_a", "ok", "quick", "quick profile"],
        ["carol", "01_b", "ok", "quick", "quick profile"],
        ["carol", "02_c", "ok", "quick", "quick profile"],
        ["eve", "", "unreadable", "", f"{tmp_path / 'eve'}: no run.json, results cards or .ipynb files"],
        ["frank", "", "unreadable", "", f"{tmp_path / 'frank' / 'run.json'}: unreadable (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"],
    ]  # fmt: skip
    assert csv["accuracy"].tolist()[:4] == ["0.5", "", "", "0.95"]  # the file's value, flagged
    assert table.loc[7, "images"] == 10 + 1e-12 and table.loc[2, "alerts"] == 2
    summary = "5 students; notebooks: 7 ok, 1 failed, 1 missing, 2 unreadable; flags: 1 card != notebook, 1 failed, 4 quick profile"
    assert capsys.readouterr().out.splitlines()[0] == summary
    page = (tmp_path / "out" / "collected.html").read_text()
    assert f"<p>{summary}</p>" in page
    assert [part.split("</h2>")[0] for part in page.split("<h2>")[1:]] == [
        "00_a",
        "01_b",
        "02_c",
        "unreadable",
    ]


def test_exported_notebooks_and_card_folders(tmp_path) -> None:
    dana = tmp_path / "dana"
    results_card("00_a", METRICS["00_a"], profile="full", folder=tmp_path / "cards")
    executed_notebook(dana / "my_first_notebook.ipynb", card=read_card(tmp_path / "cards" / "00_a.json"))
    executed_notebook(dana / "01_b.ipynb")  # ran, but shows no card
    executed_notebook(dana / "02_c.ipynb", error=("ValueError", "bad crop"))
    gus = tmp_path / "gus"
    for name in NOTEBOOKS[:2]:
        results_card(name, METRICS[name], profile="full", folder=gus)
    (gus / "02_c.json").write_text("{")
    files = sorted(dana.glob("*.ipynb"))
    table = collect_results([*files, gus], NOTEBOOKS)
    *rows, broken = table[["student", "notebook", "status", "flags"]].values.tolist()
    assert rows == [
        ["dana", "00_a", "ok", ""],
        ["dana", "01_b", "no card", ""],
        ["dana", "02_c", "failed", "failed: ValueError: bad crop"],
        ["gus", "00_a", "ok", ""],
        ["gus", "01_b", "ok", ""],
    ]
    assert broken[:3] == ["gus", "02_c", "missing"]
    assert broken[3].startswith(f"missing; unreadable card: {gus / '02_c.json'}: not valid JSON (")


def test_collect_command(tmp_path, capsys) -> None:
    notebooks = tmp_path / "notebooks"
    for name in NOTEBOOKS:
        executed_notebook(notebooks / f"{name}.ipynb")
    fake_run(tmp_path / "alice", "quick")
    assert (
        main(
            [
                "collect",
                str(tmp_path / "alice"),
                "--out",
                str(tmp_path / "out"),
                "--notebooks",
                str(notebooks),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("1 students; notebooks: 3 ok; flags: 3 quick profile\nwritten: ")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["collected.csv", "collected.html"]
    assert (
        main(["collect", str(tmp_path / "alice"), "--out", str(tmp_path / "o"), "--notebooks", str(tmp_path)])
        == 2
    )
    assert "no NN_name.ipynb notebooks in" in capsys.readouterr().err


def test_a_notebook_deleted_from_a_finished_run_is_missing_not_cardless(tmp_path) -> None:
    run = fake_run(tmp_path / "carol", "quick")
    (run / "01_b.ipynb").unlink()
    (run / "results" / "01_b.json").unlink()
    table = collect_results([run], NOTEBOOKS)
    assert table[["notebook", "status", "flags"]].values.tolist()[1] == [
        "01_b",
        "missing",
        "missing (run.json says it ran)",
    ]
