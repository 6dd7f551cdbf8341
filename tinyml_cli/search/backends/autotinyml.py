"""``autotinyml``: Bayesian optimization with the deployment check as a black box (AutotinyML:
Perego, Candelieri, Archetti and Pau, "AutoTinyML for microcontrollers: dealing with black-box
deployability", 2022; the SVM-CBO scheme of Candelieri et al.).

The sampler is never told which architectures fit. It learns the feasible region from the verdicts
the estimator gave earlier trials (the ``feasible`` user attribute): a non-linear SVM classifier
(RBF kernel) over the encoded genes. A random forest models the loss (1 - validation accuracy) of the
feasible, evaluated trials; its trees' spread is the uncertainty. Each proposal is the candidate with
the lowest lower confidence bound ``mean - kappa * std`` among candidates the classifier predicts
feasible (random genomes and one-gene mutations of the best trials, never an architecture already
tried); the first ``initial_trials`` are random. A trial the estimator rejects is never trained,
but, as in the paper, it counts toward ``search.trials`` (``spends_infeasible``): the deployment
check is the costly black box that the classifier learns to avoid.

Genes are encoded as numbers: numeric options by their rank among the gene's options scaled to
[0, 1], others one-hot (:func:`encode`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from ...arch import Genome, SearchSpace
from ...config import Field, integer, number
from .base import Backend, GenomeSampler

FEASIBLE = "feasible"


def _numeric(options: Sequence[Any]) -> bool:
    return all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in options)


def encode(space: SearchSpace, genomes: Sequence[Genome]) -> np.ndarray:
    """One row per genome: a numeric gene's rank among its sorted options over (options - 1), a
    one-hot block for any other gene.

    >>> from tinyml_cli.arch import make_space
    >>> space = make_space({"name": "plain", "max_layers": 1}, (1, 40, 1), 10)
    >>> space.genes["l0_type"], space.genes["l0_channels"]
    (('conv', 'dwsep'), (4, 8, 16, 32, 64))
    >>> genome = {g: o[0] for g, o in space.genes.items()} | {"l0_type": "dwsep", "l0_channels": 16}
    >>> encode(space, [genome])[0][:3].tolist()   # l0_type one-hot, then l0_channels' rank
    [0.0, 1.0, 0.5]
    """
    columns = []
    for gene, options in space.genes.items():
        values = [g[gene] for g in genomes]
        if _numeric(options):
            rank = {o: i for i, o in enumerate(sorted(options))}
            columns.append(np.array([[rank[v] / max(1, len(options) - 1)] for v in values]))
        else:
            columns.append(np.array([[float(v == o) for o in options] for v in values]).reshape(len(values), -1))
    return np.hstack(columns) if columns else np.zeros((len(genomes), 0))


def fit_feasibility(x: np.ndarray, feasible: np.ndarray, c: float = 10.0) -> Any:
    """An RBF-kernel SVM classifier of feasibility (classes balanced: infeasible points are often
    the many); ``decision_function(x) > 0``: predicted feasible. Needs both classes in ``feasible``."""
    from sklearn.svm import SVC

    return SVC(kernel="rbf", C=c, gamma="scale", class_weight="balanced").fit(x, feasible.astype(int))


def fit_surrogate(x: np.ndarray, loss: np.ndarray, trees: int, seed: int) -> Any:
    """A random forest regressor of the loss."""
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=trees, random_state=seed).fit(x, loss)


def lower_confidence_bound(forest: Any, x: np.ndarray, kappa: float) -> np.ndarray:
    """``mean - kappa * std`` of the trees' predictions at each row of ``x``."""
    per_tree = np.stack([tree.predict(x) for tree in forest.estimators_])
    return per_tree.mean(axis=0) - kappa * per_tree.std(axis=0)


