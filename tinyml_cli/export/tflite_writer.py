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
from ..tflite.writer import Options, OperatorSpec, TensorSpec, build_model, options, table, vector
from .quantize import QuantizedModel


# IR op -> (TFLite builtin operator name, operator version for int8 kernels).
OPERATORS: dict[str, tuple[str, int]] = {
    "conv2d": ("CONV_2D", 3),
    "depthwise_conv2d": ("DEPTHWISE_CONV_2D", 3),
    "fully_connected": ("FULLY_CONNECTED", 4),
    "add": ("ADD", 2),
    "avg_pool": ("AVERAGE_POOL_2D", 2),
    "max_pool": ("MAX_POOL_2D", 2),
    "mean": ("MEAN", 2),
    "reshape": ("RESHAPE", 1),
    "softmax": ("SOFTMAX", 2),
}
# Float32 ends (``float_io``): operator versions for float -> int8 and int8 -> float.
_QUANTIZE, _DEQUANTIZE = ("QUANTIZE", 1), ("DEQUANTIZE", 2)
# The float operators of a normalization front (version 1: float kernels) and their options tables.
_FRONT_VERSIONS = {"SUB": 1, "MUL": 1, "ADD": 1, "MEAN": 1, "RSQRT": 1, "QUANTIZE": 1}
_FRONT_OPTIONS = {"SUB": "SubOptions", "MUL": "MulOptions", "ADD": "AddOptions", "MEAN": "ReducerOptions"}
_ACTIVATION = {"none": tflite.ActivationFunctionType.NONE, "relu": tflite.ActivationFunctionType.RELU,
               "relu6": tflite.ActivationFunctionType.RELU6}
_FUSES_ACTIVATION = ("conv2d", "depthwise_conv2d", "fully_connected", "add")
_PADDING = {"same": tflite.Padding.SAME, "valid": tflite.Padding.VALID}


def check_writable(graph: LayerGraph) -> None:
    """Raise ArchError naming the first layer the writer cannot express."""
    for i, layer in enumerate(graph.layers):
        if layer.op not in OPERATORS:
            raise ArchError(f"layer {i} ({layer.name}): op {layer.op!r} cannot be written to TFLite; "
                            f"supported: {', '.join(OPERATORS)}")
        if layer.activation not in _ACTIVATION or (layer.activation != "none"
                                                   and layer.op not in _FUSES_ACTIVATION):
            raise ArchError(f"layer {i} ({layer.name}): activation {layer.activation!r} cannot be "
                            f"fused into {OPERATORS[layer.op][0]}")
        if layer.padding not in _PADDING:
            raise ArchError(f"layer {i} ({layer.name}): padding {layer.padding!r} is not SAME or VALID")


def operator_names(graph: LayerGraph) -> list[str]:
    """The distinct TFLite builtin operators of a graph (its normalization front first), in
    first-use order."""
    check_writable(graph)
    front = [op.op for op in front_ops(graph.normalize)]
    return list(dict.fromkeys([*front, *(OPERATORS[layer.op][0] for layer in graph.layers)]))


def _tflite_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (1, *shape)


def _tensors(q: QuantizedModel) -> tuple[list[TensorSpec], list[list[int]]]:
    """All tensors (activations first, in IR order) and each layer's input tensor ids."""
    graph = q.graph
    names = ["input"] + [layer.name for layer in graph.layers]
    tensors = [TensorSpec(name, _tflite_shape(shape), tflite.TensorType.INT8,
                       scale=np.array([p.scale]), zero_point=np.array([p.zero_point]))
               for name, shape, p in zip(names, graph.tensor_shapes, q.tensors)]
    op_inputs = []
    for i, layer in enumerate(graph.layers):
        inputs = list(layer.inputs)
        quant = q.layers[i]
        if quant is not None:
            bias_scale = quant.weight_scale * q.tensors[layer.inputs[0]].scale
            zeros = np.zeros(len(quant.weight_scale), np.int64)
            tensors.append(TensorSpec(f"{layer.name}/weights", quant.weight.shape, tflite.TensorType.INT8,
                                   quant.weight.tobytes(), quant.weight_scale, zeros,
                                   quant.quantized_dimension))
            tensors.append(TensorSpec(f"{layer.name}/bias", quant.bias.shape, tflite.TensorType.INT32,
                                   quant.bias.astype("<i4").tobytes(), bias_scale, zeros, 0))
            inputs += [len(tensors) - 2, len(tensors) - 1]
        elif layer.op == "mean":
            tensors.append(TensorSpec(f"{layer.name}/axis", (2,), tflite.TensorType.INT32,
                                   np.array([1, 2], "<i4").tobytes()))
            inputs.append(len(tensors) - 1)
        elif layer.op == "reshape":
            new_shape = _tflite_shape(layer.output_shape)
            tensors.append(TensorSpec(f"{layer.name}/shape", (len(new_shape),), tflite.TensorType.INT32,
                                   np.array(new_shape, "<i4").tobytes()))
            inputs.append(len(tensors) - 1)
        op_inputs.append(inputs)
    return tensors, op_inputs


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
               float_io: bool) -> tuple[list[Operator], int, int]:
    """Every operator as (builtin name, input ids, output ids, layer or front op), and the model's
    input and output tensor ids. A normalization front (float32 input) comes first; ``float_io``
    adds float32 ends (appended to ``tensors``): a QUANTIZE before the first layer (unless a front
    has one) and a DEQUANTIZE after the last."""
    graph = q.graph
    last = len(graph.layers)
    ops: list[Operator] = [(OPERATORS[layer.op][0], layer_inputs[i], [i + 1], layer)
                           for i, layer in enumerate(graph.layers)]
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


