"""Config fields of the echo state networks: finite numbers in open or closed intervals, and the
reservoir's options shared by the ``esn`` method and the anomaly detector."""

from __future__ import annotations

import math
from typing import Any, Callable

from ...config import Field, choice, integer
from .reservoir import KINDS


def interval(lo: float, hi: float = math.inf, open_lo: bool = True, open_hi: bool = False) -> Callable[[Any], float]:
    """A finite number in an interval such as ``(0, 1]``.

    >>> interval(0, 1)(0.5), interval(0, 1, open_lo=False)(0)
    (0.5, 0.0)
    >>> interval(0, 1)(0)
    Traceback (most recent call last):
    ValueError: expected a finite number in (0, 1], got 0
    """
    shown = f"{'(' if open_lo else '['}{lo:g}, {'inf' if hi == math.inf else f'{hi:g}'}{')' if open_hi or hi == math.inf else ']'}"

    def parse(value: Any) -> float:
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if ok:
            ok = (value > lo if open_lo else value >= lo) and (value < hi if open_hi else value <= hi)
        if not ok:
            raise ValueError(f"expected a finite number in {shown}, got {value!r}")
        return float(value)
    return parse


def reservoir_schema(input_scaling: float, leak: float) -> dict[str, Field]:
    """The reservoir's fields, with the given defaults for ``input_scaling`` and ``leak``."""
    return {"units": Field(integer(min_value=1), 50), "layers": Field(integer(min_value=1), 1),
            "radius": Field(interval(0), 0.9, "recurrent spectral radius, > 0"),
            "density": Field(interval(0, 1), 0.1, "fraction of recurrent weights kept, (0, 1]"),
            "input_scaling": Field(interval(0), input_scaling, "input weights drawn in [-s, s], > 0"),
            "leak": Field(interval(0, 1), leak, "leak rate, (0, 1]"),
            "kind": Field(choice(*KINDS), "float")}
