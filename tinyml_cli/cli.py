"""The `tinyml` command: click commands only; each parses, loads config, calls a core function and
renders. Exit codes: 0 success, 1 runtime failure, 2 bad usage or config, 3 does not fit (--check)."""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable

import click

from . import __version__
from .console import Ui, emit_json
from .errors import EXIT_RUNTIME, EXIT_USAGE, TinymlError
from .units import format_bytes


def output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds ``--json``, ``-q`` and ``-v``; the command receives ``ui`` and ``as_json``."""
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
    @click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
    @click.option("-v", "--verbose", is_flag=True, help="More detail on stderr.")
    @functools.wraps(command)
    def wrapper(*args: Any, as_json: bool, quiet: bool, verbose: bool, **kwargs: Any) -> Any:
        ui = Ui(verbosity=-1 if quiet else (1 if verbose else 0))
        if verbose:
            os.environ.setdefault("TINYML_DEBUG", "1")
        return command(*args, ui=ui, as_json=as_json, **kwargs)
    return wrapper


# The options of the command spine, declared once; a command names those it takes (help may be
# specialised). Every command also gets --json, -q and -v.
SPINE = {
    "mcu": lambda help: click.option("--mcu", "mcu", default=None, metavar="NAME|YAML", help=help),
    "seed": lambda help: click.option("--seed", "seed", type=int, default=None, help=help),
    "out": lambda help: click.option("--out", "out", type=click.Path(), default=None, help=help),
}
SPINE_HELP = {
    "mcu": "Built-in MCU name or a profile YAML (default: the config's mcu, else STM32F412).",
    "seed": "Seed for every random choice (overrides the config's).",
    "out": "Run folder to create; must not exist or be empty (default: runs/COMMAND-NAME-TIME).",
}


def spine_options(*names: str, **help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--mcu/--seed/--out`` (those in ``names``, with ``help`` overriding their text) and
    ``--json/-q/-v``; the command receives ``mcu``, ``seed``, ``out``, ``ui`` and ``as_json``."""
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for name in reversed(names):
            command = SPINE[name](help.get(name, SPINE_HELP[name]))(command)
        return output_options(command)
    return decorate


