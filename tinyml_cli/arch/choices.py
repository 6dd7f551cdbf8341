"""Reading an Arch's choices with errors that name the key path."""

from __future__ import annotations

from typing import Any

from ..config import did_you_mean, integer, list_of, number
from ..errors import ConfigError, clip, shown

# Sane ranges of an architecture's numbers, declared once: the spaces' option schemas and the
# builders of an Arch's choices both check them. Far beyond any MCU network (the largest
# MobileNetV2 has 1280 head channels, kernels of 7, inputs of 224), short of a typo (a kernel of
# 1e18 would be 3e39 MACs).
LIMITS: dict[str, tuple[int, int]] = {
    "channels": (1, 16384), "head_channels": (1, 16384), "units": (1, 65536), "kernel": (1, 64),
    "stride": (1, 16), "size": (1, 256), "expand": (1, 16), "depth": (1, 64), "resolution": (1, 4096),
    "divisor": (1, 256),
}
WIDTH_RANGE = (0.01, 16.0)          # width multipliers (MobileNet's alpha)


def limited(key: str, min_value: int | None = None) -> object:
    """An integer parser for an option of kind ``key`` within its LIMITS (a narrower minimum allowed)."""
    lo, hi = LIMITS[key]
    return integer(min_value=lo if min_value is None else min_value, max_value=hi)


def limited_list(key: str) -> object:
    """A non-empty list of integers of kind ``key`` within its LIMITS."""
    return list_of(limited(key), 1)


def width_list() -> object:
    """A non-empty list of width multipliers within WIDTH_RANGE."""
    return list_of(number(*WIDTH_RANGE), 1)


def get(node: Any, key: str, where: str, kind: type | tuple[type, ...] = object) -> Any:
    """``node[key]``, checked to be of ``kind``; a ConfigError naming ``where.key`` otherwise."""
    if not isinstance(node, dict) or key not in node:
        raise ConfigError(f"arch choices: missing {where + '.' if where else ''}{key}")
    value = node[key]
    bad_bool = isinstance(value, bool) and kind in (int, float, (int, float))
    if bad_bool or not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"arch choices: {where + '.' if where else ''}{key}: expected {name}, got {shown(value)}")
    return value


def positive_int(node: Any, key: str, where: str, kind: str | None = None) -> int:
    """An int at ``node[key]`` within the LIMITS of its kind (``kind``, by default the key)."""
    lo, hi = LIMITS[kind or key]
    if isinstance(node, dict):                         # fast path: graph building is a hot loop
        value = node.get(key)
        if type(value) is int and lo <= value <= hi:
            return value
    value = get(node, key, where, int)
    if not lo <= value <= hi:
        raise ConfigError(f"arch choices: {where + '.' if where else ''}{key}: expected an integer in "
                          f"[{lo}, {hi}], got {shown(value)}")
    return value


def width(node: Any, where: str) -> float:
    """A width multiplier at ``node['width']``, finite and within WIDTH_RANGE."""
    value = float(get(node, "width", where, (int, float)))
    if not WIDTH_RANGE[0] <= value <= WIDTH_RANGE[1]:             # also false for nan
        raise ConfigError(f"arch choices: width: expected a number in [{WIDTH_RANGE[0]}, {WIDTH_RANGE[1]}], "
                          f"got {shown(value)}")
    return value


def known_keys(node: Any, allowed: frozenset[str], where: str) -> None:
    """Every key of the mapping ``node`` is one of ``allowed``: an unknown one (a typo the builder
    would silently ignore) is a ConfigError naming ``where.key``, with a "did you mean"."""
    if isinstance(node, dict) and not node.keys() <= allowed:       # fast path: a set comparison
        key = sorted(str(k) for k in node.keys() - allowed)[0]
        raise ConfigError(f"arch choices: unknown key {clip(where + '.' + key if where else key)}"
                          f"{did_you_mean(key, allowed)}; expected {', '.join(sorted(allowed))}")
