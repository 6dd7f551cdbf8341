"""The C engine's memory against TFLM's: on random architectures of both search spaces (those of
bench_export.py: randomly initialised, batch norm fitted to random inputs, int8), the engine's
static arena (which holds the input; and with the caller's output buffer) against TFLM's tensor plan (its
arena "head"), the smallest arena TFLM-host accepts, and the estimated TFLM + CMSIS-NN arena on a
32-bit Cortex-M. Each engine is compiled for the host and checked byte for byte against TFLM-host
on the model's inputs. Prints one row per architecture and the min / median / max of the ratios.

    PYTHONPATH=. python scripts/bench_engine.py [--n 24] [--seed 0] [--mcu STM32F746]

``--memory`` (see :func:`memory_main`): MCUNet's MobileNetV2 w0.35 r144 (head 448, 1000 classes)
under the engine, layer by layer and patch by patch, against TFLM on the same model.
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
        with_io = lib.arena_size + prod(graph.output_shape)         # the input lives in the arena
        for key, value in zip(ratios, (lib.arena_size / tflm.arena_head, with_io / tflm.arena_head,
                                       with_io / host, with_io / mcu)):
            ratios[key].append(value)
        print(f"{graph.name:6} {len(graph.layers):6d} {lib.arena_size:7d} {with_io:7d} {tflm.arena_head:7d} "
              f"{host:7d} {mcu:8d} {identical}")
    print(f"\n{len(ratios['arena / TFLM head'])} architectures")
    for key, values in ratios.items():
        print(f"{key:32} {_stats(values)}")


# --- --memory: MobileNetV2 w0.35 r144, the engine's memory -----------------------------------------
TFLM_HOST_ARENA = 8 << 20          # room for TFLM-host to plan MobileNetV2 r144 in
MBV2_TARGETS = {"TinyEngine SRAM": 308 * 1024, "TinyEngine flash": 862 * 1024, "patch-based SRAM": 200 * 1024}


def mbv2_w035_r144():
    """MCUNet's mbv2-w0.35 network: this project's mbnet space at width 0.35, resolution 144, head
    448 channels, 1000 classes."""
    from tinyml_cli.arch import Arch, build_graph
    from tinyml_cli.arch.mbnet import mobilenet_v2

    arch = mobilenet_v2(0.35, 144, 1000)
    return build_graph(Arch(arch.space, arch.input_shape, arch.num_classes, {**arch.choices, "head_channels": 448}))


def memory_main() -> None:
    """MobileNetV2 w0.35 r144: the engine's peak SRAM (arena with the input, plus the output
    buffer) and flash (arm-none-eabi-size of the library linked for the MCU's core: text + data)
    layer by layer and over 2x2 .. 4x4 patches (the best split), the estimator's figures beside
    them, and TFLM's estimated arena and flash (model file + runtime) on the same MCU; each engine
    checked byte for byte against TFLM-host on two inputs."""
    import argparse
    import sys
    import time

    from tinyml_cli.engine.size import library_size
    from tinyml_cli.estimate.engine import clear_engine_memo

    parser = argparse.ArgumentParser(description=memory_main.__doc__.splitlines()[0])
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mcu", default="STM32F746")
    parser.add_argument("--patches", default="2,3,4")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    profile = load_profile(args.mcu)
    budget = budget_for(profile)
    graph = mbv2_w035_r144()
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from random_models import export_random     # random weights in TFLite layouts, no torch module

    q, model = export_random(graph, rng)
    x = rng.integers(-128, 128, (2, *graph.input_shape), dtype=np.int8)
    tflm_est = estimate(graph, profile, budget, build="mcu")
    start = time.perf_counter()
    tflm = run_tflm(model, x, TFLM_HOST_ARENA)
    expected = tflm.outputs.reshape(len(x), -1)
    print(f"MobileNetV2 w0.35 r144 (head 448, 1000 classes): {tflm_est.macs / 1e6:.1f}M MACs, "
          f"{tflm_est.params / 1e6:.2f}M parameters, on {profile.name} ({profile.core_family})")
    print(f"TFLM + CMSIS-NN (estimate): arena {tflm_est.peak_sram / 1024:.1f} KiB, model file {len(model) / 1024:.1f} KiB, "
          f"flash with the runtime {tflm_est.flash_total / 1024:.1f} KiB; TFLM-host arena head "
          f"{tflm.arena_head / 1024:.1f} KiB ({time.perf_counter() - start:.1f} s for {len(x)} inputs)")
    print(f"\n{'engine':22} {'split':>14} {'arena':>10} {'peak SRAM':>10} {'estimate':>10} {'flash':>10} "
          f"{'estimate':>10} {'est. ms':>8} identical")
    for patches in [0, *map(int, args.patches.split(","))]:
        lib = generate(q, patches)
        clear_engine_memo()
        start = time.perf_counter()
        est = estimate(graph, profile, budget, runtime="c", patches=patches)
        est_ms = (time.perf_counter() - start) * 1000
        with tempfile.TemporaryDirectory() as tmp:
            size = library_size(lib, profile.core_family, Path(tmp) / "arm")
            identical = bool(np.array_equal(HostEngine.build(lib, Path(tmp) / "host").run(x), expected))
        peak = lib.arena_size + prod(graph.output_shape)
        label = "layer by layer" if patches < 2 else f"{patches}x{patches} patches"
        split = graph.layers[lib.patched.split].name if patches >= 2 else "-"
        print(f"{label:22} {split:>14} {lib.arena_size / 1024:9.1f}K {peak / 1024:9.1f}K {est.peak_sram / 1024:9.1f}K "
              f"{size.flash / 1024:9.1f}K {est.flash_total / 1024:9.1f}K {est_ms:8.0f} {identical}")
    print("\ntargets: " + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in MBV2_TARGETS.items()))


if __name__ == "__main__":
    import sys

    memory_main() if "--memory" in sys.argv else main()
