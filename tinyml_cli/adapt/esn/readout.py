"""Linear readouts trained online: recursive least squares with a forgetting factor (one update per
sample) and ridge regression solved once per mini-batch (batch decomposition)."""

from __future__ import annotations

import numpy as np

from .reservoir import check


class Rls:
    """Recursive least squares on ``y ~ phi @ w``: ``P`` is the inverse of the (forgetting-weighted)
    feature correlation, started at ``I / ridge``, so with ``forgetting`` 1 the weights after ``n``
    samples are exactly ridge regression's ``(Phi' Phi + ridge I)^-1 Phi' Y``.

    >>> rls = Rls(2, 1, ridge=1e-6)
    >>> for a in range(1, 6):
    ...     rls.learn(np.array([a, 1.0]), np.array([2.0 * a + 1.0]))
    >>> np.round(rls.w.ravel(), 4).tolist()
    [2.0, 1.0]
    """

    def __init__(self, features: int, outputs: int, forgetting: float = 1.0, ridge: float = 1e-2) -> None:
        check(0 < forgetting <= 1, f"forgetting must be in (0, 1], got {forgetting}")
        check(ridge > 0, f"ridge must be > 0, got {ridge}")
        self.forgetting, self.ridge = forgetting, ridge
        self.w = np.zeros((features, outputs))
        self.restart()

    def predict(self, phi: np.ndarray) -> np.ndarray:
        """The outputs for features ``phi``."""
        return phi @ self.w

    def learn(self, phi: np.ndarray, y: np.ndarray) -> None:
        """One update with features ``phi`` and target ``y``."""
        p_phi = self.p @ phi
        k = p_phi / (self.forgetting + phi @ p_phi)
        self.w += np.outer(k, y - phi @ self.w)
        self.p = (self.p - np.outer(k, p_phi)) / self.forgetting

    def restart(self) -> None:
        """Forget the past correlations (``P`` back to ``I / ridge``), keeping the weights."""
        self.p = np.eye(len(self.w)) / self.ridge


class BatchRidge:
    """Ridge regression over mini-batches: each sample adds to ``Phi' Phi`` and ``Phi' Y``; every
    ``batch`` samples the weights are solved again and both sums fade by ``forgetting``.

    >>> ridge = BatchRidge(2, 1, ridge=1e-6, batch=5)
    >>> for a in range(1, 6):
    ...     ridge.learn(np.array([a, 1.0]), np.array([2.0 * a + 1.0]))
    >>> np.round(ridge.w.ravel(), 4).tolist()
    [2.0, 1.0]
    """

    def __init__(self, features: int, outputs: int, forgetting: float = 1.0, ridge: float = 1e-2,
                 batch: int = 32) -> None:
        check(0 < forgetting <= 1, f"forgetting must be in (0, 1], got {forgetting}")
        check(ridge > 0, f"ridge must be > 0, got {ridge}")
        check(batch >= 1, f"batch must be >= 1, got {batch}")
        self.forgetting, self.ridge, self.batch = forgetting, ridge, batch
        self.w = np.zeros((features, outputs))
        self.a = np.zeros((features, features))
        self.b = np.zeros((features, outputs))
        self.seen = 0

    def predict(self, phi: np.ndarray) -> np.ndarray:
        """The outputs for features ``phi``."""
        return phi @ self.w

    def learn(self, phi: np.ndarray, y: np.ndarray) -> None:
        """Add one sample; solve at the end of a mini-batch."""
        self.a += np.outer(phi, phi)
        self.b += np.outer(phi, y)
        self.seen += 1
        if self.seen % self.batch == 0:
            self.w = np.linalg.solve(self.a + self.ridge * np.eye(len(self.a)), self.b)
            self.a *= self.forgetting
            self.b *= self.forgetting

    def restart(self) -> None:
        """Forget the past sums, keeping the weights until the next solve."""
        self.a[:] = 0.0
        self.b[:] = 0.0


READOUTS = {"rls": Rls, "ridge": BatchRidge}


def make_readout(kind: str, features: int, outputs: int, forgetting: float, ridge: float,
                 batch: int) -> Rls | BatchRidge:
    """A readout by name (``batch`` matters to ``ridge`` only)."""
    check(kind in READOUTS, f"readout must be one of {', '.join(READOUTS)}, got {kind!r}")
    if kind == "rls":
        return Rls(features, outputs, forgetting, ridge)
    return BatchRidge(features, outputs, forgetting, ridge, batch)
