"""Incremental PCA for a stream: candid covariance-free incremental PCA (CCIPCA), O(k d) per sample
and k d numbers of state, with a bounded memory so the subspace follows slow drift."""

from __future__ import annotations

import numpy as np

from .reservoir import check


class IncrementalPca:
    """The ``components`` leading principal directions of a stream, updated one sample at a time.

    ``memory`` caps the sample count in the running averages (older samples fade, so the subspace
    follows drift); ``amnesia`` weighs recent samples more (CCIPCA's amnesic parameter).

    Reference: J. Weng, Y. Zhang, W.-S. Hwang, "Candid covariance-free incremental principal
    component analysis", IEEE TPAMI 25(8) (2003).

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(0, 1, (3000, 3)) * [5.0, 2.0, 0.1]  # variances 25, 4, 0.01
    >>> pca = IncrementalPca(3, 2, memory=10000)
    >>> for row in x:
    ...     pca.learn(row)
    >>> np.round(np.abs(pca.directions()), 1).tolist(), np.round(pca.variances()).tolist()
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [26.0, 4.0])
    """

    def __init__(self, dims: int, components: int, memory: int = 2000, amnesia: float = 2.0) -> None:
        check(1 <= components <= dims, f"components must be in 1..{dims}, got {components}")
        check(memory > amnesia + 1, f"memory must exceed amnesia + 1, got {memory}")
        self.components, self.memory, self.amnesia = components, memory, amnesia
        self.mean = np.zeros(dims)
        self.v = np.zeros((components, dims))
        self.n = 0

    def learn(self, x: np.ndarray) -> None:
        """Update the mean and the directions with one sample."""
        self.n += 1
        n = min(self.n, self.memory)
        self.mean += (x - self.mean) / n
        u = x - self.mean
        for i in range(self.components):
            norm = np.linalg.norm(self.v[i])
            if norm == 0.0:  # a new direction starts at the first residual it sees
                self.v[i] = u
                break
            keep = max(0.0, (n - 1 - self.amnesia) / n)
            self.v[i] = keep * self.v[i] + (1 - keep) * (u @ self.v[i] / norm) * u
            unit = self.v[i] / (np.linalg.norm(self.v[i]) or 1.0)
            u = u - (u @ unit) * unit

    def directions(self) -> np.ndarray:
        """Unit principal directions ``(components, dims)``."""
        return self.v / np.maximum(np.linalg.norm(self.v, axis=1, keepdims=True), 1e-12)

    def variances(self) -> np.ndarray:
        """Variance along each direction."""
        return np.linalg.norm(self.v, axis=1)

    def scores(self, x: np.ndarray) -> tuple[np.ndarray, float, float]:
        """``(projections, SPE, T^2)``: the sample's coordinates on the directions (deflated in
        order, as learnt), its squared prediction error off the subspace and Hotelling's T^2."""
        u = x - self.mean
        proj = np.zeros(self.components)
        for i, unit in enumerate(self.directions()):
            proj[i] = u @ unit
            u = u - proj[i] * unit
        return proj, float(u @ u), float(np.sum(proj ** 2 / np.maximum(self.variances(), 1e-12)))
