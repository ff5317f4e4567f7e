"""The package's shape: the camera runtime stands apart from training, and no module imports itself round a cycle.

Imports are read from the source (ast), the ones inside functions included: a lazy import still ties the
modules together when it runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import fallkd_lib

ROOT = Path(fallkd_lib.__file__).parent
TRAINING = ("fallkd_lib.train", "fallkd_lib.distill", "fallkd_lib.detector", "fallkd_lib.cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The fallkd_lib modules a module imports anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_runtime_never_reaches_the_training_code() -> None:
    runtime = [name for name in MODULES if name.startswith("fallkd_lib.runtime")]
    assert len(runtime) >= 10
    for name in runtime:
        bad = sorted(m for m in _reachable(name) if m.startswith(TRAINING))
        assert not bad, f"{name} imports {bad}"


@pytest.mark.slow
def test_importing_the_runtime_loads_neither_fallkd_training_nor_ultralytics() -> None:
    code = (
        "import sys, fallkd_lib.runtime.pipeline, fallkd_lib.runtime.loaders, fallkd_lib.runtime.events, "
        "fallkd_lib.export;"
        "print(sorted(m for m in sys.modules if m.startswith(('fallkd_lib.train', 'fallkd_lib.distill', "
        "'fallkd_lib.detector', 'ultralytics'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components of the import graph: every one must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    assert cycles == []
