"""Benchmark: random, evolution and bayesian search at the same trial budget on MNIST-1D with a tight
budget (16 KB SRAM, 64 KB flash on an STM32F412), printing best validation / test accuracy, int8 test
accuracy and wall time per backend.

    PYTHONPATH=. python scripts/bench_search.py [--trials 24] [--top-k 2] [--out runs/bench-search]

Each backend runs the search of configs/search/mnist1d_stm32f412.yaml (screening at fidelity.epochs,
then the top-k trained for train.epochs) into its own run directory under --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tinyml_cli.config import load_config
from tinyml_cli.console import Ui
from tinyml_cli.runs import create_run_dir, write_yaml
from tinyml_cli.search import SEARCH_SCHEMA, run_search

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "search" / "mnist1d_stm32f412.yaml"
OPTIONS = {"random": {}, "evolution": {"population": 8, "sample_size": 3},
           "bayesian": {"sampler": "tpe", "startup_trials": 8}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", default="random,evolution,bayesian")
    parser.add_argument("--out", default=None, help="folder for the run directories (default: runs/)")
    args = parser.parse_args()
    base = create_run_dir("bench", "search", args.out)
    results = []
    for backend in args.backends.split(","):
        cfg = load_config(CONFIG, SEARCH_SCHEMA, [f"search.backend={backend}", f"search.trials={args.trials}",
                                                  f"search.top_k={args.top_k}", f"seed={args.seed}",
                                                  f"name=bench-{backend}"])
        cfg["search"]["options"] = OPTIONS[backend]
        run_dir = base / backend
        run_dir.mkdir()
        write_yaml(run_dir / "config.yaml", cfg)
        start = time.perf_counter()
        summary = run_search(cfg, run_dir, f"sqlite:///{(run_dir / 'study.db').resolve()}", 1, Ui(verbosity=-1))
        wall = time.perf_counter() - start
        rows = summary["leaderboard"]
        screen_best = max((r["screen_val_accuracy"] for r in rows), default=float("nan"))
        best = summary["best"] or {}
        n = summary["trials"]
        results.append((backend, screen_best, best.get("val_accuracy"), best.get("test_accuracy"),
                        best.get("int8_test_accuracy"), best.get("peak_sram"), best.get("flash"),
                        n["trained"], n["infeasible"], n["duplicate"], wall))
        print(f"{backend}: done in {wall:.0f} s ({run_dir})", flush=True)

    print(f"\nMNIST-1D (10k samples), STM32F412, budget 16 KB SRAM / 64 KB flash, {args.trials} trials, "
          f"top-{args.top_k} trained in full, seed {args.seed}")
    header = ("backend", "best screen val", "final val", "final test", "int8 test", "SRAM", "flash",
              "trained", "infeasible", "dupes", "wall s")
    print(" | ".join(header))
    for r in results:
        pct = [f"{100 * v:.2f}%" if v is not None else "-" for v in r[1:5]]
        print(" | ".join([r[0], *pct, f"{r[5]} B", f"{r[6]} B", str(r[7]), str(r[8]), str(r[9]), f"{r[10]:.0f}"]))
    best = max(results, key=lambda r: r[2] or 0)
    print(f"\nbest model: {best[0]}, test accuracy {100 * (best[3] or 0):.2f}% "
          f"(target >= 95%: {'met' if (best[3] or 0) >= 0.95 else 'NOT met'}); "
          f"total wall time {sum(r[10] for r in results):.0f} s")


if __name__ == "__main__":
    main()
