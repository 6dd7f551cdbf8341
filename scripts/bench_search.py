"""Benchmark: search backends at a comparable budget on MNIST-1D with a tight budget (16 KB SRAM,
64 KB flash on an STM32F412), printing per backend the best and top-5 mean screening validation
accuracy (how well the search explores), the final validation / test / int8 test accuracy of the
best candidate, how many fitting architectures it evaluated, per minute of search and of wall time.

    PYTHONPATH=. python scripts/bench_search.py [--trials 24] [--top-k 2] [--out runs/bench-search]
    PYTHONPATH=. python scripts/bench_search.py --config configs/search/mnist1d_mbnet.yaml \\
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
from tinyml_cli.search import SEARCH_SCHEMA, PreparedRun, run_search
from tinyml_cli.search.study import open_storage

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "search" / "mnist1d_stm32f412.yaml"
OPTIONS = {"random": {}, "evolution": {"population": 8, "sample_size": 3},
           "bayesian": {"sampler": "tpe", "startup_trials": 8},
           "oneshot": {"population": 30, "sample_size": 5},
           "differentiable": {"warmup_epochs": 2}}     # their supernet epochs: --supernet-epochs
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
    parser.add_argument("--supernet-epochs", type=int, default=12,
                        help="supernet training epochs of the weight-sharing backends")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every backend")
    args = parser.parse_args()
    base = create_run_dir("bench", "search", args.out)
    results = []
    for backend in args.backends.split(","):
        trials = args.ws_trials if backend in WEIGHT_SHARING else args.trials
        cfg = load_config(args.config, SEARCH_SCHEMA, [*args.overrides, f"search.backend={backend}",
                                                       f"search.trials={trials}", f"search.top_k={args.top_k}",
                                                       f"seed={args.seed}", f"name=bench-{backend}"])
        cfg["search"]["options"] = dict(OPTIONS[backend])
        if backend in WEIGHT_SHARING:
            cfg["search"]["options"]["supernet_epochs" if backend == "oneshot" else "epochs"] = args.supernet_epochs
        run_dir = base / backend
        run_dir.mkdir()
        write_yaml(run_dir / "config.yaml", cfg)
        url = f"sqlite:///{(run_dir / 'study.db').resolve()}" if args.storage == "sqlite" else str(run_dir / "study.log")
        start, started = time.perf_counter(), time.time()
        summary = run_search(PreparedRun(cfg, run_dir, url), 1, Ui(verbosity=-1))
        wall = time.perf_counter() - start
        # search time: until the last trial (a supernet's training included), before the top-k are trained
        study = optuna.load_study(study_name=summary["study"], storage=open_storage(url))
        searched = max(t.datetime_complete.timestamp() for t in study.trials if t.datetime_complete) - started
        screen = sorted((r["screen_val_accuracy"] for r in summary["leaderboard"]), reverse=True)
        best, n = summary["best"] or {}, summary["trials"]
        results.append({"backend": backend, "best screen val": screen[0] if screen else None,
                        "top-5 screen val": sum(screen[:5]) / len(screen[:5]) if screen else None,
                        "final val": best.get("val_accuracy"), "final test": best.get("test_accuracy"),
                        "int8 test": best.get("int8_test_accuracy"), "SRAM": best.get("peak_sram"),
                        "flash": best.get("flash"), "evaluated": n["trained"] + n["scored"], "infeasible": n["infeasible"],
                        "dupes": n["duplicate"], "search s": searched, "wall s": wall,
                        "evaluated/min search": 60 * (n["trained"] + n["scored"]) / searched,
                        "evaluated/min wall": 60 * (n["trained"] + n["scored"]) / wall})
        print(f"{backend}: done in {wall:.0f} s ({run_dir})", flush=True)

    cfg = load_config(args.config, SEARCH_SCHEMA, args.overrides)
    c = cfg["constraints"]
    print(f"\n{cfg['data']['name']} ({cfg['data']['samples'] or 'all'} samples), {cfg['mcu']}, budget "
          f"{c['sram'] // 1024} KB SRAM / {c['flash'] // 1024} KB flash, space {cfg['space'].get('name')}, "
          f"{args.trials} trials ({args.ws_trials} for weight sharing), top-{args.top_k} trained in full, "
          f"seed {args.seed}")
    print(" | ".join(results[0]))
    for r in results:
        print(" | ".join(_cell(key, value) for key, value in r.items()))
    by_name = {r["backend"]: r for r in results}
    for name in WEIGHT_SHARING:
        if "evolution" in by_name and name in by_name:
            evo, ws = by_name["evolution"], by_name[name]
            speedup = ws["evaluated/min search"] / max(evo["evaluated/min search"], 1e-9)
            ws_test, evo_test = ws["final test"] or 0, evo["final test"] or 0
            print(f"\n{name} vs evolution: {speedup:.1f}x fitting architectures per minute of search "
                  f"(target >= 10x: {'met' if speedup >= 10 else 'NOT met'}), best final test "
                  f"{100 * ws_test:.2f}% vs {100 * evo_test:.2f}% ({'met' if ws_test >= evo_test else 'NOT met'}), "
                  f"wall {ws['wall s']:.0f} s vs {evo['wall s']:.0f} s")
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
    if key in ("search s", "wall s"):
        return f"{value:.0f}"
    if key.startswith("evaluated/min"):
        return f"{value:.1f}"
    return f"{100 * value:.2f}%" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
