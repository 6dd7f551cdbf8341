"""One trial: propose an architecture, estimate it, and train it only when it fits and is new.

A trial records its state as user attributes, so the study alone tells what happened and a resumed
or parallel run never redoes finished work:

- ``arch``, ``arch_key``: the architecture and its stable hash;
- ``worker``, ``claim``, ``heartbeat``: who evaluates it, since when, last sign of life;
- ``status``: ``trained`` (trained from scratch), ``scored`` (a weight-sharing backend scored it with
  inherited weights, no training), ``infeasible`` (the estimator says it does not fit, or its shapes
  collapse: never trained) or ``duplicate`` (an earlier trial's result is reused);
- ``feasible``, ``violations``, ``costs`` (estimate summary), ``metrics`` (accuracy, training time).

Budget constraints are also set with ``Trial.set_constraint`` (value > 0: violated, as a fraction of
the budget), which the constraint-aware Optuna samplers read.
"""

from __future__ import annotations

import os
import socket
import time

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..arch import Arch, build_graph
from ..errors import ArchError, EngineError
from ..estimate import estimate
from ..estimate.target import engine_options
from ..train.loop import resolve_epochs
from .config import AUTO, AUTO_FIDELITY_DIVISOR, AUTO_FIDELITY_MIN
from .context import SearchContext

WORKER = f"{socket.gethostname()}:{os.getpid()}"
POLL_S = 0.5
EVALUATED = ("trained", "scored")   # trial statuses that carry screening metrics


def spent(ctx: SearchContext) -> tuple[str, ...]:
    """The trial statuses that count toward ``search.trials``: those evaluated, and the infeasible
    ones for a backend that spends a trial on them (``Backend.spends_infeasible``)."""
    return EVALUATED + (("infeasible",) if ctx.backend.spends_infeasible else ())


def suggest_arch(trial: optuna.Trial, ctx: SearchContext) -> Arch:
    """Ask the trial's sampler for every gene and decode the genome."""
    genome = {name: trial.suggest_categorical(name, list(options)) for name, options in ctx.space.genes.items()}
    return ctx.space.decode(genome)


def assess(ctx: SearchContext, arch: Arch) -> dict:
    """The estimate summary of ``arch``: feasibility, violations, costs, constraints (> 0: violated)."""
    b = ctx.budget
    limits = {"sram": b.sram, "flash": b.flash, "macs": b.macs, "latency_ms": b.latency_ms}
    limits = {k: v for k, v in limits.items() if v is not None}
    try:
        est = estimate(build_graph(arch), ctx.profile, b, runtime=ctx.cfg["runtime"],
                       **engine_options(ctx.cfg["engine"]))
    except (ArchError, EngineError) as exc:
        return {"feasible": False, "violations": [str(exc)], "costs": None, "estimate": None,
                "constraints": {**{k: 1.0 for k in limits}, "shape": 1.0}}
    costs = {"macs": est.macs, "params": est.params, "flash": est.flash_model,
             "peak_sram": est.peak_sram, "latency_ms": est.latency_ms}
    constraints = {k: -float(est.margins[k]) / float(limit) for k, limit in limits.items()}
    return {"feasible": bool(est.fits), "violations": list(est.violations), "costs": costs,
            "estimate": est.to_dict(), "constraints": {**constraints, "shape": 0.0}}


