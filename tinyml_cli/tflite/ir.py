"""A .tflite file read back into the layer-graph IR, when every operator is one the IR has (the
files ``tinyml export`` writes, and converter-made networks of the same ops).

CONV_2D, DEPTHWISE_CONV_2D (depth multiplier 1, no dilation), FULLY_CONNECTED, ADD,
AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, RESHAPE and SOFTMAX map to IR layers with their fused
activations (none, RELU, RELU6); QUANTIZE and DEQUANTIZE are accepted at the model's ends (the IR
starts and ends at the quantized tensors; ``GraphFile.io_bytes`` keeps the element sizes of the
model's own input and output), and an input normalization front (arch/normalization.py) reads back
as the graph's ``normalize``. Anything else is a one-line InputFileError. ``tinyml estimate`` does
not need this: it plans any file from its own tensors (estimate/file.py).

>>> import tflite_micro, pathlib
>>> model = load_graph(pathlib.Path(tflite_micro.__file__).parent / "python/tflite_micro/sine_float.tflite")
>>> [layer.op for layer in model.graph.layers], model.activation_bytes, model.io_bytes
(['fully_connected', 'fully_connected', 'fully_connected'], 4, (4, 4))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from ..arch.graph import Layer, LayerGraph, Shape
from ..arch.normalization import NORMALIZATIONS, RAW, front_ops
from ..errors import InputFileError
from ..ops import LAYER_BY_BUILTIN
from ..ops.base import ACTIVATION_CODES
from .model import ITEM_BYTES, Operator, Subgraph, Tensor, read_model

_ACTIVATIONS = {code: name for name, code in ACTIVATION_CODES.items()}
_IO_TYPES = ("float32", "int8", "uint8", "int16")


@dataclass(frozen=True)
class GraphFile:
    """A .tflite file as the IR sees it: the graph, element sizes and the real file size."""

    graph: LayerGraph
    activation_bytes: int
    weight_bytes: int
    file_bytes: int
    io_bytes: tuple[int, int]          # element sizes of the model's own input and output tensors


def read_graph(path: str | Path) -> LayerGraph:
    """The LayerGraph of a .tflite file."""
    return load_graph(path).graph


def load_graph(path: str | Path) -> GraphFile:
    """Read a .tflite file into the IR; a file that is not readable or not expressible in the IR is
    an InputFileError naming the file and the reason."""
    model = read_model(path)
    return _Reader(Path(path), model.subgraphs[0]).graph(model.size)


class _Reader:
    """One pass over the first subgraph's operators, in execution order."""

    def __init__(self, path: Path, subgraph: Subgraph) -> None:
        self.path, self.sg = path, subgraph
        self.ids: dict[int, int] = {}                  # TFLite tensor index -> IR tensor id
        self.layers: list[Layer] = []
        self.weight_bytes = 1

    def fail(self, what: str) -> NoReturn:
        raise InputFileError(f"{self.path}: {what}")

    def graph(self, file_bytes: int) -> GraphFile:
        sg = self.sg
        if len(sg.inputs) != 1 or len(sg.outputs) != 1:
            self.fail(f"{len(sg.inputs)} inputs and {len(sg.outputs)} outputs; the IR holds single-input, "
                      "single-output models")
        input_index, output_index = sg.inputs[0], sg.outputs[0]
        self.ids[input_index] = 0
        io_bytes = (self.element_bytes(sg.tensors[input_index], "input"),
                    self.element_bytes(sg.tensors[output_index], "output"))
        ops = sg.operators
        if not ops:
            self.fail("the model has no operators")
        normalize, start = self.front(input_index)
        if start:
            input_index = ops[start - 1].outputs[0]
            self.ids = {input_index: 0}
        for op in ops[start:]:
            ins = [t for t in op.inputs if t >= 0]
            if len(op.outputs) != 1:
                self.fail(f"operator {op.index} ({op.builtin}) has {len(op.outputs)} outputs")
            if op.builtin in ("QUANTIZE", "DEQUANTIZE"):
                at_start = op.index == 0 and ins[0] == input_index
                at_end = op.index == len(ops) - 1 and op.outputs[0] == output_index
                if not (at_start or at_end):
                    self.fail(f"operator {op.index} ({op.builtin}) inside the model; the IR has QUANTIZE "
                              "and DEQUANTIZE only at the input and output")
                if at_start:
                    self.ids = {op.outputs[0]: 0}
                    input_index = op.outputs[0]
                else:
                    output_index = ins[0]
                continue
            if op.builtin not in LAYER_BY_BUILTIN:
                self.fail(f"operator {op.builtin} (operator {op.index}) is not an IR layer; the IR has "
                          f"{', '.join(LAYER_BY_BUILTIN)}, QUANTIZE and DEQUANTIZE at the ends")
            self.add_layer(op, ins)
        if not self.layers:
            self.fail("the model has no layers besides QUANTIZE and DEQUANTIZE")
        if output_index not in self.ids or self.ids[output_index] != len(self.layers):
            self.fail("the model output is not the last operator's output")
        input_tensor = sg.tensors[input_index]
        graph = LayerGraph(self.shape(input_tensor), tuple(self.layers), self.path.stem, normalize)
        return GraphFile(graph, self.element_bytes(input_tensor, "input"), self.weight_bytes, file_bytes, io_bytes)

    def front(self, input_index: int) -> tuple[str, int]:
        """The input normalization whose float front the model starts with, and the index of the
        first operator after it (0: none)."""
        for mode in NORMALIZATIONS[1:]:
            expected_ops = front_ops(mode)
            if len(self.sg.operators) <= len(expected_ops):
                continue
            tensors = {RAW: input_index}
            for op, expected in zip(self.sg.operators, expected_ops):
                if (op.builtin != expected.op or len(op.inputs) != len(expected.inputs)
                        or any(tensors.get(name, t) != t for name, t in zip(expected.inputs, op.inputs))):
                    break
                tensors.update(zip(expected.inputs, op.inputs))
                tensors[expected.output] = op.outputs[0]
            else:
                return mode, len(expected_ops)
        return "none", 0

    def shape(self, tensor: Tensor) -> Shape:
        """IR shape: the batch dimension dropped, (H, W, C) or (N,)."""
        dims = list(tensor.shape)
        if len(dims) in (2, 4) and dims[0] == 1:
            dims = dims[1:]
        if not dims or any(d <= 0 for d in dims):
            self.fail(f"tensor {tensor.name!r} has shape {list(tensor.shape)}; expected [1, H, W, C] or "
                      "[1, N] with positive sizes")
        return tuple(dims)

    def element_bytes(self, tensor: Tensor, what: str) -> int:
        if tensor.dtype not in _IO_TYPES:
            self.fail(f"{what} tensor {tensor.name!r} has unsupported type {tensor.dtype}; expected "
                      "float32, int8, uint8 or int16")
        return ITEM_BYTES[tensor.dtype]

    def activation(self, index: int, op: Operator) -> int:
        if index not in self.ids:
            self.fail(f"operator {op.index} reads tensor {index}, which no earlier operator writes")
        return self.ids[index]

    def fused(self, op: Operator) -> str:
        act = op.options.get("FusedActivationFunction", 0)
        if act not in _ACTIVATIONS:
            self.fail(f"operator {op.index} has an unsupported fused activation (type {act}); "
                      "supported: none, RELU, RELU6")
        return _ACTIVATIONS[act]

    def add_layer(self, op: Operator, ins: list[int]) -> None:
        layer_op = LAYER_BY_BUILTIN[op.builtin]
        tensors = self.sg.tensors
        out_shape = self.shape(tensors[op.outputs[0]])
        attrs: dict = {"activation": self.fused(op)} if layer_op.fuses_activation else {}
        weights = None
        if layer_op.weight_axis is not None:
            weights = tensors[ins[1]] if len(ins) > 1 else None
            if weights is None or not weights.constant:
                self.fail(f"operator {op.index} ({op.builtin}) has no constant weights")
            self.weight_bytes = self.element_bytes(weights, "weight")
            attrs.update(weight_shape=weights.shape, bias=len(ins) > 2 and tensors[ins[2]].constant)
            sources: tuple[int, ...] = (self.activation(ins[0], op),)
        else:
            activations = [t for t in ins if not tensors[t].constant]
            if len(activations) != layer_op.activations:
                self.fail(f"operator {op.index} ({op.builtin}) reads {len(activations)} activation tensor(s); "
                          f"the IR's {layer_op.ir} reads {layer_op.activations}")
            sources = tuple(self.activation(t, op) for t in activations)
        try:
            attrs.update(layer_op.read(op.options, weights, tensors[ins[0]].shape))
        except ValueError as exc:
            self.fail(f"operator {op.index} ({op.builtin}) {exc}")
        self.layers.append(Layer(f"{layer_op.ir}_{len(self.layers)}", layer_op.ir, sources, out_shape, **attrs))
        self.ids[op.outputs[0]] = len(self.layers)
