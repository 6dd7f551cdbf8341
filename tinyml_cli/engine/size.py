"""The generated library's bytes on a Cortex-M, as ``arm-none-eabi-size`` counts them: the model and
kernel sources compiled with ``arm-none-eabi-gcc -Os`` (one section per function and object) and
linked with only what ``tinyml_invoke`` reaches (``--gc-sections``, the C library (memmove) and libgcc for the helpers a core
without a divider or a long multiply calls). Flash is text + data (constants live in ``.rodata``,
which the GNU toolchain counts in text), RAM is data + bss (the arena)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineError
from .codegen import EngineLibrary
from .host import write_library

# -mcpu of each core family the engine is built for (the MCU profiles' core_family)
CPU_OF_FAMILY = {"m0plus": "cortex-m0plus", "m4": "cortex-m4", "m7": "cortex-m7", "m33": "cortex-m33"}
ARM_FLAGS = ("-mthumb", "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
             "-fdata-sections")


@dataclass(frozen=True)
class LibrarySize:
    """``arm-none-eabi-size``'s text, data and bss of the linked library, and the bytes of its
    ``tinyml_arena`` symbol (``arm-none-eabi-nm``; 0 without one)."""

    text: int
    data: int
    bss: int
    arena: int = 0

    @property
    def flash(self) -> int:
        return self.text + self.data


def arm_tools() -> bool:
    """Whether ``arm-none-eabi-gcc`` and ``arm-none-eabi-size`` are on the PATH."""
    return all(shutil.which(tool) for tool in ("arm-none-eabi-gcc", "arm-none-eabi-size"))


def link_size(sources: list[Path], family: str, entries: tuple[str, ...], out: Path,
              arena: str = "tinyml_arena") -> LibrarySize:
    """Compile ``sources`` for ``family`` and link what ``entries`` (the first the entry point, the
    others kept undefined-referenced) reach; its sizes (``arena``: the arena's symbol)."""
    cpu = CPU_OF_FAMILY.get(family)
    if cpu is None:
        raise EngineError(f"no Cortex-M build for the core family {family!r}; "
                          f"the engine builds for {', '.join(CPU_OF_FAMILY)}")
    command = ["arm-none-eabi-gcc", f"-mcpu={cpu}", *ARM_FLAGS, "-nostdlib", "-Wl,--gc-sections",
               f"-Wl,-e,{entries[0]}", *(f"-Wl,-u,{name}" for name in entries[1:]), "-o", str(out),
               *map(str, sources), "-lc", "-lgcc"]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["(no message)"])[0]
        raise EngineError(f"the engine does not build for {cpu}: {detail}")
    listing = subprocess.run(["arm-none-eabi-size", str(out)], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in listing.stdout.splitlines()[1].split()[:3])
    return LibrarySize(text, data, bss, symbol_sizes(out).get(arena, 0))


def symbol_sizes(elf: Path) -> dict[str, int]:
    """Each sized symbol of ``elf`` and its bytes (``arm-none-eabi-nm -S``)."""
    listing = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True)
    return {p[3]: int(p[1], 16) for p in (line.split() for line in listing.stdout.splitlines()) if len(p) == 4}


def library_size(lib: EngineLibrary, family: str, folder: Path) -> LibrarySize:
    """The library's sizes for ``family``: ``tinyml_invoke`` and all it reaches."""
    sources = write_library(lib, folder)
    return link_size(sources, family, (f"{lib.prefix}_invoke",), folder / "tinyml.elf", f"{lib.prefix}_arena")
