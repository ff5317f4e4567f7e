from pathlib import Path

import pytest

from fallkd_lib.data.yolo import (
    Box,
    iter_dataset,
    label_path_for,
    parse_label_line,
    read_class_names,
    read_labels,
    split_image_dirs,
    write_data_yaml,
    write_labels,
)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("0 0.5 0.5 0.2", "expected 5 fields (class cx cy w h), got 4"),
        ("0 0.5 0.5 0.2 0.2 0.9", "expected 5 fields (class cx cy w h), got 6"),
        ("0 0.5 abc 0.2 0.2", "a field is not a number"),
        ("1.5 0.5 0.5 0.2 0.2", "class id 1.5 is not an integer"),
        ("3 0.5 0.5 0.2 0.2", "class id 3 out of range 0..2"),
        ("-1 0.5 0.5 0.2 0.2", "class id -1 out of range 0..2"),
        ("0 1.2 0.5 0.2 0.2", "coordinates must lie in [0, 1]"),
        ("0 0.5 0.5 -0.1 0.2", "coordinates must lie in [0, 1]"),
        ("0 0.5 0.5 0.0 0.2", "box width and height must be positive"),
        ("0 0.5 nan 0.2 0.2", "a coordinate is not finite"),
    ],
)
def test_parse_label_line_rejects_each_bad_kind(line: str, reason: str) -> None:
    assert parse_label_line(line, num_classes=3) == reason


def test_parse_label_line_accepts_float_class_and_converts_box() -> None:
    box = parse_label_line("2.0 0.5 0.25 0.5 0.1", num_classes=3)
    assert box == Box(2, 0.5, 0.25, 0.5, 0.1)
    assert box.to_xyxy(200, 100) == (50.0, 20.0, 150.0, 30.0)


def test_read_labels_reports_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("0 0.5 0.5 0.2 0.2\n\n7 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.1\n")
    boxes, issues = read_labels(path, num_classes=2)
    assert boxes == [Box(0, 0.5, 0.5, 0.2, 0.2)]
    assert [(i.line, i.reason) for i in issues] == [
        (3, "class id 7 out of range 0..1"),
        (4, "expected 5 fields (class cx cy w h), got 4"),
    ]
    assert str(issues[0]) == f"{path}:3: class id 7 out of range 0..1 ('7 0.5 0.5 0.2 0.2')"
    assert read_labels(tmp_path / "missing.txt", 2) == ([], [])


def test_class_names_list_dict_and_errors(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("names: {0: fall, 1: normal}\n")
    assert read_class_names(tmp_path / "data.yaml") == ["fall", "normal"]
    (tmp_path / "data.yaml").write_text("names: [a, b, c]\n")
    assert read_class_names(tmp_path / "data.yaml") == ["a", "b", "c"]
    (tmp_path / "data.yaml").write_text("names: {0: a, 2: b}\n")
    with pytest.raises(ValueError, match=r"must be 0..1, got \[0, 2\]"):
        read_class_names(tmp_path / "data.yaml")
    (tmp_path / "data.yaml").write_text("nc: 2\n")
    with pytest.raises(ValueError, match="non-empty list or dict"):
        read_class_names(tmp_path / "data.yaml")
    with pytest.raises(FileNotFoundError, match="data.yaml"):
        read_class_names(tmp_path / "nope" / "data.yaml")


def test_round_trip_and_val_alias(tmp_path: Path) -> None:
    write_data_yaml(tmp_path, ["fall", "normal"])
    (tmp_path / "val" / "images").mkdir(parents=True)
    (tmp_path / "train" / "images").mkdir(parents=True)
    image = tmp_path / "val" / "images" / "x.jpg"
    image.write_bytes(b"")
    assert label_path_for(image) == tmp_path / "val" / "labels" / "x.txt"
    boxes = [Box(1, 0.25, 0.5, 0.125, 0.75)]
    write_labels(label_path_for(image), boxes)
    assert split_image_dirs(tmp_path) == {
        "train": tmp_path / "train" / "images",
        "valid": tmp_path / "val" / "images",
    }
    items = list(iter_dataset(tmp_path))
    assert [(i.split, i.image.name, i.boxes) for i in items] == [("valid", "x.jpg", boxes)]
    with pytest.raises(FileNotFoundError, match="no split folders"):
        split_image_dirs(tmp_path / "val")
