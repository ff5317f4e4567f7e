from pathlib import Path

import pytest
from PIL import Image

from fallkd_lib.data.faults import BAD_LINES, copy_with_faults
from fallkd_lib.data.merge import merge_datasets
from fallkd_lib.data.yolo import Box, write_data_yaml, write_labels


def _dataset(root: Path, n: int) -> Path:
    write_data_yaml(root, ["fall", "normal"])
    for i in range(n):
        Image.new("RGB", (32, 32), (i * 20, 255 - i * 20, (i * 77) % 256)).save(root / f"img{i}.jpg")
        (root / "train" / "images").mkdir(parents=True, exist_ok=True)
        (root / f"img{i}.jpg").rename(root / "train" / "images" / f"img{i}.jpg")
        write_labels(root / "train" / "labels" / f"img{i}.txt", [Box(i % 2, 0.5, 0.5, 0.5, 0.5)])
    return root


def test_every_injected_fault_is_caught_by_the_merge(tmp_path: Path) -> None:
    clean = _dataset(tmp_path / "clean", 10)
    faults = copy_with_faults(clean, tmp_path / "broken", truncate_images=1)
    assert len(faults) == len(BAD_LINES) + 1
    assert faults[0] == "train/labels/img0.txt:2: bad line '0 0.5 0.5 0.2'"
    report = merge_datasets([tmp_path / "broken"], tmp_path / "merged", progress=False)
    kinds = [d["kind"] for d in report.dropped]
    assert kinds.count("bad_label_line") == len(BAD_LINES)
    assert kinds.count("unreadable_image") == 1
    assert report.counts["images"]["kept"] == 9


def test_too_small_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs at least 8 labelled images, has 3"):
        copy_with_faults(_dataset(tmp_path / "small", 3), tmp_path / "b")
