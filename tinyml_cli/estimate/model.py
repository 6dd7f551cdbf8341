"""The cost model: MACs, parameters, flash, peak SRAM and latency of a LayerGraph on an MCU.

>>> from tinyml_cli.arch import Arch, build_graph
>>> from tinyml_cli.mcu import budget_for, load_profile
>>> arch = Arch("plain", (1, 40, 1), 10, {"layers": [{"type": "conv", "channels": 8, "kernel": 5,
...     "stride": 2}], "reduce": "avg", "dense": []})
>>> p = load_profile("STM32F412")
>>> est = estimate(build_graph(arch), p, budget_for(p))
>>> est.macs, est.params, est.fits
(880, 138, True)
>>> [row["macs"] for row in est.layers]
[800, 0, 80, 0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate
from math import prod
from typing import Any, NamedTuple

from ..arch.graph import Layer, LayerGraph
from ..arch.normalization import OUTPUT, RAW, FrontOp, front_ops
from ..ops import LAYER_OPS, OpView, Shaped, layer_view, lookup
from ..ops.precision import conversion_steps, operator_codes
from ..mcu import Budget, McuProfile
from ..units import format_bytes, format_count
from . import constants as K
from .latency import RATES, Rates, op_cycles
from ..engine.patches import split_index
from ..errors import EngineError
from .engine import engine_cost
from .planner import planned_size
from .runtime_flash import runtime_flash

@dataclass(slots=True)
class Estimate:
    """What one network costs on one MCU, and whether it fits the budget.

    Bytes are ints. ``layers`` gives one row per layer (MACs None where the op table does not know
    the operator); ``violations`` one line per exceeded budget; ``margins`` what is left of each
    budget (negative when over); ``notes`` what could not be counted.
    """

    graph: Any                         # a LayerGraph, or a .tflite's FileView: a name and layer rows
    mcu: str
    budget: Budget
    macs: int
    params: int
    flash_model: int
    flash_total: int
    peak_sram: int
    sram_lower_bound: int
    arena_planned: int
    arena_persistent: int
    latency_ms: float
    fps: float
    fits: bool
    violations: list[str]
    margins: dict[str, float]
    layer_costs: list[tuple[int | None, int, int, float | None]] = field(repr=False)   # macs, params, flash, cycles
    live_steps: list[int] = field(repr=False)                  # activation bytes alive at each layer
    ms_per_cycle: float = field(repr=False)
    notes: list[str] = field(default_factory=list)             # what the estimate could not count
    runtime: str = "tflm"                                      # what runs the model: tflm or c
    io_buffers: int = 0                                        # c: the caller's output buffer bytes
    patches: dict[str, Any] | None = None                      # c with patches: split, per-layer peak

    @property
    def layers(self) -> list[dict[str, Any]]:
        """Per-layer rows: name, op, output shape, MACs, parameters, flash bytes, latency in ms and
        the activation bytes alive while the layer runs. MACs are None for an op that does no
        multiply-accumulates; MACs and latency both None for an op the op table does not know."""
        rows = []
        for layer, (macs, params, flash, cycles), live in zip(self.graph.layers, self.layer_costs,
                                                              self.live_steps):
            rows.append({"name": layer.name, "op": layer.op, "output_shape": list(layer.output_shape),
                         "macs": macs, "params": params, "flash": flash,
                         "latency_ms": None if cycles is None else cycles * self.ms_per_cycle,
                         "live_sram": live})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: bytes as ints, milliseconds as floats."""
        b = self.budget
        return {
            "model": self.graph.name, "mcu": self.mcu, "runtime": self.runtime,
            "budget": {"sram": b.sram, "flash": b.flash, "macs": b.macs, "latency_ms": b.latency_ms},
            "macs": self.macs, "params": self.params,
            "flash_model": self.flash_model, "flash_total": self.flash_total,
            "peak_sram": self.peak_sram, "sram_lower_bound": self.sram_lower_bound,
            "arena_planned": self.arena_planned, "arena_persistent": self.arena_persistent,
            "io_buffers": self.io_buffers, "patches": self.patches,
            "latency_ms": self.latency_ms, "fps": self.fps,
            "fits": self.fits, "violations": list(self.violations), "margins": dict(self.margins),
            "notes": list(self.notes), "layers": self.layers,
        }


