"""Matrix products: ``fully_connected`` (FULLY_CONNECTED, with or without bias, ``keep_num_dims``)
and ``batch_matmul`` (BATCH_MATMUL).

MACs: rows x output features x input features, where rows are the input's elements over the input
features (several rows when ``keep_num_dims`` keeps a sequence).

What the kernels ask of the arena (TFLM ``tensorflow/lite/micro/kernels/``):

- FULLY_CONNECTED: per-channel quantized weights (more than one scale) get an int32 multiplier and
  shift per output feature on both runtimes (``fully_connected_common.cc``
  CalculateOpDataFullyConnected). Scratch on the host: only to unpack int4 weights
  (``fully_connected.cc``). On an MCU (``cmsis_nn/fully_connected.cc``): an int8 product with an
  output of rank > 2 (``keep_num_dims``) and input features a multiple of 4 runs as a 1x1
  convolution and, with per-tensor weights, fakes per-channel quantization in a scratch of two
  int32 per output feature (``arm_convolve_1x1_s8_fast_get_buffer_size`` adds nothing with GCC);
  otherwise ``arm_fully_connected_s8/_s16_get_buffer_size`` is 0 on a DSP build.
- BATCH_MATMUL (``batch_matmul.cc``, ``cmsis_nn/batch_matmul.cc``): persistent copies of the
  transposed operands, each a TfLiteEvalTensor, its dims and its data: the left one when ``adj_x``,
  the right one unless ``adj_y``; int8 / int16 add the quantization data (seven int32); the output
  dims are copied into the arena (``batch_matmul_common.cc`` ReshapeOutputTensor). No scratch on a
  DSP build.

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, constant=False: Tensor(0, "t", shape, "int8", constant, False, 1)
>>> view = OpView("FULLY_CONNECTED", (t((1, 4, 16)), t((8, 16), True), None), (t((1, 4, 8)),), {})
>>> FULLY_CONNECTED.costs(view, "mcu")
Costs(macs=512, elements=0, cycle_class='fully_connected', scratch=(64,), persistent=0, element_class='binary', window=64, outputs=32, pixels=4)
>>> FULLY_CONNECTED.costs(view, "host").scratch
()
"""

from __future__ import annotations

from typing import Any

from .base import (WEIGHTED_PRECISIONS, EVAL_TENSOR_BYTES, QUANTIZED, Costs, LayerOp, OpKind, OpView, TensorView, copied_dims,
                   fused, int_array, no_attributes, no_constants, per_channel, persistent)

ITEM_BYTES = {"int8": 1, "int16": 2, "float32": 4}
BATCH_MATMUL_QUANTIZATION_BYTES = 7 * 4       # QuantizationOpDataBatchMatmul (batch_matmul.h)


def cmsis_fc_scratch(view: OpView) -> tuple[int, ...]:
    """cmsis_nn/fully_connected.cc Prepare: the per-channel stand-in of a 1x1-convolution product."""
    x, weights, out = view.inputs[0], view.inputs[1], view.out
    if x.dtype != "int8" or weights.dtype == "int4":
        return ()
    if len(out.shape) > 2 and weights.shape[-1] % 4 == 0 and weights.scales <= 1:
        return (out.shape[-1] * 4 * 2,)
    return ()


def fc_costs(view: OpView, build: str) -> Costs:
    """FULLY_CONNECTED: weights (out, in); the input is read as rows of ``in`` features."""
    weights = view.inputs[1]
    out_features, in_features = weights.shape[-2:]
    rows = view.inputs[0].numel // max(in_features, 1)
    per_channel_data = view.inputs[0].dtype in QUANTIZED and weights.scales > 1
    extra = per_channel(weights.scales) if per_channel_data else 0
    if build == "mcu":
        scratch = cmsis_fc_scratch(view)
    else:
        scratch = (weights.numel,) if weights.dtype == "int4" else ()
    return Costs(rows * out_features * in_features, 0, "fully_connected", scratch, extra,
                 window=rows * in_features, outputs=view.out.numel, pixels=rows)


def transposed_copy(tensor: TensorView, build: str) -> int:
    """batch_matmul.cc AllocInitTransposeTensorFromTfLiteTensor: eval tensor, dims, data."""
    return persistent(EVAL_TENSOR_BYTES[build], int_array(len(tensor.shape)),
                      tensor.numel * ITEM_BYTES.get(tensor.dtype, 4))


def matmul_costs(view: OpView, build: str) -> Costs:
    """BATCH_MATMUL: output elements x the contracted dimension."""
    lhs, rhs = view.inputs[0], view.inputs[1]
    adj_x, adj_y = bool(view.options.get("AdjX")), bool(view.options.get("AdjY"))
    contracted = lhs.shape[-2] if adj_x else lhs.shape[-1]
    extra = copied_dims(view)
    if lhs.dtype in QUANTIZED:
        extra += persistent(BATCH_MATMUL_QUANTIZATION_BYTES)
    if adj_x:
        extra += transposed_copy(lhs, build)
    if not adj_y:
        extra += transposed_copy(rhs, build)
    return Costs(view.out.numel * contracted, 0, "fully_connected", (), extra)


FULLY_CONNECTED = OpKind("fully_connected", ("FULLY_CONNECTED",), fc_costs)
BATCH_MATMUL = OpKind("batch_matmul", ("BATCH_MATMUL",), matmul_costs)


# --- the IR's dense layer (weights quantized per tensor, as the TFLite converter does) -------------

def _module(layer: Any, in_shape: tuple[int, ...]) -> Any:
    from .torch_layers import Dense
    return Dense(layer)


def _weights(unit: Any) -> tuple[Any, Any]:
    """(out, in), as torch keeps them."""
    return unit.fc.weight.detach(), unit.fc.bias.detach()


def _forward(layer: Any, inputs: list, w: Any, b: Any) -> Any:
    import torch.nn.functional as F

    from .torch_layers import activate
    return activate(F.linear(inputs[0], w, b), layer.activation)


def _options(b: Any, layer: Any) -> tuple[str, dict]:
    return "FullyConnectedOptions", fused(layer)


FULLY_CONNECTED_LAYER = LayerOp("fully_connected", "FULLY_CONNECTED", 4, FULLY_CONNECTED, 0, False, True,
                                "calibrated", _module, _weights, _forward, _options, no_constants, no_attributes,
                                channels="own", precisions=WEIGHTED_PRECISIONS,
                                type_versions=((("int4", "int8"), 10),))
