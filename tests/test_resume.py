"""Resume that never stalls and run folders that can be copied or moved: a trial cut off while it
was being created, a trial of a dead worker, and a copied or moved run folder that continues its own
study (the oracle: the Optuna study read back from each folder's own storage)."""

import datetime
import inspect
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from tinyml_cli.config import validate
from tinyml_cli.search import SEARCH_SCHEMA, prepare_run, run_search
from tinyml_cli.search import study as study_module
from tinyml_cli.search.backends import base as base_module
from tinyml_cli.search.context import make_context

from test_search import ROOT, load_study, tiny, write_config


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _study(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/s.db")


def _running(study, user_attrs, age_s):
    """A RUNNING trial as a stopped process leaves it, started ``age_s`` seconds ago."""
    start = datetime.datetime.now() - datetime.timedelta(seconds=age_s)
    template = optuna.trial.FrozenTrial(
        number=-1, state=TrialState.RUNNING, value=None, datetime_start=start, datetime_complete=None,
        params={}, distributions={}, user_attrs=user_attrs, system_attrs={}, intermediate_values={},
        trial_id=-1)
    return study._storage.create_new_trial(study._study_id, template_trial=template)


def test_a_trial_carries_its_worker_from_the_moment_it_exists(tmp_path, monkeypatch):
    study = _study(tmp_path)

    def interrupted(*args, **kwargs):  # Ctrl-C while Optuna sets the new trial up
        raise KeyboardInterrupt

    monkeypatch.setattr(optuna.Trial, "__init__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        study_module.ask(study)
    (left,) = study.get_trials(states=(TrialState.RUNNING,))
    assert left.user_attrs["worker"] == f"{socket.gethostname()}:{os.getpid()}"


def test_the_private_optuna_names_ask_copies_still_exist(tmp_path):
    # study.ask repeats Study.ask's body to put the worker in the write that creates a trial, as no
    # public Optuna API can: an Optuna that renames or reshapes what it uses must fail here, loudly.
    study = _study(tmp_path)
    for name in ("_storage", "_study_id", "_thread_local", "_pop_waiting_trial_id"):
        assert hasattr(study, name), f"optuna {optuna.__version__}: Study.{name} is gone: update study.ask"
    assert hasattr(study._thread_local, "cached_all_trials")
    body = inspect.getsource(optuna.Study.ask)
    for step in ("cached_all_trials = None", "self._pop_waiting_trial_id()",
                 "self._storage.create_new_trial(self._study_id)", "optuna.Trial(self, trial_id)"):
        assert step in body, f"optuna {optuna.__version__}: Study.ask no longer does {step!r}: update study.ask"


def test_queued_trials_are_claimed_in_order_then_new_ones_carry_their_worker(tmp_path):
    study = _study(tmp_path)
    study.enqueue_trial({"x": 2})
    study.enqueue_trial({"x": 3})
    worker = f"{socket.gethostname()}:{os.getpid()}"
    asked = [study_module.ask(study) for _ in range(3)]
    assert [t.number for t in asked] == [0, 1, 2]
    assert [t.suggest_int("x", 0, 9) for t in asked[:2]] == [2, 3]   # the queued parameters
    for t in study.get_trials():
        assert t.state == TrialState.RUNNING and t.user_attrs["worker"] == worker
        assert t.user_attrs["claim"] == t.user_attrs["heartbeat"]


TAKE_THE_QUEUE = """
import sys, optuna
from tinyml_cli.search import study as study_module
study = optuna.load_study(study_name="s", storage=study_module.open_storage(sys.argv[1]),
                          sampler=optuna.samplers.RandomSampler())
while (trial := study_module.ask(study)).number < int(sys.argv[2]):
    print(trial.number)
"""


def test_workers_on_sqlite_never_take_the_same_queued_trial(tmp_path):
    # SQLite ignores the row lock with which Optuna takes a queued trial: without BEGIN IMMEDIATE,
    # three processes took about one trial in ten twice here (optuna#4621)
    url, queued = f"sqlite:///{tmp_path}/s.db", 60
    study = optuna.create_study(study_name="s", storage=study_module.open_storage(url))
    for x in range(queued):
        study.enqueue_trial({"x": x})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", TAKE_THE_QUEUE, url, str(queued)], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    taken = {p.pid: [int(n) for n in p.communicate(timeout=120)[0].split()] for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert sorted(n for numbers in taken.values() for n in numbers) == list(range(queued))  # each once
    workers = {t.number: t.user_attrs["worker"] for t in study.get_trials() if t.number < queued}
    assert all(workers[n] == f"{socket.gethostname()}:{pid}" for pid, numbers in taken.items() for n in numbers)


@pytest.mark.parametrize("when", ["while it trains", "after it trained"])
def test_a_trial_another_worker_finished_meanwhile_is_let_go(tmp_path, monkeypatch, when):
    ctx = make_context(validate(tiny(search__trials=2, search__top_k=0), SEARCH_SCHEMA, "t"))
    study = study_module.open_study(ctx, f"sqlite:///{tmp_path}/s.db")
    other = optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{tmp_path}/s.db")
    theirs, finished = [0.5] * len(other.directions), []

    def the_other_worker_finishes_it():  # the first trial trained, which both workers took
        if not finished:
            (running,) = other.get_trials(states=(TrialState.RUNNING,))
            finished.append(other.tell(running.number, theirs).number)

    if when == "while it trains":   # its next heartbeat finds the trial finished
        real = base_module.train_and_evaluate
        monkeypatch.setattr(base_module, "train_and_evaluate",
                            lambda *a, **k: the_other_worker_finishes_it() or real(*a, **k))
    else:                           # its tell finds the trial finished
        real = study_module.run_trial
        monkeypatch.setattr(study_module, "run_trial", lambda *a, **k: (
            real(*a, **k), the_other_worker_finishes_it())[0] if a[2].number == 0 else real(*a, **k))
    said = []
    study_module.screen(ctx, study, say=said.append)
    trials = study.get_trials()
    assert trials[finished[0]].values == theirs          # the result of whoever finished first stands
    assert study_module.counts(study)["EVALUATED"] == 2 and study_module.counts(study)["RUNNING"] == 0
    assert [s for s in said if f"trial {finished[0]} was finished (COMPLETE) by another worker" in s]


def test_trials_of_dead_or_unknown_workers_are_failed_at_once(tmp_path):
    study = _study(tmp_path)
    host = socket.gethostname()
    dead = _running(study, {"worker": f"{host}:{_dead_pid()}", "heartbeat": time.time()}, 1)
    unclaimed = _running(study, {}, 2 * study_module.UNCLAIMED_GRACE_S)
    alive = _running(study, {"worker": f"{host}:{os.getpid()}", "heartbeat": time.time()}, 1)
    just_created = _running(study, {}, 0)
    elsewhere = _running(study, {"worker": "other-host:1", "heartbeat": time.time()}, 1)
    said = []
    assert study_module.fail_stale_trials(study, 900.0, said.append) == 2
    states = {t._trial_id: t.state for t in study.get_trials()}
    assert states[dead] == states[unclaimed] == TrialState.FAIL
    assert states[alive] == states[just_created] == states[elsewhere] == TrialState.RUNNING
    assert len(said) == 2 and "no longer runs" in said[0] and "never recorded its worker" in said[1]


def test_waiting_for_a_running_trial_says_why(tmp_path):
    study = _study(tmp_path)
    _running(study, {}, study_module.UNCLAIMED_GRACE_S - 0.5)  # fails in 0.5 s
    said = []
    study_module.wait_for_running(study, 900.0, poll_s=0.1, say=said.append)
    assert said and "waiting for trial 0" in said[0]
    assert study.get_trials()[0].state == TrialState.FAIL


def _interrupted_run(tmp_path, monkeypatch, name="A"):
    cfg_path = write_config(tmp_path, tiny(search__trials=2, search__top_k=0))
    run = prepare_run(cfg_path, [], out=str(tmp_path / "runs" / name))
    real, calls = base_module.train_and_evaluate, []

    def interrupted_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(base_module, "train_and_evaluate", interrupted_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_search(run)
    monkeypatch.setattr(base_module, "train_and_evaluate", real)
    return run.run_dir


def _trained(run_dir):
    return sum(t.state == TrialState.COMPLETE and t.user_attrs["status"] == "trained"
               for t in load_study(run_dir).trials)


def test_a_copied_run_folder_resumes_its_own_study(tmp_path, monkeypatch):
    a = _interrupted_run(tmp_path, monkeypatch)
    b = tmp_path / "B"
    shutil.copytree(a, b)
    before = (a / "study.db").read_bytes()
    summary = run_search(prepare_run(None, [], resume=str(b)))
    assert _trained(b) == 2 and summary["trials"]["trained"] == 2
    assert (a / "study.db").read_bytes() == before and _trained(a) == 1
    assert json.loads((b / "manifest.json").read_text())["status"] == "ok"
    assert json.loads((a / "manifest.json").read_text())["status"] == "interrupted"


def test_a_moved_run_folder_resumes(tmp_path, monkeypatch):
    a = _interrupted_run(tmp_path, monkeypatch)
    moved = tmp_path / "elsewhere" / "C"
    moved.parent.mkdir()
    a.rename(moved)
    run = prepare_run(None, [], resume=str(moved))
    assert run.url == f"sqlite:///{moved.resolve()}/study.db"
    study = optuna.load_study(study_name="tinyml-search-tiny", storage=run.url)
    assert sum(t.user_attrs.get("status") == "trained" for t in study.trials) == 1


def test_a_full_database_is_a_save_error_not_a_bad_url(tmp_path):
    import sqlite3

    from tinyml_cli.errors import SaveError

    db = sqlite3.connect(tmp_path / "full.db")  # SQLite's own "disk full": a page limit reached
    db.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.OperationalError) as full:
        db.execute("CREATE TABLE t (x)")
        db.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 100)
    url = f"sqlite:///{tmp_path}/full.db"
    with pytest.raises(SaveError, match="cannot write the study: no space left on the device"):
        study_module.full_disk(full.value, url)
    study_module.full_disk(sqlite3.OperationalError("no such table: trials"), url)  # not full: no error


def test_storage_is_recorded_relative_to_the_run_and_old_absolute_records_follow_copies(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    for run in (a, b):
        run.mkdir()
        (run / "study.db").write_bytes(b"")
    inside = study_module.manifest_storage(f"sqlite:///{a.resolve()}/study.db", a)
    assert inside == "sqlite:///$RUN_DIR/study.db"
    assert study_module.resolve_storage(inside, b) == f"sqlite:///{b.resolve()}/study.db"
    journal = study_module.manifest_storage(str(a / "study.log"), a)
    assert study_module.resolve_storage(journal, b) == f"{b.resolve()}/study.log"
    # A manifest written before (absolute path): a copy with its own study.db continues that one;
    # a storage outside any run folder stays where it is.
    assert study_module.resolve_storage(f"sqlite:///{a.resolve()}/study.db", b) == f"sqlite:///{b.resolve()}/study.db"
    shared = f"sqlite:///{tmp_path.resolve()}/shared.db"
    assert study_module.resolve_storage(study_module.manifest_storage(shared, a), b) == shared
