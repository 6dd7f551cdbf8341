"""Kill a search at random moments, resume it, and measure that nothing finished is lost and the
resume never waits on a dead trial.

    PYTHONPATH=. python scripts/kill_resume.py [--rounds 6] [--seed 0] [--json]

Each round starts a small ``tinyml search`` (MNIST-1D 2000 samples, 8 trials, top-1), sends it
SIGKILL, SIGTERM or SIGINT (drawn at random) after a random 1-12 s, then runs ``--resume`` on the
folder. Per round:
the signal, when, trials complete before the kill and kept unchanged after the resume, the trials
failed on resume, the resume's exit code and wall time, and the manifest's status before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import yaml
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"name": "kill", "mcu": "STM32F412", "seed": 0, "data": {"name": "mnist1d", "samples": 2000},
          "space": {"name": "plain", "max_layers": 2, "channels": [4, 8, 16], "kernels": [3, 5], "strides": [1, 2],
                    "units": [16, 32], "max_dense": 1},
          "train": {"epochs": 2, "batch_size": 64, "threads": 1, "device": "cpu", "lr": 0.01},
          "fidelity": {"epochs": 2},
          "search": {"backend": "random", "trials": 8, "top_k": 1, "cv_folds": 0, "baseline": False}}
SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}


def _complete(run: Path) -> dict[int, list[float]]:
    if not (run / "study.db").exists():
        return {}
    try:
        study = optuna.load_study(study_name="tinyml-search-kill", storage=f"sqlite:///{run}/study.db")
    except KeyError:
        return {}
    return {t.number: t.values for t in study.get_trials() if t.state == TrialState.COMPLETE}


def _status(run: Path) -> str | None:
    manifest = run / "manifest.json"
    return json.loads(manifest.read_text())["status"] if manifest.exists() else None


def one_round(folder: Path, rng: np.random.Generator) -> dict:
    config = folder / "kill.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    run, env = folder / "run", {**os.environ, "PYTHONPATH": str(ROOT)}
    name = str(rng.choice(list(SIGNALS)))
    after = float(rng.uniform(1.0, 12.0))
    start = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "tinyml_cli", "search", str(config), "--out", str(run), "-q"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            # a background shell ignores SIGINT in its children: give it back
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(after)
    proc.send_signal(SIGNALS[name])
    _, err = proc.communicate()
    before, status_before = _complete(run), _status(run)
    row = {"signal": name, "after_s": round(after, 1), "killed_exit": proc.returncode,
           "ran_s": round(time.time() - start, 1),
           "status_before": status_before, "complete_before": len(before)}
    if not (run / "manifest.json").exists() or status_before in (None, "created"):
        return {**row, "resume": "nothing to resume (stopped before the search started)"}
    start = time.time()
    resumed = subprocess.run([sys.executable, "-m", "tinyml_cli", "search", "--resume", str(run)], env=env,
                             capture_output=True, text=True)
    after_resume = _complete(run)
    return {**row, "resume_exit": resumed.returncode, "resume_s": round(time.time() - start, 1),
            "kept_unchanged": sum(after_resume.get(n) == v for n, v in before.items()),
            "failed_on_resume": resumed.stderr.count("marked failed"),
            "waited": resumed.stderr.count("waiting for trial"), "status_after": _status(run),
            "error": resumed.stderr.strip().splitlines()[-1] if resumed.returncode else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(args.seed)
    rows = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(one_round(Path(tmp), rng))
        if not args.json:
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    resumed = [r for r in rows if "resume_exit" in r]
    lost = sum(r["complete_before"] - r["kept_unchanged"] for r in resumed)
    print(f"{len(rows)} rounds, {len(resumed)} resumed: exit 0 in {sum(r['resume_exit'] == 0 for r in resumed)}, "
          f"finished trials lost {lost}, longest resume {max((r['resume_s'] for r in resumed), default=0):.0f} s")


if __name__ == "__main__":
    main()
