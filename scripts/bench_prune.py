"""At equal MACs, is a pruned large candidate better or worse than a searched small one?

    PYTHONPATH=. python scripts/bench_prune.py [--seeds 0 1 2] [--trials 12] [--epochs 30]
                                               [--samples 2000] [--criterion l1] [--work DIR]

Per seed: a small `tinyml search` on mnist1d (plain space, random backend, the top 6 candidates fully
trained); its largest trained candidate L (by MACs) is pruned with `tinyml prune` until it takes no
more MACs than S, the most accurate trained candidate with at most 75% of L's MACs (else the one
with the fewest), through a `macs=` budget in two levels, each fine-tuned `--epochs // 3` epochs.
Printed per seed and as the mean over seeds: test accuracy of S, of L unpruned, of L pruned to S's
MACs, and of L's pruned architecture trained from scratch as long as S was (the "is it the weights or the shape" control, Liu et al. 2019,
"Rethinking the Value of Network Pruning"). All on the same data split and test set.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from tinyml_cli.arch import Arch, build_graph
from tinyml_cli.config import validate
from tinyml_cli.data import DATA_SCHEMA, load_dataset, resize_dataset
from tinyml_cli.train.checkpoint import load_candidate
from tinyml_cli.train.loop import TRAIN_SCHEMA, accuracy, train_and_evaluate


SMALL_AT_MOST = 0.75       # S: the most accurate trained candidate with at most this share of L's MACs


def search_config(seed: int, trials: int, epochs: int, samples: int) -> dict:
    """The search each seed runs."""
    return {"name": f"bench-prune-{seed}", "mcu": "STM32F412", "seed": seed,
            "data": {"name": "mnist1d", "samples": samples},
            "space": {"name": "plain", "max_layers": 3, "layer_types": ["conv", "dwsep"],
                      "channels": [8, 16, 32, 48], "kernels": [3, 5], "strides": [1, 2],
                      "reduce": ["avg", "flatten"], "max_dense": 1, "units": [32]},
            "train": {"epochs": epochs, "batch_size": 64, "threads": 1, "device": "cpu", "lr": 0.005},
            "fidelity": {"epochs": max(1, epochs // 6)},
            "search": {"backend": "random", "trials": trials, "top_k": 6, "cv_folds": 0, "baseline": False}}


def tinyml(*args: str) -> str:
    """Run the CLI; its stdout (a --json document)."""
    done = subprocess.run([sys.executable, "-m", "tinyml_cli", *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"tinyml {' '.join(map(str, args))} failed: {done.stderr.strip()}")
    return done.stdout


def one_seed(seed: int, args: argparse.Namespace, work: Path) -> dict:
    cfg = search_config(seed, args.trials, args.epochs, args.samples)
    path = work / f"search-{seed}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = work / f"search-{seed}"
    start = time.perf_counter()
    tinyml("search", path, "--out", run, "-q", "--json")
    search_s = time.perf_counter() - start
    rows = json.loads((run / "leaderboard.json").read_text())["leaderboard"]
    trained = [r for r in rows if r.get("candidate") and (run / r["candidate"] / "weights.pt").is_file()]
    large = max(trained, key=lambda r: r["macs"])
    smaller = [r for r in trained if r["macs"] <= SMALL_AT_MOST * large["macs"]]
    if not smaller:
        smaller = [min(trained, key=lambda r: r["macs"])]
        if smaller[0]["macs"] >= large["macs"]:
            return {"seed": seed, "skipped": "every trained candidate takes the same MACs"}
    small = max(smaller, key=lambda r: r["val_accuracy"])
    number = int(Path(large["candidate"]).name)
    start = time.perf_counter()
    doc = json.loads(tinyml("prune", run, f"macs={small['macs']}", "prune.steps=2",
                            f"prune.epochs={max(1, args.epochs // 3)}", f"prune.criterion={args.criterion}",
                            "--candidate", number, "--out", work / f"prune-{seed}", "--json", "-q"))
    prune_s = time.perf_counter() - start
    unpruned, pruned = doc["rows"][0], doc["rows"][-1]

    data = load_dataset(validate(cfg["data"], DATA_SCHEMA, "bench"), seed)
    _, s_module, _ = load_candidate(run / small["candidate"])
    s_arch = Arch.load(run / small["candidate"] / "arch.yaml")
    s_test = accuracy(s_module, *_test(resize_dataset(data, s_arch.input_shape)))
    p_arch = Arch.load(work / f"prune-{seed}" / "candidates" / f"{len(doc['rows']) - 1:03d}" / "arch.yaml")
    train = validate(cfg["train"], TRAIN_SCHEMA, "bench")
    _, scratch = train_and_evaluate(build_graph(p_arch), resize_dataset(data, p_arch.input_shape), train, seed)
    return {"seed": seed, "small_macs": small["macs"], "large_macs": large["macs"], "pruned_macs": pruned["macs"],
            "small": s_test, "large": unpruned["test_accuracy"], "pruned": pruned["test_accuracy"],
            "scratch": scratch["test_accuracy"], "search_s": search_s, "prune_s": prune_s}


def _test(data):
    return data.x_test, data.y_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--criterion", default="l1", choices=["l1", "bn"])
    parser.add_argument("--work", type=Path, default=Path("runs/bench-prune"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=False)
    results = []
    print("seed  MACs S / L / pruned L     test %: S (searched)  L  L pruned  pruned arch from scratch")
    for seed in args.seeds:
        r = one_seed(seed, args, args.work)
        results.append(r)
        if "skipped" in r:
            print(f"{seed:4d}  skipped: {r['skipped']}")
            continue
        print(f"{seed:4d}  {r['small_macs']:>7,} / {r['large_macs']:>7,} / {r['pruned_macs']:>7,}"
              f"        {100 * r['small']:5.1f}  {100 * r['large']:5.1f}  {100 * r['pruned']:5.1f}"
              f"  {100 * r['scratch']:5.1f}   (search {r['search_s']:.0f} s, prune {r['prune_s']:.0f} s)",
              flush=True)
    done = [r for r in results if "skipped" not in r]
    if done:
        mean = {k: float(np.mean([r[k] for r in done])) for k in ("small", "large", "pruned", "scratch")}
        std = {k: float(np.std([r[k] for r in done])) for k in mean}
        print(f"mean over {len(done)} seeds: S {100 * mean['small']:.1f} ± {100 * std['small']:.1f}, "
              f"L {100 * mean['large']:.1f} ± {100 * std['large']:.1f}, "
              f"L pruned {100 * mean['pruned']:.1f} ± {100 * std['pruned']:.1f}, "
              f"from scratch {100 * mean['scratch']:.1f} ± {100 * std['scratch']:.1f}")
        wins = sum(r["pruned"] > r["small"] for r in done)
        print(f"pruned L beats searched S at equal MACs in {wins} of {len(done)} seeds "
              f"(mean difference {100 * (mean['pruned'] - mean['small']):+.1f} points)")
    (args.work / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
