"""The bare-metal harness: startup code, linker script and instruction-counting plugin in QEMU.

Each board runs a small C firmware: its output and exit code come back, the instructions between
the two markers equal the count derived from the disassembly, the stack measure sees a known
buffer, and the far end of the 16 MiB EXTRA region holds what was written to it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tinyml_cli.profile import qemu
from tinyml_cli.profile.boards import BOARDS, Board

TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-objdump", "arm-none-eabi-nm", "qemu-system-arm", "gcc")
NOPS = 1000            # straight-line nops between the markers
LOOPS = 3000           # iterations of a two-instruction loop between the markers
STACK_BYTES = 12000    # the volatile buffer put on the stack

FIRMWARE = r"""
#include <stdint.h>
#include <stdio.h>

void tinyml_mark_begin(unsigned id);
void tinyml_mark_end(unsigned id);
unsigned tinyml_stack_used(void);

#define NOP10 "nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop\n"
#define NOP100 NOP10 NOP10 NOP10 NOP10 NOP10 NOP10 NOP10 NOP10 NOP10 NOP10
#define NOP1000 NOP100 NOP100 NOP100 NOP100 NOP100 NOP100 NOP100 NOP100 NOP100 NOP100
#define STR(x) #x
#define XSTR(x) STR(x)

static volatile uint32_t arena[EXTRA_BYTES / 4] __attribute__((section(".arena")));

__attribute__((noinline)) static void touch_stack(void)
{
    volatile unsigned char buffer[STACK_BYTES];
    for (unsigned i = 0; i < STACK_BYTES; i++) {
        buffer[i] = (unsigned char)i;
    }
    __asm__ volatile("" : : "r"(buffer) : "memory");
}

int main(void)
{
    puts("harness says hello");
    tinyml_mark_begin(0);
    /* NOPS nops, then a loop of LOOPS iterations: subs + bne each */
    __asm__ volatile(NOP1000
                     "movw r1, #" XSTR(LOOPS) "\n"
                     "1: subs r1, r1, #1\n"
                     "bne 1b\n"
                     : : : "r1", "cc", "memory");
    tinyml_mark_end(0);
    arena[0] = 0x600df00du;
    arena[EXTRA_BYTES / 4 - 1] = 0xc0ffee42u;
    printf("arena %08lx %08lx\n", (unsigned long)arena[0], (unsigned long)arena[EXTRA_BYTES / 4 - 1]);
    touch_stack();
    printf("stack %u\n", tinyml_stack_used());
    return 3;
}
"""

HANG = r"""
int main(void)
{
    for (;;) {
        __asm__ volatile("" : : : "memory");
    }
}
"""


@pytest.fixture(scope="module")
def toolchain(tmp_path_factory):
    """Skips without the cross compiler, QEMU or the host gcc; points the cache at a temporary folder."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}: {qemu.INSTALL_HINT}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TINYML_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


def build(folder: Path, board: Board, source: str, defines: dict[str, int]) -> Path:
    """Compile ``source`` and startup.c for ``board`` and link them with its script: the ELF."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.c").write_text(source)
    script = folder / "link.ld"
    script.write_text(qemu.link_script(board))
    flags = [*qemu.compile_flags(board), "-O2", "-Wall", "-Werror", *(f"-D{k}={v}" for k, v in defines.items())]
    objects = []
    for src in (folder / "main.c", qemu.STARTUP):
        obj = folder / f"{src.stem}.o"
        subprocess.run(["arm-none-eabi-gcc", *flags, "-c", str(src), "-o", str(obj)], check=True)
        objects.append(str(obj))
    elf = folder / "firmware.elf"
    subprocess.run(["arm-none-eabi-gcc", *objects, *qemu.link_flags(board, script), "-o", str(elf)], check=True)
    return elf


def function_instructions(elf: Path, name: str) -> list[str]:
    """The instructions of one function as objdump prints them ("bl\t1234 <f>", ...), literals left out."""
    listing = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", str(elf)],
                             capture_output=True, text=True, check=True).stdout
    body = re.search(rf"^[0-9a-f]+ <{name}>:\n(.*?)(?:\n\n|\Z)", listing, re.M | re.S)
    assert body is not None, f"{name} not in the disassembly"
    lines = [line.split(":", 1)[1].strip() for line in body[1].splitlines() if re.match(r"^\s*[0-9a-f]+:\t", line)]
    return [line for line in lines if not line.startswith(".")]


def expected_span(elf: Path) -> int:
    """Instructions from tinyml_mark_begin's entry to tinyml_mark_end's, read from the disassembly:
    the begin marker's body up to its return (straight-line), main's instructions after its call up
    to and including the call of the end marker (with any branch the assembler put around a literal
    pool), and the loop body's further LOOPS - 1 passes."""
    marker = function_instructions(elf, "tinyml_mark_begin")
    marker = marker[:marker.index("bx\tlr") + 1]  # what follows is alignment padding
    assert not any(re.match(r"b(?!x)\w*\s", insn) for insn in marker), marker  # straight-line
    main = function_instructions(elf, "main")
    first = next(i for i, insn in enumerate(main) if "<tinyml_mark_begin>" in insn)
    last = next(i for i, insn in enumerate(main) if "<tinyml_mark_end>" in insn)
    between = main[first + 1:last + 1]
    assert sum(insn.startswith("nop") for insn in between) == NOPS
    loop = [insn for insn in between if insn.startswith(("subs", "bne"))]
    assert len(loop) == 2, between
    return len(marker) + len(between) + 2 * (LOOPS - 1)


