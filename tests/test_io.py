import json
from pathlib import Path

from fallkd_lib.io import write_json_atomic, write_text_atomic


def test_atomic_writes_replace_and_leave_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    write_json_atomic(target, {"a": 1, "b": [1.5]})
    assert json.loads(target.read_text()) == {"a": 1, "b": [1.5]}
    assert write_text_atomic(tmp_path / "x.csv", "h\n1\n").read_text() == "h\n1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "x.csv"]
