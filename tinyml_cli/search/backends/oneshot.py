"""``oneshot``: train one supernet, then search its subnets without training them (MCUNet, OFA).

``prepare`` optionally shrinks the space to the MCU first (TinyNAS: the width and resolution whose
sampled fitting subnets best fill the budget), then trains an mbnet supernet with the sandwich rule
(largest, smallest and random fitting subnets each step). Trials then run aging evolution over
fitting subnets of the shrunk space, each scored by its validation accuracy with inherited weights
after recalibrating batch norm on a few batches: milliseconds per architecture instead of a training
run. The top-k are fine-tuned from their inherited weights for ``train.epochs``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution

from ...arch import Arch, Genome, SearchSpace
from ...config import Field, boolean, integer
from ..weight_sharing import CostModel, Fits, Supernet, sample_fitting, shrink_space, train_supernet
from .base import Context
from .evolution import AgingEvolutionSampler
from .weight_sharing import WeightSharingBackend


class FittingSpace:
    """A view of a search space whose samples and mutations fit the budget (by rejection).

    >>> from tinyml_cli.arch import make_space
    >>> space = FittingSpace(make_space({}, (1, 40, 1), 10), lambda arch: arch.choices["width"] < 0.5)
    >>> rng = np.random.default_rng(0)
    >>> {space.mutate(space.sample_genome(rng), rng)["width"] for _ in range(20)}
    {0.25, 0.35}
    """

    def __init__(self, space: SearchSpace, fits: Fits, tries: int = 50) -> None:
        self.space, self.fits, self.tries = space, fits, tries
        self.genes = space.genes

    def decode(self, genome: Genome) -> Arch:
        """The Arch of ``genome``."""
        return self.space.decode(genome)

    def sample_genome(self, rng: np.random.Generator) -> Genome:
        """A random fitting genome."""
        return sample_fitting(self.space, self.fits, rng)

    def mutate(self, genome: Genome, rng: np.random.Generator) -> Genome:
        """A one-gene mutation that fits (``genome`` itself when none is found)."""
        for _ in range(self.tries):
            child = self.space.mutate(genome, rng)
            if self.fits(self.decode(child)):
                return child
        return dict(genome)


class SubspaceEvolutionSampler(AgingEvolutionSampler):
    """Aging evolution inside ``subspace`` (the shrunk space's fitting subnets), suggesting over the
    full space's distributions so the study's parameters never change."""

    def __init__(self, space: SearchSpace, subspace: FittingSpace, seed: int, population: int,
                 sample_size: int) -> None:
        super().__init__(subspace, seed, population, sample_size)   # type: ignore[arg-type]
        self.full = space

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: optuna.trial.FrozenTrial) -> dict[str, BaseDistribution]:
        return {name: CategoricalDistribution(list(options)) for name, options in self.full.genes.items()}


class OneshotBackend(WeightSharingBackend):
    """Options: supernet training (``supernet_epochs``, ``random_subnets``), shrinking (``shrink``,
    ``shrink_samples``), scoring (``bn_batches``) and evolution (``population``, ``sample_size``).

    >>> OneshotBackend({"supernet_epochs": 5}).options["random_subnets"]
    2
    """

    name = "oneshot"
    OPTIONS = {
        "supernet_epochs": Field(integer(min_value=1), 30, "epochs of sandwich-rule supernet training"),
        "random_subnets": Field(integer(min_value=0), 2, "random subnets per step besides the largest "
                                "and the smallest"),
        "shrink": Field(boolean, True, "first keep the width and resolution that best fill the budget"),
        "shrink_samples": Field(integer(min_value=1), 100, "subnets sampled per setting when shrinking"),
        "bn_batches": Field(integer(min_value=1), 4, "batches recalibrating batch norm per subnet"),
        "population": Field(integer(min_value=2), 20, "scored subnets kept alive"),
        "sample_size": Field(integer(min_value=1), 5, "tournament size"),
    }

    def __init__(self, options: Any = None, source: str = "config") -> None:
        super().__init__(options, source)
        self.fitting: FittingSpace | None = None    # the shrunk space's fitting subnets, set by build

    def sampler(self, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
        self.require_net()
        return SubspaceEvolutionSampler(space, self.fitting, seed, self.options["population"],
                                        self.options["sample_size"])

    def build(self, context: Context) -> Supernet:
        """Shrink the space and train the supernet; evolution then runs in the shrunk space."""
        o = self.options
        space = context.space
        costs = CostModel(context.profile, context.budget, context.cfg["runtime"], context.cfg["engine"])
        rng = np.random.default_rng(context.seed)
        if o["shrink"]:
            space = shrink_space(space, costs.macs, costs.fits, o["shrink_samples"], rng)
        net = Supernet(space)
        train_supernet(net, context.data_for, context.cfg["train"], o["supernet_epochs"],
                       o["random_subnets"], rng, context.seed, costs.fits)
        self.fitting = FittingSpace(space, costs.fits)
        return net