def split_config_and_overrides(config: str | None, overrides: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """``tinyml CMD a.b=1`` has no config file: a first positional with '=' is an override."""
    if config is not None and "=" in config and not os.path.exists(config):
        return None, [config, *overrides]
    return config, list(overrides)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tinyml")
def cli() -> None:
    """tinyml: design neural networks for microcontrollers and keep them accurate after deployment."""


@cli.command("mcus")
@output_options
def mcus_command(ui: Ui, as_json: bool) -> None:
    """List the built-in MCU profiles."""
    from .mcu import list_profiles

    profiles = list_profiles()
    if as_json:
        emit_json([p.to_dict() for p in profiles])
        return
    rows = [[p.name, p.core, f"{p.clock_mhz:g} MHz", format_bytes(p.sram), format_bytes(p.flash),
             format_bytes(p.sram_for_model), format_bytes(p.flash_for_model)] for p in profiles]
    ui.table("MCU profiles", ["name", "core", "clock", "SRAM", "flash", "SRAM for model",
                              "flash for model"], rows)


# ---- estimate ---------------------------------------------------------------------------------------

@cli.command("estimate")
@click.argument("target")
@click.argument("overrides", nargs=-1)
@click.option("--config", "config", default=None, help="YAML with mcu and constraints.")
@click.option("--check", is_flag=True, help="Exit with code 3 when the model does not fit.")
@click.option("--runtime", type=click.Choice(["tflm", "c"]), default=None,
              help="What runs the model: tflm (TFLite Micro) or c (the tinyml C engine); as runtime=...")
@click.option("--patches", type=click.IntRange(min=0), default=None,
              help="Runtime c: the first layers patch by patch over N x N patches; as engine.patches=N.")
@spine_options("mcu")
def estimate_command(target: str, overrides: tuple[str, ...], mcu: str | None, config: str | None,
                     check: bool, runtime: str | None, patches: int | None, ui: Ui, as_json: bool) -> None:
    """Estimate MACs, flash, peak SRAM and latency of TARGET on an MCU.

    TARGET is an arch YAML, a candidate folder (with arch.yaml) or a .tflite file. Constraints
    tighten the profile: `sram=16KB flash=64KB macs=30M latency_ms=50` (or constraints.sram=...).
    """
    from .config import COMMON_SCHEMA, load_config
    from .errors import DoesNotFitError
    from .estimate.report import render
    from .estimate.target import constraint_overrides, estimate_target
    from .mcu import resolve

    config, overrides_list = split_config_and_overrides(config, overrides)
    overrides_list = (list(overrides_list) + [f"runtime={runtime}"] * (runtime is not None)
                      + [f"engine.patches={patches}"] * (patches is not None))
    cfg = load_config(config, COMMON_SCHEMA, constraint_overrides(overrides_list))
    est = estimate_target(target, *resolve(cfg, mcu), cfg["runtime"], cfg["engine"])
    if as_json:
        emit_json(est.to_dict())
    else:
        render(est, ui)
    if check and not est.fits:
        raise DoesNotFitError(f"{target}: does not fit {est.mcu}: {'; '.join(est.violations)}")


# ---- search -----------------------------------------------------------------------------------------

@cli.command("search")
@click.argument("config", required=False)
@click.argument("overrides", nargs=-1)
@click.option("--storage", help="Optuna storage: a SQLAlchemy URL (postgresql://..., sqlite:///...) or a "
              "journal file path (*.log); default: study.db in the run directory.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Local worker processes sharing the study.")
@click.option("--resume", "resume", metavar="RUN_DIR", help="Continue an interrupted search run.")
@spine_options("mcu", "seed", "out")
def search_command(config: str | None, overrides: tuple[str, ...], mcu: str | None, out: str | None,
                   seed: int | None, storage: str | None, workers: int, resume: str | None, ui: Ui,
                   as_json: bool) -> None:
    """Search architectures that fit an MCU: screen, train the best, rank them."""
    from .search import prepare_run, run_search

    config, extra = split_config_and_overrides(config, overrides)
    run = prepare_run(config, extra, mcu=mcu, seed=seed, out=out, resume=resume, storage=storage)
    summary = run_search(run, workers, ui, sys.argv)
    if as_json:
        emit_json(summary)


# ---- export -----------------------------------------------------------------------------------------


@cli.command("export")
@click.argument("target", type=click.Path())
@click.argument("overrides", nargs=-1)
@click.option("--weights", type=click.Path(), help="weights.pt of an ARCH.yaml target.")
@click.option("--data", "dataset", help="Dataset to calibrate and verify on, as data.name "
              "(default: the run's).")
@click.option("--rank", type=int, help="Export the candidate of this rank (1: the best).")
@click.option("--top", type=int, help="Export the K best candidates.")
@click.option("--profile", "run_profile", is_flag=True,
              help="Then run each export on an emulated Cortex-M of the config's MCU (tinyml profile; "
              "with --runtime c the C engine too).")
@click.option("--runtime", type=click.Choice(["tflm", "c"]), default=None,
              help="c: also write the tinyml C engine (engine/), checked against TFLM-host; as "
              "export.runtime (default: the search run's runtime, else tflm).")
@spine_options("mcu", "seed", "out", mcu="MCU the export's estimate and fits verdict are for (and --profile "
               "emulates): a built-in name or a profile YAML (default: the run's mcu, else STM32F412).",
               out="Export folder; must not exist or be empty (default: TARGET/export).")
def export_command(target: str, overrides: tuple[str, ...], weights: str | None, dataset: str | None,
                   rank: int | None, top: int | None, run_profile: bool, runtime: str | None,
                   mcu: str | None, seed: int | None, out: str | None, ui: Ui, as_json: bool) -> None:
    """Quantize to int8, write .tflite and C sources, verify in LiteRT and TFLM.

    TARGET is a search run directory (its candidates, best first) or an ARCH.yaml with --weights.
    Overrides such as export.qat_epochs=3 or export.calibration_samples=200 follow it.
    """
    from .config import read_yaml
    from .export.command import run_export
    from .mcu import resolve
    from .profile.report import render
    from .profile.target import profile_target

    overrides = ((f"export.runtime={runtime}",) * (runtime is not None) + (f"mcu={mcu}",) * (mcu is not None)
                 + (f"seed={seed}",) * (seed is not None) + overrides)
    out_dir, results = run_export(target, list(overrides), ui, weights=weights, dataset=dataset,
                                  rank=rank, top=top, out=out, argv=sys.argv)
    exports = [{"dir": r.out_dir, "files": r.files, "quantization": r.quantization, "verify": r.verify,
                "estimate": r.estimate, **({"engine": r.engine} if r.engine is not None else {})}
               for r in results]
    if run_profile:
        cfg = read_yaml(out_dir / "config.yaml")
        profile, _ = resolve(cfg)
        for entry in exports:
            ui.info(f"profiling {entry['dir']} on an emulated {profile.core}")
            entry["profile"], _ = profile_target(entry["dir"], profile, "cmsis_nn", None, 4, cfg["seed"], 600.0)
            if not as_json:
                render(entry["profile"], ui)
            if "engine" in entry:                     # export.runtime c: the engine on the same core
                from .profile.engine import profile_engine_target

                entry["engine_profile"], _ = profile_engine_target(entry["dir"], profile, None, 4, cfg["seed"], 600.0)
                if not as_json:
                    render(entry["engine_profile"], ui)
    if as_json:
        emit_json({"out_dir": out_dir, "exports": exports})
    else:
        ui.info(f"export written to {out_dir}")


# ---- prune ------------------------------------------------------------------------------------------

@cli.command("prune")
@click.argument("run_dir", type=click.Path())
@click.argument("config", required=False)
@click.argument("overrides", nargs=-1)
@click.option("--candidate", type=int, help="Prune candidates/NNN (default: the run's best-ranked).")
@click.option("--mcu", help="MCU profile name or profile YAML (default: the run's).")
@click.option("--seed", type=int, help="Seed of the fine-tuning (default: the run's).")
@click.option("--out", type=click.Path(), help="Run directory to create (default: runs/prune-NAME-TIMESTAMP).")
@output_options
def prune_command(run_dir: str, config: str | None, overrides: tuple[str, ...], candidate: int | None,
                  mcu: str | None, seed: int | None, out: str | None, ui: Ui, as_json: bool) -> None:
    """Structured (channel) pruning of a trained candidate of RUN_DIR, with fine-tuning.

    One candidate per level (prune.levels=[0.25,0.5,0.75]: fractions of the MACs removed), or until
    a budget is met (sram=16KB flash=64KB macs=1M latency_ms=5); `tinyml export` takes the result.
    """
    from .prune import run_prune

    config, extra = split_config_and_overrides(config, overrides)
    extra += [f"mcu={mcu}"] * (mcu is not None) + [f"seed={seed}"] * (seed is not None)
    out_dir, rows = run_prune(run_dir, extra, ui, config, candidate, out, sys.argv)
    if as_json:
        emit_json({"out_dir": out_dir, "rows": rows})
    else:
        ui.info(f"pruned candidates and pruning.{{csv,md,png}} written to {out_dir}")


# ---- profile ----------------------------------------------------------------------------------------

@cli.command("profile")
@click.argument("model")
@click.option("--kernels", type=click.Choice(["cmsis_nn", "reference"]), default="cmsis_nn", show_default=True,
              help="TFLM's CMSIS-NN kernels or its reference kernels.")
@click.option("--runtime", type=click.Choice(["tflm", "c"]), default="tflm", show_default=True,
              help="tflm: the .tflite with TFLM; c: the export's C engine (engine/, from export --runtime c).")
@click.option("--inputs", "inputs_file", type=click.Path(), help="Input samples (.npy, or .npz with x); "
              "default: the export's saved test samples, else random ones.")
@click.option("--samples", type=click.IntRange(min=1, max=64), default=4, show_default=True,
              help="How many samples to run.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=600, show_default=True,
              help="Seconds the emulated run may take.")
@spine_options("mcu", "seed", "out", mcu="Built-in MCU name or a profile YAML (its core picks the emulated "
               "board; default STM32F412).", seed="Seed of random samples (default 0).",
               out="Report file (default: beside the model).")
def profile_command(model: str, kernels: str, runtime: str, inputs_file: str | None, samples: int, timeout_s: float,
                    mcu: str | None, seed: int | None, out: str | None, ui: Ui, as_json: bool) -> None:
    """Build MODEL with TFLM for the MCU's Cortex-M core, run it in QEMU, and measure it.

    MODEL is a .tflite file or an export folder. Reports the smallest arena TFLM accepts, flash and
    RAM by part, the stack, instructions per inference and per operator, and whether the outputs
    equal LiteRT's and TFLM-host's; saved beside the model. With --runtime c, the export's C engine
    instead (no TFLM), its outputs also against its host build.
    """
    from .mcu import resolve
    from .profile.report import render
    from .profile.target import profile_target

    profile, _ = resolve(None, mcu)
    seed = 0 if seed is None else seed
    if runtime == "c":
        from .profile.engine import profile_engine_target

        ui.info(f"building {model}'s C engine for {profile.core} and running it in QEMU")
        report, path = profile_engine_target(model, profile, inputs_file, samples, seed, timeout_s, out)
    else:
        ui.info(f"building {model} with TFLM ({kernels}) for {profile.core} and running it in QEMU")
        report, path = profile_target(model, profile, kernels, inputs_file, samples, seed, timeout_s, out)
    if as_json:
        emit_json(report)
    else:
        render(report, ui)
        ui.info(f"report written to {path}")


# ---- simulate-drift and adapt ----------------------------------------------------------------------

def _drift_config(config: str | None, overrides: tuple[str, ...], mcu: str | None, seed: int | None) -> dict:
    from .adapt.experiment import load_drift_config

    path, extra = split_config_and_overrides(config, overrides)
    extra += [f"mcu={mcu}"] * (mcu is not None) + [f"seed={seed}"] * (seed is not None)
    return load_drift_config(path, extra)


def _source(config: str | None, overrides: tuple[str, ...]) -> str | None:
    return split_config_and_overrides(config, overrides)[0]


def _drift_render(ui: Ui, data: dict, as_json: bool) -> None:
    if as_json:
        emit_json(data)
        return
    if "regression" in data:  # the esn method's regression mode: errors, not accuracies
        ui.table("regression", ["model", "RMSE", "RMSE before", "final RMSE", "peak", "recovery", "RAM", "samples/s"],
                 [[r["model"], f"{r['rmse']:.3f}", f"{r['before']:.3f}", f"{r['final']:.3f}",
                   f"{r['drifts'][0]['peak']:.3f}" if r["drifts"] and r["drifts"][0]["peak"] is not None else "-",
                   r["drifts"][0]["recovery"] if r["drifts"] and r["drifts"][0]["recovery"] is not None else "-",
                   format_bytes(r["cost"]["ram"]), f"{r['samples_per_second']:,.0f}"] for r in data["regression"]])
        return
    if "methods" not in data:  # the esn method's anomaly mode: flags, scored when labelled
        scored = [("all", data["metrics"])] + sorted((data["per_class"] or {}).items()) if data["metrics"] else []
        if scored:
            ui.table("anomalies", ["anomalies", "precision", "recall", "F1", "false alarms / 1,000"],
                     [[k, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                       f"{r['false_alarms_per_1000']:.2f}"] for k, r in scored])
        return
    rows = []
    for r in data["methods"]:
        first = r["drifts"][0] if r["drifts"] else {}
        rows.append([r["method"], f"{100 * r['before']:.1f}", f"{100 * r['final']:.1f}",
                     first.get("recovery", "-") if first.get("recovery") is not None else "-",
                     first.get("detection_delay") if first.get("detection_delay") is not None else "-",
                     r["false_alarms"], format_bytes(r["cost"]["ram"]), f"{r['samples_per_second']:,.0f}"])
    ui.table("drift", ["method", "before %", "final %", "recovery", "detection delay", "false alarms",
                       "RAM", "samples/s"], rows)


def _drift_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.argument("config", required=False),
        click.argument("overrides", nargs=-1),
        click.option("--model", help="Candidate folder or search run directory (default: train a small model)."),
        click.option("--check", is_flag=True, help="Exit 3 if a method does not fit the MCU."),
    ]):
        command = option(command)
    return command


