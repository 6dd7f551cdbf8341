"""On-device learning methods on the features of a deployed model, and their memory accounting."""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError, shown
from .base import Context, Cost, Method
from .esn.method import Esn
from .finetune_last import FinetuneLast
from .none import Frozen
from .tinyol import TinyOL
from .tinytl import TinyTL
from .tmlcd import TmlCd

METHODS: dict[str, type[Method]] = {
    "none": Frozen, "tinyol": TinyOL, "tml-cd": TmlCd, "tinytl": TinyTL, "finetune-last": FinetuneLast, "esn": Esn,
}


def make_method(name: str, ctx: Context, options: Mapping[str, Any] | None = None) -> Method:
    """A method by registry name with its options."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {shown(name)}; known: {', '.join(METHODS)}")
    return METHODS[name](ctx, options)


__all__ = ["METHODS", "Context", "Cost", "Method", "make_method"]
