"""The integer requantization constants TFLM derives from a model's float32 scales at Prepare time,
computed the same way (``kernels/internal/quantization_util.cc``, ``kernels/kernel_util.cc``), so
the engine's kernels need no floating point.

>>> quantize_multiplier(0.5), quantize_multiplier(1.0), quantize_multiplier(0.0)
((1073741824, 0), (1073741824, 1), (0, 0))
>>> activation_range("relu6", 6.0 / 255, -128)
(-128, 127)
>>> softmax_scaling(0.1)
(1717986918, 23, -248)
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
SOFTMAX_INTEGER_BITS = 5           # kScaledDiffIntegerBits (micro/kernels/softmax_common.cc)


def f32(value: float) -> float:
    """A scale as the .tflite stores it (float32), widened back to double as TFLM does."""
    return float(np.float32(value))


def _round_away(value: float) -> int:
    """TfLiteRound: to nearest, halves away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: ``real = multiplier * 2**(shift - 31)``, multiplier in [2**30, 2**31)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q = _round_away(fraction * (1 << 31))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q, shift


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8: ``Quantize`` in float32 of 0 and 6."""
    def quantize(value: float) -> int:
        return zero_point + _round_away(float(np.float32(value) / np.float32(scale)))

    lo, hi = INT8_MIN, INT8_MAX
    if activation in ("relu", "relu6"):
        lo = max(lo, quantize(0.0))
    if activation == "relu6":
        hi = min(hi, quantize(6.0))
    return lo, hi


def mean_multiplier(real: float, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum (``reference/reduce.h``): the 1/count factor folded into the multiplier
    by integer division, as the kernel does at every invocation."""
    multiplier, shift = quantize_multiplier(real)
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << extra) // count, shift - extra


def softmax_scaling(input_scale: float, beta: float = 1.0) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling and CalculateInputRadius (double rounding build): the input
    multiplier, its left shift and the smallest input difference that still counts."""
    real = min(beta * input_scale * (1 << (31 - SOFTMAX_INTEGER_BITS)), (1 << 31) - 1.0)
    multiplier, left_shift = quantize_multiplier(real)
    radius = math.floor(((1 << SOFTMAX_INTEGER_BITS) - 1) * (1 << (31 - SOFTMAX_INTEGER_BITS))
                        / (1 << left_shift))
    return multiplier, left_shift, -radius
