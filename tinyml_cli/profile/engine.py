"""`tinyml profile --runtime c`: an export's C engine (``engine/``, written by ``tinyml export
--runtime c``) built with ``arm-none-eabi-gcc`` for the MCU's core (no TFLM: the generated library,
``firmware/engine_runner.c`` and the board's startup code), run in QEMU on the export's saved test
samples, and its outputs compared byte for byte with the same library built for the host and with
TFLM-host running the export's ``model.tflite``. The report has the TFLM profile's shape (sizes by
part, sections, stack, instructions per inference and per layer) so the two compare side by side;
the arena is the library's static one (``TINYML_ARENA_SIZE``)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..mcu import McuProfile
from ..runs import write_json
from ..tflite.model import read_model
from .boards import Board
from .build import BuildError
from .firmware import FIRMWARE_DIR, data_assembly
from .measure import Inputs, ProfileError, board_for, check_inputs, compare_outputs
from .qemu import compile_flags, link_flags, link_script, require, run
from .sizes import read_map, section_sizes
from .target import load_inputs

ENGINE_FOLDER = "engine"               # engine/export.py's FOLDER: where an export keeps the library
LIBRARY_SOURCES = ("tinyml_model.c", "tinyml_kernels.c")
DEFAULT_PREFIX = "tinyml"              # engine.prefix: another one renames the model's files and names
PATCH_SOURCE = "tinyml_patch.c"        # written only for a model run patch by patch
ENGINE_OPT = "-O2"                     # as TFLM's kernels and CMSIS-NN are built (build.py)
ENGINE_WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")
_LAYER = re.compile(r"^\s*/\* (\S+): (\w+) -> [\dx]+ \*/$", re.M)
_STACK = re.compile(r"^STACK (\d+)$", re.M)
_OUT = re.compile(r"^OUT (\d+) ([0-9a-f]*)$", re.M)


@dataclass(frozen=True)
class EngineFolder:
    """An export's engine library: its folder, the export folder around it, the sizes its header
    defines (``TINYML_INPUT_SIZE``, ``TINYML_OUTPUT_SIZE``, ``TINYML_ARENA_SIZE``...) and its layers
    (name, op) in the order ``tinyml_invoke`` runs them, and the prefix of its names (``engine.prefix``:
    PREFIX_model.c, PREFIX_invoke...; the defines are keyed TINYML_... whatever the prefix)."""

    folder: Path
    export: Path
    defines: dict[str, int]
    layers: list[tuple[str, str]]
    prefix: str = DEFAULT_PREFIX

    @classmethod
    def find(cls, target: str | Path) -> "EngineFolder":
        """An export folder holding ``engine/``, or the ``engine/`` folder itself."""
        path = Path(target)
        if not path.is_dir():
            raise InputFileError(f"{path}: the C engine is profiled from an export folder "
                                 "(tinyml export ... --runtime c)")
        folder = path / ENGINE_FOLDER if (path / ENGINE_FOLDER).is_dir() else path
        headers = sorted(h.name[:-len("_model.h")] for h in folder.glob("*_model.h"))
        prefix = DEFAULT_PREFIX if DEFAULT_PREFIX in headers or len(headers) != 1 else headers[0]
        model = f"{prefix}_model"
        missing = [name for name in (f"{model}.h", f"{model}.c", *LIBRARY_SOURCES[1:]) if not (folder / name).is_file()]
        if missing:
            raise InputFileError(f"{path}: no C engine here ({', '.join(missing)} missing): export it with "
                                 "tinyml export ... --runtime c")
        define = re.compile(rf"^#define {re.escape(prefix.upper())}_(\w+) \(?(-?\d+)\)?$", re.M)
        defines = {f"TINYML_{k}": int(v) for k, v in define.findall((folder / f"{model}.h").read_text())}
        layers = _LAYER.findall((folder / f"{model}.c").read_text())
        return cls(folder, folder.parent if folder.name == ENGINE_FOLDER else folder, defines, layers, prefix)

    def sources(self) -> list[Path]:
        """The library's C files (the model's first): with patch-based execution, the region copies' too."""
        patch = self.folder / PATCH_SOURCE
        return ([self.folder / f"{self.prefix}_model.c", *(self.folder / name for name in LIBRARY_SOURCES[1:])]
                + ([patch] if patch.is_file() else []))

    def renames(self) -> str:
        """A ``tinyml_model.h`` for the firmware's runner over a library of another prefix: its header,
        and the default names as its own."""
        upper = self.prefix.upper()
        return "\n".join(["#pragma once", f'#include "{self.prefix}_model.h"',
                          *(f"#define tinyml_{name} {self.prefix}_{name}" for name in ("input", "invoke")),
                          *(f"#define {key} {upper}{key[len('TINYML'):]}" for key in self.defines), ""])


