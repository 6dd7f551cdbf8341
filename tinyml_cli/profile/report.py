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
    if report.get("runtime") == "c":
        lib = report["library"]
        ui.info(f"C engine: static arena {format_bytes(report['arena_min'])}, output buffer (the input lives in the arena) "
                f"{format_bytes(report['io_buffers'])}, stack {format_bytes(report['stack_bytes'])}: peak SRAM "
                f"{format_bytes(report['sram_peak'])}; library flash {format_bytes(lib['flash'])} "
                f"(arm-none-eabi-size text {lib['text']} B + data {lib['data']} B)")
    else:
        ui.info(f"arena: smallest accepted {format_bytes(report['arena_min'])}, used "
                f"{format_bytes(report['arena_used'])} (estimate {format_bytes(report['estimate']['peak_sram'])}); "
                f"stack {format_bytes(report['stack_bytes'])}")
    runtime = (f"engine {format_bytes(flash['engine'])}" if report.get("runtime") == "c"
               else f"TFLM {format_bytes(flash['tflm'])}")
    ui.info(f"flash {format_bytes(sizes['flash_total'])}: model {format_bytes(flash['model'])}, {runtime}, "
            f"C library {format_bytes(flash['clib'])}, runner {format_bytes(flash['firmware'])}, test inputs "
            f"{format_bytes(flash['inputs'])}; RAM (.data + .bss) {format_bytes(sizes['ram_total'])}")
    for name, c in report["comparison"].items():
        verdict = "equal" if c["equal"] else f"differ by up to {c['max_difference']:g}"
        ui.info(f"outputs vs {LABELS.get(name, name)}: {verdict}")


LABELS = {"litert": "LiteRT (reference kernels)", "tflm_host": "TFLM-host", "engine_host": "the engine's host build"}
