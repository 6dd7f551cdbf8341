"""An independent numpy implementation of TFLite's int8 reference kernels (the test oracle).

Written from the TFLite integer arithmetic (``QuantizeMultiplier``, ``MultiplyByQuantizedMultiplier``
with its two roundings, ADD's 20-bit left shift, AVERAGE_POOL's rounding division, MEAN's
multiplier folding); it shares no
code with the exporter beyond reading the quantized parameters it is checking.
"""

from __future__ import annotations

import math

import numpy as np

from tinyml_cli.arch.graph import same_padding

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real = q * 2**(shift - 31) with q in [2**30, 2**31)."""
    if real == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real)
    q = int(math.floor(abs(mantissa) * (1 << 31) + 0.5)) * (1 if mantissa > 0 else -1)
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q, shift


def _high_mul(a: np.ndarray, b: int) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul on int64 arrays (C++ division truncates toward zero)."""
    ab = a.astype(np.int64) * np.int64(b)
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    out = np.where(total >= 0, total // (1 << 31), -((-total) // (1 << 31)))
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, out)


def _round_div_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """RoundingDivideByPOT: divide by 2**exponent, rounding half away from zero."""
    if exponent == 0:
        return x
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply(x: np.ndarray, multiplier: int, shift: int, single_round: bool = False) -> np.ndarray:
    """MultiplyByQuantizedMultiplier: double rounding (TFLite's default build), or the single
    rounding ``(x * m + 2**(30 - shift)) >> (31 - shift)``."""
    if single_round:
        total = 31 - shift
        return (x.astype(np.int64) * multiplier + (1 << (total - 1))) >> total
    left, right = max(shift, 0), max(-shift, 0)
    return _round_div_pot(_high_mul(x.astype(np.int64) * (1 << left), multiplier), right)


def _rescale(acc: np.ndarray, real: np.ndarray, single_round: bool) -> np.ndarray:
    """Requantize int32 accumulators channel by channel (last axis)."""
    out = np.empty_like(acc, dtype=np.int64)
    for c in range(acc.shape[-1]):
        out[..., c] = multiply(acc[..., c], *quantize_multiplier(float(real[c])), single_round)
    return out


def _clamp(x: np.ndarray, zp: int, scale: float, activation: str) -> np.ndarray:
    lo, hi = -128, 127
    if activation in ("relu", "relu6"):
        lo = max(lo, zp)
    if activation == "relu6":
        hi = min(hi, zp + int(round(6.0 / scale)))
    return np.clip(x, lo, hi).astype(np.int8)


def _windows(x: np.ndarray, layer, pad_value: int) -> np.ndarray:
    """(H_out, W_out, C, kh, kw) sliding windows of an (H, W, C) map with SAME/VALID padding."""
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    if layer.padding == "same":
        top, bottom = same_padding(x.shape[0], kh, sh)
        left, right = same_padding(x.shape[1], kw, sw)
        x = np.pad(x, ((top, bottom), (left, right), (0, 0)), constant_values=pad_value)
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(0, 1))
    return win[::sh, ::sw]


def run_layer(layer, inputs: list[np.ndarray], in_q: list, out_q, quant, runtime: str) -> np.ndarray:
    """One layer on int8 inputs (batch-free shapes), as ``runtime``'s reference kernels compute it.

    The runtimes differ in one place: LiteRT's FULLY_CONNECTED requantizes with a single rounding,
    TFLM's (like every CONV_2D) with TFLite's double rounding.
    """
    x = inputs[0].astype(np.int64)
    zp_in = in_q[0].zero_point
    op = layer.op
    if op in ("conv2d", "depthwise_conv2d", "fully_connected"):
        w = quant.weight.astype(np.int64)
        if op == "fully_connected":
            acc = w @ (x - zp_in)
        else:
            win = _windows(x, layer, zp_in) - zp_in  # (Ho, Wo, C, kh, kw)
            if op == "conv2d":
                acc = np.einsum("hwckl,oklc->hwo", win, w)
            else:
                acc = np.einsum("hwckl,klc->hwc", win, w[0])
        acc = acc + quant.bias.astype(np.int64)
        scales = np.broadcast_to(quant.weight_scale, (acc.shape[-1],))
        real = in_q[0].scale * scales / out_q.scale
        single_round = op == "fully_connected" and runtime == "litert"
        return _clamp(_rescale(acc, real, single_round) + out_q.zero_point, out_q.zero_point, out_q.scale,
                      layer.activation)
    if op == "add":
        left_shift = 20
        twice_max = 2 * max(in_q[0].scale, in_q[1].scale)
        m1 = quantize_multiplier(in_q[0].scale / twice_max)
        m2 = quantize_multiplier(in_q[1].scale / twice_max)
        mo = quantize_multiplier(twice_max / ((1 << left_shift) * out_q.scale))
        a = multiply((x - zp_in) * (1 << left_shift), *m1)
        b = multiply((inputs[1].astype(np.int64) - in_q[1].zero_point) * (1 << left_shift), *m2)
        out = multiply(a + b, *mo) + out_q.zero_point
        return _clamp(out, out_q.zero_point, out_q.scale, layer.activation)
    if op == "max_pool":
        return _windows(x, layer, -128).max(axis=(3, 4)).astype(np.int8)
    if op == "avg_pool":
        total = _windows(x, layer, 0).sum(axis=(3, 4))
        count = layer.kernel[0] * layer.kernel[1]
        return _round_half_away(total, count).astype(np.int8)
    if op == "mean":
        # QuantizedMeanOrSum: the 1/count factor is folded into the multiplier by integer division.
        count = x.shape[0] * x.shape[1]
        total = (x - zp_in).sum(axis=(0, 1))
        multiplier, shift = quantize_multiplier(in_q[0].scale / out_q.scale)
        extra = min(count.bit_length() - 1, 32, 31 + shift)
        out = multiply(total, (multiplier << extra) // count, shift - extra) + out_q.zero_point
        return np.clip(out, -128, 127).astype(np.int8)
    if op == "reshape":
        return inputs[0].reshape(layer.output_shape)
    if op == "softmax":
        real = in_q[0].scale * (x - zp_in)
        e = np.exp(real - real.max())
        return np.clip(np.round(e / e.sum() * 256) - 128, -128, 127).astype(np.int8)
    raise ValueError(op)


def _round_half_away(total: np.ndarray, count: int) -> np.ndarray:
    """(total +- count/2) / count with C++ truncation: division rounding half away from zero."""
    num = np.where(total >= 0, total + count // 2, total - count // 2)
    return np.where(num >= 0, num // count, -((-num) // count))


def run_model(q, x: np.ndarray, runtime: str) -> np.ndarray:
    """The int8 output of a QuantizedModel for one int8 input, as ``runtime`` ("litert" with its
    reference kernels, or "tflm") computes it."""
    if runtime not in ("litert", "tflm"):
        raise ValueError(runtime)
    tensors = [x]
    for i, layer in enumerate(q.graph.layers):
        ins = [tensors[t] for t in layer.inputs]
        tensors.append(run_layer(layer, ins, [q.tensors[t] for t in layer.inputs], q.tensors[i + 1],
                                 q.layers[i], runtime))
    return tensors[-1]
