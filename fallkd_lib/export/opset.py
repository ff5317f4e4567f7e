"""ONNX opset for the Jetson: TensorRT 8.2 (JetPack 4.6) parses opsets up to 13, so the bundle's models are written
at opset 13, read back from the file, and an export at a higher opset is lowered or refused.

`lower_opset` first asks onnx's version converter; when it has no adapter (it cannot lower Shape-15 or
Reshape-14, which every ultralytics export at opset 18 holds), it rewrites the graph itself, but only for operators
whose opset-13 form computes the same thing given the attributes the node uses (Reshape without allowzero, Shape
without start/end, Resize without antialias...). Anything else is a clear error, never a silent change; the
numbers of the lowered model are then checked against the original by the bundle's parity step.
"""

from __future__ import annotations

from pathlib import Path

from fallkd_lib.edge.onnx_info import MAX_OPSET, onnx_opset
from fallkd_lib.errors import UsageError

# operators whose definition is the same from opset 13 up to 18 for float tensors, whatever their attributes
_SAME = {
    "Abs", "Add", "ArgMax", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "Conv",
    "ConvTranspose", "Div", "Equal", "Erf", "Exp", "Expand", "Flatten", "Gather", "Gemm", "GlobalAveragePool",
    "GlobalMaxPool", "Greater", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "Less", "Log", "MatMul",
    "Max", "MaxPool", "Min", "Mul", "Neg", "Pow", "Range", "Reciprocal", "Relu", "Sigmoid", "Slice", "Softmax",
    "Sqrt", "Squeeze", "Sub", "Tanh", "Tile", "Transpose", "Unsqueeze", "Where",
}  # fmt: skip
# operators that are the same at opset 13 when these attributes are absent or hold these defaults
_DEFAULTS = {
    "Reshape": {"allowzero": 0},
    "Shape": {"start": None, "end": None},
    "Resize": {"antialias": 0, "axes": None, "keep_aspect_ratio_policy": b"stretch"},
}


def _rewrite(model: object, target: int, source: str) -> object:
    """A copy of model at `target` with attributes that opset does not know removed (only when at their defaults)."""
    import onnx

    lowered = onnx.ModelProto()
    lowered.CopyFrom(model)
    for node in lowered.graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise UsageError(
                f"{source}: custom operator {node.domain}.{node.op_type} cannot go to TensorRT 8.2"
            )
        if node.op_type in _SAME:
            continue
        if node.op_type not in _DEFAULTS:
            raise UsageError(
                f"{source}: cannot lower operator {node.op_type} (node {node.name!r}) to opset {target}; export the "
                "model from its checkpoint (.pt) at opset 13 instead"
            )
        defaults = _DEFAULTS[node.op_type]
        keep = []
        for attr in node.attribute:
            if attr.name in defaults:
                value = onnx.helper.get_attribute_value(attr)
                if defaults[attr.name] is None or value != defaults[attr.name]:
                    raise UsageError(
                        f"{source}: {node.op_type} node {node.name!r} uses {attr.name}={value!r}, which opset "
                        f"{target} lacks; export the model from its checkpoint (.pt) at opset 13 instead"
                    )
                continue
            keep.append(attr)
        del node.attribute[:]
        node.attribute.extend(keep)
    for opset in lowered.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = target
    lowered.ir_version = min(lowered.ir_version, 7)  # opset 13's IR version (onnx 1.8)
    return lowered


def lower_opset(model: object, target: int = MAX_OPSET, source: str = "model") -> object:
    """The ONNX model at opset `target` (the same model when it is there already), checked by onnx."""
    import onnx
    from onnx import version_converter

    current = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if current <= target:
        return model
    try:
        lowered = version_converter.convert_version(model, target)
    except (RuntimeError, onnx.checker.ValidationError):
        lowered = _rewrite(model, target, source)
    lowered.ir_version = min(lowered.ir_version, 7)
    del lowered.metadata_props[:]
    lowered.metadata_props.extend(model.metadata_props)
    try:
        onnx.checker.check_model(lowered, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise UsageError(f"{source}: the model lowered to opset {target} is not valid ONNX: {exc}") from exc
    return lowered


def check_opset(path: str | Path, limit: int = MAX_OPSET) -> int:
    """The opset read back from an ONNX file; a UsageError naming the file when it is above limit."""
    opset = onnx_opset(path)
    if opset is None or opset > limit:
        raise UsageError(
            f"{path} was written at ONNX opset {opset}, above {limit}: TensorRT 8.2 (JetPack 4.6) reads up to "
            f"{limit}; this is a bug in the export, please report it"
        )
    return int(opset)
