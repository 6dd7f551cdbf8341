"""Seeded, bounded fuzzing of the `tinyml` CLI: mutated example configs of every command, mutated MCU
profiles, and corrupted .tflite files, each run through the real entry point (``cli.main``) in this
process under a time and memory guard, and classified by how it ended.

A case ends well when it exits 0 (the mutation was harmless), or 2 or 3 with exactly one short
error line on stderr, the last (after any progress lines the command printed before it failed), no
warning and no traceback; a command still working when its time is up counts as harmless when it
had written its run folder's config.yaml (it was past checking its input), else as a hang.

Used by tests/test_fuzz.py and scripts/fuzz.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import signal
import struct
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import tflite
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
PROFILES = ROOT / "tinyml_cli" / "mcu" / "profiles"
MLPERF = Path("/work/shared/models/mlperf_tiny")
MAX_LINE = 400                     # a "short" error line
MEMORY_HEADROOM = 3 << 30          # address space a case may add to the process


@dataclass
class Case:
    """One input: the argv after `tinyml`, files to write first (name -> bytes), and what was done."""

    argv: list[str]
    files: dict[str, bytes]
    what: str
    out: str | None = None         # the run folder it would create (None: it creates none)


@dataclass
class Outcome:
    case: Case
    kind: str                      # clean, harmless, internal, bad-message, runtime, hang
    rc: int | None
    stderr: str


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(o.kind for o in self.outcomes)

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind not in ("clean", "harmless")]

    def summary(self) -> str:
        c = self.counts
        return (f"inputs tried {len(self.outcomes)}, clean errors {c['clean']}, harmless {c['harmless']}, "
                f"internal errors {c['internal']}, bad messages {c['bad-message']}, runtime failures "
                f"{c['runtime']}, hangs {c['hang']}")


# ---- config mutations ---------------------------------------------------------------------------------

def example_configs() -> list[tuple[str, Path]]:
    """(command, file) for every example config: search, simulate-drift, adapt, estimate (arch)."""
    commands = {"search": "search", "drift": "simulate-drift", "adapt": "adapt", "arch": "estimate"}
    return [(commands[p.parent.name], p) for p in sorted(CONFIGS.glob("*/*.yaml"))]


RAW_VALUES = [".inf", "-.inf", ".nan", "1" + "0" * 5000, "-7", "0", "1.0e+18", "1000000000000000000",
              "2147483647", "-1.0e+308", "'" + "A" * 100_000 + "'", "[" * 200 + "1" + "]" * 200,
              "[&a0 [x, x, x, x, x, x, x, x, x], " + ", ".join(f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]"
                                                               for i in range(1, 9)) + "]",
              "{name: [plain]}", "[plain]", "!!binary AAAA", "2024-13-45", "!!python/object:os.system {}",
              "? [a, b]\n  : 1", "~", "true", "''", "'[/x] [bold]'"]
BAD_BYTES = [b"\xff\xfe", b"\x80", b"\x00", b"\xc3\x28", b"\xed\xa0\x80"]


def _paths(node: object, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key path (dict keys and list indices) of a YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _parent(doc: object, path: tuple) -> object:
    for k in path[:-1]:
        doc = doc[k]
    return doc


def mutate_config(text: str, rng: np.random.Generator) -> tuple[bytes, str, list[str]]:
    """A mutated config text, what was done, and any override arguments to add to the command line."""
    op = rng.choice(["delete", "duplicate", "retype", "raw", "raw", "raw", "unknown", "bytes",
                     "override", "deep", "longkey"])
    doc = yaml.safe_load(text) or {}
    paths = list(_paths(doc))
    path = paths[rng.integers(len(paths))] if paths else ("name",)
    where = ".".join(str(p) for p in path)
    if op == "bytes":
        data = text.encode()
        at = int(rng.integers(len(data) + 1))
        bad = BAD_BYTES[rng.integers(len(BAD_BYTES))]
        return data[:at] + bad + data[at:], f"bytes {bad!r} at {at}", []
    if op == "override":
        raw = RAW_VALUES[rng.integers(len(RAW_VALUES))]
        return text.encode(), f"override {where}={raw[:30]}", [f"{where}={raw}"] if all(
            isinstance(p, str) for p in path) else [f"name={raw}"]
    parent = _parent(doc, path) if paths else doc
    key = path[-1]
    if op == "delete" and paths:
        del parent[key]
    elif op == "duplicate" and isinstance(parent, dict):
        parent[str(key)[::-1] + "x"] = parent[key]
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(parent[key])
    elif op == "retype":
        options = [[parent[key]], {"x": parent[key]}, "text", None, True, 3, 2.5, -1, {}]
        parent[key] = options[rng.integers(len(options))]
    elif op == "unknown" and isinstance(parent, dict):
        parent["bogus_" + str(key)] = 1
    elif op == "deep":
        value: object = 1
        for _ in range(int(rng.integers(20, 400))):
            value = [value] if rng.random() < 0.5 else {"k": value}
        parent[key] = value
    elif op == "longkey" and isinstance(parent, dict):
        parent["k" * int(rng.integers(1000, 200_000))] = 1
    else:
        raw = RAW_VALUES[rng.integers(len(RAW_VALUES))]
        parent[key] = "__RAW__"
        dumped = yaml.safe_dump(doc, sort_keys=False, width=10**9)
        return dumped.replace("__RAW__", raw, 1).encode(), f"{where} = {raw[:30]}", []
    try:
        dumped = yaml.safe_dump(doc, sort_keys=False, width=10**9)
    except RecursionError:
        dumped = text
    return dumped.encode(), f"{op} {where}", []


def config_cases(rng: np.random.Generator, n: int) -> list[Case]:
    """``n`` mutated configs, cycling over every example config and the built-in MCU profiles."""
    sources = example_configs() + [("profile", p) for p in sorted(PROFILES.glob("*.yaml"))]
    arch = str(CONFIGS / "arch" / "plain_mnist1d.yaml")
    cases = []
    for i in range(n):
        command, path = sources[i % len(sources)]
        data, what, extra = mutate_config(path.read_text(), rng)
        name = f"case{i}_{path.name}"
        file, out = f"{{work}}/{name}", "{work}/run"
        if command == "profile":
            argv, out = ["estimate", arch, "--mcu", file, *extra], None
        elif command == "estimate":
            argv, out = ["estimate", file, *extra], None
        elif command == "adapt":
            methods = (yaml.safe_load(path.read_text()) or {}).get("methods") or {"none": {}}
            argv = ["adapt", file, "--method", str(next(iter(methods))).split(":")[0], "--out", out, *extra]
        else:
            argv = [command, file, "--out", out, *extra]
        cases.append(Case(argv, {name: data}, f"{command} {path.relative_to(ROOT)}: {what}", out))
    return cases


# ---- .tflite corruptions ------------------------------------------------------------------------------

def _vector_start(table: object, slot: int) -> int | None:
    """Byte position of the first element of a table's vector field (vtable slot offset), or None."""
    o = table._tab.Offset(slot)
    return table._tab.Vector(o) if o else None


