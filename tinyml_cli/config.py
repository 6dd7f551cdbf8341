"""Experiment configs: YAML loading, schema validation, ``key.sub=value`` overrides, clear errors.

A schema is a nested dict whose leaves are :class:`Field` objects. Validation fills defaults, parses
values (sizes, counts, choices), rejects unknown keys with a "did you mean" hint, and names the file
and the key path in every error.

>>> schema = {"train": {"epochs": Field(integer(min_value=1), 10)}, "mcu": Field(string, "STM32F412")}
>>> validate({"train": {"epochs": 3}}, schema, source="demo.yaml")
{'train': {'epochs': 3}, 'mcu': 'STM32F412'}
>>> validate({"train": {"epoch": 3}}, schema, source="demo.yaml")
Traceback (most recent call last):
...
tinyml_cli.errors.ConfigError: demo.yaml: unknown key 'train.epoch' (did you mean 'epochs'?)
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from .errors import ConfigError
from .units import parse_bytes, parse_count

Parser = Callable[[Any], Any]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Field:
    """One config value: how to parse it, its default (``REQUIRED`` if none) and a help line."""

    parse: Parser
    default: Any = REQUIRED
    help: str = ""


Schema = Mapping[str, "Field | Schema"]


# --- value parsers: each returns the parsed value or raises ValueError("expected ...") -------------

def string(value: Any) -> str:
    """A string."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def boolean(value: Any) -> bool:
    """true/false."""
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def integer(min_value: int | None = None, max_value: int | None = None) -> Parser:
    """An int within optional bounds."""
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer{_bounds(min_value, max_value)}, got {value!r}")
        _check_bounds(value, min_value, max_value, "an integer")
        return value
    return parse


def number(min_value: float | None = None, max_value: float | None = None) -> Parser:
    """A float (ints accepted) within optional bounds."""
    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number{_bounds(min_value, max_value)}, got {value!r}")
        _check_bounds(value, min_value, max_value, "a number")
        return float(value)
    return parse


def choice(*options: str) -> Parser:
    """One of a fixed set of strings."""
    def parse(value: Any) -> str:
        if value not in options:
            hint = did_you_mean(str(value), options)
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}{hint}")
        return value
    return parse


def size_bytes(value: Any) -> int:
    """A memory size such as ``512KB``; must be positive."""
    n = parse_bytes(value)
    if n <= 0:
        raise ValueError(f"expected a positive size, got {value!r}")
    return n


def size_bytes_or_zero(value: Any) -> int:
    """A memory size such as ``64KB``; zero allowed."""
    n = parse_bytes(value)
    if n < 0:
        raise ValueError(f"expected a size >= 0, got {value!r}")
    return n


def count(value: Any) -> int:
    """A count such as ``30M``; must be positive."""
    n = parse_count(value)
    if n <= 0:
        raise ValueError(f"expected a positive count, got {value!r}")
    return n


def optional(parse: Parser) -> Parser:
    """``None`` or whatever ``parse`` accepts."""
    def parse_optional(value: Any) -> Any:
        return None if value is None else parse(value)
    return parse_optional


def list_of(parse: Parser, min_length: int = 0) -> Parser:
    """A list whose items each pass ``parse``."""
    def parse_list(value: Any) -> list:
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        if len(value) < min_length:
            raise ValueError(f"expected at least {min_length} item(s), got {len(value)}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(parse(item))
            except ValueError as exc:
                raise ValueError(f"item {i}: {exc}") from None
        return out
    return parse_list


def mapping(value: Any) -> dict:
    """A free-form mapping, validated later by whoever owns it (a backend, a search space)."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping, got {value!r}")
    return dict(value)


def _bounds(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _check_bounds(value: float, lo: float | None, hi: float | None, what: str) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"expected {what}{_bounds(lo, hi)}, got {value!r}")


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """' (did you mean X?)' for the option closest to ``word``, or ''."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- validation -------------------------------------------------------------------------------------

def validate(data: Any, schema: Schema, source: str, path: str = "") -> dict:
    """Check ``data`` against ``schema``; return a new dict with defaults filled and values parsed."""
    where = path or "top level"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {where}: expected a mapping, got {type(data).__name__}")
    for key in data:
        if key not in schema:
            full = f"{path}.{key}" if path else str(key)
            raise ConfigError(f"{source}: unknown key {full!r}{did_you_mean(str(key), schema)}")
    out: dict = {}
    for key, spec in schema.items():
        full = f"{path}.{key}" if path else key
        if isinstance(spec, Field):
            if key not in data:
                if spec.default is REQUIRED:
                    raise ConfigError(f"{source}: missing required key {full!r}")
                out[key] = copy.deepcopy(spec.default)
                continue
            try:
                out[key] = spec.parse(data[key])
            except ValueError as exc:
                raise ConfigError(f"{source}: {full}: {exc}") from None
        else:
            out[key] = validate(data.get(key), spec, source, full)
    return out


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning a missing file or a syntax error into a one-line ConfigError."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{at}: {problem}") from None


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a copy of ``data``."""
    out = copy.deepcopy(data) if data else {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r}: expected key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a mapping")
            node = child
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None, schema: Schema, overrides: Iterable[str] = ()) -> dict:
    """Load a YAML config (or start empty), apply overrides, validate against ``schema``."""
    data = read_yaml(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "config"
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    data = apply_overrides(data or {}, overrides)
    return validate(data, schema, source)


CONSTRAINTS_SCHEMA: Schema = {
    "sram": Field(optional(size_bytes), None, "peak SRAM budget, tighter than the profile's"),
    "flash": Field(optional(size_bytes), None, "flash budget, tighter than the profile's"),
    "macs": Field(optional(count), None, "maximum multiply-accumulates per inference"),
    "latency_ms": Field(optional(number(min_value=0.0)), None, "maximum latency in milliseconds"),
}

COMMON_SCHEMA: Schema = {
    "name": Field(string, "experiment", "run name, used in the run directory"),
    "mcu": Field(string, "STM32F412", "built-in MCU profile name or a profile YAML path"),
    "seed": Field(integer(min_value=0), 0, "seed for every random choice"),
    "runtime": Field(choice("tflm", "c"), "tflm", "what runs the model on the MCU (tflm: TFLite Micro, "
                     "c: the tinyml C engine): what the estimate's SRAM and flash, and so 'fits', mean"),
    "constraints": CONSTRAINTS_SCHEMA,
    "engine": {"patches": Field(integer(min_value=0), 0, "runtime c: run the first layers patch by patch over "
                                "N x N patches (MCUNetV2); 0: layer by layer"),
               "split": Field(optional(string), None, "the last layer run patch by patch (default: the "
                              "split with the smallest peak SRAM)")},
}
