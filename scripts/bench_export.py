"""The estimator against what an exported model really takes: on random architectures of both
search spaces, exported to int8 .tflite (random weights, calibrated on random inputs), the estimated
peak SRAM against TensorFlow Lite Micro's real arena (the smallest it accepts, bisected; TFLM's own
"used" report is printed next to it), and the estimated model flash against the file size. Prints
one row per architecture and the min / median / max of both ratios.

    PYTHONPATH=. python scripts/bench_export.py [--n 24] [--seed 0] [--mcu STM32F412]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from tinyml_cli.arch import build_graph, make_space, sample_buildable
from tinyml_cli.errors import TinymlError
from tinyml_cli.estimate import estimate
from tinyml_cli.export.quantize import FoldedModule, QuantizedModel, quantize
from tinyml_cli.export.tflite_writer import write_tflite
from tinyml_cli.export.verify import arena_upper_bound, quantize_input
from tinyml_cli.export.tflm_runner import required_arena, run_tflm
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.train.builder import build_module

# (space options, input shape, classes): small image and 1-D tasks of both spaces.
SPACES = [
    ({"name": "mbnet", "widths": [0.25, 0.35, 0.5], "head_channels": 64,
      "stages": [{"channels": 16, "depth": 1, "stride": 1, "expands": [1]},
                 {"channels": 24, "depth": 2, "stride": 2}, {"channels": 32, "depth": 2, "stride": 2}]},
     (32, 32, 3), 10),
    ({"name": "mbnet", "resolutions": [24, 32], "widths": [0.35, 0.5]}, (32, 32, 1), 4),
    ({"name": "plain", "max_layers": 5}, (1, 40, 1), 10),
    ({"name": "plain", "max_layers": 4, "channels": [8, 16, 32]}, (16, 16, 1), 10),
]


def sample_graphs(n: int, rng: np.random.Generator) -> list:
    spaces = [(make_space(options, shape, classes), shape) for options, shape, classes in SPACES]
    graphs = []
    while len(graphs) < n:
        space, _ = spaces[len(graphs) % len(spaces)]
        graphs += [build_graph(arch) for arch in sample_buildable(space, rng, 1)]
    return graphs


@torch.no_grad()
def random_module(graph, x: np.ndarray) -> torch.nn.Module:
    """A randomly initialised module whose batch-norm statistics are those of ``x``, so activations
    keep realistic ranges through depth (with the default statistics they vanish)."""
    module = build_module(graph)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # a plain average over the batches seen
    module.train()
    module(torch.from_numpy(x))
    return module.eval()


def random_quantized(graph, rng: np.random.Generator, inputs: int = 1) -> tuple[QuantizedModel, np.ndarray]:
    """A randomly initialised graph quantized to int8, and ``inputs`` int8 inputs for it."""
    x = rng.random((16, *graph.input_shape), dtype=np.float32)
    folded = FoldedModule.from_module(random_module(graph, x))
    q = quantize(folded, x)
    return q, quantize_input(x[:inputs], q.tensors[0])


def random_export(graph, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """A randomly initialised graph exported to int8 .tflite bytes, and one int8 input for it."""
    q, x = random_quantized(graph, rng)
    return write_tflite(q), x


def measure(graph, rng: np.random.Generator) -> tuple[int, int, int]:
    """(smallest TFLM arena, TFLM's reported arena use, file size) of one randomly initialised,
    exported graph."""
    model, x = random_export(graph, rng)
    result = run_tflm(model, x, arena_upper_bound(graph))
    return required_arena(model, result.arena_total), result.arena_total, len(model)


def _stats(values: list[float]) -> str:
    return f"min {min(values):.4f}  median {float(np.median(values)):.4f}  max {max(values):.4f}"


def bench_args(doc: str, mcu: str) -> tuple[argparse.Namespace, np.random.Generator]:
    """``--n`` architectures, ``--seed`` (torch and numpy seeded, one thread) and ``--mcu``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="architectures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mcu", default=mcu)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    return args, np.random.default_rng(args.seed)


def main() -> None:
    args, rng = bench_args(__doc__, "STM32F412")
    profile = load_profile(args.mcu)
    budget = budget_for(profile)
    sram_ratios, flash_ratios, failed = [], [], 0
    print(f"{'space':6} {'layers':>6} {'used':>7} {'arena':>7} {'est.SRAM':>9} {'ratio':>7} "
          f"{'file':>8} {'est.flash':>9} {'ratio':>7}")
    for graph in sample_graphs(args.n, rng):
        try:
            arena, used, size = measure(graph, rng)
        except TinymlError as exc:
            failed += 1
            print(f"{graph.name:6} {len(graph.layers):6d}  TFLM failed: {exc}")
            continue
        est = estimate(graph, profile, budget, build="host")
        sram_ratios.append(est.peak_sram / arena)
        flash_ratios.append(est.flash_model / size)
        print(f"{graph.name:6} {len(graph.layers):6d} {used:7d} {arena:7d} {est.peak_sram:9d} "
              f"{sram_ratios[-1]:7.4f} "
              f"{size:8d} {est.flash_model:9d} {flash_ratios[-1]:7.4f}")
    print(f"\n{len(sram_ratios)} architectures exported and run in TFLM ({failed} failed)")
    print(f"estimated peak SRAM / TFLM arena:   {_stats(sram_ratios)}")
    print(f"estimated model flash / file size:  {_stats(flash_ratios)}")


if __name__ == "__main__":
    main()
