"""A QuantizedModel as a self-contained C99 library: ``tinyml_model.h`` / ``tinyml_model.c``
(weights, biases and requantization constants as ``const`` arrays, one static arena of exactly the
planner's size, ``int tinyml_invoke(const int8_t *input, int8_t *output)``) and the kernels
(``tinyml_kernels.h`` / ``.c``, copied from this package). No heap, no interpreter, no flatbuffer.

>>> import numpy as np, torch
>>> from tinyml_cli.arch.graph import GraphBuilder
>>> from tinyml_cli.export.quantize import FoldedModule, quantize
>>> from tinyml_cli.train.builder import build_module
>>> b = GraphBuilder((4, 4, 2)); t = b.conv(b.input, 3, 3, activation="relu"); t = b.mean(t)
>>> _ = b.softmax(b.fully_connected(t, 2)); _ = torch.manual_seed(0)
>>> q = quantize(FoldedModule.from_module(build_module(b.finish()).eval()), np.ones((2, 4, 4, 2), np.float32))
>>> lib = generate(q)
>>> sorted(lib.files), lib.arena_size
(['tinyml_kernels.c', 'tinyml_kernels.h', 'tinyml_model.c', 'tinyml_model.h'], 52)
>>> "static int8_t tinyml_arena[52];" in lib.files["tinyml_model.c"]
True
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from math import prod

import numpy as np

from .. import __version__
from ..errors import EngineError
from ..export.quantize import QuantizedModel
from .kernels import KERNELS, Call, CArray, LayerQuant
from .planner import MemoryPlan, plan_memory

KERNEL_FILES = ("tinyml_kernels.h", "tinyml_kernels.c")
_PER_ROW = 16


@dataclass(frozen=True)
class EngineLibrary:
    """The generated files (name -> text), the arena size (bytes), the memory plan and the shapes of
    the int8 input and output buffers ``tinyml_invoke`` takes."""

    files: dict[str, str]
    arena_size: int
    plan: MemoryPlan
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def check_supported(q: QuantizedModel) -> None:
    """Raise EngineError for the first thing of the model the engine does not run."""
    if q.graph.precision:
        raise EngineError("the C engine runs int8 layers only; this model has per-layer precision "
                          "(int4 weights or int16 activations): export it with runtime tflm")
    if q.graph.normalize != "none":
        raise EngineError(f"the C engine takes int8 inputs; this model normalizes float inputs "
                          f"({q.graph.normalize}): export it for TFLM")
    for layer in q.graph.layers:
        if layer.op not in KERNELS:
            raise EngineError(f"layer {layer.name}: the C engine has no kernel for {layer.op!r}; "
                              f"it runs {', '.join(KERNELS)}")


def _array(array: CArray) -> str:
    values = [str(int(v)) for v in np.asarray(array.values).reshape(-1)]
    rows = (", ".join(values[i:i + _PER_ROW]) for i in range(0, len(values), _PER_ROW))
    body = ",\n".join(f"    {row}" for row in rows)
    return f"static const {array.ctype} {array.name}[{len(values)}] = {{\n{body}\n}};"


def _params(name: str, call: Call) -> str:
    fields = ", ".join(f".{key} = {value}" for key, value in call.fields.items())
    return f"static const {call.struct} {name} = {{{fields}}};"


def _tensor(t: int, plan: MemoryPlan, output: int) -> str:
    """The C expression of tensor ``t``: the caller's input or output, or its place in the arena."""
    if t == 0:
        return "input"
    if t == output:
        return "output"
    return f"tinyml_arena + {plan.offsets[t]}"


def _statement(i: int, call: Call, inputs: list[str], out: str, plan: MemoryPlan) -> str:
    if not call.struct:                         # a copy: its size is its one field
        return f"    tinyml_copy({call.fields['size']}, {inputs[0]}, {out});"
    if i in plan.scratch:                       # in place, with scratch
        return f"    {call.function}_in_place(&layer{i}, {out}, tinyml_arena + {plan.scratch[i]});"
    return f"    {call.function}(&layer{i}, {', '.join(inputs)}, {out});"


