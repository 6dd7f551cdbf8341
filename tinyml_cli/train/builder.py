"""A torch ``nn.Module`` built from a LayerGraph, so training and the IR cannot disagree.

The module takes NHWC input (the IR's layout), returns logits (the final SOFTMAX is applied only by
:meth:`GraphModule.predict_proba`), pads like TFLite's SAME (extra padding after), and flattens in
H, W, C order, so exported weights need no reordering.

>>> from tinyml_cli.arch.mbnet import mobilenet_v2
>>> from tinyml_cli.arch import build_graph
>>> m = build_module(build_graph(mobilenet_v2(0.35, 32, 10)))
>>> tuple(m(torch.zeros(2, 32, 32, 3)).shape)
(2, 10)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..arch.graph import Layer, LayerGraph, same_padding
from ..arch.normalization import ZNORM_EPS
from ..data.dataset import channel_stats

_ACTIVATIONS = {"none": nn.Identity, "relu": nn.ReLU, "relu6": nn.ReLU6}


def normalize_input(x: torch.Tensor, kind: str, mean: torch.Tensor | None = None,
                    inv_std: torch.Tensor | None = None) -> torch.Tensor:
    """Raw NHWC inputs normalized as the deployed model's float front does (same operations, same
    order: see :mod:`tinyml_cli.arch.normalization`).

    >>> x = torch.tensor([[[[1.0], [3.0]]]])
    >>> normalize_input(x, "znorm").flatten().tolist(), normalize_input(x, "none") is x
    ([-1.0, 1.0], True)
    """
    if kind == "standardize":
        return (x - mean) * inv_std
    if kind == "znorm":
        centered = x - x.mean(dim=(1, 2), keepdim=True)
        variance = (centered * centered).mean(dim=(1, 2), keepdim=True)
        return centered * torch.rsqrt(variance + ZNORM_EPS)
    return x


class InputNorm(nn.Module):
    """The model's input normalization; ``standardize`` keeps its fitted statistics as buffers (saved
    with the weights)."""

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "standardize":
            self.register_buffer("mean", torch.zeros(channels))
            self.register_buffer("inv_std", torch.ones(channels))

    def fit(self, x: np.ndarray) -> None:
        """Fit the statistics on training inputs (nothing to fit for per-window z-normalization)."""
        if self.kind == "standardize":
            mean, std = channel_stats(x)
            inv_std = np.where(std > 1e-12, 1.0 / np.maximum(std, 1e-12), 1.0)   # 1 for a constant channel
            self.mean.copy_(torch.from_numpy(mean.astype(np.float32)))
            self.inv_std.copy_(torch.from_numpy(inv_std.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return normalize_input(x, self.kind, getattr(self, "mean", None), getattr(self, "inv_std", None))


class ConvUnit(nn.Module):
    """CONV_2D or DEPTHWISE_CONV_2D with TFLite SAME padding, optional batch norm, activation."""

    def __init__(self, layer: Layer, in_channels: int, in_hw: tuple[int, int]) -> None:
        super().__init__()
        out_channels = layer.output_shape[-1]
        groups = in_channels if layer.op == "depthwise_conv2d" else 1
        if layer.padding == "same":
            top, bottom = same_padding(in_hw[0], layer.kernel[0], layer.stride[0])
            left, right = same_padding(in_hw[1], layer.kernel[1], layer.stride[1])
            self.pad = (left, right, top, bottom)
        else:
            self.pad = (0, 0, 0, 0)
        self.conv = nn.Conv2d(in_channels, out_channels, layer.kernel, layer.stride, groups=groups,
                              bias=not layer.batch_norm)
        self.bn = nn.BatchNorm2d(out_channels) if layer.batch_norm else None
        self.act = _ACTIVATIONS[layer.activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pad):
            x = F.pad(x, self.pad)
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


class Dense(nn.Module):
    """FULLY_CONNECTED with activation."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        out_features, in_features = layer.weight_shape
        self.fc = nn.Linear(in_features, out_features)
        self.act = _ACTIVATIONS[layer.activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x))


class Pool(nn.Module):
    """AVERAGE_POOL_2D / MAX_POOL_2D with VALID padding."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        cls = nn.AvgPool2d if layer.op == "avg_pool" else nn.MaxPool2d
        self.pool = cls(layer.kernel, layer.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class Add(nn.Module):
    """ADD with activation."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.act = _ACTIVATIONS[layer.activation]()

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


def _module_for(layer: Layer, in_shape: tuple[int, ...]) -> nn.Module:
    if layer.op in ("conv2d", "depthwise_conv2d"):
        return ConvUnit(layer, in_shape[-1], (in_shape[0], in_shape[1]))
    if layer.op == "fully_connected":
        return Dense(layer)
    if layer.op in ("avg_pool", "max_pool"):
        return Pool(layer)
    if layer.op == "add":
        return Add(layer)
    if layer.op == "mean":
        return Mean()
    if layer.op == "reshape":
        return Flatten()
    if layer.op == "softmax":
        return nn.Identity()
    raise ValueError(f"no torch module for op {layer.op!r}")


class GraphModule(nn.Module):
    """Runs a LayerGraph's layers in order; ``layers[i]`` is the module of ``graph.layers[i]``."""

    def __init__(self, graph: LayerGraph) -> None:
        super().__init__()
        self.graph = graph
        self.input_norm = (InputNorm(graph.normalize, graph.input_shape[-1])
                           if graph.normalize != "none" else None)
        self.layers = nn.ModuleList(_module_for(l, graph.input_shapes(l)[0]) for l in graph.layers)
        classifiers = [i for i, l in enumerate(graph.layers) if l.op == "fully_connected"]
        self.classifier_index = classifiers[-1]

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor 0 as the layers take it: raw NHWC input normalized, feature maps in NCHW."""
        if self.input_norm is not None:
            x = self.input_norm(x)
        return x.permute(0, 3, 1, 2) if x.dim() == 4 else x

    def run_range(self, tensor: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Tensor ``stop`` from tensor ``start`` (layers ``start`` to ``stop - 1``; they may read no
        tensor before ``start`` but ``start`` itself)."""
        tensors = {start: tensor}
        for i in range(start, stop):
            layer = self.graph.layers[i]
            tensors[i + 1] = self.layers[i](*(tensors[t] for t in layer.inputs))
        return tensors[stop]

    def _run(self, x: torch.Tensor, stop: int) -> torch.Tensor:
        """Tensor ``stop`` for raw NHWC input ``x``."""
        return self.run_range(self.prepare_input(x), 0, stop)

    def fit_normalization(self, x_train: np.ndarray) -> None:
        """Fit the input normalization's statistics on raw training inputs (if it has any)."""
        if self.input_norm is not None:
            self.input_norm.fit(x_train)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for NHWC input (the SOFTMAX layer is left to the loss or to predict_proba)."""
        return self._run(x, len(self.graph.layers))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the last FULLY_CONNECTED layer: the embedding on-device learning works on."""
        return self._run(x, self.graph.layers[self.classifier_index].inputs[0])

    @property
    def classifier(self) -> nn.Linear:
        """The last FULLY_CONNECTED layer."""
        return self.layers[self.classifier_index].fc

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities."""
        return torch.softmax(self(x), dim=-1)


def build_module(graph: LayerGraph) -> GraphModule:
    """A freshly initialised torch module for ``graph``."""
    return GraphModule(graph)
