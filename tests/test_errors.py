"""fallkd's own errors are one line and exit 2 at the command line; anything else is a bug and keeps its traceback."""

import ast
from pathlib import Path

import pytest

import fallkd_lib
from fallkd_lib import cli
from fallkd_lib.errors import FallkdError, MissingFileError, MissingSecretError, UsageError

LIBRARY = Path(fallkd_lib.__file__).parent
BUILTINS = {"ValueError", "FileNotFoundError", "FileExistsError", "KeyError", "ConnectionError"}


def test_library_raises_its_own_error_classes() -> None:
    """A bare builtin raised on purpose would show a traceback at the command line: use fallkd_lib.errors."""
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            exc = getattr(node, "exc", None) if isinstance(node, ast.Raise) else None
            name = getattr(getattr(exc, "func", None), "id", None)
            if name in BUILTINS:
                found.append(f"{path.relative_to(LIBRARY)}:{node.lineno} raise {name}")
    assert not found, found


def test_error_classes_keep_their_builtin_meaning() -> None:
    assert issubclass(UsageError, ValueError) and issubclass(MissingFileError, FileNotFoundError)
    assert str(MissingSecretError("set ROBOFLOW_API_KEY")) == "set ROBOFLOW_API_KEY"  # no KeyError quotes


def test_a_deliberate_error_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    assert cli.main(["crops", str(tmp_path / "absent"), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fallkd crops: error:") and "data.yaml" in err and err.count("\n") == 1


@pytest.mark.parametrize("bug", [KeyError("config"), ValueError("int() of 'x'"), FileNotFoundError("x")])
def test_a_bug_keeps_its_traceback(monkeypatch, bug: Exception) -> None:
    def broken(args) -> None:
        raise bug

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices["env"].set_defaults(func=broken)
    with pytest.raises(type(bug)):
        cli.main(["env"])
    assert not isinstance(bug, FallkdError)
