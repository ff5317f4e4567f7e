"""Colab and Kaggle: which host this is, an install that keeps the host's torch, and storage that outlives a session.

Standard library only: every notebook's first cell imports this module from a fresh clone, before the course's
requirements are installed (`fallkd_lib.course.links.SETUP_CELL`).

Why a constraints file and not a second requirements file: `requirements.txt` already gives torch and torchvision as
lower bounds only, so pip keeps a host's newer build; the constraints file pins the exact builds the host has
(e.g. `torch==2.5.1+cu121`), so no other package can pull a different torch either: pip stops with a conflict
instead of downloading 2 GB of CUDA wheels over the host's own.
"""

from __future__ import annotations

import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path

DRIVE_MOUNT = "/content/drive"  # where Colab mounts Google Drive
DRIVE_FOLDER = "MyDrive/fallkd"  # the course's folder on Drive
KAGGLE_WORKING = (
    "/kaggle/working"  # kept with the notebook's output (and between sessions with Persistence on)
)
STORAGE_ENV = ("FALLKD_DATA", "FALLKD_RUNS")  # read by fallkd_lib.settings.get_settings
HOST_PACKAGES = ("torch", "torchvision")


def hosted_on() -> str | None:
    """'colab', 'kaggle', or None on any other machine (laptop, CI, Binder)."""
    if "google.colab" in sys.modules:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
        return "kaggle"
    return None


def keep_host_torch(path: str | Path | None = None) -> str:
    """Write a pip constraints file pinning the installed torch and torchvision (`pip install -c`); return its path."""
    pins = []
    for name in HOST_PACKAGES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:  # not installed: pip may install it from requirements.txt
            continue
    target = Path(path) if path is not None else Path(tempfile.gettempdir()) / "fallkd_host_torch.txt"
    target.write_text("# the host's own builds: pip must keep them\n" + "".join(f"{pin}\n" for pin in pins))
    return str(target)


def persistent_storage(use_drive: bool = True, *, drive_folder: str = DRIVE_FOLDER) -> dict[str, str]:
    """Point FALLKD_DATA and FALLKD_RUNS at storage that outlives the session; return the variables set.

    Colab with use_drive: Google Drive is mounted and data/ and runs/ go to <Drive>/<drive_folder>, so a new session
    (after a disconnect) finds the data and resumes training from its checkpoints. Kaggle: /kaggle/working. Anywhere
    else, or Colab without Drive: nothing is set ({}), and fallkd keeps data/ and runs/ in the project. A variable
    already set in the environment wins.
    """
    host = hosted_on()
    if host == "colab" and use_drive:
        from google.colab import drive  # type: ignore[import-not-found]  # Colab only

        drive.mount(DRIVE_MOUNT)
        base = Path(DRIVE_MOUNT) / drive_folder
    elif host == "kaggle":
        base = Path(KAGGLE_WORKING)
    else:
        return {}
    for key, folder in zip(STORAGE_ENV, ("data", "runs"), strict=True):
        os.environ.setdefault(key, str(base / folder))
    return {key: os.environ[key] for key in STORAGE_ENV}
