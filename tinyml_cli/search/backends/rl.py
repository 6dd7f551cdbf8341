"""``rl``: a policy-gradient controller that samples the architecture genes and, per layer with
weights, the precision (the space's ``p{k}_precision`` genes, see ``arch/space.py``): the
architecture and its quantization searched jointly, as Co-Design NAS does.

The policy is a softmax over each gene's options (independent logits per gene), trained with
REINFORCE (Williams, 1992) against a moving-average baseline (Zoph & Le, 2017):
``logits[g] += learning_rate * (reward - baseline) * (onehot(choice) - softmax(logits[g]))``, then
``baseline = decay * baseline + (1 - decay) * reward``. The reward is the trial's validation
accuracy when the estimator says the network fits; otherwise, with ``reward: penalty``, that
accuracy (0 for a network never trained) minus ``penalty`` times the summed budget overshoots
(each a fraction of its budget, the trial's constraints), or, with ``reward: cut``, ``cut_reward``
(MnasNet's soft and hard constraints, Tan et al., 2019, in additive form).

The accuracy is the deployed network's: each screened candidate, trained in float, is scored by
its fake-quantized model in its own per-layer precision (batch norm folded, calibrated on
``search.calibration_samples`` training samples; ``float_val_accuracy`` keeps the float figure), so
that what a precision costs in accuracy reaches the policy, not only what it saves in bytes.

The state is the study: each process replays the finished trials it has not learned from, in trial
order, before proposing, so workers and resumed runs learn from every trial. Each trial's draws come
from a generator seeded by ``(seed, trial number)``.

>>> import numpy as np, optuna
>>> from tinyml_cli.arch import make_space
>>> space = make_space({"name": "plain", "max_layers": 2, "precisions": ["w8a8", "w4a8"]}, (1, 40, 1), 10)
>>> sampler = ReinforceSampler(space, seed=0, learning_rate=0.5)
>>> study = optuna.create_study(sampler=sampler, direction="maximize")
>>> for _ in range(60):   # a toy reward: the share of precision genes at w4a8
...     t = study.ask(); genome = {g: t.suggest_categorical(g, list(o)) for g, o in space.genes.items()}
...     _ = study.tell(t, np.mean([genome[g] == "w4a8" for g in genome if g.endswith("_precision")]))
>>> rewards = [t.values[0] for t in study.trials]
>>> bool(np.mean(rewards[-15:]) > np.mean(rewards[:15]) + 0.1)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna

from ...arch import Genome, SearchSpace
from ...config import Field, choice, number
from .base import Backend, GenomeSampler


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


class ReinforceSampler(GenomeSampler):
    """REINFORCE over independent per-gene softmax policies (see the module docstring)."""

    def __init__(self, space: SearchSpace, seed: int, learning_rate: float = 0.3, baseline_decay: float = 0.8,
                 reward: str = "penalty", penalty: float = 1.0, cut_reward: float = 0.0) -> None:
        super().__init__(space, seed)
        self.learning_rate = learning_rate
        self.baseline_decay = baseline_decay
        self.mode = reward
        self.penalty = penalty
        self.cut_reward = cut_reward
        self._reset()

    def _reset(self) -> None:
        self.logits = {gene: np.zeros(len(options)) for gene, options in self.space.genes.items()}
        self.baseline: float | None = None
        self.learned: set[int] = set()
        self.rewards: list[float] = []     # in the order learned

    def reward(self, trial: optuna.trial.FrozenTrial) -> float:
        """Accuracy if the network fits the budget, else penalized or cut."""
        accuracy = float(trial.values[0]) if trial.values else 0.0
        over = sum(max(0.0, value) for value in trial.constraints.values())
        if over <= 0.0:
            return accuracy
        return self.cut_reward if self.mode == "cut" else accuracy - self.penalty * over

    def update(self, genome: Genome, reward: float) -> None:
        """One REINFORCE step on the choices of ``genome`` with ``reward``."""
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        for gene, options in self.space.genes.items():
            step = -_softmax(self.logits[gene])
            step[list(options).index(genome[gene])] += 1.0
            self.logits[gene] += self.learning_rate * advantage * step
        self.baseline = self.baseline_decay * self.baseline + (1.0 - self.baseline_decay) * reward
        self.rewards.append(reward)

    def learn(self, study: optuna.Study, before: int) -> None:
        """Learn from the finished trials numbered below ``before`` not learned from yet."""
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        for t in sorted(done, key=lambda t: t.number):
            if t.number < before and t.number not in self.learned and all(g in t.params for g in self.space.genes):
                self.learned.add(t.number)
                self.update({g: t.params[g] for g in self.space.genes}, self.reward(t))

    def probabilities(self, gene: str) -> np.ndarray:
        """The policy's probabilities over ``gene``'s options."""
        return _softmax(self.logits[gene])

    def propose(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> Genome:
        self.learn(study, trial.number)
        rng = self.rng(trial)
        return {gene: options[int(rng.choice(len(options), p=self.probabilities(gene)))]
                for gene, options in self.space.genes.items()}


class RlBackend(Backend):
    """REINFORCE controller; options ``learning_rate``, ``baseline_decay``, ``reward`` (penalty or
    cut), ``penalty`` and ``cut_reward``.

    >>> RlBackend({"reward": "soft"}, "search.yaml")
    Traceback (most recent call last):
    ...
    tinyml_cli.errors.ConfigError: search.yaml: search.options.reward: expected one of penalty, cut, got 'soft'
    """

    name = "rl"
    OPTIONS = {
        "learning_rate": Field(number(min_value=1e-9), 0.3, "policy step per unit of advantage"),
        "baseline_decay": Field(number(min_value=0.0, max_value=0.999), 0.8, "moving-average baseline decay"),
        "reward": Field(choice("penalty", "cut"), "penalty", "over budget: penalize the accuracy or cut it"),
        "penalty": Field(number(min_value=0.0), 1.0, "reward lost per budget fraction over (reward: penalty)"),
        "cut_reward": Field(number(), 0.0, "the reward of a network over budget (reward: cut)"),
    }

    def sampler(self, space: SearchSpace, seed: int) -> Any:
        return ReinforceSampler(space, seed, **self.options)

    def evaluate(self, context: Any, arch: Any, epochs: int | None, on_epoch: Any = None,
                 stop_below: float | None = None) -> tuple[Any, dict]:
        """Train from scratch (the base's evaluation), then score the deployed model: validation
        and test accuracy of its fake-quantized network in its own precision."""
        from ...export.quantize import int8_accuracies

        module, metrics = super().evaluate(context, arch, epochs, on_epoch, stop_below)
        if module is None:             # cross-validated: no single model to quantize
            return module, metrics
        data = context.data_for(arch)
        calib = data.x_train[:context.cfg["search"]["calibration_samples"]]
        val, test = int8_accuracies(module, calib, (data.x_val, data.y_val), (data.x_test, data.y_test))
        return module, {**metrics, "float_val_accuracy": metrics["val_accuracy"], "val_accuracy": val,
                        "float_test_accuracy": metrics.get("test_accuracy"), "test_accuracy": test}
