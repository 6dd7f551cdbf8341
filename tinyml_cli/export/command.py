"""What `tinyml export` does, apart from parsing: pick the candidates (a search run's ranks, or one
ARCH.yaml with its weights), load the dataset, export each into a fresh folder, record the run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..arch import Arch, build_graph
from ..config import COMMON_SCHEMA, apply_overrides, read_yaml, validate
from ..console import Ui
from ..data import Dataset, load_builtin
from ..errors import ConfigError, InputFileError
from ..estimate import estimate
from ..mcu import budget_for, load_profile
from ..runs import create_run_dir, finish_manifest, start_manifest, write_yaml
from ..train.builder import GraphModule, build_module
from ..train.checkpoint import load_candidate, load_weights
from .pipeline import EXPORT_SCHEMA, ExportResult, check_inputs, export_candidate, ranked_candidates
from .verify import verify_rows

SCHEMA = {**COMMON_SCHEMA, "export": EXPORT_SCHEMA}


@dataclass
class Candidate:
    """One trained model to export, and the label it is reported under."""

    label: str
    arch: Arch
    module: GraphModule


def _run_candidates(run_dir: Path, rank: int | None, top: int | None) -> list[Candidate]:
    folders = ranked_candidates(run_dir)
    ranks = [rank] if rank is not None else list(range(1, (top or 1) + 1))
    if max(ranks) > len(folders):
        raise ConfigError(f"{run_dir}: asked for rank {max(ranks)} but the run has {len(folders)} "
                          "candidate(s)")
    out = []
    for r in ranks:
        arch, module, _ = load_candidate(folders[r - 1])
        out.append(Candidate(f"{run_dir.name}/candidates/{folders[r - 1].name}", arch, module))
    return out


def _dataset(name: str | None, run_cfg: dict, samples: int | None, seed: int, source: str) -> Dataset:
    """The built-in dataset named by ``export.dataset``/--data, else by the run's ``data.name``."""
    section = run_cfg.get("data") if isinstance(run_cfg.get("data"), dict) else {}
    name = name or section.get("name")
    if not name:
        raise ConfigError(f"{source}: no dataset to calibrate and verify on: pass --data NAME "
                          "(or export.dataset=NAME)")
    from ..data import BUILTIN_DATASETS
    if name not in BUILTIN_DATASETS:
        raise ConfigError(f"{source}: unknown dataset {name!r}; built-in: {', '.join(BUILTIN_DATASETS)}")
    return load_builtin(name, seed, section.get("val_fraction", 0.15), section.get("test_fraction", 0.15),
                        samples or section.get("samples"))


def run_export(target: str, overrides: list[str], ui: Ui, weights: str | None = None,
               dataset: str | None = None, rank: int | None = None, top: int | None = None,
               out: str | None = None, argv: list[str] | None = None) -> tuple[Path, list[ExportResult]]:
    """Export a search run's best candidate(s) or one ARCH.yaml with its weights; returns the export
    folder and one result per candidate."""
    path = Path(target)
    if rank is not None and top is not None:
        raise ConfigError("--rank and --top are exclusive: export one rank or the K best")
    if (rank is not None and rank < 1) or (top is not None and top < 1):
        raise ConfigError("--rank and --top count from 1")
    run_cfg: dict = {}
    if path.is_dir():
        if weights:
            raise ConfigError(f"{path}: --weights is for an ARCH.yaml; a run's candidates carry theirs")
        if (path / "config.yaml").is_file():
            run_cfg = read_yaml(path / "config.yaml") or {}
        base = {k: run_cfg[k] for k in COMMON_SCHEMA if k in run_cfg}
        cfg = validate(apply_overrides(base, overrides), SCHEMA, "export")
        candidates = _run_candidates(path, rank, top)
        out = out if out is not None else path / "export"
    elif path.is_file():
        if rank is not None or top is not None:
            raise ConfigError(f"{path}: --rank and --top pick candidates of a run directory")
        if not weights:
            raise InputFileError(f"{path}: an architecture without weights cannot be exported; "
                                 "pass --weights W.pt")
        cfg = validate(apply_overrides({"name": path.stem}, overrides), SCHEMA, "export")
        arch = Arch.load(path)
        candidates = [Candidate(path.stem, arch, load_weights(build_module(build_graph(arch)), weights))]
    else:
        raise InputFileError(f"{path}: no such run directory or architecture file")

    data = _dataset(dataset or cfg["export"]["dataset"], run_cfg, cfg["export"]["samples"],
                    cfg["seed"], str(path))
    for c in candidates:
        check_inputs(c.arch, data, c.label)
    profile = load_profile(cfg["mcu"])
    budget = budget_for(profile, cfg["constraints"])
    out_dir = create_run_dir("export", cfg["name"], out)
    ui.attach_log(out_dir / "log.txt")
    start_manifest(out_dir, "export", cfg["seed"], argv)
    write_yaml(out_dir / "config.yaml", cfg)
    results = []
    try:
        for i, c in enumerate(candidates, start=1):
            folder = out_dir if len(candidates) == 1 else out_dir / f"rank{i:03d}"
            ui.info(f"exporting {c.label} -> {folder}")
            name = cfg["name"] if len(candidates) == 1 else f"{cfg['name']}_{i}"
            est = estimate(build_graph(c.arch), profile, budget)
            result = export_candidate(c.arch, c.module, data, cfg["export"], folder, name,
                                      {"peak_sram": est.peak_sram, "model_flash": est.flash_model},
                                      seed=cfg["seed"], log=ui.detail)
            if result.verify is not None:
                ui.table(f"verification of {c.label} ({data.name} test set)", ["measure", "value"],
                         verify_rows(result.verify))
            results.append(result)
    except BaseException:
        finish_manifest(out_dir, "failed")
        raise
    finish_manifest(out_dir, "ok")
    return out_dir, results
