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

from .base import Costs, OpKind, OpView, data_bytes

SCRATCH_COLUMNS = 2            # arm_convolve_s8's im2col columns
SCRATCH_ELEMENT_BYTES = 2      # int16 column elements
PER_CHANNEL_BYTES = 4 + 4      # int32 output multiplier and shift per channel


def _per_channel(view: OpView, channels: int) -> int:
    quantized = view.out.dtype in ("int8", "int16")
    return PER_CHANNEL_BYTES * channels if quantized else 0


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


CONV = OpKind("conv2d", ("CONV_2D",), "AddConv2D", conv_costs)
DEPTHWISE = OpKind("depthwise_conv2d", ("DEPTHWISE_CONV_2D",), "AddDepthwiseConv2D", depthwise_costs)
TRANSPOSE_CONV = OpKind("transpose_conv", ("TRANSPOSE_CONV",), "AddTransposeConv", transpose_costs)
