"""Throughput of the estimator: sampled `mbnet` architectures per second on one core
(build the LayerGraph + estimate), the figure a search's screening stage lives on.

    PYTHONPATH=. python scripts/bench_estimate.py [--n 2000] [--shape 96,96,3] [--mcu STM32F746]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tinyml_cli.arch import build_graph, make_space
from tinyml_cli.errors import ArchError
from tinyml_cli.estimate import estimate
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
    archs = []
    while len(archs) < args.n:
        arch = space.sample(rng)
        try:
            build_graph(arch)
        except ArchError:
            continue
        archs.append(arch)
    layers = sum(len(build_graph(a).layers) for a in archs) / len(archs)
    best_total = best_build = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        for arch in archs:
            build_graph(arch)
        built = time.perf_counter()
        fits = sum(estimate(build_graph(arch), profile, budget).fits for arch in archs)
        done = time.perf_counter()
        best_build = min(best_build, built - start)
        best_total = min(best_total, done - built)
    best_estimate = best_total - best_build
    print(f"mbnet archs {shape}, {layers:.1f} layers on average, {args.mcu} ({fits}/{args.n} fit)")
    print(f"build_graph + estimate: {args.n / best_total:,.0f} archs/s "
          f"({best_total / args.n * 1e6:.0f} us each)")
    print(f"of which estimate:      {args.n / best_estimate:,.0f} archs/s "
          f"({best_estimate / args.n * 1e6:.0f} us each)")


if __name__ == "__main__":
    main()
