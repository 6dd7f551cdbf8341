"""Benchmark: ``autotinyml`` (learns feasibility from the estimator's verdicts, black box) against
``bayesian`` (Optuna TPE, told the budget constraints of every trial), on a tight MCU budget where
most random networks do not fit (configs/search/digits_tiny.yaml: 8x8 digits on an RP2040, 2 KB
SRAM, 8 KB flash), several seeds.

    PYTHONPATH=. python scripts/bench_autotinyml.py [--trials 24] [--seeds 0,1,2] [--out DIR] [key=value ...]

Both backends screen at ``fidelity.epochs`` (no top-k training, no reference classifiers). For
``autotinyml`` a rejected trial counts toward ``search.trials`` (as in the paper); for ``bayesian``
it does not, so it runs until --trials candidates are trained. Printed per seed and on average:

- at equal trials (the first --trials proposals of each study, rejected ones included): infeasible
  proposals, candidates trained and the best screening validation accuracy;
- ``bayesian`` at equal trained candidates (--trials trained, however many rejected on the way).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import optuna

from tinyml_cli.config import load_config
from tinyml_cli.console import Ui
from tinyml_cli.runs import create_run_dir, write_yaml
from tinyml_cli.search import SEARCH_SCHEMA, PreparedRun, run_search
from tinyml_cli.search.study import open_storage

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "search" / "digits_tiny.yaml"
OPTIONS = {"autotinyml": {"initial_trials": 10}, "bayesian": {"sampler": "tpe", "startup_trials": 10}}


def first_trials(study: optuna.Study, n: int) -> dict:
    """What the first ``n`` proposals of a study spent and reached."""
    trials = sorted((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.number)[:n]
    feasible = [t for t in trials if t.user_attrs.get("feasible")]
    return {"trials": len(trials), "infeasible": len(trials) - len(feasible),
            "trained": sum(t.user_attrs.get("status") == "trained" for t in trials),
            "best": max((t.values[0] for t in feasible), default=0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--out", default=None, help="folder for the run directories (default: runs/)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for both backends")
    args = parser.parse_args()
    base = create_run_dir("bench", "autotinyml", args.out)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for backend in ("autotinyml", "bayesian"):
            cfg = load_config(args.config, SEARCH_SCHEMA, [
                *args.overrides, f"search.backend={backend}", f"search.trials={args.trials}", "search.top_k=0",
                "search.baseline=false", f"seed={seed}", f"name=bench-{backend}-{seed}"])
            cfg["search"]["options"] = dict(OPTIONS[backend])
            run_dir = base / f"{backend}-{seed}"
            run_dir.mkdir()
            write_yaml(run_dir / "config.yaml", cfg)
            url = f"sqlite:///{(run_dir / 'study.db').resolve()}"
            start = time.perf_counter()
            summary = run_search(PreparedRun(cfg, run_dir, url), 1, Ui(verbosity=-1))
            wall = time.perf_counter() - start
            study = optuna.load_study(study_name=summary["study"], storage=open_storage(url))
            equal = first_trials(study, args.trials)
            full = first_trials(study, len(study.trials))
            rows.append({"seed": seed, "backend": backend, **equal, "all trials": full["trials"],
                         "best (all)": full["best"], "wall s": wall})
            print(f"seed {seed} {backend}: {equal['infeasible']} infeasible of the first {args.trials} trials, "
                  f"best screening val {100 * equal['best']:.2f}%; whole run {full['trials']} trials, "
                  f"best {100 * full['best']:.2f}%, {wall:.0f} s", flush=True)
    cfg = load_config(args.config, SEARCH_SCHEMA, args.overrides)
    c = cfg["constraints"]
    print(f"\n{cfg['data']['name']}, {cfg['mcu']}, {c['sram']} B SRAM / {c['flash']} B flash, "
          f"fidelity.epochs {cfg['fidelity']['epochs']}, {args.trials} trials, seeds {args.seeds}")
    print("backend | infeasible in first N | trained in first N | best val at N trials | "
          "trials to train N | best val at N trained | wall s")
    for backend in ("autotinyml", "bayesian"):
        mine = [r for r in rows if r["backend"] == backend]

        def stat(key: str, pct: bool = False) -> str:
            values = np.array([r[key] for r in mine], float) * (100 if pct else 1)
            return f"{values.mean():.1f} ± {values.std():.1f}" + ("%" if pct else "")

        at_trained = "-" if backend == "autotinyml" else stat("best (all)", True)
        to_train = "-" if backend == "autotinyml" else stat("all trials")
        print(f"{backend} | {stat('infeasible')} | {stat('trained')} | {stat('best', True)} | {to_train} | "
              f"{at_trained} | {stat('wall s')}")


if __name__ == "__main__":
    main()
