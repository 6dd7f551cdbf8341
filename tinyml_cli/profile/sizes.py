"""Where a firmware's bytes go: flash (code, read-only data, .data's initial values) and RAM
(.data, .bss), each split into the model, TFLM (with CMSIS-NN), the C and C++ libraries, and the
firmware's own runner and startup code; read from the GNU linker's map file.

The map lists every input section kept, with its address, size and file, after the line
"Linker script and memory map"; a long section name puts address, size and file on the next line.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_INPUT = re.compile(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_FILL = re.compile(r"^ \*fill\*\s+0x[0-9a-f]+\s+0x([0-9a-f]+)")
_OUTPUT = re.compile(r"^(\.\S+|\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)")
# output sections the runner's linker script (firmware/link.ld.in) puts in flash, and in RAM
FLASH_SECTIONS = {".vectors", ".text", ".ARM.extab", ".ARM.exidx", ".rodata", ".model", ".preinit_array",
                  ".init_array", ".fini_array"}
RAM_SECTIONS = {".data", ".bss"}
PARTS = ("model", "inputs", "tflm", "engine", "clib", "firmware")
# the C engine's objects (profile/engine.py): the generated model, and the kernels
ENGINE_OBJECTS = {"tinyml_model.o": "model", "tinyml_kernels.o": "engine"}
_NOT_LOADED = (".debug", ".comment", ".ARM.attributes")     # sections not in the program's memory


@dataclass
class Sizes:
    """Bytes per part (see ``PARTS``): in flash (``.data``'s initial values included) and in RAM
    (``.data`` and ``.bss``; not the heap or stack reservations, nor the arena)."""

    flash: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    ram: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))

    @property
    def runtime_flash(self) -> int:
        """Flash besides the model and the embedded test inputs: what a deployment's runtime costs."""
        return self.flash["tflm"] + self.flash["engine"] + self.flash["clib"] + self.flash["firmware"]

    def to_dict(self) -> dict:
        return {"flash": dict(self.flash), "ram": dict(self.ram), "flash_total": sum(self.flash.values()),
                "ram_total": sum(self.ram.values()), "runtime_flash": self.runtime_flash}


def section_sizes(elf: Path) -> dict[str, int]:
    """``arm-none-eabi-size -A``'s allocated sections of the firmware, by name: text, read-only data,
    data and bss as the program has them (the heap, stack and arena reservations listed apart)."""
    listing = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True)
    sizes = {}
    for line in listing.stdout.splitlines():
        parts = line.split()
        if (len(parts) == 3 and parts[1].isdigit() and parts[0].startswith(".")
                and not parts[0].startswith(_NOT_LOADED)):
            sizes[parts[0]] = int(parts[1])
    return sizes


def part_of(section: str, origin: str) -> str:
    """Which part an input section belongs to, from its name and the file it came from."""
    if ".tinyml_model" in section:
        return "model"
    if ".tinyml_inputs" in section:
        return "inputs"
    if "libtflm.a(" in origin:
        return "tflm"
    name = Path(origin.split("(")[0]).name
    if name in ENGINE_OBJECTS:
        return ENGINE_OBJECTS[name]
    if name.startswith("lib") or name.startswith("crt") or "/gcc/" in origin or "arm-none-eabi" in origin:
        return "clib"
    return "firmware"


def read_map(path: Path) -> Sizes:
    """The sizes of a firmware from its linker map. The map lists mergeable string sections
    (``.rodata.str*``) at their size before the linker merged equal strings: what merging saved in an
    output section is taken off the parts that brought strings, in proportion."""
    text = path.read_text(errors="replace")
    start = text.find("Linker script and memory map")
    lines = text[start:].splitlines() if start >= 0 else []
    declared: dict[str, int] = {}
    inputs: dict[str, dict[str, int]] = {}         # output section -> part -> bytes listed
    strings: dict[str, dict[str, int]] = {}        # output section -> part -> mergeable-string bytes
    output, pending, last = None, None, "firmware"
    for line in lines:
        fill = _FILL.match(line)
        if fill and output is not None:            # alignment padding: the part before it pays
            _count(inputs, output, last, int(fill.group(1), 16))
            continue
        out = _OUTPUT.match(line)
        if out and not line.startswith(" "):
            output, pending = out.group(1), None
            declared[output] = int(out.group(3), 16)
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
            _count(inputs, output, last, size)
            if ".str" in section:
                _count(strings, output, last, size)
    sizes = Sizes()
    for output, parts in inputs.items():
        merged = sum(parts.values()) - declared.get(output, 0)
        brought = strings.get(output, {})
        total = sum(brought.values())
        if merged > 0 and total:
            saved = {part: merged * size // total for part, size in brought.items()}
            saved[max(brought, key=brought.get)] += merged - sum(saved.values())   # the rounding's remainder
            parts = {part: size - saved.get(part, 0) for part, size in parts.items()}
        for part, size in parts.items():
            _add(sizes, output, part, size)
    return sizes


def _count(table: dict[str, dict[str, int]], output: str, part: str, size: int) -> None:
    table.setdefault(output, {}).setdefault(part, 0)
    table[output][part] += size


def _add(sizes: Sizes, output: str, part: str, size: int) -> None:
    if output in FLASH_SECTIONS or output == ".data":
        sizes.flash[part] += size
    if output in RAM_SECTIONS:
        sizes.ram[part] += size
