"""Label regimes: when the label of each stream sample reaches the device (-1: never).

>>> import numpy as np
>>> label_times("delayed", 5, delay=2, fraction=1.0, rng=np.random.default_rng(0)).tolist()
[2, 3, 4, -1, -1]
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ConfigError, shown


def every(n: int, delay: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Every label, right after the prediction."""
    return np.arange(n)


def delayed(n: int, delay: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Every label, ``delay`` samples later (labels due after the stream ends never arrive)."""
    t = np.arange(n) + delay
    return np.where(t < n, t, -1)


def partial(n: int, delay: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A random ``fraction`` of the labels, right after the prediction."""
    return np.where(rng.random(n) < fraction, np.arange(n), -1)


REGIMES: dict[str, Callable[[int, int, float, np.random.Generator], np.ndarray]] = {
    "all": every, "delayed": delayed, "fraction": partial,
}


def label_times(regime: str, n: int, delay: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Index of the sample after whose prediction each label arrives (-1: never)."""
    if regime not in REGIMES:
        raise ConfigError(f"unknown label regime {shown(regime)}; known: {', '.join(REGIMES)}")
    return REGIMES[regime](n, delay, fraction, rng)
