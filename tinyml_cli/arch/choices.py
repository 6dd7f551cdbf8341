"""Reading an Arch's choices with errors that name the key path."""

from __future__ import annotations

from typing import Any

from ..config import did_you_mean
from ..errors import ConfigError


def get(node: Any, key: str, where: str, kind: type | tuple[type, ...] = object) -> Any:
    """``node[key]``, checked to be of ``kind``; a ConfigError naming ``where.key`` otherwise."""
    if not isinstance(node, dict) or key not in node:
        raise ConfigError(f"arch choices: missing {where + '.' if where else ''}{key}")
    value = node[key]
    bad_bool = isinstance(value, bool) and kind in (int, float, (int, float))
    if bad_bool or not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"arch choices: {where + '.' if where else ''}{key}: expected {name}, got {value!r}")
    return value


def positive_int(node: Any, key: str, where: str) -> int:
    """An int > 0 at ``node[key]``."""
    if isinstance(node, dict):                         # fast path: graph building is a hot loop
        value = node.get(key)
        if type(value) is int and value > 0:
            return value
    value = get(node, key, where, int)
    if value <= 0:
        raise ConfigError(f"arch choices: {where + '.' if where else ''}{key}: expected a positive integer, got {value}")
    return value


def known_keys(node: Any, allowed: frozenset[str], where: str) -> None:
    """Every key of the mapping ``node`` is one of ``allowed``: an unknown one (a typo the builder
    would silently ignore) is a ConfigError naming ``where.key``, with a "did you mean"."""
    if isinstance(node, dict) and not node.keys() <= allowed:       # fast path: a set comparison
        key = sorted(str(k) for k in node.keys() - allowed)[0]
        raise ConfigError(f"arch choices: unknown key {where + '.' if where else ''}{key}"
                          f"{did_you_mean(key, allowed)}; expected {', '.join(sorted(allowed))}")
