"""Writing a .tflite flatbuffer from plain tensor and operator specs (one subgraph), with the
``tflite`` schema bindings. The exporter turns a quantized network into these specs; tests build
single-operator models with them.

Buffer 0 is the empty sentinel every activation tensor points to; each constant gets its own buffer,
16-byte aligned as TensorFlow Lite Micro prefers.

>>> import numpy as np, tflite
>>> x = TensorSpec("x", (1, 4), tflite.TensorType.FLOAT32)
>>> y = TensorSpec("y", (1, 4), tflite.TensorType.FLOAT32)
>>> data = build_model([x, y], [OperatorSpec("RELU", [0], [1])], [0], [1])
>>> data[4:8]
b'TFL3'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import flatbuffers
import numpy as np
import tflite

from .. import __version__

SCHEMA_VERSION = 3
BUFFER_ALIGNMENT = 16

Options = Callable[[flatbuffers.Builder], "tuple[int, int] | None"]


@dataclass
class TensorSpec:
    """One tensor: name, shape (batch included), ``tflite.TensorType``, constant data (None for an
    activation), quantization (scales and zero points; None: not quantized) and whether it is a
    variable (state kept between invocations)."""

    name: str
    shape: tuple[int, ...]
    dtype: int
    data: bytes | None = None
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    quantized_dimension: int = 0
    variable: bool = False


@dataclass
class OperatorSpec:
    """One operator: builtin name, input tensor ids (-1: an omitted optional input), output ids, a
    callable writing its builtin options table (see :func:`options`), version, intermediates."""

    builtin: str
    inputs: list[int]
    outputs: list[int]
    options: Options | None = None
    version: int = 1
    intermediates: list[int] = field(default_factory=list)


def vector(b: flatbuffers.Builder, values: Any) -> int:
    """A numpy vector (built before the table pointing to it)."""
    return b.CreateNumpyVector(np.ascontiguousarray(values))


def table(b: flatbuffers.Builder, name: str, fields: dict[str, Any]) -> int:
    """One table of the tflite schema: ``{name}Start``, ``{name}Add{field}`` per field (in order),
    ``{name}End``; vectors, strings and sub-tables must be built before."""
    getattr(tflite, f"{name}Start")(b)
    for key, value in fields.items():
        getattr(tflite, f"{name}Add{key}")(b, value)
    return getattr(tflite, f"{name}End")(b)


def options(name: str, fields: dict[str, Any] | Callable[[flatbuffers.Builder], dict[str, Any]]) -> Options:
    """An options writer for the table ``name`` (e.g. ``Conv2DOptions``) with these fields, or with
    the fields a callable builds (for vectors, which must be built before the table)."""
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        values = fields(b) if callable(fields) else fields
        return getattr(tflite.BuiltinOptions, name), table(b, name, values)
    return write


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


def _write_tensor(b: flatbuffers.Builder, tensor: TensorSpec, buffer: int) -> int:
    name = b.CreateString(tensor.name)
    fields = {"Shape": vector(b, np.array(tensor.shape, np.int32)), "Type": tensor.dtype, "Buffer": buffer,
              "Name": name}
    if tensor.scale is not None:
        fields["Quantization"] = table(b, "QuantizationParameters", {
            "Scale": vector(b, np.asarray(tensor.scale, np.float32)),
            "ZeroPoint": vector(b, np.asarray(tensor.zero_point, np.int64)),
            "QuantizedDimension": tensor.quantized_dimension})
    if tensor.variable:
        fields["IsVariable"] = True
    return table(b, "Tensor", fields)


def build_model(tensors: list[TensorSpec], operators: list[OperatorSpec], inputs: list[int],
                outputs: list[int], description: str | None = None) -> bytes:
    """The .tflite bytes of one subgraph with these tensors and operators (in execution order)."""
    b = flatbuffers.Builder(1024)
    buffer_data: list[bytes] = [b""]
    buffer_of = []
    for tensor in tensors:
        if tensor.data is None:
            buffer_of.append(0)
        else:
            buffer_of.append(len(buffer_data))
            buffer_data.append(tensor.data)
    buffers = [table(b, "Buffer", {"Data": _aligned_bytes(b, data)} if data else {}) for data in buffer_data]
    tensor_offsets = [_write_tensor(b, tensor, buf) for tensor, buf in zip(tensors, buffer_of)]

    codes = list(dict.fromkeys((op.builtin, op.version) for op in operators))
    code_offsets = []
    for name, version in codes:
        code = getattr(tflite.BuiltinOperator, name)
        code_offsets.append(table(b, "OperatorCode", {"DeprecatedBuiltinCode": min(code, 127),
                                                      "BuiltinCode": code, "Version": version}))
    operator_offsets = []
    for op in operators:
        fields = {"OpcodeIndex": codes.index((op.builtin, op.version)),
                  "Inputs": vector(b, np.array(op.inputs, np.int32)),
                  "Outputs": vector(b, np.array(op.outputs, np.int32))}
        if op.intermediates:
            fields["Intermediates"] = vector(b, np.array(op.intermediates, np.int32))
        written = op.options(b) if op.options is not None else None
        if written is not None:
            fields.update(BuiltinOptionsType=written[0], BuiltinOptions=written[1])
        operator_offsets.append(table(b, "Operator", fields))

    subgraph = table(b, "SubGraph", {
        "Tensors": _offsets(b, tflite.SubGraphStartTensorsVector, tensor_offsets),
        "Inputs": vector(b, np.array(inputs, np.int32)),
        "Outputs": vector(b, np.array(outputs, np.int32)),
        "Operators": _offsets(b, tflite.SubGraphStartOperatorsVector, operator_offsets),
        "Name": b.CreateString("main")})
    model_codes = _offsets(b, tflite.ModelStartOperatorCodesVector, code_offsets)
    model_subgraphs = _offsets(b, tflite.ModelStartSubgraphsVector, [subgraph])
    model_buffers = _offsets(b, tflite.ModelStartBuffersVector, buffers)
    text = b.CreateString(description or f"tinyml {__version__}")
    model = table(b, "Model", {"Version": SCHEMA_VERSION, "OperatorCodes": model_codes,
                               "Subgraphs": model_subgraphs, "Description": text, "Buffers": model_buffers})
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())
