"""A quantized LayerGraph to .tflite bytes, written with ``flatbuffers`` and the ``tflite`` schema
bindings (no TensorFlow).

Tensor ``i`` of the file is tensor ``i`` of the IR (the input is 0, layer ``i`` writes ``i + 1``);
weights, biases and shape constants follow, then the float tensors and constants of an input
normalization's front (the model's float32 input first; see arch/normalization.py), then, with
``float_io``, the float32 input (unless a front has one) and output.
Feature maps are ``(1, H, W, C)``, vectors ``(1, N)``. Constant buffers are 16-byte aligned, as
TensorFlow Lite Micro prefers.

>>> import torch
>>> from tinyml_cli.arch.graph import GraphBuilder
>>> from tinyml_cli.export.quantize import FoldedModule, quantize
>>> from tinyml_cli.train.builder import build_module
>>> b = GraphBuilder((4, 4, 2)); t = b.conv(b.input, 3, 3); t = b.mean(t)
>>> _ = b.fully_connected(t, 2); g = b.finish()
>>> _ = torch.manual_seed(0)
>>> q = quantize(FoldedModule.from_module(build_module(g).eval()), np.ones((2, 4, 4, 2), np.float32))
>>> data = write_tflite(q)
>>> data[4:8], operator_names(g)
(b'TFL3', ['CONV_2D', 'MEAN', 'FULLY_CONNECTED'])
"""

from __future__ import annotations

from typing import Any

import flatbuffers
import numpy as np
import tflite

from .. import __version__
from ..arch.graph import Layer, LayerGraph
from ..arch.normalization import OUTPUT, RAW, ZNORM_EPS, FrontOp, front_constants, front_ops, front_tensors
from ..errors import ArchError
from ..ops import LAYER_OPS
from ..ops.base import ACTIVATION_CODES, PADDING_CODES
from ..tflite.writer import Options, OperatorSpec, TensorSpec, build_model, options, table, vector
from ..ops.precision import QUANTIZE_VERSIONS, conversion_steps, conversions, layer_version
from .quantize import QuantizedModel

_TYPES = {"int8": tflite.TensorType.INT8, "int16": tflite.TensorType.INT16, "int4": tflite.TensorType.INT4,
          "int32": tflite.TensorType.INT32, "int64": tflite.TensorType.INT64}


# Float32 ends (``float_io``): operator versions for float -> int8 and int8 -> float.
_QUANTIZE, _DEQUANTIZE = ("QUANTIZE", 1), ("DEQUANTIZE", 2)
# The float operators of a normalization front: version 1, their float kernels.
_FRONT_VERSIONS = {"SUB": 1, "MUL": 1, "ADD": 1, "MEAN": 1, "RSQRT": 1, "QUANTIZE": 1}


def check_writable(graph: LayerGraph) -> None:
    """Raise ArchError naming the first layer the writer cannot express."""
    for i, layer in enumerate(graph.layers):
        op = LAYER_OPS.get(layer.op)
        if op is None:
            raise ArchError(f"layer {i} ({layer.name}): op {layer.op!r} cannot be written to TFLite; "
                            f"supported: {', '.join(LAYER_OPS)}")
        if layer.activation not in ACTIVATION_CODES or (layer.activation != "none" and not op.fuses_activation):
            raise ArchError(f"layer {i} ({layer.name}): activation {layer.activation!r} cannot be "
                            f"fused into {op.builtin}")
        if layer.padding not in PADDING_CODES:
            raise ArchError(f"layer {i} ({layer.name}): padding {layer.padding!r} is not SAME or VALID")


def operator_names(graph: LayerGraph) -> list[str]:
    """The distinct TFLite builtin operators of a graph (its normalization front first), in
    first-use order."""
    check_writable(graph)
    front = [op.op for op in front_ops(graph.normalize)]
    return list(dict.fromkeys([*front, *(LAYER_OPS[layer.op].builtin for layer in graph.layers)]))


def _tflite_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (1, *shape)


def pack_int4(values: np.ndarray) -> bytes:
    """Int4 values (in int8) packed two per byte as TFLite's INT4 tensors: the first element in the
    low nibble, an odd count padded with a zero nibble.

    >>> pack_int4(np.array([1, -1, 7], np.int8)).hex()
    'f107'
    """
    nibbles = (values.astype(np.int8).ravel() & 0xF).astype(np.uint8)
    if len(nibbles) % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes()


