"""The C engine's memory against TFLM's: on random architectures of both search spaces (those of
bench_export.py: randomly initialised, batch norm fitted to random inputs, int8), the engine's
static arena (and with the caller's input and output buffers) against TFLM's tensor plan (its
arena "head"), the smallest arena TFLM-host accepts, and the estimated TFLM + CMSIS-NN arena on a
32-bit Cortex-M. Each engine is compiled for the host and checked byte for byte against TFLM-host
on the model's inputs. Prints one row per architecture and the min / median / max of the ratios.

    PYTHONPATH=. python scripts/bench_engine.py [--n 24] [--seed 0] [--mcu STM32F746]
"""

from __future__ import annotations

import tempfile
from math import prod
from pathlib import Path

import numpy as np
from bench_export import _stats, bench_args, random_quantized, sample_graphs

from tinyml_cli.engine.codegen import generate
from tinyml_cli.engine.host import HostEngine
from tinyml_cli.estimate import estimate
from tinyml_cli.export.tflite_writer import write_tflite
from tinyml_cli.export.tflm_runner import required_arena, run_tflm
from tinyml_cli.export.verify import arena_upper_bound
from tinyml_cli.mcu import budget_for, load_profile

INPUTS = 8


def main() -> None:
    args, rng = bench_args(__doc__, "STM32F746")
    profile = load_profile(args.mcu)
    budget = budget_for(profile)
    ratios: dict[str, list[float]] = {"arena / TFLM head": [], "arena+io / TFLM head": [],
                                      "arena+io / TFLM-host smallest": [], "arena+io / TFLM MCU estimate": []}
    print(f"{'space':6} {'layers':>6} {'arena':>7} {'+io':>7} {'head':>7} {'host':>7} {'mcu est':>8} identical")
    for graph in sample_graphs(args.n, rng):
        q, x = random_quantized(graph, rng, INPUTS)
        lib, model = generate(q), write_tflite(q)
        tflm = run_tflm(model, x, arena_upper_bound(graph))
        with tempfile.TemporaryDirectory() as tmp:
            ours = HostEngine.build(lib, Path(tmp)).run(x)
        identical = bool(np.array_equal(ours, tflm.outputs.reshape(len(x), -1)))
        host = required_arena(model, tflm.arena_total)
        mcu = estimate(graph, profile, budget, build="mcu").peak_sram
        with_io = lib.arena_size + prod(graph.input_shape) + prod(graph.output_shape)
        for key, value in zip(ratios, (lib.arena_size / tflm.arena_head, with_io / tflm.arena_head,
                                       with_io / host, with_io / mcu)):
            ratios[key].append(value)
        print(f"{graph.name:6} {len(graph.layers):6d} {lib.arena_size:7d} {with_io:7d} {tflm.arena_head:7d} "
              f"{host:7d} {mcu:8d} {identical}")
    print(f"\n{len(ratios['arena / TFLM head'])} architectures")
    for key, values in ratios.items():
        print(f"{key:32} {_stats(values)}")


if __name__ == "__main__":
    main()
