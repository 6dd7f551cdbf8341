"""A reference line for every search: quick non-neural classifiers on the same split.

Logistic regression and an RBF SVM (scikit-learn, default settings) on standardized, flattened
inputs, scored exactly as the search scores its candidates: cross-validated on the same folds when
the search cross-validates (then refitted on train + validation), else fitted on the training split
and scored on the validation split; tested once on the test split. Seconds, not minutes: beyond
``MAX_SAMPLES`` training samples each fit uses a seeded subsample. A user sees at once whether the MCU
model is any good.

>>> from tinyml_cli.data import load_builtin
>>> rows = baselines(load_builtin("digits", samples=400), None, seed=0)
>>> [r["model"] for r in rows], all(r["test_accuracy"] > 0.8 for r in rows)
(['logistic regression', 'RBF SVM'], True)
"""

from __future__ import annotations

import time
import warnings
from typing import Callable

import numpy as np

from ..data import Dataset
from ..data.cv import Fold, pool

MAX_SAMPLES = 5000


def _models() -> dict[str, Callable[[], object]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {"logistic regression": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
            "RBF SVM": lambda: make_pipeline(StandardScaler(), SVC(kernel="rbf"))}


def _score(make: Callable[[], object], x_fit: np.ndarray, y_fit: np.ndarray, x: np.ndarray, y: np.ndarray,
           rng: np.random.Generator) -> float:
    """Accuracy on ``(x, y)`` of a model fitted on (a subsample of) ``(x_fit, y_fit)``."""
    if not len(x):
        return float("nan")
    if len(x_fit) > MAX_SAMPLES:
        keep = rng.choice(len(x_fit), MAX_SAMPLES, replace=False)
        x_fit, y_fit = x_fit[keep], y_fit[keep]
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")               # convergence chatter on tiny or odd data
        model.fit(x_fit.reshape(len(x_fit), -1), y_fit)
        return float((model.predict(x.reshape(len(x), -1)) == y).mean())


def baselines(data: Dataset, folds: list[Fold] | None, seed: int) -> list[dict]:
    """One row per classifier: validation accuracy (cross-validated mean and spread over ``folds``,
    or on the validation split), test accuracy and fitting time in seconds."""
    rows: list[dict] = []
    if len(np.unique(data.y_train)) < 2:
        return rows
    for name, make in _models().items():
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        if folds:
            x, y, _ = pool(data)
            scores = [_score(make, x[tr], y[tr], x[va], y[va], rng) for tr, va in folds]
            val = float(np.average(scores, weights=[len(va) for _, va in folds]))
            row = {"val_accuracy": val, "val_std": float(np.std(scores)),
                   "test_accuracy": _score(make, x, y, data.x_test, data.y_test, rng)}
        else:
            row = {"val_accuracy": _score(make, data.x_train, data.y_train, data.x_val, data.y_val, rng),
                   "val_std": None,
                   "test_accuracy": _score(make, data.x_train, data.y_train, data.x_test, data.y_test, rng)}
        rows.append({"model": name, **row, "train_time_s": time.perf_counter() - start})
    return rows
