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

from dataclasses import dataclass
from typing import Any, Callable

import flatbuffers
import numpy as np
import tflite

from .. import __version__
from ..arch.graph import Layer, LayerGraph
from ..arch.normalization import OUTPUT, RAW, ZNORM_EPS, FrontOp, front_constants, front_ops, front_tensors
from ..errors import ArchError
from .quantize import QuantizedModel

SCHEMA_VERSION = 3
BUFFER_ALIGNMENT = 16

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


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: int
    data: bytes | None = None
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    quantized_dimension: int = 0


def _tflite_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (1, *shape)


def _tensors(q: QuantizedModel) -> tuple[list[_Tensor], list[list[int]]]:
    """All tensors (activations first, in IR order) and each layer's input tensor ids."""
    graph = q.graph
    names = ["input"] + [layer.name for layer in graph.layers]
    tensors = [_Tensor(name, _tflite_shape(shape), tflite.TensorType.INT8,
                       scale=np.array([p.scale]), zero_point=np.array([p.zero_point]))
               for name, shape, p in zip(names, graph.tensor_shapes, q.tensors)]
    op_inputs = []
    for i, layer in enumerate(graph.layers):
        inputs = list(layer.inputs)
        quant = q.layers[i]
        if quant is not None:
            bias_scale = quant.weight_scale * q.tensors[layer.inputs[0]].scale
            zeros = np.zeros(len(quant.weight_scale), np.int64)
            tensors.append(_Tensor(f"{layer.name}/weights", quant.weight.shape, tflite.TensorType.INT8,
                                   quant.weight.tobytes(), quant.weight_scale, zeros,
                                   quant.quantized_dimension))
            tensors.append(_Tensor(f"{layer.name}/bias", quant.bias.shape, tflite.TensorType.INT32,
                                   quant.bias.astype("<i4").tobytes(), bias_scale, zeros, 0))
            inputs += [len(tensors) - 2, len(tensors) - 1]
        elif layer.op == "mean":
            tensors.append(_Tensor(f"{layer.name}/axis", (2,), tflite.TensorType.INT32,
                                   np.array([1, 2], "<i4").tobytes()))
            inputs.append(len(tensors) - 1)
        elif layer.op == "reshape":
            new_shape = _tflite_shape(layer.output_shape)
            tensors.append(_Tensor(f"{layer.name}/shape", (len(new_shape),), tflite.TensorType.INT32,
                                   np.array(new_shape, "<i4").tobytes()))
            inputs.append(len(tensors) - 1)
        op_inputs.append(inputs)
    return tensors, op_inputs


Operator = tuple[str, list[int], list[int], "Layer | FrontOp | None"]


def _front(q: QuantizedModel, tensors: list[_Tensor]) -> list[Operator]:
    """The input normalization's float operators (their tensors and constants appended to
    ``tensors``); the first tensor appended is the model's float32 input."""
    graph = q.graph
    channels = graph.input_shape[-1]
    ids = {OUTPUT: 0}
    for name in front_tensors(graph.normalize):
        per_channel = any(op.per_channel and op.output == name for op in front_ops(graph.normalize))
        shape = (1, 1, 1, channels) if per_channel else _tflite_shape(graph.input_shape)
        ids[name] = len(tensors)
        tensors.append(_Tensor(RAW + "_float" if name == RAW else name, shape, tflite.TensorType.FLOAT32))
    values = {"axes": np.array([1, 2], "<i4"), "eps": np.array([ZNORM_EPS], "<f4"),
              **{k: np.asarray(v, "<f4") for k, v in q.front.items()}}
    for name in front_constants(graph.normalize):
        if name not in values:
            raise ArchError(f"the {graph.normalize} normalization needs its fitted {name!r}; the model has none")
        kind = tflite.TensorType.INT32 if name == "axes" else tflite.TensorType.FLOAT32
        ids[name] = len(tensors)
        tensors.append(_Tensor(f"normalize/{name}", values[name].shape, kind, values[name].tobytes()))
    return [(op.op, [ids[t] for t in op.inputs], [ids[op.output]], op) for op in front_ops(graph.normalize)]


