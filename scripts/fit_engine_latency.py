"""The C engine's latency model (runtime c), fitted on the emulated Cortex-M: random architectures of
both search spaces (random int8 weights), exported with the engine (every third one patch by patch
over 2 x 2 patches), built for the core and run in QEMU (`tinyml profile --runtime c`), which counts
the instructions of every layer (TINYML_LAYER_BEGIN / END). Per core family, the layers' counts are
fitted (weighted non-negative least squares, scripts/bench_cortex_m.py's) to the work terms the
estimator uses (estimate/latency.py: per op, per MAC, per window element, per output, per output
pixel; per element read), with the engine's kernel classes (estimate/engine.py ``engine_class``).
Prints the ``ENGINE_INSTRUCTIONS`` tables estimate/constants.py holds, then the held-out check:
architectures of another seed, the estimate's engine instructions per inference (its cycles over
the family's cycles per instruction) against the counted ones.

    PYTHONPATH=. python scripts/fit_engine_latency.py [--n 24] [--seed 0] [--holdout 8]
        [--holdout-seed 1] [--cores M4,M7] [--report FILE.json]
    PYTHONPATH=. python scripts/fit_engine_latency.py --fit-only FILE.json   # from saved measurements
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from bench_cortex_m import fit_classes  # noqa: E402
from random_models import export_random  # noqa: E402  (random weights without torch)

from tinyml_cli.arch import build_graph, make_space, sample_buildable  # noqa: E402
from tinyml_cli.arch.arch import Arch  # noqa: E402
from tinyml_cli.engine.export import export_engine  # noqa: E402
from tinyml_cli.engine.patches import plan_patches, splits  # noqa: E402
from tinyml_cli.errors import TinymlError  # noqa: E402
from tinyml_cli.estimate import constants as K  # noqa: E402
from tinyml_cli.estimate import latency  # noqa: E402
from tinyml_cli.estimate.engine import clear_engine_memo, engine_cost, engine_work  # noqa: E402
from tinyml_cli.mcu import load_profile  # noqa: E402
from tinyml_cli.profile.engine import profile_engine_target  # noqa: E402

CORES = {"M4": "STM32F412", "M7": "STM32F746", "M33": "RA6M4"}     # MCUs whose cores QEMU emulates
SPACES = [({"name": "mbnet"}, (16, 16, 3)), ({"name": "plain"}, (12, 12, 1)), ({"name": "mbnet"}, (1, 48, 2)),
          ({"name": "plain"}, (1, 40, 3)), ({"name": "mbnet"}, (40, 40, 3)), ({"name": "plain"}, (32, 32, 3))]
PATCH_EVERY = 3


def models(n: int, seed: int) -> list[tuple[object, int, Arch]]:
    """``n`` random graphs of the spaces in turn (as tests/random_models.py samples them), each with
    its patch count (0: layer by layer) and architecture; the same for the same seed (the weights
    draw from their own generator)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        options, shape = SPACES[k % len(SPACES)]
        arch = sample_buildable(make_space(options, shape, 10), rng, 1)[0]
        graph = build_graph(arch)
        out.append((graph, 2 if k % PATCH_EVERY == PATCH_EVERY - 1 and splits(graph) else 0, arch))
    return out


def run_graph(graph, patches: int):
    """The graph as the engine runs it (patches, crops and places included)."""
    return plan_patches(graph, patches)[0].graph if patches else graph


def measure(n: int, seed: int, cores: list[str], root: Path) -> list[dict]:
    """Export, profile on each core and record every layer's work terms and counted instructions."""
    weights = np.random.default_rng(seed + 1000)
    records = []
    for k, (graph, patches, arch) in enumerate(models(n, seed)):
        folder = root / f"s{seed}-m{k}"
        folder.mkdir(parents=True)
        q, model = export_random(graph, weights)
        (folder / "model.tflite").write_bytes(model)
        x = weights.integers(-128, 128, (1, *graph.input_shape)).astype(np.int8)
        try:
            export_engine(q, model, x, folder, patches=patches)
        except TinymlError as e:                       # a random draw TFLM-host rejects
            print(f"{graph.name}-{k}: skipped ({e})", flush=True)
            continue
        run = run_graph(graph, patches)
        for core in cores:
            profile = load_profile(CORES[core])
            report, _ = profile_engine_target(folder, profile, None, 1, seed, 1800.0, folder / f"c-{core}.json")
            layers = report["operators"]
            assert [o["name"] for o in layers] == [l.name for l in run.layers], folder
            rows = [{"name": layer.name, "op": layer.op, "instructions": o["instructions"]}
                    for layer, o in zip(run.layers, layers)]
            records.append({"seed": seed, "index": k, "space": graph.name, "arch": arch.to_dict(), "patches": patches,
                            "family": profile.core_family, "core": core, "instructions": report["instructions"],
                            "layers": rows})
            print(f"{graph.name:6} {k:3d} {core:4} patches {patches} layers {len(rows):3d} "
                  f"instructions {report['instructions']:10d}", flush=True)
    return records


