"""The flash TFLM's runtime takes on each emulated Cortex-M core, measured on firmwares (TFLM +
CMSIS-NN, the C library, the runner) for models of the layer graph's op kinds:

- ``full``: a model with all nine (conv, depthwise, add, both pools, mean, reshape, fully connected,
  softmax); ``base``: a model of one RESHAPE;
- each op kind's exclusive code: ``full`` less a firmware for the same model without that kind;
- ``shared``: what ``full`` holds beyond ``base`` and every kind's exclusive code (kernel helpers,
  CMSIS-NN support functions, quantization utilities), paid once by any model with a kernel.

A model's runtime is then ``base + shared + the exclusive code of its kinds`` (exact for ``full``;
a model with few kinds gets all of ``shared``, a little more than it links). Prints the table
estimate/constants.py holds as RUNTIME_FLASH.

    PYTHONPATH=. python scripts/fit_runtime_flash.py [--cores m4,m7,m33]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from random_models import export_random  # noqa: E402  (random weights without a torch module)

from tinyml_cli.arch.graph import GraphBuilder  # noqa: E402
from tinyml_cli.mcu import load_profile  # noqa: E402
from tinyml_cli.profile.measure import Inputs, profile_model  # noqa: E402
from tinyml_cli.tflite.model import read_model  # noqa: E402

PROFILE_OF_FAMILY = {"m4": "STM32F412", "m7": "STM32F746", "m33": "RA6M4"}


KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN", "RESHAPE",
         "FULLY_CONNECTED", "SOFTMAX")


def full_graph(without: str | None = None):
    """The nine kinds in one model, or the same model without one kind (its layers left out)."""
    b = GraphBuilder((8, 8, 4))
    t = b.input if without == "CONV_2D" else b.conv(b.input, 8, 3)
    if without != "DEPTHWISE_CONV_2D":
        d = b.depthwise(t, 3)
        t = t if without == "ADD" else b.add(t, d)
    t = t if without == "MAX_POOL_2D" else b.pool(t, "max", 2)
    t = t if without == "AVERAGE_POOL_2D" else b.pool(t, "avg", 2)
    branches, units = [], b.shapes[t][-1]
    if without != "MEAN":
        branches.append(b.mean(t))
    if without not in ("RESHAPE", "FULLY_CONNECTED"):
        branches.append(b.fully_connected(b.flatten(t), units))
    elif without == "RESHAPE":
        branches.append(b.fully_connected(b.mean(t), units))
    if len(branches) == 2 and without != "ADD":
        t = b.add(*branches)
    else:
        t = branches[-1] if branches else b.mean(t)
    if without != "SOFTMAX":
        b.softmax(t)
    return b.finish()


def base_graph():
    b = GraphBuilder((8, 8, 4))
    b.flatten(b.input)
    return b.finish()


def runtime_flash(graph, family: str, rng: np.random.Generator) -> int:
    """The runtime flash (TFLM, C library, runner) of the firmware for one graph."""
    data = export_random(graph, rng)[1]
    x = rng.integers(-128, 128, (1, *graph.input_shape), dtype=np.int8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(data)
        report = profile_model(read_model(path), data, load_profile(PROFILE_OF_FAMILY[family]),
                               Inputs(x, "one random input"))
    return report["sizes"]["runtime_flash"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", default="m4,m7,m33")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    table = {}
    for family in args.cores.split(","):
        full = runtime_flash(full_graph(), family, rng)
        base = runtime_flash(base_graph(), family, rng)
        exclusive = {kind: full - runtime_flash(full_graph(kind), family, rng) for kind in KINDS}
        table[family] = {"base": base, "shared": full - base - sum(exclusive.values()), **exclusive}
        print(f"{family}: full {full}, {table[family]}", flush=True)
    print("\nRUNTIME_FLASH =", table)


if __name__ == "__main__":
    main()