# Flash of one constant tensor (table, name, buffer) and of one activation tensor (table, name).
_CONST_TENSOR_FLASH = K.FLASH_TENSOR_BYTES + K.FLASH_TENSOR_NAME_BYTES + K.FLASH_BUFFER_BYTES
_TENSOR_FLASH = K.FLASH_TENSOR_BYTES + K.FLASH_TENSOR_NAME_BYTES
# Rounding a byte count up to the arena alignment: (n + _ROUND) & _MASK.
_ROUND = K.ARENA_ALIGNMENT - 1
_MASK = ~_ROUND


RUNTIMES = ("tflm", "c")            # what runs the model on the MCU: TFLite Micro, or our C engine
BUILDS = ("mcu", "host")             # which TFLM build: a 32-bit MCU, or tflite-micro's 64-bit host


def _arena_constants(build: str) -> dict[str, Any]:
    """The arena constants of a TFLM build: the module's (a 32-bit MCU) or the host's overrides."""
    if build not in BUILDS:
        raise ValueError(f"build must be 'mcu' or 'host', got {build!r}")
    overrides = K.HOST_ARENA if build == "host" else {}
    return {name: overrides.get(name, getattr(K, name)) for name in K.HOST_ARENA}


def _numel(shape: tuple[int, ...]) -> int:
    return shape[0] * shape[1] * shape[2] if len(shape) == 3 else prod(shape)


