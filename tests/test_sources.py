import http.server
import io
import json
import threading
import time
import zipfile
from pathlib import Path

import pytest

from fallkd_lib.data import sources
from fallkd_lib.data.sources import (
    OfflineError,
    check_online,
    download_preset,
    download_roboflow,
    get_roboflow_key,
    import_export,
)

SECRET = "rf_SECRET_123"


def _export_zip(prefix: str = "Fall-3/") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(prefix + "data.yaml", "names: ['Fall-Detected', 'person']\n")
        zf.writestr(prefix + "train/images/a.jpg", b"jpeg")
        zf.writestr(prefix + "train/labels/a.txt", "0 0.5 0.5 0.2 0.2\n")
    return buf.getvalue()


def test_key_from_environment_and_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("ROBOFLOW_API_KEY", f" {SECRET} ")
    assert get_roboflow_key() == SECRET
    monkeypatch.delenv("ROBOFLOW_API_KEY")
    with pytest.raises(KeyError, match="ROBOFLOW_API_KEY"):
        get_roboflow_key()


def test_check_online_fails_fast_with_advice() -> None:
    start = time.perf_counter()
    with pytest.raises(OfflineError, match="fallkd import"):
        check_online("127.0.0.1", port=1, timeout=2.0)
    assert time.perf_counter() - start < 3.0


def test_import_zip_with_nested_folder(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    archive.write_bytes(_export_zip())
    out = import_export(archive, tmp_path / "ds")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "data.yaml",
        "train/images/a.jpg",
        "train/labels/a.txt",
    ]
    with pytest.raises(FileExistsError, match="not empty"):
        import_export(archive, out)


def test_import_refuses_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="export folder or its .zip"):
        import_export(tmp_path / "missing.zip", tmp_path / "o1")
    (tmp_path / "notzip.zip").write_text("hello")
    with pytest.raises(ValueError, match="not a zip archive"):
        import_export(tmp_path / "notzip.zip", tmp_path / "o2")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        import_export(evil, tmp_path / "o3")
    assert not (tmp_path / "escape.txt").exists()
    folder = tmp_path / "noyaml" / "train" / "images"
    folder.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no data.yaml found"):
        import_export(tmp_path / "noyaml", tmp_path / "o4")


class _FakeRoboflow(http.server.BaseHTTPRequestHandler):
    zip_bytes = _export_zip()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        port = self.server.server_address[1]
        if self.path.startswith("/ws/proj/4/yolov5?api_key=" + SECRET):
            body = json.dumps({"export": {"link": f"http://127.0.0.1:{port}/export.zip"}}).encode()
        elif self.path == "/export.zip":
            body = self.zip_bytes
        else:
            self.send_error(403)
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_api(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeRoboflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(sources, "API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(sources, "check_online", lambda **kw: None)
    yield server
    server.shutdown()


def test_download_through_rest_api(tmp_path: Path, monkeypatch, fake_api) -> None:
    monkeypatch.setenv("ROBOFLOW_API_KEY", SECRET)
    out = download_roboflow("ws", "proj", 4, tmp_path / "rf", timeout=5)
    assert (out / "data.yaml").read_text().startswith("names: ['Fall-Detected'")
    assert download_roboflow("ws", "proj", 4, out) == out  # reused, no second download


def test_http_error_never_shows_the_key(tmp_path: Path, monkeypatch, fake_api) -> None:
    monkeypatch.setenv("ROBOFLOW_API_KEY", SECRET)
    with pytest.raises(ConnectionError) as info:
        download_roboflow("ws", "other", 1, tmp_path / "rf", timeout=5)
    assert "HTTP 403" in str(info.value) and "api_key=***" in str(info.value)
    assert SECRET not in str(info.value)


def test_unknown_preset_lists_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fall_detection_8vxyk, fall_detection_ca3o8"):
        download_preset("nope", tmp_path)
