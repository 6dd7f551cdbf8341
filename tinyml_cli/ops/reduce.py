"""Windows and reductions, timed per element they read: ``pool`` (AVERAGE_POOL_2D, MAX_POOL_2D),
``reduce`` (MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD; any axes, ``keep_dims``) and ``softmax``
(SOFTMAX, LOG_SOFTMAX). No MACs.

What the kernels ask of the arena (TFLM ``tensorflow/lite/micro/kernels/``):

- reduce (reference on every platform, ``reduce_common.cc``): an integer MEAN or SUM first an int32
  sum per output element (PrepareMeanOrSumHelper), then every reduction an int per input dimension
  (the index) and an int per axis (the resolved axes);
- pool: nothing on the host (``pooling.cc``); CMSIS-NN's int8 / int16 AVERAGE_POOL_2D an int32 per
  channel (``cmsis_nn/pooling.cc`` -> ``arm_avgpool_s8/_s16_get_buffer_size``, DSP build);
- softmax: an int16 SOFTMAX two persistent lookup tables of 513 int16 (``softmax_common.cc``
  InitializeLutForInt16; CMSIS-NN's kernel calls the same); an int8 LOG_SOFTMAX allocates its
  OpData only then (``log_softmax.cc``: five int32 and two size_t).

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, dtype="int8", constant=False: Tensor(0, "t", shape, dtype, constant, False, 1)
>>> REDUCE.costs(OpView("MEAN", (t((1, 4, 4, 8)), t((2,), "int32", True)), (t((1, 8)),), {}), "host")
Costs(macs=None, elements=128, cycle_class='mean', scratch=(32, 16, 8), persistent=0, element_class='mean', window=0, outputs=0, pixels=0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import (QUANTIZED, Costs, LayerOp, OpKind, OpView, fused, no_attributes, no_constants, no_weights,
                   persistent, read_sliding, sliding)
from .elementwise import read_elements

SUM_BYTES = 4                  # an int32 sum per output element (integer MEAN / SUM)
INT_BYTES = 4
LUT_INT16_BYTES = 513 * 2      # LUTSize<int16_t>() entries (kernels/internal/common.h)
LOG_SOFTMAX_OPDATA_BYTES = {"mcu": 5 * 4 + 2 * 4, "host": 5 * 4 + 4 + 2 * 8}   # 5 int32, 2 size_t


def reduce_costs(view: OpView, build: str) -> Costs:
    """The elements read; scratch: (integer MEAN / SUM) the int32 sums, the index and the axes."""
    x, axes = view.inputs[0], view.input(1)
    integer_sum = view.builtin in ("MEAN", "SUM") and x.dtype in QUANTIZED
    sums = (view.out.numel * SUM_BYTES,) if integer_sum else ()
    scratch = sums + (INT_BYTES * len(x.shape), INT_BYTES * (axes.numel if axes is not None else 0))
    return Costs(None, read_elements(view), "mean", scratch, element_class="mean")


def pool_costs(view: OpView, build: str) -> Costs:
    """The elements read; CMSIS-NN's average pool keeps an int32 per channel."""
    x = view.inputs[0]
    average = view.builtin == "AVERAGE_POOL_2D"
    scratch = (x.shape[-1] * 4,) if build == "mcu" and average and x.dtype in QUANTIZED else ()
    timing = "avg_pool" if average else "max_pool"
    return Costs(None, read_elements(view), timing, scratch, element_class=timing)


def softmax_costs(view: OpView, build: str) -> Costs:
    """The elements read; int16 SOFTMAX's tables, int8 LOG_SOFTMAX's OpData."""
    dtype = view.inputs[0].dtype
    extra = 0
    if view.builtin == "SOFTMAX" and dtype == "int16":
        extra = persistent(LUT_INT16_BYTES, LUT_INT16_BYTES)
    elif view.builtin == "LOG_SOFTMAX" and dtype == "int8":
        extra = persistent(LOG_SOFTMAX_OPDATA_BYTES[build])
    return Costs(None, read_elements(view), "softmax", (), extra, element_class="softmax")


