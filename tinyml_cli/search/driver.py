"""``tinyml search``: resolve the config and run directory, screen architectures on one Optuna study
(in this process or in N local worker processes), train the top-k in full, and write the outputs."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..config import load_config
from ..console import Ui
from ..errors import ConfigError, SaveError, TinymlError
from ..runs import check_out, create_run_dir, open_run_dir, raise_interrupt, run_folder, start_manifest, write_yaml
from ..arch import SPACES
from .backends import BACKENDS
from .config import SEARCH_SCHEMA
from .context import SearchContext, make_context
from .final import screened, train_top_k
from .leaderboard import BASELINES, describe_counts, leaderboard_rows, table, trial_counts, write_leaderboard
from .plot import plot_pareto
from .baseline import baselines
from .study import (HIDDEN, ScreeningStopped, counts, fail_stale_trials, full_disk, manifest_storage, open_study, redact,
                    require_study, resolve_storage, screen, storage_url, wait_for_running)
from .trial import spent


@dataclass(frozen=True, eq=False)
class PreparedRun:
    """A search ready to run: the resolved config, its run directory, the storage URL and the
    context built from the config (None: :func:`run_search` builds it, as for a resumed run)."""

    cfg: dict
    run_dir: Path
    url: str
    ctx: SearchContext | None = None

    def context(self) -> SearchContext:
        """The context built with the config, or a new one when there is none for this config."""
        if self.ctx is not None and self.ctx.cfg == self.cfg:
            return self.ctx
        return make_context(self.cfg, str(self.run_dir / "config.yaml"))


def prepare_run(config: str | None, overrides: list[str], *, mcu: str | None = None, seed: int | None = None,
                out: str | None = None, resume: str | None = None, storage: str | None = None) -> PreparedRun:
    """The resolved config, the run directory (new, or the one resumed) and the storage URL; for a
    new run also the context, built while checking the config before the run directory exists."""
    if resume is not None:
        if config is not None or overrides or mcu or seed is not None or out:
            raise ConfigError("--resume continues a run with its own config.yaml: drop CONFIG, --mcu, "
                              "--seed, --out and overrides")
        run_dir = Path(resume)
        manifest = open_run_dir(run_dir, "search")
        cfg = load_config(run_dir / "config.yaml", SEARCH_SCHEMA)
        url = storage or resolve_storage(manifest.get("storage"), run_dir)
        if HIDDEN in url:
            raise ConfigError(f"{run_dir}: the study's storage URL has a password; give it again with --storage")
        require_study(cfg, url, run_dir)
        return PreparedRun(cfg, run_dir, url)
    extra = [f"mcu={mcu}"] if mcu else []
    extra += [f"seed={seed}"] if seed is not None else []
    cfg = load_config(config, SEARCH_SCHEMA, [*overrides, *extra])
    source = config or "config"
    BACKENDS[cfg["search"]["backend"]](cfg["search"]["options"], source)
    SPACES[cfg["space"]["name"]].check_options(cfg["space"], source)
    storage_url(storage, Path("."))  # a malformed --storage fails before any run directory is made
    check_out(out, resumable=True)
    # Data, space, MCU and folds are checked before the folder exists, so a mistake in them names the
    # user's file and leaves no failed run folder behind; run_search uses this context.
    ctx = make_context(cfg, source)
    run_dir = create_run_dir("search", cfg["name"], out, resumable=True)
    try:
        write_yaml(run_dir / "config.yaml", cfg)
        start_manifest(run_dir, "search", cfg["seed"], status="created", source=config)
    except SaveError as exc:  # a disk that takes not even these: leave nothing behind
        shutil.rmtree(run_dir, ignore_errors=True)
        raise SaveError(f"{exc}; run {run_dir} not kept") from None
    return PreparedRun(cfg, run_dir, storage_url(storage, run_dir), ctx)


def _best_status(study: Any) -> str:
    best = screened(study)
    return f"best {100 * best[0].user_attrs['metrics']['val_accuracy']:.1f}%" if best else ""


def _worker_main(cfg: dict, url: str, index: int, threads: int, deadline: float | None) -> None:
    """A worker process: screen trials on the shared study until the trial count is reached."""
    import torch

    signal.signal(signal.SIGTERM, raise_interrupt)
    torch.set_num_threads(threads)
    try:
        ctx = make_context(cfg)
        ctx.backend.prepare(ctx)                       # before the sampler is made: it may need the state
        study = open_study(ctx, url, worker=index)
        screen(ctx, study, deadline=deadline,
               say=lambda text: print(f"worker {index}: {text}", file=sys.stderr, flush=True))
    except ScreeningStopped as exc:
        print(f"worker {index}: screening stopped: {exc}", file=sys.stderr)
    except TinymlError as exc:
        print(f"error: worker {index}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


def _run_workers(ctx: SearchContext, study: Any, url: str, workers: int,
                 advance: Callable[..., None], shown: list[int], deadline: float | None) -> None:
    threads = ctx.cfg["train"]["threads"] or max(1, (os.cpu_count() or 1) // workers)
    mp = multiprocessing.get_context("spawn")
    procs = [mp.Process(target=_worker_main, args=(ctx.cfg, url, i + 1, threads, deadline), daemon=False)
             for i in range(workers)]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
            done = counts(study, spent(ctx))["EVALUATED"]
            if done > shown[0]:
                advance(done - shown[0], status=_best_status(study))
                shown[0] = done
    except BaseException:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
        raise
    failed = [f"worker {i + 1} exited with code {p.exitcode}" for i, p in enumerate(procs) if p.exitcode]
    if failed:
        raise TinymlError("; ".join(failed))


def run_search(run: PreparedRun, workers: int = 1, ui: Ui | None = None, argv: list[str] | None = None) -> dict:
    """Run (or resume) the search ``run`` into its run directory; return the leaderboard summary."""
    cfg, run_dir, url = run.cfg, run.run_dir, run.url
    ui = ui or Ui(verbosity=-1)
    argv = [redact(a) for a in (argv if argv is not None else sys.argv)]
    with run_folder("search", cfg["name"], cfg["seed"], resume=run_dir, argv=argv, log=ui.attach_log,
                    manifest={"storage": manifest_storage(url, run_dir)}) as (_, outcome):
        try:
            summary = _search(run, workers, ui)
        except Exception as exc:
            if not isinstance(exc, TinymlError):
                full_disk(exc, url)
            raise
        outcome["best"] = summary["best"]
    return summary


def _search(run: PreparedRun, workers: int, ui: Ui) -> dict:
    cfg, run_dir, url = run.cfg, run.run_dir, run.url
    ui.info(f"search: preparing data {cfg['data']['name']!r} and the {cfg['search']['backend']} backend")
    ctx = run.context()
    ctx.backend.prepare(ctx)                           # before the sampler is made: it may need the state
    study = open_study(ctx, url)
    stale_after = cfg["search"]["stale_after_s"]
    say = lambda text: ui.info(f"search: {text}")  # noqa: E731
    if fail_stale_trials(study, stale_after, say):
        ui.info("search: finished trials are kept")
    target = cfg["search"]["trials"]
    ranking = (f"{len(ctx.folds)}-fold cross-validation on train + validation" if ctx.folds else
               f"the validation split ({len(ctx.data.y_val)} samples)")
    ui.info(f"search: {run_dir} | study {study.study_name} | {target} trials ranked by {ranking}, "
            f"{cfg['search']['top_k']} trained in full | input normalization {ctx.space.normalize}")
    timeout = cfg["search"]["timeout_s"]
    deadline = None if timeout is None else time.time() + timeout
    with ui.progress(f"search ({ctx.backend.name})", total=target) as advance:
        shown = [counts(study, spent(ctx))["EVALUATED"]]
        if shown[0]:
            advance(shown[0], status=_best_status(study))
        if workers > 1:
            _run_workers(ctx, study, url, workers, advance, shown, deadline)

        def on_trial(trial: Any) -> None:
            shown[0] += 1
            advance(1, status=_best_status(study))

        try:
            while counts(study, spent(ctx))["EVALUATED"] < target:
                screen(ctx, study, on_trial, deadline, say)
                wait_for_running(study, stale_after, say=say)
        except ScreeningStopped as exc:
            wait_for_running(study, stale_after, say=say)
            ui.warn(f"search: screening stopped: {exc}")
    if cfg["search"]["baseline"] and BASELINES not in study.user_attrs:
        ui.info("search: fitting the reference classifiers (logistic regression, RBF SVM)")
        study.set_user_attr(BASELINES, baselines(ctx.data, ctx.folds, ctx.seed))
    if cfg["search"]["top_k"]:
        k = min(cfg["search"]["top_k"], len(screened(study)))
        with ui.progress("full training (top-k)", total=k) as advance:
            train_top_k(ctx, study, run_dir,
                        lambda rank, m: advance(1, status=f"#{rank}: {100 * m['val_accuracy']:.1f}%"))
    return _outputs(ctx, study, run_dir, url, ui)


def _outputs(ctx: SearchContext, study: Any, run_dir: Path, url: str, ui: Ui) -> dict:
    rows = leaderboard_rows(study)
    b = ctx.budget
    summary = {
        "name": ctx.cfg["name"], "run_dir": str(run_dir), "study": study.study_name, "storage": redact(url),
        "backend": ctx.backend.name, "mcu": ctx.profile.name,
        "budget": {"sram": b.sram, "flash": b.flash, "macs": b.macs, "latency_ms": b.latency_ms},
        "ranking": {"cv_folds": len(ctx.folds) if ctx.folds else 0, "validation_samples": len(ctx.data.y_val),
                    "normalize": ctx.space.normalize},
        "trials": trial_counts(study), "best": rows[0] if rows else None,
        "pareto": [r["trial"] for r in rows if r["pareto"]], "leaderboard": rows,
        "baselines": study.user_attrs.get(BASELINES, []),
    }
    write_leaderboard(run_dir, summary)
    plot_pareto(study, rows, b, run_dir / "pareto.png")
    columns, cells = table(rows, limit=10, baselines=summary["baselines"])
    ui.table(f"Leaderboard ({ctx.backend.name}, {ctx.profile.name})", columns, cells)
    ui.info(f"{describe_counts(summary['trials'])}. Outputs in {run_dir}")
    if not rows:
        ui.warn("no architecture fits the budget: loosen the constraints or shrink the search space")
    return summary