def estimate(graph: LayerGraph, profile: McuProfile, budget: Budget, *, activation_bytes: int = 1,
             weight_bytes: int = 1, model_bytes: int | None = None,
             io_bytes: tuple[int, int] | None = None, build: str = "mcu", runtime: str = "tflm",
             patches: int = 0, split: str | int | None = None) -> Estimate:
    """Estimate ``graph`` deployed on ``profile`` under ``runtime`` and judge it against ``budget``.

    ``runtime``: ``"tflm"``, TFLite Micro (below), or ``"c"``, the tinyml C engine (int8 only): its
    peak SRAM is the engine planner's arena (the input lives there) plus the caller's output buffer, its flash
    model the generated constants (weights, biases, requantization, parameter structs, calls) and
    its flash total adds the kernels' code (estimate/engine.py); its latency the engine's kernels'
    (``ENGINE_INSTRUCTIONS``, fitted on the emulated core, times the family's cycles per
    instruction); MACs and parameters are the model's. With ``patches`` >= 2 the engine runs the
    first layers patch by patch up to ``split`` (a layer name or index; None: the split with the
    smallest arena); ``patches`` then holds that split, the per-layer peak and the MACs as run (the
    recomputed overlap included, which the latency counts).

    The defaults describe a full-integer int8 model. A float32 .tflite passes ``activation_bytes=4,
    weight_bytes=4`` (no quantization parameters, float kernels) and its real file size as
    ``model_bytes``, which then replaces the flash model. ``io_bytes`` gives the element sizes of
    the model's input and output where they differ from the activations: a QUANTIZE before the first
    layer and a DEQUANTIZE after the last convert them (a converter-made int8 model with float32
    input and output has ``io_bytes=(4, 4)``); their tensors, steps and costs are counted in the
    totals, not in the per-layer rows. ``build`` picks the arena's struct sizes and kernel scratch:
    ``"mcu"``, a 32-bit MCU with CMSIS-NN kernels, or ``"host"``, the 64-bit host build with reference
    kernels that tflite-micro's Python interpreter runs (what ``tinyml export`` measures).

    One pass over the layers with plain ints and tuples, each layer's own costs memoized (graphs
    built by the arch package share equal layers), then TFLM's planner: a search screens millions
    of candidates through here (``scripts/bench_estimate.py`` measures it).
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    arena = _arena_constants(build)
    setting, memo = _tables(profile, arena, build, weight_bytes, activation_bytes)
    op_flash, mask, rnd = K.FLASH_OPERATOR_BYTES, _MASK, _ROUND

    shapes = graph.tensor_shapes
    layers = graph.layers
    n = len(layers)
    mixed = graph.precision                            # per-layer types (ops/precision.py), or ()
    if mixed and (io_bytes is not None or weight_bytes != 1 or activation_bytes != 1):
        raise ValueError("a graph with per-layer precision is an int8-ended model: no io_bytes or element sizes")
    quantize = io_bytes is not None and io_bytes[0] != activation_bytes
    dequantize = io_bytes is not None and io_bytes[1] != activation_bytes
    front = front_ops(graph.normalize) or (_QUANTIZE_FRONT if quantize else ())
    s0 = len(front)                                    # layer i runs at step i + s0
    numels = [_numel(shapes[0])]                       # of every tensor, appended layer by layer
    # lifetimes in operator steps: tensor t is written by layer t - 1 (the input exists from step 0,
    # or from the front's last step) and read until its last reader (the output until the last step)
    last_use = list(range(-1, n))
    last_use[0] = 0
    scratch: list[tuple[int, int, int]] = []           # buffers beyond the tensors, in TFLM's order

    total_macs = total_params = 0
    flash = K.FLASH_MODEL_BYTES + (n + 1) * _TENSOR_FLASH
    persistent = arena["ARENA_FIXED_BYTES"]
    tensor_count = n + 1                               # every tensor gets a TfLiteEvalTensor
    extra, front_scratch, total_cycles, front_flash, front_persistent, front_count = _front_costs(
        front, shapes[0], io_bytes[0] if quantize else 4, setting, arena)
    flash += front_flash
    persistent += front_persistent
    tensor_count += front_count
    if dequantize:                                     # the float output and its DEQUANTIZE
        numel = _numel(shapes[n])
        extra.append(((numel * io_bytes[1] + rnd) & mask, n + s0, n + s0))
        total_cycles += setting.rates.per_op["default"] + numel * setting.rates.per_element["quantize"]
        flash += op_flash + _TENSOR_FLASH
        persistent += setting.op_bytes_default
        tensor_count += 1
    scratch += extra + front_scratch
    costs: list[tuple[int, int, int, float]] = []
    step_of: Any = range(s0, s0 + n)
    if mixed:
        layer_steps, conversion_at, count = conversion_steps(graph)
        step_of = [s0 + step for step in layer_steps]
        tables = {pair: _tables(profile, arena, build, "int4" if pair[0] == "int4" else 1, _ITEM_BYTES[pair[1]])
                  for pair in set(mixed)}
    for i, layer in enumerate(layers):
        if mixed:
            setting, memo = tables[mixed[i]]
        inputs = layer.inputs
        for t in inputs:
            last_use[t] = i
        in_shape = shapes[inputs[0]]
        known = memo.get(id(layer))
        if known is None or known[0] is not layer or known[1] != in_shape:
            signature = (layer.op, len(inputs), in_shape, layer.output_shape, layer.kernel, layer.stride,
                         layer.padding, layer.weight_shape, layer.bias)
            costed = memo.get(signature)
            if costed is None:
                costed = memo[signature] = _layer_cost(layer, in_shape, setting)
            known = memo[id(layer)] = (layer, in_shape, *costed)
        _, _, numel, cost, layer_persistent, tensors, scratch_sizes = known
        numels.append(numel)
        costs.append(cost)
        total_macs += cost[0]
        total_params += cost[1]
        flash += cost[2]
        total_cycles += cost[3]
        persistent += layer_persistent
        tensor_count += tensors
        if scratch_sizes:
            step = step_of[i]
            scratch += [(size, step, step) for size in scratch_sizes]

    if mixed:
        buffers = _mixed_buffers(graph, numels, s0, step_of, conversion_at, s0 + count - 1)
        for t, _ in conversion_at:                     # each requantization: a QUANTIZE and its result
            total_cycles += setting.rates.per_op["default"] + numels[t] * setting.rates.per_element["quantize"]
            flash += op_flash + _TENSOR_FLASH
            persistent += setting.op_bytes_of.get("QUANTIZE", setting.op_bytes_default)
            tensor_count += 1
        extra = [*extra, *conversion_at]               # tensor buffers beyond the IR's, for the count below
        # operator codes beyond one per builtin (an int4 CONV_2D is another version, a QUANTIZE another op)
        builtins_used = {LAYER_OPS[layer.op].builtin for layer in layers} | {op.op for op in front}
        codes = operator_codes(graph) | {(op.op, 1) for op in front}
        flash += (len(codes) - len(builtins_used)) * K.FLASH_OPERATOR_CODE_BYTES
        steps = s0 + count
    else:
        last_use[n] = n if dequantize else n - 1
        buffers = [((numel * activation_bytes + rnd) & mask, t - 1 + s0, last + s0)
                   for t, (numel, last) in enumerate(zip(numels, last_use))]
        buffers[0] = (buffers[0][0], max(s0 - 1, 0), last_use[0] + s0)
        steps = n + s0 + dequantize
    buffers += scratch
    # bytes alive at each step (a difference array over lifetimes) and the largest such live set
    live = [0] * (steps + 1)
    for size, first, last in buffers:
        live[first] += size
        live[last + 1] -= size
    live_steps = list(accumulate(live[:steps]))
    live_peak = max(live_steps)
    if mixed:
        live_steps = [live_steps[step] for step in step_of]
    elif steps != n:
        live_steps = live_steps[s0:s0 + n]             # the rows: the layers' own steps
    planned = planned_size(buffers)
    persistent += tensor_count * arena["ARENA_EVAL_TENSOR_BYTES"]
    # while planning, TFLM holds an AllocationInfo per tensor and scratch buffer, a request per scratch
    # buffer and the planner's own records per planned buffer where the plan will go: the area must
    # hold the larger
    scratch_count = len(buffers) - (n + 1 + len(extra))
    planning = ((tensor_count + scratch_count) * arena["ALLOCATION_INFO_BYTES"]
                + scratch_count * arena["SCRATCH_REQUEST_BYTES"]
                + len(buffers) * K.PLANNER_BYTES_PER_BUFFER)
    non_persistent = max(planned, planning)

    flash_model = flash if model_bytes is None else model_bytes
    peak = non_persistent + persistent
    cycles_to_ms = 1.0 / (profile.clock_mhz * 1000.0)
    latency_ms = total_cycles * cycles_to_ms
    if runtime == "c":
        return _engine_estimate(graph, profile, budget, total_macs, total_params, costs, latency_ms, cycles_to_ms,
                                weight_bytes == activation_bytes == 1 and io_bytes in (None, (1, 1)),
                                patches, split)
    violations, margins = _verdict(budget, peak, flash_model, total_macs, latency_ms)
    builtins = {LAYER_OPS[name].builtin for name in {layer.op for layer in layers}} | {op.op for op in front}
    if dequantize:
        builtins.add("DEQUANTIZE")
    if mixed and conversion_at:
        builtins.add("QUANTIZE")
    return Estimate(graph, profile.name, budget, total_macs, total_params, flash_model,
                    flash_model + runtime_flash(profile, builtins), peak, live_peak + persistent, planned,
                    persistent, latency_ms, 1000.0 / latency_ms, not violations, violations, margins,
                    costs, live_steps, cycles_to_ms)


_ITEM_BYTES = {"int8": 1, "int16": 2}


def _tables(profile: McuProfile, arena: dict[str, Any], build: str, weight_bytes: int | str,
            activation_bytes: int) -> tuple["_Setting", dict]:
    """The cost setting and the layer memo of one (weights, activations) precision; ``weight_bytes``
    4 is a float model, ``"int4"`` packed int4 weights."""
    is_float = weight_bytes == 4
    setting = _Setting(RATES[profile.core_family, is_float], 0 if is_float else K.QUANT_PARAM_BYTES_PER_CHANNEL,
                       arena["ARENA_OP_BYTES"], arena["ARENA_OP_BYTES_DEFAULT"], build, weight_bytes,
                       activation_bytes)
    memo = _LAYER_MEMO.get(memo_key := (profile.core_family, weight_bytes, activation_bytes, build))
    if memo is None or len(memo) >= _LAYER_MEMO_MAX:
        memo = _LAYER_MEMO[memo_key] = {}
    return setting, memo


def _mixed_buffers(graph: LayerGraph, numels: list[int], s0: int, step_of: list[int],
                   conversion_at: dict[tuple[int, str], int], last_step: int) -> list[tuple[int, int, int]]:
    """The activation buffers ``(size, first step, last step)`` of a mixed-precision graph: each IR
    tensor in its own type, then each requantized copy (``ops/precision.py`` places the QUANTIZEs),
    with TFLM's lifetimes (written at their operator's step, alive to their last reader's; the
    model's output to the end)."""
    types = graph.tensor_types
    n = len(graph.layers)
    first = [max(s0 - 1, 0), *step_of]
    last = [first[0]] + [step for step in step_of]     # a tensor nobody reads lives at its own step
    conv_first = {pair: s0 + step for pair, step in conversion_at.items()}
    conv_last = dict(conv_first)
    for i, layer in enumerate(graph.layers):
        act = graph.layer_types(i)[1]
        for t in layer.inputs:
            if types[t] == act:
                last[t] = max(last[t], step_of[i])
            else:
                conv_last[t, act] = max(conv_last[t, act], step_of[i])
    for (t, _), step in conv_first.items():
        last[t] = max(last[t], step)
    if (n, "int8") in conv_last:
        conv_last[n, "int8"] = last_step
    else:
        last[n] = last_step
    buffers = [((numel * _ITEM_BYTES[types[t]] + _ROUND) & _MASK, first[t], last[t])
               for t, numel in enumerate(numels)]
    return buffers + [((numels[t] * _ITEM_BYTES[dtype] + _ROUND) & _MASK, conv_first[t, dtype], conv_last[t, dtype])
                      for t, dtype in conversion_at]


