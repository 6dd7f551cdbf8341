"""`tinyml profile`'s measurement: a .tflite built into a firmware for the MCU's core, run in QEMU,
and what it showed (smallest arena, arena used, flash and RAM by part, stack, instructions per
inference and per operator), with its outputs compared to LiteRT's and TFLM-host's on the same
inputs."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, TinymlError
from ..estimate.file import estimate_file
from ..mcu import McuProfile, budget_for
from ..tflite.model import TfliteModel
from .boards import BOARDS, Board
from .firmware import build_firmware
from .qemu import run
from .sizes import read_map, section_sizes

CORE_OF_FAMILY = {"m4": "cortex-m4", "m7": "cortex-m7", "m33": "cortex-m33"}
KERNEL_SETS = ("cmsis_nn", "reference")
ARENA_HEADROOM = 64 * 1024
ARENA_GUARDS = 2 * 256 * 1024          # the runner's guard bands around the arena (firmware/runner.cc)
_LINE = re.compile(r"^(ARENA_MIN|ARENA_USED|STACK) (\d+)$", re.M)
_OUT = re.compile(r"^OUT (\d+) ([0-9a-f]*)$", re.M)


class ProfileError(TinymlError):
    """The model cannot be profiled on this MCU, or its emulated run went wrong."""

    exit_code = 1


@dataclass(frozen=True)
class Inputs:
    """The samples a model is run on, and where they came from (for the report)."""

    samples: np.ndarray               # one row per sample, no batch axis, the input tensor's type
    source: str


def board_for(profile: McuProfile) -> Board:
    """The emulated board of an MCU's core family; a clear error for a core QEMU cannot run."""
    core = CORE_OF_FAMILY.get(profile.core_family)
    if core is None:
        raise ConfigError(f"MCU {profile.name}: no emulated board for its core family {profile.core_family!r} "
                          f"(profiling runs {', '.join(sorted(CORE_OF_FAMILY))})")
    return BOARDS[core]


def random_inputs(model: TfliteModel, count: int, rng: np.random.Generator) -> Inputs:
    """Random samples for the model's input tensor: its whole integer range, or [-1, 1) floats."""
    tensor = _input_tensor(model)
    dtype = np.dtype(tensor.dtype)                     # the model's type names are numpy's
    shape = (count, *tensor.shape[1:])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        samples = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    else:
        samples = rng.uniform(-1, 1, shape).astype(dtype)
    return Inputs(samples, f"{count} random samples")


def check_inputs(model: TfliteModel, inputs: Inputs) -> None:
    """The samples must match the model's input tensor in type and shape."""
    tensor = _input_tensor(model)
    want = (tuple(tensor.shape[1:]), np.dtype(tensor.dtype))
    got = (tuple(inputs.samples.shape[1:]), inputs.samples.dtype)
    if got != want:
        raise ConfigError(f"{model.path}: inputs of shape {got[0]} and type {got[1]} do not match the model's "
                          f"input {want[0]} {want[1]}")


