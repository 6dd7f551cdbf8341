"""How the engine runs each IR layer: the C kernel it calls (``c/tinyml_kernels.c``), that kernel's
parameter struct and the constant arrays (weights, biases, per-channel multipliers and shifts) it
reads, all computed from a layer's int8 quantization as TFLM computes them at Prepare time.

``KERNELS`` maps an IR op to its :class:`Kernel`; which kernels can write their output over an input
they read for the last time (and with how much scratch) is the planner's table, ``IN_PLACE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..arch.graph import Layer, same_padding
from ..errors import EngineError
from ..export.quantize import SOFTMAX_OUTPUT, QParams, QuantLayer
from .requant import activation_range, f32, mean_multiplier, quantize_multiplier, softmax_scaling

ADD_LEFT_SHIFT = 20                # int8 ADD (micro/kernels/add_common.cc)


@dataclass(frozen=True)
class LayerQuant:
    """One layer with everything its kernel needs: int8 weights (None without), the quantization of
    the tensors it reads and writes, and their shapes."""

    layer: Layer
    quant: QuantLayer | None
    in_q: list[QParams]
    out_q: QParams
    in_shapes: list[tuple[int, ...]]


@dataclass(frozen=True)
class CArray:
    """A constant array of the generated source."""

    name: str
    ctype: str
    values: np.ndarray


@dataclass(frozen=True)
class Call:
    """One layer in C: ``function(&params, inputs..., output)`` with ``params`` a ``struct``
    initialized from ``fields``, reading ``arrays``."""

    function: str
    struct: str
    fields: dict[str, int | str]
    arrays: tuple[CArray, ...] = ()


@dataclass(frozen=True)
class Kernel:
    """An IR op's kernel: ``emit(layer, prefix)`` gives its call (array names start with
    ``prefix``). Working in place with scratch (planner.IN_PLACE), the call is
    ``FUNCTION_in_place(&params, buffer, scratch)``."""

    emit: Callable[[LayerQuant, str], Call]


def _output_fields(lq: LayerQuant) -> dict[str, int]:
    lo, hi = activation_range(lq.layer.activation, f32(lq.out_q.scale), lq.out_q.zero_point)
    return {"act_min": lo, "act_max": hi}


def _window_fields(lq: LayerQuant) -> dict[str, int]:
    """Heights, widths, window, strides and the leading padding (ComputePaddingHeightWidth)."""
    (in_h, in_w, _), (out_h, out_w, _) = lq.in_shapes[0], lq.layer.output_shape
    (k_h, k_w), (s_h, s_w) = lq.layer.kernel, lq.layer.stride
    pad_h = pad_w = 0
    if lq.layer.padding == "same":
        pad_h, pad_w = same_padding(in_h, k_h, s_h)[0], same_padding(in_w, k_w, s_w)[0]
    return {"in_h": in_h, "in_w": in_w, "out_h": out_h, "out_w": out_w, "k_h": k_h, "k_w": k_w,
            "stride_h": s_h, "stride_w": s_w, "pad_h": pad_h, "pad_w": pad_w}


def _channel_multipliers(lq: LayerQuant) -> list[tuple[int, int]]:
    """Per output channel (PopulateConvolutionQuantizationParams): input x weight / output scale,
    each a float32 widened to double."""
    in_scale, out_scale = f32(lq.in_q[0].scale), f32(lq.out_q.scale)
    return [quantize_multiplier(in_scale * f32(s) / out_scale) for s in lq.quant.weight_scale]


def _weights_arrays(lq: LayerQuant, prefix: str) -> tuple[CArray, CArray]:
    return (CArray(f"{prefix}weights", "int8_t", lq.quant.weight.reshape(-1)),
            CArray(f"{prefix}bias", "int32_t", lq.quant.bias.reshape(-1)))


def _conv(function: str) -> Callable[[LayerQuant, str], Call]:
    def emit(lq: LayerQuant, prefix: str) -> Call:
        pairs = np.array(_channel_multipliers(lq), np.int64).reshape(-1, 2)
        arrays = (*_weights_arrays(lq, prefix), CArray(f"{prefix}multiplier", "int32_t", pairs[:, 0]),
                  CArray(f"{prefix}shift", "int32_t", pairs[:, 1]))
        fields = {**_window_fields(lq), "in_c": lq.in_shapes[0][-1], "out_c": lq.layer.output_shape[-1],
                  "in_offset": -lq.in_q[0].zero_point,
                  "out_offset": lq.out_q.zero_point, **_output_fields(lq),
                  **{a.name[len(prefix):]: a.name for a in arrays}}
        return Call(function, "tinyml_conv_params", fields, arrays)
    emit.__doc__ = f"{function}: per-channel multipliers and shifts."
    return emit


def _fully_connected(lq: LayerQuant, prefix: str) -> Call:
    """Per-tensor weights: one multiplier and shift (CalculateOpDataFullyConnected)."""
    if len(lq.quant.weight_scale) != 1:
        raise EngineError(f"layer {lq.layer.name}: per-channel FULLY_CONNECTED weights are not supported")
    multiplier, shift = _channel_multipliers(lq)[0]
    arrays = _weights_arrays(lq, prefix)
    out_n, in_n = lq.quant.weight.shape
    fields = {"in_n": in_n, "out_n": out_n, "in_offset": -lq.in_q[0].zero_point,
              "out_offset": lq.out_q.zero_point, **_output_fields(lq), "multiplier": multiplier,
              "shift": shift, "weights": arrays[0].name, "bias": arrays[1].name}
    return Call("tinyml_fully_connected", "tinyml_fc_params", fields, arrays)


def _add(lq: LayerQuant, prefix: str) -> Call:
    """micro/kernels/add_common.cc: both inputs rescaled to twice the larger input scale."""
    s1, s2, so = f32(lq.in_q[0].scale), f32(lq.in_q[1].scale), f32(lq.out_q.scale)
    twice_max = 2 * max(s1, s2)
    (m1, sh1), (m2, sh2) = quantize_multiplier(s1 / twice_max), quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * so))
    if max(sh1, sh2, sho) > 0:
        raise EngineError(f"layer {lq.layer.name}: ADD rescaling above 1 is not supported")
    fields = {"size": int(np.prod(lq.layer.output_shape)), "left_shift": ADD_LEFT_SHIFT,
              "in1_offset": -lq.in_q[0].zero_point, "in2_offset": -lq.in_q[1].zero_point,
              "out_offset": lq.out_q.zero_point, **_output_fields(lq), "in1_multiplier": m1,
              "in1_shift": sh1, "in2_multiplier": m2, "in2_shift": sh2, "out_multiplier": mo,
              "out_shift": sho}
    return Call("tinyml_add", "tinyml_add_params", fields)


def _pool(function: str) -> Callable[[LayerQuant, str], Call]:
    def emit(lq: LayerQuant, prefix: str) -> Call:
        fields = {**_window_fields(lq), "c": lq.in_shapes[0][-1], **_output_fields(lq)}
        return Call(function, "tinyml_pool_params", fields)
    emit.__doc__ = f"{function}: the input's quantization kept."
    return emit


def _mean(lq: LayerQuant, prefix: str) -> Call:
    """MEAN over height and width (micro/kernels/reduce_common.cc, int8)."""
    h, w, c = lq.in_shapes[0]
    multiplier, shift = mean_multiplier(f32(lq.in_q[0].scale) / f32(lq.out_q.scale), h * w)
    fields = {"count": h * w, "c": c, "in_zero_point": lq.in_q[0].zero_point,
              "out_zero_point": lq.out_q.zero_point, "multiplier": multiplier, "shift": shift}
    return Call("tinyml_mean", "tinyml_mean_params", fields)


def _softmax(lq: LayerQuant, prefix: str) -> Call:
    """SOFTMAX, beta 1, into TFLite's fixed 1/256, -128 output (micro/kernels/softmax_common.cc)."""
    if (lq.out_q.scale, lq.out_q.zero_point) != SOFTMAX_OUTPUT:
        raise EngineError(f"layer {lq.layer.name}: SOFTMAX output must be quantized as (1/256, -128)")
    multiplier, left_shift, diff_min = softmax_scaling(f32(lq.in_q[0].scale))
    shape = lq.in_shapes[0]
    fields = {"outer": int(np.prod(shape[:-1])), "depth": shape[-1], "input_multiplier": multiplier,
              "input_left_shift": left_shift, "diff_min": diff_min}
    return Call("tinyml_softmax", "tinyml_softmax_params", fields)


def _reshape(lq: LayerQuant, prefix: str) -> Call:
    """RESHAPE: a copy, none where the planner gives the output the input's bytes."""
    return Call("tinyml_copy", "", {"size": int(np.prod(lq.layer.output_shape))})


KERNELS: dict[str, Kernel] = {
    "conv2d": Kernel(_conv("tinyml_conv2d")),
    "depthwise_conv2d": Kernel(_conv("tinyml_depthwise_conv2d")),
    "fully_connected": Kernel(_fully_connected),
    "add": Kernel(_add),
    "avg_pool": Kernel(_pool("tinyml_avg_pool")),
    "max_pool": Kernel(_pool("tinyml_max_pool")),
    "mean": Kernel(_mean),
    "reshape": Kernel(_reshape),
    "softmax": Kernel(_softmax),
}
