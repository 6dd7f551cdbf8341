"""Proof that an exported .tflite works: run it in LiteRT (reference kernels) and in TensorFlow Lite
Micro on the test set, and compare accuracies, predictions, memory and size.

LiteRT runs with ``OpResolverType.BUILTIN_REF``: its default (XNNPACK) kernels round differently
from TFLM's by up to 9 int8 steps. With the reference kernels the logits agree to 1 step (LiteRT's
FULLY_CONNECTED rounds once, TFLM's twice), and the SOFTMAX can widen a 1-step logit difference by
up to exp(logit scale); predicted classes agree.
"""

from __future__ import annotations

from math import prod

import numpy as np

from ..arch.graph import LayerGraph
from ..arch.normalization import front_tensors
from .quantize import FoldedModule, QParams, QuantizedModel, folded_logits
from .tflm_runner import TflmResult, required_arena, run_tflm


def quantize_input(x: np.ndarray, params: QParams) -> np.ndarray:
    """Float inputs to the model's int8 input grid."""
    return np.clip(np.round(x / params.scale) + params.zero_point, -128, 127).astype(np.int8)


def model_inputs(q: QuantizedModel, x: np.ndarray) -> np.ndarray:
    """What the .tflite takes for raw inputs ``x``: float32 as they are when the model normalizes
    its input itself, else quantized to its int8 input grid."""
    if q.graph.normalize != "none":
        return np.ascontiguousarray(x, np.float32)
    return quantize_input(x, q.tensors[0])


def _litert():
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # the older standalone runtime, where that is what is installed
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    return Interpreter, OpResolverType


def run_litert(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """Outputs of LiteRT's reference kernels, one invocation per input (with batch axis)."""
    interpreter_cls, resolver = _litert()
    interpreter = interpreter_cls(model_content=model,
                                  experimental_op_resolver_type=resolver.BUILTIN_REF)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    outputs = []
    for x in inputs:
        interpreter.set_tensor(inp, x[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out)[0].copy())
    return np.stack(outputs)


def arena_upper_bound(graph: LayerGraph) -> int:
    """An arena surely large enough for TFLM to plan in: every activation at once, plus overhead."""
    activations = sum(prod(shape) for shape in graph.tensor_shapes)
    front = 4 * len(front_tensors(graph.normalize)) * prod(graph.input_shape)   # float32 tensors
    return 4 * activations + front + 8192 * (len(graph.layers) + 8)


def run_tflm_model(q: QuantizedModel, model: bytes, inputs: np.ndarray) -> TflmResult:
    """TFLM outputs and real arena use for the model's inputs (:func:`model_inputs`)."""
    return run_tflm(model, inputs, arena_upper_bound(q.graph))


def verify(q: QuantizedModel, model: bytes, folded: FoldedModule, x: np.ndarray, y: np.ndarray,
           estimate: dict | None = None) -> dict:
    """Float, fake-quantized, LiteRT and TFLM accuracies on ``(x, y)``, their agreement, TFLM's arena
    (what it reports using, and the smallest arena it accepts) and the file size, with their ratios
    to ``estimate`` (``peak_sram`` for the host runtime, ``model_flash``, and whatever else it holds)
    if given."""
    float_pred = folded_logits(folded, x, quantized=False).argmax(1)
    fake_pred = folded_logits(folded, x).argmax(1)
    inputs = model_inputs(q, x)
    lite = run_litert(model, inputs)
    tflm = run_tflm_model(q, model, inputs)
    required = required_arena(model, tflm.arena_total)
    lite_pred, tflm_pred = lite.argmax(1), tflm.outputs.argmax(1)
    steps = np.abs(lite.astype(np.int32) - tflm.outputs.astype(np.int32))
    report = {
        "samples": int(len(x)),
        "float_accuracy": _mean(float_pred == y),
        "fake_quant_accuracy": _mean(fake_pred == y),
        "litert_accuracy": _mean(lite_pred == y),
        "tflm_accuracy": _mean(tflm_pred == y),
        "int8_drop": _mean(float_pred == y) - _mean(tflm_pred == y),
        "litert_tflm_agreement": _mean(lite_pred == tflm_pred),
        "litert_tflm_max_step_difference": int(steps.max()) if steps.size else 0,
        "fake_quant_litert_agreement": _mean(fake_pred == lite_pred),
        "tflm_arena": {"required": required, "total": tflm.arena_total, "head": tflm.arena_head,
                       "tail": tflm.arena_tail},
        "file_size": len(model),
    }
    if estimate:
        report["estimate"] = {**estimate, "sram_ratio": estimate["peak_sram"] / required,
                              "flash_ratio": estimate["model_flash"] / len(model)}
    return report


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def verify_rows(report: dict) -> list[list[str]]:
    """The verification report as rows of (measure, value) for a table."""
    rows = [["samples", str(report["samples"])],
            ["float accuracy (torch)", _pct(report["float_accuracy"])],
            ["fake-quant accuracy (torch)", _pct(report["fake_quant_accuracy"])],
            ["int8 accuracy (LiteRT ref)", _pct(report["litert_accuracy"])],
            ["int8 accuracy (TFLM)", _pct(report["tflm_accuracy"])],
            ["LiteRT / TFLM agreement", f"{_pct(report['litert_tflm_agreement'])} (outputs within "
                                        f"{report['litert_tflm_max_step_difference']} int8 steps)"],
            ["fake-quant / LiteRT agreement", _pct(report["fake_quant_litert_agreement"])],
            ["TFLM arena required (reported used)", f"{report['tflm_arena']['required']} B "
                                                    f"({report['tflm_arena']['total']} B)"],
            [".tflite size", f"{report['file_size']} B"]]
    if "estimate" in report:
        e = report["estimate"]
        rows += [["estimated peak SRAM (host) / TFLM arena", f"{e['peak_sram']} B ({e['sram_ratio']:.3f})"],
                 ["estimated model flash / file size", f"{e['model_flash']} B ({e['flash_ratio']:.3f})"]]
        if "mcu_peak_sram" in e:
            rows.append(["estimated peak SRAM (32-bit MCU, CMSIS-NN)", f"{e['mcu_peak_sram']} B"])
    return rows
