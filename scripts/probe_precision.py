"""Which (weights, activations) precisions the runtimes run, per layer with weights: writes a
one-layer model of each op and precision with the project's writer (random weights, int4 packed,
16x8 with int64 bias) and runs it in tflite-micro's interpreter (reference kernels) and in LiteRT.
Prints one row per op and precision; the op table's ``precisions`` (tinyml_cli/ops/base.py,
WEIGHTED_PRECISIONS) encode the TFLM column, and tests/test_precision.py holds them to it. Then,
for one network (the plain space, 32x32x3, random weights) in each uniform precision: the
estimated flash and arena against the written file's size and the arena TFLM plans (host build).

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
    costs(rng)


def costs(rng: np.random.Generator) -> None:
    import re
    import subprocess
    import sys
    import tempfile

    from tinyml_cli.arch import Arch, build_graph
    from tinyml_cli.estimate import estimate
    from tinyml_cli.mcu import budget_for, load_profile
    from tinyml_cli.ops.precision import apply_precision

    profile = load_profile("STM32F746")
    arch = Arch("plain", (32, 32, 3), 10, {"layers": [
        {"type": "conv", "channels": 16, "kernel": 3, "stride": 2},
        {"type": "dwsep", "channels": 32, "kernel": 3, "stride": 2},
        {"type": "dwsep", "channels": 64, "kernel": 3, "stride": 2}], "reduce": "avg", "dense": [64]})
    graph = build_graph(arch)
    print(f"\n{'precision':9} {'est. flash':>10} {'file':>8} {'est. arena':>10} {'TFLM arena':>10}")
    for code in ("w8a8", "w4a8", "w8a16"):
        g = apply_precision(graph, [code] * len(weight_layers(graph)))
        layers = {i: (rng.normal(size=layer.weight_shape) * 0.3, rng.normal(size=layer.output_shape[-1]) * 0.1)
                  for i, layer in enumerate(g.layers) if layer.weight_shape}
        data = write_tflite(quantize(FoldedModule(g, layers), rng.normal(size=(8, 32, 32, 3)).astype(np.float32)))
        est = estimate(g, profile, budget_for(profile), build="host")
        code_run = ("from tflite_micro.python.tflite_micro import runtime; import sys; "
                    "runtime.Interpreter.from_bytes(open(sys.argv[1], 'rb').read(), arena_size=1 << 22).print_allocations()")
        with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
            f.write(data)
            f.flush()
            log = subprocess.run([sys.executable, "-c", code_run, f.name], capture_output=True, text=True).stderr
        head = int(re.search(r"allocation head (\d+) bytes", log).group(1))
        print(f"{code:9} {est.flash_model:10d} {len(data):8d} {est.arena_planned:10d} {head:10d}")


if __name__ == "__main__":
    main()
