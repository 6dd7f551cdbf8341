"""The estimator against an emulated Cortex-M: random architectures of both search spaces, exported
to int8 (random weights), built with TFLM + CMSIS-NN and run in QEMU (`tinyml profile`), and the four
MLPerf Tiny reference models against their published latencies.

    PYTHONPATH=. python scripts/bench_cortex_m.py [--n 24] [--seed 0] [--mcu STM32F412]
                                                   [--report FILE.json] [--fit]

Per architecture: estimated peak SRAM (32-bit, CMSIS-NN) against the smallest arena TFLM accepts on
the emulated core; estimated flash (model + the profile's runtime reserve) against the firmware's
text + data (without the embedded test input); estimated instructions (the estimate's cycles over
the core family's cycles per instruction) against the instructions QEMU counted. Then the MLPerf
Tiny models on the RA6M4 profile (Cortex-M33, QEMU's mps2-an505): estimated and published latency,
and the cycles per instruction the published figure implies. ``--report`` saves every operator's
counts for the fit; ``--fit`` prints least-squares instruction constants per op class (what
estimate/constants.py holds) from them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_export import random_export, sample_graphs  # noqa: E402

from tinyml_cli.estimate import constants as K  # noqa: E402
from tinyml_cli.estimate.file import estimate_file, op_view  # noqa: E402
from tinyml_cli.mcu import budget_for, load_profile  # noqa: E402
from tinyml_cli.ops import lookup  # noqa: E402
from tinyml_cli.profile.measure import Inputs, profile_model, random_inputs  # noqa: E402
from tinyml_cli.tflite.model import read_model  # noqa: E402

MLPERF = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf_tiny"
# MLPerf Tiny v0.7, Renesas EK-RA6M4 (Cortex-M33, 200 MHz), TFLM + CMSIS-NN: milliseconds per inference
PUBLISHED_RA6M4_MS = {"kws_ref_model": 50.6, "vww_96_int8": 162.4, "pretrainedResnet_quant": 246.2,
                      "ad01_int8": 4.61}


def operator_records(model, report: dict) -> list[dict]:
    """Each operator's op-table costs (the estimator's features) beside its counted instructions."""
    g = model.subgraphs[0]
    rows = []
    for op, measured in zip(g.operators, report["operators"]):
        view = op_view(g, op)
        kind = lookup(op.builtin)
        c = kind.costs(view, "mcu") if kind else None
        rows.append({"op": op.builtin, "macs": c.macs if c else None, "cycle_class": c.cycle_class if c else None,
                     "elements": c.elements if c else 0, "element_class": c.element_class if c else None,
                     "outputs": sum(t.numel for t in view.outputs), "instructions": measured["instructions"],
                     "shapes": [list(t.shape) if t is not None else None for t in view.inputs] + [list(view.out.shape)],
                     "options": {k: v for k, v in view.options.items() if isinstance(v, (int, float))}})
    return rows


def model_record(name: str, model, report: dict, est) -> dict:
    """A model's measured arena and runtime flash beside what the estimate made of it."""
    g = model.subgraphs[0]
    ops: dict[str, int] = {}
    for op in g.operators:
        ops[op.builtin] = ops.get(op.builtin, 0) + 1
    return {"model": name, "ops": ops, "tensors": len(g.tensors), "arena_min": report["arena_min"],
            "arena_used": report["arena_used"], "est_peak": est.peak_sram, "est_planned": est.arena_planned,
            "est_persistent": est.arena_persistent, "runtime_flash": report["sizes"]["runtime_flash"],
            "core": report["core"]}


def estimated_instructions(est, profile) -> float:
    """The estimate's cycles as instructions: over the family's cycles per instruction."""
    return est.latency_ms * profile.clock_mhz * 1000 / K.CYCLES_PER_INSTRUCTION[profile.core_family]


def profile_file(path: Path, data: bytes, profile, inputs: Inputs) -> tuple[dict, object]:
    model = read_model(path)
    return profile_model(model, data, profile, inputs), model


