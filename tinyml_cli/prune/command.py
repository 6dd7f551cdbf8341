"""What `tinyml prune` does, apart from parsing: pick a trained candidate of a run, plan a pruning
ratio per level (or the least that meets a budget) on the estimator, then per level cut the lowest
ranked channels of the previous level's model, fine-tune it through train/loop and write it as a
candidate folder that `tinyml export` takes; then the report."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..arch import build_graph
from ..arch.widths import group_widths
from ..config import COMMON_SCHEMA, Field, apply_overrides, choice, integer, list_of, number, optional, \
    read_yaml, validate
from ..console import Ui
from ..data import DATA_SCHEMA, load_dataset, resize_dataset
from ..errors import ConfigError, DoesNotFitError, InputFileError
from ..estimate import Estimate, estimate
from ..estimate.target import constraint_overrides
from ..mcu import budget_for, load_profile
from ..runs import create_run_dir, record_outcome, start_manifest, write_json, write_yaml
from ..train.builder import GraphModule
from ..train.checkpoint import load_candidate, ranked_candidates, save_candidate
from ..train.loop import TRAIN_SCHEMA, accuracy, evaluate, fit
from ..units import format_count
from .channels import CRITERIA, channel_scores, cut_module, select_channels
from .plan import least_ratio, pruned_graph, ratio_counts
from .report import search_front, write_report

PRUNE_SCHEMA = {
    "levels": Field(list_of(number(min_value=0.01, max_value=0.99), 1), [0.25, 0.5, 0.75],
                    "fractions of the unpruned model's MACs to remove, one candidate each "
                    "(ignored when a constraint is given: then prune until it is met)"),
    "criterion": Field(choice(*CRITERIA), "l1", "rank channels by the L1 norm of their filters or "
                       "by the batch-norm scale"),
    "epochs": Field(integer(min_value=0), 10, "fine-tuning epochs after each level"),
    "lr": Field(optional(number(min_value=0.0)), None, "fine-tuning learning rate (default: train.lr)"),
    "steps": Field(integer(min_value=1), 2, "with a constraint: reach it in this many levels"),
    "min_channels": Field(integer(min_value=1), 1, "channels every layer keeps at least"),
}
SCHEMA = {**COMMON_SCHEMA, "data": DATA_SCHEMA, "train": TRAIN_SCHEMA, "prune": PRUNE_SCHEMA}
_FROM_RUN = ("name", "mcu", "seed", "data", "train")     # not constraints: those are the prune's own


@dataclass
class Level:
    """One planned level: the fraction of MACs it removes (None: a budget step) and its ratio."""

    level: float | None
    ratio: float


def resolve_config(run_dir: Path, config: str | None, overrides: list[str]) -> dict:
    """The run's data, training, MCU and seed, then the prune config file, then the overrides
    (``sram=16KB`` standing for ``constraints.sram=16KB``)."""
    run_cfg = read_yaml(run_dir / "config.yaml") if (run_dir / "config.yaml").is_file() else {}
    merged = {k: run_cfg[k] for k in _FROM_RUN if isinstance(run_cfg, dict) and k in run_cfg}
    source = "prune"
    if config is not None:
        extra = read_yaml(Path(config))
        if not isinstance(extra, dict):
            raise ConfigError(f"{config}: expected a mapping at the top level")
        for key, value in extra.items():
            both = isinstance(value, dict) and isinstance(merged.get(key), dict)
            merged[key] = {**merged[key], **value} if both else value
        source = config
    return validate(apply_overrides(merged, constraint_overrides(overrides)), SCHEMA, source)


def pick_candidate(run_dir: Path, number_: int | None) -> Path:
    """``candidates/NNN`` of the run (default: its best-ranked candidate)."""
    folders = ranked_candidates(run_dir)
    if number_ is None:
        return folders[0]
    folder = run_dir / "candidates" / f"{number_:03d}"
    if folder not in folders:
        have = ", ".join(p.name for p in sorted(folders))
        raise ConfigError(f"{run_dir}: --candidate {number_}: no candidates/{number_:03d} (the run has {have})")
    return folder


def plan_levels(graph, cfg: dict, estimate_of) -> list[Level]:
    """The ratio of every level, checked on the estimator before any training."""
    p, c = cfg["prune"], cfg["constraints"]
    if any(v is not None for v in c.values()):
        r = least_ratio(graph, lambda g: estimate_of(g).fits, p["min_channels"])
        if r is None:
            floor = estimate_of(pruned_graph(graph, 1.0, p["min_channels"]))
            raise DoesNotFitError(f"constraints: cannot be met by pruning: even {p['min_channels']} "
                                  f"channel(s) per layer leaves {'; '.join(floor.violations)}")
        return [Level(None, r * (i + 1) / p["steps"]) for i in range(p["steps"])] if r else []
    macs0 = estimate_of(graph).macs
    levels = []
    for level in sorted(set(p["levels"])):
        r = least_ratio(graph, lambda g: estimate_of(g).macs <= (1 - level) * macs0, p["min_channels"])
        if r is None:
            raise DoesNotFitError(f"prune.levels: {level:g} cannot be reached: {p['min_channels']} "
                                  f"channel(s) per layer still take more than {format_count((1 - level) * macs0)} MACs")
        levels.append(Level(level, r))
    return levels


def cost_row(est: Estimate) -> dict:
    """The costs a report row shows."""
    return {"macs": est.macs, "params": est.params, "flash": est.flash_model, "peak_sram": est.peak_sram,
            "latency_ms": est.latency_ms, "fits": est.fits}


def run_prune(run_dir: str, overrides: list[str], ui: Ui, config: str | None = None,
              candidate: int | None = None, out: str | None = None,
              argv: list[str] | None = None) -> tuple[Path, list[dict]]:
    """Prune a candidate of ``run_dir`` level by level; returns the prune run folder and its rows
    (the unpruned model first, then one per level)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise InputFileError(f"{run}: no such run directory")
    cfg = resolve_config(run, config, overrides)
    folder = pick_candidate(run, candidate)
    arch, module, _ = load_candidate(folder)
    profile = load_profile(cfg["mcu"])
    budget = budget_for(profile, cfg["constraints"])
    estimate_of = lambda g: estimate(g, profile, budget)   # noqa: E731
    graph = build_graph(arch)
    levels = plan_levels(graph, cfg, estimate_of)
    if not levels:
        ui.warn(f"{folder}: already meets the constraints; nothing to prune (the report shows it alone)")
    data = resize_dataset(load_dataset(cfg["data"], cfg["seed"]), arch.input_shape)
    out_dir = create_run_dir("prune", cfg["name"], out)
    ui.attach_log(out_dir / "log.txt")
    start_manifest(out_dir, "prune", cfg["seed"], argv)
    write_yaml(out_dir / "config.yaml", cfg)
    p = cfg["prune"]
    tune = {**cfg["train"], "epochs": p["epochs"], "lr": p["lr"] if p["lr"] is not None else cfg["train"]["lr"]}
    source = f"{run.name}/candidates/{folder.name}"
    rows = [{"kind": "unpruned", "label": source, "level": 0.0, "ratio": 0.0,
             **_scores(module, data), **cost_row(estimate_of(graph)), "candidate": str(folder)}]
    with record_outcome(out_dir) as outcome:
        current = (graph, module)
        for n, lv in enumerate(levels, start=1):
            counts = ratio_counts(graph, lv.ratio, p["min_channels"])
            keep = select_channels(channel_scores(*current, p["criterion"]), counts)
            pruned_arch = replace(arch, widths=group_widths(graph, counts))
            pruned = build_graph(pruned_arch)
            model = cut_module(*current, pruned, keep)
            epochs_run = fit(model, data, tune, cfg["seed"] + n).epochs_run if p["epochs"] else 0
            est, scores = estimate_of(pruned), _scores(model, data)
            metrics = {"source": source, "level": lv.level, "ratio": lv.ratio, "criterion": p["criterion"],
                       **scores, "epochs_run": epochs_run}
            target = out_dir / "candidates" / f"{n:03d}"
            save_candidate(target, pruned_arch, model.cpu(), metrics)
            write_json(target / "estimate.json", est.to_dict())
            rows.append({"kind": "pruned", "label": f"level {lv.level:g}" if lv.level is not None else
                         f"step {n}", "level": lv.level, "ratio": lv.ratio, **scores, **cost_row(est),
                         "candidate": f"candidates/{target.name}"})
            ui.info(f"level {n}/{len(levels)}: {format_count(est.macs)} MACs, "
                    f"val {100 * rows[-1]['val_accuracy']:.1f}%, test {100 * rows[-1]['test_accuracy']:.1f}%")
            current = (pruned, model)
        write_report(out_dir, rows, search_front(run))
        outcome["levels"] = len(levels)
    return out_dir, rows


def _scores(model: GraphModule, data) -> dict:
    """Validation loss and accuracy, test accuracy."""
    val_loss, val_accuracy = evaluate(model, data.x_val, data.y_val)
    return {"val_accuracy": val_accuracy, "val_loss": val_loss,
            "test_accuracy": accuracy(model, data.x_test, data.y_test)}
