"""What every change detector shares: ``update(x) -> bool`` and a River-style restart after a detection."""

from __future__ import annotations

from ...errors import ConfigError


class Detector:
    """A sequential change detector fed one value at a time (an error bit, a loss, a sensor value).

    ``update(x)`` returns True when a change is detected at ``x``; the detector then starts afresh on
    the next value, as River's detectors do. Subclasses keep all their state in ``_reset``.
    """

    name = "base"

    def __init__(self) -> None:
        self.drift_detected = False
        self._reset()

    def _reset(self) -> None:
        self.drift_detected = False

    def update(self, x: float) -> bool:
        """Feed one value; True when a change is detected."""
        raise NotImplementedError

    def run(self, values) -> list[int]:
        """Indices at which a change is detected over a whole sequence of values."""
        return [i for i, v in enumerate(values) if self.update(float(v))]


def check(condition: bool, detector: str, message: str) -> None:
    """Raise a ConfigError naming the detector parameter when ``condition`` is false."""
    if not condition:
        raise ConfigError(f"detector {detector}: {message}")
