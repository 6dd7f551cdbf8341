"""The torch side of the IR's layers: the modules that train them (NCHW inside, TFLite's SAME
padding) and the float functions the exporter's folded model runs on NHWC tensors. Only the op
modules' facets use this file, and they import it when they are called, so estimating never imports
torch.

>>> import torch
>>> activate(torch.tensor([-1.0, 3.0, 9.0]), "relu6").tolist()
[0.0, 3.0, 6.0]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..arch.graph import same_padding

ACTIVATIONS = {"none": nn.Identity, "relu": nn.ReLU, "relu6": nn.ReLU6}


def activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    """A fused activation (none, relu, relu6) in float."""
    if activation == "relu":
        return F.relu(x)
    if activation == "relu6":
        return torch.clamp(x, 0.0, 6.0)
    return x


class ConvUnit(nn.Module):
    """A convolution (``groups`` = input channels for a depthwise one) with TFLite SAME padding,
    optional batch norm and the fused activation."""

    def __init__(self, layer, in_channels: int, in_hw: tuple[int, int], groups: int) -> None:
        super().__init__()
        out_channels = layer.output_shape[-1]
        if layer.padding == "same":
            top, bottom = same_padding(in_hw[0], layer.kernel[0], layer.stride[0])
            left, right = same_padding(in_hw[1], layer.kernel[1], layer.stride[1])
            self.pad = (left, right, top, bottom)
        else:
            self.pad = (0, 0, 0, 0)
        self.conv = nn.Conv2d(in_channels, out_channels, layer.kernel, layer.stride, groups=groups,
                              bias=not layer.batch_norm)
        self.bn = nn.BatchNorm2d(out_channels) if layer.batch_norm else None
        self.act = ACTIVATIONS[layer.activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pad):
            x = F.pad(x, self.pad)
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


def fold_batch_norm(unit: ConvUnit) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of a convolution unit with its batch norm (eval statistics) folded in."""
    conv, bn = unit.conv, unit.bn
    weight = conv.weight.detach()
    bias = torch.zeros(conv.out_channels, device=weight.device) if conv.bias is None else conv.bias.detach()
    if bn is None:
        return weight, bias
    factor = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    return weight * factor.view(-1, 1, 1, 1), (bias - bn.running_mean) * factor + bn.bias.detach()


def conv_nhwc(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, layer, depthwise: bool) -> torch.Tensor:
    """CONV_2D / DEPTHWISE_CONV_2D on NHWC input with TFLite weight layouts and SAME padding."""
    x = x.permute(0, 3, 1, 2)
    if layer.padding == "same":
        top, bottom = same_padding(x.shape[2], layer.kernel[0], layer.stride[0])
        left, right = same_padding(x.shape[3], layer.kernel[1], layer.stride[1])
        x = F.pad(x, (left, right, top, bottom))
    if depthwise:
        y = F.conv2d(x, w.permute(3, 0, 1, 2), b, layer.stride, groups=x.shape[1])
    else:
        y = F.conv2d(x, w.permute(0, 3, 1, 2), b, layer.stride)
    return activate(y, layer.activation).permute(0, 2, 3, 1)


class Dense(nn.Module):
    """FULLY_CONNECTED with the fused activation."""

    def __init__(self, layer) -> None:
        super().__init__()
        out_features, in_features = layer.weight_shape
        self.fc = nn.Linear(in_features, out_features)
        self.act = ACTIVATIONS[layer.activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x))


class Add(nn.Module):
    """ADD with the fused activation."""

    def __init__(self, layer) -> None:
        super().__init__()
        self.act = ACTIVATIONS[layer.activation]()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.act(a + b)


class Mean(nn.Module):
    """Global average pool to a vector."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class Flatten(nn.Module):
    """RESHAPE to a vector in H, W, C order (TFLite's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
