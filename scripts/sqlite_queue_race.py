"""How often several worker processes take the same queued (warm-start) trial from one SQLite
study, with the storage as ``search/study.open_storage`` opens it (every transaction ``BEGIN
IMMEDIATE``) and as plain ``optuna.storages.RDBStorage`` (SQLite ignores the row lock of Optuna's
queue pop, optuna#4621). Prints, per storage, the queued trials taken more than once.

    PYTHONPATH=. python scripts/sqlite_queue_race.py [--queued 200] [--workers 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna

from tinyml_cli.search import study as study_module

ROOT = Path(__file__).resolve().parents[1]
WORKER = """
import sys, optuna
from tinyml_cli.search import study as study_module
url, queued, plain = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "plain"
storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}}) if plain \\
    else study_module.open_storage(url)
study = optuna.load_study(study_name="s", storage=storage, sampler=optuna.samplers.RandomSampler())
while (trial := study_module.ask(study)).number < queued:
    print(trial.number)
"""


def taken_twice(folder: Path, storage: str, queued: int, workers: int) -> int:
    """Queued trials that more than one worker took, in one race."""
    url = f"sqlite:///{folder}/{storage}.db"
    study = optuna.create_study(study_name="s", storage=study_module.open_storage(url))
    for x in range(queued):
        study.enqueue_trial({"x": x})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(queued), storage], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    counts = collections.Counter(int(n) for p in procs for n in p.communicate(timeout=600)[0].split())
    return sum(1 for c in counts.values() if c > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=200)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"{args.workers} workers emptying a queue of {args.queued} trials, {args.repeats} races each")
    for storage in ("plain", "immediate"):
        runs = []
        for r in range(args.repeats):
            with tempfile.TemporaryDirectory() as folder:
                runs.append(taken_twice(Path(folder), storage, args.queued, args.workers))
        print(f"{storage:<10} taken twice: {' / '.join(map(str, runs))}")


if __name__ == "__main__":
    main()
