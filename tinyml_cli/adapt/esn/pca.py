"""Incremental PCA for a stream: a running mean and covariance updated with each sample (older
samples fade once ``memory`` is reached, so the subspace follows slow drift), eigendecomposed every
``refresh`` samples. State: one triangle of the covariance, the mean and the kept directions."""

from __future__ import annotations

import numpy as np

from .reservoir import check


class IncrementalPca:
    """The ``components`` leading principal directions of a stream, learnt one sample at a time.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(0, 1, (3000, 3)) * [5.0, 2.0, 0.1]  # variances 25, 4, 0.01
    >>> pca = IncrementalPca(3, 2, memory=10000)
    >>> for row in x:
    ...     pca.learn(row)
    >>> np.round(np.abs(pca.directions()), 1).tolist(), np.round(pca.variances()).tolist()
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [26.0, 4.0])
    """

    def __init__(self, dims: int, components: int, memory: int = 2000, refresh: int = 50) -> None:
        check(1 <= components <= dims, f"components must be in 1..{dims}, got {components}")
        check(memory >= 2, f"memory must be >= 2, got {memory}")
        check(refresh >= 1, f"refresh must be >= 1, got {refresh}")
        self.components, self.memory, self.refresh = components, memory, refresh
        self.mean = np.zeros(dims)
        self.cov = np.zeros((dims, dims))
        self.vectors = np.zeros((components, dims))
        self.values = np.ones(components)
        self.n = 0

    def learn(self, x: np.ndarray) -> None:
        """Update the mean and covariance with one sample; the directions every ``refresh`` samples."""
        self.n += 1
        w = 1.0 / min(self.n, self.memory)
        d = x - self.mean
        self.mean += w * d
        self.cov *= 1.0 - w
        self.cov += (w * (1.0 - w)) * np.outer(d, d)
        if self.n % self.refresh == 0:
            self.solve()

    def solve(self) -> None:
        """The leading eigenvectors of the covariance now."""
        values, vectors = np.linalg.eigh(self.cov)
        self.vectors = vectors[:, ::-1][:, :self.components].T
        self.values = np.maximum(values[::-1][:self.components], 1e-12)

    def directions(self) -> np.ndarray:
        """Unit principal directions ``(components, dims)``."""
        return self.vectors

    def variances(self) -> np.ndarray:
        """Variance along each direction."""
        return self.values

    def scores(self, x: np.ndarray) -> tuple[np.ndarray, float, float]:
        """``(projections, SPE, T^2)``: the sample's coordinates on the directions, its squared
        prediction error off their subspace and Hotelling's T^2."""
        u = x - self.mean
        proj = self.vectors @ u
        return proj, max(0.0, float(u @ u - proj @ proj)), float(np.sum(proj * proj / self.values))
