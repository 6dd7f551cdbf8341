"""People-facing rendering of a profile: instructions per operator, then the measured memory,
sizes and output agreement."""

from __future__ import annotations

from ..console import Ui
from ..units import format_bytes, format_count


def render(report: dict, ui: Ui) -> None:
    """The per-operator table and a summary, on ``ui``."""
    total = report["instructions"] or 1
    rows = [[op["index"], op["op"], format_count(op["instructions"]), f"{100 * op['instructions'] / total:.1f}%"]
            for op in report["operators"]]
    ui.table(f"{report['model']} on {report['machine']} ({report['core']}, {report['kernels']})",
             ["#", "op", "instructions", "share"], rows)
    sizes = report["sizes"]
    flash = sizes["flash"]
    ui.info(f"instructions per inference {format_count(report['instructions'])} ({report['inputs']})")
    ui.info(f"arena: smallest accepted {format_bytes(report['arena_min'])}, used {format_bytes(report['arena_used'])}"
            f" (estimate {format_bytes(report['estimate']['peak_sram'])}); stack {format_bytes(report['stack_bytes'])}")
    ui.info(f"flash {format_bytes(sizes['flash_total'])}: model {format_bytes(flash['model'])}, TFLM "
            f"{format_bytes(flash['tflm'])}, C library {format_bytes(flash['clib'])}, runner "
            f"{format_bytes(flash['firmware'])}, test inputs {format_bytes(flash['inputs'])}; "
            f"RAM (.data + .bss) {format_bytes(sizes['ram_total'])}")
    for name, label in (("litert", "LiteRT (reference kernels)"), ("tflm_host", "TFLM-host")):
        c = report["comparison"][name]
        verdict = "equal" if c["equal"] else f"differ by up to {c['max_difference']:g}"
        ui.info(f"outputs vs {label}: {verdict}")