def bench_random(n: int, seed: int, mcu: str, records: dict) -> list[tuple[float, float, float]]:
    profile = load_profile(mcu)
    rng = np.random.default_rng(seed)
    ratios = []
    print(f"{'space':6} {'ops':>4} {'arena':>8} {'est.SRAM':>8} {'ratio':>6} {'flash':>8} {'est.':>8} "
          f"{'ratio':>6} {'instr':>10} {'est.':>10} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for i, graph in enumerate(sample_graphs(n, rng)):
            data, x = random_export(graph, rng)
            path = Path(tmp) / f"m{i}.tflite"
            path.write_bytes(data)
            report, model = profile_file(path, data, profile, Inputs(x, "one random input"))
            est = estimate_file(model, profile, budget_for(profile))
            flash = report["sizes"]["flash_total"] - report["sizes"]["flash"]["inputs"]
            row = (est.peak_sram / report["arena_min"], est.flash_total / flash,
                   estimated_instructions(est, profile) / report["instructions"])
            ratios.append(row)
            records["operators"] += [{**r, "model": f"{graph.name}-{i}"} for r in operator_records(model, report)]
            records["models"].append(model_record(f"{graph.name}-{i}", model, report, est))
            print(f"{graph.name:6} {len(report['operators']):4d} {report['arena_min']:8d} {est.peak_sram:8d} "
                  f"{row[0]:6.3f} {flash:8d} {est.flash_total:8d} {row[1]:6.3f} {report['instructions']:10d} "
                  f"{estimated_instructions(est, profile):10.0f} {row[2]:6.3f}", flush=True)
    return ratios


def bench_mlperf(records: dict) -> list[tuple[float, float]]:
    profile = load_profile("RA6M4")
    print(f"\nMLPerf Tiny on {profile.name} ({profile.core}, {profile.clock_mhz:g} MHz, QEMU mps2-an505)")
    print(f"{'model':24} {'instr':>11} {'published':>9} {'CPI':>6} {'est.ms':>8} {'ratio':>6} {'arena':>7} "
          f"{'est.SRAM':>8}")
    fits = []
    for name, published in PUBLISHED_RA6M4_MS.items():
        path = MLPERF / f"{name}.tflite"
        if not path.is_file():
            print(f"{name:24} missing: {path}")
            continue
        data = path.read_bytes()
        model = read_model(path)
        report, _ = profile_file(path, data, profile, random_inputs(model, 1, np.random.default_rng(0)))
        est = estimate_file(model, profile, budget_for(profile))
        cpi = published * profile.clock_mhz * 1000 / report["instructions"]
        records["operators"] += [{**r, "model": name} for r in operator_records(model, report)]
        records["models"].append(model_record(name, model, report, est))
        print(f"{name:24} {report['instructions']:11d} {published:9.2f} {cpi:6.3f} {est.latency_ms:8.2f} "
              f"{est.latency_ms / published:6.3f} {report['arena_min']:7d} {est.peak_sram:8d}", flush=True)
        fits.append((published * profile.clock_mhz * 1000, estimated_instructions(est, profile)))
    if fits:
        cpi = float(np.exp(np.mean([np.log(cycles / instructions) for cycles, instructions in fits])))
        print(f"cycles per instruction fitted to the published latencies over the estimated instructions: {cpi:.3f}")
    return fits


def features(r: dict) -> tuple[str, list[float]]:
    """An operator's class and the work terms of the estimator's instruction model (see
    estimate/latency.py): a MAC kernel's MACs, window, outputs and output pixels, another op's
    elements read. A record from before CMSIS-NN's 3x3 depthwise path and max pooling had their own
    classes gets them."""
    if r["macs"] is None:
        key = "max_pool" if r["op"] == "MAX_POOL_2D" else r["element_class"] or r["op"]
        return key, [r["elements"]]
    channels = r["shapes"][-1][-1]
    key = r["cycle_class"]
    if key == "depthwise" and r["shapes"][1][1:3] == [3, 3] and r["shapes"][0][-1] == channels:
        key = "depthwise_3x3"
    return key, [r["macs"], r["macs"] / channels, r["outputs"], r["outputs"] / channels]


WEIGHT_POWER = 0.75   # residuals weighted by instructions ** -0.75: between relative error (small
# operators weigh as much as large ones) and absolute error (a model's total is what counts)


def fit(records: list) -> dict[str, dict[str, float]]:
    """Non-negative least squares per op class: instructions = per-op + the work terms
    (:func:`features`) times their instructions each, residuals weighted by ``WEIGHT_POWER``.
    Prints and returns the tables."""
    classes: dict[str, list] = {}
    for r in records:
        key, terms = features(r)
        classes.setdefault(key, []).append((terms, r["instructions"]))
    return fit_classes(classes)


def fit_classes(classes: dict[str, list], power: float = WEIGHT_POWER) -> dict[str, dict[str, float]]:
    """:func:`fit` of rows already grouped: per class, (work terms, instructions counted) with the
    terms of estimate/latency.py (MACs, window, outputs, pixels and optionally elements read; or
    elements read alone), residuals weighted by instructions ** -``power``."""
    from scipy.optimize import nnls

    names = ("op", "mac", "window", "output", "pixel", "element")
    tables: dict[str, dict[str, float]] = {name: {} for name in names}
    print("\nper op class: instructions = per-op + per-term x term (weighted NNLS)")
    for key, rows in sorted(classes.items()):
        design = np.array([[1.0, *terms] for terms, _ in rows])
        y = np.array([count for _, count in rows], float)
        weight = y ** -power
        coef, _ = nnls(design * weight[:, None], y * weight)
        worst = float(np.max(np.abs(design @ coef - y) / y))
        terms = ("op", "element") if design.shape[1] == 2 else names[:design.shape[1]]
        for name, value in zip(terms, coef):
            tables[name][key] = round(float(value), 3)
        print(f"{key:16} n={len(rows):3d}  " + "  ".join(f"{n} {c:.3f}" for n, c in zip(terms, coef))
              + f"  worst {worst:.3f}")
    return tables


def _stats(values) -> str:
    return f"min {min(values):.3f}  median {float(np.median(values)):.3f}  max {max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mcu", default="STM32F412")
    parser.add_argument("--report", help="save every operator's and model's measures and features (JSON)")
    parser.add_argument("--fit", action="store_true", help="print fitted instruction constants")
    parser.add_argument("--fit-only", metavar="REPORT", help="fit a saved --report, measure nothing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    if args.fit_only:
        print("INSTRUCTIONS =", json.dumps(fit(json.loads(Path(args.fit_only).read_text())["operators"])))
        return
    records: dict[str, list] = {"operators": [], "models": []}
    ratios = bench_random(args.n, args.seed, args.mcu, records)
    print(f"\n{len(ratios)} architectures on the emulated {load_profile(args.mcu).core}")
    for i, label in enumerate(("peak SRAM / smallest arena", "flash / firmware text+data",
                               "instructions / counted")):
        print(f"estimated {label:28} {_stats([r[i] for r in ratios])}")
    bench_mlperf(records)
    if args.report:
        Path(args.report).write_text(json.dumps(records, indent=1))
    if args.fit:
        print("INSTRUCTIONS =", json.dumps(fit(records["operators"])))


if __name__ == "__main__":
    main()