def work_terms(records: list[dict]) -> None:
    """Each measured layer's kernel class and work terms (estimate/engine.py ``engine_work``), from
    its architecture rebuilt: a change of the terms refits without measuring again."""
    for r in records:
        run = run_graph(build_graph(Arch.from_dict(r["arch"])), r["patches"])
        assert [layer.name for layer in run.layers] == [row["name"] for row in r["layers"]], r["index"]
        for c, row in zip(engine_work(run), r["layers"]):
            mac = c.macs is not None
            row["key"] = c.cycle_class if mac else c.element_class
            row["terms"] = [c.macs, c.window, c.outputs, c.pixels, c.elements] if mac else [c.elements]


def fit(records: list[dict]) -> dict[str, dict]:
    """Per core family, the fitted tables (ENGINE_INSTRUCTIONS[family])."""
    tables = {}
    for family in sorted({r["family"] for r in records}):
        classes: dict[str, list] = {}
        for r in records:
            if r["family"] == family:
                for row in r["layers"]:
                    classes.setdefault(row["key"], []).append((row["terms"], row["instructions"]))
        print(f"\n{family}:", end="")
        fitted = fit_classes(classes)                    # weighted as the TFLM fit
        tables[family] = {"op": {**fitted["op"], "default": max(fitted["op"].values())},
                          **{name: fitted[name] for name in ("mac", "window", "output", "pixel", "element")}}
    return tables


def estimated(graph, patches: int, family: str) -> float:
    """The estimate's engine instructions per inference: its cycles over the family's CPI."""
    cost = engine_cost(graph, family, patches)
    return sum(cost.layer_cycles) / K.CYCLES_PER_INSTRUCTION[family]


def use(tables: dict[str, dict]) -> None:
    """Make the estimator use ``tables`` (as if constants.py held them)."""
    K.ENGINE_INSTRUCTIONS.update(tables)
    latency.ENGINE_RATES.update({f: latency.engine_rates(f) for f in latency.ENGINE_RATES})
    clear_engine_memo()


def held_out(records: list[dict], seed: int, label: str) -> None:
    graphs = {}
    for r in records:
        if r["seed"] == seed and not graphs:
            graphs = dict(enumerate(models(1 + max(x["index"] for x in records if x["seed"] == seed), seed)))
    for family in sorted({r["family"] for r in records if r["seed"] == seed}):
        ratios = [estimated(*graphs[r["index"]][:2], family) / r["instructions"]
                  for r in records if r["seed"] == seed and r["family"] == family]
        if ratios:
            print(f"held out (seed {seed}, {len(ratios)} models, {label}) {family}: estimated / counted "
                  f"instructions per inference min {min(ratios):.3f}  median {float(np.median(ratios)):.3f}  "
                  f"max {max(ratios):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="architectures to fit on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", type=int, default=8, help="architectures held out (--holdout-seed)")
    parser.add_argument("--holdout-seed", type=int, default=1)
    parser.add_argument("--cores", default="M4,M7", help=f"of {', '.join(CORES)}")
    parser.add_argument("--report", help="save the measurements (JSON)")
    parser.add_argument("--fit-only", metavar="REPORT", help="fit saved measurements, measure nothing")
    args = parser.parse_args()
    if args.fit_only:
        saved = json.loads(Path(args.fit_only).read_text())
        records, seed, hold = saved["records"], saved["seed"], saved["holdout_seed"]
    else:
        cores = args.cores.split(",")
        seed, hold = args.seed, args.holdout_seed
        with tempfile.TemporaryDirectory(prefix="tinyml-fit-engine-") as tmp:
            records = measure(args.n, seed, cores, Path(tmp))
            records += measure(args.holdout, hold, cores, Path(tmp))
        if args.report:
            Path(args.report).write_text(json.dumps({"seed": seed, "holdout_seed": hold, "records": records}))
    work_terms(records)
    held_out(records, hold, "constants.py")
    tables = fit([r for r in records if r["seed"] == seed])
    for family, table in tables.items():
        print(f'ENGINE_INSTRUCTIONS["{family}"] = {json.dumps(table)}')
    use(tables)
    held_out(records, hold, "this fit")


if __name__ == "__main__":
    main()