@dataclass(frozen=True)
class EngineFirmware:
    elf: Path
    map: Path
    objects: tuple[Path, ...]          # the library's objects, for arm-none-eabi-size


def engine_flags(board: Board) -> list[str]:
    """How the library is compiled for ``board``: warning-free C99, at TFLM's kernel level."""
    return [*compile_flags(board), *ENGINE_WARNINGS, ENGINE_OPT]


def compile_library(engine: EngineFolder, board: Board, folder: Path) -> tuple[Path, ...]:
    """The library's objects for ``board`` in ``folder`` (warnings are errors; the model's is
    tinyml_model.o whatever its prefix); the model's layer hooks call the instruction markers."""
    gcc, flags = require("arm-none-eabi-gcc"), engine_flags(board)
    hooks = [f"-D{engine.prefix.upper()}_LAYER_{end}(i)=TINYML_LAYER_{end}(i)" for end in ("BEGIN", "END")
             if engine.prefix != DEFAULT_PREFIX]
    objects = []
    for k, source in enumerate(engine.sources()):
        marks = ["-include", str(FIRMWARE_DIR / "engine_marks.h"), *hooks] if k == 0 else []
        objects.append(folder / ("tinyml_model.o" if k == 0 else f"{source.stem}.o"))
        _build([gcc, *flags, f"-I{engine.folder}", *marks, "-c", str(source), "-o", str(objects[-1])], folder, board)
    return tuple(objects)


