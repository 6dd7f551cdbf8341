"""Read a ``.tflite`` file back into the layer-graph IR, so ``estimate`` works on models made elsewhere.

Parsed with the ``tflite`` flatbuffer schema bindings. CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
ADD, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, RESHAPE and SOFTMAX map to IR layers with their fused
activations (none, RELU, RELU6); QUANTIZE and DEQUANTIZE are accepted at the model's ends: the IR
starts and ends at the quantized tensors and ``TfliteModel.io_bytes`` keeps the element sizes of the
model's own (float) input and output, which the estimator plans like TFLM. A model that starts
with one of our input normalization fronts (arch/normalization.py) reads back with its
``normalize``. Anything else is a one-line InputFileError naming the file and the problem.

>>> import tflite_micro, pathlib
>>> sine = pathlib.Path(tflite_micro.__file__).parent / "python/tflite_micro/sine_float.tflite"
>>> model = load_tflite(sine)
>>> [layer.op for layer in model.graph.layers], model.activation_bytes, model.io_bytes
(['fully_connected', 'fully_connected', 'fully_connected'], 4, (4, 4))
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import tflite
from tflite.BuiltinOperator import BuiltinOperator as OP

from ..arch.graph import Layer, LayerGraph, Shape
from ..arch.normalization import NORMALIZATIONS, RAW, front_ops
from ..errors import InputFileError

IDENTIFIER = b"TFL3"
_OP_NAMES = {code: name for name, code in vars(OP).items() if not name.startswith("_")}
_LAYER_OPS = {OP.CONV_2D: "conv2d", OP.DEPTHWISE_CONV_2D: "depthwise_conv2d",
              OP.FULLY_CONNECTED: "fully_connected", OP.ADD: "add", OP.AVERAGE_POOL_2D: "avg_pool",
              OP.MAX_POOL_2D: "max_pool", OP.MEAN: "mean", OP.RESHAPE: "reshape",
              OP.SOFTMAX: "softmax"}
_ACTIVATIONS = {0: "none", 1: "relu", 3: "relu6"}      # tflite.ActivationFunctionType
_PADDINGS = {0: "same", 1: "valid"}                     # tflite.Padding
_ELEMENT_BYTES = {tflite.TensorType.FLOAT32: 4, tflite.TensorType.INT8: 1,
                  tflite.TensorType.UINT8: 1, tflite.TensorType.INT16: 2}
_OPTIONS = {OP.CONV_2D: tflite.Conv2DOptions, OP.DEPTHWISE_CONV_2D: tflite.DepthwiseConv2DOptions,
            OP.FULLY_CONNECTED: tflite.FullyConnectedOptions, OP.ADD: tflite.AddOptions,
            OP.AVERAGE_POOL_2D: tflite.Pool2DOptions, OP.MAX_POOL_2D: tflite.Pool2DOptions}
_CORRUPT = (struct.error, IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError)


@dataclass(frozen=True)
class TfliteModel:
    """A .tflite file as the estimator needs it: the IR, element sizes and the real file size."""

    graph: LayerGraph
    activation_bytes: int
    weight_bytes: int
    file_bytes: int
    io_bytes: tuple[int, int]          # element sizes of the model's own input and output tensors


def read_tflite(path: str | Path) -> LayerGraph:
    """The LayerGraph of a .tflite file."""
    return load_tflite(path).graph


def load_tflite(path: str | Path) -> TfliteModel:
    """Parse a .tflite file; a missing, truncated, corrupt or unsupported one is an InputFileError."""
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
        return _Reader(path, data).model()
    except _CORRUPT as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFileError(f"{path}: truncated or corrupt TFLite file of {len(data)} bytes "
                             f"(the flatbuffer does not parse: {detail})") from None


class _Reader:
    """One pass over the first subgraph's operators, in execution order."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data = path, data
        self.model_fb = tflite.Model.GetRootAs(data, 0)
        if self.model_fb.SubgraphsLength() < 1:
            self.fail("the model has no subgraph")
        self.sg = self.model_fb.Subgraphs(0)
        self.ids: dict[int, int] = {}                  # TFLite tensor index -> IR tensor id
        self.layers: list[Layer] = []
        self.weight_bytes = 1

    def fail(self, what: str) -> NoReturn:
        raise InputFileError(f"{self.path}: {what}")

    def model(self) -> TfliteModel:
        sg = self.sg
        inputs, outputs = list(sg.InputsAsNumpy()), list(sg.OutputsAsNumpy())
        if len(inputs) != 1 or len(outputs) != 1:
            self.fail(f"{len(inputs)} inputs and {len(outputs)} outputs; only single-input, "
                      "single-output models are supported")
        self.ids[int(inputs[0])] = 0
        input_index, output_index = int(inputs[0]), int(outputs[0])
        io_bytes = (self.element_bytes(sg.Tensors(input_index), "input"),
                    self.element_bytes(sg.Tensors(output_index), "output"))
        n_ops = sg.OperatorsLength()
        if n_ops == 0:
            self.fail("the model has no operators")
        normalize, start = self.front(input_index)
        if start:
            input_index = int(sg.Operators(start - 1).OutputsAsNumpy()[0])
            self.ids = {input_index: 0}
        for i in range(start, n_ops):
            op = sg.Operators(i)
            code = self.opcode(op)
            ins = [int(t) for t in op.InputsAsNumpy() if t >= 0]
            outs = [int(t) for t in op.OutputsAsNumpy()]
            if len(outs) != 1:
                self.fail(f"operator {i} ({_OP_NAMES.get(code, code)}) has {len(outs)} outputs")
            if code in (OP.QUANTIZE, OP.DEQUANTIZE):
                at_start = i == 0 and ins[0] == input_index
                at_end = i == n_ops - 1 and outs[0] == output_index
                if not (at_start or at_end):
                    self.fail(f"operator {i} ({_OP_NAMES[code]}) inside the model; QUANTIZE and "
                              "DEQUANTIZE are supported only at the input and output")
                if at_start:
                    self.ids = {outs[0]: 0}
                    input_index = outs[0]
                else:
                    output_index = ins[0]
                continue
            if code not in _LAYER_OPS:
                self.fail(f"unsupported operator {_OP_NAMES.get(code, f'#{code}')} (operator {i}); "
                          f"supported: {', '.join(_OP_NAMES[c] for c in _LAYER_OPS)}, QUANTIZE and "
                          "DEQUANTIZE at the ends")
            self.add_layer(i, code, op, ins, outs[0])
        if not self.layers:
            self.fail("the model has no layers besides QUANTIZE and DEQUANTIZE")
        if output_index not in self.ids or self.ids[output_index] != len(self.layers):
            self.fail("the model output is not the last operator's output")
        input_tensor = sg.Tensors(input_index)
        activation_bytes = self.element_bytes(input_tensor, "input")
        graph = LayerGraph(self.shape(input_tensor), tuple(self.layers), self.path.stem, normalize)
        return TfliteModel(graph, activation_bytes, self.weight_bytes, len(self.data), io_bytes)

    def front(self, input_index: int) -> tuple[str, int]:
        """The input normalization whose float front (arch/normalization.py) the model starts with,
        read from its float32 input, and the index of the first operator after it (0: none)."""
        for mode in NORMALIZATIONS[1:]:
            ops = front_ops(mode)
            if self.sg.OperatorsLength() <= len(ops):
                continue
            tensors = {RAW: input_index}
            for i, expected in enumerate(ops):
                op = self.sg.Operators(i)
                ins = [int(t) for t in op.InputsAsNumpy()]
                if (self.opcode(op) != getattr(OP, expected.op) or len(ins) != len(expected.inputs)
                        or any(tensors.get(name, t) != t for name, t in zip(expected.inputs, ins))):
                    break
                tensors.update(zip(expected.inputs, ins))
                tensors[expected.output] = int(op.OutputsAsNumpy()[0])
            else:
                return mode, len(ops)
        return "none", 0

    def opcode(self, op: tflite.Operator) -> int:
        oc = self.model_fb.OperatorCodes(op.OpcodeIndex())
        return max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())

    def shape(self, tensor: tflite.Tensor) -> Shape:
        """IR shape: the batch dimension dropped, (H, W, C) or (N,)."""
        dims = [int(d) for d in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else []
        if len(dims) in (2, 4) and dims[0] == 1:
            dims = dims[1:]
        if not dims or any(d <= 0 for d in dims):
            self.fail(f"tensor {tensor.Name().decode(errors='replace')!r} has shape {dims}; "
                      "expected [1, H, W, C] or [1, N] with positive sizes")
        return tuple(dims)

    def element_bytes(self, tensor: tflite.Tensor, what: str) -> int:
        kind = tensor.Type()
        if kind not in _ELEMENT_BYTES:
            self.fail(f"{what} tensor {tensor.Name().decode(errors='replace')!r} has unsupported "
                      f"type {kind}; expected float32, int8, uint8 or int16")
        return _ELEMENT_BYTES[kind]

    def constant(self, index: int) -> tflite.Tensor | None:
        """The tensor if it holds constant data (weights, biases, axes), else None."""
        tensor = self.sg.Tensors(index)
        buffer = self.model_fb.Buffers(tensor.Buffer())
        if buffer is None:
            return None
        if buffer.Offset() > 1:                        # data stored after the flatbuffer
            if buffer.Offset() + buffer.Size() > len(self.data):
                self.fail(f"tensor {index}'s data lies beyond the end of the file (truncated?)")
            return tensor
        length = buffer.DataLength()
        if length == 0:
            return None
        if len(buffer.DataAsNumpy()) != length:        # the vector runs past the end of the file
            self.fail(f"tensor {index}'s data lies beyond the end of the file (truncated?)")
        return tensor

    def activation(self, index: int, op_index: int) -> int:
        if index not in self.ids:
            self.fail(f"operator {op_index} reads tensor {index}, which no earlier operator writes")
        return self.ids[index]

    def options(self, code: int, op: tflite.Operator):
        table = op.BuiltinOptions()
        if table is None:
            self.fail(f"{_OP_NAMES[code]} operator without its options")
        options = _OPTIONS[code]()
        options.Init(table.Bytes, table.Pos)
        return options

    def fused(self, options, i: int) -> str:
        act = options.FusedActivationFunction()
        if act not in _ACTIVATIONS:
            self.fail(f"operator {i} has an unsupported fused activation (type {act}); "
                      "supported: none, RELU, RELU6")
        return _ACTIVATIONS[act]

    def add_layer(self, i: int, code: int, op: tflite.Operator, ins: list[int], out: int) -> None:
        kind = _LAYER_OPS[code]
        out_shape = self.shape(self.sg.Tensors(out))
        name = f"{kind}_{len(self.layers)}"
        attrs: dict = {}
        if code in (OP.CONV_2D, OP.DEPTHWISE_CONV_2D, OP.FULLY_CONNECTED):
            weights = self.constant(ins[1]) if len(ins) > 1 else None
            if weights is None:
                self.fail(f"operator {i} ({_OP_NAMES[code]}) has no constant weights")
            self.weight_bytes = self.element_bytes(weights, "weight")
            wshape = tuple(int(d) for d in weights.ShapeAsNumpy())
            options = self.options(code, op)
            attrs = {"activation": self.fused(options, i), "weight_shape": wshape,
                     "bias": len(ins) > 2 and self.constant(ins[2]) is not None}
            if code != OP.FULLY_CONNECTED:
                if options.DilationHFactor() != 1 or options.DilationWFactor() != 1:
                    self.fail(f"operator {i} ({_OP_NAMES[code]}) uses dilation; not supported")
                if code == OP.DEPTHWISE_CONV_2D and wshape[-1] != self.shape(self.sg.Tensors(ins[0]))[-1]:
                    self.fail(f"operator {i} (DEPTHWISE_CONV_2D) has a depth multiplier other than 1")
                attrs.update(kernel=(wshape[1], wshape[2]), padding=_PADDINGS[options.Padding()],
                             stride=(options.StrideH(), options.StrideW()))
            sources = (self.activation(ins[0], i),)
        elif code in (OP.AVERAGE_POOL_2D, OP.MAX_POOL_2D):
            options = self.options(code, op)
            attrs = {"activation": self.fused(options, i), "padding": _PADDINGS[options.Padding()],
                     "kernel": (options.FilterHeight(), options.FilterWidth()),
                     "stride": (options.StrideH(), options.StrideW())}
            sources = (self.activation(ins[0], i),)
        elif code == OP.ADD:
            attrs = {"activation": self.fused(self.options(code, op), i)}
            if len(ins) != 2 or any(self.constant(t) is not None for t in ins):
                self.fail(f"operator {i} (ADD) must add two activation tensors")
            sources = tuple(self.activation(t, i) for t in ins)
        else:                                          # MEAN, RESHAPE, SOFTMAX: the data input only
            sources = (self.activation(ins[0], i),)
        self.layers.append(Layer(name, kind, sources, out_shape, **attrs))
        self.ids[out] = len(self.layers)
