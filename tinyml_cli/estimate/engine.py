"""The tinyml C engine's side of the estimate (runtime ``c``): peak SRAM from the engine's own memory
planner (the static arena, which holds the int8 input too, plus the caller's output buffer), flash from the generated library's parts (weights, int32 biases and per-channel
requantization constants, each layer's parameter struct and call, the kernels of the op kinds the
model uses: ``ENGINE_FLASH`` and ``ENGINE_PARAMS_BYTES`` in constants.py, measured with
arm-none-eabi-size), cycles per layer from the engine's kernels (``ENGINE_INSTRUCTIONS``, fitted
on the emulated core, through latency.py's ``op_cycles``). With patches (engine/patches.py) the
peak is the patch-based plan's, and the per-layer one is reported beside it; the cycles count each
patch's run of a layer (the recomputed overlap) and the region copies. One plan per distinct
graph structure is kept, so a search pays once per architecture.

>>> from tinyml_cli.arch.graph import GraphBuilder
>>> b = GraphBuilder((8, 8, 2)); x = b.conv(b.input, 4, 3); _ = b.mean(b.depthwise(x, 3))
>>> cost = engine_cost(b.finish(), "m4")
>>> cost.arena, cost.io_bytes, cost.live   # the input in the arena; the depthwise in place over one channel
(384, 4, [388, 324, 260])
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from math import prod

from ..arch.graph import Layer, LayerGraph
from ..engine.patches import CROP, PLACE, patch_in_place, plan_patches
from ..engine.planner import buffers, engine_in_place, live_peak, plan_memory
from ..errors import EngineError
from ..ops import LAYER_OPS, Costs, layer_view
from . import constants as K
from .latency import ENGINE_RATES, op_cycles


@dataclass(frozen=True)
class EngineCost:
    """The engine's arena as deployed (patch by patch up to layer ``split`` over ``patches`` x
    ``patches`` patches, or layer by layer: ``split`` -1) and layer by layer, the caller's output
    buffer bytes (``io_bytes``; the input lives in the arena), bytes alive at each layer run layer by layer (arena buffers and the
    caller's), the live-set lower bound of the deployed plan, flash per layer (its constants, its
    structs and calls; the split layer's row also holds the crops and places) and the code shared by
    all layers (kernels of the kinds used, ``tinyml_invoke``'s own)."""

    arena: int
    arena_per_layer: int
    io_bytes: int
    live: list[int]
    lower_bound: int
    layer_flash: list[int]
    code: int
    split: int = -1
    patches: int = 1
    layer_cycles: tuple[float, ...] = ()    # per layer (the split layer's row holds the crops and places)
    macs_run: int = 0                       # MACs as run: with patches, the recomputed overlap too

    @property
    def peak_sram(self) -> int:
        return self.arena + self.io_bytes

    @property
    def peak_sram_per_layer(self) -> int:
        return self.arena_per_layer + self.io_bytes


_MEMO: dict[tuple, EngineCost] = {}
_MEMO_MAX = 20_000


def clear_engine_memo() -> None:
    """Forget the memoized engine plans (benchmarks time a first estimate)."""
    _MEMO.clear()


def _structure(graph: LayerGraph) -> tuple:
    return (graph.input_shape, graph.normalize, tuple(
        (l.op, l.inputs, l.output_shape, l.kernel, l.stride, l.padding, l.weight_shape, l.bias)
        for l in graph.layers))


def engine_flash_table(family: str) -> dict[str, float]:
    """The measured code sizes of ``family`` (a family not measured: ENGINE_FLASH_DEFAULT_FAMILY's)."""
    return K.ENGINE_FLASH.get(family, K.ENGINE_FLASH[K.ENGINE_FLASH_DEFAULT_FAMILY])


def engine_class(layer: Layer, c: Costs) -> str:
    """The engine kernel that runs ``layer`` (engine/c/tinyml_kernels.c), as a key of the
    ``ENGINE_INSTRUCTIONS`` tables: a MAC kernel's op-table class, but any 3x3 depthwise takes the
    3x3 row kernel; another op its own kind (crops and places of patches included)."""
    if c.macs is None:
        return layer.op
    if c.cycle_class in _DEPTHWISE:
        return "depthwise_3x3" if tuple(layer.kernel) == (3, 3) else "depthwise"
    return c.cycle_class


_DEPTHWISE = ("depthwise", "depthwise_3x3")      # the op table's depthwise classes (CMSIS-NN's paths)
# the region a patch's crop or place copies: a crop its output, a place the patch (its last input)
_COPIED = {CROP: lambda layer, shapes: layer.output_shape, PLACE: lambda layer, shapes: shapes[-1]}


def engine_work(graph: LayerGraph) -> list[Costs]:
    """Each layer's work as the engine runs it: the op table's costs (``tinyml_cli.ops``) under
    the engine's kernel classes (:func:`engine_class`); a patch's crop or place copies the region it
    writes (its ``elements``). The engine's depthwise kernels run channel by channel, each over a
    copy of its input plane (padded, or the in-place scratch): their outer-loop passes
    (``pixels``) are the channels, and they read their input elements once more (``elements``)."""
    work = []
    for layer in graph.layers:
        shapes = [graph.tensor_shape(t) for t in layer.inputs]
        copied = _COPIED.get(layer.op)
        if copied is not None:
            work.append(Costs(None, prod(copied(layer, shapes)), layer.op, element_class=layer.op))
            continue
        c = LAYER_OPS[layer.op].kind.costs(layer_view(layer, shapes, 1, 1), "mcu")
        key = engine_class(layer, c)
        if c.macs is None:
            c = c._replace(element_class=key)
        elif key in _DEPTHWISE:
            c = c._replace(cycle_class=key, pixels=layer.output_shape[-1], elements=prod(shapes[0]), element_class=key)
        else:
            c = c._replace(cycle_class=key)
        work.append(c)
    return work


def check_engine_graph(graph: LayerGraph) -> None:
    """EngineError for the first thing of ``graph`` the engine does not run."""
    if graph.normalize != "none":
        raise EngineError(f"the C engine takes int8 inputs; this model normalizes float inputs "
                          f"({graph.normalize}): use runtime tflm, or train.normalize: none")
    for layer in graph.layers:
        if layer.op not in K.ENGINE_PARAMS_BYTES:
            raise EngineError(f"layer {layer.name}: the C engine has no kernel for {layer.op!r}; "
                              f"it runs {', '.join(op for op in K.ENGINE_PARAMS_BYTES if op not in (CROP, PLACE))}")


def _live(graph: LayerGraph, rule, in_place: frozenset[int], io_bytes: int) -> list[int]:
    steps = [0] * (len(graph.layers) + 1)
    for buf in buffers(graph, rule, in_place, input_in_arena=True):
        steps[buf.first] += buf.size
        steps[buf.last + 1] -= buf.size
    return [io_bytes + v for v in accumulate(steps[:-1])]


def _cycles(graph: LayerGraph, patched, rates) -> tuple[tuple[float, ...], int]:
    """Cycles per layer of ``graph`` run as ``patched`` (None: layer by layer) at the engine's
    ``rates``: each patch's run of a layer counted to that layer, crops and places to the split
    layer; and the MACs as run."""
    run = patched.graph if patched is not None else graph
    sources = [step.source for step in patched.steps] if patched is not None else range(len(graph.layers))
    cycles = [0.0] * len(graph.layers)
    macs = 0
    for source, c in zip(sources, engine_work(run)):
        cycles[patched.split if source is None else source] += op_cycles(c, rates)
        macs += c.macs or 0
    return tuple(cycles), macs


def engine_cost(graph: LayerGraph, family: str, patches: int = 0, split: int | None = None) -> EngineCost:
    """The engine's memory and flash for ``graph`` on a core of ``family``, run patch by patch over
    ``patches`` x ``patches`` patches (>= 2) up to layer ``split`` (None: the best split), as
    ``tinyml export --runtime c`` generates it (memoized per structure)."""
    key = (family, patches, split, _structure(graph))
    known = _MEMO.get(key)
    if known is not None:
        return known
    check_engine_graph(graph)
    plan = plan_memory(graph, engine_in_place, input_in_arena=True)
    io_bytes = prod(graph.output_shape)
    live = _live(graph, engine_in_place, plan.in_place, io_bytes)
    patched, deployed, lower_bound = None, plan, max(live)
    if patches >= 2:
        patched, deployed = plan_patches(graph, patches, split)
        rule = patch_in_place(engine_in_place)
        lower_bound = io_bytes + live_peak(buffers(patched.graph, rule, deployed.in_place, input_in_arena=True))
    table = engine_flash_table(family)
    per_call = round(table["per_call"])
    runs = [1] * len(graph.layers)                    # how many times each layer's struct and call appear
    extra = 0                                          # crops and places
    if patched is not None:
        runs = [0] * len(graph.layers)
        for layer, step in zip(patched.graph.layers, patched.steps):
            if step.source is None:
                extra += K.ENGINE_PARAMS_BYTES[layer.op] + per_call
            else:
                runs[step.source] += 1
    layer_flash = []
    for i, layer in enumerate(graph.layers):
        constants = (K.ENGINE_PARAMS_BYTES[layer.op] + per_call) * runs[i]
        if layer.weight_shape is not None:
            constants += prod(layer.weight_shape) + layer.output_shape[-1] * K.ENGINE_PER_CHANNEL_BYTES[layer.op]
        layer_flash.append(constants + (extra if patched is not None and i == patched.split else 0))
    kinds = {layer.op for layer in graph.layers} | ({"patch"} if patched is not None else set())
    code = int(table["invoke"] + table["shared"] + sum(table[kind] for kind in kinds))
    cycles, macs_run = _cycles(graph, patched, ENGINE_RATES[family])
    cost = EngineCost(deployed.size, plan.size, io_bytes, live, lower_bound, layer_flash, code,
                      patched.split if patched else -1, patches if patched else 1, cycles, macs_run)
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    _MEMO[key] = cost
    return cost