def _activation(name: str, shape: tuple[int, ...], dtype: str, p: Any) -> TensorSpec:
    return TensorSpec(name, _tflite_shape(shape), _TYPES[dtype], scale=np.array([p.scale]),
                      zero_point=np.array([p.zero_point]))


def _tensors(q: QuantizedModel) -> tuple[list[TensorSpec], list[list[int]], dict[tuple[int, str], int]]:
    """All tensors (activations first, in IR order, then the tensors requantized to another type,
    then each layer's constants), each layer's input tensor ids, and the id of each requantized
    ``(tensor, type)``."""
    graph = q.graph
    names = ["input"] + [layer.name for layer in graph.layers]
    types = graph.tensor_types
    tensors = [_activation(name, shape, dtype, p)
               for name, shape, dtype, p in zip(names, graph.tensor_shapes, types, q.tensors)]
    converted: dict[tuple[int, str], int] = {}
    for t, dtype in conversions(graph):
        converted[t, dtype] = len(tensors)
        tensors.append(_activation(f"{names[t]}/{dtype}", graph.tensor_shapes[t], dtype, q.conversions[t, dtype]))
    op_inputs = []
    for i, layer in enumerate(graph.layers):
        act = graph.layer_types(i)[1]
        inputs = [converted.get((t, act), t) for t in layer.inputs]
        quant = q.layers[i]
        if quant is not None:
            bias_scale = quant.weight_scale * tensors[inputs[0]].scale[0]
            zeros = np.zeros(len(quant.weight_scale), np.int64)
            data = pack_int4(quant.weight) if quant.weight_type == "int4" else quant.weight.tobytes()
            bias_type = "int64" if act == "int16" else "int32"
            tensors.append(TensorSpec(f"{layer.name}/weights", quant.weight.shape, _TYPES[quant.weight_type],
                                   data, quant.weight_scale, zeros, quant.quantized_dimension))
            tensors.append(TensorSpec(f"{layer.name}/bias", quant.bias.shape, _TYPES[bias_type],
                                   quant.bias.astype(np.dtype(bias_type).newbyteorder("<")).tobytes(),
                                   bias_scale, zeros, 0))
            inputs += [len(tensors) - 2, len(tensors) - 1]
        for name, data in LAYER_OPS[layer.op].constants(layer):   # axes, new shapes
            tensors.append(TensorSpec(f"{layer.name}/{name}", data.shape, tflite.TensorType.INT32, data.tobytes()))
            inputs.append(len(tensors) - 1)
        op_inputs.append(inputs)
    return tensors, op_inputs, converted


Operator = tuple[str, list[int], list[int], "Layer | FrontOp | None"]


def _front(q: QuantizedModel, tensors: list[TensorSpec]) -> list[Operator]:
    """The input normalization's float operators (their tensors and constants appended to
    ``tensors``); the first tensor appended is the model's float32 input."""
    graph = q.graph
    channels = graph.input_shape[-1]
    ids = {OUTPUT: 0}
    for name in front_tensors(graph.normalize):
        per_channel = any(op.per_channel and op.output == name for op in front_ops(graph.normalize))
        shape = (1, 1, 1, channels) if per_channel else _tflite_shape(graph.input_shape)
        ids[name] = len(tensors)
        tensors.append(TensorSpec(RAW + "_float" if name == RAW else name, shape, tflite.TensorType.FLOAT32))
    values = {"axes": np.array([1, 2], "<i4"), "eps": np.array([ZNORM_EPS], "<f4"),
              **{k: np.asarray(v, "<f4") for k, v in q.front.items()}}
    for name in front_constants(graph.normalize):
        if name not in values:
            raise ArchError(f"the {graph.normalize} normalization needs its fitted {name!r}; the model has none")
        kind = tflite.TensorType.INT32 if name == "axes" else tflite.TensorType.FLOAT32
        ids[name] = len(tensors)
        tensors.append(TensorSpec(f"normalize/{name}", values[name].shape, kind, values[name].tobytes()))
    return [(op.op, [ids[t] for t in op.inputs], [ids[op.output]], op) for op in front_ops(graph.normalize)]


