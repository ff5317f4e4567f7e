"""merge_datasets on tiny generated YOLO datasets: remapping, bad labels, bad images, duplicates, splits."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageEnhance

from fallkd_lib.data.classmap import UnknownClassError
from fallkd_lib.data.merge import MANIFEST_COLUMNS, merge_datasets

HOSPITAL = [
    "bed",
    "danger",
    "fall",
    "lie",
    "move",
    "patient",
    "person",
    "sit",
    "stand",
    "walker",
    "wheelchair",
]


def smooth_image(seed: int, size: int = 64) -> Image.Image:
    """Random 8x8 colours blown up smoothly: distinct seeds give perceptual hashes > 8 bits apart."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize(
        (size, size), Image.BICUBIC
    )


def near_copy(seed: int, step: int = 1) -> Image.Image:
    """The image of `seed`, slightly brighter (a near duplicate: phash within 2 bits)."""
    return ImageEnhance.Brightness(smooth_image(seed)).enhance(1 + 0.03 * step)


def write_source(
    root: Path, names: list[str], images: dict[str, tuple[Image.Image | bytes, list[str] | None]]
) -> Path:
    """A YOLO export: root/data.yaml and root/<split>/images/<stem>.jpg with labels/<stem>.txt."""
    (root).mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(yaml.safe_dump({"nc": len(names), "names": names}), encoding="utf-8")
    for key, (image, lines) in images.items():
        split, stem = key.split("/")
        path = root / split / "images" / f"{stem}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(image, bytes):
            path.write_bytes(image)
        else:
            image.save(path, quality=95)
        if lines is not None:
            label = root / split / "labels" / f"{stem}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return root


def manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def dropped(report, kind: str) -> list[dict]:
    return [d for d in report.dropped if d["kind"] == kind]


BOX = "0.500000 0.500000 0.200000 0.400000"


@pytest.fixture
def two_sources(tmp_path):
    a = write_source(
        tmp_path / "src" / "a",
        ["Fall-Detected", "person"],
        {f"train/a{i}": (smooth_image(i), [f"{i % 2} 0.5 0.5 0.2 0.4"]) for i in range(8)},
    )
    b = write_source(
        tmp_path / "src" / "b",
        ["fall", "stand", "bed"],
        {f"valid/b{i}": (smooth_image(100 + i), ["1 0.5 0.5 0.2 0.4", "2 0.3 0.3 0.1 0.1"]) for i in range(6)}
        | {"test/empty": (smooth_image(200), None)},
    )
    return a, b


