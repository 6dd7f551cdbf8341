"""People-facing rendering of an Estimate: a per-layer table and a verdict with margins."""

from __future__ import annotations

from ..console import Ui
from ..units import format_bytes, format_count
from .model import Estimate


def render(est: Estimate, ui: Ui) -> None:
    """Per-layer table (normal verbosity and up) and a summary with the verdict, on ``ui``."""
    rows = [[row["name"], row["op"], "x".join(map(str, row["output_shape"])), _macs(row),
             format_count(row["params"]), format_bytes(row["flash"]), format_bytes(row["live_sram"]),
             "?" if row["latency_ms"] is None else f"{row['latency_ms']:.3f}"] for row in est.layers]
    ui.table(f"{est.graph.name} on {est.mcu}", ["layer", "op", "output", "MACs", "params", "flash",
                                                "live SRAM", "ms"], rows)
    b = est.budget
    ui.info(f"MACs {format_count(est.macs)}, parameters {format_count(est.params)}")
    ui.info(f"flash: model {format_bytes(est.flash_model)} of {format_bytes(b.flash)}, "
            f"with the {'engine kernels' if est.runtime == 'c' else 'runtime'} {format_bytes(est.flash_total)}")
    if est.runtime == "c":
        ui.info(f"peak SRAM {format_bytes(est.peak_sram)} of {format_bytes(b.sram)} (C engine arena "
                f"{format_bytes(est.arena_planned)} with the input + output buffer {format_bytes(est.io_buffers)}; "
                f"lower bound {format_bytes(est.sram_lower_bound)})")
        if est.patches:
            p = est.patches
            ui.info(f"patch by patch ({p['patches']}x{p['patches']} patches up to {p['split']}): peak SRAM "
                    f"{format_bytes(p['peak_sram'])}; layer by layer {format_bytes(p['peak_sram_per_layer'])}; "
                    f"{p['macs'] / est.macs - 1:+.1%} MACs recomputed over the patches' overlap")
    else:
        ui.info(f"peak SRAM {format_bytes(est.peak_sram)} of {format_bytes(b.sram)} (arena plan "
                f"{format_bytes(est.arena_planned)} + persistent {format_bytes(est.arena_persistent)}; "
                f"lower bound {format_bytes(est.sram_lower_bound)})")
    ui.info(f"latency {est.latency_ms:.2f} ms ({est.fps:.1f} fps)")
    for note in est.notes:
        ui.warn(note)
    margins = ", ".join(_margin(name, left) for name, left in est.margins.items())
    if est.fits:
        ui.info(f"[green]fits[/green] {est.mcu} (left: {margins})")
    else:
        ui.info(f"[red]does not fit[/red] {est.mcu}: {'; '.join(est.violations)} (left: {margins})")


def _macs(row: dict) -> str:
    """A row's MACs: '-' for an op that does none, '?' for an op the op table does not know."""
    if row["macs"] is not None:
        return format_count(row["macs"])
    return "?" if row["latency_ms"] is None else "-"


def _margin(name: str, left: float) -> str:
    if name in ("sram", "flash"):
        return f"{name} {format_bytes(left)}"
    if name == "macs":
        return f"MACs {format_count(left)}"
    return f"latency {left:.1f} ms"
