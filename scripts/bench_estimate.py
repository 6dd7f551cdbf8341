"""Throughput of the estimator: sampled `mbnet` architectures per second on one core
(build the LayerGraph + estimate), the figure a search's screening stage lives on.

    PYTHONPATH=. python scripts/bench_estimate.py [--n 2000] [--shape 96,96,3] [--mcu STM32F746]

The graph builder shares equal layers and blocks between graphs and the estimator memoizes each
layer's cost (a search builds the same few thousand blocks over and over), so the first pass, which
starts with empty memos, is reported as well as the best of the passes. CPU time is this process's
own, so it varies less than the wall clock when other jobs share the machine.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

from tinyml_cli.arch import build_graph, make_space, sample_buildable
from tinyml_cli.arch.graph import clear_layer_memo
from tinyml_cli.arch.mbnet import clear_block_memo
from tinyml_cli.estimate import estimate
from tinyml_cli.estimate.model import clear_cost_memo
from tinyml_cli.mcu import budget_for, load_profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="architectures to time")
    parser.add_argument("--shape", default="96,96,3", help="input H,W,C")
    parser.add_argument("--mcu", default="STM32F746")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many passes")
    args = parser.parse_args()
    shape = tuple(int(d) for d in args.shape.split(","))
    space = make_space({"name": "mbnet", "resolutions": [shape[1] // 2, shape[1]]}, shape, 10)
    profile = load_profile(args.mcu)
    budget = budget_for(profile)
    rng = np.random.default_rng(0)
    archs = sample_buildable(space, rng, args.n)
    layers = sum(len(build_graph(a).layers) for a in archs) / len(archs)
    clear_layer_memo()
    clear_block_memo()
    clear_cost_memo()

    def screen() -> None:                              # keeps nothing, as a search's screening
        for arch in archs:
            estimate(build_graph(arch), profile, budget)

    def build() -> None:
        for arch in archs:
            build_graph(arch)

    passes = [timed(screen) for _ in range(args.repeats)]
    builds = [timed(build) for _ in range(args.repeats)]
    (wall, cpu), first = min(passes), passes[0][0]
    estimate_wall = wall - min(builds)[0]
    fits = sum(estimate(build_graph(a), profile, budget).fits for a in archs)
    print(f"mbnet archs {shape}, {layers:.1f} layers on average, {args.mcu} ({fits}/{args.n} fit)")
    print(f"build_graph + estimate: {args.n / wall:,.0f} archs/s ({wall / args.n * 1e6:.0f} us each; "
          f"CPU time {args.n / cpu:,.0f}/s; first pass, memos empty: {args.n / first:,.0f}/s)")
    print(f"of which estimate:      {args.n / estimate_wall:,.0f} archs/s "
          f"({estimate_wall / args.n * 1e6:.0f} us each)")


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu

if __name__ == "__main__":
    main()
