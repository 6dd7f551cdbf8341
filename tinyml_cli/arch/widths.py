"""Per-layer channel counts: how a pruned network is described on top of its space's choices.

An Arch's ``widths`` maps the names of layers that choose their own output channels (the op table's
``channels="own"``: ``conv2d``, and ``fully_connected`` other than the classifier) to a channel
count. The space builds its graph from its choices as always; :func:`apply_widths` then rebuilds
that graph layer by layer with those counts, and every layer that carries its input's channels
(``"follow"``: depthwise, pooling, add, mean, softmax) or flattens them (``"flatten"``) follows. Channels tied across an ADD form one group: every layer writing into a
group must keep the same count. The builder, the estimator and the exporter all read the rebuilt
graph, so a pruned network has no second description.

>>> from tinyml_cli.arch import Arch, build_graph
>>> arch = Arch("plain", (1, 16, 1), 3, {"layers": [
...     {"type": "conv", "channels": 8, "kernel": 3, "stride": 1},
...     {"type": "dwsep", "channels": 8, "kernel": 3, "stride": 2}], "reduce": "flatten", "dense": [16]})
>>> g = build_graph(arch)
>>> [(l.name, l.output_shape[-1]) for l in g.layers if l.name in prunable_layers(g)]
[('conv2d_0', 8), ('conv2d_2', 8), ('fully_connected_4', 16)]
>>> p = apply_widths(g, {"conv2d_0": 5, "conv2d_2": 3, "fully_connected_4": 4})
>>> [l.output_shape for l in p.layers]
[(1, 16, 5), (1, 8, 5), (1, 8, 3), (24,), (4,), (3,), (3,)]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod
from typing import Mapping

import numpy as np

from ..errors import ArchError, ConfigError
from ..ops import LAYER_OPS
from .graph import LayerGraph


@dataclass(frozen=True)
class ChannelGroups:
    """Which channels of a graph move together. ``group[t]``: the group of tensor ``t``'s last axis
    (None: fixed, the graph input and the classifier's output, or a flattened vector, whose
    features follow the group of the map it flattens); ``writers[g]``: the layers (indices) that
    choose group ``g``'s channels; ``size[g]``: its channel count."""

    group: tuple[int | None, ...]
    writers: dict[int, tuple[int, ...]]
    size: dict[int, int]


def channel_groups(graph: LayerGraph) -> ChannelGroups:
    """The channel groups of ``graph`` (union-find over ADD inputs)."""
    parent: list[int] = [0]                      # group 0: the graph input, fixed
    tensor_group: list[int | None] = [0]

    def find(g: int) -> int:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    for layer in graph.layers:
        kind = LAYER_OPS[layer.op].channels
        inputs = [tensor_group[t] for t in layer.inputs]
        if kind == "own":
            parent.append(len(parent))
            tensor_group.append(parent[-1])
        elif kind == "follow" and None not in inputs:
            roots = sorted({find(g) for g in inputs})
            for g in roots[1:]:                  # an ADD ties its inputs' channels together
                parent[g] = roots[0]
            tensor_group.append(roots[0])
        else:                                    # a flattened vector: no channel axis of its own
            tensor_group.append(None)
    fixed = {find(0)} | ({find(tensor_group[-1])} if tensor_group[-1] is not None else set())
    groups = tuple(None if g is None or find(g) in fixed else find(g) for g in tensor_group)
    writers: dict[int, list[int]] = {}
    for i, layer in enumerate(graph.layers):
        if LAYER_OPS[layer.op].channels == "own" and groups[i + 1] is not None:
            writers.setdefault(groups[i + 1], []).append(i)
    size = {g: graph.layers[w[0]].output_shape[-1] for g, w in writers.items()}
    return ChannelGroups(groups, {g: tuple(w) for g, w in writers.items()}, size)


def prunable_layers(graph: LayerGraph) -> list[str]:
    """Names of the layers an Arch's ``widths`` may set."""
    groups = channel_groups(graph)
    return [graph.layers[i].name for w in groups.writers.values() for i in w]


def group_widths(graph: LayerGraph, counts: Mapping[int, int]) -> dict[str, int]:
    """The ``widths`` that give each channel group ``g`` of ``graph`` ``counts[g]`` channels."""
    groups = channel_groups(graph)
    return {graph.layers[i].name: int(counts[g]) for g, w in groups.writers.items() for i in w}


def apply_widths(graph: LayerGraph, widths: Mapping[str, int], source: str = "arch") -> LayerGraph:
    """``graph`` rebuilt with the output channels ``widths`` gives by layer name (see the module
    docstring); a name that is not a prunable layer, or counts that disagree across an ADD, is an
    error naming ``source``."""
    if not widths:
        return graph
    allowed = set(prunable_layers(graph))
    for name, count in widths.items():
        if name not in allowed:
            raise ConfigError(f"{source}: widths: {name!r} is not a layer whose channels can be set "
                              f"(those are {', '.join(sorted(allowed)) or 'none'})")
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ConfigError(f"{source}: widths.{name}: expected a positive integer, got {count!r}")
    shapes = [graph.input_shape]
    layers = []
    for layer in graph.layers:
        layers.append(_resized(layer, [shapes[t] for t in layer.inputs], widths, source))
        shapes.append(layers[-1].output_shape)
    return replace(graph, layers=tuple(layers))


def _resized(layer, in_shapes: list[tuple[int, ...]], widths: Mapping[str, int], source: str):
    """``layer`` on inputs of ``in_shapes``: its output channels from ``widths`` (or as built) when
    it owns them, its inputs' otherwise; weights (out, ..., in) or (..., channels) to match."""
    kind, ws, c_in = LAYER_OPS[layer.op].channels, layer.weight_shape, in_shapes[0][-1]
    if kind == "flatten":
        return replace(layer, output_shape=(prod(in_shapes[0]),))
    if kind == "own":
        out = widths.get(layer.name, layer.output_shape[-1])
        return replace(layer, output_shape=(*layer.output_shape[:-1], out), weight_shape=(out, *ws[1:-1], c_in))
    if len(set(in_shapes)) > 1:
        raise ArchError(f"{source}: widths: the layers feeding {layer.name} must keep equal channels, "
                        f"got {' and '.join(map(str, in_shapes))}")
    return replace(layer, output_shape=(*layer.output_shape[:-1], c_in),
                   weight_shape=None if ws is None else (*ws[:-1], c_in))


def kept_features(graph: LayerGraph, keep: Mapping[int, np.ndarray]) -> list[np.ndarray]:
    """For every tensor of ``graph``, the indices along its last axis that remain when channel
    group ``g`` keeps the channels ``keep[g]`` (all of them for a group not in ``keep``); a
    flattened map keeps, at every position, the features of its kept channels (H, W, C order)."""
    groups = channel_groups(graph)
    out: list[np.ndarray] = []
    for t, shape in enumerate(graph.tensor_shapes):
        g = groups.group[t]
        if g is not None and g in keep:
            out.append(np.sort(np.asarray(keep[g], dtype=np.int64)))
        elif t > 0 and LAYER_OPS[graph.layers[t - 1].op].channels == "flatten":
            source = graph.layers[t - 1].inputs[0]
            channels = graph.tensor_shape(source)[-1]
            positions = np.arange(shape[-1] // channels)[:, None] * channels
            out.append((positions + out[source][None, :]).reshape(-1))
        else:
            out.append(np.arange(shape[-1]))
    return out
