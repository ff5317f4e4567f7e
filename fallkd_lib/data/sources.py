"""Where datasets come from: Roboflow Universe downloads (online) and local export folders or zips (offline).

The Roboflow API key is read from the environment (`ROBOFLOW_API_KEY`), Colab's secret store
(`google.colab.userdata`) or Kaggle's (`kaggle_secrets`); it is never printed, logged or saved.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fallkd_lib.data.yolo import read_class_names, split_image_dirs
from fallkd_lib.errors import MissingFileError, MissingSecretError, OutputExistsError, RemoteError, UsageError
from fallkd_lib.io import write_atomic

KEY_NAME = "ROBOFLOW_API_KEY"
API_URL = "https://api.roboflow.com"


@dataclass(frozen=True)
class RoboflowPreset:
    """A Roboflow Universe dataset: workspace, project and version."""

    workspace: str
    project: str
    version: int
    note: str = ""


# The two datasets the reference report merges (about 30,000 images together).
PRESETS: dict[str, RoboflowPreset] = {
    "fall_detection_8vxyk": RoboflowPreset(
        "hong-nguyn-lixag",
        "fall_detection-8vxyk",
        1,
        "the report links the project without a version: check the Universe page and pass version=...",
    ),
    "fall_detection_ca3o8": RoboflowPreset("roboflow-universe-projects", "fall-detection-ca3o8", 4),
}


class OfflineError(RemoteError):
    """The network is needed but not reachable."""


def _redact(text: str) -> str:
    """Remove API keys from text (URLs and messages) before it is shown anywhere."""
    return re.sub(r"(api_key=)[^&\s\"']+", r"\1***", text)


def get_roboflow_key() -> str:
    """The Roboflow API key from the environment, Colab secrets or Kaggle secrets (never printed)."""
    key = os.environ.get(KEY_NAME, "").strip()
    if key:
        return key
    try:  # Colab: the key icon in the left bar, "Notebook access" switched on
        from google.colab import userdata  # type: ignore[import-not-found]

        key = (userdata.get(KEY_NAME) or "").strip()
    except Exception:  # noqa: BLE001 - not on Colab, or the secret is not shared with this notebook
        key = ""
    if not key:
        try:  # Kaggle: Add-ons > Secrets
            from kaggle_secrets import UserSecretsClient  # type: ignore[import-not-found]

            key = (UserSecretsClient().get_secret(KEY_NAME) or "").strip()
        except Exception:  # noqa: BLE001 - not on Kaggle, or no such secret
            key = ""
    if not key:
        raise MissingSecretError(
            f"no Roboflow API key: set the environment variable {KEY_NAME}, or add a secret named {KEY_NAME} "
            "(Colab: key icon in the left bar; Kaggle: Add-ons > Secrets). Offline, use import_export() "
            "on a downloaded export, or the synthetic data (`fallkd synth`)."
        )
    return key


def check_online(host: str = "api.roboflow.com", port: int = 443, timeout: float = 5.0) -> None:
    """Raise OfflineError within `timeout` seconds when the host cannot be reached."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        raise OfflineError(
            f"cannot reach {host} ({exc.__class__.__name__}): you seem to be offline. Download the export on a "
            "machine with internet and pass the folder or zip to import_export() / `fallkd import`, "
            "or use the embedded synthetic data (`fallkd synth`)."
        ) from None


def _get_json(url: str, timeout: float) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise RemoteError(
            f"Roboflow answered HTTP {exc.code} for {_redact(url)}: check the workspace, project, version and key"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise OfflineError(f"request to {_redact(url)} failed: {exc}") from None


def _download_file(url: str, target: Path, timeout: float) -> None:
    def fetch(tmp: Path) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
            shutil.copyfileobj(response, f, length=1 << 20)

    try:
        write_atomic(target, fetch)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise OfflineError(f"download of {_redact(url)} failed: {exc}") from None


def download_roboflow(
    workspace: str,
    project: str,
    version: int,
    out: str | Path,
    fmt: str = "yolov5",
    timeout: float = 30.0,
) -> Path:
    """Download a Roboflow Universe export (YOLO layout) into `out` and return the dataset folder.

    Uses Roboflow's REST API with timeouts on every request (the `roboflow` SDK has none).
    An existing complete export in `out` is reused.
    """
    out = Path(out)
    if (out / "data.yaml").is_file():
        return out
    check_online(timeout=min(timeout, 5.0))
    key = get_roboflow_key()
    query = urllib.parse.urlencode({"api_key": key})
    info = _get_json(f"{API_URL}/{workspace}/{project}/{version}/{fmt}?{query}", timeout)
    link = (info.get("export") or {}).get("link")
    if not link:
        raise RemoteError(
            f"Roboflow gave no export link for {workspace}/{project}/{version} ({fmt}); generate the export "
            "once on the dataset's Universe page, then try again"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        archive = Path(tmp) / "export.zip"
        _download_file(link, archive, timeout)
        return import_export(archive, out)


def download_preset(name: str, out: str | Path, version: int | None = None, timeout: float = 30.0) -> Path:
    """Download one of the reference report's datasets by preset name."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    return download_roboflow(
        preset.workspace, preset.project, version or preset.version, out, timeout=timeout
    )


def _dataset_root(folder: Path) -> Path:
    """The folder that holds data.yaml: the folder itself or its single sub-folder (zips often nest one)."""
    if (folder / "data.yaml").is_file():
        return folder
    found = sorted(folder.rglob("data.yaml"), key=lambda p: len(p.parts))
    if not found:
        raise MissingFileError(
            f"{folder}: no data.yaml found; export the dataset from Roboflow in a YOLO format (e.g. 'YOLOv5 PyTorch')"
        )
    return found[0].parent


def _safe_extract(archive: Path, target: Path) -> None:
    """Unzip refusing members that would land outside the target folder."""
    with zipfile.ZipFile(archive) as zf:
        base = target.resolve()
        for member in zf.namelist():
            dest = (target / member).resolve()
            if base != dest and base not in dest.parents:
                raise UsageError(
                    f"{archive}: member {member!r} would be written outside {target}; refusing to unzip"
                )
        zf.extractall(target)


def import_export(source: str | Path, out: str | Path) -> Path:
    """Bring a local Roboflow YOLO export (a folder or a .zip) to `out`, check its layout, and return `out`."""
    source, out = Path(source), Path(out)
    if not source.exists():
        raise MissingFileError(f"{source} not found: pass a Roboflow YOLO export folder or its .zip")
    if out.exists() and any(out.iterdir()):
        raise OutputExistsError(f"{out} exists and is not empty: choose another --out or delete it")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        staging = Path(tmp) / "staging"
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise UsageError(
                    f"{source} is not a zip archive: pass an export folder or the .zip Roboflow gives"
                )
            _safe_extract(source, staging)
        else:
            shutil.copytree(source, staging)
        root = _dataset_root(staging)
        read_class_names(root / "data.yaml")  # fails clearly on a broken data.yaml
        split_image_dirs(root)  # fails clearly when no split folders exist
        if out.exists():
            out.rmdir()
        shutil.move(str(root), str(out))
    return out


def has_roboflow_key() -> bool:
    """Whether a Roboflow API key is available (the key itself is never returned or shown)."""
    try:
        get_roboflow_key()
    except KeyError:
        return False
    return True
