import os
from pathlib import Path

import numpy as np
import pytest
import torch

from fallkd_lib.settings import (
    configure_offline,
    get_settings,
    import_ultralytics,
    keep_torch_threads,
    prepare_ultralytics,
)


def test_folders_follow_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FALLKD_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("FALLKD_CACHE", str(tmp_path / "c"))
    settings = get_settings()
    assert settings.data_dir == tmp_path / "d"
    assert settings.yolo_config_dir == tmp_path / "c" / "ultralytics"


def test_prepare_ultralytics_places_font_and_config_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FALLKD_CACHE", str(tmp_path))
    monkeypatch.delenv("YOLO_CONFIG_DIR", raising=False)
    config_dir = prepare_ultralytics()
    assert os.environ["YOLO_CONFIG_DIR"] == str(tmp_path / "ultralytics") == str(config_dir)
    font = config_dir / "Arial.ttf"
    assert font.read_bytes()[:4] in (b"\x00\x01\x00\x00", b"true")  # a TrueType file
    mtime = font.stat().st_mtime_ns
    prepare_ultralytics()
    assert font.stat().st_mtime_ns == mtime  # not copied again


def test_configure_offline_keeps_user_choice_unless_forced(monkeypatch) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "0")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert configure_offline() == {
        "YOLO_OFFLINE": "0",
        "YOLO_AUTOINSTALL": os.environ["YOLO_AUTOINSTALL"],
        "HF_HUB_OFFLINE": "1",
    }
    assert configure_offline(force=True)["YOLO_OFFLINE"] == "1"


def test_keep_torch_threads_restores_the_count() -> None:
    before = torch.get_num_threads()
    with keep_torch_threads():
        torch.set_num_threads(1 if before != 1 else 2)
    assert torch.get_num_threads() == before


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_ultralytics_leaves_the_torch_thread_count_alone() -> None:
    """ultralytics' CPU device setup sets torch to cpu_count - 1 threads for the whole process; fallkd undoes it."""
    yolo_class = import_ultralytics().YOLO  # first: it points ultralytics at fallkd's settings folder
    from ultralytics.utils import NUM_THREADS

    from fallkd_lib.config import PipelineConfig
    from fallkd_lib.data.geometry import CropSpec
    from fallkd_lib.runtime.detector import detect_people
    from fallkd_lib.runtime.pipeline import FallPipeline
    from fallkd_lib.runtime.sources import Frame

    before = torch.get_num_threads()
    want = NUM_THREADS + 1  # a count ultralytics would change
    frame = np.full((96, 96, 3), 120, np.uint8)
    try:
        torch.set_num_threads(want)
        detect_people(yolo_class("yolov5n.yaml", task="detect"), [frame], 64, device="cpu")
        assert torch.get_num_threads() == want
        yolo = import_ultralytics().YOLO("yolov5n.yaml", task="detect")
        pipe = FallPipeline(
            yolo, lambda c: np.zeros(len(c)), PipelineConfig(imgsz=64), crop=CropSpec(32, 0.1)
        )
        pipe.process(Frame(frame, 0.0, 0, "f0"))
        assert torch.get_num_threads() == want
    finally:
        torch.set_num_threads(before)
