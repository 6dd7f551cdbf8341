"""Parsing and rendering of sizes and counts: bytes in code, KiB/MiB only for people.

Memory sizes follow the embedded convention: ``KB`` and ``KiB`` both mean 1024 bytes, ``MB`` and
``MiB`` 1024**2, because MCU datasheets say "512 KB SRAM" for 512 * 1024 bytes.
Counts (MACs) use decimal suffixes: ``30M`` is 30,000,000.

>>> parse_bytes("2.5KB"), parse_bytes("512 KiB"), parse_bytes(4096)
(2560, 524288, 4096)
>>> parse_count("30M"), parse_count("1.5k")
(30000000, 1500)
>>> format_bytes(2560), format_bytes(3 * 1024 * 1024), format_bytes(100)
('2.5 KiB', '3.0 MiB', '100 B')
"""

from __future__ import annotations

import math
import re

from .errors import shown

_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
               "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3}
_COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}
# the largest size or count a config may give (an exabyte, 10^18 MACs): beyond it a value is a typo
MAX_QUANTITY = 10**18
_NUMBER_WITH_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


def _parse(value: object, units: dict[str, int], what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected {what}, got {shown(value)}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = _NUMBER_WITH_UNIT.match(str(value))
        if not match:
            raise ValueError(f"expected {what} such as {'512KB' if 'b' in units else '30M'}, got {shown(value)}")
        number, unit = float(match.group(1)), match.group(2).lower()
    if unit not in units:
        raise ValueError(f"unknown unit {shown(unit)} in {shown(value)}; use one of {sorted(u for u in units if u)}")
    if not math.isfinite(number) or abs(number * units[unit]) > MAX_QUANTITY:
        raise ValueError(f"expected {what} of at most {MAX_QUANTITY:.0e}, got {number:g}{unit}")
    return int(round(number * units[unit]))


def parse_bytes(value: object) -> int:
    """Parse a memory size (``512KB``, ``2.5KiB``, ``1MB``, ``4096``) into bytes."""
    return _parse(value, _BYTE_UNITS, "a size")


def parse_count(value: object) -> int:
    """Parse a count with an optional decimal suffix (``30M``, ``1.5k``) into an int."""
    return _parse(value, _COUNT_UNITS, "a count")


def format_bytes(n: float) -> str:
    """Render a byte count for people."""
    if abs(n) >= 1024**2:
        return f"{n / 1024**2:.1f} MiB"
    if abs(n) >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{int(n)} B"


def format_count(n: float) -> str:
    """Render a count (MACs, parameters) for people: 1.2M, 34.5k."""
    if abs(n) >= 10**9:
        return f"{n / 10**9:.2f}G"
    if abs(n) >= 10**6:
        return f"{n / 10**6:.2f}M"
    if abs(n) >= 10**3:
        return f"{n / 10**3:.1f}k"
    return str(int(n))
