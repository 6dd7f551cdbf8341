"""The estimate of any .tflite file, planned as TensorFlow Lite Micro plans it.

Memory needs no knowledge of an op. Every tensor that is neither a constant (its data stays in the
flatbuffer) nor a variable (TFLM keeps those in the persistent tail) is planned with the lifetime
TFLM's AllocationInfoBuilder gives it (micro_allocation_info.cc): subgraph inputs from the start,
an operator's outputs from its own step, each tensor until its last reader, subgraph outputs to the
end, the subgraphs that IF, WHILE and CALL_ONCE run nested inside their operator's step; then each
operator's scratch buffers at its step, in the order the kernels request them; then TFLM's greedy
planner. MACs, latency and each kernel's scratch and persistent bytes come from the op table
(``tinyml_cli.ops``); an operator the table does not know keeps its exact memory (bar any scratch or
persistent data of its own) and is named in ``notes``, its MACs and latency left out.

>>> import tflite_micro, pathlib
>>> from tinyml_cli.mcu import budget_for, load_profile
>>> from tinyml_cli.tflite.model import read_model
>>> p = load_profile("nRF52840")
>>> est = estimate_file(read_model(pathlib.Path(tflite_micro.__file__).parent / "python/tflite_micro/sine_float.tflite"), p, budget_for(p))
>>> est.macs, est.params, [row["op"] for row in est.layers], est.notes
(288, 321, ['FULLY_CONNECTED', 'FULLY_CONNECTED', 'FULLY_CONNECTED'], [])
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from ..errors import InputFileError, shown
from ..mcu import Budget, McuProfile
from ..ops import Costs, OpKind, OpView, lookup
from ..tflite.model import Operator, Subgraph, Tensor, TfliteModel
from . import constants as K
from .latency import RATES, op_cycles
from .runtime_flash import runtime_flash
from .model import Estimate, _arena_constants, _verdict
from .planner import planned_size

_ROUND = K.ARENA_ALIGNMENT - 1
_CONTROL_FLOW = {"IF": ("ThenSubgraphIndex", "ElseSubgraphIndex"), "WHILE": ("CondSubgraphIndex", "BodySubgraphIndex"),
                 "CALL_ONCE": ("InitSubgraphIndex",)}
_FLOAT_SLOWDOWN_TYPES = ("float32",)


def _aligned(n: int) -> int:
    return (n + _ROUND) & ~_ROUND


@dataclass(frozen=True)
class OpRow:
    """An operator as a row of the estimate: the name of its first output, its builtin, that
    output's shape (batch dropped)."""

    name: str
    op: str
    output_shape: tuple[int, ...]


@dataclass(frozen=True)
class FileView:
    """What an Estimate shows of a .tflite: its name and one row per operator."""

    name: str
    layers: tuple[OpRow, ...]


class _Lifetimes:
    """TFLM's AllocationInfoBuilder::MarkAllocationLifetimes, over every subgraph."""

    def __init__(self, model: TfliteModel) -> None:
        self.model = model
        self.scope = 0
        self.first: dict[tuple[int, int], int] = {}
        self.last: dict[tuple[int, int], int] = {}
        self.op_scope: dict[tuple[int, int], tuple[int, int]] = {}   # (start, end) of each operator
        self.visiting: set[int] = set()

    def _created(self, key: tuple[int, int]) -> None:
        self.first.setdefault(key, self.scope)

    def _used(self, key: tuple[int, int]) -> None:
        self.last[key] = self.scope

    def mark(self, s: int) -> None:
        if s in self.visiting:                         # a subgraph calling itself: TFLM would recurse
            raise ValueError(f"subgraph {s} is reached from itself")
        self.visiting.add(s)
        g = self.model.subgraphs[s]
        for t in g.inputs:
            self._created((s, t))
            self._used((s, t))
        for op in g.operators:
            self.scope += 1
            for t in op.outputs:
                self._created((s, t))
            start = self.scope
            for name in _CONTROL_FLOW.get(op.builtin, ()):
                child = int(op.options.get(name, -1))
                if 0 <= child < len(self.model.subgraphs):
                    self.scope += 1
                    self.mark(child)
            for t in op.inputs:
                if t >= 0:
                    self._used((s, t))
            for t in op.outputs:
                self._used((s, t))
            self.op_scope[(s, op.index)] = (start, self.scope)
        for t in g.outputs:
            self._created((s, t))
            self._used((s, t))
        self.visiting.discard(s)


