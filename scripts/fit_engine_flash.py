"""The C engine's code and parameter sizes on each Cortex-M core family, measured with
``arm-none-eabi-gcc -Os`` and ``arm-none-eabi-size`` on the engine's own kernels and generated models:

- each op kind's exclusive kernel code (and ``patch``: the region copy of patch-based execution):
  the kernels linked with every kind's entry functions, less the same link without that kind's;
  ``shared``: what the full link holds beyond every kind's
  exclusive code (requantization, fixed-point helpers, libgcc and the C library's memmove);
- ``invoke`` and ``per_call``: ``tinyml_invoke``'s own bytes, fitted (least squares) as a constant
  plus bytes per layer over generated models of random architectures of both spaces (every other
  run over 2 x 2 patches);
- the bytes of each kernel's parameter struct (``layerN`` in ``.rodata``), the same on every core.

Prints the tables estimate/constants.py holds as ENGINE_FLASH and ENGINE_PARAMS_BYTES. Rerun when the
kernels change.

    PYTHONPATH=. python scripts/fit_engine_flash.py [--models 12] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from random_models import export_random, sample_graphs  # noqa: E402  (random weights without torch)

from tinyml_cli.engine.codegen import generate, kernel_sources  # noqa: E402
from tinyml_cli.engine.host import write_library  # noqa: E402
from tinyml_cli.engine.size import CPU_OF_FAMILY, link_size, symbol_sizes  # noqa: E402

# the C functions each op kind's layers call (engine/kernels.py, codegen's _in_place variant)
KIND_FUNCTIONS = {
    "conv2d": ("tinyml_conv2d",), "depthwise_conv2d": ("tinyml_depthwise_conv2d", "tinyml_depthwise_conv2d_in_place"),
    "fully_connected": ("tinyml_fully_connected",), "add": ("tinyml_add",), "avg_pool": ("tinyml_avg_pool",),
    "max_pool": ("tinyml_max_pool",), "mean": ("tinyml_mean",), "reshape": ("tinyml_copy",),
    "softmax": ("tinyml_softmax",), "patch": ("tinyml_copy_region",),
}
SPACES = [({"name": "mbnet"}, (16, 16, 3)), ({"name": "plain"}, (12, 12, 1)), ({"name": "mbnet"}, (1, 48, 2)),
          ({"name": "plain"}, (1, 40, 3))]


def kernel_code(family: str, folder: Path) -> dict[str, int]:
    """``shared`` and each kind's exclusive bytes of kernel code."""
    for name, text in kernel_sources(patches=True).items():
        (folder / name).write_text(text)
    sources = [folder / "tinyml_kernels.c", folder / "tinyml_patch.c"]

    def linked(kinds) -> int:
        entries = tuple(f for kind in kinds for f in KIND_FUNCTIONS[kind])
        return link_size(sources, family, entries, folder / "k.elf").flash

    full = linked(KIND_FUNCTIONS)
    exclusive = {kind: full - linked([k for k in KIND_FUNCTIONS if k != kind]) for kind in KIND_FUNCTIONS}
    return {"shared": full - sum(exclusive.values()), **exclusive}


def invoke_and_params(family: str, libs, folder: Path) -> tuple[tuple[int, float], dict[str, set[int]]]:
    """``tinyml_invoke``'s bytes fitted as constant + per layer, and the struct sizes per op."""
    layers, sizes, params = [], [], {}
    for i, lib in enumerate(libs):
        sub = folder / f"m{i}"
        link_size(write_library(lib, sub), family, ("tinyml_invoke",), sub / "m.elf")
        symbols = symbol_sizes(sub / "m.elf")
        graph = lib.patched.graph                     # the layers as run: patches, crops and places
        layers.append(len(graph.layers))
        sizes.append(symbols["tinyml_invoke"])
        for j, layer in enumerate(graph.layers):
            if f"layer{j}" in symbols:
                params.setdefault(layer.op, set()).add(symbols[f"layer{j}"])
    per_call, base = np.polyfit(layers, sizes, 1)
    return (int(round(base)), float(round(per_call, 2))), params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    libs = []
    for k in range(args.models):
        options, shape = SPACES[k % len(SPACES)]
        graph = sample_graphs(options, shape, rng, 1)[0]
        libs.append(generate(export_random(graph, rng)[0], patches=2 * (k % 2)))   # every other with patches
    table, params = {}, {}
    with tempfile.TemporaryDirectory(prefix="tinyml-fit-") as tmp:
        for family in CPU_OF_FAMILY:
            folder = Path(tmp) / family
            folder.mkdir()
            code = kernel_code(family, folder)
            (base, per_call), found = invoke_and_params(family, libs, folder)
            table[family] = {"invoke": base, "per_call": per_call, **code}
            for op, sizes in found.items():
                params.setdefault(op, set()).update(sizes)
    print("ENGINE_FLASH = {")
    for family, row in table.items():
        print(f"    {family!r}: {row},")
    print("}")
    print("ENGINE_PARAMS_BYTES =", {op: sorted(s)[0] if len(s) == 1 else sorted(s) for op, s in sorted(params.items())})


if __name__ == "__main__":
    main()
