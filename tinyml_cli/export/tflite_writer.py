"""A quantized LayerGraph to .tflite bytes, written with ``flatbuffers`` and the ``tflite`` schema
bindings (no TensorFlow).

Tensor ``i`` of the file is tensor ``i`` of the IR (the input is 0, layer ``i`` writes ``i + 1``);
weights, biases and shape constants follow (then, with ``float_io``, the float32 input and output).
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
    """The distinct TFLite builtin operators of a graph, in first-use order."""
    check_writable(graph)
    return list(dict.fromkeys(OPERATORS[layer.op][0] for layer in graph.layers))


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


def _operators(q: QuantizedModel, tensors: list[_Tensor], layer_inputs: list[list[int]],
               float_io: bool) -> tuple[list[tuple[str, list[int], list[int], Layer | None]], int, int]:
    """Every operator as (builtin name, input ids, output ids, layer), and the model's input and
    output tensor ids; ``float_io`` adds float32 ends (appended to ``tensors``) converted by a
    QUANTIZE before the first layer and a DEQUANTIZE after the last."""
    graph = q.graph
    last = len(graph.layers)
    ops = [(OPERATORS[layer.op][0], layer_inputs[i], [i + 1], layer) for i, layer in enumerate(graph.layers)]
    if not float_io:
        return ops, 0, last
    for name, shape in (("input_float", graph.input_shape), ("output_float", graph.output_shape)):
        tensors.append(_Tensor(name, _tflite_shape(shape), tflite.TensorType.FLOAT32))
    model_in, model_out = len(tensors) - 2, len(tensors) - 1
    ops = [(_QUANTIZE[0], [model_in], [0], None), *ops, (_DEQUANTIZE[0], [last], [model_out], None)]
    return ops, model_in, model_out


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


def _options(b: flatbuffers.Builder, layer: Layer) -> tuple[int, int]:
    """(builtin options type, options table offset) of one layer."""
    table, fields = _option_fields(b, layer)
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
    """The .tflite flatbuffer of a quantized model, one subgraph with int8 input and output; with
    ``float_io``, float32 ones behind QUANTIZE / DEQUANTIZE, as the TFLite converter writes a model
    whose inference input and output types stay float."""
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

    versions = {**dict(OPERATORS.values()), **dict([_QUANTIZE, _DEQUANTIZE])}
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
        if layer is not None:
            options_type, options = _options(b, layer)
            fields.update(BuiltinOptionsType=options_type, BuiltinOptions=options)
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
