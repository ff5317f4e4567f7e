"""Export a trained fallkd classifier to ONNX (dynamic batch) with everything a runtime needs in its metadata.

The metadata_props hold ``class_names`` and ``model`` (the fallkd architecture name) as JSON, and ``input``: the
`ClassifierInput` (crop geometry, input side, mean/std) the model was trained with, so
:func:`fallkd_lib.runtime.loaders.load_classifier` runs the .onnx file alone, cutting and normalising people
exactly as the torch checkpoint does.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import write_atomic
from fallkd_lib.models.inputs import ClassifierInput
from fallkd_lib.runtime.classifier import ONNX_METADATA_KEYS, TorchClassifier
from fallkd_lib.runtime.classifier import read_onnx_metadata as read_onnx_metadata


def _run_checkpoint(run_dir_or_checkpoint: str | Path) -> Path:
    """The best.pt of a run folder, or the checkpoint file itself."""
    path = Path(run_dir_or_checkpoint)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise MissingFileError(
            f"{path} not found: pass a classifier run folder (holding best.pt, from `fallkd train-cls`) "
            "or the checkpoint file"
        )
    return path


def export_classifier_onnx(
    classifier: str | Path | TorchClassifier,
    out_path: str | Path,
    opset: int = 17,
) -> Path:
    """Write a classifier (run folder, best.pt, or a TorchClassifier) to ONNX with a dynamic batch axis."""
    import onnx

    if isinstance(classifier, nn.Module):
        raise UsageError(
            "export a trained classifier (run folder, best.pt) or a TorchClassifier.from_module(model, class_names, "
            "ClassifierInput(...)): a bare module does not say how its inputs were cut and normalised"
        )
    runtime = (
        classifier
        if isinstance(classifier, TorchClassifier)
        else TorchClassifier.from_checkpoint(_run_checkpoint(classifier), device="cpu")
    )
    model = (
        copy.deepcopy(runtime.model).cpu().to(memory_format=torch.contiguous_format)
    )  # the runtime's stays
    meta = {"class_names": runtime.class_names, "model": runtime.model_name, "input": runtime.input.to_dict()}
    assert set(meta) == set(ONNX_METADATA_KEYS)
    size = runtime.input.image_size
    dummy = torch.zeros(2, 3, size, size)

    def export(tmp: Path) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is deprecated, not gone
            torch.onnx.export(
                model,
                (dummy,),
                str(tmp),
                input_names=["images"],
                output_names=["logits"],
                dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=opset,
                dynamo=False,  # the new exporter needs onnxscript, which the course does not install
            )
        graph = onnx.load(str(tmp))
        for key, value in meta.items():
            graph.metadata_props.add(key=key, value=json.dumps(value))
        onnx.save(graph, str(tmp))

    return write_atomic(out_path, export)


def check_onnx_parity(model: nn.Module, onnx_path: str | Path, batch: torch.Tensor | np.ndarray) -> float:
    """Max absolute difference between the torch model's and ONNX Runtime's logits on one normalised batch."""
    import onnxruntime as ort

    x = torch.as_tensor(np.asarray(batch, dtype=np.float32))
    with torch.no_grad():
        expected = model.eval().cpu()(x).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    return float(np.max(np.abs(expected - got))) if expected.size else 0.0


__all__ = ["ClassifierInput", "check_onnx_parity", "export_classifier_onnx", "read_onnx_metadata"]