@cli.command("simulate-drift")
@_drift_options
@spine_options("mcu", "seed", "out")
def simulate_drift_command(config: str | None, overrides: tuple[str, ...], model: str | None, check: bool,
                           mcu: str | None, seed: int | None, out: str | None, ui: Ui, as_json: bool) -> None:
    """Run every configured on-device learning method on one drifting stream and report."""
    from .adapt.commands import simulate_drift

    cfg = _drift_config(config, overrides, mcu, seed)
    _drift_render(ui, simulate_drift(cfg, model, out, ui, check, _source(config, overrides)), as_json)


@cli.command("adapt")
@_drift_options
@click.option("--method", required=True, help="On-device learning method (none, tinyol, tml-cd, tinytl, finetune-last).")
@click.option("--stream", "stream_file", help="A stream .npz (x, y, optional positions, label_time, ref_*); "
              "in the esn method's anomaly or regression mode a time-series .csv/.tsv/.txt/.npz.")
@spine_options("mcu", "seed", "out")
def adapt_command(config: str | None, overrides: tuple[str, ...], model: str | None, check: bool, method: str,
                  stream_file: str | None, mcu: str | None, seed: int | None, out: str | None, ui: Ui,
                  as_json: bool) -> None:
    """Run one method on a stream; save its adapted state and model and report."""
    from .adapt.commands import adapt

    cfg = _drift_config(config, overrides, mcu, seed)
    _drift_render(ui, adapt(cfg, method, model, stream_file, out, ui, check, _source(config, overrides)),
                  as_json)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one line and an exit code for every user mistake, never a traceback."""
    import signal

    from .runs import raise_interrupt

    ui = Ui()
    previous = signal.signal(signal.SIGTERM, raise_interrupt)  # `kill` stops a command as Ctrl-C does
    try:
        rc = cli.main(args=argv, prog_name="tinyml", standalone_mode=False)
    except click.exceptions.Exit as exc:
        rc = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        rc = exc.exit_code
    except click.exceptions.Abort:
        ui.error("aborted")
        rc = 130
    except TinymlError as exc:
        ui.error(str(exc))
        rc = exc.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted")
        rc = 130
    except Exception as exc:  # a bug, not a user mistake: say so in one line unless debugging
        if os.environ.get("TINYML_DEBUG"):
            raise
        ui.error(f"internal error: {type(exc).__name__}: {exc} (set TINYML_DEBUG=1 or use -v for the traceback)")
        rc = EXIT_RUNTIME
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(rc if isinstance(rc, int) else 0)


__all__ = ["EXIT_USAGE", "cli", "main", "output_options", "spine_options", "split_config_and_overrides"]
