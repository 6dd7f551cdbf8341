"""``evolution``: aging (regularized) evolution (Real et al., 2019) as uNAS uses it.

The population is the ``population`` most recent feasible, trained trials of the study (older ones
age out). Each new trial samples ``sample_size`` of them, takes the most accurate as parent and
changes one gene (``SearchSpace.mutate``), retrying while the change leaves the network unchanged
(a gene of a skipped block). Until the population is full, genomes are drawn at random. The state
is the study itself, so workers and resumed runs share one population.
"""

from __future__ import annotations

import optuna

from ...arch import Genome, SearchSpace
from ...config import Field, integer
from .base import Backend, GenomeSampler

FEASIBLE = "feasible"


class AgingEvolutionSampler(GenomeSampler):
    """Tournament selection over the last ``population`` feasible trials, one-gene mutation.

    >>> import numpy as np
    >>> from tinyml_cli.arch import make_space
    >>> space = make_space({"name": "plain", "max_layers": 2}, (1, 40, 1), 10)
    >>> sampler = AgingEvolutionSampler(space, seed=0, population=2, sample_size=2)
    >>> study = optuna.create_study(sampler=sampler, direction="maximize")
    >>> for acc in (0.5, 0.9):  # two random founders
    ...     t = study.ask(); _ = [t.suggest_categorical(g, list(o)) for g, o in space.genes.items()]
    ...     t.set_user_attr("feasible", True); _ = study.tell(t, acc)
    >>> t = study.ask(); child = {g: t.suggest_categorical(g, list(o)) for g, o in space.genes.items()}
    >>> sum(child[g] != study.trials[1].params[g] for g in child)  # one gene away from the 0.9 parent
    1
    """

    def __init__(self, space: SearchSpace, seed: int, population: int, sample_size: int) -> None:
        super().__init__(space, seed)
        self.population = population
        self.sample_size = sample_size

    def propose(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> Genome:
        rng = self.rng(trial)
        done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if t.user_attrs.get(FEASIBLE) and t.number < trial.number]
        if len(done) < self.population:
            return self.space.sample_genome(rng)
        population = sorted(done, key=lambda t: t.number)[-self.population:]
        picks = rng.choice(len(population), size=min(self.sample_size, len(population)), replace=False)
        parent = max((population[i] for i in picks), key=lambda t: (t.values[0], -t.number))
        genome = {g: parent.params[g] for g in self.space.genes}
        key = self.space.decode(genome).key()
        for _ in range(20):
            child = self.space.mutate(genome, rng)
            if self.space.decode(child).key() != key:
                return child
        return child


class EvolutionBackend(Backend):
    """Aging evolution; options ``population`` and ``sample_size``."""

    name = "evolution"
    OPTIONS = {
        "population": Field(integer(min_value=2), 10, "feasible trials kept alive"),
        "sample_size": Field(integer(min_value=1), 3, "tournament size"),
    }

    def sampler(self, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
        return AgingEvolutionSampler(space, seed, self.options["population"], self.options["sample_size"])