def _option_fields(b: flatbuffers.Builder, layer: Layer) -> tuple[str, dict[str, Any]]:
    """The builtin options table of one layer and its fields, in the order they are written."""
    act = {"FusedActivationFunction": _ACTIVATION[layer.activation]}
    spatial = {"Padding": _PADDING[layer.padding], "StrideH": layer.stride[0], "StrideW": layer.stride[1]}
    dilation = {"DilationHFactor": 1, "DilationWFactor": 1}
    if layer.op == "conv2d":
        return "Conv2DOptions", {**spatial, **dilation, **act}
    if layer.op == "depthwise_conv2d":
        return "DepthwiseConv2DOptions", {**spatial, "DepthMultiplier": 1, **dilation, **act}
    if layer.op == "fully_connected":
        return "FullyConnectedOptions", act
    if layer.op == "add":
        return "AddOptions", act
    if layer.op in ("avg_pool", "max_pool"):
        kernel = {"FilterHeight": layer.kernel[0], "FilterWidth": layer.kernel[1]}
        return "Pool2DOptions", {**spatial, **kernel, **act}
    if layer.op == "mean":
        return "ReducerOptions", {"KeepDims": False}
    if layer.op == "reshape":  # the vector is built before the table that points to it
        new_shape = vector(b, np.array(_tflite_shape(layer.output_shape), np.int32))
        return "ReshapeOptions", {"NewShape": new_shape}
    return "SoftmaxOptions", {"Beta": 1.0}


def _options(op: Layer | FrontOp) -> Options | None:
    """The writer of one layer's or front operator's builtin options table (None: it has none)."""
    if isinstance(op, FrontOp):
        if op.op not in _FRONT_OPTIONS:
            return None
        fields = {"KeepDims": True} if op.op == "MEAN" else {
            "FusedActivationFunction": tflite.ActivationFunctionType.NONE}
        return options(_FRONT_OPTIONS[op.op], fields)
    return lambda b: _layer_options(b, op)


def _layer_options(b: flatbuffers.Builder, layer: Layer) -> tuple[int, int]:
    """(builtin options type, options table offset) of one layer."""
    name, fields = _option_fields(b, layer)
    return getattr(tflite.BuiltinOptions, name), table(b, name, fields)


def write_tflite(q: QuantizedModel, description: str | None = None, float_io: bool = False) -> bytes:
    """The .tflite flatbuffer of a quantized model, one subgraph with int8 input and output (a float32
    input when the graph normalizes its input); with ``float_io``, float32 ones behind QUANTIZE /
    DEQUANTIZE, as the TFLite converter writes a model whose inference input and output types stay
    float."""
    graph = q.graph
    check_writable(graph)
    tensors, layer_inputs = _tensors(q)
    ops, model_in, model_out = _operators(q, tensors, layer_inputs, float_io)
    versions = {**_FRONT_VERSIONS, **dict(OPERATORS.values()), **dict([_QUANTIZE, _DEQUANTIZE])}
    specs = [OperatorSpec(name, op_inputs, op_outputs, _options(layer) if layer is not None else None,
                          versions[name]) for name, op_inputs, op_outputs, layer in ops]
    return build_model(tensors, specs, [model_in], [model_out],
                       description or f"tinyml {__version__}: {graph.name}")
