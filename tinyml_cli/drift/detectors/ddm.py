"""DDM: the drift detection method on a stream of classification errors."""

from __future__ import annotations

import math

from ...errors import ConfigError, shown
from .base import Detector, check


class Ddm(Detector):
    """DDM watches the error rate ``p`` of a classifier (input: 1 for an error, 0 for a correct
    prediction) and its binomial deviation ``s = sqrt(p (1 - p) / n)``; it remembers the point where
    ``p + s`` was lowest and flags a change when ``p + s > p_min + drift_threshold * s_min``.

    Parameters: ``warm_start`` values before any detection; ``warning_threshold`` deviations for the
    warning zone (``warning_detected``); ``drift_threshold`` deviations for a detection.

    Reference: J. Gama, P. Medas, G. Castillo, P. Rodrigues, "Learning with drift detection",
    SBIA 2004.

    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> errors = np.concatenate([rng.random(500) < 0.1, rng.random(500) < 0.5]).astype(int)
    >>> Ddm().run(errors)
    [529]
    """

    name = "ddm"

    def __init__(self, warm_start: int = 30, warning_threshold: float = 2.0, drift_threshold: float = 3.0) -> None:
        check(warm_start >= 1, self.name, f"warm_start must be >= 1, got {warm_start}")
        check(drift_threshold > 0, self.name, f"drift_threshold must be > 0, got {drift_threshold}")
        self.warm_start = warm_start
        self.warning_threshold, self.drift_threshold = warning_threshold, drift_threshold
        super().__init__()

    def _reset(self) -> None:
        super()._reset()
        self.warning_detected = False
        self.n = 0
        self.p = 0.0
        self.p_min = self.s_min = 0.0
        self.ps_min = float("inf")

    def update(self, x: float) -> bool:
        """Feed one error bit; True when the error rate has risen significantly."""
        if x != 0.0 and x != 1.0:
            raise ConfigError(f"detector ddm: expects error bits (1 for a wrong prediction, 0 for a right "
                              f"one), got {shown(x)}; for real-valued inputs use page-hinkley, cusum or adwin")
        if self.drift_detected:
            self._reset()
        self.n += 1
        self.p += (x - self.p) / self.n
        s = math.sqrt(self.p * (1 - self.p) / self.n)
        if self.n > self.warm_start:
            if self.p + s <= self.ps_min:
                self.p_min, self.s_min, self.ps_min = self.p, s, self.p + s
            self.warning_detected = self.p + s > self.p_min + self.warning_threshold * self.s_min
            self.drift_detected = self.p + s > self.p_min + self.drift_threshold * self.s_min
            if self.drift_detected:
                self.warning_detected = False
        return self.drift_detected
