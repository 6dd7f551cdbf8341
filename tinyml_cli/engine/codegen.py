"""A QuantizedModel as a self-contained C99 library: ``tinyml_model.h`` / ``tinyml_model.c``
(weights, biases and requantization constants as ``const`` arrays, one static arena of exactly the
planner's size holding the input and every intermediate tensor, ``int tinyml_invoke(const int8_t
*input, int8_t *output)``) and the kernels
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
(['tinyml_kernels.c', 'tinyml_kernels.h', 'tinyml_model.c', 'tinyml_model.h'], 80)
>>> "static int8_t tinyml_arena[80];" in lib.files["tinyml_model.c"]
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
from .patches import CROP, PLACE, PatchedGraph, PatchStep, layer_by_layer, plan_patches
from .planner import MemoryPlan, engine_in_place, plan_memory

KERNEL_FILES = ("tinyml_kernels.h", "tinyml_kernels.c")
PATCH_FILES = ("tinyml_patch.h", "tinyml_patch.c")
_PER_ROW = 16


@dataclass(frozen=True)
class EngineLibrary:
    """The generated files (name -> text), the arena size (bytes), the memory plan, the shapes of
    the int8 input and output buffers ``tinyml_invoke`` takes, and the layers as run (patch by
    patch up to ``patched.split`` with patches; ``patched.split`` -1 without)."""

    files: dict[str, str]
    arena_size: int
    plan: MemoryPlan
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    patched: PatchedGraph | None = None


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
    """The C expression of tensor ``t``: the caller's output, or its place in the arena (the input's
    too: ``tinyml_invoke`` copies it there unless the caller wrote it at ``tinyml_input()``)."""
    if t == output:
        return "output"
    return f"tinyml_arena + {plan.offsets[t]}"


def _statement(i: int, call: Call, inputs: list[str], out: str, plan: MemoryPlan) -> str:
    if not call.struct:                         # a copy: its size is its one field
        return f"    tinyml_copy({call.fields['size']}, {inputs[0]}, {out});"
    if i in plan.scratch:                       # in place, with scratch
        return f"    {call.function}_in_place(&layer{i}, {out}, tinyml_arena + {plan.scratch[i]});"
    return f"    {call.function}(&layer{i}, {', '.join(inputs)}, {out});"


def _region_call(graph, layer, step: PatchStep) -> Call:
    """A crop (a region of its input, at ``step.origin``) or a place (a patch into the full map)."""
    rows, cols, c = layer.output_shape if layer.op == CROP else graph.tensor_shape(layer.inputs[-1])
    source_w = graph.tensor_shape(layer.inputs[0])[1] if layer.op == CROP else cols
    target_w = cols if layer.op == CROP else layer.output_shape[1]
    src, dst = (step.origin, (0, 0)) if layer.op == CROP else ((0, 0), step.origin)
    fields = {"rows": rows, "cols": cols, "c": c, "src_w": source_w, "src_y": src[0], "src_x": src[1],
              "dst_w": target_w, "dst_y": dst[0], "dst_x": dst[1]}
    return Call("tinyml_copy_region", "tinyml_region_params", fields)


def _layer_call(q: QuantizedModel, patched: PatchedGraph, j: int) -> Call:
    """The call of layer ``j`` of the graph as run: the original layer's kernel over its region
    (constants shared by its patches, its padding in the region), or a crop or place."""
    graph, step = patched.graph, patched.steps[j]
    layer = graph.layers[j]
    if step.source is None:
        return _region_call(graph, layer, step)
    lq = LayerQuant(layer, q.layers[step.source], [q.tensors[patched.tensor_of[t]] for t in layer.inputs],
                    q.tensors[patched.tensor_of[j + 1]], graph.input_shapes(layer))
    call = KERNELS[layer.op].emit(lq, f"layer{step.source}_")
    if step.pad is not None and "pad_h" in call.fields:
        call = Call(call.function, call.struct, {**call.fields, "pad_h": step.pad[0], "pad_w": step.pad[1]},
                    call.arrays)
    return call


def model_source(q: QuantizedModel, plan: MemoryPlan, patched: PatchedGraph | None = None) -> str:
    """``tinyml_model.c``: constants, parameter structs, the arena and ``tinyml_invoke`` (the
    layers as ``patched`` runs them; by default layer by layer)."""
    patched = patched or layer_by_layer(q.graph)
    graph = patched.graph
    output = len(graph.layers)
    decls: list[str] = []
    body: list[str] = []
    declared: set[str] = set()
    for i, layer in enumerate(graph.layers):
        call = _layer_call(q, patched, i)
        decls += [_array(a) for a in call.arrays if a.name not in declared]
        declared.update(a.name for a in call.arrays)
        if call.struct:
            decls.append(_params(f"layer{i}", call))
        body.append(f"    /* {layer.name}: {layer.op} -> {'x'.join(map(str, layer.output_shape))} */")
        reads = layer.inputs[-1:] if layer.op == PLACE else layer.inputs    # a place writes over the rest
        body.append(f"    TINYML_LAYER_BEGIN({i});")
        body.append(_statement(i, call, [_tensor(t, plan, output) for t in reads],
                               _tensor(i + 1, plan, output), plan))
        body.append(f"    TINYML_LAYER_END({i});")
    arena = f"static int8_t tinyml_arena[{plan.size}];" if plan.size else "/* no arena: no intermediate tensors */"
    return "\n".join([
        f"/* Generated by tinyml {__version__}: the model \"{graph.name}\" for the tinyml C engine. */",
        '#include "tinyml_model.h"',
        '#include "tinyml_kernels.h"',
        *(['#include "tinyml_patch.h"'] if patched.split >= 0 else []),
        "",
        "/* Hooks around each layer (a profiler's markers): nothing unless defined when compiling. */",
        "#ifndef TINYML_LAYER_BEGIN",
        "#define TINYML_LAYER_BEGIN(index) ((void)0)",
        "#endif",
        "#ifndef TINYML_LAYER_END",
        "#define TINYML_LAYER_END(index) ((void)0)",
        "#endif",
        "",
        *decls,
        "",
        f"/* Every intermediate tensor, placed offline ({plan.order}). */",
        arena,
        "",
        "int8_t *tinyml_input(void) {",
        f"    return tinyml_arena + {plan.offsets[0]};",
        "}",
        "",
        "int tinyml_invoke(const int8_t *input, int8_t *output) {",
        f"    tinyml_copy(TINYML_INPUT_SIZE, input, tinyml_arena + {plan.offsets[0]});   /* none from tinyml_input() */",
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
        " * likewise. The input lives in the arena (TINYML_ARENA_SIZE counts it): write it at",
        " * tinyml_input() and pass that pointer, or pass any buffer and tinyml_invoke copies it there.",
        " * tinyml_invoke returns 0; it is not reentrant (one static arena). */",
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
        "int8_t *tinyml_input(void);",
        "int tinyml_invoke(const int8_t *input, int8_t *output);",
        "",
        "#endif /* TINYML_MODEL_H */",
        "",
    ])


def kernel_sources(patches: bool = False) -> dict[str, str]:
    """The kernels' C files, as shipped in this package (with the patch copies if asked)."""
    folder = resources.files(__package__) / "c"
    return {name: (folder / name).read_text() for name in KERNEL_FILES + PATCH_FILES * patches}


def generate(q: QuantizedModel, patches: int = 0, split: int | None = None) -> EngineLibrary:
    """The C library of a quantized model (EngineError when the engine cannot run it); with
    ``patches`` >= 2, its first layers run patch by patch (patches.py) up to layer ``split``, by
    default the split that needs the smallest arena."""
    check_supported(q)
    if patches >= 2:
        patched, plan = plan_patches(q.graph, patches, split)
    else:
        patched, plan = layer_by_layer(q.graph), plan_memory(q.graph, engine_in_place, input_in_arena=True)
    files = {"tinyml_model.h": model_header(q, plan), "tinyml_model.c": model_source(q, plan, patched),
             **kernel_sources(patches >= 2)}
    return EngineLibrary(files, plan.size, plan, q.graph.input_shape, q.graph.output_shape, patched)
