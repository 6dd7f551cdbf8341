"""Scores of an anomaly detector on a stream with labelled anomaly events.

An *alarm* is the first flag of a run of consecutive flags. It is true when it falls inside an event
``[start, end)`` or within ``tolerance`` samples after its end, false otherwise. An event is detected
when a flag falls in that span; its delay is that first flag minus ``start``. Precision: true alarms
over alarms; recall: detected events over events; false alarms are counted per 1,000 samples.
``flagged_outside`` counts the flagged samples outside every event (and its tolerance): the
long tails of alarm runs that the onset-based scores do not see.

>>> flags = np.zeros(1000, bool)
>>> flags[[105, 106, 300, 710]] = True  # event 1 found 5 samples late, one false alarm, event 2 found
>>> m = anomaly_metrics(flags, [(100, 120), (700, 720), (900, 910)], tolerance=0)
>>> round(m["precision"], 4), round(m["recall"], 4), round(m["f1"], 4), m["delays"], m["false_alarms_per_1000"]
(0.6667, 0.6667, 0.6667, [5, 10, None], 1.0)
"""

from __future__ import annotations

import numpy as np


def alarms(flags: np.ndarray) -> np.ndarray:
    """Indices where a run of flags starts."""
    flags = np.asarray(flags, bool)
    return np.flatnonzero(flags & ~np.concatenate([[False], flags[:-1]]))


def anomaly_metrics(flags: np.ndarray, events: list[tuple[int, int]], tolerance: int = 0) -> dict:
    """Precision, recall, F1, per-event delays (None: missed), mean delay and false alarms per 1,000."""
    flags = np.asarray(flags, bool)
    inside = np.zeros(len(flags), bool)
    delays: list[int | None] = []
    for start, end in events:
        stop = min(len(flags), end + tolerance)
        inside[start:stop] = True
        hits = np.flatnonzero(flags[start:stop])
        delays.append(int(hits[0]) if len(hits) else None)
    onsets = alarms(flags)
    true = int(np.sum(inside[onsets]))
    false = len(onsets) - true
    detected = sum(d is not None for d in delays)
    precision = true / len(onsets) if len(onsets) else 1.0
    recall = detected / len(events) if events else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    found = [d for d in delays if d is not None]
    return {"precision": precision, "recall": recall, "f1": f1, "delays": delays,
            "mean_delay": float(np.mean(found)) if found else None,
            "false_alarms": false, "false_alarms_per_1000": 1000.0 * false / max(1, len(flags)),
            "flagged_outside": int(np.sum(flags & ~inside))}


def class_metrics(flags: np.ndarray, events: list[tuple[int, int, str]], kind: str, tolerance: int = 0) -> dict:
    """``anomaly_metrics`` on the events of one class: a run of flags that starts inside another
    class's event (or within ``tolerance`` after it) is set aside whole, as that event's alarm.

    >>> flags = np.zeros(100, bool)
    >>> flags[10:40] = True  # one run from a spike at 10 that outlasts it and a shift at 30
    >>> m = class_metrics(flags, [(10, 11, "spike"), (30, 35, "shift")], "shift")
    >>> m["delays"], m["false_alarms"]
    ([None], 0)
    """
    flags = np.asarray(flags, bool)
    keep = flags.copy()
    ends = np.flatnonzero(flags & ~np.concatenate([flags[1:], [False]])) + 1
    for onset, end in zip(alarms(flags), ends):
        if any(other != kind and start <= onset < stop + tolerance for start, stop, other in events):
            keep[onset:end] = False
    return anomaly_metrics(keep, [(s, e) for s, e, k in events if k == kind], tolerance)
