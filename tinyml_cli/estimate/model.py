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
from typing import Any

from ..arch.graph import LayerGraph
from ..mcu import Budget, McuProfile
from ..units import format_bytes, format_count
from . import constants as K
from .planner import plan_offsets

_CONV_OPS = ("conv2d", "depthwise_conv2d")


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
    layer_costs: list[tuple[int, int, int, float, int]] = field(repr=False)

    @property
    def layers(self) -> list[dict[str, Any]]:
        """Per-layer rows: name, op, output shape, MACs, parameters, flash bytes, latency in ms and
        the activation bytes alive while the layer runs."""
        rows = []
        for layer, (macs, params, flash, ms, live) in zip(self.graph.layers, self.layer_costs):
            rows.append({"name": layer.name, "op": layer.op, "output_shape": list(layer.output_shape),
                         "macs": macs, "params": params, "flash": flash, "latency_ms": ms,
                         "live_sram": live})
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


def _align(n: int) -> int:
    a = K.ARENA_ALIGNMENT
    return (n + a - 1) // a * a


def estimate(graph: LayerGraph, profile: McuProfile, budget: Budget, *, activation_bytes: int = 1,
             weight_bytes: int = 1, model_bytes: int | None = None) -> Estimate:
    """Estimate ``graph`` deployed with TFLite Micro on ``profile`` and judge it against ``budget``.

    The defaults describe a full-integer int8 model. A float32 .tflite passes ``activation_bytes=4,
    weight_bytes=4`` (no quantization parameters, float kernels) and its real file size as
    ``model_bytes``, which then replaces the flash model.
    """
    family = profile.core_family
    cpm = K.CYCLES_PER_MAC[family]
    cpe = K.CYCLES_PER_ELEMENT[family]
    per_op = K.CYCLES_PER_OP[family]
    slowdown = K.FLOAT_SLOWDOWN[family] if weight_bytes > 1 else 1.0
    quantized = weight_bytes == 1
    cycles_to_ms = 1.0 / (profile.clock_mhz * 1000.0)
    align = K.ARENA_ALIGNMENT - 1

    shapes = graph.tensor_shapes
    layers = graph.layers
    n = len(layers)
    last_use = list(range(-1, n))                      # tensor t is written by layer t - 1
    last_use[0] = 0
    for i, layer in enumerate(layers):
        for t in layer.inputs:
            last_use[t] = i
    last_use[n] = n - 1

    buffers: list[tuple[int, int, int]] = []
    for t, shape in enumerate(shapes):
        numel = 1
        for d in shape:
            numel *= d
        buffers.append((((numel * activation_bytes) + align) & ~align, max(t - 1, 0), last_use[t]))

    total_macs = total_params = 0
    flash = K.FLASH_MODEL_BYTES + (n + 1) * (K.FLASH_TENSOR_BYTES + K.FLASH_TENSOR_NAME_BYTES)
    persistent = K.ARENA_FIXED_BYTES
    eval_tensors = n + 1
    total_cycles = 0.0
    costs: list[tuple[int, int, int, float, int]] = []
    for i, layer in enumerate(layers):
        op = layer.op
        out = layer.output_shape
        wshape = layer.weight_shape
        cycles = per_op
        layer_flash = K.FLASH_OPERATOR_BYTES
        if wshape is not None:
            weights = 1
            for d in wshape:
                weights *= d
            channels = out[-1]
            biases = channels if layer.bias else 0
            if op == "fully_connected":
                macs = weights
                kind = "fully_connected"
                quant_channels = 1
                op_bytes = K.ARENA_OP_BYTES[op]
            else:
                macs = out[0] * out[1] * weights
                kh, kw = layer.kernel
                in_channels = shapes[layer.inputs[0]][-1]
                if op == "depthwise_conv2d":
                    kind = "depthwise"
                    scratch = 0 if (kh == 3 and kw == 3) else in_channels * kh * kw * K.SCRATCH_ELEMENT_BYTES
                else:
                    pointwise = kh == 1 and kw == 1
                    kind = "pointwise" if pointwise else "conv"
                    scratch = 0 if pointwise and layer.stride == (1, 1) else (
                        K.SCRATCH_CONV_COLUMNS * in_channels * kh * kw * K.SCRATCH_ELEMENT_BYTES)
                if scratch:
                    buffers.append(((scratch + align) & ~align, i, i))
                quant_channels = channels
                op_bytes = K.ARENA_OP_BYTES[op] + _align(K.ARENA_PER_CHANNEL_BYTES * channels)
            params = weights + biases
            cycles += macs * cpm[kind] * slowdown
            tensors = 2 if biases else 1
            eval_tensors += tensors
            layer_flash += weights * weight_bytes + biases * K.BIAS_BYTES + tensors * (
                K.FLASH_TENSOR_BYTES + K.FLASH_TENSOR_NAME_BYTES + K.FLASH_BUFFER_BYTES)
            if quantized:
                layer_flash += tensors * quant_channels * K.QUANT_PARAM_BYTES_PER_CHANNEL
        else:
            macs = params = 0
            op_bytes = K.ARENA_OP_BYTES_DEFAULT
            elements = 1
            for d in shapes[layer.inputs[0]]:
                elements *= d
            cycles += elements * len(layer.inputs) * cpe[op] * slowdown
        persistent += op_bytes
        total_macs += macs
        total_params += params
        flash += layer_flash
        total_cycles += cycles
        costs.append((macs, params, layer_flash, cycles * cycles_to_ms, 0))
    persistent += eval_tensors * K.ARENA_EVAL_TENSOR_BYTES

    live = [0] * (n + 1)
    for size, first, last in buffers:
        live[first] += size
        live[last + 1] -= size
    running = live_peak = 0
    for i in range(n):
        running += live[i]
        live[i] = running
        if running > live_peak:
            live_peak = running
        macs, params, layer_flash, ms, _ = costs[i]
        costs[i] = (macs, params, layer_flash, ms, running)
    offsets = plan_offsets(buffers)
    planned = 0
    for offset, (size, _, _) in zip(offsets, buffers):
        if offset + size > planned:
            planned = offset + size
    non_persistent = max(planned, len(buffers) * K.PLANNER_BYTES_PER_BUFFER)

    flash_model = flash if model_bytes is None else model_bytes
    peak = non_persistent + persistent
    latency_ms = total_cycles * cycles_to_ms
    violations, margins = _verdict(budget, peak, flash_model, total_macs, latency_ms)
    return Estimate(graph, profile.name, budget, total_macs, total_params, flash_model,
                    flash_model + profile.reserve_flash, peak, live_peak + persistent, planned,
                    persistent, latency_ms, 1000.0 / latency_ms, not violations, violations, margins,
                    costs)


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
