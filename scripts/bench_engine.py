"""The C engine's memory against TFLM's: on random architectures of both search spaces (those of
bench_export.py: randomly initialised, batch norm fitted to random inputs, int8), the engine's
static arena (which holds the input; and with the caller's output buffer) against TFLM's tensor plan (its
arena "head"), the smallest arena TFLM-host accepts, and the estimated TFLM + CMSIS-NN arena on a
32-bit Cortex-M. Each engine is compiled for the host and checked byte for byte against TFLM-host
on the model's inputs. Prints one row per architecture and the min / median / max of the ratios.

With ``--cortex-m``, then on the emulated Cortex-M4 (mps2-an386) and M7 (mps2-an500), the first
``--profiled`` of those architectures and MCUNet's MobileNetV2 w0.35 r144 (head 448 channels, 1000
classes; random weights quantized through the real exporter), each built both ways (``tinyml
profile``: TFLM + CMSIS-NN, and ``tinyml profile --runtime c``; the engine's outputs on the
emulated core must equal TFLM-host's and its host build's): peak SRAM (engine: static arena, the
input in it, + output buffer + the inference's stack; TFLM: the smallest arena it accepts + the
stack), flash (text + rodata + data of the firmware as arm-none-eabi-size lists it, less the
embedded test inputs; the same runner, C library and startup code on both sides) and
instructions per inference. Prints a table and the medians of the engine / TFLM ratios.

    PYTHONPATH=. python scripts/bench_engine.py [--n 24] [--seed 0] [--mcu STM32F746]
    PYTHONPATH=. python scripts/bench_engine.py --cortex-m [--profiled 24]

``--memory`` (see :func:`memory_main`): MCUNet's MobileNetV2 w0.35 r144 (head 448, 1000 classes)
under the engine, layer by layer and patch by patch, against TFLM on the same model.
"""

from __future__ import annotations

import sys
import tempfile
from math import prod
from pathlib import Path

import numpy as np
import torch
from bench_export import _stats, bench_args, random_quantized, sample_graphs

from tinyml_cli.arch import build_graph
from tinyml_cli.arch.arch import Arch
from tinyml_cli.arch.mbnet import mobilenet_v2
from tinyml_cli.engine.codegen import generate
from tinyml_cli.engine.export import export_engine
from tinyml_cli.engine.host import HostEngine
from tinyml_cli.errors import TinymlError
from tinyml_cli.estimate import estimate
from tinyml_cli.export.tflite_writer import write_tflite
from tinyml_cli.export.tflm_runner import required_arena, run_tflm
from tinyml_cli.export.verify import arena_upper_bound
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.profile.engine import profile_engine_target
from tinyml_cli.profile.target import profile_target

INPUTS = 8
CORES = {"M4": "STM32F412", "M7": "STM32F746"}    # MCUs whose cores QEMU emulates
EMULATED_SAMPLES = 2
TINYENGINE = {"sram": 308 * 1024, "flash": 862 * 1024}   # MCUNet's published mbv2-w0.35-r144 figures
MOBILENET_SEEDS = 8


def host_table(args, rng) -> list:
    """The host comparison (the engine's arena against TFLM's); the graphs, for --cortex-m."""
    profile = load_profile(args.mcu)
    budget = budget_for(profile)
    ratios: dict[str, list[float]] = {"arena / TFLM head": [], "arena+io / TFLM head": [],
                                      "arena+io / TFLM-host smallest": [], "arena+io / TFLM MCU estimate": []}
    print(f"{'space':6} {'layers':>6} {'arena':>7} {'+io':>7} {'head':>7} {'host':>7} {'mcu est':>8} identical")
    graphs = []
    for graph in sample_graphs(args.n, rng):
        q, x = random_quantized(graph, rng, INPUTS)
        graphs.append((graph, q, x))
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
    return graphs


def export_folder(q, x: np.ndarray, folder: Path) -> Path:
    """What ``tinyml export --runtime c`` leaves: model.tflite, test_samples.npz and engine/."""
    model = write_tflite(q)
    folder.mkdir(parents=True)
    (folder / "model.tflite").write_bytes(model)
    np.savez(folder / "test_samples.npz", x=x, y=np.zeros(len(x), np.int64))
    export_engine(q, model, x, folder)
    return folder


