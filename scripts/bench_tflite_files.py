"""The estimate of real .tflite files against TensorFlow Lite Micro's own allocation (host build).

    PYTHONPATH=. python scripts/bench_tflite_files.py [FILE.tflite ...]

Default files: every .tflite in the examples and models folders of the vendored tflite-micro tarball
(extracted to a temporary folder) and the four MLPerf Tiny models in shared/models/mlperf_tiny;
missing ones are skipped. Per file: its operators, our planned arena against TFLM's "head", our host
peak SRAM against the smallest arena TFLM accepts (searched in a child process), our persistent part
against TFLM's "tail", and the MACs; then the min / median / max of each ratio. TFLM runs in child
processes (it can abort on a model it rejects): a file it cannot allocate is reported and left out
of the summary.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from tinyml_cli.errors import TinymlError
from tinyml_cli.estimate.file import estimate_file
from tinyml_cli.export.tflm_runner import required_arena, run_tflm
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.ops import lookup
from tinyml_cli.tflite.model import read_model

SHARED = Path(__file__).resolve().parents[2] / "shared"
TARBALL = SHARED / "vendor" / "tensorflow+tflite-micro.tar.xz"
MLPERF = SHARED / "models" / "mlperf_tiny"


def vendored_models(folder: Path) -> list[Path]:
    """Extract the tarball's examples/ and models/ .tflite files into ``folder``."""
    if not TARBALL.is_file():
        return []
    with tarfile.open(TARBALL) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".tflite")
                   and ("/examples/" in m.name or "/models/" in m.name)]
        tar.extractall(folder, members=members, filter="data")
    return sorted(folder / m.name for m in members)


def measure(path: Path, profile) -> dict:
    """Our estimate (host runtime) and TFLM's head, tail and smallest arena for one file."""
    model = read_model(path)
    est = estimate_file(model, profile, budget_for(profile), build="host")
    g = model.subgraphs[0]
    x = g.tensors[g.inputs[0]]
    inputs = np.zeros((1, *x.shape[1:]), np.dtype(x.dtype))
    data = path.read_bytes()
    tflm = run_tflm(data, inputs, est.peak_sram * 2 + (1 << 16))
    needed = required_arena(data, tflm.arena_head + tflm.arena_tail)
    ops = sorted({op.builtin for s in model.subgraphs for op in s.operators})
    return {"ops": ops, "planned": est.arena_planned, "head": tflm.arena_head, "peak": est.peak_sram,
            "needed": needed, "persistent": est.arena_persistent, "tail": tflm.arena_tail, "macs": est.macs,
            "notes": est.notes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path,
                        help=".tflite files (default: the vendored and MLPerf Tiny ones)")
    args = parser.parse_args()
    profile = load_profile("STM32H743")
    with tempfile.TemporaryDirectory(prefix="tinyml-bench-") as tmp:
        files = args.files or [*vendored_models(Path(tmp)), *sorted(MLPERF.glob("*.tflite"))]
        peak_ratios, tail_ratios, known_ratios, exact = [], [], [], 0
        for path in files:
            if not path.is_file():
                print(f"{path}: missing, skipped", file=sys.stderr)
                continue
            try:
                r = measure(path, profile)
            except TinymlError as exc:
                print(f"{path.name}: TFLM cannot run it ({exc})")
                continue
            peak_ratios.append(r["peak"] / r["needed"])
            if all(lookup(op) for op in r["ops"]):
                known_ratios.append(peak_ratios[-1])
            tail_ratios.append(r["persistent"] / r["tail"])
            exact += r["planned"] == r["head"]
            print(f"{path.name}: {len(r['ops'])} op kinds ({', '.join(r['ops'])})")
            print(f"  planned {r['planned']:,} vs head {r['head']:,} {'(equal)' if r['planned'] == r['head'] else ''}"
                  f" | peak {r['peak']:,} vs smallest arena {r['needed']:,} ({peak_ratios[-1]:.3f})"
                  f" | persistent {r['persistent']:,} vs tail {r['tail']:,} ({tail_ratios[-1]:.3f})"
                  f" | MACs {r['macs']:,}" + (f" | notes: {'; '.join(r['notes'])}" if r["notes"] else ""))
    if peak_ratios:
        print(f"\n{len(peak_ratios)} files TFLM runs; planned arena equal to TFLM's head on {exact}")
        for name, values in (("peak SRAM / smallest TFLM arena", peak_ratios),
                             (f"the same, {len(known_ratios)} files whose every op the table knows", known_ratios),
                             ("persistent / TFLM tail", tail_ratios)):
            if values:
                print(f"{name}: min {min(values):.3f}  median {statistics.median(values):.3f}  max {max(values):.3f}")


if __name__ == "__main__":
    main()
