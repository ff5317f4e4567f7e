"""The camera's logic in plain Python 3.6 + numpy (+ OpenCV): one implementation that fallkd_lib.runtime runs on
the host and that `fallkd export` copies, as the `fallkd_edge` package, into the deploy bundle beside run_edge.py.

JetPack 4.6 ships Python 3.6 and no torch that fallkd could rely on, so nothing here may use dataclasses,
``from __future__ import annotations``, the walrus, ``zip(strict=...)``, builtin generics in annotations, or import
torch, ultralytics or fallkd_lib (tests check it with vermin). Modules import each other relatively only.

errors      the error class (fallkd's UsageError on the host, ValueError in the bundle)
boxes       IoU, non-maximum suppression, the IoU tracker, clipping and the confirm gate
crops       the person crop (padded box, letterbox) and the classifier's resize + normalisation
fall_state  the per-track fall state machine (two alert paths)
yolo        the detector's letterbox, YOLO output decoding and boxes back in frame pixels
onnx_info   the opsets of an .onnx file, read without the onnx package
alerts      alert records, the JSONL log and the webhook
backends    ONNX Runtime and TensorRT sessions behind one call
"""
