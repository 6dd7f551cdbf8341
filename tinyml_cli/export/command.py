"""What `tinyml export` does, apart from parsing: pick the candidates (a search run's ranks, or one
ARCH.yaml with its weights), load the dataset, export each into a fresh folder, record the run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..arch import Arch, build_graph
from ..config import COMMON_SCHEMA, apply_overrides, read_yaml, validate
from ..console import Ui
from ..data import DATA_SCHEMA, load_dataset, resize_dataset
from ..errors import ConfigError, InputFileError
from ..estimate import estimate
from ..mcu import resolve
from ..runs import check_out, run_folder, write_json
from ..units import format_bytes
from ..train.builder import GraphModule, build_module
from ..train.checkpoint import load_candidate, load_weights, ranked_candidates
from .pipeline import EXPORT_SCHEMA, ExportResult, check_inputs, export_candidate
from .verify import verify_rows

ENGINE_RANDOM_SAMPLES = 16           # int8 inputs to check the C engine on without test samples

SCHEMA = {**COMMON_SCHEMA, "data": DATA_SCHEMA, "export": EXPORT_SCHEMA}
# What an export takes over from the search run it reads.
_FROM_RUN = (*COMMON_SCHEMA, "data")


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


def _export_engine(result: ExportResult, tflm_estimate: int, seed: int, engine: dict, ui: Ui) -> dict:
    """The C engine's library beside the .tflite, checked on the saved test samples (random int8
    inputs when the dataset has no test split)."""
    from ..engine.export import engine_rows, export_engine

    samples = result.out_dir / "test_samples.npz"
    if samples.is_file():
        with np.load(samples) as saved:
            inputs = saved["x"]
    else:
        rng = np.random.default_rng(seed)
        inputs = rng.integers(-128, 128, (ENGINE_RANDOM_SAMPLES, *result.quantized.graph.input_shape), np.int8)
    arena = result.verify["tflm_arena"]["required"] if result.verify else None
    model = (result.out_dir / "model.tflite").read_bytes()
    report = export_engine(result.quantized, model, inputs, result.out_dir, arena, tflm_estimate,
                           engine["patches"], engine["split"], engine["prefix"])
    result.files = sorted({*result.files, "engine"})
    ui.table(f"C engine ({result.out_dir / 'engine'})", ["measure", "value"], engine_rows(report))
    return report


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
    if dataset is not None:
        overrides = [f"data.name={dataset}", *overrides]
    run_cfg: dict = {}
    if path.is_dir():
        if weights:
            raise ConfigError(f"{path}: --weights is for an ARCH.yaml; a run's candidates carry theirs")
        if (path / "config.yaml").is_file():
            run_cfg = read_yaml(path / "config.yaml") or {}
        base = {k: run_cfg[k] for k in _FROM_RUN if k in run_cfg}
        if "runtime" in run_cfg:                     # export for the runtime the search judged fits by
            overrides = [f"export.runtime={run_cfg['runtime']}", *overrides]
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

    profile, budget = resolve(cfg)
    check_out(out)
    data = load_dataset(cfg["data"], cfg["seed"])
    inputs = [resize_dataset(data, c.arch.input_shape) for c in candidates]
    for c, d in zip(candidates, inputs):
        check_inputs(c.arch, d, c.label)
    results = []
    with run_folder("export", cfg["name"], cfg["seed"], out=out, config=cfg, argv=argv,
                    log=ui.attach_log) as (out_dir, _):
        for i, (c, d) in enumerate(zip(candidates, inputs), start=1):
            folder = out_dir if len(candidates) == 1 else out_dir / f"rank{i:03d}"
            ui.info(f"exporting {c.label} -> {folder}")
            name = cfg["name"] if len(candidates) == 1 else f"{cfg['name']}_{i}"
            graph = build_graph(c.arch)
            host, mcu = (estimate(graph, profile, budget, build=b) for b in ("host", "mcu"))
            result = export_candidate(c.arch, c.module, d, cfg["export"], folder, name,
                                      {"peak_sram": host.peak_sram, "model_flash": host.flash_model,
                                       "mcu_peak_sram": mcu.peak_sram},
                                      seed=cfg["seed"], log=ui.detail)
            if result.verify is not None:
                ui.table(f"verification of {c.label} ({d.name} test set)", ["measure", "value"],
                         verify_rows(result.verify))
            result.estimate = mcu.to_dict()
            write_json(folder / "estimate.json", result.estimate)
            result.files = sorted({*result.files, "estimate.json"})
            verdict = "fits" if mcu.fits else f"does not fit ({'; '.join(mcu.violations)})"
            ui.info(f"{c.label} {verdict} {profile.name} (peak SRAM {format_bytes(mcu.peak_sram)}, "
                    f"flash {format_bytes(mcu.flash_total)}, {mcu.latency_ms:.1f} ms)")
            if cfg["export"]["runtime"] == "c":
                result.engine = _export_engine(result, mcu.peak_sram, cfg["seed"], cfg["engine"], ui)
            results.append(result)
    return out_dir, results