def profile_model(model: TfliteModel, data: bytes, profile: McuProfile, inputs: Inputs, kernels: str = "cmsis_nn",
                  timeout_s: float = 600.0) -> dict:
    """Build, run and compare: the profile of ``model`` on ``profile``'s core, as a JSON-ready dict."""
    if kernels not in KERNEL_SETS:
        raise ConfigError(f"kernels: expected one of {', '.join(KERNEL_SETS)}, got {kernels!r}")
    board = board_for(profile)
    check_inputs(model, inputs)
    estimate = estimate_file(model, profile, budget_for(profile))
    arena_max = min(board.extra_length - ARENA_GUARDS, 2 * estimate.peak_sram + ARENA_HEADROOM)
    with tempfile.TemporaryDirectory(prefix="tinyml-profile-") as tmp:
        firmware = build_firmware(model, data, inputs.samples, board, kernels, Path(tmp), arena_max)
        result = run(firmware.elf, board, timeout_s)
        sizes = read_map(firmware.map)
        sections = section_sizes(firmware.elf)
    if result.exit_code != 0 or "DONE" not in result.output:
        why = next((line for line in result.output.splitlines() if line.startswith("ERROR")),
                   f"exit code {result.exit_code}")
        raise ProfileError(f"{model.path}: the firmware failed on {board.machine}: {why}")
    values = {name: int(n) for name, n in _LINE.findall(result.output)}
    outputs = _outputs(result.output, model, len(inputs.samples))
    invokes, operators = _split_marks(result, len(inputs.samples), len(model.subgraphs[0].operators))
    report = {
        "model": model.path, "mcu": profile.name, "core": board.core, "machine": board.machine,
        "kernels": kernels, "inputs": inputs.source, "samples": len(inputs.samples),
        "arena_min": values["ARENA_MIN"], "arena_used": values["ARENA_USED"], "stack_bytes": values["STACK"],
        "sizes": sizes.to_dict(), "sections": sections,
        "instructions": invokes[0] if invokes else None, "instructions_per_sample": invokes,
        "operators": [{"index": i, "op": op.builtin, "instructions": count}
                      for i, (op, count) in enumerate(zip(model.subgraphs[0].operators, operators))],
        "estimate": {"peak_sram": estimate.peak_sram, "arena_planned": estimate.arena_planned,
                     "arena_persistent": estimate.arena_persistent, "flash_total": estimate.flash_total,
                     "latency_ms": estimate.latency_ms, "macs": estimate.macs},
    }
    report["comparison"] = compare_outputs(data, inputs.samples, outputs, values["ARENA_MIN"])
    return report


def compare_outputs(data: bytes, samples: np.ndarray, emulated: np.ndarray, arena: int) -> dict:
    """The emulated outputs against LiteRT's reference kernels and TFLM's host build on the same
    samples: equal or not, and the largest difference (in the output's own steps)."""
    from ..export.tflm_runner import run_tflm
    from ..export.verify import run_litert

    out = {}
    for name, reference in (("litert", lambda: run_litert(data, samples)),
                            ("tflm_host", lambda: run_tflm(data, samples, 4 * arena + ARENA_HEADROOM).outputs)):
        ref = np.asarray(reference()).reshape(emulated.shape)
        diff = np.abs(ref.astype(np.float64) - emulated.astype(np.float64))
        out[name] = {"equal": bool(np.array_equal(ref, emulated)), "max_difference": float(diff.max()) if diff.size else 0.0}
    return out


def _input_tensor(model: TfliteModel):
    g = model.subgraphs[0]
    if len(g.inputs) != 1 or len(g.outputs) < 1:
        raise ConfigError(f"{model.path}: profiling takes a model with one input tensor (this one has {len(g.inputs)})")
    return g.tensors[g.inputs[0]]


def _outputs(text: str, model: TfliteModel, samples: int) -> np.ndarray:
    """The first output tensor of each sample, decoded from the firmware's hex lines."""
    g = model.subgraphs[0]
    tensor = g.tensors[g.outputs[0]]
    rows = {int(i): bytes.fromhex(h) for i, h in _OUT.findall(text)}
    if sorted(rows) != list(range(samples)):
        raise ProfileError(f"{model.path}: the firmware printed outputs for {len(rows)} of {samples} samples")
    dtype = np.dtype(tensor.dtype)
    return np.stack([np.frombuffer(rows[i], dtype=dtype) for i in range(samples)])


def _split_marks(result, samples: int, operators: int) -> tuple[list[int], list[int]]:
    """Instructions of each whole Invoke() (marks B / E) and, for the first sample, of each
    operator (marks b / e, nested inside)."""
    invokes, ops = result.spans("B", "E"), result.spans("b", "e")
    if len(invokes) != samples or len(ops) < operators:
        raise ProfileError(f"expected {samples} invocations of {operators} operators, counted {len(invokes)} "
                           f"and {len(ops)} operator spans")
    return invokes, ops[:operators]
