"""What the batch-updating methods (``finetune-last``, ``tinytl``) share: a bounded replay buffer of
recent labels that says when an update is due, and predictions made a block at a time while the
weights hold still between updates."""

from __future__ import annotations

from typing import Callable

import numpy as np


class ReplayBuffer:
    """The last ``size`` labelled samples as (stream index, label), oldest first; an update is due
    every ``every`` labels.

    >>> buffer = ReplayBuffer(size=3, every=2)
    >>> [buffer.add(t, t % 2) for t in range(5)], buffer.kept
    ([False, True, False, True, False], [(2, 0), (3, 1), (4, 0)])
    >>> buffer.on_drift(t=9, since=3); buffer.kept
    [(3, 1), (4, 0)]
    """

    def __init__(self, size: int, every: int) -> None:
        self.size, self.every = size, every
        self.kept: list[tuple[int, int]] = []
        self.since_update = 0

    def add(self, t: int, y: int) -> bool:
        """Keep label ``y`` of sample ``t`` (the oldest leaves when full); True when an update is due."""
        self.kept.append((t, y))
        if len(self.kept) > self.size:
            self.kept.pop(0)
        self.since_update += 1
        if self.since_update < self.every:
            return False
        self.since_update = 0
        return True

    def on_drift(self, t: int, since: int | None) -> None:
        """Keep only the samples from the estimated change on (the last ``every`` when unknown)."""
        start = since if since is not None else t - self.every
        self.kept = [(i, y) for i, y in self.kept if i >= start]

    def columns(self) -> tuple[list[int], list[int]]:
        """The kept stream indices and labels."""
        idx, labels = zip(*self.kept)
        return list(idx), list(labels)


class BlockPredictions:
    """Class predictions ``predict_block(start, stop)`` made ``size`` samples at a time and reused
    until ``clear()`` (call it when the weights change)."""

    def __init__(self, size: int, predict_block: Callable[[int, int], np.ndarray]) -> None:
        self.size, self.predict_block = size, predict_block
        self.start, self.pred = 0, np.zeros(0, np.int64)

    def __call__(self, t: int) -> int:
        """The class predicted for sample ``t``."""
        if not self.start <= t < self.start + len(self.pred):
            self.start, self.pred = t, self.predict_block(t, t + self.size)
        return int(self.pred[t - self.start])

    def clear(self) -> None:
        """Forget the cached block."""
        self.pred = self.pred[:0]
