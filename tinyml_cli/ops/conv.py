"""Sliding-window convolutions: ``conv2d`` (CONV_2D), ``depthwise_conv2d`` (DEPTHWISE_CONV_2D, any
depth multiplier) and ``transpose_conv`` (TRANSPOSE_CONV), with any stride, dilation and padding.

MACs: one per output element per weight it reads (a depthwise filter reads one input channel).

What the kernels ask of the arena (TFLM ``tensorflow/lite/micro/kernels/``):

- host, reference kernels: CONV_2D and DEPTHWISE_CONV_2D allocate an int32 multiplier and shift per
  output channel whatever the type (``conv_common.cc`` ConvPrepare, ``depthwise_conv_common.cc``
  DepthwiseConvPrepare) and request scratch only to unpack int4 weights (one byte per weight);
- mcu, CMSIS-NN kernels: the per-channel pair for int8 / int16 only; CONV_2D's int8 im2col buffer
  (``cmsis_nn/conv.cc`` -> ``arm_convolve_wrapper_s8_get_buffer_size``, DSP build: none for an
  ungrouped 1x1 convolution without dilation, ``arm_convolve_1x1_s8(_fast)``, else two columns of
  int16 of kh x kw x input channels rounded up to 4) and its int16 one (``_s16_``: two columns
  unrounded, when the bias is int64 or absent); DEPTHWISE_CONV_2D's int8 column (``cmsis_nn/
  depthwise_conv.cc`` -> ``arm_depthwise_conv_wrapper_s8_get_buffer_size``: input channels x kh x kw
  int16 for multiplier 1, batch 1, no dilation, except 3x3, whose padding is at most 1 and takes
  ``arm_depthwise_conv_3x3_s8``; int16 requests none);
- TRANSPOSE_CONV (``transpose_conv.cc``, ``cmsis_nn/transpose_conv.cc``): the per-channel pair on
  both; int8 accumulates the output in int32 scratch on the host, and asks CMSIS-NN's
  ``arm_transpose_conv_s8_get_buffer_size`` and ``_get_reverse_conv_buffer_size`` on an MCU; 16x8
  accumulates in int64 and, with an int16 bias, widens it to int64 in a second buffer.

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, constant=False: Tensor(0, "t", shape, "int8", constant, False, 1)
>>> view = OpView("DEPTHWISE_CONV_2D", (t((1, 49, 10, 8)), t((1, 10, 8, 8), True)), (t((1, 25, 5, 8)),), {})
>>> DEPTHWISE.costs(view, "mcu")
Costs(macs=80000, elements=0, cycle_class='depthwise', scratch=(1280,), persistent=64, element_class='binary', window=10000, outputs=1000, pixels=125)
>>> DEPTHWISE.costs(view, "host").scratch
()
"""

from __future__ import annotations

from typing import Any

from .base import (WEIGHTED_PRECISIONS, QUANTIZED, Costs, LayerOp, OpKind, OpView, fused, no_constants, per_channel,
                   read_sliding, sliding)

IM2COL_COLUMNS = 2             # arm_convolve_s8 / _s16 fill two im2col columns
COLUMN_ELEMENT_BYTES = 2       # of int16 elements
REVERSE_TCOL_EFFICIENT_THRESHOLD = 16   # CMSIS-NN arm_nnsupportfunctions.h


def _options(view: OpView) -> tuple[int, int, int, int]:
    o = view.options
    return (o.get("StrideH", 1), o.get("StrideW", 1), o.get("DilationHFactor", 1), o.get("DilationWFactor", 1))


def _unpacked_int4(view: OpView) -> tuple[int, ...]:
    """Reference kernels unpack int4 weights into one byte each (conv_common.cc,
    depthwise_conv_common.cc, fully_connected.cc)."""
    weights = view.inputs[1]
    return (weights.numel,) if weights.dtype == "int4" else ()


