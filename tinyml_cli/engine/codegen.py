"""A QuantizedModel as a self-contained C99 library: ``tinyml_model.h`` / ``tinyml_model.c``
(weights, biases and requantization constants as ``const`` arrays, one static arena of exactly the
planner's size holding the input and every intermediate tensor, ``int tinyml_invoke(const int8_t
*input, int8_t *output)``, and ``tinyml_invoke_float`` for float inputs and outputs) and the
kernels (``tinyml_kernels.h`` / ``.c``, copied from this package). No heap, no interpreter, no
flatbuffer. With another ``prefix``, every model-level name is NAME_... (NAME_model.h,
NAME_invoke, NAME_ARENA_SIZE...) while the kernels stay as they are: models of several prefixes
link into one firmware with one copy of the kernels.

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
>>> sorted(generate(q, prefix="kws").files)
['kws_model.c', 'kws_model.h', 'tinyml_kernels.c', 'tinyml_kernels.h']
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from math import prod

import numpy as np

from .. import __version__
from ..config import c_prefix
from ..errors import EngineError
from ..export.quantize import QuantizedModel
from .kernels import KERNELS, Call, CArray, LayerQuant
from .patches import CROP, PLACE, PatchedGraph, PatchStep, layer_by_layer, plan_patches
from .planner import MemoryPlan, engine_in_place, plan_memory

KERNEL_FILES = ("tinyml_kernels.h", "tinyml_kernels.c")
PATCH_FILES = ("tinyml_patch.h", "tinyml_patch.c")
_PER_ROW = 16
DEFAULT_PREFIX = "tinyml"


def check_prefix(prefix: str) -> str:
    """``prefix`` if it can start the model's C names (config.c_prefix); EngineError otherwise."""
    try:
        return c_prefix(prefix)
    except ValueError as exc:
        raise EngineError(f"engine.prefix: {exc}") from None


