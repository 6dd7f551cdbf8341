"""Benchmark: search backends at a comparable budget on MNIST-1D with a tight budget (16 KB SRAM,
64 KB flash on an STM32F412), printing best validation / test accuracy, int8 test accuracy, how many
fitting architectures each evaluated and how many per minute of wall time.

    PYTHONPATH=. python scripts/bench_search.py [--trials 24] [--top-k 2] [--out runs/bench-search]
    PYTHONPATH=. python scripts/bench_search.py --config configs/search/mnist1d_mbnet.yaml \
        --backends evolution,oneshot,differentiable --trials 40 --ws-trials 400 --storage journal [data.name=digits ...]

Each backend runs the search of --config (default configs/search/mnist1d_stm32f412.yaml; multi-trial
backends screen at fidelity.epochs, then the top-k are trained for train.epochs; the weight-sharing
backends score --ws-trials subnets with inherited weights, then fine-tune the top-k) into its own run
directory under --out. Extra ``key=value`` arguments override the config for every backend.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import optuna

from tinyml_cli.config import load_config
from tinyml_cli.console import Ui
from tinyml_cli.runs import create_run_dir, write_yaml
from tinyml_cli.search import SEARCH_SCHEMA, run_search
from tinyml_cli.search.study import open_storage

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "search" / "mnist1d_stm32f412.yaml"
OPTIONS = {"random": {}, "evolution": {"population": 8, "sample_size": 3},
           "bayesian": {"sampler": "tpe", "startup_trials": 8},
           "oneshot": {"supernet_epochs": 8, "population": 30, "sample_size": 5},
           "differentiable": {"epochs": 8, "warmup_epochs": 2}}
WEIGHT_SHARING = ("oneshot", "differentiable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", default="random,evolution,bayesian")
    parser.add_argument("--out", default=None, help="folder for the run directories (default: runs/)")
    parser.add_argument("--config", default=str(CONFIG), help="search config every backend runs")
    parser.add_argument("--storage", choices=("sqlite", "journal"), default="sqlite",
                        help="study storage: an SQLite database or a journal file (less overhead per trial)")
    parser.add_argument("--ws-trials", type=int, default=400, help="trials of the weight-sharing backends")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every backend")
    args = parser.parse_args()
    base = create_run_dir("bench", "search", args.out)
    results = []
    for backend in args.backends.split(","):
        trials = args.ws_trials if backend in WEIGHT_SHARING else args.trials
        cfg = load_config(args.config, SEARCH_SCHEMA, [*args.overrides, f"search.backend={backend}",
                                                       f"search.trials={trials}", f"search.top_k={args.top_k}",
                                                       f"seed={args.seed}", f"name=bench-{backend}"])
        cfg["search"]["options"] = OPTIONS[backend]
        run_dir = base / backend
        run_dir.mkdir()
        write_yaml(run_dir / "config.yaml", cfg)
        url = f"sqlite:///{(run_dir / 'study.db').resolve()}" if args.storage == "sqlite" else str(run_dir / "study.log")
        start, started = time.perf_counter(), time.time()
        summary = run_search(cfg, run_dir, url, 1, Ui(verbosity=-1))
        wall = time.perf_counter() - start
        study = optuna.load_study(study_name=summary["study"], storage=open_storage(url))
        searched = max(t.datetime_complete.timestamp() for t in study.trials if t.datetime_complete) - started
        rows = summary["leaderboard"]
        screen_best = max((r["screen_val_accuracy"] for r in rows), default=float("nan"))
        best = summary["best"] or {}
        n = summary["trials"]
        results.append((backend, screen_best, best.get("val_accuracy"), best.get("test_accuracy"),
                        best.get("int8_test_accuracy"), best.get("peak_sram"), best.get("flash"),
                        n["trained"], n["infeasible"], n["duplicate"], wall, searched))
        print(f"{backend}: done in {wall:.0f} s ({run_dir})", flush=True)

    cfg = load_config(args.config, SEARCH_SCHEMA, args.overrides)
    c = cfg["constraints"]
    print(f"\n{cfg['data']['name']} ({cfg['data']['samples'] or 'all'} samples), {cfg['mcu']}, budget "
          f"{c['sram'] // 1024} KB SRAM / {c['flash'] // 1024} KB flash, space {cfg['space'].get('name')}, "
          f"{args.trials} trials ({args.ws_trials} for weight sharing), top-{args.top_k} trained in full, "
          f"seed {args.seed}")
    # "search s": until the last trial (supernet training included), before the top-k are trained
    header = ("backend", "best screen val", "final val", "final test", "int8 test", "SRAM", "flash",
              "evaluated", "infeasible", "dupes", "search s", "wall s", "evaluated/min search", "evaluated/min wall")
    print(" | ".join(header))
    for r in results:
        pct = [f"{100 * v:.2f}%" if v is not None else "-" for v in r[1:5]]
        print(" | ".join([r[0], *pct, f"{r[5]} B", f"{r[6]} B", str(r[7]), str(r[8]), str(r[9]), f"{r[11]:.0f}",
                          f"{r[10]:.0f}", f"{60 * r[7] / r[11]:.1f}", f"{60 * r[7] / r[10]:.1f}"]))
    by_name = {r[0]: r for r in results}
    for name in WEIGHT_SHARING:
        if "evolution" in by_name and name in by_name:
            evo, ws = by_name["evolution"], by_name[name]
            speedup = (ws[7] / ws[11]) / max(evo[7] / evo[11], 1e-9)
            print(f"\n{name} vs evolution: {speedup:.1f}x fitting architectures per minute of search "
                  f"(target >= 10x: {'met' if speedup >= 10 else 'NOT met'}), best final test "
                  f"{100 * (ws[3] or 0):.2f}% vs {100 * (evo[3] or 0):.2f}% "
                  f"({'met' if (ws[3] or 0) >= (evo[3] or 0) else 'NOT met'}), wall {ws[10]:.0f} s vs {evo[10]:.0f} s")
    best = max(results, key=lambda r: r[2] or 0)
    print(f"\nbest model: {best[0]}, test accuracy {100 * (best[3] or 0):.2f}% "
          f"(target >= 95%: {'met' if (best[3] or 0) >= 0.95 else 'NOT met'}); "
          f"total wall time {sum(r[10] for r in results):.0f} s")


if __name__ == "__main__":
    main()
