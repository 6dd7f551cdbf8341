"""Benchmark: random, evolution and bayesian search at the same trial budget on MNIST-1D with a tight
budget (16 KB SRAM, 64 KB flash on an STM32F412), printing per backend the best and top-5 mean
screening validation accuracy (how well the search explores), the final validation / test / int8 test
accuracy of the best candidate, and the wall time.

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
        screen = sorted((r["screen_val_accuracy"] for r in summary["leaderboard"]), reverse=True)
        best, n = summary["best"] or {}, summary["trials"]
        results.append({"backend": backend, "best screen val": screen[0] if screen else None,
                        "top-5 screen val": sum(screen[:5]) / len(screen[:5]) if screen else None,
                        "final val": best.get("val_accuracy"), "final test": best.get("test_accuracy"),
                        "int8 test": best.get("int8_test_accuracy"), "SRAM": best.get("peak_sram"),
                        "flash": best.get("flash"), "trained": n["trained"], "infeasible": n["infeasible"],
                        "dupes": n["duplicate"], "wall s": wall})
        print(f"{backend}: done in {wall:.0f} s ({run_dir})", flush=True)

    print(f"\nMNIST-1D (10k samples), STM32F412, budget 16 KB SRAM / 64 KB flash, {args.trials} trials, "
          f"top-{args.top_k} trained in full, seed {args.seed}")
    print(" | ".join(results[0]))
    for r in results:
        print(" | ".join(_cell(key, value) for key, value in r.items()))
    best = max(results, key=lambda r: r["final val"] or 0)
    test = best["final test"] or 0
    print(f"\nbest model (by final validation accuracy): {best['backend']}, test accuracy {100 * test:.2f}% "
          f"(target >= 95%: {'met' if test >= 0.95 else 'NOT met'}); "
          f"total wall time {sum(r['wall s'] for r in results):.0f} s")


def _cell(key: str, value: object) -> str:
    if value is None:
        return "-"
    if key in ("SRAM", "flash"):
        return f"{value} B"
    if key == "wall s":
        return f"{value:.0f}"
    return f"{100 * value:.2f}%" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