def _engine_estimate(graph: LayerGraph, profile: McuProfile, budget: Budget, macs: int, params: int,
                     costs: list[tuple], latency_ms: float, cycles_to_ms: float, int8: bool, patches: int,
                     split: str | int | None) -> Estimate:
    """The estimate under the C engine: its planner's memory, its library's flash and its kernels'
    cycles (per layer; a patched layer's runs and the split's crops and places summed), the
    model's MACs and parameters."""
    if not int8:
        raise EngineError("the C engine runs full-integer int8 models only: use runtime tflm")
    c = engine_cost(graph, profile.core_family, patches, split_index(graph, split) if patches >= 2 else None)
    flash_model = sum(c.layer_flash)
    latency_ms = sum(c.layer_cycles) * cycles_to_ms
    violations, margins = _verdict(budget, c.peak_sram, flash_model, macs, latency_ms)
    costs = [(m, p, f, cy) for (m, p, _, _), f, cy in zip(costs, c.layer_flash, c.layer_cycles)]
    notes = []
    if profile.core_family not in K.ENGINE_INSTRUCTIONS:
        notes.append(f"runtime c: latency an ESTIMATE on {profile.core_family} (no emulated core of its family: "
                     f"the {K.ENGINE_DEFAULT_FAMILY} fit scaled by {K.ENGINE_UNMEASURED_SCALE[profile.core_family]:g})")
    patched = None
    if c.split >= 0:
        patched = {"patches": c.patches, "split": graph.layers[c.split].name, "peak_sram": c.peak_sram,
                   "peak_sram_per_layer": c.peak_sram_per_layer, "macs": c.macs_run}
    return Estimate(graph, profile.name, budget, macs, params, flash_model, flash_model + c.code, c.peak_sram,
                    c.lower_bound, c.arena, 0, latency_ms, 1000.0 / latency_ms, not violations, violations, margins,
                    costs, c.live, cycles_to_ms, notes, "c", c.io_bytes, patched)


