"""Change detectors: one small class each, ``update(value) -> drift detected``."""

from __future__ import annotations

from typing import Any, Mapping

import math

from ...errors import ConfigError, clip, shown
from .adwin import Adwin
from .base import Detector
from .cusum import Cusum
from .ddm import Ddm
from .ici import Ici
from .page_hinkley import PageHinkley

DETECTORS: dict[str, type[Detector]] = {
    "page-hinkley": PageHinkley, "cusum": Cusum, "adwin": Adwin, "ddm": Ddm, "ici": Ici,
}


MAX_PARAMETER = 1e12                  # thresholds, windows and rates are far below this


def make_detector(name: str, params: Mapping[str, Any] | None = None) -> Detector:
    """A detector by registry name with keyword parameters; unknown names or parameters are a ConfigError."""
    if name not in DETECTORS:
        raise ConfigError(f"unknown detector {shown(name)}; known: {', '.join(DETECTORS)}")
    for key, value in dict(params or {}).items():      # every detector parameter is a number
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or abs(value) > MAX_PARAMETER):
            raise ConfigError(f"detector.params.{clip(str(key))}: expected a finite number of magnitude at most "
                              f"{MAX_PARAMETER:g}, got {shown(value)}")
    try:
        return DETECTORS[name](**dict(params or {}))
    except TypeError as exc:
        raise ConfigError(f"detector {name}: {clip(str(exc))}") from None


__all__ = ["DETECTORS", "Adwin", "Cusum", "Ddm", "Detector", "Ici", "PageHinkley", "make_detector"]
