"""Where a firmware's bytes go: flash (code, read-only data, .data's initial values) and RAM
(.data, .bss), each split into the model, TFLM (with CMSIS-NN), the C and C++ libraries, and the
firmware's own runner and startup code; read from the GNU linker's map file.

The map lists every input section kept, with its address, size and file, after the line
"Linker script and memory map"; a long section name puts address, size and file on the next line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_INPUT = re.compile(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_FILL = re.compile(r"^ \*fill\*\s+0x[0-9a-f]+\s+0x([0-9a-f]+)")
_OUTPUT = re.compile(r"^(\.\S+|\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)")
# output sections the runner's linker script (firmware/link.ld.in) puts in flash, and in RAM
FLASH_SECTIONS = {".vectors", ".text", ".ARM.extab", ".ARM.exidx", ".rodata", ".model", ".preinit_array",
                  ".init_array", ".fini_array"}
RAM_SECTIONS = {".data", ".bss"}
PARTS = ("model", "inputs", "tflm", "clib", "firmware")


@dataclass
class Sizes:
    """Bytes per part (see ``PARTS``): in flash (``.data``'s initial values included) and in RAM
    (``.data`` and ``.bss``; not the heap or stack reservations, nor the arena)."""

    flash: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    ram: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))

    @property
    def runtime_flash(self) -> int:
        """Flash besides the model and the embedded test inputs: what a deployment's runtime costs."""
        return self.flash["tflm"] + self.flash["clib"] + self.flash["firmware"]

    def to_dict(self) -> dict:
        return {"flash": dict(self.flash), "ram": dict(self.ram), "flash_total": sum(self.flash.values()),
                "ram_total": sum(self.ram.values()), "runtime_flash": self.runtime_flash}


def part_of(section: str, origin: str) -> str:
    """Which part an input section belongs to, from its name and the file it came from."""
    if ".tinyml_model" in section:
        return "model"
    if ".tinyml_inputs" in section:
        return "inputs"
    if "libtflm.a(" in origin:
        return "tflm"
    name = Path(origin.split("(")[0]).name
    if name.startswith("lib") or name.startswith("crt") or "/gcc/" in origin or "arm-none-eabi" in origin:
        return "clib"
    return "firmware"


def read_map(path: Path) -> Sizes:
    """The sizes of a firmware from its linker map."""
    sizes = Sizes()
    text = path.read_text(errors="replace")
    start = text.find("Linker script and memory map")
    lines = text[start:].splitlines() if start >= 0 else []
    output, pending, last = None, None, "firmware"
    for line in lines:
        fill = _FILL.match(line)
        if fill and output is not None:            # alignment padding: the part before it pays
            _add(sizes, output, last, int(fill.group(1), 16))
            continue
        out = _OUTPUT.match(line)
        if out and not line.startswith(" "):
            output, pending = out.group(1), None
            continue
        if line.startswith(" ") and not line.startswith("  ") and len(line.split()) == 1:
            pending = line.split()[0]              # a long input section name: the rest follows
            continue
        found = _INPUT.match(line)
        if not found or output is None:
            continue
        section = found.group(1) or pending or ""
        pending = None
        size, origin = int(found.group(3), 16), found.group(4).strip()
        if size:
            last = part_of(section, origin)
            _add(sizes, output, last, size)
    return sizes


def _add(sizes: Sizes, output: str, part: str, size: int) -> None:
    if output in FLASH_SECTIONS or output == ".data":
        sizes.flash[part] += size
    if output in RAM_SECTIONS:
        sizes.ram[part] += size