class _Setting(NamedTuple):
    """What a layer's cost depends on besides the layer and its input shape."""

    rates: Rates                                       # cycles per unit of work (latency.py)
    quant_bytes: int                                   # quantization parameters per channel
    op_bytes_of: dict[str, int]                        # persistent arena bytes per operator
    op_bytes_default: int
    build: str                                         # "mcu" or "host": which kernels' scratch
    weight_bytes: int
    activation_bytes: int


# Per-layer costs by layer identity, one table per (core family, weight bytes, activation bytes,
# build). The graph builder shares equal layers between graphs, so a search computes each layer's
# cost once. An entry holds its layer, so no other object can take its id while the entry lives; a
# full table is dropped. The constants are read when a layer is first seen. A layer not seen before
# takes the costs of one with the same signature (every field but its name, its input count and its
# input shape), as layers of other names in other graphs often have.
_LAYER_MEMO: dict[tuple, dict[int | tuple, tuple]] = {}
_LAYER_MEMO_MAX = 50_000


def clear_cost_memo() -> None:
    """Forget the memoized layer costs (benchmarks and tests start from an empty memo)."""
    _LAYER_MEMO.clear()


def _layer_cost(layer: Layer, in_shape: tuple[int, ...], setting: _Setting) -> tuple:
    """One layer's output elements, (MACs, parameters, flash, cycles), persistent arena bytes,
    tensors it adds beyond its output, and the sizes of its scratch buffers: the op table's costs of
    the layer (``tinyml_cli.ops``) turned into bytes and cycles with this module's constants."""
    (rates, quant_bytes, op_bytes_of, op_bytes_default, build, weight_bytes, activation_bytes) = setting
    op = LAYER_OPS[layer.op]
    c = op.kind.costs(layer_view(layer, [in_shape] * len(layer.inputs), activation_bytes, weight_bytes), build)
    cycles = op_cycles(c, rates)
    persistent = op_bytes_of.get(layer.op, op_bytes_default) + ((c.persistent + _ROUND) & _MASK)
    scratch = tuple((size + _ROUND) & _MASK for size in c.scratch if size)   # alive for this op
    wshape = layer.weight_shape
    if wshape is None:                                 # no weights: the op's own constants only
        return (_numel(layer.output_shape), (c.macs or 0, 0, K.FLASH_OPERATOR_BYTES, cycles), persistent,
                len(op.constants(layer)), scratch)
    channels = layer.output_shape[-1]
    biases = channels if layer.bias else 0
    tensors = 2 if biases else 1
    weights = prod(wshape)
    quant = tensors * (channels if op.per_channel else 1) * quant_bytes
    weight_flash = -(-weights // 2) if weight_bytes == "int4" else weights * weight_bytes   # int4: packed
    bias_bytes = K.BIAS_BYTES_INT16_ACTIVATIONS if activation_bytes == 2 else K.BIAS_BYTES
    layer_flash = (K.FLASH_OPERATOR_BYTES + weight_flash + biases * bias_bytes + quant
                   + tensors * _CONST_TENSOR_FLASH)
    return _numel(layer.output_shape), (c.macs, weights + biases, layer_flash, cycles), persistent, tensors, scratch


# A converter-made model's float32 input: one QUANTIZE before the int8 network.
_QUANTIZE_FRONT = (FrontOp("QUANTIZE", (RAW,), OUTPUT),)
_FRONT_CONSTANT_BYTES = {"mean": 4, "inv_std": 4, "axes": 4, "eps": 4}   # per element (float32, int32)


def _front_costs(front: tuple[FrontOp, ...], input_shape: tuple[int, ...], input_bytes: int,
                 setting: _Setting, arena: dict[str, Any]) -> tuple[list[tuple[int, int, int]],
                                                                   list[tuple[int, int, int]],
                                                                   float, int, int, int]:
    """The float front before the int8 network (an input normalization, or a QUANTIZE of a float
    input): its tensors' buffers in file order (the float input first) and its scratch buffers,
    each ``(size, first step, last step)``, and its cycles, flash bytes, persistent arena bytes and
    tensor count (float tensors and constants)."""
    if not front:
        return [], [], 0.0, 0, 0, 0
    numel, channels = _numel(input_shape), input_shape[-1]
    sizes = {RAW: numel * input_bytes}
    first, last = {RAW: 0}, {RAW: 0}
    scratch: list[tuple[int, int, int]] = []
    cycles = 0.0
    flash = persistent = 0
    constants: set[str] = set()
    for step, op in enumerate(front):
        for name in op.inputs:
            if name in _FRONT_CONSTANT_BYTES:
                constants.add(name)
            else:
                last[name] = step
        first[op.output] = step
        sizes[op.output] = (channels if op.per_channel else numel) * 4
        read = channels if sizes[op.inputs[0]] == channels * 4 and op.inputs[0] != RAW else numel
        cycles += setting.rates.per_op["default"] + read * setting.rates.per_element[f"front_{op.op}"]
        flash += K.FLASH_FRONT_OPERATOR_BYTES
        persistent += setting.op_bytes_of.get(f"front_{op.op}", setting.op_bytes_default)
        scratch += [((size + _ROUND) & _MASK, step, step)
                    for size in lookup(op.op).costs(_front_view(op, front, input_shape), setting.build).scratch]
    widths = {"mean": channels, "inv_std": channels, "axes": 2, "eps": 1}
    flash += sum(K.FLASH_FRONT_CONSTANT_BYTES + widths[c] * _FRONT_CONSTANT_BYTES[c] for c in constants)
    names = [RAW, *(op.output for op in front[:-1])]   # the last output is the IR's tensor 0
    buffers = [((sizes[t] + _ROUND) & _MASK, first[t], last[t]) for t in names]
    return buffers, scratch, cycles, flash, persistent, len(names) + len(constants)


def _front_view(op: FrontOp, front: tuple[FrontOp, ...], input_shape: tuple[int, ...]) -> OpView:
    """A front operator as the op table sees it: float32 tensors of the input's shape, or one value
    per channel, and its constants."""
    full, channel = (1, *input_shape), (1, 1, 1, input_shape[-1])
    per_channel = {o.output for o in front if o.per_channel}
    constants = {"mean": (input_shape[-1],), "inv_std": (input_shape[-1],), "axes": (2,), "eps": (1,)}

    def tensor(name: str) -> Shaped:
        if name in constants:
            return Shaped(constants[name], "int32" if name == "axes" else "float32", True)
        return Shaped(channel if name in per_channel else full, "float32")

    return OpView(op.op, tuple(tensor(name) for name in op.inputs),
                  (Shaped(channel if op.per_channel else full, "int8" if op.output == OUTPUT else "float32"),),
                  dict(op.options[1]) if op.options else {})


def _verdict(budget: Budget, sram: int, flash: int, macs: int,
             latency_ms: float) -> tuple[list[str], dict[str, float]]:
    """Violations (one line each) and margins (left of each set budget; negative when over)."""
    margins: dict[str, float] = {"sram": budget.sram - sram, "flash": budget.flash - flash}
    violations = []
    if sram > budget.sram:
        violations.append(f"peak SRAM {format_bytes(sram)} > {format_bytes(budget.sram)}")
    if flash > budget.flash:
        violations.append(f"flash {format_bytes(flash)} > {format_bytes(budget.flash)}")
    if budget.macs is not None:
        margins["macs"] = budget.macs - macs
        if macs > budget.macs:
            violations.append(f"MACs {format_count(macs)} > {format_count(budget.macs)}")
    if budget.latency_ms is not None:
        margins["latency_ms"] = budget.latency_ms - latency_ms
        if latency_ms > budget.latency_ms:
            violations.append(f"latency {latency_ms:.1f} ms > {budget.latency_ms:.1f} ms")
    return violations, margins
