"""The estimator as the weight-sharing backends use it: cached per architecture.

>>> from tinyml_cli.arch import make_space
>>> from tinyml_cli.mcu import budget_for, load_profile
>>> profile = load_profile("STM32F412")
>>> costs = CostModel(profile, budget_for(profile, {"sram": 16 * 1024}))
>>> arch = make_space({}, (1, 40, 1), 10).sample(np.random.default_rng(0))
>>> costs.fits(arch) == (costs.estimate(arch).peak_sram <= 16 * 1024 and costs.overshoot(arch) == 0)
True
"""

from __future__ import annotations

import numpy as np

from ...arch import Arch, build_graph
from ...estimate import Estimate, estimate
from ...estimate.target import engine_options
from ...mcu import Budget, McuProfile


class CostModel:
    """Estimates of architectures on one MCU, budget and runtime, computed once per architecture."""

    def __init__(self, profile: McuProfile, budget: Budget, runtime: str = "tflm", engine: dict | None = None) -> None:
        self.profile, self.budget = profile, budget
        self.options = {"runtime": runtime, **engine_options(engine)}
        self._cache: dict[str, Estimate] = {}

    def estimate(self, arch: Arch) -> Estimate:
        """The estimator's verdict on ``arch``."""
        key = arch.key()
        if key not in self._cache:
            self._cache[key] = estimate(build_graph(arch), self.profile, self.budget, **self.options)
        return self._cache[key]

    def fits(self, arch: Arch) -> bool:
        """Whether ``arch`` fits every budget."""
        return self.estimate(arch).fits

    def macs(self, arch: Arch) -> float:
        """Multiply-accumulates of ``arch``."""
        return float(self.estimate(arch).macs)

    def overshoot(self, arch: Arch) -> float:
        """Sum over budgets of how far ``arch`` exceeds each, relative to the budget (0 when it fits)."""
        est, b = self.estimate(arch), self.budget
        used = {"sram": (est.peak_sram, b.sram), "flash": (est.flash_model, b.flash),
                "macs": (est.macs, b.macs), "latency_ms": (est.latency_ms, b.latency_ms)}
        return sum(max(0.0, value / limit - 1.0) for value, limit in used.values() if limit)