def _operators(q: QuantizedModel, tensors: list[_Tensor], layer_inputs: list[list[int]],
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
        tensors.append(_Tensor("input_float", _tflite_shape(graph.input_shape), tflite.TensorType.FLOAT32))
        model_in = len(tensors) - 1
        ops.insert(0, (_QUANTIZE[0], [model_in], [0], None))
    if not float_io:
        return ops, model_in, last
    tensors.append(_Tensor("output_float", _tflite_shape(graph.output_shape), tflite.TensorType.FLOAT32))
    ops.append((_DEQUANTIZE[0], [last], [len(tensors) - 1], None))
    return ops, model_in, len(tensors) - 1


def _vector(b: flatbuffers.Builder, values: np.ndarray) -> int:
    return b.CreateNumpyVector(np.ascontiguousarray(values))


def _aligned_bytes(b: flatbuffers.Builder, data: bytes) -> int:
    """A ubyte vector whose first byte is BUFFER_ALIGNMENT-aligned in the final file."""
    b.StartVector(1, len(data), BUFFER_ALIGNMENT)
    b.head = b.head - len(data)
    b.Bytes[b.head:b.head + len(data)] = data
    return b.EndVector(len(data))


def _offsets(b: flatbuffers.Builder, start: Callable[[flatbuffers.Builder, int], None],
             offsets: list[int]) -> int:
    start(b, len(offsets))
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    return b.EndVector(len(offsets))


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
        new_shape = _vector(b, np.array(_tflite_shape(layer.output_shape), np.int32))
        return "ReshapeOptions", {"NewShape": new_shape}
    return "SoftmaxOptions", {"Beta": 1.0}


def _table(b: flatbuffers.Builder, table: str, fields: dict[str, Any]) -> int:
    """One table of the tflite schema: ``{table}Start``, ``{table}Add{field}`` per field (in order),
    ``{table}End``; vectors, strings and sub-tables must be built before."""
    getattr(tflite, f"{table}Start")(b)
    for field, value in fields.items():
        getattr(tflite, f"{table}Add{field}")(b, value)
    return getattr(tflite, f"{table}End")(b)


def _options(b: flatbuffers.Builder, op: Layer | FrontOp) -> tuple[int, int] | None:
    """(builtin options type, options table offset) of one layer or front operator (None: the
    operator has no options)."""
    if isinstance(op, FrontOp):
        if op.op not in _FRONT_OPTIONS:
            return None
        table = _FRONT_OPTIONS[op.op]
        fields = {"KeepDims": True} if op.op == "MEAN" else {
            "FusedActivationFunction": tflite.ActivationFunctionType.NONE}
    else:
        table, fields = _option_fields(b, op)
    return getattr(tflite.BuiltinOptions, table), _table(b, table, fields)


def _write_tensor(b: flatbuffers.Builder, tensor: _Tensor, buffer: int) -> int:
    name = b.CreateString(tensor.name)
    fields = {"Shape": _vector(b, np.array(tensor.shape, np.int32)), "Type": tensor.dtype, "Buffer": buffer,
              "Name": name}
    if tensor.scale is not None:
        fields["Quantization"] = _table(b, "QuantizationParameters", {
            "Scale": _vector(b, np.asarray(tensor.scale, np.float32)),
            "ZeroPoint": _vector(b, np.asarray(tensor.zero_point, np.int64)),
            "QuantizedDimension": tensor.quantized_dimension})
    return _table(b, "Tensor", fields)


def write_tflite(q: QuantizedModel, description: str | None = None, float_io: bool = False) -> bytes:
    """The .tflite flatbuffer of a quantized model, one subgraph with int8 input and output (a float32
    input when the graph normalizes its input); with ``float_io``, float32 ones behind QUANTIZE /
    DEQUANTIZE, as the TFLite converter writes a model whose inference input and output types stay
    float."""
    graph = q.graph
    check_writable(graph)
    b = flatbuffers.Builder(1024)
    tensors, layer_inputs = _tensors(q)
    ops, model_in, model_out = _operators(q, tensors, layer_inputs, float_io)

    # Buffer 0 is the empty sentinel every activation tensor points to; constants get their own.
    buffer_data: list[bytes] = [b""]
    buffer_of = []
    for tensor in tensors:
        if tensor.data is None:
            buffer_of.append(0)
        else:
            buffer_of.append(len(buffer_data))
            buffer_data.append(tensor.data)
    buffers = [_table(b, "Buffer", {"Data": _aligned_bytes(b, data)} if data else {}) for data in buffer_data]

    tensor_offsets = [_write_tensor(b, tensor, buf) for tensor, buf in zip(tensors, buffer_of)]

    versions = {**_FRONT_VERSIONS, **dict(OPERATORS.values()), **dict([_QUANTIZE, _DEQUANTIZE])}
    codes = list(dict.fromkeys(name for name, *_ in ops))
    code_offsets = []
    for name in codes:
        code = getattr(tflite.BuiltinOperator, name)
        code_offsets.append(_table(b, "OperatorCode", {"DeprecatedBuiltinCode": min(code, 127),
                                                       "BuiltinCode": code, "Version": versions[name]}))

    operators = []
    for name, op_inputs, op_outputs, layer in ops:
        fields = {"OpcodeIndex": codes.index(name), "Inputs": _vector(b, np.array(op_inputs, np.int32)),
                  "Outputs": _vector(b, np.array(op_outputs, np.int32))}
        options = _options(b, layer) if layer is not None else None
        if options is not None:
            fields.update(BuiltinOptionsType=options[0], BuiltinOptions=options[1])
        operators.append(_table(b, "Operator", fields))

    subgraph = _table(b, "SubGraph", {
        "Tensors": _offsets(b, tflite.SubGraphStartTensorsVector, tensor_offsets),
        "Inputs": _vector(b, np.array([model_in], np.int32)),
        "Outputs": _vector(b, np.array([model_out], np.int32)),
        "Operators": _offsets(b, tflite.SubGraphStartOperatorsVector, operators),
        "Name": b.CreateString("main")})

    model_codes = _offsets(b, tflite.ModelStartOperatorCodesVector, code_offsets)
    model_subgraphs = _offsets(b, tflite.ModelStartSubgraphsVector, [subgraph])
    model_buffers = _offsets(b, tflite.ModelStartBuffersVector, buffers)
    text = b.CreateString(description or f"tinyml {__version__}: {graph.name}")
    model = _table(b, "Model", {"Version": SCHEMA_VERSION, "OperatorCodes": model_codes,
                                "Subgraphs": model_subgraphs, "Description": text, "Buffers": model_buffers})
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())
