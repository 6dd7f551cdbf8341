"""Page-Hinkley test for a change in the mean of a sequence."""

from __future__ import annotations

from .base import Detector, check


class PageHinkley(Detector):
    """Page-Hinkley: cumulative deviations from the running mean, with a fading factor.

    A change is flagged when the cumulative deviation rises more than ``threshold`` above its minimum
    (an increase) or falls more than ``threshold`` below its maximum (a decrease).

    Parameters: ``min_instances`` values before any detection; ``delta`` the tolerated magnitude of
    change; ``threshold`` (lambda) the detection threshold; ``alpha`` the fading factor of the sums;
    ``mode`` ``up``, ``down`` or ``both``. Same definition and defaults as River's ``PageHinkley``.

    Reference: E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954).

    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0.0, 1.0, 500), rng.normal(3.0, 1.0, 500)])
    >>> PageHinkley().run(stream)
    [511]
    """

    name = "page-hinkley"

    def __init__(self, min_instances: int = 30, delta: float = 0.005, threshold: float = 50.0,
                 alpha: float = 1 - 0.0001, mode: str = "both") -> None:
        check(min_instances >= 1, self.name, f"min_instances must be >= 1, got {min_instances}")
        check(threshold > 0, self.name, f"threshold must be > 0, got {threshold}")
        check(0 < alpha <= 1, self.name, f"alpha must be in (0, 1], got {alpha}")
        check(mode in ("up", "down", "both"), self.name, f"mode must be up, down or both, got {mode!r}")
        self.min_instances, self.delta, self.threshold = min_instances, delta, threshold
        self.alpha, self.mode = alpha, mode
        super().__init__()

    def _reset(self) -> None:
        super()._reset()
        self.n = 0
        self.mean = 0.0
        self.sum_up = self.sum_down = 0.0
        self.min_up, self.max_down = float("inf"), -1.0

    def update(self, x: float) -> bool:
        """Feed one value; True when the mean has changed."""
        if self.drift_detected:
            self._reset()
        self.n += 1
        self.mean += (x - self.mean) / self.n
        dev = x - self.mean
        self.sum_up = self.alpha * self.sum_up + dev - self.delta
        self.sum_down = self.alpha * self.sum_down + dev + self.delta
        self.min_up = min(self.min_up, self.sum_up)
        self.max_down = max(self.max_down, self.sum_down)
        if self.n >= self.min_instances:
            up = self.sum_up - self.min_up > self.threshold
            down = self.max_down - self.sum_down > self.threshold
            self.drift_detected = {"up": up, "down": down, "both": up or down}[self.mode]
        return self.drift_detected
