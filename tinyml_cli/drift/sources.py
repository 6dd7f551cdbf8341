"""Stream sources: a dataset the toolchain loads, or a classic synthetic generator (SEA, STAGGER,
rotating hyperplane) whose own concept follows the drift level.

Synthetic samples are vectors of height 1 (``(1, d, 1)``), like 1-D signals.

>>> import numpy as np
>>> x, y = sea(4, np.array([0, 0, 1, 1]), np.random.default_rng(0), {"noise": 0.0})
>>> x.shape, y.tolist()
((4, 1, 3, 1), [0, 0, 0, 0])
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ..config import Field, number, validate

SEA_THRESHOLDS = (8.0, 9.0, 7.0, 9.5)


def sea(n: int, level: np.ndarray, rng: np.random.Generator, params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """SEA (Street and Kim, KDD 2001): three features in [0, 10]; class 1 when ``x0 + x1 <= theta``,
    theta cycling 8, 9, 7, 9.5 with the concept level; ``noise`` flips that fraction of labels."""
    x = rng.uniform(0.0, 10.0, (n, 3))
    theta = np.asarray(SEA_THRESHOLDS)[np.asarray(level, int) % 4]
    y = (x[:, 0] + x[:, 1] <= theta).astype(np.int64)
    flip = rng.random(n) < params.get("noise", 0.0)
    y[flip] = 1 - y[flip]
    return x.reshape(n, 1, 3, 1).astype(np.float32), y


def stagger(n: int, level: np.ndarray, rng: np.random.Generator, params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """STAGGER (Schlimmer and Granger, 1986): size, colour and shape, one-hot (9 features); concept 0
    ``small and red``, 1 ``green or circle``, 2 ``medium or large``, cycling with the level."""
    size, colour, shape = (rng.integers(0, 3, n) for _ in range(3))
    x = np.zeros((n, 9), np.float32)
    x[np.arange(n), size] = x[np.arange(n), 3 + colour] = x[np.arange(n), 6 + shape] = 1.0
    concept = np.asarray(level, int) % 3
    rules = [(size == 0) & (colour == 0), (colour == 1) | (shape == 1), (size == 1) | (size == 2)]
    y = np.select([concept == k for k in range(3)], rules).astype(np.int64)
    return x.reshape(n, 1, 9, 1), y


def hyperplane(n: int, level: np.ndarray, rng: np.random.Generator, params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Rotating hyperplane (Hulten et al., KDD 2001): ``d`` features in [0, 1]; class 1 when
    ``w . x >= sum(w) / 2``. The weights move from ``w0`` by ``level * magnitude`` along a fixed
    random direction (drawn from ``seed``), so an incremental schedule rotates the plane smoothly."""
    d = int(params.get("features", 10))
    directions = np.random.default_rng(int(params.get("seed", 0)))
    w0 = directions.uniform(0.0, 1.0, d)
    step = directions.choice([-1.0, 1.0], d) * params.get("magnitude", 1.0)
    x = rng.uniform(0.0, 1.0, (n, d))
    w = w0[None, :] + np.asarray(level, np.float64)[:, None] * step[None, :]
    y = ((x * w).sum(1) >= w.sum(1) / 2).astype(np.int64)
    return x.reshape(n, 1, d, 1).astype(np.float32), y


GENERATORS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "sea": sea, "stagger": stagger, "hyperplane": hyperplane,
}

GENERATOR_SCHEMA = {
    "noise": Field(number(min_value=0.0, max_value=0.5), 0.0, "SEA: fraction of labels flipped"),
    "features": Field(number(min_value=2), 10, "hyperplane: number of features"),
    "magnitude": Field(number(min_value=0.0), 1.0, "hyperplane: weight change per concept level"),
    "seed": Field(number(min_value=0), 0, "hyperplane: seed of the weights and their direction"),
}


def generator_params(params: Mapping[str, Any]) -> dict:
    """Validated generator parameters (``stream.params``)."""
    return validate(dict(params), GENERATOR_SCHEMA, "config", "stream.params")
