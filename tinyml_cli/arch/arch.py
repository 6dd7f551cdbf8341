"""An architecture: a YAML-serialisable set of choices in a named search space."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import read_yaml
from ..errors import ArchError, ConfigError, shown
from .choices import LIMITS
from .normalization import NORMALIZATIONS


MAX_INPUT_DIM = 4096                # an input side or channel count beyond any MCU sensor
MAX_CLASSES = 100_000
MAX_WIDTH = max(LIMITS["channels"][1], LIMITS["units"][1])   # a pruned layer's channels or units


@dataclass(frozen=True)
class Arch:
    """A network described by its search space's choices, with the task it is built for.

    ``input_shape`` is ``(H, W, C)`` as the network sees it (height 1 for 1-D signals).
    ``normalize`` is the input normalization the deployed model applies to raw inputs.
    ``widths`` sets the output channels of single layers by name (a pruned network, see
    :mod:`tinyml_cli.arch.widths`); empty for a network the choices alone describe.
    ``precision`` names each weight layer's precision in graph order (``w8a8``, ``w4a8``, ``w8a16``,
    see ``ops/precision.py``); empty: int8 throughout.
    """

    space: str
    input_shape: tuple[int, int, int]
    num_classes: int
    choices: dict[str, Any] = field(default_factory=dict)
    normalize: str = "none"
    widths: dict[str, int] = field(default_factory=dict)
    precision: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Plain data for YAML/JSON (``normalize`` only when set, so older archs keep their keys)."""
        data = {"space": self.space, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "choices": self.choices}
        if self.normalize != "none":
            data["normalize"] = self.normalize
        if self.widths:
            data["widths"] = dict(self.widths)
        if self.precision:
            data["precision"] = list(self.precision)
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str = "arch") -> "Arch":
        """Read an Arch from plain data, with errors naming ``source``."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping with space, input_shape, num_classes, choices")
        unknown = set(data) - {"space", "input_shape", "num_classes", "choices", "normalize", "widths", "precision"}
        if unknown:
            raise ConfigError(f"{source}: unknown key {shown(sorted(map(str, unknown))[0])} "
                              "(an arch has space, input_shape, num_classes, choices, normalize, widths, precision)")
        for key in ("space", "input_shape", "num_classes"):
            if key not in data:
                raise ConfigError(f"{source}: missing required key {shown(key)}")
        shape = data["input_shape"]
        if (not isinstance(shape, list) or len(shape) != 3
                or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)):
            raise ConfigError(f"{source}: input_shape: expected [H, W, C] integers, got {shown(shape)}")
        if any(d <= 0 for d in shape):
            raise ArchError(f"{source}: input_shape: every dimension must be positive, got {shown(shape)}")
        if any(d > MAX_INPUT_DIM for d in shape):
            raise ConfigError(f"{source}: input_shape: expected dimensions of at most {MAX_INPUT_DIM}, got {shown(shape)}")
        classes = data["num_classes"]
        if isinstance(classes, bool) or not isinstance(classes, int) or not 2 <= classes <= MAX_CLASSES:
            raise ConfigError(f"{source}: num_classes: expected an integer in [2, {MAX_CLASSES}], got {shown(classes)}")
        choices = data.get("choices") or {}
        if not isinstance(choices, dict):
            raise ConfigError(f"{source}: choices: expected a mapping, got {shown(choices)}")
        normalize = data.get("normalize", "none")
        if not isinstance(normalize, str) or normalize not in NORMALIZATIONS:
            raise ConfigError(f"{source}: normalize: expected one of {', '.join(NORMALIZATIONS)}, "
                              f"got {shown(normalize)}")
        if not isinstance(data["space"], str):
            raise ConfigError(f"{source}: space: expected a space name, got {shown(data['space'])}")
        widths = data.get("widths") or {}
        if not isinstance(widths, dict) or not all(
                isinstance(k, str) and type(v) is int and 0 < v <= MAX_WIDTH for k, v in widths.items()):
            raise ConfigError(f"{source}: widths: expected a mapping of layer names to channel counts "
                              f"in [1, {MAX_WIDTH}], got {shown(widths)}")
        precision = data.get("precision") or []
        if not isinstance(precision, list) or not all(isinstance(code, str) for code in precision):
            raise ConfigError(f"{source}: precision: expected a list of codes (w8a8, w4a8, w8a16), got {shown(precision)}")
        return cls(str(data["space"]), tuple(shape), classes, choices, normalize, dict(widths), tuple(precision))

    def key(self) -> str:
        """A short stable hash: equal choices give equal keys (for duplicate detection)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        """YAML text of this arch."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def load(cls, path: str | Path) -> "Arch":
        """Read an arch YAML file."""
        return cls.from_dict(read_yaml(Path(path)), str(path))
