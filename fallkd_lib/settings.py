"""Where fallkd keeps data, runs and caches, and the switches that keep third-party tools offline."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fallkd_lib.io import write_atomic

OFFLINE_ENV = {
    "YOLO_OFFLINE": "1",  # ultralytics: no hub, no update checks
    "YOLO_AUTOINSTALL": "0",  # ultralytics: never pip-install anything at run time
    "HF_HUB_OFFLINE": "1",  # timm / huggingface_hub: do not retry downloads for a minute
}


def _find_root() -> Path:
    """The repository root when fallkd runs from a clone, else the current directory."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists() and (here / "notebooks").is_dir():
        return here
    return Path.cwd()


@dataclass(frozen=True)
class Settings:
    """Folders fallkd reads and writes; each can be moved with an environment variable."""

    root: Path
    data_dir: Path  # FALLKD_DATA: generated and downloaded datasets
    runs_dir: Path  # FALLKD_RUNS: training runs, exports, reports
    cache_dir: Path  # FALLKD_CACHE: fonts, ultralytics settings, teacher logits

    @property
    def yolo_config_dir(self) -> Path:
        """The folder ultralytics uses for its settings file and fonts."""
        return self.cache_dir / "ultralytics"


def get_settings() -> Settings:
    """Read the folder layout from the environment, with defaults inside the project."""
    root = Path(os.environ.get("FALLKD_HOME", _find_root())).resolve()
    return Settings(
        root=root,
        data_dir=Path(os.environ.get("FALLKD_DATA", root / "data")).resolve(),
        runs_dir=Path(os.environ.get("FALLKD_RUNS", root / "runs")).resolve(),
        cache_dir=Path(os.environ.get("FALLKD_CACHE", root / ".cache")).resolve(),
    )


HEADLESS_ENV = "FALLKD_HEADLESS"  # "1" where notebooks run unattended: `fallkd course`, `make test` (nbmake)


def live_widgets() -> bool:
    """False where notebooks run unattended (FALLKD_HEADLESS=1): an ipywidgets cell there can leave nbclient waiting
    for ever (jupyter/nbclient#312), so the course's widgets draw a still figure instead."""
    return os.environ.get(HEADLESS_ENV, "") != "1"


def is_offline_requested() -> bool:
    """True when the environment asks every tool to stay offline."""
    return os.environ.get("FALLKD_OFFLINE", "0") == "1" or os.environ.get("YOLO_OFFLINE") == "1"


def configure_offline(force: bool = False) -> dict[str, str]:
    """Set the offline switches (all of them with force, else only those not set) and return them."""
    for key, value in OFFLINE_ENV.items():
        if force or key not in os.environ:
            os.environ[key] = value
    return {key: os.environ[key] for key in OFFLINE_ENV}


def prepare_ultralytics(settings: Settings | None = None) -> Path:
    """Point YOLO_CONFIG_DIR inside the cache and place Arial.ttf there, so ultralytics never downloads it.

    Call before the first `import ultralytics`: the package reads YOLO_CONFIG_DIR at import time.
    The font is matplotlib's DejaVu Sans copied under the name ultralytics looks for, both in the folder and in
    its `Ultralytics/` sub-folder (where ultralytics 8.4 looks; a missing font is fetched from github.com).
    """
    settings = settings or get_settings()
    config_dir = settings.yolo_config_dir
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    from matplotlib import font_manager

    source = Path(font_manager.findfont("DejaVu Sans", fallback_to_default=True))
    (config_dir / "Ultralytics").mkdir(exist_ok=True)
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        for target in (config_dir / name, config_dir / "Ultralytics" / name):
            if not target.exists():
                write_atomic(target, lambda tmp: shutil.copyfile(source, tmp))  # noqa: B023 (called at once)
    return config_dir


def import_ultralytics():
    """The `ultralytics` module, imported offline-safe: settings folder and fonts first, Pillow's open restored.

    Importing ultralytics replaces PIL.Image.open with a wrapper that, on an unreadable image, tries to install
    pi-heif (ModuleNotFoundError offline instead of UnidentifiedImageError): Pillow's own is put back.
    """
    prepare_ultralytics()
    configure_offline()
    import ultralytics
    from PIL import Image
    from ultralytics.utils import patches

    Image.open = getattr(patches, "_image_open", Image.open)
    return ultralytics


@contextlib.contextmanager
def keep_torch_threads() -> Iterator[None]:
    """Undo what ultralytics does to the whole process on the CPU: torch.set_num_threads(cpu_count - 1).

    ultralytics' select_device leaves a core free for its data loaders, process-wide and for good: on a 2-core
    laptop every later torch model (our classifier, the reference's detector) would run on one thread.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
