"""Run a bare-metal Cortex-M firmware in QEMU and count its instructions exactly.

A firmware links ``firmware/startup.c`` with the linker script of its board (:func:`link_script`)
and the flags :func:`compile_flags` and :func:`link_flags` give. :func:`run` starts
``qemu-system-arm`` on the board's machine with semihosting (newlib's stdio goes through it, and
QEMU's exit status is ``main``'s return value) and with the ``insn_marks`` TCG plugin, which counts
every executed instruction and logs the count whenever ``tinyml_mark_begin`` or ``tinyml_mark_end``
is entered. QEMU counts instructions, not cycles: it models no pipeline, cache or flash wait states.

Where the output goes, measured with QEMU 7.2: newlib opens the semihosting console ``:tt``, which
QEMU maps to its own stdout and stderr, whatever ``-semihosting-config chardev=`` says (that chardev
takes only SYS_WRITE0/SYS_WRITEC, which startup.c's fault reports use; without it they go to
stderr). So with no serial port or monitor on stdio, QEMU's stdout is exactly the firmware's stdout.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from ..errors import EXIT_RUNTIME, EXIT_USAGE, TinymlError
from .boards import Board
from .sources import cache_dir

HERE = Path(__file__).resolve().parent
STARTUP = HERE / "firmware" / "startup.c"
LINK_TEMPLATE = HERE / "firmware" / "link.ld.in"
PLUGIN_SOURCE = HERE / "plugin" / "insn_marks.c"
MARKERS = {"begin": "tinyml_mark_begin", "end": "tinyml_mark_end", "op_begin": "tinyml_op_begin",
           "op_end": "tinyml_op_end"}
INSTALL_HINT = ("apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib "
                "qemu-system-arm (needs root)")


class ToolchainError(TinymlError):
    """A compiler or emulator the profiler needs is not installed."""

    exit_code = EXIT_USAGE


class FirmwareError(TinymlError):
    """The firmware could not be run to its end in QEMU (hang, QEMU failure, unreadable counts)."""

    exit_code = EXIT_RUNTIME


@dataclass
class QemuRun:
    """What one firmware run left: exit code, semihosting output and instruction counts."""

    exit_code: int                  # main's return value (0-255), 128 + exception number after a fault
    output: str                     # the firmware's stdout
    errors: str = ""                # its stderr, fault reports, and QEMU's own messages
    marks: list[tuple[str, int]] = field(default_factory=list)  # ("B"|"E"|"b"|"e", count) in execution order
    total_instructions: int = 0

    def spans(self, begin: str = "B", end: str = "E") -> list[int]:
        """Instructions between each ``begin`` mark and the ``end`` mark that follows it, in order
        (``"b"``, ``"e"``: the operator marks nested inside)."""
        spans, opened = [], None
        for kind, count in self.marks:
            if kind == begin:
                opened = count
            elif kind == end and opened is not None:
                spans.append(count - opened)
                opened = None
        return spans


def require(tool: str, hint: str = INSTALL_HINT) -> str:
    """The path of an executable on PATH, or a ToolchainError saying what to install."""
    path = shutil.which(tool)
    if path is None:
        raise ToolchainError(f"{tool} not found: {hint}")
    return path


def compile_flags(board: Board) -> list[str]:
    """Flags every C/C++ object of the firmware (startup, runner, TFLM) is compiled with (``-c``):
    the core's ABI, newlib-nano's headers, and one section per function and object for
    --gc-sections. Compile and link in separate commands: gcc rejects nano.specs given twice."""
    return [*board.cpu_flags, "--specs=nano.specs", "-ffunction-sections", "-fdata-sections"]


def link_flags(board: Board, script: Path) -> list[str]:
    """Flags for linking the firmware with ``script`` (from :func:`link_script`). librdimon (via
    rdimon.specs) does newlib's I/O through semihosting; -nostartfiles because startup.c is the
    reset path (no crt0)."""
    return [*board.cpu_flags, "--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles",
            "-Wl,--gc-sections", f"-T{script}"]


def link_script(board: Board) -> str:
    """The linker script for ``board``: link.ld.in with its memory map filled in."""
    values = {
        "flash_origin": board.flash_origin, "flash_length": board.flash_length,
        "ram_origin": board.ram_origin, "ram_length": board.ram_length,
        "extra_origin": board.extra_origin, "extra_length": board.extra_length,
        "stack_size": board.stack_size,
    }
    return Template(LINK_TEMPLATE.read_text()).substitute({k: f"0x{v:08x}" for k, v in values.items()})


def plugin_path() -> Path:
    """The instruction-counting QEMU plugin, built with the host gcc on first use and cached by the
    digest of its source and the compiler's version."""
    gcc = require("gcc", "apt-get install gcc (needs root)")
    version = subprocess.run([gcc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    digest = hashlib.sha256(PLUGIN_SOURCE.read_bytes() + b"\0" + version.encode()).hexdigest()
    target = cache_dir() / "qemu-plugin" / digest / "insn_marks.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"insn_marks.{os.getpid()}.so")
    done = subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-o", str(partial), str(PLUGIN_SOURCE)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ToolchainError(f"building the QEMU plugin failed: {_first_error(done.stderr)}")
    partial.replace(target)  # atomic: a concurrent build leaves one complete file
    return target


def symbol_addresses(elf: Path, names: set[str]) -> dict[str, int]:
    """Addresses of the named symbols in ``elf`` (Thumb bit cleared: where the code starts)."""
    nm = require("arm-none-eabi-nm")
    listing = subprocess.run([nm, str(elf)], capture_output=True, text=True)
    if listing.returncode != 0:
        raise FirmwareError(f"arm-none-eabi-nm could not read {elf}: {_first_line(listing.stderr)}")
    found = {}
    for line in listing.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            found[parts[2]] = int(parts[0], 16) & ~1
    return found


def qemu_command(elf: Path, board: Board, plugin_args: list[str]) -> list[str]:
    """The qemu-system-arm command line: no display, monitor or serial port, so QEMU's stdout and
    stderr carry only the firmware's semihosting output; the plugin with its arguments."""
    return [require("qemu-system-arm"), "-M", board.machine, "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native",
            "-kernel", str(elf), "-plugin", ",".join([str(plugin_path()), *plugin_args])]


def run(elf: Path, board: Board, timeout_s: float = 120) -> QemuRun:
    """Run ``elf`` on ``board`` until it exits; a firmware still running after ``timeout_s``
    seconds is killed and raises FirmwareError."""
    elf = Path(elf)
    if not elf.is_file():
        raise FirmwareError(f"no firmware at {elf}")
    addresses = symbol_addresses(elf, set(MARKERS.values()))
    with tempfile.TemporaryDirectory(prefix="tinyml-qemu-") as tmp:
        counts = Path(tmp) / "counts.txt"
        plugin_args = [f"out={counts}"] + [f"{key}=0x{addresses[name]:x}"
                                            for key, name in MARKERS.items() if name in addresses]
        cmd = qemu_command(elf, board, plugin_args)
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as hung:
            last = _last_line(_text(hung.stderr)) or _last_line(_text(hung.stdout))
            raise FirmwareError(f"{elf.name} did not exit within {timeout_s:g} s on {board.machine} "
                                f"(a hang or an endless loop); its last output: {last!r}") from None
        marks, total = _parse_counts(counts.read_text() if counts.is_file() else "")
    output, errors = _text(done.stdout), _text(done.stderr)
    if total is None:
        raise FirmwareError(f"qemu-system-arm -M {board.machine} failed (exit {done.returncode}): "
                            f"{_first_line(errors) or _last_line(output) or 'no output'}")
    return QemuRun(exit_code=done.returncode, output=output, errors=errors, marks=marks, total_instructions=total)


_COUNT_LINE = re.compile(r"^([BEbeT]) (\d+)$")


def _parse_counts(text: str) -> tuple[list[tuple[str, int]], int | None]:
    """The plugin's log: marks in order and the total ("T"), None when QEMU never exited cleanly."""
    marks, total = [], None
    for line in text.splitlines():
        match = _COUNT_LINE.match(line)
        if match is None:
            raise FirmwareError(f"unexpected line in the instruction-count log: {line!r}")
        kind, count = match[1], int(match[2])
        if kind == "T":
            total = count
        else:
            marks.append((kind, count))
    return marks, total


def _text(data: bytes | str | None) -> str:
    """Captured output as text (a timeout leaves bytes, or None if nothing came)."""
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _first_error(text: str) -> str:
    """A compiler's first error line, else its first line."""
    return next((line.strip() for line in text.splitlines() if "error" in line), _first_line(text))


def _last_line(text: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
