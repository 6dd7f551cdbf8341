"""Which channels to keep, and the trained module with the others cut out.

Channels are ranked within their group (:func:`tinyml_cli.arch.widths.channel_groups`): by the L1
norm of each output filter of the layers writing the group (Li et al., "Pruning Filters for
Efficient ConvNets", ICLR 2017), or by the absolute batch-norm scale of those layers (Liu et al.,
"Learning Efficient Convolutional Networks through Network Slimming", ICCV 2017; a writer without
batch norm ranks by L1). A group tied across ADDs sums its writers' scores, so a residual channel
goes or stays in every layer at once.

>>> from tinyml_cli.arch import Arch, build_graph
>>> from tinyml_cli.train.builder import build_module
>>> arch = Arch("plain", (1, 16, 1), 3, {"layers": [{"type": "conv", "channels": 4, "kernel": 3,
...     "stride": 1}], "reduce": "avg", "dense": []})
>>> graph = build_graph(arch); module = build_module(graph)
>>> with torch.no_grad(): _ = module.layers[0].conv.weight.mul_(torch.arange(4.0).view(-1, 1, 1, 1))
>>> keep = select_channels(channel_scores(graph, module, "l1"), {1: 2})
>>> keep[1].tolist()
[2, 3]
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from ..arch.graph import LayerGraph
from ..arch.widths import channel_groups, kept_features
from ..train.builder import GraphModule, build_module

CRITERIA = ("l1", "bn")


def _filter_weight(unit: torch.nn.Module) -> torch.Tensor:
    """The layer's weight with output channels on axis 0 (conv: (out, in, kh, kw); dense: (out, in))."""
    return next(p for n, p in unit.named_parameters() if n.endswith("weight") and p.dim() >= 2)


def channel_scores(graph: LayerGraph, module: GraphModule, criterion: str) -> dict[int, np.ndarray]:
    """Per channel group, one importance score per channel (higher: more important)."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    scores: dict[int, np.ndarray] = {}
    with torch.no_grad():
        for g, writers in channel_groups(graph).writers.items():
            total = 0.0
            for i in writers:
                unit = module.layers[i]
                bn = getattr(unit, "bn", None)
                if criterion == "bn" and bn is not None:
                    score = bn.weight.abs()
                else:
                    weight = _filter_weight(unit)
                    score = weight.abs().reshape(weight.shape[0], -1).sum(1)
                total = total + score.double().cpu().numpy()
            scores[g] = np.asarray(total)
    return scores


def select_channels(scores: Mapping[int, np.ndarray], counts: Mapping[int, int]) -> dict[int, np.ndarray]:
    """The ``counts[g]`` highest-scoring channels of each group ``g`` (ascending indices; ties keep
    the lower index)."""
    keep = {}
    for g, count in counts.items():
        order = np.argsort(-scores[g], kind="stable")[:count]
        keep[g] = np.sort(order)
    return keep


def cut_module(graph: LayerGraph, module: GraphModule, pruned: LayerGraph,
               keep: Mapping[int, np.ndarray]) -> GraphModule:
    """A module for ``pruned`` (``graph`` with group ``g`` down to the channels ``keep[g]``) holding
    ``module``'s trained weights, batch-norm statistics and input normalization for what remains."""
    features = [torch.from_numpy(f) for f in kept_features(graph, keep)]
    new = build_module(pruned)
    state = module.state_dict()
    out = {}
    for key, target in new.state_dict().items():
        value = state[key]
        if value.shape != target.shape:
            i = int(key.split(".")[1])                    # layers.<i>.<...>
            layer = graph.layers[i]
            if value.shape[0] != target.shape[0]:
                value = value.index_select(0, features[i + 1])
            if value.dim() >= 2 and value.shape[1] != target.shape[1]:
                value = value.index_select(1, features[layer.inputs[0]])
        out[key] = value.clone()
    new.load_state_dict(out)
    return new.eval()
