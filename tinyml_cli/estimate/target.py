"""What ``tinyml estimate`` can be pointed at: an arch YAML, a candidate folder or a .tflite file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..arch import Arch, build_graph
from ..errors import EngineError, InputFileError, TinymlError
from ..mcu import Budget, McuProfile
from ..tflite.model import read_model
from .file import estimate_file
from .model import Estimate, estimate

CONSTRAINT_KEYS = ("sram", "flash", "macs", "latency_ms")


def estimate_target(target: str | Path, profile: McuProfile, budget: Budget, runtime: str = "tflm",
                    engine: dict | None = None) -> Estimate:
    """Estimate an arch YAML, a candidate folder (its arch.yaml) or any .tflite file (planned from its
    own tensors; its real size is the flash model) under ``runtime`` (a .tflite: TFLM only) with
    the config's ``engine`` settings (patches, split)."""
    path = Path(target)
    name = path.stem
    if path.is_dir():
        if not (path / "arch.yaml").is_file():
            raise InputFileError(f"{path}: not a candidate folder (no arch.yaml)")
        name, path = path.resolve().name, path / "arch.yaml"
    elif not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.suffix == ".tflite":
        if runtime != "tflm":
            raise InputFileError(f"{path}: a .tflite file is estimated for runtime tflm; the C engine's "
                                 "estimate takes an arch YAML or a candidate folder")
        return estimate_file(read_model(path), profile, budget)
    if path.suffix not in (".yaml", ".yml"):
        raise InputFileError(f"{path}: expected an arch YAML (.yaml), a .tflite file or a candidate "
                             "folder with arch.yaml")
    arch = Arch.load(path)
    try:
        graph = build_graph(arch)
    except TinymlError as exc:                         # the choices' errors name the key, not the file
        raise type(exc)(f"{path}: {exc}") from None
    try:
        return estimate(replace(graph, name=name), profile, budget, runtime=runtime, **engine_options(engine))
    except EngineError as exc:
        raise EngineError(f"{path}: {exc}") from None


def engine_options(engine: dict | None) -> dict:
    """The estimate's keyword arguments of a config's ``engine`` section (patches, split).

    >>> engine_options({"patches": 3, "split": None}), engine_options(None)
    ({'patches': 3, 'split': None}, {})
    """
    return {"patches": engine["patches"], "split": engine["split"]} if engine else {}


def constraint_overrides(overrides: list[str]) -> list[str]:
    """Let ``sram=16KB`` stand for ``constraints.sram=16KB`` on the estimate command line.

    >>> constraint_overrides(["sram=16KB", "constraints.flash=64KB", "mcu=RP2040"])
    ['constraints.sram=16KB', 'constraints.flash=64KB', 'mcu=RP2040']
    """
    return [f"constraints.{item}" if item.partition("=")[0] in CONSTRAINT_KEYS else item
            for item in overrides]
