"""The generated library compiled with the host's C compiler and run in this process (ctypes): how
the engine is checked against TFLM-host.

>>> import numpy as np, torch, tempfile, pathlib
>>> from tinyml_cli.arch.graph import GraphBuilder
>>> from tinyml_cli.engine.codegen import generate
>>> from tinyml_cli.export.quantize import FoldedModule, quantize
>>> from tinyml_cli.train.builder import build_module
>>> b = GraphBuilder((4, 4, 1)); _ = b.softmax(b.fully_connected(b.mean(b.conv(b.input, 2, 3)), 3))
>>> _ = torch.manual_seed(0)
>>> q = quantize(FoldedModule.from_module(build_module(b.finish()).eval()), np.ones((2, 4, 4, 1), np.float32))
>>> with tempfile.TemporaryDirectory() as tmp:
...     engine = HostEngine.build(generate(q), pathlib.Path(tmp))
...     engine.run(np.zeros((2, 4, 4, 1), np.int8)).shape
(2, 3)
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from dataclasses import dataclass
from math import prod
from pathlib import Path

import numpy as np

from ..errors import EngineError
from .codegen import DEFAULT_PREFIX, EngineLibrary

HOST_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC", "-shared")


def write_library(lib: EngineLibrary, folder: Path) -> list[Path]:
    """Write the library's files into ``folder``; returns its C sources."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in lib.files.items():
        (folder / name).write_text(text)
    return sorted(folder / name for name in lib.files if name.endswith(".c"))


def host_compiler() -> str:
    """The C compiler to build with: ``$CC``, else ``cc`` or ``gcc`` on the PATH."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    raise EngineError("no C compiler found to check the C engine on this machine (set CC)")


@dataclass
class HostEngine:
    """The library loaded as a shared object, its output size and its names' prefix."""

    dll: ctypes.CDLL
    output_size: int
    prefix: str = DEFAULT_PREFIX

    @classmethod
    def build(cls, lib: EngineLibrary, folder: Path) -> "HostEngine":
        """Compile the library into ``folder`` (warnings are errors) and load it."""
        return cls.compile(write_library(lib, folder), folder, prod(lib.output_shape), lib.prefix)

    @classmethod
    def compile(cls, sources: list[Path], folder: Path, output_size: int,
                prefix: str = DEFAULT_PREFIX) -> "HostEngine":
        """Compile a library's C ``sources`` (as written, e.g. an export's ``engine/``; several
        models' too, then one HostEngine per prefix over the same object) into ``folder`` and load
        it; ``output_size``: the bytes ``tinyml_invoke`` writes."""
        folder.mkdir(parents=True, exist_ok=True)
        shared = folder / "libtinyml.so"
        proc = subprocess.run([host_compiler(), *HOST_FLAGS, "-o", str(shared), *map(str, sources)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["(no message)"])[0]
            raise EngineError(f"the generated C engine does not compile: {detail}")
        return cls(ctypes.CDLL(str(shared)), output_size, prefix)

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """``tinyml_invoke`` once per int8 input (leading batch axis); the outputs, flattened."""
        return self._each("invoke", np.asarray(inputs, np.int8), np.int8)

    def run_float(self, inputs: np.ndarray) -> np.ndarray:
        """``tinyml_invoke_float`` once per float32 input (leading batch axis); the outputs, flattened."""
        return self._each("invoke_float", np.asarray(inputs, np.float32), np.float32)

    def _each(self, function: str, inputs: np.ndarray, dtype: type) -> np.ndarray:
        name = f"{self.prefix}_{function}"
        invoke = getattr(self.dll, name)
        outputs = np.zeros((len(inputs), self.output_size), dtype)
        for x, out in zip(inputs, outputs):
            x = np.ascontiguousarray(x)
            status = invoke(x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p))
            if status != 0:
                raise EngineError(f"{name} returned {status}")
        return outputs
