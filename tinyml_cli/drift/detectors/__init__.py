"""Change detectors: one small class each, ``update(value) -> drift detected``."""

from __future__ import annotations

from typing import Any, Mapping

from ...errors import ConfigError
from .adwin import Adwin
from .base import Detector
from .cusum import Cusum
from .ddm import Ddm
from .ici import Ici
from .page_hinkley import PageHinkley

DETECTORS: dict[str, type[Detector]] = {
    "page-hinkley": PageHinkley, "cusum": Cusum, "adwin": Adwin, "ddm": Ddm, "ici": Ici,
}


def make_detector(name: str, params: Mapping[str, Any] | None = None) -> Detector:
    """A detector by registry name with keyword parameters; unknown names or parameters are a ConfigError."""
    if name not in DETECTORS:
        raise ConfigError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")
    try:
        return DETECTORS[name](**dict(params or {}))
    except TypeError as exc:
        raise ConfigError(f"detector {name}: {exc}") from None


__all__ = ["DETECTORS", "Adwin", "Cusum", "Ddm", "Detector", "Ici", "PageHinkley", "make_detector"]
