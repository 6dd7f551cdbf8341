"""What every search backend provides, and the default evaluation: train each candidate from scratch.

A backend is one module in this folder with one :class:`Backend` subclass, registered by name in the
plain dict ``BACKENDS`` of ``backends/__init__.py``. The driver owns everything else (the study,
storage, workers, resume, estimation before training, duplicate detection, multi-fidelity,
outputs), so a backend is a small class:

- ``name`` and ``OPTIONS``, the schema of its ``search.options`` section (validated by ``__init__``);
- ``objectives()``: what a trial returns, with Optuna directions; the first is always
  ``val_accuracy`` (maximize), a multi-objective backend adds cost names from ``COSTS``;
- ``sampler(space, seed)``: an ``optuna.samplers.BaseSampler`` proposing one genome per trial over
  the space's categorical genes; usually a :class:`GenomeSampler`, which owns its state and draws
  from a generator seeded by ``(seed, trial number)``. What the driver learnt of a trial reaches it
  through the study: ``Trial.set_constraint`` (feasible when every value is <= 0) and the user
  attributes ``feasible``, ``status``, ``costs`` and ``metrics`` (see ``search/trial.py``);
- optionally ``prepare(context)``: once per process (each worker and the coordinator) before the
  sampler is made, for a backend with state of its own (a supernet); keep that state in explicit
  attributes set there;
- optionally ``evaluate`` and ``train_final``: how a feasible trial is scored and how the top-k are
  trained. The defaults here train from scratch (cross-validated when the search has folds);
  weight-sharing backends score with inherited weights instead;
- ``cross_validates``, ``evaluated_status`` and ``spends_infeasible`` (whether a trial the estimator
  rejects counts toward ``search.trials``, as in AutotinyML, where the deployment check is the costly
  black box) describe how the driver treats its trials.

A backend reads the search only through the :class:`Context` it is handed and imports nothing from
the driver's modules, so imports run one way: driver → study/trial → context → backends.

>>> from tinyml_cli.arch import make_space
>>> class FirstChoice(GenomeSampler):
...     def propose(self, study, trial):
...         return {gene: options[0] for gene, options in self.space.genes.items()}
>>> class FirstBackend(Backend):
...     name = "first"
...     def sampler(self, space, seed):
...         return FirstChoice(space, seed)
>>> space = make_space({"name": "plain", "max_layers": 2}, (1, 40, 1), 10)
>>> study = optuna.create_study(sampler=FirstBackend().sampler(space, seed=0), direction="maximize")
>>> trial = study.ask()
>>> all(trial.suggest_categorical(g, list(o)) == o[0] for g, o in space.genes.items())
True
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution

from ...arch import Arch, Genome, SearchSpace, build_graph
from ...config import Schema, validate
from ...data import Dataset
from ...data.cv import Fold
from ...mcu import Budget, McuProfile
from ...train.crossval import cross_validate, train_on_all
from ...train.loop import train_and_evaluate

COSTS = ("peak_sram", "flash", "latency_ms", "macs")


class Context(Protocol):
    """What a backend may read of the search it serves (``search/context.py`` builds it)."""

    cfg: dict                      # the resolved config
    space: SearchSpace
    profile: McuProfile
    budget: Budget
    folds: list[Fold] | None       # cross-validation folds over train + validation, or None

    @property
    def seed(self) -> int: ...

    def data_for(self, arch: Arch) -> Dataset: ...


def train_from_scratch(context: Context, arch: Arch, epochs: int | None,
                       on_epoch: Callable[[dict], None] | None = None,
                       final: bool = False, stop_below: float | None = None) -> tuple[Any, dict]:
    """Train ``arch`` on the (resized) dataset with the run's training settings and seed:
    ``(module, metrics)``. With cross-validation folds, screening cross-validates (no module: None;
    racing: folds left out once the accuracy so far is under ``stop_below``); ``final``
    cross-validates on every fold, then trains on train + validation for the folds' median best
    epoch and tests once (metrics: the cross-validation's, with that test accuracy)."""
    graph, data, train = build_graph(arch), context.data_for(arch), context.cfg["train"]
    if not context.folds:
        return train_and_evaluate(graph, data, train, context.seed, epochs, on_epoch)
    cv = cross_validate(graph, data, context.folds, train, context.seed, epochs, on_epoch,
                        None if final else stop_below)
    if not final:
        return None, cv
    module, metrics = train_on_all(graph, data, train, context.seed, max(1, cv["best_epoch"]))
    return module, {**cv, "test_accuracy": metrics["test_accuracy"], "final_epochs": metrics["epochs_run"],
                    "train_time_s": cv["train_time_s"] + metrics["train_time_s"]}


class Backend:
    """Base class: single objective (validation accuracy), options validated against ``OPTIONS``,
    candidates trained from scratch."""

    name = "base"
    evaluated_status = "trained"   # a trial's status once ``evaluate`` has given its metrics
    cross_validates = True         # candidates are trained, so they can be trained per fold
    spends_infeasible = False      # a trial the estimator rejects does not count toward search.trials
    OPTIONS: Schema = {}

    def __init__(self, options: Mapping[str, Any] | None = None, source: str = "config") -> None:
        self.options = validate(dict(options or {}), self.OPTIONS, source, "search.options")

    def objectives(self) -> list[tuple[str, str]]:
        """``(metric, direction)`` pairs; metric names come from the trial's metrics."""
        return [("val_accuracy", "maximize")]

    def sampler(self, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
        """The Optuna sampler proposing genomes of ``space`` (every backend defines one)."""
        raise TypeError(f"backend {self.name!r} defines no sampler")

    def prepare(self, context: Context) -> None:
        """Run once per process before the sampler is made (nothing to do for multi-trial backends)."""

    def evaluate(self, context: Context, arch: Arch, epochs: int | None,
                 on_epoch: Callable[[dict], None] | None = None,
                 stop_below: float | None = None) -> tuple[Any, dict]:
        """Screen one feasible architecture: ``(module, metrics)`` with at least val_accuracy,
        test_accuracy, epochs_run and train_time_s. Here: trained from scratch for ``epochs``
        (cross-validated: folds left out once its accuracy is under ``stop_below``)."""
        return train_from_scratch(context, arch, epochs, on_epoch, stop_below=stop_below)

    def train_final(self, context: Context, arch: Arch) -> tuple[Any, dict]:
        """Train one of the top-k in full (``train.epochs``): ``(module, metrics)`` as ``evaluate``.
        With cross-validation: cross-validated again at full length, then trained on train +
        validation for the median best epoch of the folds and tested once."""
        return train_from_scratch(context, arch, None, final=True)


class GenomeSampler(optuna.samplers.BaseSampler):
    """An Optuna sampler that proposes a whole genome per trial (``propose``), drawing from a
    generator seeded by ``(seed, trial number)`` so that workers and resumed runs never replay the
    same draws and a given trial number always gets the same proposal. Whatever else it needs it
    holds itself (given to ``__init__``) or reads from the study."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space = space
        self.seed = seed

    def rng(self, trial: optuna.trial.FrozenTrial) -> np.random.Generator:
        """The generator for one trial."""
        return np.random.default_rng([self.seed, trial.number])

    def propose(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> Genome:
        """The genome of the next trial (subclasses define it)."""
        raise TypeError(f"{type(self).__name__} defines no propose()")

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