class AutotinymlSampler(GenomeSampler):
    """Random genomes for the first ``initial_trials``, then the lowest LCB among ``candidates``
    predicted feasible (see the module docstring). The study is its memory: the verdicts and
    accuracies of the trials before this one.

    >>> from tinyml_cli.arch import make_space
    >>> space = make_space({"name": "plain", "max_layers": 2}, (1, 40, 1), 10)
    >>> sampler = AutotinymlSampler(space, seed=0, initial_trials=10, candidates=100, trees=10)
    >>> study = optuna.create_study(sampler=sampler, direction="maximize")
    >>> verdicts = []
    >>> for _ in range(25):   # a black box: fits when layer 0 has at most 16 channels
    ...     t = study.ask()
    ...     genome = {g: t.suggest_categorical(g, list(o)) for g, o in space.genes.items()}
    ...     fits = genome["l0_channels"] <= 16
    ...     t.set_user_attr("feasible", fits); verdicts.append(fits)
    ...     _ = study.tell(t, genome["l0_kernel"] / 10 if fits else 0.0)
    >>> sum(verdicts[:10]), sum(verdicts[10:])   # fitting: 5 of 10 random, then 13 of 15 learnt
    (5, 13)
    """

    def __init__(self, space: SearchSpace, seed: int, initial_trials: int = 10, candidates: int = 500,
                 kappa: float = 1.0, trees: int = 100, svm_c: float = 10.0) -> None:
        super().__init__(space, seed)
        self.initial_trials, self.candidates, self.kappa = initial_trials, candidates, kappa
        self.trees, self.svm_c = trees, svm_c

    def propose(self, study: optuna.Study, trial: FrozenTrial) -> Genome:
        rng = self.rng(trial)
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.number < trial.number and FEASIBLE in t.user_attrs and t.params.keys() >= self.space.genes.keys()]
        feasible = np.array([bool(t.user_attrs[FEASIBLE]) for t in done])
        if len(done) < self.initial_trials or not feasible.any():
            return self.space.sample_genome(rng)
        genomes = [{g: t.params[g] for g in self.space.genes} for t in done]
        scored = [(1.0 - t.values[0], g) for t, g, ok in zip(done, genomes, feasible) if ok]
        pool = self._candidates(study, trial, [g for _, g in sorted(scored, key=lambda s: s[0])[:5]], rng)
        if not pool:
            return self.space.sample_genome(rng)
        x_pool = encode(self.space, pool)
        if feasible.all():          # nothing rejected yet: every candidate may fit
            inside = np.ones(len(pool), bool)
        else:
            margin = fit_feasibility(encode(self.space, genomes), feasible, self.svm_c).decision_function(x_pool)
            inside = margin > 0
            if not inside.any():    # the classifier's most confident candidate
                return pool[int(np.argmax(margin))]
        if len(scored) < 2:
            return pool[int(np.flatnonzero(inside)[0])]
        forest = fit_surrogate(encode(self.space, [g for _, g in scored]), np.array([s for s, _ in scored]),
                               self.trees, int(rng.integers(2**31)))
        bound = np.where(inside, lower_confidence_bound(forest, x_pool, self.kappa), np.inf)
        return pool[int(np.argmin(bound))]

    def _candidates(self, study: optuna.Study, trial: FrozenTrial, best: list[Genome],
                    rng: np.random.Generator) -> list[Genome]:
        """Random genomes and one-gene mutations of ``best``, without architectures tried before."""
        seen = {t.user_attrs.get("arch_key") for t in study.get_trials(deepcopy=False) if t.number != trial.number}
        pool = [self.space.sample_genome(rng) for _ in range(self.candidates)]
        pool += [self.space.mutate(g, rng) for g in best for _ in range(max(1, self.candidates // 10))]
        out, keys = [], set()
        for genome in pool:
            key = self.space.decode(genome).key()
            if key not in seen and key not in keys:
                keys.add(key)
                out.append(genome)
        return out


class AutotinymlBackend(Backend):
    """Options: ``initial_trials`` (random design), ``candidates`` (random genomes scored per
    proposal), ``kappa`` (exploration weight of the LCB), ``trees`` (random forest size), ``svm_c``
    (the classifier's regularization).

    >>> AutotinymlBackend().spends_infeasible, AutotinymlBackend({"kappa": 2}).options["trees"]
    (True, 100)
    """

    name = "autotinyml"
    spends_infeasible = True
    OPTIONS = {
        "initial_trials": Field(integer(min_value=2), 10, "random trials before the models are used"),
        "candidates": Field(integer(min_value=1), 500, "random genomes the acquisition ranks per proposal "
                            "(plus one-gene mutations of the five best)"),
        "kappa": Field(number(min_value=0.0), 1.0, "lower confidence bound: mean - kappa * std of the trees"),
        "trees": Field(integer(min_value=1), 100, "trees of the random-forest surrogate"),
        "svm_c": Field(number(min_value=1e-6), 10.0, "regularization of the RBF-SVM feasibility classifier"),
    }

    def sampler(self, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
        o = self.options
        return AutotinymlSampler(space, seed, o["initial_trials"], o["candidates"], o["kappa"], o["trees"],
                                 o["svm_c"])