POOL = OpKind("pool", ("AVERAGE_POOL_2D", "MAX_POOL_2D"), pool_costs)
REDUCE = OpKind("reduce", ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"), reduce_costs)
SOFTMAX = OpKind("softmax", ("SOFTMAX", "LOG_SOFTMAX"), softmax_costs)


# --- the IR's pooling, global average and softmax -----------------------------------------------------

def _avg_pool_module(layer: Any, in_shape: tuple[int, ...]) -> Any:
    from torch import nn
    return nn.AvgPool2d(layer.kernel, layer.stride)


def _max_pool_module(layer: Any, in_shape: tuple[int, ...]) -> Any:
    from torch import nn
    return nn.MaxPool2d(layer.kernel, layer.stride)


def _avg_pool_forward(layer: Any, inputs: list, w: Any, b: Any) -> Any:
    import torch.nn.functional as F
    return F.avg_pool2d(inputs[0].permute(0, 3, 1, 2), layer.kernel, layer.stride).permute(0, 2, 3, 1)


def _max_pool_forward(layer: Any, inputs: list, w: Any, b: Any) -> Any:
    import torch.nn.functional as F
    return F.max_pool2d(inputs[0].permute(0, 3, 1, 2), layer.kernel, layer.stride).permute(0, 2, 3, 1)


def _pool_options(b: Any, layer: Any) -> tuple[str, dict]:
    return "Pool2DOptions", {**sliding(layer), "FilterHeight": layer.kernel[0], "FilterWidth": layer.kernel[1],
                             **fused(layer)}


def _read_pool(options: dict, weights: Any, in_shape: tuple[int, ...]) -> dict:
    return {"kernel": (options.get("FilterHeight", 1), options.get("FilterWidth", 1)), **read_sliding(options)}


def _mean_module(layer: Any, in_shape: tuple[int, ...]) -> Any:
    from .torch_layers import Mean
    return Mean()


def _mean_forward(layer: Any, inputs: list, w: Any, b: Any) -> Any:
    return inputs[0].mean(dim=(1, 2))


def _mean_options(b: Any, layer: Any) -> tuple[str, dict]:
    return "ReducerOptions", {"KeepDims": False}


def _mean_axes(layer: Any) -> list:
    """MEAN over height and width."""
    return [("axis", np.array([1, 2], "<i4"))]


def _softmax_module(layer: Any, in_shape: tuple[int, ...]) -> Any:
    from torch import nn
    return nn.Identity()                               # the loss (or predict_proba) applies it


def _softmax_forward(layer: Any, inputs: list, w: Any, b: Any) -> Any:
    import torch
    return torch.softmax(inputs[0], dim=-1)


def _softmax_options(b: Any, layer: Any) -> tuple[str, dict]:
    return "SoftmaxOptions", {"Beta": 1.0}


AVG_POOL_LAYER = LayerOp("avg_pool", "AVERAGE_POOL_2D", 2, POOL, None, False, True, "input", _avg_pool_module,
                         no_weights, _avg_pool_forward, _pool_options, no_constants, _read_pool,
                         type_versions=(((None, "int16"), 3),))
MAX_POOL_LAYER = LayerOp("max_pool", "MAX_POOL_2D", 2, POOL, None, False, True, "input", _max_pool_module,
                         no_weights, _max_pool_forward, _pool_options, no_constants, _read_pool,
                         type_versions=(((None, "int16"), 3),))
MEAN_LAYER = LayerOp("mean", "MEAN", 2, REDUCE, None, False, False, "input", _mean_module, no_weights,
                     _mean_forward, _mean_options, _mean_axes, no_attributes)
SOFTMAX_LAYER = LayerOp("softmax", "SOFTMAX", 2, SOFTMAX, None, False, False, "softmax", _softmax_module,
                        no_weights, _softmax_forward, _softmax_options, no_constants, no_attributes)
