"""Per-layer precision: which element types each layer's weights and activations take, as far as the
runtime runs them.

A precision is named by a code: ``w8a8`` (int8 throughout), ``w4a8`` (int4 weights, packed two per
byte as TFLite's INT4 tensors, int8 activations) and ``w8a16`` (TFLite's 16x8 scheme: int16
activations, int8 weights, int64 bias). An Arch lists one code per layer with weights, in graph
order; every other layer keeps the activation type of the tensor it reads. The runtime decides what
is offered: a code is accepted for a layer only when its op's ``precisions`` (measured with
tflite-micro's interpreter, see ``scripts/probe_precision.py``) hold it, so ``w4a16`` is offered
nowhere (TFLM's kernels reject int4 weights with int16 activations).

>>> from tinyml_cli.arch.graph import GraphBuilder
>>> b = GraphBuilder((8, 8, 1)); t = b.conv(b.input, 4, 3); t = b.mean(t); _ = b.fully_connected(t, 3)
>>> g = apply_precision(b.finish(), ["w8a16", "w4a8"])
>>> [g.layer_types(i) for i in range(3)], g.tensor_types
([('int8', 'int16'), ('int8', 'int16'), ('int4', 'int8')], ('int8', 'int16', 'int16', 'int8'))
>>> offered("conv2d"), offered("mean")
(('w8a8', 'w4a8', 'w8a16'), ())
>>> apply_precision(b.finish(), ["w4a16", "w8a8"])
Traceback (most recent call last):
...
tinyml_cli.errors.ArchError: arch: precision[0]: conv2d_0 (conv2d) cannot run with 'w4a16' in TFLM; it runs w8a8, w4a8, w8a16
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from ..errors import ArchError
from . import LAYER_OPS

CODES: dict[str, tuple[str, str]] = {"w8a8": ("int8", "int8"), "w4a8": ("int4", "int8"),
                                     "w8a16": ("int8", "int16"), "w4a16": ("int4", "int16")}
DEFAULT = "w8a8"
_BY_TYPES = {types: code for code, types in CODES.items()}


def offered(op: str) -> tuple[str, ...]:
    """The precision codes the runtime runs for a layer of IR op ``op`` (none for a layer without
    weights: it follows its input)."""
    return tuple(_BY_TYPES[p] for p in LAYER_OPS[op].precisions if p[0] is not None)


def weight_layers(graph: Any) -> list[int]:
    """Indices of the layers with weights: the ones an Arch's precision list names, in order."""
    return [i for i, layer in enumerate(graph.layers) if layer.weight_shape]


def apply_precision(graph: Any, codes: Sequence[str], source: str = "arch") -> Any:
    """``graph`` with one precision code per weight layer (an empty list: all int8, unchanged);
    ArchError naming ``source`` for a wrong count, an unknown code or one the runtime cannot run."""
    if not codes:
        return graph
    weighted = weight_layers(graph)
    if len(codes) != len(weighted):
        raise ArchError(f"{source}: precision: expected {len(weighted)} codes (one per layer with weights), "
                        f"got {len(codes)}")
    by_layer = dict(zip(weighted, codes))
    tensor_types = ["int8"]
    types: list[tuple[str, str]] = []
    for i, layer in enumerate(graph.layers):
        code = by_layer.get(i)
        if code is None:
            pair = ("int8", tensor_types[layer.inputs[0]])
        else:
            if code not in CODES:
                raise ArchError(f"{source}: precision[{weighted.index(i)}]: unknown code {code!r}; "
                                f"expected one of {', '.join(CODES)}")
            if code not in offered(layer.op):
                raise ArchError(f"{source}: precision[{weighted.index(i)}]: {layer.name} ({layer.op}) cannot run "
                                f"with {code!r} in TFLM; it runs {', '.join(offered(layer.op))}")
            pair = CODES[code]
        types.append(pair)
        tensor_types.append(pair[1])
    if all(pair == ("int8", "int8") for pair in types):
        return graph
    return replace(graph, precision=tuple(types))


def conversions(graph: Any) -> list[tuple[int, str]]:
    """The ``(tensor, type)`` pairs a mixed-precision graph requantizes: a tensor read by a layer of
    another activation type, once per type, in first-use order, then an int16 output to int8 (the
    model's input and output stay int8)."""
    types = graph.tensor_types
    pairs: dict[tuple[int, str], None] = {}
    for i, layer in enumerate(graph.layers):
        act = graph.layer_types(i)[1]
        pairs.update({(t, act): None for t in layer.inputs if types[t] != act})
    if types[-1] != "int8":                            # the model's output stays int8
        pairs[len(types) - 1, "int8"] = None
    return list(pairs)


def conversion_steps(graph: Any) -> tuple[list[int], dict[tuple[int, str], int], int]:
    """Where the QUANTIZEs of :func:`conversions` run, as the exporter writes them: each just before
    the first layer reading its result (an int16 output's after the last layer). Returns each
    layer's operator index, each conversion's, and the operator count (steps counted from 0)."""
    first_reader: dict[tuple[int, str], int] = {}
    for i, layer in enumerate(graph.layers):
        act = graph.layer_types(i)[1]
        for t in layer.inputs:
            first_reader.setdefault((t, act), i)
    before: dict[int, list[tuple[int, str]]] = {}
    for pair in conversions(graph):
        before.setdefault(first_reader.get(pair, len(graph.layers)), []).append(pair)
    steps: list[int] = []
    converted: dict[tuple[int, str], int] = {}
    step = 0
    for i in range(len(graph.layers) + 1):
        for pair in before.get(i, ()):
            converted[pair] = step
            step += 1
        if i < len(graph.layers):
            steps.append(step)
            step += 1
    return steps, converted, step


# QUANTIZE's version by its output type (op_version.cc: an int16 output is version 2).
QUANTIZE_VERSIONS = {"int8": 1, "int16": 2}


def layer_version(graph: Any, i: int) -> int:
    """The operator version of layer ``i`` in its precision, as TFLite's versioning gives it
    (``LayerOp.type_versions``; the op's own for int8)."""
    layer = graph.layers[i]
    op = LAYER_OPS[layer.op]
    if not graph.precision:
        return op.version
    weights, activations = graph.layer_types(i)
    return dict(op.type_versions).get((weights if layer.weight_shape else None, activations), op.version)


def operator_codes(graph: Any) -> set[tuple[str, int]]:
    """The (builtin, version) operator codes of a graph's layers and requantizations."""
    codes = {(LAYER_OPS[layer.op].builtin, layer_version(graph, i)) for i, layer in enumerate(graph.layers)}
    return codes | {("QUANTIZE", QUANTIZE_VERSIONS[dtype]) for _, dtype in conversions(graph)}