def build_engine_firmware(engine: EngineFolder, inputs: np.ndarray, board: Board, folder: Path) -> EngineFirmware:
    """Compile and link the engine's firmware for ``board`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inputs.bin").write_bytes(np.ascontiguousarray(inputs).tobytes())
    (folder / "engine_run.h").write_text(f"#pragma once\n#define TINYML_SAMPLES {len(inputs)}u\n")
    (folder / "inputs.S").write_text(data_assembly((("tinyml_inputs", "inputs.bin"),)))
    (folder / "link.ld").write_text(link_script(board))
    if engine.prefix != DEFAULT_PREFIX:
        (folder / "tinyml_model.h").write_text(engine.renames())
    objects = compile_library(engine, board, folder)
    gcc, flags = require("arm-none-eabi-gcc"), compile_flags(board)
    _build([gcc, *flags, f"-I{engine.folder}", f"-I{folder}", "-O2", "-c", str(FIRMWARE_DIR / "engine_runner.c"),
            "-o", "runner.o"], folder, board)
    _build([gcc, *flags, "-O2", "-c", str(FIRMWARE_DIR / "startup.c"), "-o", "startup.o"], folder, board)
    _build([gcc, *flags, "-c", "inputs.S", "-o", "inputs.o"], folder, board)
    elf, map_file = folder / "firmware.elf", folder / "firmware.map"
    _build([gcc, *link_flags(board, folder / "link.ld"), f"-Wl,-Map={map_file}", "runner.o", "startup.o",
            "inputs.o", *map(str, objects), "-o", str(elf)], folder, board)
    return EngineFirmware(elf, map_file, objects)


def _build(cmd: list[str], folder: Path, board: Board) -> None:
    done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "error" in line] or done.stderr.strip().splitlines()
        raise BuildError(f"building the C engine for {board.core} failed: {lines[0] if lines else 'no output'}")


def library_sizes(objects: tuple[Path, ...]) -> dict[str, int]:
    """``arm-none-eabi-size`` (Berkeley) of the library's objects: text (code and read-only data),
    data and bss (the arena), summed."""
    listing = subprocess.run([require("arm-none-eabi-size"), *map(str, objects)], capture_output=True, text=True,
                             check=True)
    total = {"text": 0, "data": 0, "bss": 0}
    for line in listing.stdout.splitlines()[1:]:
        text, data, bss = (int(v) for v in line.split()[:3])
        total["text"] += text
        total["data"] += data
        total["bss"] += bss
    return {**total, "flash": total["text"] + total["data"], "ram": total["data"] + total["bss"]}


def profile_engine(engine: EngineFolder, profile: McuProfile, inputs: Inputs, timeout_s: float = 600.0) -> dict:
    """Build, run and compare: the profile of an export's C engine on ``profile``'s core."""
    from ..engine.host import HostEngine

    board = board_for(profile)
    model_path = engine.export / "model.tflite"
    if not model_path.is_file():
        raise InputFileError(f"{engine.export}: no model.tflite beside the engine to compare with TFLM-host")
    model = read_model(model_path)
    check_inputs(model, inputs)
    out_size = engine.defines["TINYML_OUTPUT_SIZE"]
    with tempfile.TemporaryDirectory(prefix="tinyml-profile-engine-") as tmp:
        firmware = build_engine_firmware(engine, inputs.samples, board, Path(tmp) / "firmware")
        result = run(firmware.elf, board, timeout_s)
        sizes, sections, library = read_map(firmware.map), section_sizes(firmware.elf), library_sizes(firmware.objects)
        host = HostEngine.compile(engine.sources(), Path(tmp) / "host", out_size, engine.prefix).run(inputs.samples)
    if result.exit_code != 0 or "DONE" not in result.output:
        why = next((line for line in result.output.splitlines() if line.startswith("ERROR")),
                   f"exit code {result.exit_code}")
        raise ProfileError(f"{engine.folder}: the engine's firmware failed on {board.machine}: {why}")
    outputs = _outputs(result.output, len(inputs.samples), out_size)
    invokes, layers = result.spans("B", "E"), result.spans("b", "e")
    if len(invokes) != len(inputs.samples) or len(layers) != len(inputs.samples) * len(engine.layers):
        raise ProfileError(f"{engine.folder}: expected {len(inputs.samples)} invocations of {len(engine.layers)} "
                           f"layers, counted {len(invokes)} and {len(layers)} layer spans")
    stack = int(_STACK.search(result.output)[1])
    arena = engine.defines["TINYML_ARENA_SIZE"]
    io = out_size                  # the input is written in the arena, at tinyml_input()
    report = {
        "model": str(engine.folder), "runtime": "c", "mcu": profile.name, "core": board.core,
        "machine": board.machine, "kernels": "engine", "inputs": inputs.source, "samples": len(inputs.samples),
        "arena_min": arena, "arena_used": arena, "io_buffers": io, "stack_bytes": stack,
        "sram_peak": arena + io + stack, "library": library, "sizes": sizes.to_dict(), "sections": sections,
        "instructions": invokes[0] if invokes else None, "instructions_per_sample": invokes,
        "operators": [{"index": i, "op": op, "name": name, "instructions": count}
                      for i, ((name, op), count) in enumerate(zip(engine.layers, layers))],
    }
    graph = model.subgraphs[0]
    shaped = outputs.reshape((len(inputs.samples), *graph.tensors[graph.outputs[0]].shape[1:]))
    report["comparison"] = {"engine_host": _agreement(host, outputs),
                            **compare_outputs(model_path.read_bytes(), inputs.samples, shaped, arena)}
    return report


def _agreement(reference: np.ndarray, emulated: np.ndarray) -> dict:
    diff = np.abs(reference.astype(np.int32) - emulated.astype(np.int32))
    return {"equal": bool(np.array_equal(reference, emulated)), "max_difference": float(diff.max()) if diff.size else 0.0}


def _outputs(text: str, samples: int, size: int) -> np.ndarray:
    rows = {int(i): bytes.fromhex(h) for i, h in _OUT.findall(text)}
    if sorted(rows) != list(range(samples)) or any(len(r) != size for r in rows.values()):
        raise ProfileError(f"the engine's firmware printed outputs for {len(rows)} of {samples} samples")
    return np.stack([np.frombuffer(rows[i], np.int8) for i in range(samples)])


def profile_engine_target(target: str | Path, profile: McuProfile, inputs_file: str | None, samples: int,
                          seed: int, timeout_s: float, out: str | Path | None = None) -> tuple[dict, Path]:
    """Profile an export's C engine and save its report (``profile-MCU-c.json`` in the export folder,
    or ``out``); outputs that differ from the host build's or TFLM-host's are an error (after the
    report is saved)."""
    engine = EngineFolder.find(target)
    model_path = engine.export / "model.tflite"
    if not model_path.is_file():
        raise InputFileError(f"{engine.export}: no model.tflite beside the engine to compare with TFLM-host")
    inputs = load_inputs(read_model(model_path), model_path, inputs_file, samples, np.random.default_rng(seed))
    report = profile_engine(engine, profile, inputs, timeout_s)
    path = write_json(Path(out) if out else engine.export / f"profile-{profile.name}-c.json", report)
    for name, label in (("engine_host", "the engine's host build"), ("tflm_host", "TFLM-host")):
        c = report["comparison"][name]
        if not c["equal"]:
            raise ProfileError(f"{engine.folder}: the engine's outputs on the emulated {report['core']} differ from "
                               f"{label}'s (largest difference {c['max_difference']:g}); report in {path}")
    return report, path