@dataclass(frozen=True)
class Names:
    """The model-level C names of a prefix: ``symbol("invoke")`` is tinyml_invoke, ``macro("ARENA_SIZE")``
    TINYML_ARENA_SIZE."""

    prefix: str = DEFAULT_PREFIX

    def symbol(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def macro(self, name: str) -> str:
        return f"{self.prefix.upper()}_{name}"

    @property
    def header(self) -> str:
        return f"{self.prefix}_model.h"

    @property
    def source(self) -> str:
        return f"{self.prefix}_model.c"


@dataclass(frozen=True)
class EngineLibrary:
    """The generated files (name -> text), the arena size (bytes), the memory plan, the shapes of
    the int8 input and output buffers ``tinyml_invoke`` takes, and the layers as run (patch by
    patch up to ``patched.split`` with patches; ``patched.split`` -1 without), and the prefix of
    its model-level names."""

    files: dict[str, str]
    arena_size: int
    plan: MemoryPlan
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    patched: PatchedGraph | None = None
    prefix: str = DEFAULT_PREFIX


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


def _tensor(t: int, plan: MemoryPlan, output: int, arena: str) -> str:
    """The C expression of tensor ``t``: the caller's output, or its place in the ``arena`` (the
    input's too: ``tinyml_invoke`` copies it there unless the caller wrote it at ``tinyml_input()``)."""
    if t == output:
        return "output"
    return f"{arena} + {plan.offsets[t]}"


def _statement(i: int, call: Call, inputs: list[str], out: str, plan: MemoryPlan, arena: str) -> str:
    if not call.struct:                         # a copy: its size is its one field
        return f"    tinyml_copy({call.fields['size']}, {inputs[0]}, {out});"
    if i in plan.scratch:                       # in place, with scratch
        return f"    {call.function}_in_place(&layer{i}, {out}, {arena} + {plan.scratch[i]});"
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


def _float_helpers(n: Names) -> list[str]:
    """``tinyml_invoke_float``: the float input quantized as TFLite's QUANTIZE does (x / scale in
    float, rounded half away from zero like std::round, plus the zero point, clamped to int8), the
    int8 model run, its output dequantized as DEQUANTIZE does ((q - zero point) * scale, one float
    rounding). No libm; the int8 output is staged in the float output buffer's own bytes."""
    quantize, size = n.symbol("quantize"), n.macro("OUTPUT_SIZE")
    return [
        f"static int8_t {quantize}(float x) {{",
        f"    float v = x / {n.macro('INPUT_SCALE')};",
        "    int32_t q;",
        "    if (!(v > -512.0f)) v = -512.0f;             /* beyond int8 either way; NaN too */",
        "    if (v > 512.0f) v = 512.0f;",
        "    q = (int32_t)v;                               /* toward zero: exact, |v| <= 512 */",
        "    if (v - (float)q >= 0.5f) q += 1;             /* half away from zero */",
        "    else if ((float)q - v >= 0.5f) q -= 1;",
        f"    q += {n.macro('INPUT_ZERO_POINT')};",
        "    return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));",
        "}",
        "",
        f"int {n.symbol('invoke_float')}(const float *input, float *output) {{",
        f"    int8_t *in = {n.symbol('input')}();",
        "    int8_t *out = (int8_t *)output;               /* the int8 output, in output's first bytes */",
        "    int32_t i;",
        "    int status;",
        f"    for (i = 0; i < {n.macro('INPUT_SIZE')}; i++) in[i] = {quantize}(input[i]);",
        f"    status = {n.symbol('invoke')}(in, out);",
        "    if (status != 0) return status;",
        f"    for (i = {size} - 1; i >= 0; i--)   /* downwards: out[i] is read before output[i] covers it */",
        f"        output[i] = (float)((int32_t)out[i] - {n.macro('OUTPUT_ZERO_POINT')}) * {n.macro('OUTPUT_SCALE')};",
        "    return 0;",
        "}",
    ]


def model_source(q: QuantizedModel, plan: MemoryPlan, patched: PatchedGraph | None = None,
                 names: Names = Names()) -> str:
    """``tinyml_model.c``: constants, parameter structs, the arena, ``tinyml_invoke`` (the layers
    as ``patched`` runs them; by default layer by layer) and ``tinyml_invoke_float``."""
    n, arena = names, names.symbol("arena")
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
        body.append(f"    {n.macro('LAYER_BEGIN')}({i});")
        body.append(_statement(i, call, [_tensor(t, plan, output, arena) for t in reads],
                               _tensor(i + 1, plan, output, arena), plan, arena))
        body.append(f"    {n.macro('LAYER_END')}({i});")
    begin, end = n.macro("LAYER_BEGIN"), n.macro("LAYER_END")
    return "\n".join([
        f"/* Generated by tinyml {__version__}: the model \"{graph.name}\" for the tinyml C engine. */",
        f'#include "{n.header}"',
        '#include "tinyml_kernels.h"',
        *(['#include "tinyml_patch.h"'] if patched.split >= 0 else []),
        "",
        "/* Hooks around each layer (a profiler's markers): nothing unless defined when compiling. */",
        f"#ifndef {begin}",
        f"#define {begin}(index) ((void)0)",
        "#endif",
        f"#ifndef {end}",
        f"#define {end}(index) ((void)0)",
        "#endif",
        "",
        *decls,
        "",
        f"/* Every intermediate tensor, placed offline ({plan.order}). */",
        f"static int8_t {arena}[{plan.size}];",
        "",
        f"int8_t *{n.symbol('input')}(void) {{",
        f"    return {arena} + {plan.offsets[0]};",
        "}",
        "",
        f"int {n.symbol('invoke')}(const int8_t *input, int8_t *output) {{",
        f"    tinyml_copy({n.macro('INPUT_SIZE')}, input, {arena} + {plan.offsets[0]});   "
        f"/* none from {n.symbol('input')}() */",
        *body,
        "    return 0;",
        "}",
        "",
        *_float_helpers(n),
        "",
    ])


def _c_float(value: float) -> str:
    return f"{float(np.float32(value))!r}f"


def model_header(q: QuantizedModel, plan: MemoryPlan, names: Names = Names()) -> str:
    """``tinyml_model.h``: sizes, quantization of the ends, ``tinyml_invoke`` and
    ``tinyml_invoke_float``."""
    graph, n = q.graph, names
    inp, out = q.tensors[0], q.tensors[-1]
    guard, invoke, put = n.macro("MODEL_H"), n.symbol("invoke"), n.symbol("input")
    defines = {"INPUT_SIZE": prod(graph.input_shape), "INPUT_SCALE": _c_float(inp.scale),
               "INPUT_ZERO_POINT": f"({inp.zero_point})", "OUTPUT_SIZE": prod(graph.output_shape),
               "OUTPUT_SCALE": _c_float(out.scale), "OUTPUT_ZERO_POINT": f"({out.zero_point})",
               "ARENA_SIZE": plan.size}
    return "\n".join([
        f"/* Generated by tinyml {__version__}: run the model \"{graph.name}\" with the tinyml C engine.",
        f" * Inputs are int8: q = round(x / {n.macro('INPUT_SCALE')}) + {n.macro('INPUT_ZERO_POINT')}; outputs",
        f" * likewise. The input lives in the arena ({n.macro('ARENA_SIZE')} counts it): write it at",
        f" * {put}() and pass that pointer, or pass any buffer and {invoke} copies it there.",
        f" * {invoke}_float takes float inputs and gives float outputs, as the .tflite with float ends",
        f" * does (QUANTIZE, the int8 model, DEQUANTIZE): it quantizes into {put}(); it needs no",
        " * memory beyond the arena and the float buffers.",
        " * Both return 0; they are not reentrant (one static arena). */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stdint.h>",
        "",
        *(f"#define {n.macro(key)} {value}" for key, value in defines.items()),
        "",
        f"int8_t *{put}(void);",
        f"int {invoke}(const int8_t *input, int8_t *output);",
        f"int {invoke}_float(const float *input, float *output);",
        "",
        f"#endif /* {guard} */",
        "",
    ])


def kernel_sources(patches: bool = False) -> dict[str, str]:
    """The kernels' C files, as shipped in this package (with the patch copies if asked)."""
    folder = resources.files(__package__) / "c"
    return {name: (folder / name).read_text() for name in KERNEL_FILES + PATCH_FILES * patches}


def generate(q: QuantizedModel, patches: int = 0, split: int | None = None,
             prefix: str = DEFAULT_PREFIX) -> EngineLibrary:
    """The C library of a quantized model (EngineError when the engine cannot run it); with
    ``patches`` >= 2, its first layers run patch by patch (patches.py) up to layer ``split``, by
    default the split that needs the smallest arena; its model-level names start with ``prefix``."""
    check_supported(q)
    names = Names(check_prefix(prefix))
    if patches >= 2:
        patched, plan = plan_patches(q.graph, patches, split)
    else:
        patched, plan = layer_by_layer(q.graph), plan_memory(q.graph, engine_in_place, input_in_arena=True)
    files = {names.header: model_header(q, plan, names), names.source: model_source(q, plan, patched, names),
             **kernel_sources(patches >= 2)}
    return EngineLibrary(files, plan.size, plan, q.graph.input_shape, q.graph.output_shape, patched, prefix)
