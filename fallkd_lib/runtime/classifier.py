"""Classifier backends for the camera: a fallkd torch checkpoint or its ONNX export, one batched call per frame.

Both carry the `ClassifierInput` the model was trained with (crop geometry, input side, mean/std): the pipeline
cuts people with its crop spec, and `predict` resizes the uint8 RGB crops to the input side and normalises them
exactly as training's eval transform did. Loading by path is `fallkd_lib.runtime.loaders.load_classifier`.

An exported classifier's ONNX metadata holds ``class_names`` and ``model`` (JSON) and ``input`` (the
ClassifierInput as JSON), written by :func:`fallkd_lib.export.onnx.export_classifier_onnx`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fallkd_lib.data.geometry import CropSpec
from fallkd_lib.errors import UsageError
from fallkd_lib.models.inputs import ClassifierInput

ONNX_METADATA_KEYS = ("class_names", "model", "input")
CLASSIFIER_HINT = (
    "pass a classifier run folder (holding best.pt, from `fallkd train-cls` or `fallkd distill`), its best.pt, "
    "or its ONNX export (fallkd_lib.export.export_classifier_onnx)"
)


def preprocess(
    crops: np.ndarray, model_input: ClassifierInput, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """(N, S, S, 3) uint8 RGB crops -> (N, 3, size, size) float32, resized and normalised as a batch."""
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
        raise UsageError(
            f"crops must be an (N, S, S, 3) uint8 RGB array (from crop_people), got {crops.dtype} {crops.shape}"
        )
    size = model_input.image_size
    # uint8 goes to the device (4x less to copy than float32); the arithmetic runs there, as one batch
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (size, size) and len(x):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x.round().clamp_(0, 255)  # training resized uint8 images: same rounding
    m = torch.tensor(model_input.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1) * 255.0
    s = torch.tensor(model_input.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1) * 255.0
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
    """What the pipeline needs from a classifier: class names, input settings, fall index and batched predict."""

    class_names: list[str]
    input: ClassifierInput
    model_name: str
    source: str
    backend: str = "base"

    @property
    def fall_index(self) -> int:
        """Column of the fall probability in predict()'s output."""
        return fall_class_index(self.class_names, self.source)

    @property
    def crop(self) -> CropSpec:
        """How people must be cut for this model (the crops it was trained on)."""
        return self.input.crop

    @property
    def image_size(self) -> int:
        """The model's input side."""
        return self.input.image_size

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        """(N, C) raw scores of a normalised (N, 3, S, S) float32 batch."""
        raise NotImplementedError

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """(N, C) class probabilities of (N, S, S, 3) uint8 RGB crops, in one batched model call."""
        crops = np.asarray(crops)
        if crops.ndim == 4 and len(crops) == 0:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        batch = preprocess(crops, self.input, getattr(self, "device", "cpu"))
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
        """Rebuild the classifier of a run folder / checkpoint: architecture, classes and input from the file."""
        from fallkd_lib.models.trained import checkpoint_input, load_trained_classifier

        model, ckpt = load_trained_classifier(path)
        model_input = checkpoint_input(ckpt, path)
        names = list(ckpt.get("class_names") or [str(i) for i in range(ckpt["num_classes"])])
        return cls.from_module(model, names, model_input, device, str(ckpt["config"]["model"]), str(path))

    @classmethod
    def from_module(
        cls,
        model: nn.Module,
        class_names: list[str],
        model_input: ClassifierInput,
        device: str | None = None,
        name: str = "",
        source: str = "<module>",
    ) -> TorchClassifier:
        """Wrap an in-memory classifier with the input settings it was trained with."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if torch.device(device).type == "cpu":  # NHWC convolutions: 10-25% faster on CPU for 3-8 crops
            model = model.to(memory_format=torch.channels_last)
        return cls(
            list(class_names),
            model_input,
            name or type(model).__name__,
            source,
            model=model.eval().to(device),
            device=device,
        )

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        """Run the model on one batch."""
        with torch.inference_mode():
            return self.model(torch.as_tensor(batch, device=self.device)).float().cpu().numpy()


def read_onnx_metadata(onnx_path: str | Path) -> dict:
    """The fallkd metadata of an exported classifier: class_names, model and input (a ClassifierInput)."""
    import onnx

    path = Path(onnx_path)
    try:
        graph = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors and the like
        raise UsageError(
            f"{path} is not a readable ONNX model ({type(exc).__name__}): {CLASSIFIER_HINT}"
        ) from exc
    props = {p.key: p.value for p in graph.metadata_props}
    missing = [k for k in ONNX_METADATA_KEYS if k not in props]
    if missing:
        hint = (
            "this is an ultralytics detector export, not a classifier: pass it as --detector"
            if "names" in props and "stride" in props
            else "export the classifier with fallkd_lib.export.export_classifier_onnx"
        )
        raise UsageError(f"{path} has no fallkd classifier metadata (missing {', '.join(missing)}): {hint}")
    meta = {k: json.loads(props[k]) for k in ONNX_METADATA_KEYS}
    meta["input"] = ClassifierInput.from_dict(meta["input"], path)
    return meta


@dataclasses.dataclass
class OnnxClassifier(ClassifierRuntime):
    """An exported classifier run by ONNX Runtime (CUDA when available, else CPU)."""

    session: object = None
    backend: str = "onnxruntime"

    @classmethod
    def from_file(cls, path: str | Path, device: str | None = None) -> OnnxClassifier:
        """Open the .onnx file; class names and input settings come from its metadata."""
        import onnxruntime as ort

        path = Path(path)
        meta = read_onnx_metadata(path)
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "0"
        )  # leave the CPU to the detector
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        return cls(list(meta["class_names"]), meta["input"], str(meta["model"]), str(path), session=session)

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        """Run the session on one batch."""
        x = np.ascontiguousarray(torch.as_tensor(batch).cpu().numpy(), dtype=np.float32)
        return self.session.run(None, {self.session.get_inputs()[0].name: x})[0]
