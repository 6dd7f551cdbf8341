"""``nsga2``: multi-objective search with Optuna's NSGA-II: accuracy against the estimated costs
(``objectives``: any of peak_sram, flash, latency_ms, macs). The result is the Pareto front of the
feasible trained candidates."""

from __future__ import annotations

import optuna

from ...arch import SearchSpace
from ...config import Field, choice, integer, list_of
from .base import COSTS, Backend


class Nsga2Backend(Backend):
    """Options: ``population`` (generation size) and ``objectives`` (costs to minimise).

    >>> Nsga2Backend({"objectives": ["peak_sram"]}).objectives()
    [('val_accuracy', 'maximize'), ('peak_sram', 'minimize')]
    """

    name = "nsga2"
    OPTIONS = {
        "population": Field(integer(min_value=2), 10),
        "objectives": Field(list_of(choice(*COSTS), 1), ["peak_sram", "flash", "latency_ms"]),
    }

    def objectives(self) -> list[tuple[str, str]]:
        return [("val_accuracy", "maximize")] + [(c, "minimize") for c in self.options["objectives"]]

    def sampler(self, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(population_size=self.options["population"], seed=seed)
