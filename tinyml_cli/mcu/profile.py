"""MCU profiles and the resource budget a model must fit in.

>>> p = load_profile("stm32f412")
>>> p.name, p.core_family, p.sram, p.flash
('STM32F412', 'm4', 262144, 1048576)
>>> b = budget_for(p, {"sram": 16 * 1024, "flash": None, "macs": None, "latency_ms": None})
>>> b.sram, b.flash
(16384, 917504)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Mapping

from ..config import Field, boolean, choice, number, read_yaml, size_bytes, size_bytes_or_zero, string, validate
from ..errors import ConfigError, shown

CORE_FAMILIES = ("m0plus", "m4", "m7", "m33", "lx7")

PROFILE_SCHEMA = {
    "name": Field(string),
    "vendor": Field(string, ""),
    "core": Field(string),
    "core_family": Field(choice(*CORE_FAMILIES), help="selects the latency model's cycles per MAC"),
    "clock_mhz": Field(number(min_value=1.0)),
    "sram": Field(size_bytes),
    "flash": Field(size_bytes),
    "flash_external": Field(boolean, False),
    "reserve": {
        "sram": Field(size_bytes_or_zero, 0, "SRAM kept for stack, heap, RTOS and the application"),
        "flash": Field(size_bytes_or_zero, 0, "flash kept for the runtime and application code"),
    },
}


@dataclass(frozen=True)
class McuProfile:
    """A microcontroller: core, clock and memories, with what the runtime and application reserve."""

    name: str
    vendor: str
    core: str
    core_family: str
    clock_mhz: float
    sram: int
    flash: int
    flash_external: bool
    reserve_sram: int
    reserve_flash: int

    @property
    def sram_for_model(self) -> int:
        """SRAM left for the tensor arena once the reserve is taken."""
        return self.sram - self.reserve_sram

    @property
    def flash_for_model(self) -> int:
        """Flash left for the model once the runtime and application code are taken."""
        return self.flash - self.reserve_flash

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return {
            "name": self.name, "vendor": self.vendor, "core": self.core,
            "core_family": self.core_family, "clock_mhz": self.clock_mhz, "sram": self.sram,
            "flash": self.flash, "flash_external": self.flash_external,
            "reserve": {"sram": self.reserve_sram, "flash": self.reserve_flash},
        }


@dataclass(frozen=True)
class Budget:
    """What one model may use: bytes of arena and flash, MACs and milliseconds (None: no limit)."""

    sram: int
    flash: int
    macs: int | None = None
    latency_ms: float | None = None


def _profile_from_dict(data: object, source: str) -> McuProfile:
    d = validate(data, PROFILE_SCHEMA, source)
    for kind in ("sram", "flash"):
        if d["reserve"][kind] >= d[kind]:
            raise ConfigError(f"{source}: reserve.{kind}: the reserve leaves no {kind} for the model")
    return McuProfile(
        name=d["name"], vendor=d["vendor"], core=d["core"], core_family=d["core_family"],
        clock_mhz=d["clock_mhz"], sram=d["sram"], flash=d["flash"],
        flash_external=d["flash_external"], reserve_sram=d["reserve"]["sram"],
        reserve_flash=d["reserve"]["flash"],
    )


def _builtin_files() -> dict[str, object]:
    folder = resources.files(__package__) / "profiles"
    return {entry.name[:-5]: entry for entry in folder.iterdir() if entry.name.endswith(".yaml")}


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def list_profiles() -> list[McuProfile]:
    """Every built-in profile, sorted by name."""
    profiles = []
    for stem, entry in _builtin_files().items():
        with resources.as_file(entry) as path:
            profiles.append(_profile_from_dict(read_yaml(path), f"built-in profile {stem}"))
    return sorted(profiles, key=lambda p: p.name.lower())


def load_profile(name_or_path: str) -> McuProfile:
    """A built-in profile by name (case-insensitive, '-'/'_' ignored) or a profile YAML path."""
    looks_like_path = name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path
    if looks_like_path:
        path = Path(name_or_path)
        if not path.exists():
            raise ConfigError(f"{path}: MCU profile file not found")
        return _profile_from_dict(read_yaml(path), str(path))
    files = _builtin_files()
    wanted = _key(name_or_path)
    for stem, entry in files.items():
        if _key(stem) == wanted:
            with resources.as_file(entry) as path:
                return _profile_from_dict(read_yaml(path), f"built-in profile {stem}")
    names = [p.name for p in list_profiles()]
    close = difflib.get_close_matches(name_or_path.upper(), [n.upper() for n in names], n=3, cutoff=0.5)
    suggestion = [n for n in names if n.upper() in close]
    hint = f"; did you mean {', '.join(suggestion)}?" if suggestion else ""
    raise ConfigError(f"unknown MCU {shown(name_or_path)}{hint} (`tinyml mcus` lists them: {', '.join(names)})")


DEFAULT_MCU = "STM32F412"


def resolve(cfg: Mapping[str, object] | None = None, mcu: str | None = None) -> tuple[McuProfile, "Budget"]:
    """The ``(profile, budget)`` every command works against: ``mcu`` (the ``--mcu`` option) if
    given, else the config's ``mcu``, else STM32F412; the budget is the profile's, tightened by the
    config's ``constraints``.

    >>> profile, budget = resolve({"mcu": "nRF52840", "constraints": {"sram": 32 * 1024}})
    >>> profile.name, budget.sram
    ('nRF52840', 32768)
    >>> resolve(None, "RP2040")[0].name
    'RP2040'
    """
    cfg = cfg or {}
    profile = load_profile(str(mcu or cfg.get("mcu") or DEFAULT_MCU))
    return profile, budget_for(profile, cfg.get("constraints"))  # type: ignore[arg-type]


def budget_for(profile: McuProfile, constraints: Mapping[str, object] | None = None) -> Budget:
    """The profile's budget after its reserve, tightened by explicit config constraints."""
    c = dict(constraints or {})
    sram, flash = profile.sram_for_model, profile.flash_for_model
    if c.get("sram") is not None:
        sram = min(sram, int(c["sram"]))
    if c.get("flash") is not None:
        flash = min(flash, int(c["flash"]))
    return Budget(sram=sram, flash=flash, macs=c.get("macs"), latency_ms=c.get("latency_ms"))
