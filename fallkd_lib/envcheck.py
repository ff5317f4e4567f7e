"""What the notebook is running on: host (Colab, Kaggle, local), accelerator, network, package versions."""

from __future__ import annotations

import importlib
import os
import platform
import sys

from fallkd_lib.data.sources import OfflineError, check_online
from fallkd_lib.settings import get_settings, is_offline_requested

PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "ultralytics",
    "cv2",
    "PIL",
    "numpy",
    "matplotlib",
    "seaborn",
    "onnx",
    "onnxruntime",
    "imagehash",
    "jupytext",
)


def detect_host() -> str:
    """'colab', 'kaggle' or 'local'."""
    if "COLAB_RELEASE_TAG" in os.environ or "google.colab" in sys.modules:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ or os.path.isdir("/kaggle/working"):
        return "kaggle"
    return "local"


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package, or 'missing'."""
    versions = {}
    for name in names:
        try:
            module = importlib.import_module(name)
            versions[name] = str(getattr(module, "__version__", "installed"))
        except Exception:  # noqa: BLE001 - any import failure means "not usable here"
            versions[name] = "missing"
    return versions


def accelerator() -> str:
    """The CUDA GPU's name, 'mps', or 'cpu'."""
    try:
        import torch
    except ImportError:
        return "cpu (torch missing)"
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def network_status(timeout: float = 3.0) -> str:
    """'online', 'offline', or 'offline (requested)' when the offline switches are set."""
    if is_offline_requested():
        return "offline (requested by YOLO_OFFLINE / FALLKD_OFFLINE)"
    try:
        check_online(timeout=timeout)
        return "online"
    except OfflineError:
        return "offline"


def environment_report() -> dict:
    """Everything the set-up notebook shows, as one dict."""
    settings = get_settings()
    return {
        "host": detect_host(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "accelerator": accelerator(),
        "network": network_status(),
        "data_dir": str(settings.data_dir),
        "runs_dir": str(settings.runs_dir),
        "packages": package_versions(),
    }
