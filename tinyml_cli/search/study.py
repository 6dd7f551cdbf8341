"""The Optuna study behind a search: storage, creation or joining, and the screening loop a worker
runs on it. All state lives in the study, so any number of workers (local processes or other
machines sharing one database) and any resumed run cooperate without further coordination."""

from __future__ import annotations

import datetime
import re
import socket
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from ..errors import ConfigError, RunDirError, SaveError, TinymlError
from .context import SearchContext
from .final import screened
from .trial import EVALUATED, UNCLAIMED_GRACE_S, WORKER, claim, run_trial, spent, stale_reason

JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
# Config keys that must agree between every worker of one study (the seed fixes the data split).
SHARED_SECTIONS = ("seed", "data", "space", "constraints", "mcu", "fidelity")
LOCAL_TRAIN_KEYS = ("device", "threads")
HIDDEN = "***"
RUN_DIR = "$RUN_DIR"   # a manifest's storage inside its own run folder, so copies resume their own
WAIT_NOTICE_S = 30.0     # how often a wait for another worker's trial says so
MAX_FAILURES_IN_A_ROW = 3


def redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` URL replaced by ``***``.

    >>> redact("--storage=postgresql://me:s3cret@db:5432/tinyml")
    '--storage=postgresql://me:***@db:5432/tinyml'
    """
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1" + HIDDEN + "@", text)


def storage_url(storage: str | None, run_dir: Path) -> str:
    """``None``: ``sqlite:///RUN_DIR/study.db``; a URL (``scheme://``) as is; else a journal file path."""
    if storage is None:
        return f"sqlite:///{(run_dir / 'study.db').resolve()}"
    if "://" not in storage and not storage.endswith(JOURNAL_SUFFIXES):
        raise ConfigError(f"--storage {storage!r}: expected a database URL (sqlite:///..., "
                          f"postgresql://...) or a journal file ending in {', '.join(JOURNAL_SUFFIXES)}")
    return storage


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for a SQLAlchemy URL or a journal file path."""
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    shown = redact(url)
    try:
        storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except (ImportError, ModuleNotFoundError) as exc:
        raise ConfigError(f"--storage {shown!r}: the database driver is not installed: {exc}") from None
    except Exception as exc:  # SQLAlchemy raises many kinds for a bad URL or an unreachable server
        full_disk(exc, url)
        raise ConfigError(f"--storage {shown!r}: cannot open: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0]}") from None
    if url.startswith("sqlite"):
        _begin_immediate(storage.engine)
    return storage


def _begin_immediate(engine: Any) -> None:
    """Make every transaction on a SQLite ``engine`` take the write lock as it begins (``BEGIN
    IMMEDIATE``, SQLAlchemy's pysqlite recipe). SQLite ignores the ``SELECT ... FOR UPDATE`` with which
    Optuna takes a queued trial, so two workers could both read it WAITING and both run it
    (optuna#4621); PostgreSQL locks the row."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None       # pysqlite opens no transaction of its own

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()                                  # connections opened before the listeners


def full_disk(exc: BaseException, url: str) -> None:
    """Raise a :class:`SaveError` when ``exc`` is the database saying its disk is full (SQLite's
    "database or disk is full", PostgreSQL's "No space left on device"), not a mistake in the URL."""
    text = str(exc).lower()
    if "disk is full" in text or "no space left" in text:
        raise SaveError(f"{redact(url)}: cannot write the study: no space left on the device (disk full)") from None


def study_name(cfg: dict) -> str:
    """One study per experiment name."""
    return f"tinyml-search-{cfg['name']}"


def require_study(cfg: dict, url: str, run_dir: Path) -> None:
    """A resumed run must find its study in the storage: resuming against an empty or other storage
    would start a new search and replace the run's candidates and leaderboard."""
    if "://" not in url and not Path(url).exists():
        names: list[str] = []
    else:
        names = optuna.study.get_all_study_names(open_storage(url))
    if study_name(cfg) not in names:
        raise RunDirError(f"{run_dir}: its study {study_name(cfg)!r} is not in {redact(url)}; resume with the "
                          "storage the run was started with (manifest.json: storage)")


def open_study(ctx: SearchContext, url: str, worker: int = 0) -> optuna.Study:
    """Create the study or join it; a study made from a different config is refused."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url)
    directions = [d for _, d in ctx.backend.objectives()]
    probe = optuna.create_study(study_name=study_name(ctx.cfg), storage=storage, directions=directions,
                                load_if_exists=True)
    shared = {k: ctx.cfg[k] for k in SHARED_SECTIONS} | {"backend": ctx.cfg["search"]["backend"],
                                                         "cv_folds": ctx.cfg["search"]["cv_folds"]}
    shared["train"] = {k: v for k, v in ctx.cfg["train"].items() if k not in LOCAL_TRAIN_KEYS}
    known = probe.user_attrs.get("config")
    if known is None:
        probe.set_user_attr("config", shared)
        if ctx.cfg["search"]["warm_start"]:            # textbook networks first
            for genome in ctx.space.reference_genomes():
                probe.enqueue_trial(genome)
    elif known != shared:
        diff = sorted(k for k in shared if known.get(k) != shared[k])
        raise RunDirError(f"study {study_name(ctx.cfg)!r} in {redact(url)} was created with a different "
                          f"{', '.join(diff)}; use another name or storage")
    if [d.name.lower() for d in probe.directions] != directions:
        raise RunDirError(f"study {study_name(ctx.cfg)!r} has objectives {probe.directions}, "
                          f"backend {ctx.backend.name!r} needs {directions}")
    # Distinct sampler seeds per worker process, per machine and per (re)start; reproducible for a
    # single local run.
    seed = (ctx.seed + 1000 * worker + len(probe.trials) + zlib.crc32(socket.gethostname().encode())) % 2**31
    return optuna.load_study(study_name=study_name(ctx.cfg), storage=storage,
                             sampler=ctx.backend.sampler(ctx.space, seed))


def ask(study: optuna.Study) -> optuna.Trial:
    """A new RUNNING trial that names its worker (host:pid) from the moment it exists, so a process
    stopped at any instant leaves no trial that nobody can account for. A queued trial (the warm
    start's) is claimed right after it is taken; a new one is created with its worker in one write."""
    # Study.ask() cannot add attributes in the write that creates the trial: this is its body (optuna
    # 4-5), with the worker in the template. No public API can (Study.add_trial takes a template but
    # gives back no Trial nor the trial's id); test_resume fails loudly if these private names change.
    storage, study_id = study._storage, study._study_id
    study._thread_local.cached_all_trials = None   # the sampler sees the study as it is now
    trial_id = study._pop_waiting_trial_id()
    if trial_id is not None:
        claim(trial_id, storage)
    else:
        now = time.time()
        template = FrozenTrial(
            number=-1, state=TrialState.RUNNING, value=None, datetime_start=datetime.datetime.now(),
            datetime_complete=None, params={}, distributions={}, system_attrs={}, intermediate_values={},
            user_attrs={"worker": WORKER, "claim": now, "heartbeat": now}, trial_id=-1)
        trial_id = storage.create_new_trial(study_id, template_trial=template)
    return optuna.Trial(study, trial_id)


def fail_stale_trials(study: optuna.Study, stale_after_s: float,
                      say: Callable[[str], None] | None = None) -> int:
    """Mark RUNNING trials whose worker is gone as FAIL (new trials take their place), saying why
    through ``say``; the count."""
    failed = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        reason = stale_reason(t, stale_after_s)
        if reason is None:
            continue
        try:
            study.tell(t.number, state=TrialState.FAIL)
        except (RuntimeError, ValueError):  # another worker got there first
            continue
        failed += 1
        if say is not None:
            say(f"{reason}: marked failed, a new trial takes its place")
    return failed


def counts(study: optuna.Study, statuses: tuple[str, ...] = EVALUATED) -> dict[str, int]:
    """Trials by state name, and ``EVALUATED``: the complete ones whose status is in ``statuses``
    (what ``search.trials`` counts, :func:`~tinyml_cli.search.trial.spent`: by default those trained
    or scored; rejected and repeated architectures do not count)."""
    out = {"COMPLETE": 0, "RUNNING": 0, "FAIL": 0, "EVALUATED": 0}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
        if t.state == TrialState.COMPLETE and t.user_attrs.get("status") in statuses:
            out["EVALUATED"] += 1
    return out


def racing_floor(ctx: SearchContext, study: optuna.Study) -> float | None:
    """With ``search.racing`` and cross-validation: the held-out accuracy under which a candidate's
    remaining folds are skipped. That is the top-k-th screened mean less two typical fold spreads
    (the median over candidates cross-validated on every fold): one fold's accuracy strays that far
    from its candidate's mean rarely, so such a candidate would not reach the top-k. None until
    top-k candidates have run every fold."""
    if not ctx.folds or not ctx.cfg["search"]["racing"]:
        return None
    complete = [t.user_attrs["metrics"] for t in screened(study)
                if len(t.user_attrs["metrics"].get("val_folds") or ()) == len(ctx.folds)]
    k = max(1, ctx.cfg["search"]["top_k"])
    if len(complete) < k:
        return None
    return sorted(m["val_accuracy"] for m in complete)[-k] - 2 * float(np.median([m["val_std"] for m in complete]))


class ScreeningStopped(Exception):
    """Screening ended before ``search.trials`` were evaluated: the reason, for the user."""


def screen(ctx: SearchContext, study: optuna.Study,
           on_trial: Callable[[FrozenTrial], None] | None = None, deadline: float | None = None,
           say: Callable[[str], None] | None = None) -> None:
    """Run trials until ``search.trials`` are trained or scored (counting those other workers are
    running). Architectures the estimator rejects (unless the backend ``spends_infeasible``) and
    repeats are recorded but do not count;
    ``search.max_rejections`` of them in a row, or passing ``deadline`` (a ``time.time()``), stop
    screening with :class:`ScreeningStopped`.

    A candidate whose training fails inside torch (out of GPU memory, for example) is recorded as a
    FAIL trial with its ``error`` and the search goes on; ``MAX_FAILURES_IN_A_ROW`` such failures in a
    row stop it."""
    options = ctx.cfg["search"]
    target, stale_after = options["trials"], options["stale_after_s"]
    failures = rejections = 0
    while True:
        fail_stale_trials(study, stale_after, say)
        n = counts(study, spent(ctx))
        if n["EVALUATED"] + n["RUNNING"] >= target:
            return
        if deadline is not None and time.time() >= deadline:
            raise ScreeningStopped(f"search.timeout_s ({options['timeout_s']:g} s) reached after "
                                   f"{n['EVALUATED']} of {target} candidates")
        if rejections >= options["max_rejections"]:
            raise ScreeningStopped(
                f"{rejections} proposals in a row did not fit the budget or repeated an earlier one "
                f"(search.max_rejections); {n['EVALUATED']} of {target} candidates evaluated. The space "
                "barely fits the budget: loosen the constraints or shrink the space (fewer or "
                "narrower layers, a lower resolution)")
        trial = ask(study)
        try:
            values = run_trial(ctx, study, trial, racing_floor(ctx, study))
        except optuna.exceptions.UpdateFinishedTrialError:
            if not _let_go(study, trial, say):
                raise
            continue
        except RuntimeError as exc:
            message = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            trial.set_user_attr("error", message)
            study.tell(trial, state=TrialState.FAIL)
            failures += 1
            if failures >= MAX_FAILURES_IN_A_ROW:
                raise TinymlError(f"{failures} trials in a row failed to train; last: {message}") from None
            continue
        except BaseException:
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
        failures = 0
        try:
            frozen = study.tell(trial, values)
        except ValueError:  # "Cannot tell a COMPLETE trial": unless another process finished it, a bug
            if not _let_go(study, trial, say):
                raise
            continue
        evaluated = frozen.user_attrs.get("status") in spent(ctx)
        rejections = 0 if evaluated else rejections + 1
        if on_trial is not None and evaluated:
            on_trial(frozen)


def _let_go(study: optuna.Study, trial: optuna.Trial, say: Callable[[str], None] | None) -> bool:
    """Whether another process finished ``trial`` while this one ran it, saying so: two workers took
    the same queued trial (on SQLite, Optuna's pop of the queue is not atomic: optuna#4621), or it
    was failed as stale. Its result stands and this one is dropped."""
    (t,) = [t for t in study.get_trials(deepcopy=False) if t.number == trial.number]
    if not t.state.is_finished():
        return False
    if say is not None:
        say(f"trial {t.number} was finished ({t.state.name}) by another worker while this one ran it: "
            "this run's result is dropped")
    return True


def wait_for_running(study: optuna.Study, stale_after_s: float, poll_s: float = 1.0,
                     say: Callable[[str], None] | None = None) -> None:
    """Block until no trial is RUNNING (stale ones are failed on the way), saying through ``say``
    which trials it waits for and until when, at once and every ``WAIT_NOTICE_S``."""
    said = 0.0
    while True:
        fail_stale_trials(study, stale_after_s, say)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return
        if say is not None and time.time() - said >= WAIT_NOTICE_S:
            said = time.time()
            say("; ".join(_waiting_for(t, stale_after_s, said) for t in running))
        time.sleep(poll_s)


def _waiting_for(t: FrozenTrial, stale_after_s: float, now: float) -> str:
    start = t.datetime_start.timestamp() if t.datetime_start else now
    worker = t.user_attrs.get("worker")
    if worker is None:
        return (f"waiting for trial {t.number} (no worker recorded yet; failed "
                f"{max(0.0, UNCLAIMED_GRACE_S - (now - start)):.0f} s from now unless one claims it)")
    left = stale_after_s - (now - t.user_attrs.get("heartbeat", start))
    return (f"waiting for trial {t.number} of worker {worker} (failed if silent {max(0.0, left):.0f} s "
            "more: search.stale_after_s)")


def manifest_storage(url: str, run_dir: Path) -> str:
    """The storage as the manifest records it: a file inside the run folder relative to it
    (``sqlite:///$RUN_DIR/study.db``), so a copied or moved folder resumes its own study; any other
    URL as is, password hidden.

    >>> manifest_storage("sqlite:////tmp/r/study.db", Path("/tmp/r"))
    'sqlite:///$RUN_DIR/study.db'
    >>> manifest_storage("postgresql://me:pw@db/t", Path("/tmp/r"))
    'postgresql://me:***@db/t'
    """
    scheme, sep, path = url.rpartition(":///") if url.startswith("sqlite:///") else ("", "", url)
    if "://" in path:
        return redact(url)
    try:
        inside = Path(path).resolve().relative_to(run_dir.resolve())
    except ValueError:
        return redact(url)
    return f"{scheme}{sep}{RUN_DIR}/{inside.as_posix()}"


def resolve_storage(recorded: str | None, run_dir: Path) -> str:
    """The storage URL of a resumed run from its manifest (see :func:`manifest_storage`). A manifest
    written before storage was recorded relative to the run names an absolute ``.../study.db``: when
    that is not this folder's own study.db and this folder has one, the folder was copied or moved,
    and its own is the one to continue."""
    if recorded is None:
        return storage_url(None, run_dir)
    if RUN_DIR in recorded:
        return recorded.replace(RUN_DIR, str(run_dir.resolve()))
    own = run_dir / "study.db"
    if recorded.startswith("sqlite:///") and recorded.endswith("/study.db") and own.is_file() \
            and Path(recorded[len("sqlite:///"):]).resolve() != own.resolve():
        return storage_url(None, run_dir)
    return recorded
