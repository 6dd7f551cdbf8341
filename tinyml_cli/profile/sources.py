"""The TensorFlow Lite Micro and CMSIS-NN source tree the firmware is built from.

Two ways to supply it, checked in this order:

- ``TINYML_TFLM_DIR``: a tflite-micro checkout whose third-party trees are already in
  ``tensorflow/lite/micro/tools/make/downloads/`` (what TFLM's own make flow downloads: flatbuffers,
  gemmlowp, ruy, kissfft, cmsis with Cortex_DFP, cmsis_nn);
- ``TINYML_VENDOR_DIR`` (default: the nearest ``shared/vendor`` beside the project or above it,
  where this workplace keeps them): ``git archive`` tarballs of those projects at the revisions TFLM pins (see that folder's
  README). They are unpacked once into the cache, laid out as TFLM's make flow lays them out, with
  TFLM's patches to flatbuffers and kissfft applied.

The cache lives in ``TINYML_CACHE_DIR`` (default ``~/.cache/tinyml``), keyed by the tarballs' digest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import TinymlError

# tarball stem -> its folder under TFLM's downloads/ (None: the TFLM tree itself)
VENDORED = {
    "tensorflow+tflite-micro": None,
    "google+flatbuffers": "flatbuffers",
    "google+gemmlowp": "gemmlowp",
    "google+ruy": "ruy",
    "mborgerding+kissfft": "kissfft",
    "ARM-software+CMSIS_6": "cmsis",
    "ARM-software+Cortex_DFP": "cmsis/Cortex_DFP",
    "ARM-software+CMSIS-NN": "cmsis_nn",
}
DOWNLOADS = Path("tensorflow/lite/micro/tools/make/downloads")
# TFLM's patches to its third-party trees (tools/make/*download*.sh apply them)
PATCHES = {"flatbuffers": "tensorflow/lite/micro/tools/make/flatbuffers.patch",
           "kissfft": "third_party/kissfft/kissfft.patch"}


class SourcesError(TinymlError):
    """The TFLM / CMSIS-NN sources cannot be found or unpacked."""

    exit_code = 2


@dataclass(frozen=True)
class SourceTree:
    """A ready TFLM tree: its root, the digest naming it, and its third-party folders."""

    root: Path
    digest: str

    @property
    def downloads(self) -> Path:
        """TFLM's third-party folder."""
        return self.root / DOWNLOADS

    def include_dirs(self) -> list[Path]:
        """The include path TFLM's Makefile and cmsis_nn.inc give the compiler."""
        d = self.downloads
        return [self.root, d, d / "gemmlowp", d / "flatbuffers" / "include", d / "kissfft", d / "ruy",
                d / "cmsis", d / "cmsis_nn", d / "cmsis" / "CMSIS" / "Core" / "Include", d / "cmsis_nn" / "Include"]


def cache_dir() -> Path:
    """Where built trees, objects and tools are cached (``TINYML_CACHE_DIR`` or ~/.cache/tinyml)."""
    return Path(os.environ.get("TINYML_CACHE_DIR", Path.home() / ".cache" / "tinyml"))


def default_vendor_dir() -> Path:
    """The nearest ``shared/vendor`` beside the project or a folder above it (this workplace's
    offline copies), else where it would be beside the project."""
    project = Path(__file__).resolve().parents[2]
    for folder in project.parents:
        if (folder / "shared" / "vendor").is_dir():
            return folder / "shared" / "vendor"
    return project.parent / "shared" / "vendor"


def source_tree() -> SourceTree:
    """The TFLM tree to build from: ``TINYML_TFLM_DIR`` as it is, else the vendored tarballs
    unpacked (once) into the cache."""
    checkout = os.environ.get("TINYML_TFLM_DIR")
    if checkout:
        root = Path(checkout)
        missing = [name for name in set(VENDORED.values()) if name and not (root / DOWNLOADS / name).is_dir()]
        if not (root / "tensorflow" / "lite" / "micro").is_dir() or missing:
            raise SourcesError(f"TINYML_TFLM_DIR={checkout}: not a tflite-micro checkout with its third-party "
                               f"trees in {DOWNLOADS} (missing: {', '.join(sorted(missing)) or 'tensorflow/lite/micro'})")
        return SourceTree(root, "checkout-" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12])
    vendor = Path(os.environ.get("TINYML_VENDOR_DIR", default_vendor_dir()))
    tarballs = {stem: vendor / f"{stem}.tar.xz" for stem in VENDORED}
    missing = [path.name for path in tarballs.values() if not path.is_file()]
    if missing:
        raise SourcesError(f"TFLM sources not found: {vendor} lacks {', '.join(missing)}; set TINYML_VENDOR_DIR "
                           "to a folder of those tarballs or TINYML_TFLM_DIR to a prepared tflite-micro checkout")
    digest = _digest(tarballs.values())
    root = cache_dir() / "src" / f"tflm-{digest}"
    if not (root / ".complete").is_file():
        _unpack(tarballs, root)
    return SourceTree(root, digest)


def _digest(paths) -> str:
    """sha256 over the tarballs' names and contents, 16 hex digits."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.name.encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _unpack(tarballs: dict[str, Path], root: Path) -> None:
    """Unpack every tarball where TFLM's make flow expects it, apply TFLM's patches, then mark
    the tree complete (an interrupted unpack is redone)."""
    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for stem, folder in sorted(VENDORED.items(), key=lambda item: item[1] or ""):
        target = staging if folder is None else staging / DOWNLOADS / folder
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarballs[stem]) as archive:
            archive.extractall(target, filter="data")
    for folder, patch in PATCHES.items():
        done = subprocess.run(["patch", "-p1", "-s", "-i", str(staging / patch)], cwd=staging / DOWNLOADS / folder,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SourcesError(f"applying {patch} to {folder} failed: {(done.stdout + done.stderr).strip()[:300]}")
    (staging / ".complete").write_text("unpacked\n")
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
