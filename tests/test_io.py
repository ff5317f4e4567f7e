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


def test_files_digest_covers_names_and_sizes_only(tmp_path: Path) -> None:
    import hashlib

    from fallkd_lib.io import files_digest

    (tmp_path / "a" / "sub").mkdir(parents=True)
    (tmp_path / "a" / "sub" / "x.txt").write_text("123")
    expected = hashlib.sha256(b"lab/sub/x.txt\x003\n").hexdigest()  # by hand: label/relative path NUL size
    assert files_digest([("lab", tmp_path / "a")]) == expected
    assert files_digest([("lab", tmp_path / "a"), ("none", tmp_path / "missing")]) == expected
    (tmp_path / "a" / "sub" / "x.txt").write_text("124")  # same size: the same digest
    assert files_digest([("lab", tmp_path / "a")]) == expected
    (tmp_path / "a" / "sub" / "x.txt").write_text("1234")
    assert files_digest([("lab", tmp_path / "a")]) != expected
