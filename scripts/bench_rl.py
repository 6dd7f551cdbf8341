"""Benchmark: the ``rl`` backend (architecture and per-layer precision searched jointly) against
``evolution`` at equal trials, and the mixed-precision Pareto front against the int8-only one, on
the built-in digits set under a tight budget (STM32F412, 6 KB flash for the model, 4 KB SRAM),
several seeds.

    PYTHONPATH=. python scripts/bench_rl.py [--seeds 0,1,2] [--trials 16] [--out runs/bench-rl]

Runs per seed: ``rl`` and ``evolution`` on the mixed space (precisions w8a8, w4a8, w8a16), and ``rl``
on the int8-only space, each ``--trials`` trained trials screened at 3 epochs, the best trained for
8. Printed:

- per backend, over seeds: the deployed (fake-quantized in its own precision) test accuracy of the
  final best candidate, mean ± sd, and the infeasible trials each spent;
- the Pareto fronts: for each flash (then SRAM) limit, the best deployed test accuracy of any
  screened candidate within it, pooled over seeds, from the mixed-precision ``rl`` runs and from the
  int8-only ones (``rl`` scores every screened candidate in its own precision).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tinyml_cli.config import validate
from tinyml_cli.runs import create_run_dir, write_yaml
from tinyml_cli.search import SEARCH_SCHEMA, PreparedRun, run_search

MIXED = ["w8a8", "w4a8", "w8a16"]


def config(backend: str, precisions: list[str], seed: int, trials: int) -> dict:
    options = {"evolution": {"population": 6, "sample_size": 3}, "rl": {"learning_rate": 0.5}}[backend]
    return {"name": f"bench-{backend}-{len(precisions)}-{seed}", "mcu": "STM32F412", "seed": seed,
            "data": {"name": "digits"},
            "space": {"name": "plain", "max_layers": 3, "channels": [4, 8, 16, 32], "kernels": [3],
                      "strides": [1, 2], "units": [16, 32], "max_dense": 1, "precisions": precisions},
            "constraints": {"flash": "6KB", "sram": "4KB"},
            "train": {"epochs": 8, "batch_size": 64, "threads": 1, "device": "cpu", "lr": 0.01},
            "fidelity": {"epochs": 3},
            "search": {"backend": backend, "trials": trials, "top_k": 1, "cv_folds": 0, "baseline": False,
                       "options": options}}


def run(base: Path, backend: str, precisions: list[str], seed: int, trials: int) -> dict:
    cfg = validate(config(backend, precisions, seed, trials), SEARCH_SCHEMA, "bench_rl")
    run_dir = base / cfg["name"]
    run_dir.mkdir(parents=True)
    write_yaml(run_dir / "config.yaml", cfg)
    return run_search(PreparedRun(cfg, run_dir, f"sqlite:///{run_dir / 'study.db'}"), argv=["bench_rl"])


def best_within(rows: list[dict], cost: str, limit: int) -> float | None:
    fitting = [r["test_accuracy"] for r in rows if r[cost] <= limit and r["test_accuracy"] is not None]
    return max(fitting) if fitting else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    base = create_run_dir("bench", "rl", args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = {"rl mixed": ("rl", MIXED), "evolution mixed": ("evolution", MIXED), "rl int8": ("rl", ["w8a8"])}
    finals: dict[str, list[float]] = {name: [] for name in runs}
    infeasible: dict[str, list[int]] = {name: [] for name in runs}
    screened: dict[str, list[dict]] = {name: [] for name in runs}
    start = time.time()
    for seed in seeds:
        for name, (backend, precisions) in runs.items():
            summary = run(base, backend, precisions, seed, args.trials)
            rows = summary["leaderboard"]
            finals[name].append(next(r["int8_test_accuracy"] for r in rows if r["stage"] == "final"))
            infeasible[name].append(summary["trials"]["infeasible"])
            screened[name] += [r for r in rows if r["stage"] == "screen"]
    print(f"digits, STM32F412 under 6 KB flash / 4 KB SRAM, {args.trials} trained trials, seeds {args.seeds}, "
          f"{time.time() - start:.0f} s")
    print(f"{'run':16} {'final deployed test acc':>24} {'infeasible trials':>18}")
    for name in runs:
        acc = np.array(finals[name])
        print(f"{name:16} {100 * acc.mean():17.1f} ± {100 * acc.std():4.1f} {np.mean(infeasible[name]):18.1f}")
    for cost, limits in (("flash", (3000, 4000, 5000, 6144)), ("peak_sram", (2000, 2500, 3000, 4096))):
        print(f"\nbest deployed test accuracy of a screened candidate within a {cost} limit (pooled over seeds)")
        print(f"{cost + ' <=':14} {'rl mixed':>10} {'rl int8':>10}")
        for limit in limits:
            cells = [best_within(screened[name], cost, limit) for name in ("rl mixed", "rl int8")]
            print(f"{limit:14d} " + " ".join(f"{'-' if c is None else f'{100 * c:.1f}':>10}" for c in cells))


if __name__ == "__main__":
    main()
