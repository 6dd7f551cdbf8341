"""What every search backend provides: its option schema, its objectives and an Optuna sampler.

The driver owns everything else (the study, storage, workers, resume, estimation before training,
duplicate detection, multi-fidelity, outputs), so a backend is a small class:

- ``OPTIONS`` is the schema of its ``search.options`` section (validated by ``__init__``);
- ``objectives()`` names what a trial returns, with Optuna directions; the first is always
  ``val_accuracy`` (maximize), a multi-objective backend adds cost names from ``COSTS``;
- ``sampler(space, seed)`` returns an ``optuna.samplers.BaseSampler`` that proposes one genome per
  trial over the space's categorical genes. Deployability constraints reach it through
  ``Trial.set_constraint`` (feasible when every value is <= 0), set by the driver on every trial.

Weight-sharing backends can add a supernet step by overriding ``prepare(context)``, which the driver
calls once per process (each worker and the coordinator) before its trials, and change how a trial is
scored (``evaluate``) and how the top-k are trained (``train_final``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution

from ...arch import Genome, SearchSpace
from ...config import Schema, validate

COSTS = ("peak_sram", "flash", "latency_ms", "macs")


class Backend:
    """Base class: single objective (validation accuracy), options validated against ``OPTIONS``."""

    name = "base"
    evaluated_status = "trained"   # a trial's status once ``evaluate`` has given its metrics
    cross_validates = True         # candidates are trained, so they can be trained per fold
    OPTIONS: Schema = {}

    def __init__(self, options: Mapping[str, Any] | None = None, source: str = "config") -> None:
        self.options = validate(dict(options or {}), self.OPTIONS, source, "search.options")

    def objectives(self) -> list[tuple[str, str]]:
        """``(metric, direction)`` pairs; metric names come from the trial's metrics."""
        return [("val_accuracy", "maximize")]

    def sampler(self, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
        """The Optuna sampler proposing genomes of ``space``."""
        raise NotImplementedError(f"backend {self.name!r} defines no sampler")

    def prepare(self, context: Any) -> None:
        """Hook run once per worker before its trials (nothing to do for multi-trial backends)."""

    def evaluate(self, context: Any, arch: Any, epochs: int | None,
                 on_epoch: Callable[[dict], None] | None = None,
                 stop_below: float | None = None) -> tuple[Any, dict]:
        """Screen one feasible architecture: ``(module, metrics)`` with at least val_accuracy,
        test_accuracy, epochs_run and train_time_s. Multi-trial backends train it from scratch for
        ``epochs`` (cross-validated: folds left out once its accuracy is under ``stop_below``);
        weight-sharing backends score it with inherited weights."""
        from ..trial import train_candidate

        return train_candidate(context, arch, epochs, on_epoch, stop_below=stop_below)

    def train_final(self, context: Any, arch: Any) -> tuple[Any, dict]:
        """Train one of the top-k in full (``train.epochs``): ``(module, metrics)`` as ``evaluate``.
        With cross-validation: cross-validated again at full length, then trained on train +
        validation for the median best epoch of the folds and tested once."""
        from ..trial import train_candidate

        return train_candidate(context, arch, None, final=True)


class GenomeSampler(optuna.samplers.BaseSampler):
    """An Optuna sampler that proposes a whole genome per trial (``propose``), drawing from a
    generator seeded by ``(seed, trial number)`` so that workers and resumed runs never replay the
    same draws and a given trial number always gets the same proposal."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space = space
        self.seed = seed

    def rng(self, trial: optuna.trial.FrozenTrial) -> np.random.Generator:
        """The generator for one trial."""
        return np.random.default_rng([self.seed, trial.number])

    def propose(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> Genome:
        """The genome of the next trial."""
        raise NotImplementedError

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: optuna.trial.FrozenTrial) -> dict[str, BaseDistribution]:
        return {name: CategoricalDistribution(list(options)) for name, options in self.space.genes.items()}

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.propose(study, trial)

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        choices = param_distribution.choices  # type: ignore[attr-defined]
        return choices[int(self.rng(trial).integers(len(choices)))]