def screening_epochs(ctx: SearchContext) -> int | None:
    """Epochs of a screening run (``fidelity.epochs``; None: the full ``train.epochs``)."""
    fidelity, train = ctx.cfg["fidelity"]["epochs"], ctx.cfg["train"]
    if fidelity != AUTO:
        return fidelity
    full = resolve_epochs(train["epochs"], len(ctx.data.y_train), train["batch_size"])
    return min(full, max(AUTO_FIDELITY_MIN, full // AUTO_FIDELITY_DIVISOR))


UNCLAIMED_GRACE_S = 30.0   # a live worker records itself within milliseconds of taking a trial


def stale_reason(t: FrozenTrial, stale_after_s: float, now: float | None = None) -> str | None:
    """Why a RUNNING trial's worker is gone, or None while it may still be working: its process no
    longer runs on this host, it never recorded its worker (cut off while the trial was being created)
    for ``UNCLAIMED_GRACE_S``, or it has been silent longer than ``stale_after_s``."""
    now = now or time.time()
    worker = t.user_attrs.get("worker")
    start = t.datetime_start.timestamp() if t.datetime_start else 0.0
    if worker is None:
        if now - start > UNCLAIMED_GRACE_S:
            return (f"trial {t.number} never recorded its worker (cut off while it was created "
                    f"{now - start:.0f} s ago)")
        return None
    host, _, pid = str(worker).rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
        return f"trial {t.number}: its worker {worker} no longer runs"
    silent = now - t.user_attrs.get("heartbeat", start)
    if silent > stale_after_s:
        return (f"trial {t.number}: its worker {worker} has been silent for {silent:.0f} s "
                f"(search.stale_after_s {stale_after_s:g})")
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _twin(study: optuna.Study, trial: optuna.Trial, key: str, stale_after_s: float) -> FrozenTrial | None:
    """An earlier evaluation of the same architecture to reuse, waiting while one is in progress
    (the earliest claim trains; others wait). None: this trial must train it."""
    me = (trial.user_attrs["claim"], trial.number)
    while True:
        twins = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
                 if t.number != trial.number and t.user_attrs.get("arch_key") == key]
        done = [t for t in twins if t.state == TrialState.COMPLETE]
        if done:
            return min(done, key=lambda t: t.number)
        ahead = [t for t in twins if "claim" in t.user_attrs and (t.user_attrs["claim"], t.number) < me
                 and stale_reason(t, stale_after_s) is None]
        if not ahead:
            return None
        time.sleep(POLL_S)


def claim(trial_id: int, storage: optuna.storages.BaseStorage) -> None:
    """Record this process as the worker of a trial it just took from the queue."""
    now = time.time()
    for name, value in {"worker": WORKER, "claim": now, "heartbeat": now}.items():
        storage.set_trial_user_attr(trial_id, name, value)


def run_trial(ctx: SearchContext, study: optuna.Study, trial: optuna.Trial,
              stop_below: float | None = None) -> list[float]:
    """Evaluate one trial and return its objective values (see the module docstring);
    ``stop_below``: the racing floor of a cross-validated screening."""
    arch = suggest_arch(trial, ctx)
    key = arch.key()
    trial.set_user_attr("arch", arch.to_dict())
    trial.set_user_attr("arch_key", key)
    verdict = assess(ctx, arch)
    for name, value in verdict["constraints"].items():
        trial.set_constraint(name, value)
    trial.set_user_attr("feasible", verdict["feasible"])
    trial.set_user_attr("violations", verdict["violations"])
    trial.set_user_attr("costs", verdict["costs"])
    costs = verdict["costs"] or {}
    if not verdict["feasible"]:
        trial.set_user_attr("status", "infeasible")
        return objective_values(ctx, {"val_accuracy": 0.0}, costs)
    twin = _twin(study, trial, key, ctx.cfg["search"]["stale_after_s"])
    if twin is not None:
        trial.set_user_attr("status", "duplicate")
        trial.set_user_attr("duplicate_of", twin.user_attrs.get("duplicate_of", twin.number))
        trial.set_user_attr("metrics", twin.user_attrs.get("metrics"))
        return list(twin.values)
    _, metrics = ctx.backend.evaluate(ctx, arch, screening_epochs(ctx),
                                      lambda _record: trial.set_user_attr("heartbeat", time.time()),
                                      stop_below=stop_below)
    trial.set_user_attr("metrics", metrics)
    trial.set_user_attr("status", ctx.backend.evaluated_status)
    return objective_values(ctx, metrics, costs)


def objective_values(ctx: SearchContext, metrics: dict, costs: dict) -> list[float]:
    """The backend's objectives from a trial's metrics and costs (0 for a cost never estimated)."""
    merged = {**costs, **metrics}
    return [float(merged.get(name) or 0.0) for name, _ in ctx.backend.objectives()]
