"""Classifier backends for the camera: a fallkd torch checkpoint or its ONNX export, one batched call per frame.

`load_classifier(path)` picks the backend from the file: a run folder or a fallkd ``.pt`` checkpoint runs in
torch, an ``.onnx`` export (see :mod:`fallkd_lib.export.onnx`) in ONNX Runtime. Both take the uint8 RGB crops
that :func:`fallkd_lib.data.crops.crop_people` cuts, resize them to the model's image size when needed,
normalise them with the model's own mean/std (the eval transform of training) and return class probabilities.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fallkd_lib.errors import MissingFileError, UsageError

CLASSIFIER_HINT = (
    "pass a classifier run folder (holding best.pt, from `fallkd train-cls` or `fallkd distill`), its best.pt, "
    "or its ONNX export (fallkd_lib.export.export_classifier_onnx)"
)


def preprocess(
    crops: np.ndarray,
    image_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """(N, S, S, 3) uint8 RGB crops -> (N, 3, image_size, image_size) float32, resized and normalised as a batch."""
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
        raise UsageError(
            f"crops must be an (N, S, S, 3) uint8 RGB array (from crop_people), got {crops.dtype} {crops.shape}"
        )
    # uint8 goes to the device (4x less to copy than float32); the arithmetic runs there, as one batch
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (image_size, image_size) and len(x):
        x = F.interpolate(
            x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False
        )
        x = x.round().clamp_(0, 255)  # training resized uint8 images: same rounding
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1) * 255.0
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1) * 255.0
    return (x - m) / s


def fall_class_index(class_names: list[str], source: str | Path) -> int:
    """Index of the 'fall' class (exact name first, else the only name containing 'fall')."""
    if "fall" in class_names:
        return class_names.index("fall")
    matches = [i for i, name in enumerate(class_names) if "fall" in name.lower()]
    if len(matches) == 1:
        return matches[0]
    raise UsageError(
        f"{source}: cannot tell which class is the fall among {class_names}; train on fall/normal crops"
    )


@dataclasses.dataclass
class ClassifierRuntime:
    """What the pipeline needs from a classifier: class names, input size, fall index and batched predict."""

    class_names: list[str]
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    model_name: str
    source: str
    backend: str = "base"

    @property
    def fall_index(self) -> int:
        """Column of the fall probability in predict()'s output."""
        return fall_class_index(self.class_names, self.source)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(N, C) raw scores of a normalised (N, 3, S, S) float32 batch."""
        raise NotImplementedError

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """(N, C) class probabilities of (N, S, S, 3) uint8 RGB crops, in one batched model call."""
        crops = np.asarray(crops)
        if crops.ndim == 4 and len(crops) == 0:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        batch = preprocess(crops, self.image_size, self.mean, self.std, getattr(self, "device", "cpu"))
        logits = torch.from_numpy(np.asarray(self.logits(batch), dtype=np.float32))
        return torch.softmax(logits, dim=1).numpy()


@dataclasses.dataclass
class TorchClassifier(ClassifierRuntime):
    """A fallkd checkpoint run in torch (eval mode, no grad) on `device`."""

    model: nn.Module | None = None
    device: str = "cpu"
    backend: str = "torch"

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | None = None) -> TorchClassifier:
        """Rebuild the classifier of a run folder / checkpoint (architecture and classes from the checkpoint)."""
        from fallkd_lib.config import TrainConfig
        from fallkd_lib.models import input_stats
        from fallkd_lib.train.checkpoint import read_checkpoint
        from fallkd_lib.train.recipes import load_trained

        path = Path(path)
        ckpt = read_checkpoint(path)
        saved = ckpt.get("config") or {}
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        cfg = TrainConfig(**{k: v for k, v in saved.items() if k in known})
        name = str(saved.get("model"))  # recipes record the architecture they trained
        model = load_trained(path, cfg, name=name)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        mean, std = input_stats(model)
        names = list(ckpt.get("class_names") or [str(i) for i in range(ckpt["num_classes"])])
        if torch.device(device).type == "cpu":  # NHWC convolutions: 10-25% faster on CPU for 3-8 crops
            model = model.to(memory_format=torch.channels_last)
        return cls(
            names,
            int(cfg.image_size),
            mean,
            std,
            str(name),
            str(path),
            model=model.eval().to(device),
            device=device,
        )

    @classmethod
    def from_module(
        cls, model: nn.Module, class_names: list[str], image_size: int, device: str = "cpu", name: str = ""
    ) -> TorchClassifier:
        """Wrap an in-memory classifier (mean/std from its pretrained_cfg)."""
        from fallkd_lib.models import input_stats

        mean, std = input_stats(model)
        return cls(
            list(class_names),
            int(image_size),
            mean,
            std,
            name or type(model).__name__,
            "<module>",
            model=model.eval().to(device),
            device=device,
        )

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        """Run the model on one batch."""
        with torch.inference_mode():
            return self.model(torch.as_tensor(batch, device=self.device)).float().cpu().numpy()


@dataclasses.dataclass
class OnnxClassifier(ClassifierRuntime):
    """An exported classifier run by ONNX Runtime (CUDA when available, else CPU)."""

    session: object = None
    backend: str = "onnxruntime"

    @classmethod
    def from_file(cls, path: str | Path, device: str | None = None) -> OnnxClassifier:
        """Open the .onnx file; preprocessing settings come from its metadata."""
        import onnxruntime as ort

        from fallkd_lib.export.onnx import read_onnx_metadata

        path = Path(path)
        try:
            meta = read_onnx_metadata(path)
        except ValueError:
            raise
        except Exception as exc:  # protobuf decode errors and the like
            raise UsageError(
                f"{path} is not a readable ONNX model ({type(exc).__name__}): {CLASSIFIER_HINT}"
            ) from exc
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "0"
        )  # leave the CPU to the detector
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        return cls(
            list(meta["class_names"]),
            int(meta["image_size"]),
            tuple(meta["mean"]),
            tuple(meta["std"]),
            str(meta["model"]),
            str(path),
            session=session,
        )

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        """Run the session on one batch."""
        x = np.ascontiguousarray(torch.as_tensor(batch).cpu().numpy(), dtype=np.float32)
        return self.session.run(None, {self.session.get_inputs()[0].name: x})[0]


def _is_ultralytics_file(path: Path) -> bool:
    from fallkd_lib.detect.detector_data import _pickle_strings

    strings = _pickle_strings(path) or set()
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
