"""Cross-validated training and the final fit on all training data.

A candidate is trained once per fold (validation: the fold's held-out part of train + validation,
with early stopping on its loss) and scored by the pooled held-out accuracy, with the spread over
folds. The epoch count for the final model is the median of the folds' lowest-loss epochs; the
final model is then trained on train + validation together for that many epochs (no validation
left to stop on) and tested once.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..arch.graph import LayerGraph
from ..data import Dataset
from ..data.cv import Fold, pool
from .builder import GraphModule
from .loop import train_and_evaluate


def fold_seed(seed: int, fold: int) -> int:
    """The training seed of one fold, derived from the run's seed.

    >>> fold_seed(0, 1) == fold_seed(0, 1) != fold_seed(0, 2)
    True
    """
    return int(np.random.default_rng([seed, fold]).integers(2**31))


def fold_data(data: Dataset, fold: Fold) -> Dataset:
    """One fold as a Dataset: its training and held-out parts of the pool, no test split."""
    x, y, groups = pool(data)
    train, val = fold
    return Dataset(data.name, x[train], y[train], x[val], y[val], x[:0], y[:0], list(data.class_names),
                   None if groups is None else groups[train], None if groups is None else groups[val])


def cross_validate(graph: LayerGraph, data: Dataset, folds: list[Fold], cfg: dict, seed: int = 0,
                   epochs: int | None = None, on_epoch: Callable[[dict], None] | None = None,
                   stop_below: float | None = None) -> dict:
    """Train ``graph`` on every fold; metrics: ``val_accuracy`` (held-out accuracy over the folds
    run), ``val_std`` (spread of the fold accuracies), ``val_folds``, ``val_loss`` (mean of the
    folds' lowest losses), ``best_epoch`` (median lowest-loss epoch), ``epochs_run`` (most in a
    fold), ``train_time_s``, and ``test_accuracy`` None (no fold model is tested). Racing: once the
    held-out accuracy so far is below ``stop_below``, the remaining folds are skipped."""
    start = time.perf_counter()
    accuracies, losses, best, runs, sizes = [], [], [], [], []
    for f, fold in enumerate(folds):
        _, m = train_and_evaluate(graph, fold_data(data, fold), cfg, fold_seed(seed, f), epochs, on_epoch)
        accuracies.append(m["val_accuracy"])
        losses.append(m["val_loss"])
        best.append(m["best_epoch"])
        runs.append(m["epochs_run"])
        sizes.append(len(fold[1]))
        if stop_below is not None and f + 1 < len(folds) and np.average(accuracies, weights=sizes) < stop_below:
            break
    return {"val_accuracy": float(np.average(accuracies, weights=sizes)), "val_std": float(np.std(accuracies)),
            "val_folds": [float(a) for a in accuracies], "val_loss": float(np.mean(losses)),
            "best_epoch": int(np.median(best)), "epochs_run": int(max(runs)),
            "train_time_s": time.perf_counter() - start, "test_accuracy": None}


def train_on_all(graph: LayerGraph, data: Dataset, cfg: dict, seed: int, epochs: int) -> tuple[GraphModule, dict]:
    """Train on train + validation together for ``epochs`` and test once: ``(module, metrics)``."""
    x, y, groups = pool(data)
    everything = Dataset(data.name, x, y, x[:0], y[:0], data.x_test, data.y_test, list(data.class_names),
                         groups, None)
    return train_and_evaluate(graph, everything, cfg, seed, epochs)
