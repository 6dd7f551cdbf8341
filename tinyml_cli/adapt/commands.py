"""What ``tinyml simulate-drift`` and ``tinyml adapt`` do, as plain functions over a run directory."""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ..console import Ui
from ..errors import ConfigError, DoesNotFitError, shown
from ..report.anomaly_report import write_anomaly_report, write_regression_report
from ..report.drift_report import write_report
from ..runs import atomic_write_bytes, check_out, run_folder
from ..train.checkpoint import save_candidate
from . import METHODS
from .experiment import Experiment, adapted_candidate, run_experiment


@contextmanager
def _run(command: str, cfg: dict, out: str | None, ui: Ui, source: str | None = None,
         **kwargs) -> Iterator[tuple[Path, Experiment, dict]]:
    """The experiment run, then a new run directory with it reported; the manifest records how the
    block that saves the rest ends. The experiment runs first, so a model, stream or data file it
    cannot use leaves no failed folder behind (its messages still reach the folder's log)."""
    check_out(out)
    exp = run_experiment(cfg, progress=ui.info, **kwargs)
    with run_folder(command, cfg["name"], cfg["seed"], out=out, config=cfg, source=source,
                    log=ui.attach_log) as (run_dir, _):
        yield run_dir, exp, write_report(exp, run_dir)


def _check_fit(data: dict, check: bool, ui: Ui) -> None:
    misfits = [r["method"] for r in data["methods"] if not all(r["fits"].values())]
    for name in misfits:
        ui.warn(f"{name} does not fit the MCU budget ({data['mcu']['name']})")
    if check and misfits:
        raise DoesNotFitError(f"{', '.join(misfits)}: do not fit {data['mcu']['name']} (see report.md)")


def regression_mode(command: str, cfg: dict, series_file: str | None, out: str | None, ui: Ui, check: bool,
                    source: str | None = None) -> dict:
    """The esn method's regression mode (``regression.source`` sensors or file): errors and their
    report. The stream is run first, so a setting it cannot use leaves no failed folder behind."""
    from .esn.regress import regress
    check_out(out)
    run = regress(cfg, source or "config", series_file)
    with run_folder(command, cfg["name"], cfg["seed"], out=out, config=cfg, source=source,
                    log=ui.attach_log) as (run_dir, _):
        write_regression_report(run.data, run.y, run.errors, run_dir)
    ui.info(f"report: {run_dir / 'report.md'}")
    misfits = [r["model"] for r in run.data["regression"] if not all(r["fits"].values())]
    for name in misfits:
        ui.warn(f"{name} does not fit the MCU budget ({cfg['mcu']})")
    if check and misfits:
        raise DoesNotFitError(f"{', '.join(misfits)}: do not fit {cfg['mcu']} (see report.md)")
    return {"run_dir": str(run_dir), **run.data}


def anomaly_mode(command: str, cfg: dict, series_file: str | None, out: str | None, ui: Ui, check: bool,
                 source: str | None = None) -> dict:
    """The esn method's anomaly mode (``anomaly.source`` sensors or file): flags and their report.
    The stream is read and scored first, so a file it cannot use leaves no failed folder behind."""
    from .esn.detect import detect
    check_out(out)
    found = detect(cfg, series_file, source or "config")
    with run_folder(command, cfg["name"], cfg["seed"], out=out, config=cfg, source=source,
                    log=ui.attach_log) as (run_dir, _):
        write_anomaly_report(found.data, found.x, found.flags, found.events, run_dir)
    m, events = found.data["metrics"], found.data["series"].get("events", {})
    if events.get("in_warmup"):
        ui.info(f"{events['in_warmup']} labelled events inside the warm-up, not scored")
    ui.info(f"esn anomaly: {found.data['flagged']} samples flagged" +
            (f", F1 {m['f1']:.3f}, recall {m['recall']:.3f}, precision {m['precision']:.3f}" if m else " (no labels)"))
    ui.info(f"report: {run_dir / 'report.md'}")
    if not all(found.data["fits"].values()):
        ui.warn(f"esn does not fit the MCU budget ({cfg['mcu']})")
        if check:
            raise DoesNotFitError(f"esn: does not fit {cfg['mcu']} (see report.md)")
    return {"run_dir": str(run_dir), **found.data}


def simulate_drift(cfg: dict, model: str | None, out: str | None, ui: Ui, check: bool = False,
                   source: str | None = None) -> dict:
    """Run every configured method on one stream; write the stream and the report in a run directory
    (``source``: the user's config file, for the manifest)."""
    if cfg["anomaly"]["source"] != "none":
        return anomaly_mode("simulate-drift", cfg, None, out, ui, check, source)
    if cfg["regression"]["source"] != "none":
        return regression_mode("simulate-drift", cfg, None, out, ui, check, source)
    with _run("simulate-drift", cfg, out, ui, source, model_path=model) as (run_dir, exp, data):
        exp.stream.save(run_dir / "stream.npz")
    ui.info(f"report: {run_dir / 'report.md'}")
    _check_fit(data, check, ui)
    return {"run_dir": str(run_dir), **data}


def adapt(cfg: dict, method: str, model: str | None, stream_file: str | None, out: str | None, ui: Ui,
          check: bool = False, source: str | None = None) -> dict:
    """Run one method; save its adapted state (``state.npz``), the adapted network as a candidate
    folder (``adapted/``, exportable) when the method changes weights, and the report."""
    if method not in METHODS:
        raise ConfigError(f"--method: unknown method {shown(method)}; known: {', '.join(METHODS)}")
    if cfg["anomaly"]["source"] != "none":
        if method != "esn":
            raise ConfigError(f"--method: anomaly mode (anomaly.source: {cfg['anomaly']['source']}) runs esn only, "
                              f"got {shown(method)}")
        return anomaly_mode("adapt", cfg, stream_file, out, ui, check, source)
    if cfg["regression"]["source"] != "none":
        if method != "esn":
            raise ConfigError(f"--method: regression mode (regression.source: {cfg['regression']['source']}) runs "
                              f"esn only (tinyol is a classifier head: it cannot regress), got {shown(method)}")
        return regression_mode("adapt", cfg, stream_file, out, ui, check, source)
    with _run("adapt", cfg, out, ui, source, model_path=model, stream_file=stream_file,
              only=method) as (run_dir, exp, data):
        run = exp.runs[0]
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **run.method.state())
        atomic_write_bytes(run_dir / "state.npz", buffer.getvalue())
        adapted = adapted_candidate(run.method, exp.deployed)
        if adapted is not None:
            arch, module = adapted
            save_candidate(run_dir / "adapted", arch, module,
                           {"method": run.key, "stream_accuracy": run.metrics["accuracy"],
                            "final_accuracy": run.metrics["final"], "from": exp.deployed.origin})
            data["adapted"] = str(run_dir / "adapted")
            ui.info(f"adapted model: {run_dir / 'adapted'}")
    ui.info(f"report: {run_dir / 'report.md'}")
    _check_fit(data, check, ui)
    return {"run_dir": str(run_dir), **data}