def test_merge_writes_the_layout_manifest_and_report(tmp_path, two_sources):
    a, b = two_sources
    out = tmp_path / "merged"
    report = merge_datasets([a, ("bee", b)], out, progress=False)
    assert yaml.safe_load((out / "data.yaml").read_text())["names"] == ["fall", "normal"]
    rows = manifest(out)
    assert list(rows[0]) == MANIFEST_COLUMNS
    assert len(rows) == 15
    assert sorted({r["source"] for r in rows}) == ["a", "bee"]
    for row in rows:
        image = out / row["image"]
        original = Path(row["original_path"])
        assert image.name == f"{row['source']}__{original.stem}.jpg"
        assert image.parent == out / row["split"] / "images"
        assert image.read_bytes() == original.read_bytes()  # copied, not re-encoded
        assert row["sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
        assert len(row["phash"]) == 16
        label = (out / row["split"] / "labels" / (image.stem + ".txt")).read_text().splitlines()
        assert len(label) == int(row["n_fall"]) + int(row["n_normal"])
    by_name = {Path(r["original_path"]).stem: r for r in rows}
    assert (by_name["a3"]["n_fall"], by_name["a3"]["n_normal"], by_name["a3"]["label"]) == (
        "0",
        "1",
        "normal",
    )
    assert (by_name["a4"]["label"], by_name["b0"]["label"], by_name["empty"]["label"]) == (
        "fall",
        "normal",
        "background",
    )
    a3 = out / by_name["a3"]["split"] / "labels" / "a__a3.txt"
    assert a3.read_text() == f"1 {BOX}\n"  # person -> normal (class 1)
    b0 = out / by_name["b0"]["split"] / "labels" / "bee__b0.txt"
    assert b0.read_text() == f"1 {BOX}\n"  # stand -> normal, bed dropped
    counts = report.counts
    assert counts["images"] == {
        "input": 15,
        "kept": 15,
        "unreadable_image": 0,
        "exact_duplicate": 0,
        "near_duplicate": 0,
    }
    assert (
        counts["boxes"]["fall"] == 4
        and counts["boxes"]["normal"] == 10
        and counts["boxes"]["dropped_class"] == 6
    )
    assert counts["per_class"] == {
        "fall": {"images": 4, "boxes": 4},
        "normal": {"images": 10, "boxes": 10},
        "background": {"images": 1},
    }
    assert sum(counts["per_source_split"]["bee"].values()) == 7
    assert sum(s["images"] for s in counts["per_split"].values()) == 15
    assert len(dropped(report, "dropped_class")) == 6
    assert dropped(report, "dropped_class")[0]["line"] == 2
    saved = json.loads((out / "report.json").read_text())
    assert saved == json.loads(json.dumps(report.to_dict()))
    assert saved["fallkd_merge"] == 1 and saved["settings"]["classes"]["bee"]["bed"] == "drop"
    assert "15 of 15 images kept" in report.summary()


def test_every_bad_label_kind_is_reported_with_file_and_line(tmp_path):
    lines = [
        "0 0.5 0.5 0.2 0.4",  # 1: good
        "0 0.5 0.5 0.2",  # 2: wrong field count
        "0 0.5 abc 0.2 0.4",  # 3: not a number
        "0.5 0.5 0.5 0.2 0.4",  # 4: class not an integer
        "7 0.5 0.5 0.2 0.4",  # 5: class out of range
        "",  # 6: blank, ignored
        "0 1.2 0.5 0.2 0.4",  # 7: coordinate outside [0, 1]
        "0 0.5 0.5 0 0.4",  # 8: zero width
        "1 0.5 0.5 0.2 -0.1",  # 9: negative height (also outside [0, 1])
    ]
    src = write_source(
        tmp_path / "s",
        ["fall", "sit"],
        {"train/x": (smooth_image(1), lines), "train/y": (smooth_image(2), [])},
    )
    report = merge_datasets([src], tmp_path / "out", progress=False)
    label = str(src / "train" / "labels" / "x.txt")
    bad = dropped(report, "bad_label_line")
    assert [(d["file"], d["line"]) for d in bad] == [(label, n) for n in (2, 3, 4, 5, 7, 8, 9)]
    reasons = [d["reason"] for d in bad]
    assert reasons[0].startswith("expected 5 fields (class cx cy w h), got 4")
    assert reasons[1].startswith("a field is not a number")
    assert reasons[2].startswith("class id 0.5 is not an integer")
    assert reasons[3].startswith("class id 7 out of range 0..1")
    assert reasons[4].startswith("coordinates must lie in [0, 1]")
    assert reasons[5].startswith("box width and height must be positive")
    assert reasons[6].startswith("coordinates must lie in [0, 1]")
    assert report.counts["boxes"]["bad_label_line"] == 7
    assert report.counts["per_source"]["s"]["bad_label_line"] == 7
    assert report.counts["images"]["kept"] == 2  # the image stays, with its one valid box
    row = next(r for r in manifest(tmp_path / "out") if r["original_path"].endswith("x.jpg"))
    assert (row["n_fall"], row["n_normal"]) == ("1", "0")


def test_truncated_jpeg_is_skipped_and_reported(tmp_path):
    whole = tmp_path / "whole.jpg"
    smooth_image(5, size=128).save(whole, quality=95)
    data = whole.read_bytes()
    src = write_source(
        tmp_path / "s",
        ["fall", "stand"],
        {
            "train/ok": (smooth_image(6), ["0 0.5 0.5 0.2 0.2"]),
            "train/cut": (data[: len(data) // 2], ["1 0.5 0.5 0.2 0.2"]),
        },
    )
    report = merge_datasets([src], tmp_path / "out", progress=False)
    (bad,) = dropped(report, "unreadable_image")
    assert bad["file"] == str(src / "train" / "images" / "cut.jpg") and bad["line"] == 0
    assert "cannot decode image" in bad["reason"]
    assert report.counts["images"] == {
        "input": 2,
        "kept": 1,
        "unreadable_image": 1,
        "exact_duplicate": 0,
        "near_duplicate": 0,
    }
    assert [Path(r["original_path"]).name for r in manifest(tmp_path / "out")] == ["ok.jpg"]


def test_unknown_class_aborts_before_writing(tmp_path):
    src = write_source(
        tmp_path / "s", ["fall", "lying", "Foo"], {"train/x": (smooth_image(1), ["0 0.5 0.5 0.2 0.2"])}
    )
    with pytest.raises(UnknownClassError) as info:
        merge_datasets([src], tmp_path / "out", progress=False)
    assert (
        "'lying'" in str(info.value) and "'Foo'" in str(info.value) and "--map lying=fall" in str(info.value)
    )
    assert not (tmp_path / "out").exists()
    report = merge_datasets(
        [src], tmp_path / "out", class_map={"lying": "fall", "foo": "drop"}, progress=False
    )
    assert report.counts["boxes"]["fall"] == 1


def test_exact_duplicates_removed_once_keeping_the_first(tmp_path):
    same = smooth_image(9)
    a = write_source(
        tmp_path / "a",
        ["fall"],
        {"train/p": (same, ["0 0.5 0.5 0.2 0.2"]), "valid/q": (smooth_image(10), [])},
    )
    b = write_source(
        tmp_path / "b", ["fall"], {"train/r": (smooth_image(11), []), "test/s": (smooth_image(12), [])}
    )
    (b / "valid" / "images").mkdir(parents=True)
    (b / "valid" / "images" / "copy.jpg").write_bytes((a / "train" / "images" / "p.jpg").read_bytes())
    (a / "valid" / "images" / "twin.jpg").write_bytes((a / "train" / "images" / "p.jpg").read_bytes())
    report = merge_datasets([a, b], tmp_path / "out", progress=False)
    exact = dropped(report, "exact_duplicate")
    original = str(a / "train" / "images" / "p.jpg")
    assert [(d["file"], d["of"]) for d in exact] == [
        (str(a / "valid" / "images" / "twin.jpg"), original),
        (str(b / "valid" / "images" / "copy.jpg"), original),
    ]
    assert exact[1]["reason"] == f"same bytes as {original} (source 'a')"
    assert report.counts["images"]["exact_duplicate"] == 2 and report.counts["images"]["kept"] == 4
    assert sum(r["original_path"] == original for r in manifest(tmp_path / "out")) == 1


def test_near_duplicate_across_sources_removed(tmp_path):
    a = write_source(tmp_path / "a", ["fall"], {"train/p": (smooth_image(20), ["0 0.5 0.5 0.2 0.2"])})
    b = write_source(
        tmp_path / "b", ["fall"], {"train/p2": (near_copy(20), []), "train/q": (smooth_image(21), [])}
    )
    report = merge_datasets([a, b], tmp_path / "out", progress=False)
    (near,) = dropped(report, "near_duplicate")
    assert near["file"] == str(b / "train" / "images" / "p2.jpg")
    assert near["of"] == str(a / "train" / "images" / "p.jpg")
    assert re.fullmatch(
        rf"perceptual hash within [0-4] bits of {re.escape(near['of'])} \(source 'a'\)", near["reason"]
    )
    assert report.counts["per_source"]["b"]["near_duplicate"] == 1
    assert report.counts["images"]["kept"] == 2
    # with a threshold of 0 bits the brighter copy is a different photo
    report = merge_datasets([a, b], tmp_path / "out", near_duplicate_distance=0, progress=False)
    assert report.counts["images"]["kept"] == 3


def test_near_duplicates_within_a_source_kept_and_never_split(tmp_path):
    frames = {f"train/frame{i}": (near_copy(30, i), ["0 0.5 0.5 0.2 0.2"]) for i in range(6)}
    others = {f"valid/o{i}": (smooth_image(40 + i), [f"{i % 2} 0.5 0.5 0.2 0.2"]) for i in range(24)}
    src = write_source(tmp_path / "s", ["fall", "walking"], frames | others)
    out = tmp_path / "out"
    for seed in range(8):
        report = merge_datasets([src], out, seed=seed, progress=False)
        rows = manifest(out)
        assert report.counts["images"]["kept"] == 30
        video = [r for r in rows if "frame" in r["original_path"]]
        assert len(video) == 6 and len({r["sha256"] for r in video}) == 6  # different bytes, same photo
        assert len({r["group"] for r in video}) == 1 and len({r["split"] for r in video}) == 1
        splits_of_group = defaultdict(set)
        for r in rows:
            splits_of_group[r["group"]].add(r["split"])
        assert all(len(s) == 1 for s in splits_of_group.values())


def test_group_pattern_joins_frames_of_one_video(tmp_path):
    images = {f"train/camA_{i:03d}": (smooth_image(300 + i), ["0 0.5 0.5 0.2 0.2"]) for i in range(5)}
    images |= {f"train/camB_{i:03d}": (smooth_image(400 + i), ["1 0.5 0.5 0.2 0.2"]) for i in range(15)}
    src = write_source(tmp_path / "s", ["fall", "sit"], images)
    merge_datasets([src], tmp_path / "out", group_pattern=r"^(cam[A-Z])_", progress=False)
    rows = manifest(tmp_path / "out")
    assert {r["group"] for r in rows} == {"0", "1"}
    assert len({r["split"] for r in rows if "camA" in r["image"]}) == 1


def test_identity_rule_on_a_hospital_like_source(tmp_path):
    fall, patient, bed, stand, person = (
        HOSPITAL.index(n) for n in ("fall", "patient", "bed", "stand", "person")
    )
    images = {
        "train/falling": (
            smooth_image(50),
            [f"{patient} 0.5 0.5 0.2 0.4", f"{fall} 0.5 0.52 0.2 0.36", f"{bed} 0.3 0.3 0.2 0.2"],
        ),
        "train/alone": (smooth_image(51), [f"{patient} 0.5 0.5 0.2 0.4"]),
        "train/staff": (smooth_image(52), [f"{stand} 0.7 0.5 0.1 0.4", f"{person} 0.7 0.5 0.1 0.38"]),
    }
    src = write_source(tmp_path / "hospital", HOSPITAL, images)
    report = merge_datasets([src], tmp_path / "out", progress=False)
    labels = {
        Path(r["original_path"]).stem: (tmp_path / "out" / r["image"]).parent.parent / "labels"
        for r in manifest(tmp_path / "out")
    }
    assert (
        labels["falling"] / "hospital__falling.txt"
    ).read_text() == "0 0.500000 0.520000 0.200000 0.360000\n"
    assert (labels["alone"] / "hospital__alone.txt").read_text() == ""
    assert (labels["staff"] / "hospital__staff.txt").read_text() == "1 0.700000 0.500000 0.100000 0.400000\n"
    assert report.counts["boxes"] == {
        "fall": 1,
        "normal": 1,
        "bad_label_line": 0,
        "dropped_class": 1,
        "identity_redundant": 2,
        "identity_unpaired": 1,
    }
    unpaired = dropped(report, "identity_unpaired")
    assert [(Path(d["file"]).name, d["line"]) for d in unpaired] == [("alone.txt", 1)]
    redundant = dropped(report, "identity_redundant")
    assert [(Path(d["file"]).name, d["line"]) for d in redundant] == [("falling.txt", 1), ("staff.txt", 2)]
    assert report.settings["classes"]["hospital"]["patient"] == "identity"
    assert report.counts["per_source"]["hospital"]["emptied_images"] == 1  # "alone" is now a background image
    assert report.emptied == [next(r["image"] for r in manifest(tmp_path / "out") if "alone" in r["image"])]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["emptied"] == report.emptied
    assert "1 image(s) lost all their boxes to the class map" in report.summary()


def test_refuses_a_folder_that_is_not_a_merge_and_replaces_a_merge(tmp_path, two_sources):
    a, b = two_sources
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a previous fallkd merge"):
        merge_datasets([a, b], out, progress=False)
    assert (out / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    merge_datasets([a, b], empty, seed=1, progress=False)
    (empty / "stray.txt").write_text("left by hand")
    report = merge_datasets([a], empty, seed=2, progress=False)
    assert not (empty / "stray.txt").exists()
    assert report.counts["images"]["input"] == 8 and len(manifest(empty)) == 8
    assert json.loads((empty / "report.json").read_text())["settings"]["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "out", "src"]  # no tmp/old folders left


def test_source_names_must_be_unique(tmp_path, two_sources):
    a, b = two_sources
    with pytest.raises(ValueError, match=r"unique, got \['x'\]"):
        merge_datasets([("x", a), ("x", b)], tmp_path / "out", progress=False)
    other = write_source(tmp_path / "elsewhere" / "a", ["fall"], {"train/z": (smooth_image(77), [])})
    with pytest.raises(ValueError, match=r"unique, got \['a'\]"):
        merge_datasets([a, other], tmp_path / "out", progress=False)


def test_zero_images_left_explains(tmp_path):
    src = write_source(tmp_path / "s", ["fall"], {"train/cut": (b"\xff\xd8\xff\xe0 not really a jpeg", [])})
    with pytest.raises(ValueError, match=r"no images left.*1 image\(s\) found.*unreadable_image"):
        merge_datasets([src], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_deterministic_for_a_seed(tmp_path, two_sources):
    a, b = two_sources
    merge_datasets([a, b], tmp_path / "one", seed=5, progress=False)
    merge_datasets([a, b], tmp_path / "two", seed=5, progress=False)
    assert (tmp_path / "one" / "manifest.csv").read_text() == (tmp_path / "two" / "manifest.csv").read_text()
    merge_datasets([a, b], tmp_path / "three", seed=6, progress=False)
    assert [r["split"] for r in manifest(tmp_path / "one")] != [
        r["split"] for r in manifest(tmp_path / "three")
    ]


def test_same_stem_twice_in_a_source_gets_a_suffix(tmp_path):
    src = write_source(
        tmp_path / "s", ["fall"], {"train/x": (smooth_image(60), []), "valid/x": (smooth_image(61), [])}
    )
    merge_datasets([src], tmp_path / "out", progress=False)
    names = sorted(Path(r["image"]).name for r in manifest(tmp_path / "out"))
    assert names == ["s__x.jpg", "s__x__2.jpg"]
