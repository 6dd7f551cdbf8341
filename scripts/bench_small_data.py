"""Benchmark: search on small data sets, the search before issue 11 against today's, at equal wall time.

Three small sets, made offline, three seeds each (the seed draws the training subset and seeds the
search); every run has the same 16 KB SRAM / 64 KB flash budget on an STM32F412 and is tested on
the same held-out test set:

- ``mnist1d-300``: MNIST-1D from the ``mnist1d`` generator, 300 training windows, 1,000 test;
- ``digits-200``: scikit-learn's 8x8 digits, 200 training images, the other 1,597 to test;
- ``sensors-80``: a generated 3-axis accelerometer set (five activities, raw values in m/s^2 with
  gravity, random orientation, phase, rate and gain per window), 80 training windows, 500 test.

Per set and seed it runs, one after the other:

1. today's search with its defaults (cross-validation, normalization inside the model, AdamW with
   label smoothing, early stopping, screening at a fifth of the epochs), augmentation as ``AUGMENT``
   below, evolution over the demo's space, the top 3 trained in full, and ``--screen-s`` seconds
   of screening (``search.timeout_s``);
2. the search as it was before (``--before``, default the commit before issue 11's work, checked
   out into a temporary git worktree and run from there) with the demo's recipe (evolution,
   screening at 4 epochs, the top 3 trained for 25) over the same space and budget: first with
   the demo's 30 trials, then, when that took less time than (1), again with the trials scaled so
   that its wall time matches (1): equal wall time, the extra time spent on more trials;
3. a fixed reference CNN (three convolutions and global average pooling, under 5,000 parameters)
   trained with today's recipe on train + validation;
4. logistic regression and an RBF SVM on standardized inputs (the search's own reference line).

It prints a row per run and a summary per set (mean and spread over seeds) with the int8 test
accuracy of each search's best model, the gap to the best scikit-learn classifier, and wall times.

    PYTHONPATH=. python scripts/bench_small_data.py [--seeds 0,1,2] [--sets mnist1d-300,digits-200,sensors-80]
        [--screen-s 60] [--json results.json]
    PYTHONPATH=. python scripts/bench_small_data.py --report a.json b.json    # tables of earlier runs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "e9cd9aa"             # main before issue 11 (search on small data)
BUDGET = {"sram": "16KB", "flash": "64KB"}
SPACE = {"name": "plain", "max_layers": 4, "layer_types": ["conv", "dwsep", "pool"],
         "channels": [8, 16, 24, 32, 48, 64], "kernels": [3, 5, 7], "strides": [1, 2],
         "reduce": ["avg", "flatten"], "max_dense": 1, "units": [32, 64]}
SEARCH = {"backend": "evolution", "trials": 30, "top_k": 3, "options": {"population": 10, "sample_size": 3}}
OLD_TRAIN = {"device": "cpu", "epochs": 25, "batch_size": 64, "optimizer": "adamw", "lr": 0.005, "threads": 1}
AUGMENT = {"signal": {"jitter": 0.03, "scaling": 0.1, "shift": 0.1},
           "image": {"shift": 0.125, "rotation": 10}}
REFERENCE = {"signal": {"layers": [{"type": "conv", "channels": 12, "kernel": 5, "stride": 1},
                                   {"type": "conv", "channels": 24, "kernel": 5, "stride": 2},
                                   {"type": "conv", "channels": 32, "kernel": 3, "stride": 2}],
                        "reduce": "avg", "dense": []},
             "image": {"layers": [{"type": "conv", "channels": 8, "kernel": 3, "stride": 1},
                                  {"type": "conv", "channels": 16, "kernel": 3, "stride": 2},
                                  {"type": "conv", "channels": 24, "kernel": 3, "stride": 2}],
                       "reduce": "avg", "dense": []}}


# --- the data sets ----------------------------------------------------------------------------------

def _stratified_subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices with every class as evenly represented as ``y`` allows."""
    classes = np.unique(y)
    per = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    picked = [p[:n // len(classes) + (i < n % len(classes))] for i, p in enumerate(per)]
    return rng.permutation(np.concatenate(picked))


def mnist1d_300(seed: int) -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = 5000, 0
    d = make_dataset(args)
    x = np.concatenate([d["x"], d["x_test"]]).astype(np.float32)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    rng = np.random.default_rng(seed)
    train = _stratified_subset(y, 300, rng)
    rest = np.setdiff1d(np.arange(len(y)), train)
    test = rng.choice(rest, 1000, replace=False)
    return {"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test]}


def digits_200(seed: int) -> dict:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = (bunch.images / 16.0).astype(np.float32), bunch.target.astype(np.int64)
    train = _stratified_subset(y, 200, np.random.default_rng(seed))
    test = np.setdiff1d(np.arange(len(y)), train)
    return {"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test]}


def accelerometer_windows(n: int, rng: np.random.Generator, length: int = 128, rate: float = 50.0) -> tuple:
    """Windows of a 3-axis accelerometer (m/s^2, gravity included) for five activities: still,
    walking, running, shaking the device, and a slow tilt; each window with its own orientation,
    phase, step rate, amplitude, gain and sensor offset."""
    t = np.arange(length) / rate
    x = np.empty((n, length, 3), np.float32)
    y = rng.integers(0, 5, n)
    for i, c in enumerate(y):
        pitch, roll = rng.normal(0, 0.35, 2)
        gravity = 9.81 * np.array([np.sin(pitch), -np.sin(roll) * np.cos(pitch), np.cos(roll) * np.cos(pitch)])
        signal = np.zeros((length, 3))
        phase = rng.uniform(0, 2 * np.pi)
        if c == 1 or c == 2:                                  # walking (~1.8 Hz) or running (~2.8 Hz)
            f = (1.8 if c == 1 else 2.8) * rng.uniform(0.85, 1.15)
            amp = (2.0 if c == 1 else 5.0) * rng.uniform(0.7, 1.3)
            step = np.sin(2 * np.pi * f * t + phase) + 0.4 * np.sin(4 * np.pi * f * t + 2 * phase)
            signal[:, 2] += amp * step
            signal[:, 0] += 0.5 * amp * np.sin(np.pi * f * t + phase)
        elif c == 3:                                          # shaking (~6 Hz) along a random axis
            f = 6.0 * rng.uniform(0.8, 1.2)
            axis = rng.normal(size=3)
            signal += np.outer(np.sin(2 * np.pi * f * t + phase), 3.0 * axis / np.linalg.norm(axis))
        elif c == 4:                                          # a slow tilt: gravity turns by ~60 degrees
            angle = np.linspace(0, rng.uniform(0.8, 1.3), length) * rng.choice([-1, 1])
            turned = np.stack([np.sin(angle) * 9.81, np.zeros(length), np.cos(angle) * 9.81], 1)
            signal += turned - np.array([0, 0, 9.81])
        noise = rng.normal(0, 0.25, (length, 3))
        x[i] = (gravity + signal) * rng.uniform(0.9, 1.1) + noise + rng.normal(0, 0.3, 3)
    return x[:, None, :, :], y


def sensors_80(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    x_train, y_train = accelerometer_windows(80, rng)
    x_test, y_test = accelerometer_windows(500, np.random.default_rng(10_000 + seed))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


SETS = {"mnist1d-300": (mnist1d_300, "signal"), "digits-200": (digits_200, "image"),
        "sensors-80": (sensors_80, "signal")}


# --- the runs ---------------------------------------------------------------------------------------

def search_config(name: str, path: Path, seed: int, train: dict, extra: dict | None = None) -> dict:
    cfg = {"name": name, "mcu": "STM32F412", "seed": seed, "constraints": BUDGET,
           "data": {"name": "npz", "path": str(path)}, "space": SPACE, "train": train,
           "search": dict(SEARCH)}
    for key, value in (extra or {}).items():
        cfg.setdefault(key, {}).update(value)
    return cfg


def run_cli(cfg: dict, folder: Path, pythonpath: Path) -> tuple[dict, float]:
    """``tinyml search CONFIG --json`` with the package at ``pythonpath``: the summary and wall time."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "search.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from tinyml_cli.cli import main; main()", "search", str(path), "--out",
                           str(folder / "run"), "--json", "-q"], capture_output=True, text=True, env=env,
                          cwd=folder)   # not the repository: its package would shadow PYTHONPATH
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"search in {folder} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout), wall


def reference_cnn(data_path: Path, kind: str, seed: int) -> dict:
    """The fixed small CNN trained with today's recipe on train + validation, tested once (float
    and int8 through the exporter's quantizer)."""
    from tinyml_cli.arch import Arch, build_graph
    from tinyml_cli.config import validate
    from tinyml_cli.data import DATA_SCHEMA, load_dataset
    from tinyml_cli.export.quantize import int8_accuracies
    from tinyml_cli.train.crossval import train_on_all
    from tinyml_cli.train.loop import TRAIN_SCHEMA, resolve_epochs, resolve_normalize

    data = load_dataset(validate({"name": "npz", "path": str(data_path)}, DATA_SCHEMA, "bench"), seed)
    cfg = validate({"device": "cpu", "threads": 1, "augment": AUGMENT[kind]}, TRAIN_SCHEMA, "bench")
    arch = Arch("plain", data.input_shape, data.num_classes, REFERENCE[kind],
                resolve_normalize("auto", data.input_shape))
    graph = build_graph(arch)
    start = time.perf_counter()
    epochs = resolve_epochs(cfg["epochs"], len(data.y_train) + len(data.y_val), cfg["batch_size"])
    module, metrics = train_on_all(graph, data, cfg, seed, epochs)
    int8 = int8_accuracies(module, data.x_train[:256], (data.x_test, data.y_test))[0]
    params = sum(p.numel() for p in module.parameters())
    return {"test": metrics["test_accuracy"], "int8": int8, "params": params,
            "wall": time.perf_counter() - start}


def best_row(summary: dict) -> dict:
    best = summary.get("best") or {}
    return {"test": best.get("test_accuracy"), "int8": best.get("int8_test_accuracy"),
            "val": best.get("val_accuracy"), "params": best.get("params"), "sram": best.get("peak_sram"),
            "flash": best.get("flash"), "trained": summary["trials"]["trained"]}


def one(set_name: str, seed: int, work: Path, before: Path, screen_s: float) -> dict:
    make, kind = SETS[set_name]
    folder = work / f"{set_name}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    data_path = folder / "data.npz"
    np.savez(data_path, **make(seed))
    new_cfg = search_config(f"today-{set_name}", data_path, seed,
                            {"device": "cpu", "threads": 1, "augment": AUGMENT[kind]},
                            {"search": {"trials": 1000, "timeout_s": screen_s}})
    new, new_wall = run_cli(new_cfg, folder / "today", ROOT)
    old_cfg = search_config(f"before-{set_name}", data_path, seed, OLD_TRAIN, {"fidelity": {"epochs": 4}})
    old, old_wall = run_cli(old_cfg, folder / "before-30", before)
    runs = [(SEARCH["trials"], old_wall)]
    while old_wall < 0.9 * new_wall and len(runs) < 4:   # equal wall time: more trials for the old search
        (t1, w1), (t2, w2) = ((0, 0.0), runs[0]) if len(runs) == 1 else runs[-2:]
        per_trial = max((w2 - w1) / max(t2 - t1, 1), 1e-3)   # wall = fixed + per_trial * trials
        trials = max(runs[-1][0] + 1, round(t2 + (new_wall - w2) / per_trial))
        old_cfg["search"]["trials"] = trials
        old, old_wall = run_cli(old_cfg, folder / f"before-{trials}", before)
        runs.append((trials, old_wall))
    ref = reference_cnn(data_path, kind, seed)
    baselines = {b["model"]: b["test_accuracy"] for b in new["baselines"]}
    return {"set": set_name, "seed": seed, "before": {**best_row(old), "wall": old_wall},
            "today": {**best_row(new), "wall": new_wall, "cv_folds": new["ranking"]["cv_folds"]},
            "reference": ref, "baselines": baselines}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def report(results: list[dict]) -> None:
    print("\n| set | seed | before int8 | today int8 | reference CNN int8 | logistic | RBF SVM | "
          "today - best sklearn | trained (before / today) | wall s (before / today) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        best_sk = max(r["baselines"].values())
        print(f"| {r['set']} | {r['seed']} | {_pct(r['before']['int8'])} | {_pct(r['today']['int8'])} | "
              f"{_pct(r['reference']['int8'])} | {_pct(r['baselines']['logistic regression'])} | "
              f"{_pct(r['baselines']['RBF SVM'])} | {100 * (r['today']['int8'] - best_sk):+.1f} | "
              f"{r['before']['trained']} / {r['today']['trained']} | "
              f"{r['before']['wall']:.0f} / {r['today']['wall']:.0f} |")
    print("\n| set | before int8 (mean ± sd) | today int8 | gain | reference CNN int8 | best sklearn | "
          "today - best sklearn | today - reference |")
    print("|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["set"] for r in results):
        rows = [r for r in results if r["set"] == name]
        before = np.array([r["before"]["int8"] for r in rows])
        today = np.array([r["today"]["int8"] for r in rows])
        ref = np.array([r["reference"]["int8"] for r in rows])
        best_sk = np.array([max(r["baselines"].values()) for r in rows])
        print(f"| {name} | {100 * before.mean():.1f} ± {100 * before.std():.1f} | "
              f"{100 * today.mean():.1f} ± {100 * today.std():.1f} | {100 * (today - before).mean():+.1f} | "
              f"{100 * ref.mean():.1f} ± {100 * ref.std():.1f} | {100 * best_sk.mean():.1f} | "
              f"{100 * (today - best_sk).mean():+.1f} | {100 * (today - ref).mean():+.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--before", default=BEFORE, help="git revision of the search to compare against")
    parser.add_argument("--screen-s", type=float, default=60.0, help="screening seconds of today's search")
    parser.add_argument("--out", default=None, help="keep run folders here (default: a temporary folder)")
    parser.add_argument("--json", default=None, help="also write every result to this JSON file")
    parser.add_argument("--report", nargs="+", default=None, metavar="JSON",
                        help="print the tables of earlier --json files (run nothing)")
    args = parser.parse_args()
    if args.report:
        report([r for path in args.report for r in json.loads(Path(path).read_text())])
        return
    with tempfile.TemporaryDirectory(prefix="tinyml-bench-") as tmp:
        work = Path(args.out) if args.out else Path(tmp)
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before],
                       check=True, capture_output=True)
        try:
            results = []
            for set_name in args.sets.split(","):
                for seed in (int(s) for s in args.seeds.split(",")):
                    results.append(one(set_name, seed, work, before, args.screen_s))
                    r = results[-1]
                    print(f"{set_name} seed {seed}: before {_pct(r['before']['int8'])}, today "
                          f"{_pct(r['today']['int8'])}, reference {_pct(r['reference']['int8'])}, sklearn "
                          f"{', '.join(f'{k} {_pct(v)}' for k, v in r['baselines'].items())}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)],
                           capture_output=True)
        report(results)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
