"""``random``: every gene drawn uniformly, the baseline every other backend must beat."""

from __future__ import annotations

import numpy as np
import optuna

from ...arch import Genome, SearchSpace
from .base import Backend, GenomeSampler


class UniformGenomeSampler(GenomeSampler):
    """Each trial's genome drawn uniformly from the space (``SearchSpace.sample_genome``).

    >>> from tinyml_cli.arch import make_space
    >>> space = make_space({"name": "plain", "max_layers": 2}, (1, 40, 1), 10)
    >>> study = optuna.create_study(sampler=UniformGenomeSampler(space, seed=0), direction="maximize")
    >>> trial = study.ask()
    >>> genome = {g: trial.suggest_categorical(g, list(o)) for g, o in space.genes.items()}
    >>> genome == space.sample_genome(np.random.default_rng([0, 0]))
    True
    """

    def propose(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> Genome:
        return self.space.sample_genome(self.rng(trial))


class RandomBackend(Backend):
    """Random search: no options."""

    name = "random"

    def sampler(self, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
        return UniformGenomeSampler(space, seed)

