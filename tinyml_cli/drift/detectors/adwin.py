"""ADWIN: adaptive windowing over an exponential histogram of buckets."""

from __future__ import annotations

import math

from .base import Detector, check


class Adwin(Detector):
    """ADWIN2: keep the recent values in buckets of 1, 2, 4, ... values (at most ``max_buckets`` per
    size); every ``clock`` values compare the means of every older/newer split of the window at bucket
    boundaries and flag a change when they differ by more than the Hoeffding/Bernstein bound for
    confidence ``delta``. After a detection the detector starts afresh (as River's ``ADWIN`` does).

    Parameters: ``delta`` the confidence; ``clock`` how often splits are checked; ``max_buckets``
    buckets kept per size before two are merged; ``min_window_length`` the smallest sub-window
    tested; ``grace_period`` values before the first check.

    Reference: A. Bifet and R. Gavaldà, "Learning from time-changing data with adaptive windowing",
    SIAM SDM 2007.

    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0.0, 1.0, 500), rng.normal(3.0, 1.0, 500)])
    >>> Adwin().run(stream)
    [511]
    """

    name = "adwin"

    def __init__(self, delta: float = 0.002, clock: int = 32, max_buckets: int = 5,
                 min_window_length: int = 5, grace_period: int = 10) -> None:
        check(0 < delta < 1, self.name, f"delta must be in (0, 1), got {delta}")
        check(clock >= 1, self.name, f"clock must be >= 1, got {clock}")
        check(max_buckets >= 2, self.name, f"max_buckets must be >= 2, got {max_buckets}")
        self.delta, self.clock, self.max_buckets = delta, clock, max_buckets
        self.min_window_length, self.grace_period = min_window_length, grace_period
        super().__init__()

    def _reset(self) -> None:
        super()._reset()
        self.levels: list[list[float]] = [[]]  # levels[i]: totals of buckets of 2**i values, oldest first
        self.width = 0
        self.total = 0.0
        self.variance = 0.0  # sum of squared deviations from the window mean
        self.tick = 0

    def _insert(self, x: float) -> None:
        self.width += 1
        if self.width > 1:
            d = x - self.total / (self.width - 1)
            self.variance += (self.width - 1) * d * d / self.width
        self.total += x
        self.levels[0].append(x)
        i = 0
        while len(self.levels[i]) > self.max_buckets:
            merged = self.levels[i][0] + self.levels[i][1]
            del self.levels[i][:2]
            if i + 1 == len(self.levels):
                self.levels.append([])
            self.levels[i + 1].append(merged)
            i += 1

    def _cut(self, n0: float, n1: float, diff: float) -> bool:
        delta_prime = math.log(2.0 * math.log(self.width) / self.delta)
        m = 1.0 / (n0 - self.min_window_length + 1.0) + 1.0 / (n1 - self.min_window_length + 1.0)
        epsilon = math.sqrt(2.0 * m * (self.variance / self.width) * delta_prime) + 2.0 / 3.0 * delta_prime * m
        return abs(diff) > epsilon

    def _split_differs(self) -> bool:
        n0, n1, u0, u1 = 0.0, float(self.width), 0.0, self.total
        for i in range(len(self.levels) - 1, -1, -1):
            size = float(2 ** i)
            bucket = self.levels[i]
            for k, value in enumerate(bucket):
                n0 += size
                n1 -= size
                u0 += value
                u1 -= value
                if i == 0 and k == len(bucket) - 1:
                    return False
                if (n0 >= self.min_window_length and n1 >= self.min_window_length
                        and self._cut(n0, n1, u0 / n0 - u1 / n1)):
                    return True
        return False

    def update(self, x: float) -> bool:
        """Feed one value; True when the older part of the window has a different mean."""
        if self.drift_detected:
            self._reset()
        self._insert(x)
        self.tick += 1
        if self.tick % self.clock == 0 and self.width > self.grace_period:
            self.drift_detected = self._split_differs()
        return self.drift_detected
