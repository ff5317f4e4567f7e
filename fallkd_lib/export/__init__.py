"""Export trained models for deployment: ONNX (metadata inside), detector export, int8 quantization, parity."""

from __future__ import annotations

from fallkd_lib.export.classifier_int8 import compare_classifiers, quantize_classifier_onnx, read_crop_split
from fallkd_lib.export.detector import box_agreement, detector_parity, detector_speed, export_detector_onnx
from fallkd_lib.export.onnx import check_onnx_parity, export_classifier_onnx, read_onnx_metadata
from fallkd_lib.export.quantize import quantize_detector_onnx, quantize_onnx_int8

__all__ = [
    "box_agreement",
    "check_onnx_parity",
    "compare_classifiers",
    "detector_parity",
    "detector_speed",
    "export_classifier_onnx",
    "export_detector_onnx",
    "quantize_classifier_onnx",
    "quantize_detector_onnx",
    "quantize_onnx_int8",
    "read_crop_split",
    "read_onnx_metadata",
]
