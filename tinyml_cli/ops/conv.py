"""Sliding-window convolutions: ``conv2d`` (CONV_2D), ``depthwise_conv2d`` (DEPTHWISE_CONV_2D, any
depth multiplier) and ``transpose_conv`` (TRANSPOSE_CONV), with any stride, dilation and padding.

MACs: one per output element per weight it reads (a depthwise filter reads one input channel).
Scratch on a 32-bit MCU (CMSIS-NN): ``arm_convolve_s8`` keeps two im2col columns of int16
(2 x input channels x kh x kw x 2 bytes; none for a 1x1 stride-1 convolution, which takes
``arm_convolve_1x1_s8_fast``), ``arm_depthwise_conv_s8_opt`` one column (channels x kh x kw int16;
none for 3x3, which takes ``arm_depthwise_conv_3x3_s8``); the host's reference kernels ask for none.
TRANSPOSE_CONV's int8 kernel accumulates the whole output in int32 scratch on both. Persistent: an
int32 multiplier and shift per output channel of a quantized kernel.

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, constant=False: Tensor(0, "t", shape, "int8", constant, False, 1)
>>> view = OpView("DEPTHWISE_CONV_2D", (t((1, 49, 10, 1)), t((1, 10, 8, 8), True)), (t((1, 25, 5, 8)),), {})
>>> DEPTHWISE.costs(view, "mcu")
Costs(macs=80000, elements=0, cycle_class='depthwise', scratch=(160,), persistent=64, element_class='binary')
"""

from __future__ import annotations

from typing import Any

from .base import (Costs, LayerOp, OpKind, OpView, data_bytes, fused, no_constants, read_sliding,
                   sliding)

SCRATCH_COLUMNS = 2            # arm_convolve_s8's im2col columns
SCRATCH_ELEMENT_BYTES = 2      # int16 column elements
PER_CHANNEL_BYTES = 4 + 4      # int32 output multiplier and shift per channel


def _per_channel(view: OpView, channels: int) -> int:
    """The int32 multiplier and shift per output channel, which conv_common.cc and
    depthwise_conv_common.cc allocate whatever the type (a float kernel leaves them unused)."""
    return PER_CHANNEL_BYTES * channels


def conv_costs(view: OpView, runtime: str) -> Costs:
    """CONV_2D: output elements x (kh x kw x input channels per group)."""
    out, weights = view.out.shape, view.inputs[1].shape          # weights (O, kh, kw, I/groups)
    kh, kw, per_group = weights[1], weights[2], weights[3]
    macs = out[0] * out[1] * out[2] * out[3] * kh * kw * per_group
    pointwise = kh == kw == 1
    strided = (view.options.get("StrideH", 1), view.options.get("StrideW", 1)) != (1, 1)
    scratch: tuple[int, ...] = ()
    if runtime == "mcu" and data_bytes(view) == 1 and not (pointwise and not strided):
        scratch = (SCRATCH_COLUMNS * kh * kw * per_group * SCRATCH_ELEMENT_BYTES,)
    return Costs(macs, 0, "pointwise" if pointwise else "conv", scratch, _per_channel(view, out[3]))


def depthwise_costs(view: OpView, runtime: str) -> Costs:
    """DEPTHWISE_CONV_2D: output elements x kh x kw (each output channel reads one input channel)."""
    out, weights = view.out.shape, view.inputs[1].shape          # weights (1, kh, kw, C x multiplier)
    kh, kw = weights[1], weights[2]
    macs = out[0] * out[1] * out[2] * out[3] * kh * kw
    in_channels = view.inputs[0].shape[-1]
    scratch: tuple[int, ...] = ()
    if runtime == "mcu" and data_bytes(view) == 1 and (kh, kw) != (3, 3):
        scratch = (in_channels * kh * kw * SCRATCH_ELEMENT_BYTES,)
    return Costs(macs, 0, "depthwise", scratch, _per_channel(view, out[3]))


def transpose_costs(view: OpView, runtime: str) -> Costs:
    """TRANSPOSE_CONV (inputs: output shape, weights (O, kh, kw, I), input, bias): input elements x
    kh x kw x output channels. Scratch: the output accumulated in int32 (int8) or int64 (16x8, whose
    int16 bias is widened to int64 too)."""
    weights, x = view.inputs[1].shape, view.inputs[2]
    macs = x.numel * weights[1] * weights[2] * weights[0]
    scratch: tuple[int, ...] = ()
    if x.dtype == "int16":
        bias = view.input(3)
        scratch = ((bias.numel * 8,) if bias is not None and bias.dtype == "int16" else ()) + (view.out.numel * 8,)
    elif x.dtype == "int8":
        scratch = (view.out.numel * 4,)
    return Costs(macs, 0, "conv", scratch, _per_channel(view, weights[0]))


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
                     _conv_forward, _conv_options, no_constants, _read)
DEPTHWISE_LAYER = LayerOp("depthwise_conv2d", "DEPTHWISE_CONV_2D", 3, DEPTHWISE, 3, True, True, "calibrated",
                          _depthwise_module, _depthwise_weights, _depthwise_forward, _depthwise_options,
                          no_constants, _read_depthwise)
