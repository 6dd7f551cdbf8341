"""A bare-metal firmware for one model: TFLM built for the board's core (``build.py``), the runner
(``firmware/runner.cc``), the board's startup code and linker script, the model and its input
samples embedded with ``.incbin``, and an op resolver registering exactly the model's builtins."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..ops import resolver_method
from ..tflite.model import TfliteModel
from .boards import Board
from .build import BuildError, Library
from .qemu import compile_flags, link_flags, link_script
from .sources import source_tree

FIRMWARE_DIR = Path(__file__).parent / "firmware"
RUNNER_OPT = "-O2"


@dataclass(frozen=True)
class Firmware:
    """A linked firmware: the ELF, its linker map, the builtins it registers."""

    elf: Path
    map: Path
    builtins: tuple[str, ...]


def model_builtins(model: TfliteModel) -> tuple[str, ...]:
    """The builtin operators of every subgraph, sorted; a custom op cannot be profiled."""
    names = {op.builtin for g in model.subgraphs for op in g.operators}
    custom = sorted(name for name in names if name.startswith("CUSTOM"))
    if custom:
        raise InputFileError(f"{model.path}: custom operator(s) {', '.join(custom)} have no TFLM kernel to build")
    return tuple(sorted(names))


def model_header(builtins: tuple[str, ...], samples: int, input_bytes: int, arena_max: int) -> str:
    """``model.h`` for the runner: sizes, and the resolver's registrations."""
    adds = " ".join(f"(r).{resolver_method(name)}();" for name in builtins)
    return (f"#pragma once\n#define TINYML_ARENA_MAX {arena_max}u\n#define TINYML_SAMPLES {samples}u\n"
            f"#define TINYML_INPUT_BYTES {input_bytes}u\n#define TINYML_OP_COUNT {max(len(builtins), 1)}\n"
            f"#define TINYML_ADD_OPS(r) do {{ {adds} }} while (0)\n"
            'extern "C" const unsigned char tinyml_model[];\nextern "C" const unsigned char tinyml_inputs[];\n')


def data_assembly(files: tuple[tuple[str, str], ...] = (("tinyml_model", "model.tflite"),
                                                        ("tinyml_inputs", "inputs.bin"))) -> str:
    """The model and the input samples (``files``: symbol, file) as read-only data, 16-byte
    aligned (TFLM wants the flatbuffer aligned), in their own sections so the map tells their size."""
    parts = []
    for symbol, path in files:
        parts.append(f'  .section .rodata.{symbol}, "a"\n  .balign 16\n  .global {symbol}\n{symbol}:\n'
                     f'  .incbin "{path}"\n')
    return "".join(parts)


def build_firmware(model: TfliteModel, data: bytes, inputs: np.ndarray, board: Board, kernels: str,
                   folder: Path, arena_max: int) -> Firmware:
    """Compile (TFLM from the cache) and link the firmware for ``board`` into ``folder``."""
    builtins = model_builtins(model)
    library = Library(source_tree(), tuple(compile_flags(board)), kernels)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.tflite").write_bytes(data)
    (folder / "inputs.bin").write_bytes(np.ascontiguousarray(inputs).tobytes())
    sample_bytes = int(inputs[0].nbytes) if len(inputs) else 0
    (folder / "model.h").write_text(model_header(builtins, len(inputs), sample_bytes, arena_max))
    (folder / "model_data.S").write_text(data_assembly())
    (folder / "link.ld").write_text(link_script(board))
    flags = compile_flags(board)
    own = [
        ["arm-none-eabi-g++", *library.cxx_flags(RUNNER_OPT), f"-I{folder}", "-c",
         str(FIRMWARE_DIR / "runner.cc"), "-o", str(folder / "runner.o")],
        ["arm-none-eabi-gcc", *flags, "-O2", "-c", str(FIRMWARE_DIR / "startup.c"), "-o", str(folder / "startup.o")],
        ["arm-none-eabi-gcc", *flags, "-c", "model_data.S", "-o", "model_data.o"],
    ]
    for cmd in own:
        _run(cmd, folder)
    elf, map_file = folder / "firmware.elf", folder / "firmware.map"
    link = ["arm-none-eabi-g++", *link_flags(board, folder / "link.ld"), f"-Wl,-Map={map_file}",
            "runner.o", "startup.o", "model_data.o", "libtflm.a", "-o", str(elf)]
    # the kernels' usual helpers first; should a kernel need another, every helper
    for all_helpers in (False, True):
        # as an archive, the linker takes only the objects the firmware needs
        (folder / "libtflm.a").unlink(missing_ok=True)
        _run(["arm-none-eabi-ar", "rcs", "libtflm.a", *map(str, library.objects(set(builtins), all_helpers))], folder)
        done = subprocess.run(link, cwd=folder, capture_output=True, text=True)
        if done.returncode == 0 or "undefined reference" not in done.stderr:
            break
    _check(done, "arm-none-eabi-g++")
    return Firmware(elf, map_file, builtins)


def _run(cmd: list[str], cwd: Path) -> None:
    _check(subprocess.run(cmd, cwd=cwd, capture_output=True, text=True), Path(cmd[0]).name)


def _check(done: subprocess.CompletedProcess, tool: str) -> None:
    """A failed build step as one line: the first error the tool printed."""
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "error" in line or "undefined" in line]
        lines = lines or done.stderr.strip().splitlines()
        raise BuildError(f"{tool} failed building the firmware: {lines[0] if lines else 'no output'}")
