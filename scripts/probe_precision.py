"""Which (weights, activations) precisions the runtimes run, per layer with weights: writes a
one-layer model of each op and precision with the project's writer (random weights, int4 packed,
16x8 with int64 bias) and runs it in tflite-micro's interpreter (reference kernels) and in LiteRT.
Prints one row per op and precision; the op table's ``precisions`` (tinyml_cli/ops/base.py,
WEIGHTED_PRECISIONS) encode the TFLM column, and tests/test_precision.py holds them to it.

    PYTHONPATH=. python scripts/probe_precision.py
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from tflite_micro.python.tflite_micro import runtime

from tinyml_cli.arch.graph import GraphBuilder
from tinyml_cli.export.quantize import FoldedModule, quantize
from tinyml_cli.export.tflite_writer import write_tflite
from tinyml_cli.ops.precision import CODES, offered, weight_layers


def one_layer(op: str):
    b = GraphBuilder((6, 6, 4))
    if op == "conv2d":
        b.conv(b.input, 5, 3)
    elif op == "depthwise_conv2d":
        b.depthwise(b.input, 3)
    else:
        b.fully_connected(b.flatten(b.input), 5)
    return b.finish()


def model(op: str, pair: tuple[str, str], rng: np.random.Generator) -> bytes:
    graph = one_layer(op)
    layer = weight_layers(graph)[0]
    types = tuple(pair if i == layer else ("int8", pair[1]) for i in range(len(graph.layers)))
    graph = replace(graph, precision=types)
    w = graph.layers[layer]
    folded = FoldedModule(graph, {layer: (rng.normal(size=w.weight_shape), rng.normal(size=w.output_shape[-1]))})
    return write_tflite(quantize(folded, rng.normal(size=(8, *graph.input_shape)).astype(np.float32)))


def runs(data: bytes, litert: bool) -> str:
    try:
        if litert:
            it = Interpreter(model_content=data)
            it.allocate_tensors()
            it.invoke()
        else:
            runtime.Interpreter.from_bytes(data, arena_size=1 << 20).invoke()
        return "runs"
    except (RuntimeError, ValueError) as exc:
        return "rejected: " + (str(exc).splitlines() or [type(exc).__name__])[0][:50]


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'op':18} {'precision':9} {'TFLM':40} {'LiteRT':10} offered")
    for op in ("conv2d", "depthwise_conv2d", "fully_connected"):
        for code, pair in CODES.items():
            data = model(op, pair, rng)
            print(f"{op:18} {code:9} {runs(data, False):40} {runs(data, True):10} {code in offered(op)}")


if __name__ == "__main__":
    main()
