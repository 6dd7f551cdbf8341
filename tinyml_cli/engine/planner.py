"""The engine's memory plan: every intermediate tensor of a layer graph placed in one static arena.

The model's input and output live in the caller's buffers (``tinyml_invoke(input, output)``), so
the arena holds the tensors between them. A tensor lives from the layer that writes it to the last
layer that reads it; tensors alive at the same layer may not overlap. A layer whose kernel works in
place writes its output over an input it reads for the last time (the two share one buffer). The
engine's kernels need no scratch. Buffers are placed greedily, each at the lowest offset free over
its lifetime, in several orders (largest first as TFLM's greedy planner, longest-lived first, first
written first); the smallest arena wins.

>>> from tinyml_cli.arch.graph import GraphBuilder
>>> b = GraphBuilder((8, 8, 2)); x = b.conv(b.input, 4, 3); y = b.conv(x, 4, 1)
>>> z = b.add(x, y); _ = b.mean(z); plan = plan_memory(b.finish(), lambda layer: layer.op in ("add", "mean"))
>>> plan.size, plan.offsets
(512, {1: 0, 2: 256, 3: 0})
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

from ..arch.graph import Layer, LayerGraph

ALIGNMENT = 4                      # word-aligned buffers, for kernels that load words


@dataclass(frozen=True)
class Buffer:
    """Arena bytes shared by ``tensors``, alive from layer ``first`` to layer ``last``."""

    tensors: tuple[int, ...]
    size: int
    first: int
    last: int


@dataclass(frozen=True)
class MemoryPlan:
    """Each arena tensor's byte offset, the arena size and the placement order that gave it."""

    offsets: dict[int, int]
    size: int
    order: str


def buffers(graph: LayerGraph, in_place: Callable[[Layer], bool]) -> list[Buffer]:
    """The arena's buffers: tensors 1 .. n-1 (the input and the output are the caller's), those a
    layer updates in place merged with the input they overwrite."""
    output = len(graph.layers)
    last_use = {t: i for i, layer in enumerate(graph.layers) for t in layer.inputs}
    owner: dict[int, list[int]] = {}             # buffer root tensor -> its tensors
    root: dict[int, int] = {}
    for i, layer in enumerate(graph.layers):
        t = i + 1
        if t == output:
            break
        dying = [s for s in layer.inputs if s in root and last_use[s] == i]
        if in_place(layer) and dying:
            root[t] = root[dying[0]]
            owner[root[t]].append(t)
        else:
            root[t] = t
            owner[t] = [t]
    out: list[Buffer] = []
    for r, tensors in owner.items():
        size = max(prod(graph.tensor_shape(t)) for t in tensors)
        first = min(t - 1 for t in tensors)
        last = max(last_use.get(t, t - 1) for t in tensors)
        out.append(Buffer(tuple(tensors), -(-size // ALIGNMENT) * ALIGNMENT, first, last))
    return out


def place(buffers_in_order: list[Buffer]) -> tuple[dict[int, int], int]:
    """Greedy placement: each buffer at the lowest aligned offset that overlaps no placed buffer
    alive at the same time. Returns tensor offsets and the arena size."""
    placed: list[tuple[int, Buffer]] = []
    offsets: dict[int, int] = {}
    size = 0
    for buf in buffers_in_order:
        busy = sorted((o, o + b.size) for o, b in placed if b.first <= buf.last and buf.first <= b.last)
        offset = 0
        for lo, hi in busy:
            if offset + buf.size <= lo:
                break
            offset = max(offset, hi)
        placed.append((offset, buf))
        offsets.update({t: offset for t in buf.tensors})
        size = max(size, offset + buf.size)
    return offsets, size


ORDERS: dict[str, Callable[[Buffer], tuple]] = {
    "largest first": lambda b: (-b.size, b.first),
    "longest lived first": lambda b: (-(b.last - b.first), -b.size),
    "largest area first": lambda b: (-b.size * (b.last - b.first + 1), b.first),
    "first written first": lambda b: (b.first, -b.size),
}


def plan_memory(graph: LayerGraph, in_place: Callable[[Layer], bool]) -> MemoryPlan:
    """The smallest arena over :data:`ORDERS` (ties: the first order)."""
    bufs = buffers(graph, in_place)
    best: MemoryPlan | None = None
    for name, key in ORDERS.items():
        offsets, size = place(sorted(bufs, key=key))
        if best is None or size < best.size:
            best = MemoryPlan(dict(sorted(offsets.items())), size, name)
    return best
