"""An int8 estimate of a trained model: fake-quantized evaluation as TFLite's int8 kernels see it.

Batch norm is folded into the convolutions, weights are rounded to per-channel symmetric int8
(scale = max|w| / 127 per output channel), biases to the int32 grid ``input scale x weight scale``, and
every tensor (the input and each layer's output, after its fused activation) to per-tensor asymmetric
int8 with a range calibrated on training samples. The network still runs in float on those grids, so
its accuracy is the accuracy of the deployed int8 model up to rounding inside the kernels.

>>> from tinyml_cli.arch import GraphBuilder
>>> from tinyml_cli.train.builder import build_module
>>> b = GraphBuilder((4, 4, 1)); t = b.conv(b.input, 3, 3, activation="relu"); t = b.mean(t)
>>> _ = b.fully_connected(t, 2); m = build_module(b.finish()).eval()
>>> x = np.random.default_rng(0).random((16, 4, 4, 1), dtype=np.float32)
>>> q = quantize_module(m, x)
>>> steps = q.layers[0].conv.weight.detach() / q.weight_scales[0].view(-1, 1, 1, 1)
>>> bool((steps - steps.round()).abs().max() < 1e-4), int(steps.abs().round().max())
(True, 127)
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .builder import ConvUnit, Dense, GraphModule
from .loop import accuracy


def fold_batch_norm(module: GraphModule) -> GraphModule:
    """A copy of ``module`` (eval mode) whose convolutions carry their batch norm in weight and bias."""
    folded = copy.deepcopy(module).eval()
    for unit in folded.layers:
        if not isinstance(unit, ConvUnit) or unit.bn is None:
            continue
        bn, conv = unit.bn, unit.conv
        factor = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
        new_conv = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                             groups=conv.groups, bias=True).to(conv.weight.device)
        with torch.no_grad():
            new_conv.weight.copy_(conv.weight * factor.view(-1, 1, 1, 1))
            new_conv.bias.copy_((bias - bn.running_mean) * factor + bn.bias.detach())
        unit.conv, unit.bn = new_conv, None
    return folded


def _weighted(unit: nn.Module) -> nn.Module | None:
    if isinstance(unit, ConvUnit):
        return unit.conv
    if isinstance(unit, Dense):
        return unit.fc
    return None


class _ActivationQuant:
    """Per-tensor asymmetric int8 ranges: observed in calibration, then applied."""

    def __init__(self) -> None:
        self.lo: dict[int, float] = {}
        self.hi: dict[int, float] = {}
        self.calibrating = True

    def params(self, key: int) -> tuple[float, int]:
        lo, hi = min(self.lo[key], 0.0), max(self.hi[key], 0.0)
        scale = (hi - lo) / 255.0 or 1.0
        return scale, int(round(-128 - lo / scale))

    def __call__(self, key: int, x: torch.Tensor) -> torch.Tensor:
        if self.calibrating:
            self.lo[key] = min(self.lo.get(key, np.inf), float(x.min()))
            self.hi[key] = max(self.hi.get(key, -np.inf), float(x.max()))
            return x
        scale, zero = self.params(key)
        return (torch.clamp(torch.round(x / scale) + zero, -128, 127) - zero) * scale


def quantize_module(module: GraphModule, x_calib: np.ndarray, batch_size: int = 256) -> GraphModule:
    """A fake-quantized copy of ``module`` calibrated on ``x_calib`` (NHWC); ``weight_scales[i]``
    holds layer ``i``'s per-channel weight scales, ``activation_quant.params(t)`` tensor ``t``'s
    (scale, zero point)."""
    q = fold_batch_norm(module)
    device = next(q.parameters()).device
    acts = _ActivationQuant()
    q.weight_scales = {}
    q.activation_quant = acts
    for i, unit in enumerate(q.layers):
        unit.register_forward_hook(lambda _m, _in, out, i=i: acts(i + 1, out))
    q.layers[0].register_forward_pre_hook(lambda _m, args: tuple(acts(0, a) for a in args))
    with torch.no_grad():
        for i in range(0, len(x_calib), batch_size):
            q(torch.from_numpy(x_calib[i:i + batch_size]).to(device))
        acts.calibrating = False
        for i, (layer, unit) in enumerate(zip(q.graph.layers, q.layers)):
            lin = _weighted(unit)
            if lin is None:
                continue
            w = lin.weight
            flat = w.reshape(w.shape[0], -1)
            scale = flat.abs().amax(dim=1).clamp_min(1e-12) / 127.0
            shape = (-1,) + (1,) * (w.dim() - 1)
            w.copy_(torch.clamp(torch.round(w / scale.view(shape)), -127, 127) * scale.view(shape))
            in_scale, _ = acts.params(layer.inputs[0])
            bias_scale = scale * in_scale
            lin.bias.copy_(torch.round(lin.bias / bias_scale) * bias_scale)
            q.weight_scales[i] = scale
    return q.eval()


def int8_accuracy(module: GraphModule, x_calib: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the fake-quantized int8 model on ``(x, y)``, calibrated on ``x_calib``."""
    return accuracy(quantize_module(module, x_calib), x, y)
