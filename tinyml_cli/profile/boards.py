"""The emulated boards a firmware runs on: QEMU machine, compiler flags and memory map per core.

Each board has three memories, all RAM in QEMU: FLASH (vector table, code, read-only data and the
model), RAM (.data, .bss, heap, stack) and EXTRA, a 16 MiB PSRAM for a large tensor arena. QEMU
models no wait states, so where a buffer lives changes no instruction count.

>>> board = BOARDS["cortex-m4"]
>>> board.machine, board.cpu_flags
('mps2-an386', ('-mcpu=cortex-m4', '-mthumb', '-mfloat-abi=soft'))
>>> hex(BOARDS["cortex-m33"].flash_origin), BOARDS["cortex-m33"].flash_length // MiB
('0x10000000', 4)
"""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class Board:
    """A QEMU machine with one Cortex-M core: how to build for it and where its memories are."""

    core: str                      # gcc's -mcpu value
    machine: str                   # qemu-system-arm -M
    cpu_flags: tuple[str, ...]     # the ABI flags every object linked into the firmware must share
    flash_origin: int
    flash_length: int
    ram_origin: int
    ram_length: int
    extra_origin: int
    extra_length: int
    stack_size: int = 64 * KiB


def _soft_float(core: str) -> tuple[str, ...]:
    return (f"-mcpu={core}", "-mthumb", "-mfloat-abi=soft")


# mps2-an386 (Cortex-M4) and mps2-an500 (Cortex-M7): QEMU 7.2 hw/arm/mps2.c, mps2_common_init() and
# the class_init functions:
#   0x00000000..0x003fffff  ZBT SSRAM1, 4 MiB (0x00400000 mirrors it) -> FLASH; VTOR resets to 0
#   0x20000000..0x203fffff  ZBT SSRAM2&3, 4 MiB (0x20400000 mirrors it) -> RAM
#   psram_base, 16 MiB      the machine's RAM (default_ram_size 16 MiB) -> EXTRA:
#                           0x21000000 on AN386 (mps2_an386_class_init), 0x60000000 on AN500
# mps2-an505 (Cortex-M33, IoTKit, boots Secure): QEMU 7.2 hw/arm/mps2-tz.c an505_raminfo[] and
# mps2tz_an505_class_init(), hw/arm/armsse.c:
#   ssram-0   0x00000000, 4 MiB behind MPC 0; armsse's "alias 1" maps 0x10000000.. onto 0x00000000..
#             (the Secure alias, IDAU: bit 28 set = Secure); init_svtor = 0x10000000 -> FLASH there
#   ssram-1/2 0x28000000 + 0x28200000, 2 MiB each, contiguous; "alias 2" maps 0x30000000.. onto
#             0x20000000.., so 0x38000000 is their Secure alias -> RAM (4 MiB)
#   mps.ram   0x80000000, 16 MiB, no MPC and no alias -> EXTRA. Secure code may use it: at reset the
#             SAU is disabled with ALLNS=0, which makes every address Secure (Armv8-M ARM, "SAU_CTRL").
# The MPCs reset with every block Secure, so Secure accesses through them are allowed.
BOARDS: dict[str, Board] = {
    "cortex-m4": Board(
        core="cortex-m4", machine="mps2-an386", cpu_flags=_soft_float("cortex-m4"),
        flash_origin=0x00000000, flash_length=4 * MiB,
        ram_origin=0x20000000, ram_length=4 * MiB,
        extra_origin=0x21000000, extra_length=16 * MiB),
    "cortex-m7": Board(
        core="cortex-m7", machine="mps2-an500", cpu_flags=_soft_float("cortex-m7"),
        flash_origin=0x00000000, flash_length=4 * MiB,
        ram_origin=0x20000000, ram_length=4 * MiB,
        extra_origin=0x60000000, extra_length=16 * MiB),
    "cortex-m33": Board(
        core="cortex-m33", machine="mps2-an505", cpu_flags=_soft_float("cortex-m33"),
        flash_origin=0x10000000, flash_length=4 * MiB,
        ram_origin=0x38000000, ram_length=4 * MiB,
        extra_origin=0x80000000, extra_length=16 * MiB),
}
