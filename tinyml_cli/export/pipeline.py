"""`tinyml export` end to end: quantize a trained candidate, write the .tflite and C sources, verify
them in LiteRT and TFLM, and write everything into an export folder.

Folder layout: ``model.tflite``, ``model_data.h``, ``model_data.c``, ``model_config.h``,
``verify.json`` (and ``quantization.json``: calibration and QAT record; ``test_samples.npz``: the
first test samples as the model takes them, ``x``, and their labels, ``y``, for ``tinyml profile``);
with ``runtime: c``, ``engine/``: the tinyml C engine's library, see ``engine/export.py``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..arch import Arch, build_graph
from ..config import Field, boolean, choice, integer, number
from ..data import Dataset
from ..errors import ConfigError
from ..runs import atomic_write_bytes, atomic_write_text, write_json
from ..train.builder import GraphModule
from .c_writer import c_sources
from .quantize import FoldedModule, QuantizedModel, folded_accuracy, qat_finetune, quantize, quantize_layers
from .tflite_writer import check_writable, write_tflite
from .verify import model_inputs, verify

SAVED_SAMPLES = 16

EXPORT_SCHEMA = {
    "calibration_samples": Field(integer(min_value=1), 500,
                                 "training samples whose ranges calibrate the int8 activations"),
    "qat_epochs": Field(integer(min_value=0), 0, "quantization-aware fine-tuning epochs, run only "
                        "when the post-training validation drop exceeds max_drop (0: never)"),
    "max_drop": Field(number(min_value=0.0, max_value=1.0), 0.01,
                      "post-training accuracy drop (validation, fraction) that triggers QAT"),
    "qat_lr": Field(number(min_value=0.0), 1e-4, "QAT learning rate (Adam)"),
    "verify": Field(boolean, True, "run the model in LiteRT and TFLM on the test set"),
    "runtime": Field(choice("tflm", "c"), "tflm", "tflm: the .tflite and its TFLM sources; c: also the "
                     "tinyml C engine (engine/), checked byte for byte against TFLM-host"),
}


@dataclass
class ExportResult:
    """Where the files went and what verification found."""

    out_dir: Path
    files: list[str]
    quantization: dict
    verify: dict | None
    quantized: QuantizedModel | None = None
    engine: dict | None = None
    estimate: dict | None = None     # the estimate on the export's MCU (--mcu), with its fits verdict


def check_inputs(arch: Arch, data: Dataset, source: str) -> None:
    """The dataset (resized to the architecture's input) must have the architecture's classes."""
    if data.num_classes != arch.num_classes:
        raise ConfigError(f"{source}: the architecture has {arch.num_classes} classes but dataset "
                          f"{data.name!r} has {data.num_classes}")


def export_candidate(arch: Arch, module: GraphModule, data: Dataset, cfg: dict, out_dir: Path,
                     name: str, estimate: dict | None = None, seed: int = 0,
                     log: Callable[[str], None] = lambda text: None) -> ExportResult:
    """Quantize (with QAT when asked and needed), write the files into ``out_dir``, verify."""
    graph = build_graph(arch)
    check_writable(graph)
    if cfg["verify"] and not len(data.x_test):
        raise ConfigError(f"{name}: dataset {data.name!r} has no test samples to verify on; "
                          "set data.test_fraction above 0 or export.verify=false")
    folded = FoldedModule.from_module(module.eval())
    float_val = folded_accuracy(folded, data.x_val, data.y_val, quantized=False)
    calib = data.x_train[:cfg["calibration_samples"]]
    q = quantize(folded, calib)
    ptq_val = folded_accuracy(folded, data.x_val, data.y_val)
    record = {"calibration_samples": int(len(calib)), "float_val_accuracy": float_val,
              "ptq_val_accuracy": ptq_val, "qat_epochs": 0, "qat_val_accuracy": None}
    log(f"post-training int8: validation accuracy {ptq_val:.4f} (float {float_val:.4f})")
    if cfg["qat_epochs"] and float_val - ptq_val > cfg["max_drop"]:
        log(f"drop {float_val - ptq_val:.4f} > {cfg['max_drop']}: {cfg['qat_epochs']} QAT epoch(s)")
        qat_finetune(folded, data, cfg["qat_epochs"], lr=cfg["qat_lr"], seed=seed)
        q = quantize_layers(folded)
        record.update(qat_epochs=cfg["qat_epochs"],
                      qat_val_accuracy=folded_accuracy(folded, data.x_val, data.y_val))
    model = write_tflite(q, f"tinyml: {name} ({arch.space}, {data.name})")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / "model.tflite", model)
    if len(data.x_test):                               # what `tinyml profile` runs the model on
        buffer = io.BytesIO()
        np.savez(buffer, x=model_inputs(q, data.x_test[:SAVED_SAMPLES]), y=data.y_test[:SAVED_SAMPLES])
        atomic_write_bytes(out_dir / "test_samples.npz", buffer.getvalue())
    write_json(out_dir / "quantization.json", record)
    report = None
    if cfg["verify"]:
        log(f"verifying on {len(data.x_test)} test samples in LiteRT and TFLM")
        report = verify(q, model, folded, data.x_test, data.y_test, estimate)
        write_json(out_dir / "verify.json", report)
        arena = report["tflm_arena"]["required"]
    elif estimate:
        arena = estimate["peak_sram"]
    else:
        raise ConfigError("export.verify=false needs an estimate of the arena size for model_config.h")
    if estimate and "mcu_peak_sram" in estimate:  # a CMSIS-NN build may need scratch the host did not
        arena = max(arena, estimate["mcu_peak_sram"])
    for filename, text in c_sources(q, model, name, data.class_names, arena).items():
        atomic_write_text(out_dir / filename, text)
    files = sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))
    return ExportResult(out_dir, files, record, report, q)