def model_source(q: QuantizedModel, plan: MemoryPlan) -> str:
    """``tinyml_model.c``: constants, parameter structs, the arena and ``tinyml_invoke``."""
    graph = q.graph
    output = len(graph.layers)
    decls: list[str] = []
    body: list[str] = []
    for i, layer in enumerate(graph.layers):
        lq = LayerQuant(layer, q.layers[i], [q.tensors[t] for t in layer.inputs], q.tensors[i + 1],
                        graph.input_shapes(layer))
        call = KERNELS[layer.op].emit(lq, f"layer{i}_")
        decls += [_array(a) for a in call.arrays]
        if call.struct:
            decls.append(_params(f"layer{i}", call))
        body.append(f"    /* {layer.name}: {layer.op} -> {'x'.join(map(str, layer.output_shape))} */")
        body.append(_statement(i, call, [_tensor(t, plan, output) for t in layer.inputs],
                               _tensor(i + 1, plan, output), plan))
    arena = f"static int8_t tinyml_arena[{plan.size}];" if plan.size else "/* no arena: no intermediate tensors */"
    return "\n".join([
        f"/* Generated by tinyml {__version__}: the model \"{graph.name}\" for the tinyml C engine. */",
        '#include "tinyml_model.h"',
        '#include "tinyml_kernels.h"',
        "",
        *decls,
        "",
        f"/* Every intermediate tensor, placed offline ({plan.order}). */",
        arena,
        "",
        "int tinyml_invoke(const int8_t *input, int8_t *output) {",
        *body,
        "    return 0;",
        "}",
        "",
    ])


def _c_float(value: float) -> str:
    return f"{float(np.float32(value))!r}f"


def model_header(q: QuantizedModel, plan: MemoryPlan) -> str:
    """``tinyml_model.h``: sizes, quantization of the ends, and ``tinyml_invoke``."""
    graph = q.graph
    inp, out = q.tensors[0], q.tensors[-1]
    return "\n".join([
        f"/* Generated by tinyml {__version__}: run the model \"{graph.name}\" with the tinyml C engine.",
        " * Inputs are int8: q = round(x / TINYML_INPUT_SCALE) + TINYML_INPUT_ZERO_POINT; outputs",
        " * likewise. tinyml_invoke returns 0; it is not reentrant (one static arena). */",
        "#ifndef TINYML_MODEL_H",
        "#define TINYML_MODEL_H",
        "",
        "#include <stdint.h>",
        "",
        f"#define TINYML_INPUT_SIZE {prod(graph.input_shape)}",
        f"#define TINYML_INPUT_SCALE {_c_float(inp.scale)}",
        f"#define TINYML_INPUT_ZERO_POINT ({inp.zero_point})",
        f"#define TINYML_OUTPUT_SIZE {prod(graph.output_shape)}",
        f"#define TINYML_OUTPUT_SCALE {_c_float(out.scale)}",
        f"#define TINYML_OUTPUT_ZERO_POINT ({out.zero_point})",
        f"#define TINYML_ARENA_SIZE {plan.size}",
        "",
        "int tinyml_invoke(const int8_t *input, int8_t *output);",
        "",
        "#endif /* TINYML_MODEL_H */",
        "",
    ])


def kernel_sources() -> dict[str, str]:
    """The kernels' C files, as shipped in this package."""
    folder = resources.files(__package__) / "c"
    return {name: (folder / name).read_text() for name in KERNEL_FILES}


def generate(q: QuantizedModel) -> EngineLibrary:
    """The C library of a quantized model (EngineError when the engine cannot run it)."""
    check_supported(q)
    plan = plan_memory(q.graph, lambda layer, shape: KERNELS[layer.op].in_place_scratch(shape))
    files = {"tinyml_model.h": model_header(q, plan), "tinyml_model.c": model_source(q, plan),
             **kernel_sources()}
    return EngineLibrary(files, plan.size, plan, q.graph.input_shape, q.graph.output_shape)
