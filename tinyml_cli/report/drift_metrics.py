"""Scores of one method on a drifting stream: accuracy before a drift, the drop, recovery time,
accuracy after recovery, detection delay and false alarms.

Recovery time after a drift at ``p`` is the smallest ``r`` such that the accuracy over the
``window`` samples from ``p + r`` is back within ``margin`` of the pre-drift accuracy (the accuracy
over every sample before the first drift): from ``p + r`` on, the method performs as before.

>>> correct = np.array([1] * 100 + [0] * 30 + [1] * 70, bool)
>>> m = drift_metrics(correct, [100], [], window=20, margin=0.0, max_delay=50)["drifts"][0]
>>> m["before"], m["drop"], m["recovery"], m["after"]
(1.0, 1.0, 30, 1.0)
"""

from __future__ import annotations

import numpy as np


def windowed(correct: np.ndarray, window: int) -> np.ndarray:
    """Trailing accuracy over the last ``window`` samples (fewer at the start)."""
    c = np.concatenate([[0.0], np.cumsum(correct, dtype=np.float64)])
    t = np.arange(1, len(correct) + 1)
    lo = np.maximum(0, t - window)
    return (c[t] - c[lo]) / (t - lo)


def _forward(correct: np.ndarray, start: int, end: int, window: int) -> np.ndarray:
    """Accuracy of each full window ``[s, s + window)`` with ``start <= s`` and ``s + window <= end``."""
    seg = correct[start:end].astype(np.float64)
    if len(seg) < window:
        return np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(seg)])
    return (c[window:] - c[:-window]) / window


def drift_metrics(correct: np.ndarray, positions: list[int], detections: list[int], window: int,
                  margin: float, max_delay: int) -> dict:
    """Per-drift scores plus overall accuracy, final windowed accuracy and false alarms."""
    n = len(correct)
    first = positions[0] if positions else n
    before = float(correct[:first].mean()) if first else float("nan")
    drifts, matched = [], set()
    for i, p in enumerate(positions):
        end = positions[i + 1] if i + 1 < len(positions) else n
        windows = _forward(correct, p, end, window)
        ok = np.flatnonzero(windows >= before - margin)
        recovery = int(ok[0]) if len(ok) else None
        hits = [d for d in detections if p <= d < min(end, p + max_delay + 1)]
        if hits:
            matched.add(hits[0])
        drifts.append({
            "position": p, "before": before,
            "drop": float(before - windows.min()) if len(windows) else None,
            "recovery": recovery,
            "after": float(correct[p + recovery:end].mean()) if recovery is not None else None,
            "detection_delay": hits[0] - p if hits else None,
        })
    return {
        "accuracy": float(correct.mean()), "before": before,
        "final": float(correct[-window:].mean()),
        "detections": list(detections),
        "false_alarms": len([d for d in detections if d not in matched]),
        "drifts": drifts,
    }


def error_metrics(errors: np.ndarray, positions: list[int], window: int, margin: float, start: int = 0) -> dict:
    """The regression counterpart of ``drift_metrics``, on per-sample prediction errors from
    ``start`` on (the samples before it, a model's washout, are left out): RMSE over the stream,
    before the first drift and over the last ``window`` samples; per drift the peak
    windowed RMSE, the recovery time (the smallest ``r`` such that the RMSE over the ``window``
    samples from ``p + r`` is at most ``(1 + margin)`` times the pre-drift RMSE) and the RMSE after it.

    >>> errors = np.array([0.1] * 100 + [1.0] * 30 + [0.1] * 70)
    >>> m = error_metrics(errors, [100], window=20, margin=0.1)
    >>> round(m["before"], 3), round(m["drifts"][0]["peak"], 3), m["drifts"][0]["recovery"]
    (0.1, 1.0, 30)
    """
    square = np.asarray(errors, np.float64) ** 2
    n = len(square)
    first = positions[0] if positions else n
    before = float(np.sqrt(square[start:first].mean())) if first > start else float("nan")
    drifts = []
    for i, p in enumerate(positions):
        end = positions[i + 1] if i + 1 < len(positions) else n
        rmse = np.sqrt(_forward(square, p, end, window))
        ok = np.flatnonzero(rmse <= (1 + margin) * before)
        recovery = int(ok[0]) if len(ok) else None
        drifts.append({"position": p, "before": before, "peak": float(rmse.max()) if len(rmse) else None,
                       "recovery": recovery,
                       "after": float(np.sqrt(square[p + recovery:end].mean())) if recovery is not None else None})
    return {"rmse": float(np.sqrt(square[start:].mean())), "before": before,
            "final": float(np.sqrt(square[-window:].mean())), "drifts": drifts}
