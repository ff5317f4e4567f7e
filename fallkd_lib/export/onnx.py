"""Export a trained fallkd classifier to ONNX (dynamic batch) with everything a runtime needs in its metadata.

The metadata_props hold ``class_names`` (JSON list), ``image_size``, ``mean`` and ``std`` (JSON lists) and
``model`` (the fallkd architecture name), so :func:`fallkd_lib.detect.runtime.load_classifier` can run the .onnx
file alone, with the same preprocessing as the torch checkpoint.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fallkd_lib.errors import MissingFileError, UsageError

METADATA_KEYS = ("class_names", "image_size", "mean", "std", "model")


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
    run_dir_or_checkpoint: str | Path | nn.Module,
    out_path: str | Path,
    opset: int = 17,
    metadata: dict | None = None,
) -> Path:
    """Write a classifier (run folder, best.pt, or a module with `metadata`) to ONNX with a dynamic batch axis."""
    import onnx

    if isinstance(run_dir_or_checkpoint, nn.Module):
        if not metadata or not {"class_names", "image_size"} <= set(metadata):
            raise UsageError(
                "exporting a bare module needs metadata with at least class_names and image_size"
            )
        from fallkd_lib.models import input_stats

        model = run_dir_or_checkpoint.eval()
        mean, std = input_stats(model)
        meta = {"mean": list(mean), "std": list(std), "model": type(model).__name__, **metadata}
    else:
        from fallkd_lib.detect.runtime import TorchClassifier

        runtime = TorchClassifier.from_checkpoint(_run_checkpoint(run_dir_or_checkpoint), device="cpu")
        model = runtime.model
        meta = {
            "class_names": runtime.class_names,
            "image_size": runtime.image_size,
            "mean": list(runtime.mean),
            "std": list(runtime.std),
            "model": runtime.model_name,
            **(metadata or {}),
        }
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    size = int(meta["image_size"])
    dummy = torch.zeros(2, 3, size, size)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is deprecated, not gone
            torch.onnx.export(
                model.cpu(),
                (dummy,),
                str(tmp),
                input_names=["images"],
                output_names=["logits"],
                dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=opset,
                dynamo=False,  # the new exporter needs onnxscript, which the course does not install
            )
        graph = onnx.load(str(tmp))
        for key in METADATA_KEYS:
            entry = graph.metadata_props.add()
            entry.key, entry.value = key, json.dumps(meta[key])
        onnx.save(graph, str(tmp))
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def read_onnx_metadata(onnx_path: str | Path) -> dict:
    """The fallkd metadata of an exported classifier (class_names, image_size, mean, std, model)."""
    import onnx

    path = Path(onnx_path)
    graph = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in graph.metadata_props}
    missing = [k for k in METADATA_KEYS if k not in props]
    if missing:
        hint = (
            "this is an ultralytics detector export, not a classifier: pass it as --detector"
            if "names" in props and "stride" in props
            else "export the classifier with fallkd_lib.export.export_classifier_onnx"
        )
        raise UsageError(f"{path} has no fallkd classifier metadata (missing {', '.join(missing)}): {hint}")
    return {k: json.loads(props[k]) for k in METADATA_KEYS}


def check_onnx_parity(model: nn.Module, onnx_path: str | Path, batch: torch.Tensor | np.ndarray) -> float:
    """Max absolute difference between the torch model's and ONNX Runtime's logits on one normalised batch."""
    import onnxruntime as ort

    x = torch.as_tensor(np.asarray(batch, dtype=np.float32))
    with torch.no_grad():
        expected = model.eval().cpu()(x).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    return float(np.max(np.abs(expected - got))) if expected.size else 0.0
