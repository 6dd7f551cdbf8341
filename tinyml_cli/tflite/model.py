"""A .tflite file as plain data: every subgraph's tensors and operators, read with the ``tflite``
flatbuffer schema bindings and nothing else. No op needs to be known here; what an op costs is the
op table's business (``tinyml_cli.ops``).

>>> import tflite_micro, pathlib
>>> model = read_model(pathlib.Path(tflite_micro.__file__).parent / "python/tflite_micro/sine_float.tflite")
>>> g = model.subgraphs[0]
>>> [op.builtin for op in g.operators], g.inputs, g.outputs, g.tensors[g.inputs[0]].shape
(['FULLY_CONNECTED', 'FULLY_CONNECTED', 'FULLY_CONNECTED'], (0,), (9,), (1, 1))
>>> op = g.operators[0]
>>> op.options["FusedActivationFunction"], [g.tensors[t].constant for t in op.inputs]
(1, [False, True, True])
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

import tflite
from tflite.BuiltinOperator import BuiltinOperator

from ..errors import InputFileError, shown

IDENTIFIER = b"TFL3"
OP_NAMES = {code: name for name, code in vars(BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {code: name.lower() for name, code in vars(tflite.TensorType).items() if not name.startswith("_")}
ITEM_BYTES = {"float32": 4, "float16": 2, "float64": 8, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
              "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1, "int4": 1, "complex64": 8}
_OPTION_TABLES = {code: name for name, code in vars(tflite.BuiltinOptions).items() if not name.startswith("_")}
_CORRUPT = (struct.error, IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError, KeyError,
            OverflowError)
# A tensor beyond this many bytes is a corrupt dimension, not a model (2 GiB: the flatbuffer's own
# limit, and a thousand times the largest MCU memory).
MAX_TENSOR_BYTES = 2**31
# Enum-valued options fields and the enum each must be a member of.
_OPTION_ENUMS = {"Padding": tflite.Padding, "FusedActivationFunction": tflite.ActivationFunctionType}
_ENUM_VALUES = {field: {v for k, v in vars(enum).items() if not k.startswith("_")}
                for field, enum in _OPTION_ENUMS.items()}
# element types whose byte size is not fixed (their buffers are not numel x item size)
_UNSIZED = ("string", "resource", "variant")


@dataclass(frozen=True)
class Tensor:
    """One tensor: its shape as stored (batch included), element type, byte size, and whether it is
    a constant (data in the file), a variable (state kept between invocations) or neither (planned
    in the arena). ``scales`` is the number of quantization scales (per-channel when above 1)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    constant: bool
    variable: bool
    scales: int

    @property
    def numel(self) -> int:
        """Number of elements (1 for a scalar)."""
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of its data (int4 packed two to a byte)."""
        if self.dtype == "int4":
            return -(-self.numel // 2)
        return self.numel * ITEM_BYTES.get(self.dtype, 4)


@dataclass(frozen=True)
class Operator:
    """One operator in execution order: its builtin name (``CUSTOM:<code>`` for custom ops), version,
    tensor indices (-1: an omitted optional input) and builtin options as a name -> value dict."""

    index: int
    builtin: str
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    intermediates: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Subgraph:
    """A subgraph: tensors, operators in execution order, input and output tensor indices."""

    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class TfliteModel:
    """A whole .tflite file: its subgraphs, its size in bytes and its metadata names."""

    path: str
    size: int
    subgraphs: tuple[Subgraph, ...]
    metadata: tuple[str, ...]
    description: str


def read_model(path: str | Path) -> TfliteModel:
    """Parse a .tflite file; a missing, truncated or corrupt one is a one-line InputFileError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise InputFileError(f"{path}: not a TFLite file (no {IDENTIFIER.decode()} flatbuffer identifier)")
    try:
        return _read(path, data)
    except _CORRUPT as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InputFileError(f"{path}: truncated or corrupt TFLite file of {len(data)} bytes "
                             f"(the flatbuffer does not parse: {detail})") from None


def _text(raw: bytes | None) -> str:
    return raw.decode(errors="replace") if raw else ""


def _count(n: int, what: str, file_size: int) -> int:
    """A vector length read from the file, checked to fit in it (each entry takes 4 bytes or more)."""
    if not 0 <= n <= file_size // 4:
        raise ValueError(f"{what}: {n} entries in a file of {file_size} bytes")
    return n


