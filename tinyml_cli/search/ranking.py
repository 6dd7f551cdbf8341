"""Ranking candidates so that noise does not decide: near-ties go to the cheaper model.

With cross-validation every candidate has a mean held-out accuracy and a spread over folds. The
best remaining candidate and every other within one standard error of its mean (the spread over
the square root of the fold count: Breiman's one-standard-error rule) are taken together, simplest
first (fewest parameters, then MACs); then the next best remaining, and so on. Without a spread
(a single validation split) only exact ties go to the cheaper model.

>>> rows = [{"trial": 0, "val_accuracy": 0.90, "val_std": 0.04, "val_folds": [0] * 4, "params": 900, "macs": 9},
...         {"trial": 1, "val_accuracy": 0.89, "val_std": 0.04, "val_folds": [0] * 4, "params": 100, "macs": 99},
...         {"trial": 2, "val_accuracy": 0.80, "val_std": 0.04, "val_folds": [0] * 4, "params": 50, "macs": 1}]
>>> rank(rows)
[1, 0, 2]
"""

from __future__ import annotations

from math import sqrt


def standard_error(row: dict) -> float:
    """The standard error of a row's mean validation accuracy (0 without cross-validation)."""
    folds = row.get("val_folds") or []
    return (row.get("val_std") or 0.0) / sqrt(len(folds)) if len(folds) > 1 else 0.0


def _cost(row: dict) -> tuple:
    """Simplest first: parameters (what overfits a small set, and flash), then MACs."""
    return (row.get("params") or 0, row.get("macs") or 0, row.get("trial", 0))


def rank(rows: list[dict]) -> list[int]:
    """Indices of ``rows`` (``val_accuracy``, optional ``val_std`` and ``val_folds``, ``params``,
    ``macs``, ``trial``) best first, near-ties simplest first."""
    def accuracy(i: int) -> float:
        value = rows[i]["val_accuracy"]
        return value if value == value else -1.0       # nan (never scored) last

    left = sorted(range(len(rows)), key=lambda i: (-accuracy(i), rows[i].get("trial", 0)))
    order: list[int] = []
    while left:
        best = left[0]
        floor = accuracy(best) - standard_error(rows[best])
        tied = [i for i in left if accuracy(i) >= floor]
        order += sorted(tied, key=lambda i: _cost(rows[i]))
        left = [i for i in left if i not in tied]
    return order
