"""A digest of the estimator's results over a fixed sample, to check that a change (an optimization)
leaves every estimate identical: run it before and after, and compare the two digests.

    PYTHONPATH=. python scripts/estimate_digest.py [--n 500]

The sample: --n architectures from each of six spaces (mbnet and plain, 2-D and 1-D inputs), each
estimated on one of five MCUs for the MCU and host TFLM builds, and for some as a float32 model or with
float32 ends. The digest covers every graph's repr and every Estimate.to_dict().
"""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np

from tinyml_cli.arch import build_graph, make_space
from tinyml_cli.errors import ArchError
from tinyml_cli.estimate import estimate
from tinyml_cli.mcu import Budget, budget_for, load_profile

MCUS = ("STM32F746", "STM32F412", "RP2040", "ESP32-S3", "nRF52840")
SPACES = (("mbnet", (96, 96, 3), {"resolutions": [48, 96]}), ("mbnet", (1, 128, 3), {}),
          ("mbnet", (32, 32, 1), {}), ("plain", (1, 40, 1), {}), ("plain", (28, 28, 1), {}),
          ("plain", (64, 64, 3), {}))


def results(n: int):
    """Yield one text per graph, per estimate and per architecture that does not build."""
    rng = np.random.default_rng(123)
    for name, shape, options in SPACES:
        space = make_space({"name": name, **options}, shape, 10)
        for k in range(n):
            try:
                graph = build_graph(space.sample(rng))
            except ArchError as e:
                yield str(e)
                continue
            yield repr(graph)
            profile = load_profile(MCUS[k % len(MCUS)])
            budget = budget_for(profile)
            variants: list[dict] = [{}, {"build": "host"}]
            if k % 3 == 0:
                variants.append({"activation_bytes": 4, "weight_bytes": 4, "model_bytes": 12345})
            if k % 3 == 1:
                variants.append({"io_bytes": (4, 4)})
            if k % 5 == 2:
                variants.append({"io_bytes": (4, 1), "build": "host"})
                budget = Budget(budget.sram, budget.flash, 1_000_000, 20.0)
            for variant in variants:
                yield json.dumps(estimate(graph, profile, budget, **variant).to_dict(), sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="architectures per space")
    args = parser.parse_args()
    digest, count = hashlib.sha256(), 0
    for text in results(args.n):
        digest.update(text.encode() + b"\n")
        count += 1
    print(f"{count} graphs, estimates and build errors: sha256 {digest.hexdigest()}")


if __name__ == "__main__":
    main()