def _read(path: Path, data: bytes) -> TfliteModel:
    model = tflite.Model.GetRootAs(data, 0)
    size = len(data)
    codes = [_opcode(model.OperatorCodes(i))
             for i in range(_count(model.OperatorCodesLength(), "operator codes", size))]
    _count(model.BuffersLength(), "buffers", size)
    subgraphs = []
    for s in range(_count(model.SubgraphsLength(), "subgraphs", size)):
        sg = model.Subgraphs(s)
        tensors = tuple(_tensor(model, sg.Tensors(i), i, size)
                        for i in range(_count(sg.TensorsLength(), f"subgraph {s} tensors", size)))
        operators = []
        for i in range(_count(sg.OperatorsLength(), f"subgraph {s} operators", size)):
            op = sg.Operators(i)
            if not 0 <= op.OpcodeIndex() < len(codes):
                raise ValueError(f"operator {i} has opcode index {op.OpcodeIndex()} of {len(codes)} codes")
            builtin, version = codes[op.OpcodeIndex()]
            operators.append(Operator(
                i, builtin, version, _indices(op.InputsAsNumpy() if op.InputsLength() else ()),
                _indices(op.OutputsAsNumpy() if op.OutputsLength() else ()),
                _indices(op.IntermediatesAsNumpy() if op.IntermediatesLength() else ()), _options(op, i)))
        for op in operators:
            for t in (*op.inputs, *op.outputs, *op.intermediates):
                if not -1 <= t < len(tensors):
                    raise IndexError(f"operator {op.index} refers to tensor {t} of {len(tensors)}")
        inputs = _indices(sg.InputsAsNumpy() if sg.InputsLength() else ())
        outputs = _indices(sg.OutputsAsNumpy() if sg.OutputsLength() else ())
        for t in (*inputs, *outputs):
            if not 0 <= t < len(tensors):
                raise IndexError(f"subgraph {s} has input or output tensor {t} of {len(tensors)}")
        subgraphs.append(Subgraph(_text(sg.Name()), tensors, tuple(operators), inputs, outputs))
    if not subgraphs:
        raise InputFileError(f"{path}: the model has no subgraph")
    metadata = tuple(_text(model.Metadata(i).Name()) for i in range(model.MetadataLength()))
    return TfliteModel(str(path), len(data), tuple(subgraphs), metadata, _text(model.Description()))


def _indices(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _opcode(code: tflite.OperatorCode) -> tuple[str, int]:
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = OP_NAMES.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        name = f"CUSTOM:{_text(code.CustomCode())}"
    return name, code.Version()


def _tensor(model: tflite.Model, t: tflite.Tensor, index: int, file_size: int) -> Tensor:
    """One tensor, its shape, type and buffer checked against each other and the file."""
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if _count(t.ShapeLength(), f"tensor {index} shape", file_size) else ()
    if any(d < 0 for d in shape):
        raise ValueError(f"tensor {index} has a dynamic shape {shown(list(shape))}")
    if t.Type() not in _TYPE_NAMES:
        raise ValueError(f"tensor {index} has element type {t.Type()}, which TFLite does not have")
    dtype = _TYPE_NAMES[t.Type()]
    name = _text(t.Name()) or f"tensor_{index}"
    quant = t.Quantization()
    tensor = Tensor(index, name, shape, dtype, False, bool(t.IsVariable()), quant.ScaleLength() if quant is not None else 0)
    if dtype not in _UNSIZED and tensor.nbytes > MAX_TENSOR_BYTES:
        raise ValueError(f"tensor {index} ({shown(name)}) of shape {shown(list(shape))} would take "
                         f"{tensor.nbytes:.3g} bytes")
    if not 0 <= t.Buffer() < model.BuffersLength():
        raise ValueError(f"tensor {index} refers to buffer {t.Buffer()} of {model.BuffersLength()}")
    buffer = model.Buffers(t.Buffer())
    stored = 0
    if buffer.Offset() > 1:                            # data stored after the flatbuffer
        if buffer.Offset() + buffer.Size() > file_size:
            raise ValueError(f"tensor {index}'s data lies beyond the end of the file (truncated?)")
        stored = buffer.Size()
    elif buffer.DataLength():
        if not 0 < buffer.DataLength() <= file_size or len(buffer.DataAsNumpy()) != buffer.DataLength():
            raise ValueError(f"tensor {index}'s data lies beyond the end of the file (truncated?)")
        stored = buffer.DataLength()
    if stored and dtype not in _UNSIZED and t.Sparsity() is None and stored != tensor.nbytes:
        raise ValueError(f"tensor {index} ({shown(name)}) of shape {shown(list(shape))} and type {dtype} needs "
                         f"{tensor.nbytes} bytes; its buffer holds {stored}")
    return Tensor(index, name, shape, dtype, stored > 0, tensor.variable, tensor.scales)


def _options(op: tflite.Operator, op_index: int) -> dict[str, Any]:
    """The builtin options table of an operator as a dict of its scalar fields and small vectors."""
    kind = _OPTION_TABLES.get(op.BuiltinOptionsType(), "NONE")
    table = op.BuiltinOptions()
    cls = getattr(tflite, kind, None)
    if table is None or cls is None:
        return {}
    options = cls()
    options.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {}
    for name in dir(cls):
        if name.startswith("_") or name in ("Init", "GetRootAs") or name.startswith("GetRootAs") \
                or name.endswith(("BufferHasIdentifier", "Length", "IsNone")):
            continue
        if name.endswith("AsNumpy"):
            base = name[:-len("AsNumpy")]
            if getattr(options, f"{base}Length")():
                out[base] = tuple(getattr(options, name)().tolist())
            continue
        if f"{name}AsNumpy" in dir(cls):
            continue
        try:
            value = getattr(options, name)()
        except TypeError:                              # an accessor that takes an index
            continue
        if isinstance(value, (bool, int, float)):
            if name in _ENUM_VALUES and value not in _ENUM_VALUES[name]:
                raise ValueError(f"operator {op_index}: {kind}.{name} is {value}, not a value of "
                                 f"{_OPTION_ENUMS[name].__name__}")
            out[name] = value
    return out
