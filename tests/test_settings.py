import os
from pathlib import Path

from fallkd_lib.settings import configure_offline, get_settings, prepare_ultralytics


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
