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

from ..errors import InputFileError

IDENTIFIER = b"TFL3"
OP_NAMES = {code: name for name, code in vars(BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {code: name.lower() for name, code in vars(tflite.TensorType).items() if not name.startswith("_")}
ITEM_BYTES = {"float32": 4, "float16": 2, "float64": 8, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
              "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1, "int4": 1, "complex64": 8}
_OPTION_TABLES = {code: name for name, code in vars(tflite.BuiltinOptions).items() if not name.startswith("_")}
_CORRUPT = (struct.error, IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError, KeyError)


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
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFileError(f"{path}: truncated or corrupt TFLite file of {len(data)} bytes "
                             f"(the flatbuffer does not parse: {detail})") from None


def _text(raw: bytes | None) -> str:
    return raw.decode(errors="replace") if raw else ""


def _read(path: Path, data: bytes) -> TfliteModel:
    model = tflite.Model.GetRootAs(data, 0)
    codes = [_opcode(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    subgraphs = []
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        tensors = tuple(_tensor(model, sg.Tensors(i), i, len(data)) for i in range(sg.TensorsLength()))
        operators = []
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            builtin, version = codes[op.OpcodeIndex()]
            operators.append(Operator(
                i, builtin, version, _indices(op.InputsAsNumpy() if op.InputsLength() else ()),
                _indices(op.OutputsAsNumpy() if op.OutputsLength() else ()),
                _indices(op.IntermediatesAsNumpy() if op.IntermediatesLength() else ()), _options(op)))
        for op in operators:
            for t in (*op.inputs, *op.outputs, *op.intermediates):
                if t >= len(tensors):
                    raise IndexError(f"operator {op.index} refers to tensor {t} of {len(tensors)}")
        subgraphs.append(Subgraph(_text(sg.Name()), tensors, tuple(operators),
                                  _indices(sg.InputsAsNumpy() if sg.InputsLength() else ()),
                                  _indices(sg.OutputsAsNumpy() if sg.OutputsLength() else ())))
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
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    if any(d < 0 for d in shape):
        raise ValueError(f"tensor {index} has a dynamic shape {shape}")
    buffer = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
    constant = False
    if buffer is not None:
        if buffer.Offset() > 1:                        # data stored after the flatbuffer
            if buffer.Offset() + buffer.Size() > file_size:
                raise ValueError(f"tensor {index}'s data lies beyond the end of the file (truncated?)")
            constant = True
        elif buffer.DataLength():
            if len(buffer.DataAsNumpy()) != buffer.DataLength():
                raise ValueError(f"tensor {index}'s data lies beyond the end of the file (truncated?)")
            constant = True
    quant = t.Quantization()
    scales = quant.ScaleLength() if quant is not None else 0
    return Tensor(index, _text(t.Name()) or f"tensor_{index}", shape, _TYPE_NAMES.get(t.Type(), f"type{t.Type()}"),
                  constant, bool(t.IsVariable()), scales)


def _options(op: tflite.Operator) -> dict[str, Any]:
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
            out[name] = value
    return out
