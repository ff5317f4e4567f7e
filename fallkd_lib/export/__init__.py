"""Export trained classifiers for deployment (ONNX, with the preprocessing settings in the file's metadata)."""

from __future__ import annotations

from fallkd_lib.export.onnx import check_onnx_parity, export_classifier_onnx, read_onnx_metadata

__all__ = ["check_onnx_parity", "export_classifier_onnx", "read_onnx_metadata"]