def op_view(g: Subgraph, op: Operator) -> OpView:
    """An operator of a file as its op kind's cost facet sees it."""
    return OpView(op.builtin, tuple(g.tensors[t] if t >= 0 else None for t in op.inputs),
                  tuple(g.tensors[t] for t in op.outputs), op.options)


def _costs(model: TfliteModel, kind: OpKind, view: OpView, op: Operator, build: str) -> Costs:
    """The op table's costs of an operator; tensors its op cannot have (a rank, a zero dimension, a
    missing input a corrupt file declares) are a one-line InputFileError naming the operator."""
    try:
        return kind.costs(view, build)
    except (IndexError, ValueError, ZeroDivisionError, KeyError, TypeError, AttributeError) as exc:
        shapes = [list(t.shape) if t is not None else None for t in (*view.inputs, *view.outputs)]
        raise InputFileError(f"{model.path}: operator {op.index} ({op.builtin}) has tensors of shapes "
                             f"{shown(shapes)}, which a {op.builtin} cannot have ({type(exc).__name__}: "
                             f"{str(exc)[:80]})") from None


def _shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape[1:] if len(shape) > 1 and shape[0] == 1 else shape


def estimate_file(model: TfliteModel, profile: McuProfile, budget: Budget, build: str = "mcu") -> Estimate:
    """Estimate a .tflite file (``read_model``) deployed with TFLM on ``profile`` against ``budget``;
    ``build`` as in :func:`~tinyml_cli.estimate.model.estimate`."""
    arena = _arena_constants(build)
    family = profile.core_family
    lifetimes = _Lifetimes(model)
    lifetimes.mark(0)
    op_bytes = arena["ARENA_OP_BYTES"]

    buffers: list[tuple[int, int, int]] = []
    persistent = arena["ARENA_FIXED_BYTES"]
    tensor_count = 0
    variables = 0
    for s, g in enumerate(model.subgraphs):
        tensor_count += len(g.tensors)
        for t in g.tensors:
            if t.variable:
                variables += _aligned(t.nbytes)
            elif not t.constant and t.nbytes and (s, t.index) in lifetimes.first:
                buffers.append((_aligned(t.nbytes), lifetimes.first[(s, t.index)], lifetimes.last[(s, t.index)]))
    tensor_buffers = len(buffers)
    persistent += variables + tensor_count * arena["ARENA_EVAL_TENSOR_BYTES"]
    ends = [model.subgraphs[0].tensors[t] for t in (*model.subgraphs[0].inputs, *model.subgraphs[0].outputs)]
    ends_bytes = _temporaries(ends, arena)
    persistent += ends_bytes - 2 * (arena["ARENA_IO_TENSOR_BYTES"] + arena["ARENA_IO_QUANTIZATION_BYTES"])

    rows, costs, notes, unknown = [], [], [], []
    prepare = 0
    steps: list[int] = []
    total_macs = total_params = 0
    total_cycles = 0.0
    for s, g in enumerate(model.subgraphs):
        for op in g.operators:
            kind = lookup(op.builtin)
            view = op_view(g, op)
            # its kernel's Prepare: the scratch requests so far with room for more, and a temporary
            # TfLiteTensor per input and output
            requests = len(buffers) - tensor_buffers + K.SCRATCH_REQUESTS_PER_OP
            prepare = max(prepare, requests * arena["SCRATCH_REQUEST_BYTES"]
                          + _temporaries([*filter(None, view.inputs), *view.outputs], arena))
            params = sum(t.numel for t in view.inputs if t is not None and t.constant)
            flash = sum(t.nbytes for t in view.inputs if t is not None and t.constant)
            is_float = any(t.dtype in _FLOAT_SLOWDOWN_TYPES for t in view.outputs)
            macs: int | None = None
            cycles: float | None = None
            # persistent bytes per builtin (upper case) where measured, else per IR op kind
            persistent += op_bytes.get(op.builtin, op_bytes.get(kind.name if kind else "",
                                                                 arena["ARENA_OP_BYTES_DEFAULT"]))
            if kind is None:
                unknown.append(op.builtin)
            else:
                c = _costs(model, kind, view, op, build)
                macs = c.macs
                cycles = op_cycles(c, RATES[family, is_float])
                start, end = lifetimes.op_scope.get((s, op.index), (0, 0))
                buffers += [(_aligned(size), start, end) for size in c.scratch]
                persistent += c.persistent
                total_cycles += cycles
            total_macs += macs or 0
            total_params += params
            out = view.outputs[0] if view.outputs else None
            rows.append(OpRow(out.name if out else f"op_{op.index}", op.builtin, _shape(out.shape) if out else ()))
            costs.append((macs, params, flash, cycles))
            steps.append(lifetimes.op_scope.get((s, op.index), (0, 0))[0])
    scratch_count = len(buffers) - tensor_buffers
    planned = planned_size(buffers)
    planning = ((tensor_count + scratch_count) * arena["ALLOCATION_INFO_BYTES"]
                + scratch_count * arena["SCRATCH_REQUEST_BYTES"] + len(buffers) * K.PLANNER_BYTES_PER_BUFFER)
    # while kernels prepare, before the variables and the model's ends get their memory
    prepare -= ends_bytes + variables
    live = _live(buffers, lifetimes.scope)
    peak = max(planned, planning, prepare) + persistent
    if unknown:
        names = ", ".join(dict.fromkeys(unknown))
        notes.append(f"MACs and latency leave out {len(unknown)} operator(s) the op table does not know ({names}); "
                     "their tensors are planned exactly, any scratch or persistent data of their own is not counted")
    if any(name == "OfflineMemoryAllocation" for name in model.metadata):
        notes.append("the file carries an offline memory plan (Vela); the arena is planned online, as TFLM "
                     "plans a file without one")
    cycles_to_ms = 1.0 / (profile.clock_mhz * 1000.0)
    latency_ms = total_cycles * cycles_to_ms
    violations, margins = _verdict(budget, peak, model.size, total_macs, latency_ms)
    name = model.path.rsplit("/", 1)[-1].removesuffix(".tflite")
    return Estimate(FileView(name, tuple(rows)), profile.name, budget, total_macs, total_params, model.size,
                    model.size + runtime_flash(profile, {op.builtin for g in model.subgraphs for op in g.operators}), peak, max(live, default=0) + persistent, planned,
                    persistent, latency_ms, 1000.0 / latency_ms if latency_ms else float("inf"), not violations,
                    violations, margins, costs, [live[step] if step < len(live) else 0 for step in steps],
                    cycles_to_ms, notes)


def _temporaries(tensors: list[Tensor], arena: dict) -> int:
    """TfLiteTensors of these tensors (the interpreter's persistent ones for the model's ends, a
    kernel's temporary ones in Prepare) with the quantization data of the quantized ones: the affine
    struct and a zero point per scale (micro_allocator.cc InitializeTfLiteTensorFromFlatbuffer)."""
    return sum(arena["ARENA_IO_TENSOR_BYTES"] + (arena["ARENA_IO_QUANTIZATION_BYTES"] + 4 * (t.scales - 1)
                                                 if t.scales else 0) for t in tensors)


def _live(buffers: list[tuple[int, int, int]], last_scope: int) -> list[int]:
    """Bytes alive at each scope (step)."""
    delta = [0] * (last_scope + 2)
    for size, first, last in buffers:
        delta[first] += size
        delta[last + 1] -= size
    return list(accumulate(delta[:last_scope + 1]))

