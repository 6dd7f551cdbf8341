"""The op table: one module per op kind (``conv``, ``dense``, ``recurrent``, ``elementwise``,
``layout``, ``reduce``), every kind in one registry by name and by the TFLite builtins it covers, and
the IR's layers (``LAYER_OPS``, by ``Layer.op``)."""

from __future__ import annotations

from typing import Any

from . import conv, dense, elementwise, layout, recurrent, reduce
from .base import Costs, LayerOp, OpKind, OpView, Shaped, resolver_method

KINDS: tuple[OpKind, ...] = (
    conv.CONV, conv.DEPTHWISE, conv.TRANSPOSE_CONV, dense.FULLY_CONNECTED, dense.BATCH_MATMUL,
    recurrent.SVDF, recurrent.LSTM, elementwise.ADD, elementwise.BINARY, elementwise.ACTIVATION,
    elementwise.HARD_SWISH, elementwise.TRANSCENDENTAL, elementwise.CONVERT, layout.RESHAPE, layout.MOVE,
    reduce.POOL, reduce.REDUCE, reduce.SOFTMAX,
)
OPS: dict[str, OpKind] = {kind.name: kind for kind in KINDS}
BY_BUILTIN: dict[str, OpKind] = {builtin: kind for kind in KINDS for builtin in kind.builtins}


LAYER_OPS: dict[str, LayerOp] = {op.ir: op for op in (
    conv.CONV_LAYER, conv.DEPTHWISE_LAYER, dense.FULLY_CONNECTED_LAYER, elementwise.ADD_LAYER,
    reduce.AVG_POOL_LAYER, reduce.MAX_POOL_LAYER, reduce.MEAN_LAYER, layout.RESHAPE_LAYER, reduce.SOFTMAX_LAYER)}
LAYER_BY_BUILTIN: dict[str, LayerOp] = {op.builtin: op for op in LAYER_OPS.values()}


ELEMENT_TYPES = {1: "int8", 2: "int16", 4: "float32"}


def layer_view(layer: Any, in_shapes: list[tuple[int, ...]], activation_bytes: int = 1,
               weight_bytes: int | str = 1) -> OpView:
    """An IR layer as its op kind's cost facet sees it: its activation inputs, weights, bias and
    other constants, output (batch dimension added) and strides. ``weight_bytes`` may name the
    type instead (``"int4"``); int16 activations take an int64 bias (TFLite's 16x8 scheme)."""
    op = LAYER_OPS[layer.op]
    act = ELEMENT_TYPES[activation_bytes]
    inputs: list[Shaped] = [Shaped((1, *shape), act) for shape in in_shapes]
    if layer.weight_shape:
        channels = layer.output_shape[-1] if op.per_channel else 1
        inputs.append(Shaped(layer.weight_shape, ELEMENT_TYPES.get(weight_bytes, weight_bytes), True, channels))
        if layer.bias:
            inputs.append(Shaped((layer.output_shape[-1],), "int64" if act == "int16" else "int32", True, channels))
    inputs += [Shaped(data.shape, "int32", True, 0) for _, data in op.constants(layer)]
    return OpView(op.builtin, tuple(inputs), (Shaped((1, *layer.output_shape), act),),
                  {"StrideH": layer.stride[0], "StrideW": layer.stride[1]})


def lookup(builtin: str) -> OpKind | None:
    """The op kind covering a TFLite builtin operator, or None."""
    return BY_BUILTIN.get(builtin)


__all__ = ["BY_BUILTIN", "Costs", "ELEMENT_TYPES", "KINDS", "LAYER_BY_BUILTIN", "LAYER_OPS", "LayerOp", "OPS",
           "OpKind", "OpView", "Shaped", "layer_view", "lookup", "resolver_method"]
