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
from torch import nn

from ..arch.graph import Layer, LayerGraph
from ..arch.normalization import ZNORM_EPS
from ..data.dataset import channel_stats
from ..ops import LAYER_OPS
from ..ops.torch_layers import Dense

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


def _module_for(layer: Layer, in_shape: tuple[int, ...]) -> nn.Module:
    """The torch module the op table gives a layer."""
    if layer.op not in LAYER_OPS:
        raise ValueError(f"no torch module for op {layer.op!r}")
    return LAYER_OPS[layer.op].module(layer, in_shape)


class GraphModule(nn.Module):
    """Runs a LayerGraph's layers in order; ``layers[i]`` is the module of ``graph.layers[i]``."""

    def __init__(self, graph: LayerGraph) -> None:
        super().__init__()
        self.graph = graph
        self.input_norm = (InputNorm(graph.normalize, graph.input_shape[-1])
                           if graph.normalize != "none" else None)
        self.layers = nn.ModuleList(_module_for(l, graph.input_shapes(l)[0]) for l in graph.layers)
        classifiers = [i for i, m in enumerate(self.layers) if isinstance(m, Dense)]
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
