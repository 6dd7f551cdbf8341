"""The prequential stream simulator: predict each sample, then learn from the labels that arrive,
and let a change detector watch the method's errors."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..drift.detectors import Detector
from .base import Method


@dataclass
class Trace:
    """What one method did on one stream."""

    predictions: np.ndarray
    correct: np.ndarray
    detections: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def samples_per_second(self) -> float:
        """Stream samples processed per second of the method's loop (features precomputed)."""
        return len(self.predictions) / self.seconds if self.seconds > 0 else float("inf")


def arrivals(label_time: np.ndarray) -> list[list[int]]:
    """For each stream index, the samples whose labels arrive right after its prediction.

    >>> arrivals(np.array([1, -1, 2]))
    [[], [0], [2]]
    """
    out: list[list[int]] = [[] for _ in range(len(label_time))]
    for s in np.flatnonzero(label_time >= 0):
        out[int(label_time[s])].append(int(s))
    return out


def simulate(method: Method, detector: Detector, x: np.ndarray, z: np.ndarray, y: np.ndarray,
             label_time: np.ndarray) -> Trace:
    """Run ``method`` over the stream (inputs ``x``, frozen features ``z``, true labels ``y``).

    The detector sees 1 for each labelled sample the method got wrong, 0 otherwise; on a detection the
    method hears the first stream index of the estimated new concept (``change_start`` labelled
    samples back, when the detector estimates it)."""
    start = time.perf_counter()
    method.bind(x, z)
    n = len(y)
    predictions = np.zeros(n, np.int64)
    labelled: list[int] = []
    detections: list[int] = []
    due = arrivals(label_time)
    for t in range(n):
        predictions[t] = method.predict(t)
        for s in due[t]:
            label = int(y[s])
            method.learn(s, label)
            labelled.append(s)
            if detector.update(float(predictions[s] != label)):
                detections.append(t)
                back = getattr(detector, "change_start", None)
                since = labelled[-back] if back and back <= len(labelled) else None
                method.on_drift(t, since)
    seconds = time.perf_counter() - start
    return Trace(predictions, predictions == y, detections, seconds)
