"""The int8 calibration cache that `trtexec --int8 --calib=FILE` reads, written by fallkd from the camera's own
frames: the range of every tensor of the detector, measured with ONNX Runtime (min/max over the frames) and stored
as TensorRT's per-tensor scale (max |value| / 127, the float32 bits in hex).

An int8 engine on a TX2 is rarely faster than fp16 (its Pascal GPU has no fast int8 path; see README.md); the
cache is there for Xavier/Orin boards, and to compare.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fallkd_lib.edge.yolo import detector_input

CACHE_HEADER = "TRT-8201-EntropyCalibration2"  # TensorRT 8.2.1's entropy calibrator (JetPack 4.6)


def tensor_ranges(onnx_path: str | Path, frames: Sequence[np.ndarray], size: int) -> dict[str, float]:
    """max |value| of every float tensor of the model over the frames (letterboxed as the camera does)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(onnx_path))
    known = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in known:
                model.graph.output.append(onnx.ValueInfoProto(name=name))
                known.add(name)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "all_outputs.onnx"
        onnx.save(model, str(path))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        amax = dict.fromkeys([session.get_inputs()[0].name, *names], 0.0)
        for frame in frames:
            x = detector_input(frame, size)
            amax[session.get_inputs()[0].name] = max(
                amax[session.get_inputs()[0].name], float(np.abs(x).max())
            )
            for name, value in zip(names, session.run(names, {session.get_inputs()[0].name: x}), strict=True):
                if np.issubdtype(np.asarray(value).dtype, np.floating) and np.size(value):
                    amax[name] = max(amax[name], float(np.abs(value).max()))
    return {name: value for name, value in amax.items() if value > 0}


def write_calibration_cache(
    onnx_path: str | Path, frames: Sequence[np.ndarray], size: int, out: str | Path
) -> Path:
    """Write TensorRT's calibration cache of the detector from the camera's frames."""
    lines = [CACHE_HEADER]
    for name, amax in tensor_ranges(onnx_path, frames, size).items():
        scale = struct.unpack(">I", struct.pack(">f", amax / 127.0))[0]
        lines.append(f"{name}: {scale:08x}")
    Path(out).write_text("\n".join(lines) + "\n", encoding="ascii")
    return Path(out)
