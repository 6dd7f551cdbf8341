"""Run a .tflite in TensorFlow Lite Micro's Python interpreter inside a child process.

TFLM can abort the whole process (SIGABRT) on a model it rejects, and prints its arena use from C++
to the process's stdout, so it runs in a child: a crash becomes a clear error and the arena report
is read from the child's real stdout. This file is also the child's script (it imports only numpy
and tflite_micro, so it runs without the package on the path).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_ARENA_LINE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")


@dataclass
class TflmResult:
    """Outputs for each input, and the arena TFLM really used (bytes)."""

    outputs: np.ndarray
    arena_total: int
    arena_head: int
    arena_tail: int


def run_tflm(model: bytes, inputs: np.ndarray, arena_size: int, timeout: float = 600.0) -> TflmResult:
    """Invoke the model once per input (int8, with its batch axis) in a TFLM child process."""
    from ..errors import TinymlError

    with tempfile.TemporaryDirectory(prefix="tinyml-tflm-") as tmp:
        folder = Path(tmp)
        (folder / "model.tflite").write_bytes(model)
        np.save(folder / "inputs.npy", inputs)
        cmd = [sys.executable, str(Path(__file__).resolve()), str(folder), str(int(arena_size))]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TinymlError(f"TFLM interpreter did not finish within {timeout:.0f} s") from None
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or [""])[-1]
            how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
                   else f"failed (exit {proc.returncode})")
            raise TinymlError(f"TFLM interpreter {how} on this model: {detail}".rstrip(": "))
        # TFLM's logger writes to stdout or stderr depending on the build: read both.
        arena = {kind: int(n) for kind, n in _ARENA_LINE.findall(proc.stdout + proc.stderr)}
        if "total" not in arena:
            raise TinymlError("TFLM interpreter did not report its arena allocation")
        return TflmResult(np.load(folder / "outputs.npy"), arena["total"], arena.get("head", 0),
                          arena.get("tail", 0))


def _child(folder: Path, arena_size: int) -> None:
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes((folder / "model.tflite").read_bytes(),
                                                 arena_size=arena_size)
    inputs = np.load(folder / "inputs.npy")
    outputs = []
    for x in inputs:
        interpreter.set_input(x[None], 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0))[0])
    np.save(folder / "outputs.npy", np.stack(outputs) if outputs else np.zeros((0,), np.int8))
    sys.stdout.flush()
    interpreter.print_allocations()


if __name__ == "__main__":
    _child(Path(sys.argv[1]), int(sys.argv[2]))
