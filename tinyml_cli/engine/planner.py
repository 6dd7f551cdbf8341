"""The engine's memory plan: every intermediate tensor of a layer graph placed in one static arena.

The model's input and output live in the caller's buffers (``tinyml_invoke(input, output)``), so
the arena holds the tensors between them. A tensor lives from the layer that writes it to the last
layer that reads it; tensors alive at the same layer may not overlap. A layer whose kernel works in
place writes its output over an input it reads for the last time (the two share one buffer), with
the scratch that kernel then needs (a depthwise convolution: one input channel) alive at that layer
only; no other kernel needs scratch. Buffers are placed greedily, each at the lowest offset free over
its lifetime, in several orders (largest first as TFLM's greedy planner, longest-lived first, first
written first); the smallest arena wins. Working in place merges buffers, which can pack worse, so
each in-place layer is also tried out of place.

>>> from tinyml_cli.arch.graph import GraphBuilder
>>> b = GraphBuilder((8, 8, 2)); x = b.conv(b.input, 4, 3); y = b.conv(x, 4, 1)
>>> z = b.add(x, y); _ = b.mean(z)
>>> plan = plan_memory(b.finish(), lambda layer, shape: 0 if layer.op in ("add", "mean") else None)
>>> plan.size, plan.offsets, plan.scratch
(512, {1: 0, 2: 256, 3: 0}, {})
>>> plan_memory(b.finish(), engine_in_place) == plan      # the engine's kernels: ADD and MEAN in place
True
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

from ..arch.graph import Layer, LayerGraph

ALIGNMENT = 4                      # word-aligned buffers, for kernels that load words


@dataclass(frozen=True)
class Buffer:
    """Arena bytes shared by ``tensors`` (none: the scratch of layer ``scratch_of``), alive from
    layer ``first`` to layer ``last``."""

    tensors: tuple[int, ...]
    size: int
    first: int
    last: int
    scratch_of: int | None = None


@dataclass(frozen=True)
class MemoryPlan:
    """Each arena tensor's byte offset, the scratch offset of each layer working in place with
    scratch, the arena size, the placement order that gave it and the layers working in place."""

    offsets: dict[int, int]
    scratch: dict[int, int]
    size: int
    order: str
    in_place: frozenset[int] = frozenset()


def _aligned(size: int) -> int:
    return -(-size // ALIGNMENT) * ALIGNMENT


InPlace = Callable[[Layer, tuple[int, ...]], "int | None"]


def _one_channel(in_shape: tuple[int, ...]) -> int:
    """A depthwise convolution in place copies one input channel aside: height x width bytes."""
    return in_shape[0] * in_shape[1]


def _none(in_shape: tuple[int, ...]) -> int:
    return 0


# The engine's kernels that can write their output over an input they read for the last time, and
# the scratch bytes they then need for an input of a shape (c/tinyml_kernels.c).
IN_PLACE: dict[str, Callable[[tuple[int, ...]], int]] = {
    "depthwise_conv2d": _one_channel, "add": _none, "avg_pool": _none, "max_pool": _none,
    "mean": _none, "reshape": _none, "softmax": _none,
}


def engine_in_place(layer: Layer, in_shape: tuple[int, ...]) -> int | None:
    """The scratch bytes the engine's kernel for ``layer`` needs to work in place on an input of
    ``in_shape`` (None: it cannot): the ``InPlace`` rule of the generated C."""
    scratch = IN_PLACE.get(layer.op)
    return None if scratch is None else scratch(in_shape)


def buffers(graph: LayerGraph, in_place_scratch: InPlace, allowed: frozenset[int] | None = None,
            input_in_arena: bool = False) -> list[Buffer]:
    """The arena's buffers: tensors 1 .. n-1 (and the input, with ``input_in_arena``; else the
    input and the output are the caller's), those a layer updates in place merged with the input
    they overwrite, and that layer's scratch.
    ``in_place_scratch(layer, input shape)``: the scratch bytes its kernel needs to work in place
    (None: it cannot); a layer works in place only if its scratch is smaller than its output."""
    output = len(graph.layers)
    last_use = {t: i for i, layer in enumerate(graph.layers) for t in layer.inputs}
    owner: dict[int, list[int]] = {}             # buffer root tensor -> its tensors
    root: dict[int, int] = {0: 0} if input_in_arena else {}
    if input_in_arena:
        owner[0] = [0]
    scratch: list[Buffer] = []
    for i, layer in enumerate(graph.layers):
        t = i + 1
        if t == output:
            break
        dying = [s for s in layer.inputs if s in root and last_use[s] == i]
        extra = in_place_scratch(layer, graph.tensor_shape(layer.inputs[0]))
        if extra is not None and dying and extra < prod(layer.output_shape) and (allowed is None or i in allowed):
            root[t] = root[dying[0]]
            owner[root[t]].append(t)
            if extra:
                scratch.append(Buffer((), _aligned(extra), i, i, i))
        else:
            root[t] = t
            owner[t] = [t]
    out: list[Buffer] = []
    for tensors in owner.values():
        size = max(prod(graph.tensor_shape(t)) for t in tensors)
        first = max(0, min(t - 1 for t in tensors))
        last = max(last_use.get(t, t - 1) for t in tensors)
        out.append(Buffer(tuple(tensors), _aligned(size), first, last))
    return out + scratch


def place(buffers_in_order: list[Buffer]) -> tuple[list[int], int]:
    """Greedy placement: each buffer at the lowest aligned offset that overlaps no placed buffer
    alive at the same time. Returns each buffer's offset and the arena size."""
    placed: list[tuple[int, Buffer]] = []
    size = 0
    for buf in buffers_in_order:
        busy = sorted((o, o + b.size) for o, b in placed if b.first <= buf.last and buf.first <= b.last)
        offset = 0
        for lo, hi in busy:
            if offset + buf.size <= lo:
                break
            offset = max(offset, hi)
        placed.append((offset, buf))
        size = max(size, offset + buf.size)
    return [offset for offset, _ in placed], size


