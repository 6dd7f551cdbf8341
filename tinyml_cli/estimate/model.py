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
from typing import Any

from ..arch.graph import LayerGraph
from ..mcu import Budget, McuProfile
from ..units import format_bytes, format_count
from . import constants as K
from .planner import plan_offsets

@dataclass(slots=True)
class Estimate:
    """What one network costs on one MCU, and whether it fits the budget.

    Bytes are ints. ``layers`` gives one row per layer; ``violations`` one line per exceeded budget;
    ``margins`` what is left of each budget (negative when over).
    """

    graph: LayerGraph
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
    layer_costs: list[tuple[int, int, int, float]] = field(repr=False)   # macs, params, flash, cycles
    live_steps: list[int] = field(repr=False)                  # activation bytes alive at each layer
    ms_per_cycle: float = field(repr=False)

    @property
    def layers(self) -> list[dict[str, Any]]:
        """Per-layer rows: name, op, output shape, MACs, parameters, flash bytes, latency in ms and
        the activation bytes alive while the layer runs."""
        rows = []
        for layer, (macs, params, flash, cycles), live in zip(self.graph.layers, self.layer_costs,
                                                              self.live_steps):
            rows.append({"name": layer.name, "op": layer.op, "output_shape": list(layer.output_shape),
                         "macs": macs, "params": params, "flash": flash,
                         "latency_ms": cycles * self.ms_per_cycle, "live_sram": live})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: bytes as ints, milliseconds as floats."""
        b = self.budget
        return {
            "model": self.graph.name, "mcu": self.mcu,
            "budget": {"sram": b.sram, "flash": b.flash, "macs": b.macs, "latency_ms": b.latency_ms},
            "macs": self.macs, "params": self.params,
            "flash_model": self.flash_model, "flash_total": self.flash_total,
            "peak_sram": self.peak_sram, "sram_lower_bound": self.sram_lower_bound,
            "arena_planned": self.arena_planned, "arena_persistent": self.arena_persistent,
            "latency_ms": self.latency_ms, "fps": self.fps,
            "fits": self.fits, "violations": list(self.violations), "margins": dict(self.margins),
            "layers": self.layers,
        }


# Flash of one constant tensor (table, name, buffer) and of one activation tensor (table, name).
_CONST_TENSOR_FLASH = K.FLASH_TENSOR_BYTES + K.FLASH_TENSOR_NAME_BYTES + K.FLASH_BUFFER_BYTES
_TENSOR_FLASH = K.FLASH_TENSOR_BYTES + K.FLASH_TENSOR_NAME_BYTES
# Rounding a byte count up to the arena alignment: (n + _ROUND) & _MASK.
_ROUND = K.ARENA_ALIGNMENT - 1
_MASK = ~_ROUND


def _rates(family: str, is_float: bool) -> tuple[dict[str, float], dict[str, float], float]:
    """Cycles per MAC by kernel kind, per element by op, and per operator, for one core family."""
    slowdown = K.FLOAT_SLOWDOWN[family] if is_float else 1.0
    return ({kind: c * slowdown for kind, c in K.CYCLES_PER_MAC[family].items()},
            {op: c * slowdown for op, c in K.CYCLES_PER_ELEMENT[family].items()},
            K.CYCLES_PER_OP[family])


_RATES = {(family, is_float): _rates(family, is_float)
          for family in K.CYCLES_PER_MAC for is_float in (False, True)}


def estimate(graph: LayerGraph, profile: McuProfile, budget: Budget, *, activation_bytes: int = 1,
             weight_bytes: int = 1, model_bytes: int | None = None,
             io_bytes: tuple[int, int] | None = None) -> Estimate:
    """Estimate ``graph`` deployed with TFLite Micro on ``profile`` and judge it against ``budget``.

    The defaults describe a full-integer int8 model. A float32 .tflite passes ``activation_bytes=4,
    weight_bytes=4`` (no quantization parameters, float kernels) and its real file size as
    ``model_bytes``, which then replaces the flash model. ``io_bytes`` gives the element sizes of
    the model's input and output where they differ from the activations: a QUANTIZE before the first
    layer and a DEQUANTIZE after the last convert them (a converter-made int8 model with float32
    input and output has ``io_bytes=(4, 4)``); their tensors, steps and costs are counted in the
    totals, not in the per-layer rows.

    One pass over the layers with plain ints and tuples, then TFLM's planner: a search screens
    millions of candidates through here (``scripts/bench_estimate.py`` measures it).
    """
    cpm, cpe, per_op = _RATES[profile.core_family, weight_bytes > 1]
    quant_bytes = K.QUANT_PARAM_BYTES_PER_CHANNEL if weight_bytes == 1 else 0
    op_bytes_of, op_bytes_default = K.ARENA_OP_BYTES, K.ARENA_OP_BYTES_DEFAULT
    per_channel = K.ARENA_PER_CHANNEL_BYTES
    scratch_element, scratch_columns = K.SCRATCH_ELEMENT_BYTES, K.SCRATCH_CONV_COLUMNS
    bias_bytes, op_flash = K.BIAS_BYTES, K.FLASH_OPERATOR_BYTES
    mask, rnd = _MASK, _ROUND

    shapes = graph.tensor_shapes
    layers = graph.layers
    n = len(layers)
    quantize = io_bytes is not None and io_bytes[0] != activation_bytes
    dequantize = io_bytes is not None and io_bytes[1] != activation_bytes
    s0 = 1 if quantize else 0                          # layer i runs at step i + s0
    # lifetimes in operator steps: tensor t is written by layer t - 1 (the input exists from step 0)
    # and read until its last reader (the output until the last step)
    last_use = list(range(-1, n))
    last_use[0] = 0
    for i, layer in enumerate(layers):
        for t in layer.inputs:
            last_use[t] = i
    last_use[n] = n if dequantize else n - 1
    numels = [s[0] * s[1] * s[2] if len(s) == 3 else prod(s) for s in shapes]
    buffers = [((numel * activation_bytes + rnd) & mask, t - 1 + s0, last + s0) for t, (numel, last)
               in enumerate(zip(numels, last_use))]
    buffers[0] = (buffers[0][0], 0, last_use[0] + s0)

    total_macs = total_params = 0
    total_cycles = 0.0
    flash = K.FLASH_MODEL_BYTES + (n + 1) * _TENSOR_FLASH
    persistent = K.ARENA_FIXED_BYTES
    tensor_count = n + 1                               # every tensor gets a TfLiteEvalTensor
    if io_bytes is not None:                           # the float ends and their QUANTIZE/DEQUANTIZE
        ends = ((quantize, numels[0], io_bytes[0], 0), (dequantize, numels[n], io_bytes[1], n + s0))
        for converted, numel, element_bytes, step in ends:
            if converted:
                buffers.append(((numel * element_bytes + rnd) & mask, step, step))
                total_cycles += per_op + numel * cpe["quantize"]
                flash += op_flash + _TENSOR_FLASH
                persistent += op_bytes_default
                tensor_count += 1
    costs: list[tuple[int, int, int, float]] = []
    for i, layer in enumerate(layers):
        op = layer.op
        wshape = layer.weight_shape
        if wshape is None:                             # element-wise, pooling, reshape, softmax
            cycles = per_op + numels[layer.inputs[0]] * len(layer.inputs) * cpe[op]
            if op == "mean":                           # MEAN's own scratch buffers
                sums = numels[i + 1] * K.MEAN_SUM_BYTES if activation_bytes < 4 else 0
                buffers += [((size + rnd) & mask, i + s0, i + s0)
                            for size in (sums, *K.MEAN_SCRATCH_BYTES) if size]
            layer_flash = op_flash
            persistent += op_bytes_of.get(op, op_bytes_default)
            costs.append((0, 0, layer_flash, cycles))
            flash += layer_flash
            total_cycles += cycles
            continue
        out = layer.output_shape
        channels = out[-1]
        biases = channels if layer.bias else 0
        tensors = 2 if biases else 1
        if op == "fully_connected":
            macs = weights = wshape[0] * wshape[1]
            cycles = per_op + macs * cpm["fully_connected"]
            quant = tensors * quant_bytes
            persistent += op_bytes_of[op]
        else:
            weights = wshape[0] * wshape[1] * wshape[2] * wshape[3]
            macs = out[0] * out[1] * weights
            kh, kw = layer.kernel
            window = kh * kw * shapes[layer.inputs[0]][-1]
            if op == "depthwise_conv2d":
                cycles = per_op + macs * cpm["depthwise"]
                scratch = 0 if kh == 3 and kw == 3 else window * scratch_element
            elif kh == 1 and kw == 1:
                cycles = per_op + macs * cpm["pointwise"]
                scratch = 0 if layer.stride == (1, 1) else scratch_columns * window * scratch_element
            else:
                cycles = per_op + macs * cpm["conv"]
                scratch = scratch_columns * window * scratch_element
            if scratch:                                # a kernel scratch buffer, alive for this op
                buffers.append(((scratch + rnd) & mask, i + s0, i + s0))
            quant = tensors * channels * quant_bytes
            persistent += op_bytes_of[op] + ((per_channel * channels + rnd) & mask)
        params = weights + biases
        layer_flash = (op_flash + weights * weight_bytes + biases * bias_bytes + quant
                       + tensors * _CONST_TENSOR_FLASH)
        tensor_count += tensors
        costs.append((macs, params, layer_flash, cycles))
        total_macs += macs
        total_params += params
        flash += layer_flash
        total_cycles += cycles

    # bytes alive at each step (a difference array over lifetimes) and the largest such live set
    steps = n + s0 + dequantize
    live = [0] * (steps + 1)
    for size, first, last in buffers:
        live[first] += size
        live[last + 1] -= size
    live_steps = list(accumulate(live[:steps]))
    live_peak = max(live_steps)
    if steps != n:
        live_steps = live_steps[s0:s0 + n]             # the rows: the layers' own steps
    offsets = plan_offsets(buffers)
    planned = max([offset + b[0] for offset, b in zip(offsets, buffers)])
    persistent += tensor_count * K.ARENA_EVAL_TENSOR_BYTES
    # while planning, TFLM holds an AllocationInfo per tensor and scratch buffer and the planner's
    # own records per planned buffer where the plan will go: the area must hold the larger
    scratch_count = len(buffers) - (n + 1 + quantize + dequantize)
    planning = ((tensor_count + scratch_count) * K.ALLOCATION_INFO_BYTES
                + len(buffers) * K.PLANNER_BYTES_PER_BUFFER)
    non_persistent = max(planned, planning)

    flash_model = flash if model_bytes is None else model_bytes
    peak = non_persistent + persistent
    cycles_to_ms = 1.0 / (profile.clock_mhz * 1000.0)
    latency_ms = total_cycles * cycles_to_ms
    violations, margins = _verdict(budget, peak, flash_model, total_macs, latency_ms)
    return Estimate(graph, profile.name, budget, total_macs, total_params, flash_model,
                    flash_model + profile.reserve_flash, peak, live_peak + persistent, planned,
                    persistent, latency_ms, 1000.0 / latency_ms, not violations, violations, margins,
                    costs, live_steps, cycles_to_ms)


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
