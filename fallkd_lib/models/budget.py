"""Does a model fit the Jetson TX2? Parameters and GFLOPs per image against the reference report's budget.

FLOPs are counted by running the model once under `torch.utils.flop_counter.FlopCounterMode`, which counts
matrix multiplications and convolutions as 2 x multiply-accumulates (a Linear in->out on a batch of B is
2*B*in*out, a convolution is 2 * output elements * in_channels/groups * kernel area); bias adds, norms,
activations, softmax and pooling are not counted (they are a small share, and GFLOP tables leave them out too).

Attention is counted: while counting, the nn.MultiheadAttention fast path is off and scaled-dot-product
attention is forced to its math kernel, which runs as matmuls that FlopCounterMode sees (on CPU the default
fused kernel is NOT counted: a ViT-Tiny at 64 px loses its 2*N*N*D*2 per block). timm ViTs call
F.scaled_dot_product_attention (fused_attn=True) or the explicit q@k.T path; both are counted this way.

Tip: a model built on the meta device (`with torch.device("meta"): create_classifier(...)`) is counted
without allocating or initialising weights (ViT-B/16 in a fraction of a second instead of seconds).
"""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn as nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from fallkd_lib.errors import UsageError
from fallkd_lib.models.freeze import count_parameters

TX2_MAX_PARAMS_M = 13.0  # the reference report's Jetson TX2 budget
TX2_FITS_GFLOPS = 20.0
TX2_TIGHT_GFLOPS = 30.0
VERDICTS = ("fits", "tight", "over")


def budget_verdict(params_m: float, gflops: float) -> str:
    """'fits' (<= 13 M params and <= 20 GFLOPs), 'tight' (20-30 GFLOPs) or 'over' (> 30 GFLOPs or > 13 M params)."""
    if params_m > TX2_MAX_PARAMS_M or gflops > TX2_TIGHT_GFLOPS:
        return "over"
    return "fits" if gflops <= TX2_FITS_GFLOPS else "tight"


def _hw(input_size: int | tuple) -> tuple[int, int]:
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)[-2:]
    if len(size) != 2 or any(not isinstance(s, int) or s <= 0 for s in size):
        raise UsageError(f"input_size must be a positive int or (height, width), got {input_size!r}")
    return size


def count_flops(model: nn.Module, input_size: int | tuple = 224, batch: int = 1) -> int:
    """Total FLOPs of one forward pass on a (batch, 3, H, W) input, attention included (eval mode, no grad)."""
    height, width = _hw(input_size)
    if batch < 1:
        raise UsageError(f"batch must be >= 1, got {batch}")
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    images = torch.zeros(batch, 3, height, width, device=device, dtype=dtype)
    was_training, fastpath = model.training, torch.backends.mha.get_fastpath_enabled()
    model.eval()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model(images)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        model.train(was_training)
    return int(counter.get_total_flops())


def model_budget(model: nn.Module, input_size: int | tuple = 224, batch: int = 1) -> dict:
    """Parameters (M), GFLOPs per image and the TX2 verdict of `model` at `input_size`."""
    params = count_parameters(model)
    flops = count_flops(model, input_size, batch) / batch
    params_m, gflops = params / 1e6, flops / 1e9
    return {
        "params": params,
        "params_m": params_m,
        "flops": int(flops),
        "gflops": gflops,
        "input_size": _hw(input_size),
        "verdict": budget_verdict(params_m, gflops),
    }


def budget_table(models: dict[str, nn.Module], input_size: int | tuple = 224) -> pd.DataFrame:
    """One row per named model: params_m, gflops and verdict at `input_size` (index: the names)."""
    rows = {name: model_budget(model, input_size) for name, model in models.items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["params_m", "gflops", "verdict"])
    table.index.name = "model"
    return table
