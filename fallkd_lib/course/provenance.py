"""Where a result comes from: the Python, packages, accelerator and git commit of the fallkd that made it."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import fallkd_lib

REPO_ROOT = Path(fallkd_lib.__file__).resolve().parent.parent
VERSIONED = ("torch", "torchvision", "ultralytics", "timm")


def installed_version(name: str) -> str | None:
    """The installed distribution's version, or None; read from its metadata, without importing it."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit(root: str | Path = REPO_ROOT) -> dict[str, object]:
    """{"commit": short hash, "dirty": tracked files changed} of the checkout at root; both None outside git."""
    root = Path(root)
    if not (root / ".git").exists():  # a folder in a clone, a file in a worktree
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # no git binary, not a repository, a slow disk
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(changes)}


def cuda_device() -> dict[str, object]:
    """{"cuda": available, "gpu": the first GPU's name or None}; torch is imported only if it is installed."""
    if installed_version("torch") is None:
        return {"cuda": False, "gpu": None}
    import torch

    if not torch.cuda.is_available():
        return {"cuda": False, "gpu": None}
    return {"cuda": True, "gpu": torch.cuda.get_device_name(0)}


def environment_card() -> dict[str, object]:
    """The card's "environment": python, platform, package versions, CUDA and GPU, fallkd version and commit."""
    git = git_commit()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: installed_version(name) for name in VERSIONED},
        **cuda_device(),
        "fallkd": fallkd_lib.__version__,
        "commit": git["commit"],
        "dirty": git["dirty"],
    }
