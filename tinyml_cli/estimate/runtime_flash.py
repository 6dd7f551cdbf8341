"""The flash the TFLM runtime takes beside the model: measured per core family on emulated firmwares
(``RUNTIME_FLASH`` in constants.py, from scripts/fit_runtime_flash.py) as a base (framework, C
library, a minimal application), code shared by every kernel, and each kernel's own code; the
profile's flash reserve for a core family not measured."""

from __future__ import annotations

from collections.abc import Iterable

from ..mcu import McuProfile
from . import constants as K


def runtime_flash(profile: McuProfile, builtins: Iterable[str]) -> int:
    """Bytes of flash besides the model for a firmware running these TFLite builtins.

    >>> from tinyml_cli.mcu import load_profile
    >>> f412 = load_profile("STM32F412")
    >>> runtime_flash(f412, ["FULLY_CONNECTED", "SOFTMAX"]) - runtime_flash(f412, ["FULLY_CONNECTED"])
    9044
    >>> runtime_flash(f412, ["FULLY_CONNECTED"]) - runtime_flash(f412, ["RESHAPE"]) == 18024 - 1572
    True
    >>> runtime_flash(load_profile("RP2040"), ["CONV_2D"]) == load_profile("RP2040").reserve_flash
    True
    """
    table = K.RUNTIME_FLASH.get(profile.core_family)
    if table is None:
        return profile.reserve_flash
    kinds = set(builtins)
    if not kinds:
        return table["base"]
    unmeasured = _UNMEASURED[profile.core_family]
    return table["base"] + table["shared"] + sum(table.get(name, unmeasured) for name in kinds)


# a kernel not measured: the mean of those measured on its core family
_UNMEASURED = {family: sum(size for name, size in table.items() if name not in ("base", "shared"))
               // (len(table) - 2) for family, table in K.RUNTIME_FLASH.items()}
