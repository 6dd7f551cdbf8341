"""``bayesian``: Optuna's TPE (default) or Gaussian-process sampler over the genes, with the
deployability constraints (``Trial.set_constraint``: estimated SRAM, flash, MACs, latency against
the budget) steering it away from networks that do not fit, as in AutotinyML."""

from __future__ import annotations

import optuna

from ...arch import SearchSpace
from ...config import Field, boolean, choice, integer
from .base import Backend


class BayesianBackend(Backend):
    """Options: ``sampler`` (tpe or gp), ``startup_trials`` (random trials first), ``multivariate``.

    >>> from tinyml_cli.arch import make_space
    >>> space = make_space({"name": "plain", "max_layers": 2}, (1, 40, 1), 10)
    >>> type(BayesianBackend({"sampler": "gp"}).sampler(space, seed=0)).__name__
    'GPSampler'
    """

    name = "bayesian"
    OPTIONS = {
        "sampler": Field(choice("tpe", "gp"), "tpe"),
        "startup_trials": Field(integer(min_value=1), 8, "random trials before the model is used"),
        "multivariate": Field(boolean, True, "TPE: model the genes jointly"),
    }

    def sampler(self, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
        o = self.options
        if o["sampler"] == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=o["startup_trials"])
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=o["startup_trials"],
                                          multivariate=o["multivariate"], constant_liar=True)
