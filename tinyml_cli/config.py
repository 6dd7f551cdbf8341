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
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from .errors import ConfigError, shown
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

# Bounds every config value meets whatever its key: a string longer than this, an integer beyond
# int64 or a float beyond 1e15 (or not finite) is a mistake, never a setting. Keys with a narrower
# sane range declare it in their schema.
MAX_STRING = 4096
MAX_INTEGER = 2**63 - 1
MAX_NUMBER = 1e15


def string(value: Any) -> str:
    """A string (at most MAX_STRING characters)."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {shown(value)}")
    if len(value) > MAX_STRING:
        raise ValueError(f"expected a string of at most {MAX_STRING} characters, got {len(value)}")
    return value


def boolean(value: Any) -> bool:
    """true/false."""
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {shown(value)}")
    return value


def integer(min_value: int | None = None, max_value: int | None = None) -> Parser:
    """An int within optional bounds (and within +-MAX_INTEGER whatever they are).

    >>> integer(min_value=1)(10**30)
    Traceback (most recent call last):
    ...
    ValueError: expected an integer >= 1, got 1000000000000000000000000000000
    """
    lo = -MAX_INTEGER if min_value is None else min_value
    hi = MAX_INTEGER if max_value is None else max_value

    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer{_bounds(min_value, max_value)}, got {shown(value)}")
        if not lo <= value <= hi:
            raise ValueError(f"expected an integer{_bounds(min_value, max_value)}, got {shown(value)}")
        return value
    return parse


def number(min_value: float | None = None, max_value: float | None = None) -> Parser:
    """A finite float (ints accepted) within optional bounds (and within +-MAX_NUMBER).

    >>> number(min_value=0.0)(float("inf"))
    Traceback (most recent call last):
    ...
    ValueError: expected a finite number >= 0.0, got inf
    """
    lo = -MAX_NUMBER if min_value is None else min_value
    hi = MAX_NUMBER if max_value is None else max_value

    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number{_bounds(min_value, max_value)}, got {shown(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected a finite number{_bounds(min_value, max_value)}, got {shown(value)}")
        if not lo <= value <= hi:
            declared = _bounds(min_value, max_value) or f" of magnitude at most {MAX_NUMBER:g}"
            raise ValueError(f"expected a number{declared}, got {shown(value)}")
        return float(value)
    return parse


MAX_LEARNING_RATE = 10.0


def learning_rate(value: Any) -> float:
    """A learning rate: finite, in [0, MAX_LEARNING_RATE] (beyond it every optimizer diverges)."""
    return number(min_value=0.0, max_value=MAX_LEARNING_RATE)(value)


def choice(*options: str) -> Parser:
    """One of a fixed set of strings."""
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            hint = did_you_mean(value, options) if isinstance(value, str) else ""
            raise ValueError(f"expected one of {', '.join(options)}, got {shown(value)}{hint}")
        return value
    return parse


C_KEYWORDS = frozenset("auto break case char const continue default do double else enum extern float for goto if "
                       "inline int long register restrict return short signed sizeof static struct switch typedef "
                       "union unsigned void volatile while".split())


def c_prefix(value: Any) -> str:
    """A prefix for C names: a letter, then letters, digits or _ (a leading underscore is reserved
    to the C implementation), no C99 keyword, at most 32 characters (so that PREFIX_invoke_float
    stays within C99's 63 significant characters)."""
    if (not isinstance(value, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", value)
            or value in C_KEYWORDS):
        raise ValueError(f"expected a C name prefix (a letter, then letters, digits or _, at most 32 characters, "
                         f"not a C keyword), got {shown(value)}")
    return value


def size_bytes(value: Any) -> int:
    """A memory size such as ``512KB``; must be positive."""
    n = parse_bytes(value)
    if n <= 0:
        raise ValueError(f"expected a positive size, got {shown(value)}")
    return n


def size_bytes_or_zero(value: Any) -> int:
    """A memory size such as ``64KB``; zero allowed."""
    n = parse_bytes(value)
    if n < 0:
        raise ValueError(f"expected a size >= 0, got {shown(value)}")
    return n


def count(value: Any) -> int:
    """A count such as ``30M``; must be positive."""
    n = parse_count(value)
    if n <= 0:
        raise ValueError(f"expected a positive count, got {shown(value)}")
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
            raise ValueError(f"expected a list, got {shown(value)}")
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
        raise ValueError(f"expected a mapping, got {shown(value)}")
    return dict(value)


def _bounds(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """' (did you mean X?)' for the option closest to ``word``, or ''."""
    if len(word) > 100:                                  # no typo is that long; difflib is quadratic
        return ""
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
            raise ConfigError(f"{source}: unknown key {shown(full)}{did_you_mean(str(key), schema)}")
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


# Bounds on a YAML document, checked while it is composed, before anything (the constructor, the
# schema, an error message) walks it: a config is a few kilobytes, a few levels deep.
MAX_YAML_BYTES = 1 << 20
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 100_000           # counted with every alias expanded (a "billion laughs" stops here)
MAX_INT_DIGITS = 40


class YamlBoundError(yaml.MarkedYAMLError):
    """A document beyond the bounds above (too deep, too many values once aliases are expanded)."""


class BoundedLoader(yaml.SafeLoader):
    r"""PyYAML's SafeLoader with the nesting depth and the alias-expanded size of each document
    bounded, and integer literals of at most MAX_INT_DIGITS digits.

    >>> yaml.load("a: &x [1, 2]\nb: [*x, *x]", BoundedLoader)
    {'a': [1, 2], 'b': [[1, 2], [1, 2]]}
    >>> bomb = "a0: &a0 [x, x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 20))
    >>> try:
    ...     yaml.load(bomb, BoundedLoader)
    ... except YamlBoundError as exc:
    ...     print(exc.problem, "at line", exc.problem_mark.line + 1)
    more than 100000 values once its aliases are expanded at line 16
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise YamlBoundError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels",
                                     self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Any:
        node = super().compose_document()
        _expanded_size(node, {}, set())
        return node

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(ch.isdigit() for ch in node.value)
        if digits > MAX_INT_DIGITS:
            raise YamlBoundError(None, None, f"an integer of {digits} digits (at most {MAX_INT_DIGITS})",
                                 node.start_mark)
        return super().construct_yaml_int(node)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """Values under ``node`` with aliases expanded; a YamlBoundError past MAX_YAML_NODES or on an
    alias inside itself. An alias always follows its anchor, so the walk recurses only as deep as
    the document is nested."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise YamlBoundError(None, None, "an alias inside its own anchor", node.start_mark)
    open_nodes.add(key)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, sizes, open_nodes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes, open_nodes) + _expanded_size(v, sizes, open_nodes)
                       for k, v in node.value)
    else:
        size = 1
    open_nodes.discard(key)
    if size > MAX_YAML_NODES:
        raise YamlBoundError(None, None, f"more than {MAX_YAML_NODES} values once its aliases are expanded",
                             node.start_mark)
    sizes[key] = size
    return size


def parse_yaml(text: str, source: str) -> Any:
    """YAML text to data with the bounds above; a syntax error or a bound is a one-line ConfigError
    naming ``source`` and the line."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{source}: {len(text)} characters; a config holds at most {MAX_YAML_BYTES}")
    try:
        return yaml.load(text, BoundedLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: invalid YAML{at}: {problem}") from None
    except (ValueError, OverflowError) as exc:     # a scalar the constructor cannot make (a 13th month)
        raise ConfigError(f"{source}: invalid YAML: {str(exc)[:100]}") from None


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning a missing, unreadable, oversized or malformed file into a one-line
    ConfigError."""
    try:
        if Path(path).stat().st_size > MAX_YAML_BYTES:
            raise ConfigError(f"{path}: {Path(path).stat().st_size} bytes; a config file holds at most "
                              f"{MAX_YAML_BYTES}")
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start})") from None
    return parse_yaml(text, str(path))


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    """Apply ``key.sub=value`` overrides (values parsed as YAML, else kept as text) to a copy of ``data``."""
    out = copy.deepcopy(data) if data else {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {shown(item)}: expected key.sub=value")
        if len(key.split(".")) > MAX_YAML_DEPTH:
            raise ConfigError(f"override {shown(item)}: a key nested deeper than {MAX_YAML_DEPTH} levels")
        value = _override_value(raw, f"override {shown(item)}")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {shown(item)}: {shown(part)} is not a mapping")
            node = child
        node[parts[-1]] = value
    return out


def _override_value(raw: str, source: str) -> Any:
    """An override's value: YAML within the bounds, or the text itself when it is not valid YAML."""
    if len(raw) > MAX_STRING:
        raise ConfigError(f"{source}: a value of {len(raw)} characters; at most {MAX_STRING}")
    try:
        return yaml.load(raw, BoundedLoader) if raw else ""
    except YamlBoundError as exc:
        raise ConfigError(f"{source}: {exc.problem}") from None
    except (yaml.YAMLError, ValueError, OverflowError):
        return raw


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
                              "split with the smallest peak SRAM)"),
               "prefix": Field(c_prefix, "tinyml", "runtime c: the start of the model's C names (NAME_invoke, "
                               "NAME_model.h, NAME_ARENA_SIZE), so that several models link into one firmware")},
}
