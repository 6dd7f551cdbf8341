"""Windows and reductions, timed per element they read: ``pool`` (AVERAGE_POOL_2D, MAX_POOL_2D),
``reduce`` (MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD; any axes, ``keep_dims``) and ``softmax``
(SOFTMAX, LOG_SOFTMAX). No MACs.

TFLM's reduce kernel (reference on every platform, micro/kernels/reduce_common.cc) requests, for an
integer MEAN or SUM, an int32 sum per output element, then an int per input dimension and per axis.

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, dtype="int8", constant=False: Tensor(0, "t", shape, dtype, constant, False, 1)
>>> REDUCE.costs(OpView("MEAN", (t((1, 4, 4, 8)), t((2,), "int32", True)), (t((1, 8)),), {}), "host")
Costs(macs=None, elements=128, cycle_class='mean', scratch=(32, 16, 8), persistent=0, element_class='mean')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import (Costs, LayerOp, OpKind, OpView, fused, no_attributes, no_constants, no_weights,
                   read_sliding, sliding)
from .elementwise import _timed_as, read_elements

SUM_BYTES = 4                  # an int32 sum per output element (integer MEAN / SUM)


def reduce_costs(view: OpView, runtime: str) -> Costs:
    """The elements read; scratch in the order reduce_common.cc requests it: for an integer MEAN or
    SUM the int32 sums, then an int per input dimension (the iteration index) and one per axis."""
    x, axes = view.inputs[0], view.input(1)
    integer_sum = view.builtin in ("MEAN", "SUM") and x.dtype in ("int8", "int16")
    sums = (view.out.numel * SUM_BYTES,) if integer_sum else ()
    scratch = (*sums, 4 * len(x.shape), 4 * (axes.numel if axes is not None else 1))
    return Costs(None, read_elements(view), "mean", scratch, element_class="mean")


POOL = OpKind("pool", ("AVERAGE_POOL_2D", "MAX_POOL_2D"), _timed_as("avg_pool"))
REDUCE = OpKind("reduce", ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"), reduce_costs)
SOFTMAX = OpKind("softmax", ("SOFTMAX", "LOG_SOFTMAX"), _timed_as("softmax"))


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
                         no_weights, _avg_pool_forward, _pool_options, no_constants, _read_pool)
MAX_POOL_LAYER = LayerOp("max_pool", "MAX_POOL_2D", 2, POOL, None, False, True, "input", _max_pool_module,
                         no_weights, _max_pool_forward, _pool_options, no_constants, _read_pool)
MEAN_LAYER = LayerOp("mean", "MEAN", 2, REDUCE, None, False, False, "input", _mean_module, no_weights,
                     _mean_forward, _mean_options, _mean_axes, no_attributes)
SOFTMAX_LAYER = LayerOp("softmax", "SOFTMAX", 2, SOFTMAX, None, False, False, "softmax", _softmax_module,
                        no_weights, _softmax_forward, _softmax_options, no_constants, no_attributes)
