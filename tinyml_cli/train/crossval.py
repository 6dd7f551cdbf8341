"""Cross-validated training and the final fit on all training data.

A candidate is trained once per fold (validation: the fold's held-out part of train + validation)
and every epoch's held-out accuracy is recorded. The epoch count is chosen on the accuracy curve
averaged over the folds: the latest epoch within one standard error of its best (the annealed end
of a cosine schedule, unless accuracy really falls off). The candidate's score is the held-out
accuracy at that epoch, pooled over the folds, with its spread over folds. The final model is then
trained on train + validation together for that many epochs (no validation left to stop on) and
tested once.

Why accuracy and not the validation loss: with label smoothing the loss reaches its minimum well
before accuracy stops improving (a few confidently wrong samples dominate it); on the small sets of
scripts/bench_small_data.py final models trained for the loss-chosen epoch count tested 2.6 to 3.8
points lower (digits, 200 images) than ones trained to the end of the schedule.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..arch.graph import LayerGraph
from ..data import Dataset
from ..data.cv import Fold, pool
from .builder import GraphModule
from .loop import train_and_evaluate, train_model


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


def chosen_epoch(curves: np.ndarray, sizes: list[int]) -> int:
    """The index of the latest epoch whose pooled accuracy (``curves``: folds x epochs, weighted by
    the folds' ``sizes``) is within one standard error of the best epoch's.

    >>> curves = np.array([[0.5, 0.8, 0.90, 0.90], [0.6, 0.8, 0.94, 0.92]])
    >>> chosen_epoch(curves, [10, 10]), chosen_epoch(curves[:, :3], [10, 10])
    (3, 2)
    """
    mean = np.average(curves, axis=0, weights=sizes)
    best = int(np.argmax(mean))
    error = curves[:, best].std() / np.sqrt(len(curves)) if len(curves) > 1 else 0.0
    return int(np.flatnonzero(mean >= mean[best] - error - 1e-12)[-1])


def cross_validate(graph: LayerGraph, data: Dataset, folds: list[Fold], cfg: dict, seed: int = 0,
                   epochs: int | None = None, on_epoch: Callable[[dict], None] | None = None,
                   stop_below: float | None = None) -> dict:
    """Train ``graph`` on every fold; metrics at the chosen epoch (:func:`chosen_epoch`):
    ``val_accuracy`` (held-out accuracy pooled over the folds run), ``val_std`` (spread of the fold
    accuracies), ``val_folds``, ``val_loss`` (mean held-out loss), ``best_epoch`` (the chosen
    epoch), ``epochs_run`` (epochs every fold ran), ``train_time_s``, and ``test_accuracy`` None (no
    fold model is tested). Racing: once the folds' last-epoch accuracy so far is below
    ``stop_below``, the remaining folds are skipped."""
    start = time.perf_counter()
    curves, losses, sizes = [], [], []
    for f, fold in enumerate(folds):
        _, result = train_model(graph, fold_data(data, fold), cfg, fold_seed(seed, f), epochs, on_epoch)
        curves.append([r["val_accuracy"] for r in result.history])
        losses.append([r["val_loss"] for r in result.history])
        sizes.append(len(fold[1]))
        if (stop_below is not None and f + 1 < len(folds)
                and np.average([c[-1] for c in curves], weights=sizes) < stop_below):
            break
    length = min(len(c) for c in curves)
    accuracy = np.array([c[:length] for c in curves])
    epoch = chosen_epoch(accuracy, sizes)
    at_epoch = accuracy[:, epoch]
    return {"val_accuracy": float(np.average(at_epoch, weights=sizes)), "val_std": float(at_epoch.std()),
            "val_folds": [float(a) for a in at_epoch], "val_loss": float(np.mean([l[epoch] for l in losses])),
            "best_epoch": epoch + 1, "epochs_run": length, "train_time_s": time.perf_counter() - start,
            "test_accuracy": None}


def train_on_all(graph: LayerGraph, data: Dataset, cfg: dict, seed: int, epochs: int) -> tuple[GraphModule, dict]:
    """Train on train + validation together for ``epochs`` and test once: ``(module, metrics)``."""
    x, y, groups = pool(data)
    everything = Dataset(data.name, x, y, x[:0], y[:0], data.x_test, data.y_test, list(data.class_names),
                         groups, None)
    return train_and_evaluate(graph, everything, cfg, seed, epochs)
