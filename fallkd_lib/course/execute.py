"""Execute one notebook with nbclient, its PROFILE forced, and save what ran (also when a cell fails).

The profile is set papermill-style: the first code line `PROFILE = ...` (every course notebook starts with
`PROFILE = "quick"`) is replaced in place by `PROFILE = "<profile>"  # set by fallkd course --profile <profile>`,
so the cells keep their numbers; a notebook without that line gets a new first cell holding it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from fallkd_lib.course.export_html import write_notebook_html
from fallkd_lib.errors import FallkdError
from fallkd_lib.io import write_atomic

PROFILE_LINE = re.compile(r"^PROFILE\s*=.*$", re.MULTILINE)
INSTALL_HINT = (
    "`fallkd course` needs nbclient and nbformat: pip install -r requirements-dev.txt (or '.[course]')"
)


@dataclass
class NotebookRun:
    """What executing one notebook gave: status "ok" or "failed", seconds, and the failing cell's details."""

    name: str
    status: str
    seconds: float
    error: dict = field(default_factory=dict)  # cell (index in the source notebook), source, ename, evalue

    def message(self, saved: Path) -> str:
        """One paragraph for the student: which notebook, cell and error, and where the partial notebook is."""
        e = self.error
        return (
            f"notebook {self.name} failed at cell {e['cell']} (counting from 0) `{e['source']}`: "
            f"{e['ename']}: {e['evalue']}. The partly executed notebook is {saved} (and .html beside it); "
            "fix the cause, then `fallkd course --resume` goes on from this notebook"
        )


def _nbclient():
    try:
        import nbclient
        import nbformat
    except ImportError as exc:
        raise FallkdError(INSTALL_HINT) from exc
    return nbclient, nbformat


def set_profile(nb, profile: str) -> int:
    """Force PROFILE in the notebook; returns how many cells were inserted before the notebook's own (0 or 1)."""
    line = f"PROFILE = {json.dumps(profile)}  # set by fallkd course --profile {profile}"
    for cell in nb.cells:
        if cell.cell_type == "code" and PROFILE_LINE.search(cell.source):
            cell.source = PROFILE_LINE.sub(lambda _: line, cell.source, count=1)
            return 0
    _, nbformat = _nbclient()
    cell = nbformat.v4.new_code_cell(line, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(0, cell)
    return 1


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the kernel the block starts, and put the old values back after it."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip()]
    return lines[0].strip()[:100] if lines else ""


def execute_notebook(
    source: str | Path,
    target: str | Path,
    profile: str,
    env: Mapping[str, str] | None = None,
    cell_timeout: int | None = 900,
    kernel: str = "python3",
    progress: bool = True,
) -> NotebookRun:
    """Run source in its own folder into target (.ipynb, with a .html beside it); a failed cell is reported, not raised."""
    nbclient, nbformat = _nbclient()
    source, target = Path(source), Path(target)
    nb = nbformat.read(source, as_version=4)
    offset = set_profile(nb, profile)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    state = {"cell": code[0] if code else 0}
    bar = tqdm(total=len(code), desc=f"  {source.stem}", unit="cell", leave=False, disable=not progress)

    def started(cell, cell_index: int, **_) -> None:
        state["cell"] = cell_index

    def executed(cell, cell_index: int, **_) -> None:
        bar.update(1)

    client = nbclient.NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name=kernel,
        resources={"metadata": {"path": str(source.parent)}},
        on_cell_start=started,
        on_cell_executed=executed,
    )
    error: dict = {}
    began = time.perf_counter()
    try:
        with environment(env or {}):
            client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        error = {"ename": exc.ename, "evalue": exc.evalue}
    except (nbclient.exceptions.CellTimeoutError, nbclient.exceptions.DeadKernelError) as exc:
        error = {"ename": type(exc).__name__, "evalue": _first_line(str(exc))}
    finally:  # also on Ctrl-C: the student sees how far it got
        bar.close()
        write_atomic(target, lambda tmp: nbformat.write(nb, str(tmp)))
        write_notebook_html(nb, target.with_suffix(".html"))
    seconds = round(time.perf_counter() - began, 1)
    if not error:
        return NotebookRun(source.stem, "ok", seconds)
    index = state["cell"]
    error = {"cell": max(index - offset, 0), "source": _first_line(nb.cells[index].source), **error}
    return NotebookRun(source.stem, "failed", seconds, error)
