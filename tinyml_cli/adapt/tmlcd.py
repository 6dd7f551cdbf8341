"""``tml-cd``: TML-CD (Disabato and Roveri): the frozen network's features, reduced by PCA (fitted
on the training set) or a random projection, classified by a kNN whose training set adapts
passively (condensing), actively (on a detection) or both (hybrid), within a bounded size."""

from __future__ import annotations

import numpy as np

from ..config import Field, boolean, choice, integer
from .base import FLOAT, LABEL, STAMP, Cost, Method


class TmlCd(Method):
    """kNN on reduced features with an adaptive, bounded training set.

    - ``passive``: condensing: a labelled sample the kNN gets wrong joins the set (the oldest leaves
      when the set is full); while the set has room every labelled sample joins.
    - ``active``: the set stays fixed until the detector fires; then it is replaced by the recent
      labelled samples (a window of ``window``) that arrived since the estimated change.
    - ``hybrid``: condensing, and on a detection every sample older than the estimated change leaves.

    Options: ``mode``; ``normalize`` feature vectors to unit length (kNN on directions: a few points
    better on ReLU features); ``reduction`` ``pca`` or ``random``; ``dims`` after reduction; ``k``
    neighbours; ``capacity`` of the set; ``window`` of recent samples (active). The set starts as a
    condensed subset of the training set. RAM: the set (reduced features, labels, stamps) and, for
    ``active``, the window; flash: the projection matrix and mean.

    Reference: S. Disabato, M. Roveri, "Tiny machine learning for concept drift", IEEE TNNLS (2022).

    >>> from tinyml_cli.adapt.demo import demo
    >>> from tinyml_cli.adapt.simulate import simulate
    >>> from tinyml_cli.drift.detectors import Adwin
    >>> ctx, x, z, y = demo()  # two classes; their labels swap at sample 300 of 600
    >>> trace = simulate(TmlCd(ctx), Adwin(), x, z, y, label_time=np.arange(len(y)))
    >>> f"{trace.correct[:300].mean():.2f} before, {trace.correct[-100:].mean():.2f} at the end"
    '0.86 before, 0.91 at the end'
    """

    name = "tml-cd"
    schema = {"mode": Field(choice("passive", "active", "hybrid"), "hybrid"),
              "reduction": Field(choice("pca", "random"), "pca"),
              "normalize": Field(boolean, True, "scale each feature vector to unit length first"),
              "dims": Field(integer(min_value=1), 16), "k": Field(integer(min_value=1), 3),
              "capacity": Field(integer(min_value=1), 256), "window": Field(integer(min_value=1), 128)}

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        ref = self._unit(ctx.ref_z).astype(np.float64)
        dims = min(self.options["dims"], ref.shape[1])
        self.mean = ref.mean(axis=0)
        if self.options["reduction"] == "pca":
            _, _, vt = np.linalg.svd(ref - self.mean, full_matrices=False)
            self.projection = vt[:dims].T
        else:
            rng = np.random.default_rng(ctx.seed)
            self.projection = rng.standard_normal((ref.shape[1], dims)) / np.sqrt(dims)
        self.projection = self.projection.astype(np.float32)
        self.mean = self.mean.astype(np.float32)
        self._condense(self._reduce(ctx.ref_z), ctx.ref_y)

    def _unit(self, z: np.ndarray) -> np.ndarray:
        if not self.options["normalize"]:
            return z
        return z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-6)

    def _reduce(self, z: np.ndarray) -> np.ndarray:
        return (self._unit(z) - self.mean) @ self.projection

    def _condense(self, r: np.ndarray, y: np.ndarray) -> None:
        """Hart's condensing over the training set, in order, until the set is full."""
        cap = self.options["capacity"]
        self.set_x = np.zeros((cap, r.shape[1]), np.float32)
        self.set_y = np.zeros(cap, np.int64)
        self.set_t = np.full(cap, -1, np.int64)  # arrival stamps; training samples get -1
        self.set_n = np.zeros(cap, np.float32)  # squared norms, for distances by one product
        self.size = 0
        self.version = 0  # changes with the set, so a prediction can be reused while it holds
        for i in range(len(r)):
            if self.size == cap:
                break
            if self.size == 0 or self._classify(r[i]) != y[i]:
                self._add(r[i], int(y[i]), -1)

    def _add(self, r: np.ndarray, y: int, t: int) -> None:
        if self.size == len(self.set_y):  # full: the oldest sample leaves
            oldest = int(np.argmin(self.set_t[:self.size]))
            self._keep(np.flatnonzero(np.arange(self.size) != oldest))
        self.set_x[self.size], self.set_y[self.size], self.set_t[self.size] = r, y, t
        self.set_n[self.size] = r @ r
        self.size += 1
        self.version += 1

    def _keep(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` of the set, in order."""
        n = len(rows)
        for column in (self.set_x, self.set_y, self.set_t, self.set_n):
            column[:n] = column[rows]
        self.size = n
        self.version += 1

    def _classify(self, r: np.ndarray) -> int:
        if self.size == 0:
            return 0
        d = self.set_n[:self.size] - 2.0 * (self.set_x[:self.size] @ r)  # |s - r|^2 - |r|^2
        k = min(self.options["k"], self.size)
        if k == 1:
            return int(self.set_y[int(np.argmin(d))])
        near = np.argpartition(d, k - 1)[:k]
        return int(np.bincount(self.set_y[near]).argmax())

    def bind(self, x: np.ndarray, z: np.ndarray) -> None:
        self.r = self._reduce(z)
        self._last = (-1, -1, 0)
        self.recent: list[int] = []
        self.labels: dict[int, int] = {}

    def predict(self, t: int) -> int:
        self._last = (t, self.version, self._classify(self.r[t]))
        return self._last[2]

    def learn(self, t: int, y: int) -> None:
        mode = self.options["mode"]
        if mode == "active":
            self.recent.append(t)
            self.labels[t] = y
            if len(self.recent) > self.options["window"]:
                self.labels.pop(self.recent.pop(0))
            return
        last_t, version, guess = self._last
        if last_t != t or version != self.version:
            guess = self._classify(self.r[t])
        if guess != y or self.size < len(self.set_y):
            self._add(self.r[t], y, t)

    def on_drift(self, t: int, since: int | None) -> None:
        start = since if since is not None else t - self.options["window"]
        if self.options["mode"] == "active":
            keep = [i for i in self.recent if i >= start]
            self.size = 0
            for i in keep[-len(self.set_y):]:
                self._add(self.r[i], self.labels[i], i)
        elif self.options["mode"] == "hybrid":
            self._keep(np.flatnonzero(self.set_t[:self.size] >= start))

    def cost(self) -> Cost:
        o = self.options
        d, f = self.projection.shape[1], self.projection.shape[0]
        window = o["window"] * (d * FLOAT + LABEL + STAMP) if o["mode"] == "active" else 0
        return Cost(state=o["capacity"] * (d * FLOAT + LABEL + STAMP), buffers=window,
                    activations=(d + o["k"]) * FLOAT, flash=(f * d + f) * FLOAT,
                    ops_per_update=f * d + 2 * f + o["capacity"] * d)

    def state(self) -> dict[str, np.ndarray]:
        return {"set_x": self.set_x[:self.size], "set_y": self.set_y[:self.size], "set_t": self.set_t[:self.size],
                "projection": self.projection, "mean": self.mean}
