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
_REQUIRED_LINE = re.compile(r"^REQUIRED (\d+)$", re.M)
_TRY_LINE = re.compile(r"^TRY (\d+)$", re.M)
# Arena sizes at which TFLM's allocator crashes the child (segfault) that a search may step over.
MAX_CRASHES = 16


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


def required_arena(model: bytes, used: int, step: int = 16, timeout: float = 600.0) -> int:
    """The smallest arena (to ``step`` bytes) TFLM accepts for the model. It can exceed the ``used``
    bytes TFLM reports: planning needs temporary memory (an AllocationInfo per tensor and the
    planner's per-buffer records) that is freed before the report, and matters for small models.
    Searched in a child process, starting from ``used``. Some arena sizes just too small crash
    TFLM's allocator instead of failing cleanly: such a size counts as too small, and the search
    runs again in a fresh child that skips it."""
    from ..errors import TinymlError

    with tempfile.TemporaryDirectory(prefix="tinyml-tflm-") as tmp:
        folder = Path(tmp)
        (folder / "model.tflite").write_bytes(model)
        crashed: list[str] = []
        for _ in range(MAX_CRASHES + 1):
            cmd = [sys.executable, str(Path(__file__).resolve()), str(folder), str(int(used)), str(step),
                   ",".join(crashed)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise TinymlError(f"TFLM arena search did not finish within {timeout:.0f} s") from None
            tried = _TRY_LINE.findall(proc.stdout)
            if proc.returncode >= 0 or not tried:
                break
            crashed.append(tried[-1])
        found = _REQUIRED_LINE.search(proc.stdout)
        if proc.returncode != 0 or not found:
            raise TinymlError(f"TFLM cannot allocate the model in up to {4 * used + (1 << 16)} "
                              f"bytes of arena (exit {proc.returncode})")
        return int(found.group(1))


def _search_arena(folder: Path, used: int, step: int, crashed: set[int]) -> None:
    """Child side of required_arena: widen past ``used`` until TFLM allocates, then bisect. Each
    size is announced before it is tried, so the parent knows which one crashed; sizes in
    ``crashed`` count as too small untried."""
    from tflite_micro.python.tflite_micro import runtime

    model = (folder / "model.tflite").read_bytes()

    def allocates(arena_size: int) -> bool:
        if arena_size in crashed:
            return False
        print(f"TRY {arena_size}", flush=True)
        try:
            runtime.Interpreter.from_bytes(model, arena_size=arena_size)
        except RuntimeError:
            return False
        return True

    low, gap = used - 1, 0
    while not allocates(used + gap):
        low = used + gap
        gap = max(step, gap * 4)
        if gap > 4 * used + (1 << 16):
            sys.exit(1)
    high = used + gap
    while high - low > step:
        mid = (low + high) // 2
        low, high = (low, mid) if allocates(mid) else (mid, high)
    print(f"REQUIRED {high}")


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
    if len(sys.argv) == 5:
        _search_arena(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                      {int(n) for n in sys.argv[4].split(",") if n})
    else:
        _child(Path(sys.argv[1]), int(sys.argv[2]))