def _operators(q: QuantizedModel, tensors: list[TensorSpec], layer_inputs: list[list[int]],
               converted: dict[tuple[int, str], int], float_io: bool) -> tuple[list[Operator], int, int]:
    """Every operator as (builtin name, input ids, output ids, layer or front op), and the model's
    input and output tensor ids. A normalization front (float32 input) comes first; ``float_io``
    adds float32 ends (appended to ``tensors``): a QUANTIZE before the first layer (unless a front
    has one) and a DEQUANTIZE after the last. Mixed precision adds a QUANTIZE where a layer reads a
    tensor of another type (``ops/precision.py`` says where), and one from an int16 output to the
    int8 model output."""
    graph = q.graph
    last = len(graph.layers)
    layer_steps, conversion_at, count = conversion_steps(graph)
    ops: list[Operator] = [None] * count     # type: ignore[list-item]
    for i, layer in enumerate(graph.layers):
        ops[layer_steps[i]] = (LAYER_OPS[layer.op].builtin, layer_inputs[i], [i + 1], layer)
    for (t, dtype), step in conversion_at.items():
        ops[step] = (_QUANTIZE[0], [t], [converted[t, dtype]], None)
    if (last, "int8") in converted:                   # an int16 output requantized to int8
        last = converted[last, "int8"]
    model_in = 0
    if graph.normalize != "none":
        model_in = len(tensors)
        ops = _front(q, tensors) + ops
    elif float_io:
        tensors.append(TensorSpec("input_float", _tflite_shape(graph.input_shape), tflite.TensorType.FLOAT32))
        model_in = len(tensors) - 1
        ops.insert(0, (_QUANTIZE[0], [model_in], [0], None))
    if not float_io:
        return ops, model_in, last
    tensors.append(TensorSpec("output_float", _tflite_shape(graph.output_shape), tflite.TensorType.FLOAT32))
    ops.append((_DEQUANTIZE[0], [last], [len(tensors) - 1], None))
    return ops, model_in, len(tensors) - 1


def _options(op: Layer | FrontOp, wide: bool = False) -> Options | None:
    """The writer of one layer's or front operator's builtin options table (None: it has none)."""
    if isinstance(op, FrontOp):
        return options(op.options[0], dict(op.options[1])) if op.options else None
    return lambda b: _layer_options(b, op, wide)


def _layer_options(b: flatbuffers.Builder, layer: Layer, wide: bool = False) -> tuple[int, int]:
    """(builtin options type, options table offset) of one layer (``wide``: of int16 activations)."""
    op = LAYER_OPS[layer.op]
    name, fields = op.options(b, layer)
    if wide:
        fields = {**fields, **dict(op.int16_options)}
    return getattr(tflite.BuiltinOptions, name), table(b, name, fields)


def _version(graph: LayerGraph, name: str, op: Layer | FrontOp | None, output_type: int,
             versions: dict[str, int]) -> int:
    """The operator version TFLite's versioning gives it (ops/precision.py)."""
    if isinstance(op, Layer):
        return layer_version(graph, graph.layers.index(op))
    if op is None and name == _QUANTIZE[0]:
        return QUANTIZE_VERSIONS["int16" if output_type == _TYPES["int16"] else "int8"]
    return versions[name]


def write_tflite(q: QuantizedModel, description: str | None = None, float_io: bool = False) -> bytes:
    """The .tflite flatbuffer of a quantized model, one subgraph with int8 input and output (a float32
    input when the graph normalizes its input); with ``float_io``, float32 ones behind QUANTIZE /
    DEQUANTIZE, as the TFLite converter writes a model whose inference input and output types stay
    float."""
    graph = q.graph
    check_writable(graph)
    tensors, layer_inputs, converted = _tensors(q)
    ops, model_in, model_out = _operators(q, tensors, layer_inputs, converted, float_io)
    versions = {**_FRONT_VERSIONS, **{op.builtin: op.version for op in LAYER_OPS.values()},
                **dict([_QUANTIZE, _DEQUANTIZE])}
    specs = [OperatorSpec(name, op_inputs, op_outputs,
                          _options(layer, tensors[op_outputs[0]].dtype == _TYPES["int16"]) if layer is not None else None,
                          _version(graph, name, layer, tensors[op_outputs[0]].dtype, versions))
             for name, op_inputs, op_outputs, layer in ops]
    return build_model(tensors, specs, [model_in], [model_out],
                       description or f"tinyml {__version__}: {graph.name}")