def mobilenet(seed: int):
    """MCUNet's mbv2-w0.35-r144: this project's MobileNetV2 at width 0.35, resolution 144, head 448,
    1000 classes, random weights quantized; the first seed from ``seed`` whose .tflite TFLM-host runs
    (some random draws give a file LiteRT and TFLM abort on) and the seeds skipped."""
    base = mobilenet_v2(0.35, 144, 1000)
    graph = build_graph(Arch(base.space, base.input_shape, base.num_classes, {**base.choices, "head_channels": 448}))
    skipped = []
    for s in range(seed, seed + MOBILENET_SEEDS):
        torch.manual_seed(s)
        q, x = random_quantized(graph, np.random.default_rng(s), EMULATED_SAMPLES)
        try:
            run_tflm(write_tflite(q), x[:1], arena_upper_bound(graph))
        except TinymlError:
            skipped.append(s)
            continue
        return q, x, s, skipped
    raise SystemExit(f"no seed in {seed}..{seed + MOBILENET_SEEDS - 1} gives a MobileNetV2 TFLM runs")


def emulated(folder: Path, core: str) -> dict:
    """SRAM, flash and instructions of the engine and of TFLM + CMSIS-NN on one emulated core."""
    profile = load_profile(CORES[core])
    tflm, _ = profile_target(folder, profile, "cmsis_nn", None, EMULATED_SAMPLES, 0, 1800.0,
                             folder / f"tflm-{core}.json")
    ours, _ = profile_engine_target(folder, profile, None, EMULATED_SAMPLES, 0, 1800.0, folder / f"c-{core}.json")
    flash = {name: r["sizes"]["flash_total"] - r["sizes"]["flash"]["inputs"] for name, r in (("c", ours), ("tflm", tflm))}
    return {"sram": ours["sram_peak"], "tflm_sram": tflm["arena_min"] + tflm["stack_bytes"],
            "flash": flash["c"], "tflm_flash": flash["tflm"], "insn": ours["instructions"],
            "tflm_insn": tflm["instructions"]}


def cortex_m_table(models: list[tuple[str, object, np.ndarray]], root: Path) -> None:
    print(f"\n{'model':14} {'core':4} {'SRAM':>8} {'TFLM':>8} {'ratio':>6} {'flash':>8} {'TFLM':>8} {'ratio':>6} "
          f"{'instructions':>12} {'TFLM':>12} {'ratio':>6}")
    ratios: dict[str, dict[str, list[float]]] = {core: {"sram": [], "flash": [], "insn": []} for core in CORES}
    for name, q, x in models:
        folder = export_folder(q, x, root / name)
        for core in CORES:
            m = emulated(folder, core)
            print(f"{name:14} {core:4} {m['sram']:8d} {m['tflm_sram']:8d} {m['sram'] / m['tflm_sram']:6.3f} "
                  f"{m['flash']:8d} {m['tflm_flash']:8d} {m['flash'] / m['tflm_flash']:6.3f} {m['insn']:12d} "
                  f"{m['tflm_insn']:12d} {m['insn'] / m['tflm_insn']:6.3f}", flush=True)
            if name.startswith("mbv2"):
                print(f"{'':14} {core:4} MobileNetV2 targets (TinyEngine): SRAM {m['sram'] / 1024:.1f} KiB "
                      f"(<= 308: {m['sram'] <= TINYENGINE['sram']}), flash {m['flash'] / 1024:.1f} KiB "
                      f"(<= 862: {m['flash'] <= TINYENGINE['flash']}), instructions <= TFLM's: "
                      f"{m['insn'] <= m['tflm_insn']}")
            else:
                for key in ("sram", "flash", "insn"):
                    ratios[core][key].append(m[key] / m[f"tflm_{key}"])
    for core, values in ratios.items():
        if values["sram"]:
            print(f"{core} random set ({len(values['sram'])}), engine / TFLM + CMSIS-NN medians: SRAM "
                  f"{np.median(values['sram']):.3f}, flash {np.median(values['flash']):.3f}, instructions "
                  f"{np.median(values['insn']):.3f} (max {max(values['insn']):.3f})")


def main() -> None:
    cortex_m = "--cortex-m" in sys.argv
    profiled = 24
    if "--profiled" in sys.argv:
        profiled = int(sys.argv[sys.argv.index("--profiled") + 1])
        del sys.argv[sys.argv.index("--profiled"):sys.argv.index("--profiled") + 2]
    if cortex_m:
        sys.argv.remove("--cortex-m")
    args, rng = bench_args(__doc__, "STM32F746")
    graphs = host_table(args, rng)
    if not cortex_m:
        return
    q, x, seed, skipped = mobilenet(args.seed)
    print(f"\nMobileNetV2 w0.35 r144 (head 448, 1000 classes): seed {seed}"
          + (f" (seeds {skipped} skipped: TFLM-host aborts on their random .tflite)" if skipped else ""))
    models = [("mbv2-w0.35-r144", q, x)]
    models += [(f"{graph.name}-{i}", gq, gx[:EMULATED_SAMPLES]) for i, (graph, gq, gx) in enumerate(graphs[:profiled])]
    with tempfile.TemporaryDirectory(prefix="tinyml-bench-engine-") as tmp:
        cortex_m_table(models, Path(tmp))


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
