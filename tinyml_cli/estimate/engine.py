"""The tinyml C engine's side of the estimate (runtime ``c``): peak SRAM from the engine's own memory
planner (the static arena, plus the caller's int8 input and output buffers ``tinyml_invoke``
reads and writes), flash from the generated library's parts (weights, int32 biases and per-channel
requantization constants, each layer's parameter struct and call, the kernels of the op kinds the
model uses: ``ENGINE_FLASH`` and ``ENGINE_PARAMS_BYTES`` in constants.py, measured with
arm-none-eabi-size). One plan per distinct graph structure is kept, so a search pays once per
architecture.

>>> from tinyml_cli.arch.graph import GraphBuilder
>>> b = GraphBuilder((8, 8, 2)); x = b.conv(b.input, 4, 3); _ = b.mean(b.depthwise(x, 3))
>>> cost = engine_cost(b.finish(), "m4")
>>> cost.arena, cost.io_bytes, cost.live          # the depthwise in place: one channel of scratch
(320, 132, [388, 452, 388])
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..arch.graph import LayerGraph
from ..engine.planner import MemoryPlan, buffers, engine_in_place, plan_memory
from ..errors import EngineError
from . import constants as K


@dataclass(frozen=True)
class EngineCost:
    """The engine's arena, input + output buffer bytes, bytes alive at each layer (arena buffers
    and the caller's buffers), flash per layer (its constants, struct and call) and the code shared
    by all layers (kernels of the kinds used, ``tinyml_invoke``'s own), and the plan itself."""

    arena: int
    io_bytes: int
    live: list[int]
    layer_flash: list[int]
    code: int
    plan: MemoryPlan

    @property
    def peak_sram(self) -> int:
        return self.arena + self.io_bytes


_MEMO: dict[tuple, EngineCost] = {}
_MEMO_MAX = 20_000


def _structure(graph: LayerGraph) -> tuple:
    return (graph.input_shape, graph.normalize, tuple(
        (l.op, l.inputs, l.output_shape, l.kernel, l.stride, l.padding, l.weight_shape, l.bias)
        for l in graph.layers))


def engine_flash_table(family: str) -> dict[str, float]:
    """The measured code sizes of ``family`` (a family not measured: ENGINE_FLASH_DEFAULT_FAMILY's)."""
    return K.ENGINE_FLASH.get(family, K.ENGINE_FLASH[K.ENGINE_FLASH_DEFAULT_FAMILY])


def check_engine_graph(graph: LayerGraph) -> None:
    """EngineError for the first thing of ``graph`` the engine does not run."""
    if graph.normalize != "none":
        raise EngineError(f"the C engine takes int8 inputs; this model normalizes float inputs "
                          f"({graph.normalize}): use runtime tflm, or train.normalize: none")
    for layer in graph.layers:
        if layer.op not in K.ENGINE_PARAMS_BYTES:
            raise EngineError(f"layer {layer.name}: the C engine has no kernel for {layer.op!r}; "
                              f"it runs {', '.join(K.ENGINE_PARAMS_BYTES)}")


def engine_cost(graph: LayerGraph, family: str) -> EngineCost:
    """The engine's memory and flash for ``graph`` on a core of ``family`` (memoized per structure)."""
    key = (family, _structure(graph))
    known = _MEMO.get(key)
    if known is not None:
        return known
    check_engine_graph(graph)
    plan = plan_memory(graph, engine_in_place)
    io_bytes = prod(graph.input_shape) + prod(graph.output_shape)
    steps = [0] * (len(graph.layers) + 1)
    for buf in buffers(graph, engine_in_place, plan.in_place):
        steps[buf.first] += buf.size
        steps[buf.last + 1] -= buf.size
    live, running = [], io_bytes
    for delta in steps[:-1]:
        running += delta
        live.append(running)
    table = engine_flash_table(family)
    layer_flash = []
    for layer in graph.layers:
        constants = K.ENGINE_PARAMS_BYTES[layer.op]
        if layer.weight_shape is not None:
            constants += prod(layer.weight_shape) + layer.output_shape[-1] * K.ENGINE_PER_CHANNEL_BYTES[layer.op]
        layer_flash.append(constants + round(table["per_call"]))
    kinds = {layer.op for layer in graph.layers}
    code = int(table["invoke"] + table["shared"] + sum(table[kind] for kind in kinds))
    cost = EngineCost(plan.size, io_bytes, live, layer_flash, code, plan)
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    _MEMO[key] = cost
    return cost
