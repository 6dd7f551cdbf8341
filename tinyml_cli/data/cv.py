"""Cross-validation on small data: the training pool (train + validation) and stratified k folds
that keep groups together.

A validation split of a few dozen samples ranks architectures by noise (one sample moves accuracy by
several points), so on small data every pool sample is held out once instead. Folds keep each
class's share (per class, counts differ by at most one between folds) and never split a group:
windows cut from one stretch of a recording share a group, and overlapping windows on both sides
of a fold would leak.

>>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
>>> folds = stratified_folds(y, 2, np.random.default_rng(0))
>>> [sorted(np.bincount(y[val]).tolist()) for _, val in folds]
[[2, 3], [2, 3]]
>>> sorted(np.concatenate([val for _, val in folds]).tolist()) == list(range(10))
True
"""

from __future__ import annotations

import numpy as np

from .dataset import Dataset

Fold = tuple[np.ndarray, np.ndarray]   # (training indices, validation indices) into the pool


def pool(data: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Inputs, labels and groups of train + validation together (groups None when neither has any;
    a split without groups gets one group per sample, numbered past the other's)."""
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    if data.train_groups is None and data.val_groups is None:
        return x, y, None
    parts, start = [], 0
    for groups, n in ((data.train_groups, len(data.y_train)), (data.val_groups, len(data.y_val))):
        g = np.arange(n, dtype=np.int64) if groups is None else np.asarray(groups, np.int64)
        parts.append(g - g.min() + start if len(g) else g)
        start = int(parts[-1].max()) + 1 if len(g) else start
    return x, y, np.concatenate(parts)


def stratified_folds(y: np.ndarray, k: int, rng: np.random.Generator,
                     groups: np.ndarray | None = None) -> list[Fold]:
    """``k`` folds over labels ``y``: every sample is validated exactly once; per class, fold counts
    differ by at most one (without groups); a group never straddles folds. Fewer groups than ``k``
    give one fold per group."""
    y = np.asarray(y)
    if groups is None:
        fold_of = _deal(y, k, rng)
    else:
        fold_of = _assign_groups(y, np.asarray(groups), k, rng)
    used, fold_of = np.unique(fold_of, return_inverse=True)   # no empty fold
    k = len(used)
    everything = np.arange(len(y))
    return [(everything[fold_of != f], everything[fold_of == f]) for f in range(k)]


def _deal(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Each class's samples shuffled and dealt round robin, the next class starting where the last
    stopped, so fold sizes differ by at most one as well."""
    fold_of = np.empty(len(y), np.int64)
    start = 0
    for c in rng.permutation(np.unique(y)):
        members = rng.permutation(np.flatnonzero(y == c))
        fold_of[members] = (start + np.arange(len(members))) % k
        start = (start + len(members)) % k
    return fold_of


def _assign_groups(y: np.ndarray, groups: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Whole groups to folds, largest first (ties in a seeded order), each to the fold whose class
    counts it brings closest to an even share; ties go to the smaller fold."""
    names, inverse = np.unique(groups, return_inverse=True)
    k = min(k, len(names))
    classes = np.unique(y)
    counts = np.zeros((len(names), len(classes)), np.int64)
    np.add.at(counts, (inverse, np.searchsorted(classes, y)), 1)
    target = counts.sum(axis=0) / k
    order = rng.permutation(len(names))
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    filled = np.zeros((k, len(classes)))
    group_fold = np.empty(len(names), np.int64)
    for g in order:
        cost = ((filled + counts[g] - target) ** 2).sum(axis=1) - ((filled - target) ** 2).sum(axis=1)
        best = min(range(k), key=lambda f: (cost[f], filled[f].sum()))
        group_fold[g] = best
        filled[best] += counts[g]
    return group_fold[inverse]
