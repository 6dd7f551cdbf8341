"""ICI: the intersection-of-confidence-intervals change detection test used by TML-CD."""

from __future__ import annotations

import math

from .base import Detector, check


class Ici(Detector):
    """ICI test on the mean: values are grouped in windows of ``window``; the first ``training``
    windows estimate the spread ``sigma`` of a window mean; afterwards, after each window ``s`` the
    confidence interval ``mean_s +- gamma * sigma / sqrt(s)`` of the running mean of all window means
    is intersected with the previous ones, and a change is flagged when the intersection is empty.

    On a detection ``change_start`` estimates how many values ago the change began (the split of the
    window means since the start that best separates two means: the refinement step), so a caller
    can discard what became obsolete.

    Parameters: ``window`` values per window; ``training`` windows used to estimate ``sigma``;
    ``gamma`` the interval width in deviations; ``min_sigma`` a floor on ``sigma`` (the default
    suits error rates in [0, 1]: a model that is always wrong must not alarm on its first success).

    Reference: C. Alippi, G. Boracchi, M. Roveri, "A just-in-time adaptive classification system
    based on the intersection of confidence intervals rule", Neural Networks 24 (2011); used by
    TML-CD: S. Disabato, M. Roveri, "Tiny machine learning for concept drift", IEEE TNNLS (2022).

    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0.0, 1.0, 500), rng.normal(3.0, 1.0, 500)])
    >>> ici = Ici()
    >>> ici.run(stream), ici.change_start
    ([559], 60)
    """

    name = "ici"

    def __init__(self, window: int = 20, training: int = 10, gamma: float = 2.5, min_sigma: float = 0.05) -> None:
        check(window >= 1, self.name, f"window must be >= 1, got {window}")
        check(training >= 2, self.name, f"training must be >= 2, got {training}")
        check(gamma > 0, self.name, f"gamma must be > 0, got {gamma}")
        self.window, self.training, self.gamma, self.min_sigma = window, training, gamma, min_sigma
        self.change_start: int | None = None
        super().__init__()

    def _reset(self) -> None:
        super()._reset()
        self.count = 0
        self.window_sum = 0.0
        self.means: list[float] = []
        self.sigma = 0.0
        self.low, self.high = -math.inf, math.inf

    def _refine(self) -> int:
        """Values since the estimated change: the split maximising the scaled difference of means."""
        means = self.means
        n, total, head = len(means), sum(means), 0.0
        best, best_split = -1.0, n - 1
        for k in range(1, n):
            head += means[k - 1]
            score = abs(head / k - (total - head) / (n - k)) * math.sqrt(k * (n - k) / n)
            if score > best:
                best, best_split = score, k
        return (n - best_split) * self.window

    def update(self, x: float) -> bool:
        """Feed one value; True when the running mean's confidence intervals stop intersecting."""
        if self.drift_detected:
            self._reset()
        self.window_sum += x
        self.count += 1
        if self.count < self.window:
            return False
        self.means.append(self.window_sum / self.window)
        self.count, self.window_sum = 0, 0.0
        s = len(self.means)
        if s < self.training:
            return False
        mean = sum(self.means) / s
        if s == self.training:
            var = sum((m - mean) ** 2 for m in self.means) / (s - 1)
            self.sigma = max(math.sqrt(var), self.min_sigma)
        half = self.gamma * self.sigma / math.sqrt(s)
        self.low, self.high = max(self.low, mean - half), min(self.high, mean + half)
        if self.low > self.high:
            self.drift_detected = True
            self.change_start = self._refine()
        return self.drift_detected
