"""``tinyml export --runtime c``: the engine's library written into the export folder (``engine/``)
and checked byte for byte against TFLM-host on the export's test samples, with its arena next to
TFLM's."""

from __future__ import annotations

import tempfile
from math import prod
from pathlib import Path

import numpy as np

from ..errors import EngineError
from ..export.quantize import QuantizedModel
from ..export.tflm_runner import run_tflm
from ..export.verify import arena_upper_bound
from ..runs import atomic_write_text, write_json
from .codegen import DEFAULT_PREFIX, generate
from .patches import split_index
from .host import HostEngine

FOLDER = "engine"


def export_engine(q: QuantizedModel, model: bytes, inputs: np.ndarray, out_dir: Path,
                  tflm_arena: int | None = None, tflm_mcu_estimate: int | None = None,
                  patches: int = 0, split: str | None = None, prefix: str = DEFAULT_PREFIX) -> dict:
    """Write the library into ``out_dir/engine``, run it (host build) and TFLM-host on ``inputs``
    (int8, leading batch axis), and report; EngineError unless every output byte agrees.
    ``tflm_arena``: the smallest arena TFLM-host accepts, when known (its reported use otherwise);
    ``tflm_mcu_estimate``: the estimated TFLM + CMSIS-NN arena on a 32-bit Cortex-M; ``patches``
    >= 2: the first layers patch by patch up to the layer named ``split`` (None: the best split);
    ``prefix``: the start of the model's C names."""
    lib = generate(q, patches, split_index(q.graph, split) if patches >= 2 else None, prefix)
    folder = out_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in lib.files.items():
        atomic_write_text(folder / name, text)
    with tempfile.TemporaryDirectory(prefix="tinyml-engine-") as tmp:
        ours = HostEngine.build(lib, Path(tmp)).run(inputs)
    tflm = run_tflm(model, inputs, arena_upper_bound(q.graph))
    expected = tflm.outputs.reshape(len(inputs), -1)
    differing = int((ours != expected).any(axis=1).sum())
    io_bytes = prod(q.graph.output_shape)              # the input lives in the arena
    tflm_bytes = tflm_arena if tflm_arena is not None else tflm.arena_total
    report = {"samples": int(len(inputs)), "identical_to_tflm": differing == 0, "differing_samples": differing,
              "arena": lib.arena_size, "io_buffers": io_bytes, "placement": lib.plan.order,
              "tflm_arena": tflm_bytes, "sram_ratio": (lib.arena_size + io_bytes) / tflm_bytes}
    if lib.patched is not None and lib.patched.split >= 0:
        report.update(patches=lib.patched.patches, split=q.graph.layers[lib.patched.split].name,
                      arena_per_layer=generate(q).arena_size)
    if tflm_mcu_estimate:
        report.update(tflm_mcu_estimate=tflm_mcu_estimate,
                      mcu_sram_ratio=(lib.arena_size + io_bytes) / tflm_mcu_estimate)
    write_json(folder / "verify.json", report)
    if differing:
        raise EngineError(f"the C engine's outputs differ from TFLM's on {differing} of {len(inputs)} samples")
    return report


def engine_rows(report: dict) -> list[list[str]]:
    """The engine's report as (measure, value) rows for a table."""
    rows = [["samples, outputs identical to TFLM-host", f"{report['samples']}, {report['identical_to_tflm']}"],
            ["static arena (planner's peak)", f"{report['arena']} B ({report['placement']})"],
            ["arena (with the input) + output buffer", f"{report['arena'] + report['io_buffers']} B"],
            *([[f"patch by patch ({report['patches']}x{report['patches']} up to {report['split']})",
                f"arena {report['arena']} B; layer by layer {report['arena_per_layer']} B"]]
              if "patches" in report else []),
            ["TFLM-host arena (engine / TFLM)", f"{report['tflm_arena']} B ({report['sram_ratio']:.3f})"]]
    if "tflm_mcu_estimate" in report:
        rows.append(["estimated TFLM arena, 32-bit MCU (engine / TFLM)",
                     f"{report['tflm_mcu_estimate']} B ({report['mcu_sram_ratio']:.3f})"])
    return rows