@pytest.mark.parametrize("core", sorted(BOARDS))
def test_firmware_runs_and_counts_exactly(toolchain, tmp_path, core):
    board = BOARDS[core]
    elf = build(tmp_path, board, FIRMWARE, {"NOPS": NOPS, "LOOPS": LOOPS, "STACK_BYTES": STACK_BYTES,
                                           "EXTRA_BYTES": board.extra_length})
    result = qemu.run(elf, board, timeout_s=30)

    assert result.exit_code == 3, result
    lines = result.output.splitlines()
    assert lines[0] == "harness says hello"
    # the arena spans EXTRA and both of its ends keep what was written (not an unmapped hole)
    assert qemu.symbol_addresses(elf, {"arena"})["arena"] == board.extra_origin
    assert lines[1] == "arena 600df00d c0ffee42"
    used = int(lines[2].removeprefix("stack "))
    assert STACK_BYTES <= used < STACK_BYTES + 1024
    assert [kind for kind, _ in result.marks] == ["B", "E"]
    assert result.spans() == [expected_span(elf)]
    assert result.total_instructions > result.marks[1][1] > result.marks[0][1] > 0


def test_a_hanging_firmware_times_out(toolchain, tmp_path):
    board = BOARDS["cortex-m4"]
    elf = build(tmp_path, board, HANG, {})
    started = time.monotonic()
    with pytest.raises(qemu.FirmwareError, match="did not exit within 1 s"):
        qemu.run(elf, board, timeout_s=1)
    assert time.monotonic() - started < 3


def test_a_fault_is_reported_with_its_exit_code(toolchain, tmp_path):
    board = BOARDS["cortex-m33"]
    source = "int main(void) { return *(volatile int *)0xF0000000u; }\n"  # nothing is mapped there
    result = qemu.run(build(tmp_path, board, source, {}), board, timeout_s=10)
    assert result.exit_code == 128 + 3
    assert "tinyml: HardFault" in result.errors and "bfar=0xf0000000" in result.errors


RESUME = r"""
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
extern void (*volatile tinyml_fault_resume)(void);
static jmp_buf back;
static void resumed(void) { longjmp(back, 1); }
int main(void)
{
    extern uint32_t __flash_start[];
    if (setjmp(back) == 0) {
        tinyml_fault_resume = resumed;
        __flash_start[3] = 0xdeadbeefu;          /* the HardFault vector: read-only under the MPU */
        puts("the store went through");
        return 1;
    }
    tinyml_fault_resume = 0;
    printf("resumed, vector %s\n", __flash_start[3] != 0xdeadbeefu ? "intact" : "overwritten");
    return *(volatile int *)0xF0000000u;          /* now a fault ends the run as before */
}
"""


@pytest.mark.parametrize("core", sorted(BOARDS))
def test_flash_is_read_only_and_a_fault_can_resume(toolchain, tmp_path, core):
    # a stray store into QEMU's flash (RAM there) faults, and the firmware resumes where it asked
    board = BOARDS[core]
    result = qemu.run(build(tmp_path, board, RESUME, {}), board, timeout_s=10)
    assert "resumed, vector intact" in result.output and "went through" not in result.output
    assert result.exit_code == 128 + 3 and "bfar=0xf0000000" in result.errors


def test_the_plugin_is_built_once_and_cached(toolchain):
    first = qemu.plugin_path()
    assert first.name == "insn_marks.so" and first.parent.parent.name == "qemu-plugin"
    assert qemu.plugin_path() == first


def test_missing_tools_name_what_to_install(monkeypatch):
    monkeypatch.setattr(qemu.shutil, "which", lambda tool: None)
    with pytest.raises(qemu.ToolchainError, match="gcc not found"):
        qemu.plugin_path()
    with pytest.raises(qemu.ToolchainError, match="qemu-system-arm not found: apt-get install gcc-arm-none-eabi"):
        qemu.require("qemu-system-arm")


def test_link_script_fills_every_placeholder():
    script = qemu.link_script(BOARDS["cortex-m33"])
    assert "$" not in script
    assert "FLASH (rx)  : ORIGIN = 0x10000000, LENGTH = 0x00400000" in script
    assert "EXTRA (rw)  : ORIGIN = 0x80000000, LENGTH = 0x01000000" in script


def test_spans_pair_each_begin_with_the_next_end():
    run = qemu.QemuRun(exit_code=0, output="", marks=[("B", 10), ("E", 25), ("B", 30), ("E", 31)])
    assert run.spans() == [15, 1]
