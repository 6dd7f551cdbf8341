"""Cycles of one operator from its op-table costs (``tinyml_cli.ops``), per core family: a fixed cost
per operator of its class, and cycles per MAC, per element of its window, per output and per output
pixel (MAC kernels), per element read (the others). The rates are constants.py's: on the Cortex-M cores with
the DSP extension, instructions counted on the emulated core (tinyml profile) times the cycles per
instruction fitted to published board latencies; elsewhere first estimates."""

from __future__ import annotations

from typing import NamedTuple

from ..ops import Costs
from . import constants as K


class Rates(NamedTuple):
    """Cycles per unit of work of one core family (float kernels slowed down where asked)."""

    per_mac: dict[str, float]
    per_window: dict[str, float]
    per_output: dict[str, float]
    per_pixel: dict[str, float]
    per_element: dict[str, float]
    per_op: dict[str, float]               # by class; "default" for a class without its own


def rates(family: str, is_float: bool) -> Rates:
    """The rates of ``family`` for int8 kernels, or float32 ones (``FLOAT_SLOWDOWN`` on the work,
    not on the fixed cost per operator)."""
    slowdown = K.FLOAT_SLOWDOWN[family] if is_float else 1.0
    scaled = [{name: c * slowdown for name, c in table[family].items()}
              for table in (K.CYCLES_PER_MAC, K.CYCLES_PER_WINDOW, K.CYCLES_PER_OUTPUT, K.CYCLES_PER_PIXEL,
                            K.CYCLES_PER_ELEMENT)]
    return Rates(*scaled, dict(K.CYCLES_PER_OP[family]))


RATES = {(family, is_float): rates(family, is_float) for family in K.CYCLES_PER_MAC for is_float in (False, True)}


def op_cycles(c: Costs, r: Rates) -> float:
    """Cycles of one operator's costs ``c`` at rates ``r``."""
    key = c.cycle_class if c.macs is not None else c.element_class
    cycles = r.per_op.get(key, r.per_op["default"]) + c.elements * r.per_element[c.element_class]
    if c.macs is not None:
        cycles += (c.macs * r.per_mac[c.cycle_class] + c.window * r.per_window.get(c.cycle_class, 0.0)
                   + c.outputs * r.per_output.get(c.cycle_class, 0.0) + c.pixels * r.per_pixel.get(c.cycle_class, 0.0))
    return cycles


def engine_rates(family: str) -> Rates:
    """The C engine's rates on ``family`` (runtime c): the instructions fitted on the emulated core
    (``ENGINE_INSTRUCTIONS``) times the family's cycles per instruction; a family not measured
    takes the m4 fit scaled by ``ENGINE_UNMEASURED_SCALE`` (an estimate)."""
    measured = family if family in K.ENGINE_INSTRUCTIONS else K.ENGINE_DEFAULT_FAMILY
    cpi = K.CYCLES_PER_INSTRUCTION[measured] * (1.0 if measured == family else K.ENGINE_UNMEASURED_SCALE[family])
    table = K.ENGINE_INSTRUCTIONS[measured]
    mac, window, output, pixel, element, per_op = ({name: n * cpi for name, n in table[term].items()}
                                                   for term in ("mac", "window", "output", "pixel", "element", "op"))
    return Rates(mac, window, output, pixel, {**element, "binary": element["add"]}, per_op)


ENGINE_RATES = {family: engine_rates(family) for family in K.CYCLES_PER_MAC}
