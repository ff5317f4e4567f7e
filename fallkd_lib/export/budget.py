"""What the deployed files cost on a Jetson TX2: parameters and GFLOPs counted on the exported ONNX graphs (what runs,
not the training model), per model and per frame (the detector plus k person crops), and an *estimated* fp16
latency.

FLOPs are counted as in fallkd_lib.models.budget: 2 x multiply-accumulates of Conv, Gemm and MatMul (shapes from
ONNX shape inference at batch 1); parameters are the graph's weights (batch norms are folded into convolutions by
the export, so a few thousand fewer than the torch model). The latency estimate divides FLOPs by the TX2's peak fp16
throughput, 1.33 TFLOPS (NVIDIA Jetson TX2 module data sheet: 256-core Pascal GPU at 1.3 GHz, "1.33 TFLOPS (FP16)"),
times an *assumed* utilisation of 25% (small convolution networks at batch 1-8 rarely keep a GPU busier). It is an
order of magnitude to plan with, not a measurement: run the engines on the device (trtexec prints their latency).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fallkd_lib.models.budget import TX2_FITS_GFLOPS, TX2_MAX_PARAMS_M, TX2_TIGHT_GFLOPS, budget_verdict

TX2_FP16_TFLOPS = 1.33  # peak, NVIDIA Jetson TX2 module data sheet
TX2_UTILISATION = 0.25  # assumed share of the peak that TensorRT reaches on these small models
CROPS_PER_FRAME = (1, 3, 8)


def onnx_cost(path: str | Path) -> dict:
    """Parameters and FLOPs of one batch-1 inference of an ONNX model (Conv, Gemm, MatMul)."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(str(path))
    for value in model.graph.input:  # a dynamic batch counts at 1
        dim = value.type.tensor_type.shape.dim[0]
        if not dim.HasField("dim_value"):
            dim.Clear()
            dim.dim_value = 1
    model = shape_inference.infer_shapes(model)
    shapes = {}
    for value in (*model.graph.value_info, *model.graph.input, *model.graph.output):
        shapes[value.name] = [d.dim_value for d in value.type.tensor_type.shape.dim]
    weights = {t.name: numpy_helper.to_array(t).shape for t in model.graph.initializer}
    # the exporter shares equal weight tensors through Identity nodes: count each use as its own parameters
    aliases = {
        n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity" and n.input[0] in weights
    }
    used = [
        weights[aliases.get(name, name)]
        for n in model.graph.node
        if n.op_type != "Identity"
        for name in n.input
        if aliases.get(name, name) in weights
    ]
    flops = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            out = shapes.get(node.output[0])
            kernel = weights.get(aliases.get(node.input[1], node.input[1])) or shapes.get(node.input[1])
            if out and kernel:  # kernel (Cout, Cin / groups, kh, kw)
                flops += 2 * int(np.prod(out)) * int(np.prod(kernel[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            out, a = shapes.get(node.output[0]), shapes.get(node.input[0])
            if out and a:
                inner = a[0] if node.op_type == "Gemm" and _trans_a(node) else a[-1]
                flops += 2 * int(np.prod(out)) * int(inner)
    params = sum(int(np.prod(shape)) for shape in used)
    return {"params": params, "flops": flops}


def _trans_a(node: object) -> bool:
    return any(a.name == "transA" and a.i for a in node.attribute)


def tx2_ms(gflops: float) -> float:
    """Estimated TX2 fp16 milliseconds for gflops (peak 1.33 TFLOPS at the assumed 25% utilisation)."""
    return 1000 * gflops / (TX2_FP16_TFLOPS * 1000 * TX2_UTILISATION)


def bundle_budget(detector_onnx: str | Path, classifier_onnx: str | Path) -> dict:
    """budget.json: each model's params / GFLOPs / verdict / TX2 estimate, and per frame with k crops."""
    models = {"detector": onnx_cost(detector_onnx), "classifier": onnx_cost(classifier_onnx)}
    rows = {}
    for name, cost in models.items():
        params_m, gflops = cost["params"] / 1e6, cost["flops"] / 1e9
        rows[name] = {
            "params_m": params_m,
            "gflops": gflops,
            "verdict": budget_verdict(params_m, gflops),
            "tx2_fp16_ms_estimate": tx2_ms(gflops),
        }
    frames = {}
    # the parameter budget is per model (the design card's "budget per model"); a frame's FLOPs add up
    largest_m = max(row["params_m"] for row in rows.values())
    for k in CROPS_PER_FRAME:
        params_m = rows["detector"]["params_m"] + rows["classifier"]["params_m"]
        gflops = rows["detector"]["gflops"] + k * rows["classifier"]["gflops"]
        frames[f"detector + {k} crops"] = {
            "params_m": params_m,
            "gflops": gflops,
            "verdict": budget_verdict(largest_m, gflops),
            "tx2_fp16_ms_estimate": tx2_ms(gflops),
        }
    return {
        "models": rows,
        "per_frame": frames,
        "tx2_budget": {
            "max_params_m": TX2_MAX_PARAMS_M,
            "fits_gflops": TX2_FITS_GFLOPS,
            "tight_gflops": TX2_TIGHT_GFLOPS,
        },
        "estimate": {
            "peak_fp16_tflops": TX2_FP16_TFLOPS,
            "assumed_utilisation": TX2_UTILISATION,
            "source": "NVIDIA Jetson TX2 module data sheet (256-core Pascal GPU, 1.33 TFLOPS FP16)",
            "note": "an estimate from FLOPs, not a measurement; trtexec on the TX2 prints the engines' real latency",
        },
    }


def budget_table(budget: dict) -> str:
    """The budget as a printable table."""
    lines = [f"{'':22s} {'params M':>9s} {'GFLOPs':>8s} {'verdict':>8s} {'TX2 fp16 ms (est.)':>19s}"]
    for name, row in (*budget["models"].items(), *budget["per_frame"].items()):
        lines.append(
            f"{name:22s} {row['params_m']:9.2f} {row['gflops']:8.3f} {row['verdict']:>8s} "
            f"{row['tx2_fp16_ms_estimate']:19.2f}"
        )
    est = budget["estimate"]
    lines.append(
        f"TX2 budget: <= {TX2_MAX_PARAMS_M:g} M params per model, <= {TX2_FITS_GFLOPS:g} GFLOPs fits, <= {TX2_TIGHT_GFLOPS:g} "
        f"tight. Latency is an estimate: FLOPs / ({est['peak_fp16_tflops']} TFLOPS fp16 peak x "
        f"{est['assumed_utilisation']:.0%} assumed utilisation)"
    )
    return "\n".join(lines)