def cmsis_conv_scratch(view: OpView) -> tuple[int, ...]:
    """cmsis_nn/conv.cc: arm_convolve_wrapper_s8/_s16_get_buffer_size (DSP build, GCC)."""
    x, weights = view.inputs[0], view.inputs[1]
    kh, kw, per_group = weights.shape[1], weights.shape[2], weights.shape[3]
    in_channels = x.shape[3]
    _, _, dh, dw = _options(view)
    if x.dtype == "int8":
        if kh == kw == 1 and dh == dw == 1 and per_group == in_channels:
            return ()                                  # arm_convolve_1x1_s8(_fast): no buffer with GCC
        columns = -(-kh * kw * in_channels // 4) * 4
        return (IM2COL_COLUMNS * columns * COLUMN_ELEMENT_BYTES,)
    bias = view.input(2)
    if x.dtype == "int16" and (bias is None or bias.dtype == "int64"):
        return (IM2COL_COLUMNS * kh * kw * in_channels * COLUMN_ELEMENT_BYTES,)
    return ()


def conv_costs(view: OpView, build: str) -> Costs:
    """CONV_2D: output elements x (kh x kw x input channels per group)."""
    out, weights = view.out.shape, view.inputs[1].shape          # weights (O, kh, kw, I/groups)
    kh, kw, per_group = weights[1], weights[2], weights[3]
    macs = out[0] * out[1] * out[2] * out[3] * kh * kw * per_group
    quantized = view.inputs[0].dtype in QUANTIZED
    if build == "mcu":
        scratch, extra = cmsis_conv_scratch(view), per_channel(weights[0]) if quantized else 0
    else:
        scratch, extra = _unpacked_int4(view), per_channel(weights[0])
    return Costs(macs, 0, "pointwise" if kh == kw == 1 else "conv", scratch, extra,
                 window=macs // out[3], outputs=view.out.numel, pixels=view.out.numel // out[3])


def cmsis_depthwise_path(view: OpView) -> str:
    """Which kernel cmsis_nn/depthwise_conv.cc's arm_depthwise_conv_wrapper_s8 (/ _s4) runs: "3x3"
    (arm_depthwise_conv_3x3_s8), "opt" (arm_depthwise_conv_s8_opt, with a column buffer) or
    "generic" (other types, depth multipliers, batches or dilations)."""
    x, weights = view.inputs[0], view.inputs[1]
    _, _, dh, dw = _options(view)
    if x.dtype != "int8" or x.shape[3] != view.out.shape[3] or x.shape[0] != 1 or (dh, dw) != (1, 1):
        return "generic"
    return "3x3" if weights.shape[1:3] == (3, 3) and weights.dtype == "int8" else "opt"


def cmsis_depthwise_scratch(view: OpView) -> tuple[int, ...]:
    """cmsis_nn/depthwise_conv.cc: arm_depthwise_conv_wrapper_s8 / _s4_get_buffer_size (DSP)."""
    if cmsis_depthwise_path(view) != "opt":
        return ()
    weights = view.inputs[1].shape
    return (view.inputs[0].shape[3] * weights[1] * weights[2] * COLUMN_ELEMENT_BYTES,)


def depthwise_costs(view: OpView, build: str) -> Costs:
    """DEPTHWISE_CONV_2D: output elements x kh x kw (each output channel reads one input channel)."""
    out, weights = view.out.shape, view.inputs[1].shape          # weights (1, kh, kw, C x multiplier)
    kh, kw = weights[1], weights[2]
    macs = out[0] * out[1] * out[2] * out[3] * kh * kw
    quantized = view.inputs[0].dtype in QUANTIZED
    if build == "mcu":
        scratch, extra = cmsis_depthwise_scratch(view), per_channel(weights[3]) if quantized else 0
    else:
        scratch, extra = _unpacked_int4(view), per_channel(weights[3])
    timing = "depthwise_3x3" if cmsis_depthwise_path(view) == "3x3" else "depthwise"
    return Costs(macs, 0, timing, scratch, extra, window=macs // out[3], outputs=view.out.numel,
                 pixels=view.out.numel // out[3])


def cmsis_transpose_scratch(view: OpView) -> tuple[int, ...]:
    """cmsis_nn/transpose_conv.cc (int8): arm_transpose_conv_s8_get_buffer_size, then
    arm_transpose_conv_s8_get_reverse_conv_buffer_size (requested even when 0)."""
    x, weights, out = view.inputs[2].shape, view.inputs[1].shape, view.out.shape
    sh, sw, _, _ = _options(view)
    cin, kh, kw = x[3], weights[1], weights[2]
    if sh <= 2 and sw <= 2 and cin > REVERSE_TCOL_EFFICIENT_THRESHOLD:
        columns = -(-kh * kw * cin // 4) * 4           # arm_convolve_s8_get_buffer_size, DSP
        return (IM2COL_COLUMNS * columns * COLUMN_ELEMENT_BYTES, cin * kh * kw * weights[0])
    width = ((x[2] - 1) * sw + max(kw, sh)) * out[3]
    return (width * max(kh, sh) * 4, 0)


def transpose_costs(view: OpView, build: str) -> Costs:
    """TRANSPOSE_CONV (inputs: output shape, weights (O, kh, kw, I), input, bias): input elements x
    kh x kw x output channels."""
    weights, x = view.inputs[1].shape, view.inputs[2]
    macs = x.numel * weights[1] * weights[2] * weights[0]
    scratch: tuple[int, ...] = ()
    if x.dtype == "int8":
        scratch = cmsis_transpose_scratch(view) if build == "mcu" else (view.out.numel * 4,)
    elif x.dtype == "int16":
        bias = view.input(3)
        scratch = (view.out.numel * 8,) + ((bias.numel * 8,) if bias is not None and bias.dtype == "int16" else ())
    return Costs(macs, 0, "conv", scratch, per_channel(weights[0]))


CONV = OpKind("conv2d", ("CONV_2D",), conv_costs)
DEPTHWISE = OpKind("depthwise_conv2d", ("DEPTHWISE_CONV_2D",), depthwise_costs)
TRANSPOSE_CONV = OpKind("transpose_conv", ("TRANSPOSE_CONV",), transpose_costs)


# --- the IR's convolutions ----------------------------------------------------------------------

def _conv_module(layer: Any, in_shape: tuple[int, ...]) -> Any:
    from .torch_layers import ConvUnit
    return ConvUnit(layer, in_shape[-1], (in_shape[0], in_shape[1]), 1)


def _depthwise_module(layer: Any, in_shape: tuple[int, ...]) -> Any:
    from .torch_layers import ConvUnit
    return ConvUnit(layer, in_shape[-1], (in_shape[0], in_shape[1]), in_shape[-1])


def _conv_weights(unit: Any) -> tuple[Any, Any]:
    """Batch norm folded; (out, kh, kw, in)."""
    from .torch_layers import fold_batch_norm
    w, b = fold_batch_norm(unit)
    return w.permute(0, 2, 3, 1), b


def _depthwise_weights(unit: Any) -> tuple[Any, Any]:
    """Batch norm folded; (1, kh, kw, channels)."""
    w, b = _conv_weights(unit)
    return w.permute(3, 1, 2, 0), b


def _conv_forward(layer: Any, inputs: list, w: Any, b: Any) -> Any:
    from .torch_layers import conv_nhwc
    return conv_nhwc(inputs[0], w, b, layer, depthwise=False)


def _depthwise_forward(layer: Any, inputs: list, w: Any, b: Any) -> Any:
    from .torch_layers import conv_nhwc
    return conv_nhwc(inputs[0], w, b, layer, depthwise=True)


_DILATION = {"DilationHFactor": 1, "DilationWFactor": 1}


def _conv_options(b: Any, layer: Any) -> tuple[str, dict]:
    return "Conv2DOptions", {**sliding(layer), **_DILATION, **fused(layer)}


def _depthwise_options(b: Any, layer: Any) -> tuple[str, dict]:
    return "DepthwiseConv2DOptions", {**sliding(layer), "DepthMultiplier": 1, **_DILATION, **fused(layer)}


def _read(options: dict, weights: Any, in_shape: tuple[int, ...]) -> dict:
    """Kernel, padding and strides; ValueError for what the IR does not have."""
    if options.get("DilationHFactor", 1) != 1 or options.get("DilationWFactor", 1) != 1:
        raise ValueError("uses dilation; the IR has none")
    return {"kernel": (weights.shape[1], weights.shape[2]), **read_sliding(options)}


def _read_depthwise(options: dict, weights: Any, in_shape: tuple[int, ...]) -> dict:
    if weights.shape[-1] != in_shape[-1]:
        raise ValueError("has a depth multiplier other than 1; the IR has none")
    return _read(options, weights, in_shape)


CONV_LAYER = LayerOp("conv2d", "CONV_2D", 3, CONV, 0, True, True, "calibrated", _conv_module, _conv_weights,
                     _conv_forward, _conv_options, no_constants, _read, channels="own",
                     precisions=WEIGHTED_PRECISIONS, type_versions=((("int4", "int8"), 7),))
DEPTHWISE_LAYER = LayerOp("depthwise_conv2d", "DEPTHWISE_CONV_2D", 3, DEPTHWISE, 3, True, True, "calibrated",
                          _depthwise_module, _depthwise_weights, _depthwise_forward, _depthwise_options,
                          no_constants, _read_depthwise, precisions=WEIGHTED_PRECISIONS)
# TFLite's versioning gives an int4 DEPTHWISE_CONV_2D version 7, which LiteRT 2.3's resolver does not
# register ("Didn't find op for builtin opcode 'DEPTHWISE_CONV_2D' version '7'") while it runs the
# same operator at version 3: the int8 version is written, so the file runs in both interpreters.