ORDERS: dict[str, Callable[[Buffer], tuple]] = {
    "largest first": lambda b: (-b.size, b.first),
    "longest lived first": lambda b: (-(b.last - b.first), -b.size),
    "largest area first": lambda b: (-b.size * (b.last - b.first + 1), b.first),
    "first written first": lambda b: (b.first, -b.size),
}


def best_placement(bufs: list[Buffer]) -> MemoryPlan:
    """The smallest arena over :data:`ORDERS` (ties: the first order)."""
    best: MemoryPlan | None = None
    for name, key in ORDERS.items():
        ordered = sorted(bufs, key=key)
        offsets, size = place(ordered)
        if best is None or size < best.size:
            tensors = {t: o for o, b in zip(offsets, ordered) for t in b.tensors}
            scratch = {b.scratch_of: o for o, b in zip(offsets, ordered) if b.scratch_of is not None}
            merged = frozenset(t - 1 for b in bufs for t in b.tensors[1:])
            best = MemoryPlan(dict(sorted(tensors.items())), scratch, size, name, merged)
    return best


def live_peak(bufs: list[Buffer]) -> int:
    """The most bytes alive at one layer: no placement of ``bufs`` needs less."""
    steps = [0] * (max((b.last for b in bufs), default=0) + 2)
    for b in bufs:
        steps[b.first] += b.size
        steps[b.last + 1] -= b.size
    peak = running = 0
    for delta in steps:
        running += delta
        peak = max(peak, running)
    return peak


def plan_memory(graph: LayerGraph, in_place_scratch: InPlace, input_in_arena: bool = False) -> MemoryPlan:
    """The smallest arena found: every layer that can work in place doing so, then each in turn
    kept out of place where that packs smaller (a merged buffer can pack worse). See
    :func:`buffers` and :func:`place`."""
    allowed = frozenset(range(len(graph.layers)))
    best = best_placement(buffers(graph, in_place_scratch, allowed, input_in_arena))
    for i, layer in enumerate(graph.layers):
        if in_place_scratch(layer, graph.tensor_shape(layer.inputs[0])) is None:
            continue
        trial = best_placement(buffers(graph, in_place_scratch, allowed - {i}, input_in_arena))
        if trial.size < best.size:
            allowed, best = allowed - {i}, trial
    return best
