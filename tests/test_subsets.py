from pathlib import Path

import pytest

from fallkd_lib.data.crops import read_crop_spec
from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.data.subsets import crops_by_source


def _crop_folder(root: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["crop,split,class,source"]
    for crop, source in rows:
        (root / crop).parent.mkdir(parents=True, exist_ok=True)
        (root / crop).write_bytes(crop.encode())
        split, cls = crop.split("/")[:2]
        lines.append(f"{crop},{split},{cls},{source}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


def test_one_imagefolder_per_source(tmp_path: Path) -> None:
    rows = [
        ("train/fall/a.jpg", "park"),
        ("val/normal/b.jpg", "park"),
        ("train/fall/c.jpg", "cctv"),
        ("val/fall/d.jpg", "cctv"),
        ("test/normal/e.jpg", "cctv"),
    ]
    folders = crops_by_source(_crop_folder(tmp_path / "crops", rows), tmp_path / "out")
    assert folders == {"park": tmp_path / "out" / "park", "cctv": tmp_path / "out" / "cctv"}
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg"))
    assert files == [
        "cctv/test/normal/e.jpg",
        "cctv/train/fall/c.jpg",
        "cctv/val/fall/d.jpg",
        "park/train/fall/a.jpg",
        "park/val/normal/b.jpg",
    ]
    assert (tmp_path / "out" / "park/train/fall/a.jpg").read_bytes() == b"train/fall/a.jpg"
    assert crops_by_source(tmp_path / "crops", tmp_path / "out") == folders  # again: nothing to redo
    (tmp_path / "crops" / "crop_params.json").write_text('{"size": 96, "pad": 0.3, "fill": 114}')
    crops_by_source(tmp_path / "crops", tmp_path / "out")
    assert read_crop_spec(folders["park"]) == read_crop_spec(folders["cctv"]) == CropSpec(96, 0.3)


def test_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fallkd crops"):
        crops_by_source(tmp_path / "none", tmp_path / "out")
    crops = _crop_folder(tmp_path / "crops", [("train/fall/a.jpg", "park"), ("test/fall/b.jpg", "park")])
    with pytest.raises(ValueError, match="source 'park' has no val crops"):
        crops_by_source(crops, tmp_path / "out")
