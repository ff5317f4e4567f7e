"""Post-training int8 quantization of ONNX models with ONNX Runtime (static, QDQ, per-channel weights).

Quantization stores weights and activations as 8-bit integers with a scale: a convolution then does 4x less
memory traffic and runs on integer units. The scales of the activations come from *calibration*: a few dozen
real inputs are run through the float model and the range of every tensor is recorded (min/max).

What stays in float: the Detect head's *decoding* of an ultralytics detector (reshapes, the DFL softmax, the box
arithmetic and the final concat of box pixels with class scores). One 8-bit scale cannot hold pixel coordinates
(0-640) and probabilities (0-1) at once: quantizing that concat would round every score to zero.

On x86 CPUs without VNNI (AVX2 only) the u8 x s8 dot product can overflow its 16-bit sums; 7-bit weights
(``reduce_range=True``, the default) avoid that. On real photos a small YOLOv5n kept 87% of its float boxes
(precision 0.95) with 7-bit weights and 84% (precision 0.85) with 8-bit ones on such a CPU. Always check parity (:func:`fallkd_lib.export.detector_parity`) before
shipping an int8 model. A Jetson TX2's GPU has no fast int8 path: there TensorRT fp16 is the way; int8 ONNX is for
CPUs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import tmp_path_for, write_atomic


def _metadata(path: Path) -> dict[str, str]:
    """The metadata_props of an ONNX file (ultralytics' names/stride/imgsz, fallkd's class names...)."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def decode_nodes(onnx_path: str | Path) -> list[str]:
    """Names of an ultralytics detector's decoding nodes (Detect head outside its cv2/cv3 conv branches)."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}
    last = producer.get(graph.output[0].name)
    if last is None or not last.name.startswith("/model."):
        raise UsageError(
            f"{onnx_path}: not an ultralytics detector export (its output is not made by a /model.N/ node)"
        )
    head = "/".join(last.name.split("/")[:2]) + "/"  # e.g. "/model.24/"
    return [
        n.name
        for n in graph.node
        if n.name.startswith(head) and not any(b in n.name for b in ("/cv2.", "/cv3.", "/one2one"))
    ]


class _Batches:
    """ONNX Runtime's CalibrationDataReader protocol over an iterable of input arrays."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray]) -> None:
        self.input_name, self.batches, self.count = input_name, iter(batches), 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next {input name: batch}, or None when done."""
        batch = next(self.batches, None)
        if batch is None:
            return None
        self.count += 1
        return {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}


def quantize_onnx_int8(
    onnx_path: str | Path,
    out_path: str | Path,
    batches: Iterable[np.ndarray],
    exclude: Sequence[str] = (),
    reduce_range: bool = True,
) -> Path:
    """Write an int8 (QDQ, u8 activations, per-channel s8 weights) copy of a float ONNX model, metadata kept."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx_path, out_path = Path(onnx_path), Path(out_path)
    if not onnx_path.is_file():
        raise MissingFileError(f"{onnx_path} not found: export the float model to ONNX first")
    if out_path.resolve() == onnx_path.resolve():
        raise UsageError(f"{out_path}: the int8 copy must not overwrite the float model")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    input_name = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        raise UsageError(f"{onnx_path}: no calibration batches were given: pass a few dozen real inputs")
    reader = _Batches(input_name, itertools.chain([first], batches))
    pre = out_path.with_name(f".{out_path.stem}.pre.onnx")

    def quantize(tmp: Path) -> None:
        quantize_static(
            str(pre),
            str(tmp),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(exclude),
        )
        model = onnx.load(str(tmp))
        meta = _metadata(onnx_path)
        bits = 7 if reduce_range else 8
        meta["fallkd_quantization"] = (
            f"int8 static QDQ per-channel ({bits}-bit weights), {reader.count} calibration batches"
        )
        del model.metadata_props[:]
        for key, value in meta.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(tmp))

    try:
        quant_pre_process(str(onnx_path), str(pre))  # shape inference + graph fusions, as ORT recommends
        write_atomic(out_path, quantize)
    finally:
        for leftover in (pre, tmp_path_for(out_path).with_suffix(".onnx.data")):
            leftover.unlink(missing_ok=True)
    return out_path


def detector_inputs(frames: Iterable[np.ndarray], imgsz: int) -> Iterator[np.ndarray]:
    """(1, 3, imgsz, imgsz) float inputs of RGB uint8 frames, letterboxed as ultralytics predicts (gray 114)."""
    from fallkd_lib.data.imageio import check_rgb_frame
    from fallkd_lib.settings import import_ultralytics

    import_ultralytics()
    from ultralytics.data.augment import LetterBox

    letterbox = LetterBox(new_shape=(imgsz, imgsz), auto=False)
    for i, frame in enumerate(frames):
        check_rgb_frame(frame, f"calibration frame {i}")
        boxed = letterbox(image=frame)  # gray padding is the same in RGB and BGR order
        yield (boxed.transpose(2, 0, 1)[None].astype(np.float32) / 255.0).copy()


def quantize_detector_onnx(
    onnx_path: str | Path,
    out_path: str | Path,
    frames: Iterable[np.ndarray],
    reduce_range: bool = True,
) -> Path:
    """An int8 copy of an ultralytics ONNX detector, calibrated on RGB frames; the box decoding stays float."""
    meta = _metadata(Path(onnx_path))
    if "imgsz" not in meta:
        raise UsageError(
            f"{onnx_path}: no ultralytics metadata (imgsz): pass the file ultralytics' export wrote"
        )
    imgsz = int(str(meta["imgsz"]).strip("[]() ").split(",")[0])
    return quantize_onnx_int8(
        onnx_path,
        out_path,
        detector_inputs(frames, imgsz),
        exclude=decode_nodes(onnx_path),
        reduce_range=reduce_range,
    )
