"""Two workers and a coordinator on one PostgreSQL study, one worker killed with SIGKILL mid-trial.

    PYTHONPATH=. python scripts/postgres_workers.py [--trials 8] [--samples 1500] [--keep DIR] [--json]

Starts a throwaway PostgreSQL 15 cluster in a temporary folder (initdb + pg_ctl, as the ``postgres``
user when run as root; trust authentication on 127.0.0.1 and a free port), then runs
``tinyml search`` three times against it, as the README's recipe does: a coordinator (screens, then
trains the top-k and writes the leaderboard) and two screening workers (``search.top_k=0``). Once two
trials are complete and worker 1 holds a RUNNING trial, worker 1 is killed with SIGKILL. The coordinator must fail that trial at
once (same host, dead process) and finish; then ``--resume`` of the killed worker's folder must end
``ok``. Checked against the study read back from PostgreSQL: the killed trial FAIL, every trial
completed before the kill unchanged, ``search.trials`` trained architectures, no architecture
trained twice, and the leaderboard's screened rows equal to the study's evaluated trials. Prints
the figures (and ``--json``: one JSON document).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import optuna
import yaml
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
STUDY = "tinyml-search-pg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_cluster(pg_bin: Path = PG_BIN, create_db: bool = True) -> Iterator[str]:
    """A PostgreSQL cluster for the block's duration; yields its URL (database ``tinyml``, created
    unless ``create_db`` is False)."""
    folder = Path(tempfile.mkdtemp(prefix="tinyml-pg-"))
    user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None  # initdb refuses to run as root
    if user is not None:
        os.chown(folder, user.pw_uid, user.pw_gid)

    def run(*args: str) -> None:
        cmd = [str(pg_bin / args[0]), *args[1:]]
        if user is not None:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    port, data = _free_port(), folder / "data"
    run("initdb", "-D", str(data), "-U", "tinyml", "-A", "trust")
    run("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")
    try:
        if create_db:
            run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "tinyml", "tinyml")
        yield f"postgresql://tinyml@127.0.0.1:{port}/tinyml"
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def config(trials: int, samples: int) -> dict:
    return {"name": "pg", "mcu": "STM32F412", "seed": 0, "data": {"name": "mnist1d", "samples": samples},
            "space": {"name": "plain", "max_layers": 2, "channels": [4, 8, 16], "kernels": [3, 5],
                      "strides": [1, 2], "units": [16, 32], "max_dense": 1},
            "train": {"epochs": 2, "batch_size": 64, "threads": 1, "device": "cpu", "lr": 0.01},
            "fidelity": {"epochs": 2},
            "search": {"backend": "random", "trials": trials, "top_k": 1, "cv_folds": 0, "baseline": False,
                       "warm_start": False, "max_rejections": 200}}


def _tinyml(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tinyml_cli", "search", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _trials(url: str) -> list:
    try:
        return optuna.load_study(study_name=STUDY, storage=url).get_trials()
    except KeyError:  # not created yet
        return []


def kill_one_worker(url: str, folder: Path, trials: int = 8, samples: int = 1500,
                    timeout_s: float = 900.0) -> dict:
    """The experiment of the module docstring; returns its figures and checks."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder.mkdir(parents=True, exist_ok=True)
    cfg_path = folder / "pg.yaml"
    cfg_path.write_text(yaml.safe_dump(config(trials, samples)))
    start = time.time()
    main = _tinyml(str(cfg_path), "--storage", url, "--out", str(folder / "main"), "--json")
    time.sleep(3)  # the coordinator creates the study; workers joining at once would race to create it
    workers = [_tinyml(str(cfg_path), "--storage", url, "--out", str(folder / f"w{i}"), "search.top_k=0")
               for i in (1, 2)]
    victim = f"{socket.gethostname()}:{workers[0].pid}"
    killed = None
    while time.time() - start < timeout_s and workers[0].poll() is None:
        study = _trials(url)
        running = [t for t in study if t.state == TrialState.RUNNING and t.user_attrs.get("worker") == victim]
        done = sum(t.state == TrialState.COMPLETE for t in study)
        if running and "arch" in running[0].user_attrs and done >= 2:  # mid-trial, with work to keep
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            killed = running[0].number
            break
        time.sleep(0.2)
    killed_at = time.time()
    before = {t.number: t.values for t in _trials(url) if t.state == TrialState.COMPLETE}
    out, err = main.communicate(timeout=timeout_s)
    _, err2 = workers[1].communicate(timeout=timeout_s)
    if main.returncode or workers[1].returncode:
        raise SystemExit(f"coordinator exit {main.returncode}: {err[-2000:]}\nworker 2 exit "
                         f"{workers[1].returncode}: {err2[-2000:]}")
    summary = json.loads(out)
    resumed = _tinyml("--resume", str(folder / "w1"), "--storage", url, "--json")
    _, err3 = resumed.communicate(timeout=timeout_s)
    study = _trials(url)
    by_number = {t.number: t for t in study}
    complete = [t for t in study if t.state == TrialState.COMPLETE]
    trained = [t.user_attrs["arch_key"] for t in complete if t.user_attrs.get("status") == "trained"]
    board = json.loads((folder / "main" / "leaderboard.json").read_text())
    board_trials = sorted(r["trial"] for r in board["leaderboard"])
    evaluated = sorted(t.number for t in complete if t.user_attrs.get("status") == "trained"
                       and t.user_attrs.get("feasible"))
    return {
        "killed_trial": killed,
        "killed_trial_state": by_number[killed].state.name if killed is not None else None,
        "complete_before_kill": len(before),
        "kept_unchanged": sum(by_number[n].values == v for n, v in before.items()),
        "trained": len(trained), "trained_twice": len(trained) - len(set(trained)),
        "failed": sum(t.state == TrialState.FAIL for t in study),
        "running_left": sum(t.state == TrialState.RUNNING for t in study),
        "workers": sorted({t.user_attrs.get("worker", "?") for t in complete}),
        "leaderboard_matches_study": board_trials == evaluated,
        "coordinator_trained": summary["trials"]["trained"],
        "coordinator_wait_after_kill_s": round(time.time() - killed_at, 1),
        "resume_of_killed_worker": {"exit": resumed.returncode,
                                    "status": json.loads((folder / "w1" / "manifest.json").read_text())["status"],
                                    "stderr_tail": err3.strip().splitlines()[-1:] if resumed.returncode else []},
        "wall_s": round(time.time() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--samples", type=int, default=1500)
    parser.add_argument("--keep", type=Path, help="Keep the run folders here (default: a temporary folder).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with throwaway_cluster() as url, tempfile.TemporaryDirectory() as tmp:
        result = kill_one_worker(url, args.keep or Path(tmp) / "runs", args.trials, args.samples)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key:32s} {value}")


if __name__ == "__main__":
    main()
