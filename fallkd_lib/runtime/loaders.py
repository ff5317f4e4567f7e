"""Load a trained model for inference, with the settings it carries: the one place the camera pipeline, the export
and the evaluations get their models from.

Nothing here imports fallkd's training code; ultralytics is imported only when a detector is loaded (through
`fallkd_lib.settings.import_ultralytics`, so its settings, fonts and offline switches are in place first).
"""

from __future__ import annotations

import ast
import contextlib
import pickletools
import zipfile
from pathlib import Path

from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.runtime.classifier import CLASSIFIER_HINT, ClassifierRuntime, OnnxClassifier, TorchClassifier

DETECTOR_HINT = "pass the detector's weights/best.pt (from train_detector) or its ultralytics ONNX export"
ASSETS = Path(__file__).resolve().parents[1] / "assets"
SHIPPED_DETECTOR = ASSETS / "person_detector_320.onnx"  # trained on the synthetic world; see its model card
SHIPPED_CARD = ASSETS / "person_detector_320.json"


def shipped_detector() -> Path:
    """The person detector that ships with fallkd (ONNX, 320 px, synthetic scenes only): the quick profile's."""
    if not SHIPPED_DETECTOR.is_file():
        raise MissingFileError(
            f"{SHIPPED_DETECTOR} is missing from this installation: rebuild it with "
            "`python scripts/build_shipped_detector.py`, or pass your own detector"
        )
    return SHIPPED_DETECTOR


def tracker_config(name: str) -> str:
    """The tracker yaml to hand ultralytics: a file of fallkd_lib/assets by name, else the name (ultralytics' own
    configs such as bytetrack.yaml, or a path)."""
    own = ASSETS / name
    return str(own) if "/" not in name and own.is_file() else name


def shipped_detector_card() -> dict:
    """The shipped detector's model card (person_detector_320.json): command, data, metrics, versions."""
    import json

    with open(SHIPPED_CARD, encoding="utf-8") as f:
        return json.load(f)


def pickle_strings(path: Path) -> set[str] | None:
    """The strings named in a torch.save archive's pickle (read without running it), or None if it is no archive."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        pkl = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
        if pkl is None:
            return None
        data = archive.read(pkl)
    strings: set[str] = set()
    with contextlib.suppress(Exception):
        for _, arg, _ in pickletools.genops(data):
            if isinstance(arg, str):
                strings.add(arg)
    return strings


def _onnx_metadata(path: Path, hint: str) -> dict[str, str]:
    import onnx  # only needed for .onnx files

    try:
        graph = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise UsageError(f"{path} is not a readable ONNX model ({type(exc).__name__}): {hint}") from exc
    return {p.key: p.value for p in graph.metadata_props}


def check_detector_file(path: Path) -> None:
    """Raise a clear error when `path` is not an ultralytics detector checkpoint or ONNX export."""
    if not path.is_file():
        raise MissingFileError(f"{path} not found: {DETECTOR_HINT}")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        if "names" not in _onnx_metadata(path, DETECTOR_HINT):
            raise UsageError(
                f"{path} is an ONNX model without ultralytics' metadata (names, stride): {DETECTOR_HINT}"
            )
        return
    if suffix != ".pt":
        raise UsageError(
            f"{path}: expected a .pt or .onnx file, got {suffix or 'no suffix'!r}: {DETECTOR_HINT}"
        )
    strings = pickle_strings(path)
    if strings is None:
        raise UsageError(f"{path} is not a PyTorch checkpoint (torch.save archive): {DETECTOR_HINT}")
    if "fallkd-checkpoint" in strings:
        raise UsageError(
            f"{path}: this looks like a fallkd classifier checkpoint, not a detector: {DETECTOR_HINT}"
        )
    if not any(s.startswith("ultralytics") for s in strings):
        raise UsageError(
            f"{path} is a PyTorch file but not an ultralytics detector checkpoint (a classifier checkpoint or a "
            f"plain state_dict?): {DETECTOR_HINT}"
        )


def load_detector(path: str | Path) -> object:
    """An ultralytics YOLO detector from a .pt checkpoint or an ultralytics .onnx export (clear errors otherwise)."""
    from fallkd_lib.settings import import_ultralytics

    path = Path(path)
    check_detector_file(path)
    yolo = import_ultralytics().YOLO(str(path), task="detect")
    if yolo.task != "detect":
        raise UsageError(f"{path} is a YOLO {yolo.task!r} model, not a detector: pass the detector's best.pt")
    yolo.fallkd_source = path  # where it came from, for detector_input_size
    return yolo


def _side(value: object) -> int | None:
    """One square side from ultralytics' imgsz (an int, a list [h, w], or its text)."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(value)
    if isinstance(value, list | tuple) and value:
        value = max(int(v) for v in value)
    return int(value) if isinstance(value, int | float) and value > 0 else None


def detector_input_size(detector: object) -> int | None:
    """The input side a detector was trained (checkpoint) or exported (ONNX) at; None when it does not say."""
    source = getattr(detector, "fallkd_source", None)
    if source is not None and Path(source).suffix.lower() == ".onnx":
        return _side(_onnx_metadata(Path(source), DETECTOR_HINT).get("imgsz"))
    overrides = getattr(detector, "overrides", None) or {}
    return _side(overrides.get("imgsz")) if isinstance(overrides, dict) else None


def _is_ultralytics_file(path: Path) -> bool:
    strings = pickle_strings(path) or set()
    return any(s.startswith("ultralytics") for s in strings) and "fallkd-checkpoint" not in strings


def load_classifier(path: str | Path, device: str | None = None) -> ClassifierRuntime:
    """A classifier runtime chosen by file type: run folder / fallkd .pt -> torch, .onnx -> ONNX Runtime."""
    path = Path(path)
    if path.is_dir():
        if not (path / "best.pt").is_file():
            raise MissingFileError(f"{path} is a folder without best.pt: {CLASSIFIER_HINT}")
        return TorchClassifier.from_checkpoint(path / "best.pt", device)
    if not path.is_file():
        raise MissingFileError(f"classifier {path} not found: {CLASSIFIER_HINT}")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return OnnxClassifier.from_file(path, device)
    if suffix in (".pt", ".pth"):
        if _is_ultralytics_file(path):
            raise UsageError(
                f"{path}: this is an ultralytics detector checkpoint, not a classifier: pass it as --detector; "
                f"{CLASSIFIER_HINT}"
            )
        return TorchClassifier.from_checkpoint(path, device)
    raise UsageError(
        f"{path}: expected a run folder, a .pt checkpoint or an .onnx file, got {suffix or 'no suffix'!r}: "
        f"{CLASSIFIER_HINT}"
    )
