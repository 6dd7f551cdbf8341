"""Drift schedules: when, and how fast, a stream moves from one concept to the next.

A schedule turns stream positions into a per-sample *level*: 0 is the original concept, 1 the first
drifted concept, 2 the second... Abrupt, gradual and recurring schedules give whole-number levels
(gradual mixes concepts ``k - 1`` and ``k`` at random, the chance of ``k`` rising linearly over
``width`` samples); incremental ramps the level continuously over ``width``, for drift kinds that
have a magnitude (covariate shift, the rotating hyperplane).

>>> import numpy as np
>>> levels("abrupt", 8, [3, 6], 0, np.random.default_rng(0)).tolist()
[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0]
>>> levels("recurring", 8, [2, 4, 6], 0, np.random.default_rng(0)).tolist()
[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
>>> levels("incremental", 6, [1], 4, np.random.default_rng(0)).tolist()
[0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ConfigError, shown


def _ramp(n: int, position: int, width: int) -> np.ndarray:
    """0 before ``position``, rising linearly to 1 over ``width`` samples (a step when width <= 1)."""
    t = np.arange(n, dtype=np.float64)
    if width <= 1:
        return (t >= position).astype(np.float64)
    return np.clip((t - position + 1) / width, 0.0, 1.0)


def abrupt(n: int, positions: list[int], width: int, rng: np.random.Generator) -> np.ndarray:
    """The level steps up by one at each position."""
    return sum((_ramp(n, p, 0) for p in positions), np.zeros(n))


def gradual(n: int, positions: list[int], width: int, rng: np.random.Generator) -> np.ndarray:
    """Around each position the new concept is drawn with a probability rising linearly over ``width``."""
    u = rng.random((len(positions), n))
    return sum(((u[i] < _ramp(n, p, width)).astype(np.float64) for i, p in enumerate(positions)), np.zeros(n))


def incremental(n: int, positions: list[int], width: int, rng: np.random.Generator) -> np.ndarray:
    """The level rises continuously from ``k - 1`` to ``k`` over ``width`` samples."""
    return sum((_ramp(n, p, width) for p in positions), np.zeros(n))


def recurring(n: int, positions: list[int], width: int, rng: np.random.Generator) -> np.ndarray:
    """The concept switches to the drifted one at the first position, back at the second, and so on."""
    return abrupt(n, positions, width, rng) % 2


SCHEDULES: dict[str, Callable[[int, list[int], int, np.random.Generator], np.ndarray]] = {
    "abrupt": abrupt, "gradual": gradual, "incremental": incremental, "recurring": recurring,
}


def levels(schedule: str, n: int, positions: list[int], width: int, rng: np.random.Generator) -> np.ndarray:
    """Per-sample concept level of a stream of ``n`` samples."""
    if schedule not in SCHEDULES:
        raise ConfigError(f"unknown drift schedule {shown(schedule)}; known: {', '.join(SCHEDULES)}")
    bad = [p for p in positions if not 0 < p < n]
    if bad:
        raise ConfigError(f"drift position {bad[0]} is outside the stream (1..{n - 1})")
    if sorted(positions) != list(positions):
        raise ConfigError(f"drift positions must be increasing, got {positions}")
    return SCHEDULES[schedule](n, list(positions), width, rng)
