"""Two-sided CUSUM on standardised deviations from a reference mean learnt at the start."""

from __future__ import annotations

import math

from .base import Detector, check


class Cusum(Detector):
    """Tabular CUSUM: the first ``warmup`` values estimate the in-control mean and standard
    deviation; afterwards ``g+ = max(0, g+ + z - k)`` and ``g- = max(0, g- - z - k)`` accumulate the
    standardised deviations ``z`` and a change is flagged when either exceeds ``h``.

    Parameters: ``warmup`` values used to estimate the reference (at least 2); ``k`` the allowance in
    standard deviations (half the shift to detect); ``h`` the decision threshold in standard
    deviations; ``min_std`` a floor on the estimated deviation (for constant streams).

    Reference: E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954); D. C. Montgomery,
    Introduction to Statistical Quality Control, ch. 9.

    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0.0, 1.0, 500), rng.normal(3.0, 1.0, 500)])
    >>> Cusum().run(stream)
    [504]
    """

    name = "cusum"

    def __init__(self, warmup: int = 100, k: float = 0.5, h: float = 12.0, min_std: float = 1e-3) -> None:
        check(warmup >= 2, self.name, f"warmup must be >= 2, got {warmup}")
        check(k >= 0, self.name, f"k must be >= 0, got {k}")
        check(h > 0, self.name, f"h must be > 0, got {h}")
        self.warmup, self.k, self.h, self.min_std = warmup, k, h, min_std
        super().__init__()

    def _reset(self) -> None:
        super()._reset()
        self.n = 0
        self.mean = self.m2 = 0.0
        self.std = 0.0
        self.g_up = self.g_down = 0.0

    def update(self, x: float) -> bool:
        """Feed one value; True when the mean has moved by more than the allowance."""
        if self.drift_detected:
            self._reset()
        self.n += 1
        if self.n <= self.warmup:
            delta = x - self.mean
            self.mean += delta / self.n
            self.m2 += delta * (x - self.mean)
            if self.n == self.warmup:
                self.std = max(math.sqrt(self.m2 / (self.n - 1)), self.min_std)
            return False
        z = (x - self.mean) / self.std
        self.g_up = max(0.0, self.g_up + z - self.k)
        self.g_down = max(0.0, self.g_down - z - self.k)
        self.drift_detected = self.g_up > self.h or self.g_down > self.h
        return self.drift_detected
