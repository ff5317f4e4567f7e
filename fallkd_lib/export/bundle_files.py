"""The text files of a deploy bundle: run_edge.py, build_engines.sh (trtexec), README.md, and the copy of
fallkd_lib.edge as the bundle's `fallkd_edge` package."""

from __future__ import annotations

import shutil
from pathlib import Path

from fallkd_lib.edge.onnx_info import MAX_OPSET

EDGE_SOURCE = Path(__file__).resolve().parents[1] / "edge"
EDGE_PACKAGE = "fallkd_edge"

RUN_EDGE = '''#!/usr/bin/env python3
"""The fall camera of this bundle (numpy, OpenCV, ONNX Runtime or TensorRT; Python 3.6+). See README.md.

    python3 run_edge.py --source 0 --out alerts/ [--backend tensorrt]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fallkd_edge.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
'''


def copy_edge_package(folder: Path) -> Path:
    """Copy the Python files of fallkd_lib.edge into folder/fallkd_edge."""
    target = folder / EDGE_PACKAGE
    target.mkdir()
    for source in sorted(EDGE_SOURCE.glob("*.py")):
        shutil.copy2(source, target / source.name)
    return target


def build_script(classifier_input: str, image_size: int, max_batch: int, int8: bool) -> str:
    """build_engines.sh: check both files' opsets, then build fp16 engines with trtexec (int8 with the cache)."""
    shapes = (
        f"--minShapes={classifier_input}:1x3x{image_size}x{image_size} "
        f"--optShapes={classifier_input}:{max(1, max_batch // 2)}x3x{image_size}x{image_size} "
        f"--maxShapes={classifier_input}:{max_batch}x3x{image_size}x{image_size}"
    )
    int8_line = (
        '  "$TRTEXEC" --onnx=detector.onnx --saveEngine=detector_int8.engine --fp16 --int8 '
        "--calib=detector_calib.cache\n"
        if int8
        else '  echo "no detector_calib.cache: export with --calib FOLDER for int8" >&2; exit 1\n'
    )
    return f"""#!/usr/bin/env bash
# Build the TensorRT engines of this bundle ON THE JETSON: an engine is tied to the GPU and the TensorRT version that
# built it (JetPack 4.6: TensorRT 8.2). fp16 is the TX2's fast path (its Pascal GPU has no fast int8).
set -euo pipefail
cd "$(dirname "$0")"
TRTEXEC="${{TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}}"
# TensorRT 8.2 reads ONNX opsets up to {MAX_OPSET}: refuse anything above before it fails deep in the parser
python3 -m {EDGE_PACKAGE}.onnx_info detector.onnx classifier.onnx --max-opset {MAX_OPSET}
"$TRTEXEC" --onnx=detector.onnx --saveEngine=detector.engine --fp16
# the classifier takes every person of a frame in one call: batch 1 to {max_batch}
"$TRTEXEC" --onnx=classifier.onnx --saveEngine=classifier.engine --fp16 {shapes}
if [ "${{FALLKD_INT8:-0}}" = "1" ]; then
{int8_line}fi
echo "engines built: python3 run_edge.py --backend tensorrt --source 0 --out alerts/"
"""


def readme(pipeline: dict, budget_table: str, parity: dict) -> str:
    """README.md: what the bundle holds and the steps on the TX2."""
    det, cls = pipeline["detector"], pipeline["classifier"]
    return f"""# fallkd edge bundle

Written by `fallkd export` from `{pipeline["source"]["detector"]}` and `{pipeline["source"]["classifier"]}`.

| file | what |
|---|---|
| `detector.onnx` | person detector, opset {det["opset"]}, fixed input {det["input_size"]} px |
| `classifier.onnx` | {cls["model"]} fall/normal classifier, opset {cls["opset"]}, dynamic batch, {cls["image_size"]} px |
| `classifier_int8.onnx` | (with `--calib`) the same classifier in int8 for a CPU: `run_edge.py --classifier-file classifier_int8.onnx` |
| `pipeline.json` | every setting of the camera, read from the models and the PipelineConfig |
| `budget.json` | params, GFLOPs and an estimated TX2 latency per model and per frame |
| `parity.json` | torch vs the exported files on real inputs |
| `build_engines.sh` | builds the TensorRT fp16 engines on the device |
| `run_edge.py`, `fallkd_edge/` | the camera: numpy, OpenCV, ONNX Runtime or TensorRT (Python 3.6+) |

## On the Jetson TX2 (JetPack 4.6: Python 3.6, TensorRT 8.2, OpenCV)

```bash
sudo nvpmodel -m 0          # MAXN: all CPU cores and the highest GPU clock
sudo jetson_clocks          # pin the clocks at their maximum
bash build_engines.sh       # detector.engine + classifier.engine (fp16), a few minutes
python3 run_edge.py --backend tensorrt --source 0 --out alerts/    # camera 0; or a video file, a folder of images
```

`run_edge.py --backend onnxruntime` runs the ONNX files anywhere ONNX Runtime is installed (`pip3 install
onnxruntime`); on a CPU, `--classifier-file classifier_int8.onnx` and `--classifier-workers N` (default 2: a frame's
crops split over N one-thread calls, one per core) keep the second stage cheap. Alerts: a console line, `alerts/alerts.jsonl`, `--webhook URL` (token from `$FALLKD_WEBHOOK_TOKEN`),
every delivery in `alerts/alert_deliveries.jsonl`; `events.jsonl` and `summary.json` as `fallkd detect` writes them.
The TensorRT backend needs the `tensorrt` Python package and libcudart (both in JetPack); no pycuda, no torch.

Tracking: the bundle tracks people with fallkd's IoU tracker ({pipeline["tracker"]["type"]}, min IoU
{pipeline["tracker"]["min_iou"]}, forgotten after {pipeline["tracker"]["max_age"]} frames). The host camera's
ByteTrack is ultralytics' (AGPL) and is not shipped; the host was configured with `{pipeline["tracker"]["host_tracker"]}`.
To see on the host what this bundle does, run `fallkd detect ... --set tracker=iou`.

## Budget (TX2 latency is an estimate from FLOPs, not a measurement)

```
{budget_table}
```

## Parity (torch vs the exported files)

classifier: max |logit difference| {parity["classifier"]["max_abs_logit_diff"]:.2e}, top-1 agreement
{parity["classifier"]["top1_agreement"]:.3f} on {parity["classifier"]["crops"]} crops; detector: recall
{parity["detector"]["recall"]:.3f}, precision {parity["detector"]["precision"]:.3f}, mean IoU
{parity["detector"]["mean_iou"]:.4f} on {parity["detector"]["frames"]} frames.{_int8_line(parity)}
"""


def _int8_line(parity: dict) -> str:
    """The int8 classifier's agreement with the float file, when the bundle has one."""
    q = parity.get("classifier_int8")
    if not q:
        return ""
    return (
        f" `{q['file']}` (ONNX Runtime on a CPU; TensorRT builds fp16 from `classifier.onnx`): top-1 agreement "
        f"{q['top1_agreement']:.3f} with the float file, max |probability difference| {q['max_abs_prob_diff']:.3f} "
        f"on {q['crops']} crops."
    )
