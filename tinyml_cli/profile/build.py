"""TensorFlow Lite Micro compiled for a Cortex-M core, object by object, cached.

The flags are those of TFLM's ``cortex_m_qemu`` make target (``tools/make/Makefile``,
``targets/cortex_m_qemu_makefile.inc``, ``ext_libs/cmsis_nn.inc``) with ``BUILD_TYPE=release_with_logs``:
the framework at ``-Os``, kernels and CMSIS-NN at ``-O2``, C++17 without RTTI or exceptions,
``TF_LITE_STATIC_MEMORY``. With ``kernels="cmsis_nn"`` a kernel in ``kernels/cmsis_nn/`` replaces the
reference one of the same name (TFLM's ``specialize_files.py``) and CMSIS-NN's C sources join.

Only what a model needs is compiled: the framework, the kernels' shared helpers, and the kernels
registering the model's builtins. Each object is cached under
``<cache>/tflm/<tree digest>-<flags digest>/``, so a new model compiles only its new kernels and a
change of revision, compiler or flags builds afresh.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..errors import TinymlError
from .qemu import require
from .sources import SourceTree, cache_dir

MICRO = Path("tensorflow/lite/micro")
KERNELS = MICRO / "kernels"
WARNINGS = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-type-limits"]
COMMON = ["-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-ffunction-sections", "-fdata-sections",
          "-fmessage-length=0", "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DNDEBUG",
          "-DTF_LITE_MCU_DEBUG_LOG", "-funsigned-char", "-mlittle-endian", "-fomit-frame-pointer",
          "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0"]
CXX_ONLY = ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics"]
C_ONLY = ["-std=c17"]
CORE_OPT, KERNEL_OPT = "-Os", "-O2"
# the framework's files the firmware replaces: logging (muted while the smallest arena is searched)
REPLACED = {"debug_log.cc"}
# kernel helpers every model needs, and those a kernel needs beyond its own <name>_common.cc
GENERAL_HELPERS = ("kernel_util.cc", "micro_tensor_utils.cc")
HELPERS = {"unidirectional_sequence_lstm": ("lstm_eval.cc", "lstm_eval_common.cc"),
           "activations": ("activations_common.cc",)}
_REGISTERS = re.compile(r"^TFLMRegistration\s*\*?\s*Register_([A-Z0-9_]+)\s*\(\s*\)\s*\{", re.M)


class BuildError(TinymlError):
    """A TFLM source or the firmware did not compile or link."""

    exit_code = 1


@dataclass(frozen=True)
class Library:
    """TFLM built for one core and kernel set: its tree, compile flags and object folder."""

    tree: SourceTree
    arch_flags: tuple[str, ...]
    kernels: str                       # "cmsis_nn" or "reference"

    @property
    def defines(self) -> list[str]:
        return ["-DCMSIS_NN"] if self.kernels == "cmsis_nn" else []

    def includes(self) -> list[str]:
        return [f"-I{path}" for path in self.tree.include_dirs()]

    def cxx_flags(self, opt: str = CORE_OPT, includes: bool = True) -> list[str]:
        """Flags for a C++ file of the framework (``-Os``) or a kernel (``-O2``)."""
        return [*self.arch_flags, *CXX_ONLY, *COMMON, *WARNINGS, *self.defines, opt,
                *(self.includes() if includes else [])]

    def c_flags(self, opt: str = KERNEL_OPT, includes: bool = True) -> list[str]:
        return [*self.arch_flags, *C_ONLY, *COMMON, *WARNINGS, *self.defines, opt,
                *(self.includes() if includes else [])]

    @property
    def folder(self) -> Path:
        """The object cache of this tree (by its digest, wherever it lies), compiler and flags."""
        key = [compiler_version(), self.kernels, *self.cxx_flags(CORE_OPT, False), *self.cxx_flags(KERNEL_OPT, False),
               *self.c_flags(KERNEL_OPT, False)]
        return cache_dir() / "tflm" / f"{self.tree.digest}-{hashlib.sha256(chr(0).join(key).encode()).hexdigest()[:12]}"

    def sources(self, builtins: set[str], all_helpers: bool = False) -> tuple[list[Path], list[str]]:
        """The sources (relative to the tree) a model with these builtins needs, and the builtins
        TFLM has no kernel for. Helpers: each kernel's ``<name>_common.cc`` and those ``HELPERS``
        names, or with ``all_helpers`` every kernel file registering no builtin (for a kernel
        whose needs that rule misses: see ``firmware.build_firmware``)."""
        registering, helpers = kernel_files(self.tree.root, self.kernels)
        kernels, missing = set(), []
        for builtin in sorted(builtins):
            if builtin in registering:
                kernels.add(registering[builtin])
            else:
                missing.append(builtin)
        if not all_helpers:
            wanted = set(GENERAL_HELPERS) | {f"{k.stem}_common.cc" for k in kernels}
            wanted |= {name for k in kernels for name in HELPERS.get(k.stem, ())}
            helpers = [h for h in helpers if h.name in wanted]
        cmsis = sorted(p.relative_to(self.tree.root) for p in (self.tree.downloads / "cmsis_nn" / "Source").rglob("*.c")
                       if not p.name.endswith(("_f16.c", "_f32.c")) and p.name != "arm_nntables_flt.c"
                       ) if self.kernels == "cmsis_nn" else []
        return [*framework_files(self.tree.root), *helpers, *sorted(kernels), *cmsis], missing

    def objects(self, builtins: set[str], all_helpers: bool = False, jobs: int | None = None) -> list[Path]:
        """The object files for a model with these builtins, compiling those not cached yet."""
        sources, missing = self.sources(builtins, all_helpers)
        if missing:
            raise BuildError(f"TFLM has no kernel registering {', '.join(missing)}")
        todo = [(src, self.object_path(src)) for src in sources]
        pending = [(src, obj) for src, obj in todo if not obj.is_file()]
        if pending:
            with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
                list(pool.map(lambda item: self.compile(*item), pending))
        return [obj for _, obj in todo]

    def object_path(self, source: Path) -> Path:
        return self.folder / "obj" / source.with_suffix(source.suffix + ".o")

    def compile(self, source: Path, obj: Path) -> None:
        """Compile one source into its cached object (written under a temporary name first)."""
        is_kernel = source.parts[:len(KERNELS.parts)] == KERNELS.parts or source.suffix == ".c"
        if source.suffix == ".c":
            cmd = ["arm-none-eabi-gcc", *self.c_flags()]
        else:
            cmd = ["arm-none-eabi-g++", *self.cxx_flags(KERNEL_OPT if is_kernel else CORE_OPT)]
        obj.parent.mkdir(parents=True, exist_ok=True)
        partial = obj.with_name(obj.name + f".{os.getpid()}.tmp")
        done = subprocess.run([*cmd, "-c", str(self.tree.root / source), "-o", str(partial)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            first = next((line for line in done.stderr.splitlines() if "error" in line), done.stderr.strip()[:300])
            raise BuildError(f"compiling {source} for {' '.join(self.arch_flags)} failed: {first}")
        partial.replace(obj)


def framework_files(root: Path) -> list[Path]:
    """TFLM's framework: micro/ and its allocator, planner and bridge folders, and the TFLite
    sources it shares (``TFL_CC_SRCS`` in ``tools/make/sources.inc``), without tests."""
    files = []
    for folder in (MICRO, MICRO / "arena_allocator", MICRO / "memory_planner", MICRO / "tflite_bridge"):
        files += [p for p in (root / folder).glob("*.cc") if not p.name.endswith("_test.cc")
                  and p.name not in REPLACED and not p.name.startswith(("test_helper", "mock_", "fake_"))]
    for p in (root / "tensorflow").rglob("*.c*"):
        rel = p.relative_to(root)
        if p.suffix in (".cc", ".c") and not rel.is_relative_to("tensorflow/lite/micro") \
                and not rel.is_relative_to("tensorflow/lite/experimental") and rel.name != "array.cc" \
                and not rel.name.endswith("_test.cc"):
            files.append(p)
    return sorted(p.relative_to(root) for p in files)


@cache
def kernel_files(root: Path, kernels: str) -> tuple[dict[str, Path], list[Path]]:
    """TFLM's kernels (CMSIS-NN's replacing reference ones of the same name): the file registering
    each builtin (``Register_<BUILTIN>()``), and the helper files registering none."""
    chosen = {p.name: p for p in (root / KERNELS).glob("*.cc") if not p.name.endswith("_test.cc")}
    if kernels == "cmsis_nn":
        chosen.update({p.name: p for p in (root / KERNELS / "cmsis_nn").glob("*.cc")})
    registering, helpers = {}, []
    for path in chosen.values():
        names = _REGISTERS.findall(path.read_text(errors="replace"))
        rel = path.relative_to(root)
        if names:
            for name in names:
                registering.setdefault(name, rel)
        elif not path.name.startswith(("decode", "decompress", "ethosu", "kernel_runner")) \
                and not path.name.endswith("_test_common.cc"):
            helpers.append(rel)
    return registering, sorted(helpers)


@cache
def compiler_version() -> str:
    """``arm-none-eabi-g++ --version``'s first line; a ToolchainError when the toolchain is missing."""
    compiler = require("arm-none-eabi-g++")
    return subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