def _field_pos(table: object, slot: int) -> int | None:
    o = table._tab.Offset(slot)
    return table._tab.Pos + o if o else None


def field_edits(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One edit of a parsed field: a shape dimension, a shape vector's length, a tensor's type or
    buffer, an operator's opcode index, a padding or activation enum."""
    buf = bytearray(data)
    model = tflite.Model.GetRootAs(buf, 0)
    sg = model.Subgraphs(0)
    tensor = sg.Tensors(int(rng.integers(sg.TensorsLength())))
    op = sg.Operators(int(rng.integers(sg.OperatorsLength())))
    edit = rng.choice(["dim", "dim", "rank0", "type", "buffer", "opcode", "enum"])
    if edit in ("dim", "rank0"):
        start = _vector_start(tensor, 4)
        if start is not None and tensor.ShapeLength():
            if edit == "rank0":
                struct.pack_into("<I", buf, start - 4, 0)
                return bytes(buf), "empty shape vector"
            value = int(rng.choice([2**31 - 1, 0, -1, 65536, 3]))
            struct.pack_into("<i", buf, start + 4 * int(rng.integers(tensor.ShapeLength())), value)
            return bytes(buf), f"shape dim = {value}"
    if edit == "type" and (pos := _field_pos(tensor, 6)) is not None:
        buf[pos] = int(rng.choice([19, 99, 255]))
        return bytes(buf), f"tensor type = {buf[pos]}"
    if edit == "buffer" and (pos := _field_pos(tensor, 8)) is not None:
        struct.pack_into("<I", buf, pos, int(rng.choice([model.BuffersLength(), 2**31, 2**32 - 1])))
        return bytes(buf), "buffer index out of range"
    if edit == "opcode" and (pos := _field_pos(op, 4)) is not None:
        struct.pack_into("<I", buf, pos, int(rng.choice([model.OperatorCodesLength(), 999, 2**32 - 1])))
        return bytes(buf), "opcode index out of range"
    if edit == "enum" and op.BuiltinOptions() is not None:
        table = op.BuiltinOptions()
        # first two scalar slots of most options tables: Padding / FusedActivationFunction
        for slot in (4, 6, 10, 12):
            o = table.Offset(slot)
            if o:
                buf[table.Pos + o] = int(rng.choice([2, 7, 200]))
                return bytes(buf), f"options slot {slot} = {buf[table.Pos + o]}"
    return bit_flips(data, rng)


def bit_flips(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    buf = bytearray(data)
    k = int(rng.integers(1, 9))
    for _ in range(k):
        i = int(rng.integers(8, len(buf)))
        buf[i] ^= 1 << int(rng.integers(8))
    return bytes(buf), f"{k} bit flip(s)"


def corrupt_tflite(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    kind = rng.choice(["flip", "flip", "truncate", "word", "field", "field", "field"])
    if kind == "truncate":
        n = int(rng.integers(0, len(data)))
        return data[:n], f"truncated to {n} bytes"
    if kind == "word":
        buf = bytearray(data)
        i = int(rng.integers(8, len(buf) - 4)) & ~3
        value = int(rng.choice([0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0, len(data)]))
        struct.pack_into("<I", buf, i, value)
        return bytes(buf), f"word at {i} = {value:#x}"
    if kind == "field":
        return field_edits(data, rng)
    return bit_flips(data, rng)


def tflite_sources() -> list[tuple[str, bytes]]:
    """The MLPerf Tiny models (when present) and a small conv model from the project's writer."""
    from tinyml_cli.tflite.writer import OperatorSpec, TensorSpec, build_model, options

    i8 = tflite.TensorType.INT8
    q = {"scale": np.array([0.05]), "zero_point": np.array([0])}
    tensors = [TensorSpec("x", (1, 8, 8, 2), i8, **q),
               TensorSpec("w", (4, 3, 3, 2), i8, np.ones(72, np.int8).tobytes(), **q),
               TensorSpec("b", (4,), tflite.TensorType.INT32, np.zeros(4, np.int32).tobytes()),
               TensorSpec("y", (1, 8, 8, 4), i8, **q)]
    conv = build_model(tensors, [OperatorSpec("CONV_2D", [0, 1, 2], [3], options("Conv2DOptions", {
        "Padding": 1, "StrideW": 1, "StrideH": 1, "FusedActivationFunction": 1}))], [0], [3])
    found = [(p.name, p.read_bytes()) for p in sorted(MLPERF.glob("*.tflite"))]
    return found + [("conv.tflite", conv)]


def tflite_cases(rng: np.random.Generator, n: int) -> list[Case]:
    sources = tflite_sources()
    cases = []
    for i in range(n):
        name, data = sources[i % len(sources)]
        bad, what = corrupt_tflite(data, rng)
        file = f"case{i}_{name}"
        cases.append(Case(["estimate", f"{{work}}/{file}"], {file: bad}, f"estimate {name}: {what}"))
    return cases


# ---- running ----------------------------------------------------------------------------------------------

class _TimeUp(BaseException):
    """Raised in the main thread when a case's time is up (not an Exception: nothing may catch it)."""


@contextlib.contextmanager
def guard(seconds: float, stop: Callable[[], bool] | None = None) -> Iterator[None]:
    """At most ``seconds`` of wall time and MEMORY_HEADROOM more address space; _TimeUp when the time
    is up, or as soon as ``stop()`` is true (polled every 0.1 s)."""
    deadline = time.monotonic() + seconds

    def on_alarm(signum: int, frame: object) -> None:
        if time.monotonic() >= deadline or (stop is not None and stop()):
            signal.setitimer(signal.ITIMER_REAL, 0)
            raise _TimeUp()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = used + MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, previous)


def run_case(case: Case, work: Path, seconds: float, stop_past_checks: bool = False) -> Outcome:
    """Write the case's files under ``work``, run `tinyml ARGV` in this process, classify the end.
    With ``stop_past_checks`` a command is stopped as soon as its run folder has its config.yaml
    (it has read and checked its input; what follows is the work itself)."""
    from tinyml_cli.cli import main

    for name, data in case.files.items():
        (work / name).write_bytes(data)
    argv = [a.replace("{work}", str(work)) for a in case.argv]
    err, out = io.StringIO(), io.StringIO()
    rc: int | None = None
    env = {k: os.environ.pop(k) for k in ("TINYML_DEBUG",) if k in os.environ}
    run_config = Path(case.out.replace("{work}", str(work))) / "config.yaml" if case.out else None
    stop = run_config.exists if stop_past_checks and run_config is not None else None
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), guard(seconds, stop):
            try:
                main(argv)
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 0
    except _TimeUp:
        past = run_config is not None and run_config.exists()
        return Outcome(case, "harmless" if past else "hang", None, err.getvalue())
    finally:
        os.environ.update(env)
    text = err.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    if rc == 0:
        kind = "harmless"
    elif "internal error" in text or "Traceback" in text:
        kind = "internal"
    elif rc in (2, 3):
        errors = [line for line in lines if line.startswith("error:")]
        noisy = any("warning" in line.lower() for line in lines)
        one = len(errors) == 1 and lines[-1] == errors[0] and len(errors[0]) <= MAX_LINE
        kind = "clean" if one and not noisy else "bad-message"
    else:
        kind = "runtime"
    return Outcome(case, kind, rc, text)


def warm_up() -> None:
    """Import what the commands import, outside any guard: an import cut short by the time guard
    would leave a module (torch) half made for every later case."""
    import importlib

    for name in ("torch", "torch._dynamo", "optuna", "sklearn.linear_model", "sklearn.svm", "matplotlib.pyplot",
                 "tinyml_cli.cli", "tinyml_cli.search", "tinyml_cli.search.driver", "tinyml_cli.adapt.commands",
                 "tinyml_cli.estimate.target", "tinyml_cli.train.loop", "tinyml_cli.data", "tinyml_cli.drift.stream"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def run_cases(cases: list[Case], seconds: float, progress: Callable[[Outcome], None] | None = None,
              stop_past_checks: bool = False) -> Tally:
    warm_up()
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="tinyml-fuzz-") as tmp:
        for i, case in enumerate(cases):
            work = Path(tmp) / f"c{i}"
            work.mkdir()
            outcome = run_case(case, work, seconds, stop_past_checks)
            tally.outcomes.append(outcome)
            if progress:
                progress(outcome)
    return tally
