"""``differentiable``: Gumbel-softmax search of the mbnet block choices under a differentiable and
hard resource constraint (FBNet / E-DNAS, HardCoRe-NAS).

``prepare`` fixes the width and resolution (TinyNAS shrinking), then trains a relaxed supernet:
weights on one part of the training split, the choice logits on the other, the logits' loss adding a
penalty on the expected SRAM, flash, MACs and latency above ``target`` of each budget
(:mod:`tinyml_cli.search.weight_sharing.relaxed`). The most likely architecture is derived and repaired until the
estimator says it fits. The first trial is that architecture; later trials sample the learned
distribution (each sample repaired too), all scored with inherited weights, and the top-k are
fine-tuned from their inherited weights for ``train.epochs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from ...arch import Genome, SearchSpace
from ...arch.mbnet import MbnetSpace
from ...config import Field, integer, number
from ..weight_sharing import CostModel, RelaxedSupernet, Supernet, repair, shrink_space, train_relaxed
from .base import Context, GenomeSampler
from .weight_sharing import WeightSharingBackend


@dataclass
class Relaxation:
    """What the relaxed search learnt: the shrunk space, the trained relaxed supernet, the cost model,
    the repaired most likely genome and the per-epoch history."""

    space: MbnetSpace
    model: RelaxedSupernet
    costs: CostModel
    derived: Genome
    history: list[dict]

    def preference(self, gene: str, value: Any) -> float:
        """The learned logit of ``value`` for ``gene`` (repair keeps the likelier choices)."""
        return float(self.model.logits(gene)[self.space.genes[gene].index(value)])

    def sample(self, rng: np.random.Generator) -> Genome:
        """A genome drawn from the learned distribution, repaired to fit."""
        return repair(self.space, self.model.sample_genome(rng), self.costs, self.preference)


class LearnedSampler(GenomeSampler):
    """The derived architecture first, then samples of the learned choice distribution."""

    def __init__(self, space: SearchSpace, seed: int, relaxation: Relaxation) -> None:
        super().__init__(space, seed)
        self.relaxation = relaxation

    def propose(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> Genome:
        r = self.relaxation
        derived_key = r.space.decode(r.derived).key()
        earlier = study.get_trials(deepcopy=False)
        if not any(t.user_attrs.get("arch_key") == derived_key for t in earlier if t.number != trial.number):
            return dict(r.derived)
        return r.sample(self.rng(trial))


class DifferentiableBackend(WeightSharingBackend):
    """Options: relaxed training (``epochs``, ``warmup_epochs``, ``arch_lr``, ``arch_fraction``,
    ``tau_start``, ``tau_end``), the resource penalty (``penalty``, ``target``, ``smooth_bytes``),
    shrinking (``shrink_samples``) and scoring (``bn_batches``). The weights train with the
    ``train`` section's optimizer and schedule, the choice logits with Adam at ``arch_lr``.

    >>> DifferentiableBackend({"epochs": 8}).options["warmup_epochs"]
    5
    >>> DifferentiableBackend({"target": 1.5}, "demo.yaml")
    Traceback (most recent call last):
    ...
    tinyml_cli.errors.ConfigError: demo.yaml: search.options.target: expected a number in [0.1, 1.0], got 1.5
    """
    name = "differentiable"
    OPTIONS = {
        "epochs": Field(integer(min_value=1), 30, "epochs of alternating weight / architecture steps"),
        "warmup_epochs": Field(integer(min_value=0), 5, "first epochs training weights only"),
        "arch_lr": Field(number(min_value=0.0), 0.01, "Adam learning rate of the choice logits"),
        "arch_fraction": Field(number(min_value=0.05, max_value=0.95), 0.3,
                               "share of the training split used for the choice logits"),
        "tau_start": Field(number(min_value=0.01), 5.0, "Gumbel-softmax temperature at the start"),
        "tau_end": Field(number(min_value=0.01), 0.5, "and at the end (geometric decay)"),
        "penalty": Field(number(min_value=0.0), 5.0, "weight of the resource penalty"),
        "target": Field(number(min_value=0.1, max_value=1.0), 0.9,
                        "penalise expected use above this fraction of each budget"),
        "smooth_bytes": Field(number(min_value=1.0), 256.0, "temperature of the smooth max of live sets"),
        "shrink_samples": Field(integer(min_value=1), 100, "subnets sampled per width x resolution"),
        "bn_batches": Field(integer(min_value=1), 4, "batches recalibrating batch norm per subnet"),
    }

    def __init__(self, options: Any = None, source: str = "config") -> None:
        super().__init__(options, source)
        self.relaxation: Relaxation | None = None    # set by build

    def sampler(self, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
        self.require_net()
        return LearnedSampler(space, seed, self.relaxation)

    def build(self, context: Context) -> Supernet:
        """Shrink, train the relaxed supernet, derive and repair the most likely architecture."""
        costs = CostModel(context.profile, context.budget, context.cfg["runtime"], context.cfg["engine"])
        rng = np.random.default_rng(context.seed)
        space = shrink_space(context.space, costs.macs, costs.fits, self.options["shrink_samples"], rng)
        model = RelaxedSupernet(space)
        data = context.data_for(space.decode(model.derive()))  # at the one resolution
        history = train_relaxed(model, data, costs, context.cfg["train"], self.options, context.seed)
        relaxation = Relaxation(space, model, costs, {}, history)
        relaxation.derived = repair(space, model.derive(), costs, relaxation.preference)
        self.relaxation = relaxation
        return model.net
