"""Anomaly detection on an unlabelled stream: reservoir states -> incremental PCA -> a one-class
decision (squared prediction error or Hotelling's T^2 against a threshold that adapts)."""

from __future__ import annotations

import numpy as np

from ..base import FLOAT, Cost
from .pca import IncrementalPca
from .reservoir import Reservoir, check, reservoir_cost

STATISTICS = ("spe", "t2")


class ReservoirAnomaly:
    """Flags samples whose reservoir state leaves the subspace of normal states.

    The first ``warmup`` samples are taken as clean: the PCA learns them (after a ``washout`` for the
    reservoir's transient) and the score statistics start from them. Afterwards each sample is scored
    before it is learnt; a flagged sample teaches nothing, so anomalies do not become normal.

    Parameters: ``inputs`` channels; ``units``, ``layers``, ``radius``, ``density``, ``input_scaling``,
    ``leak``, ``kind`` as for the reservoir; ``components`` kept by the PCA and its ``memory``;
    ``statistic`` ``spe`` or ``t2``; ``threshold`` in standard deviations of the log score above its
    mean and ``adapt`` the rate at which those follow the normal scores; ``seed`` an int or a numpy
    Generator.

    Reference: M. Bianchi et al., "Reservoir computing approaches for representation and
    classification of multivariate time series" (2020); S. J. Qin, "Statistical process monitoring:
    basics and beyond", J. Chemometrics 17 (2003).

    A sine stream with a step at sample 1500:

    >>> t = np.arange(2000)
    >>> stream = np.sin(0.1 * t)[:, None] + 0.01 * np.random.default_rng(1).normal(size=(2000, 1))
    >>> stream[1500:1550] += 1.0
    >>> detector = ReservoirAnomaly(1, units=30, seed=np.random.default_rng(0))
    >>> flags = [i for i, u in enumerate(stream) if detector.update(u)]
    >>> flags[0], len(flags)
    (1500, 66)
    """

    def __init__(self, inputs: int, units: int = 50, layers: int = 1, radius: float = 0.9, density: float = 0.1,
                 input_scaling: float = 0.2, leak: float = 1.0, kind: str = "float", components: int = 12,
                 memory: int = 2000, statistic: str = "spe", threshold: float = 3.0, adapt: float = 0.001,
                 warmup: int = 1000, washout: int = 100, seed: int | np.random.Generator = 0) -> None:
        check(statistic in STATISTICS, f"statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}")
        check(threshold > 0, f"threshold must be > 0, got {threshold}")
        check(0 < adapt < 1, f"adapt must be in (0, 1), got {adapt}")
        check(0 <= washout < warmup, f"washout must be in 0..warmup-1, got {washout} with warmup {warmup}")
        self.reservoir = Reservoir(inputs, units, layers, radius, density, input_scaling, leak, kind,
                                   np.random.default_rng(seed))
        check(1 <= components <= self.reservoir.features - 1,
              f"components must be in 1..{self.reservoir.features - 1}, got {components}")
        self.components, self.memory, self.statistic = components, memory, statistic
        self.threshold, self.adapt, self.warmup, self.washout = threshold, adapt, warmup, washout
        self._reset()

    def _reset(self) -> None:
        self.reservoir.reset()
        self.pca = IncrementalPca(self.reservoir.features - 1, self.components, self.memory)
        self.n = 0
        self.warm: list[float] = []  # the statistic over the warm-up's second half
        self.mean = self.var = 0.0
        self.score = 0.0

    def update(self, u: np.ndarray) -> bool:
        """Feed one sample (all channels); True when it is anomalous."""
        phi = self.reservoir.step(u)[:-1].astype(np.float64)
        self.n += 1
        if self.n <= self.warmup:
            if self.n > (self.warmup + self.washout) // 2:
                self.warm.append(self._log_score(phi))
            if self.n > self.washout:
                self.pca.learn(phi)
            if self.n == self.warmup:
                self.mean, self.var = float(np.mean(self.warm)), float(np.var(self.warm))
            return False
        self.score = self._log_score(phi)
        flagged = self.score > self.mean + self.threshold * np.sqrt(self.var)
        if not flagged:
            self.pca.learn(phi)
            delta = self.score - self.mean
            self.mean += self.adapt * delta
            self.var = (1 - self.adapt) * (self.var + self.adapt * delta * delta)
        return bool(flagged)

    def _log_score(self, phi: np.ndarray) -> float:
        _, spe, t2 = self.pca.scores(phi)
        return float(np.log(max(spe if self.statistic == "spe" else t2, 1e-300)))

    def cost(self) -> Cost:
        """MCU memory and operations per sample: the reservoir (weights in flash, states in RAM), the
        PCA (a covariance triangle, mean, directions and variances; its eigendecomposition, about
        ``10 d^3`` operations, every ``refresh`` samples) and the score's mean and variance."""
        flash, states, step = reservoir_cost(self.reservoir)
        d, k = self.pca.mean.size, self.components
        pca = d * (d + 1) // 2 + d + k * d + k + 2
        ops = step + d * (d + 1) + 2 * d + k * d + 10 * d ** 3 // self.pca.refresh
        return Cost(state=states + pca * FLOAT, activations=(d + k) * FLOAT, flash=flash, ops_per_update=ops)
