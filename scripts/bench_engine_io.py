"""What the engine's float I/O helper and per-model prefixes cost on a Cortex-M: on random
architectures of both search spaces (bench_export.py's), the flash of the library linked from
``tinyml_invoke_float`` against ``tinyml_invoke`` alone (``arm-none-eabi-size`` text + data,
``--gc-sections``; soft float, as the engine is built: the helper pulls libgcc's float division and
multiplication), for the Cortex-M0+, M4 and M7; and the flash of two models prefixed ``a`` and
``b`` linked into one image with one copy of the kernels, against the two linked apart. Prints one
row per architecture and the medians.

    PYTHONPATH=.:scripts python scripts/bench_engine_io.py [--n 8] [--seed 0]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from bench_export import bench_args, random_quantized, sample_graphs

from tinyml_cli.engine.codegen import generate
from tinyml_cli.engine.host import write_library
from tinyml_cli.engine.size import link_size

FAMILIES = ("m0plus", "m4", "m7")


def main() -> None:
    args, rng = bench_args(__doc__, "STM32F746")
    graphs = sample_graphs(args.n, rng)
    libs = [generate(random_quantized(graph, rng)[0], prefix=f"m{k}") for k, graph in enumerate(graphs)]
    extra = {family: [] for family in FAMILIES}
    print("arch  " + "  ".join(f"{f}: invoke / +float (B)" for f in FAMILIES) + "  pair m4: together / apart (B)")
    with tempfile.TemporaryDirectory(prefix="tinyml-bench-io-") as tmp:
        folder = Path(tmp)
        sources = [write_library(lib, folder / lib.prefix) for lib in libs]
        cells, shared = [], []
        for k, (lib, src) in enumerate(zip(libs, sources)):
            row = []
            for family in FAMILIES:
                plain = link_size(src, family, (f"{lib.prefix}_invoke",), folder / "x.elf").flash
                both = link_size(src, family, (f"{lib.prefix}_invoke_float",), folder / "x.elf").flash
                extra[family].append(both - plain)
                row.append(f"{plain:>9} / +{both - plain:<5}")
            pair = ""
            if k % 2 == 1:                      # this model and the one before, in one image
                a, b = libs[k - 1], lib
                apart = sum(link_size(s, "m4", (f"{x.prefix}_invoke",), folder / "x.elf").flash
                            for x, s in ((a, sources[k - 1]), (b, src)))
                one = [*sources[k - 1], next(p for p in src if p.name == f"{b.prefix}_model.c")]
                together = link_size(one, "m4", (f"{a.prefix}_invoke", f"{b.prefix}_invoke"), folder / "x.elf").flash
                shared.append(apart - together)
                pair = f"{together} / {apart}"
            cells.append(f"{k:>4}  " + "  ".join(row) + "  " + pair)
        print("\n".join(cells))
    print("median flash of tinyml_invoke_float beyond tinyml_invoke: "
          + ", ".join(f"{f} {np.median(extra[f]):.0f} B" for f in FAMILIES))
    print(f"median flash saved by linking two models into one image (one copy of the kernels and C library helpers; m4): {np.median(shared):.0f} B")


if __name__ == "__main__":
    main()
