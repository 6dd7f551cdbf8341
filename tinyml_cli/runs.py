"""Run directories: creation, resume, atomic writes and the manifest.

A command writes into ``runs/<command>-<name>-<YYYYmmdd-HHMMSS>/`` (or ``--out DIR``). Files are
written to a temporary name and renamed, so an interrupted command never leaves a half file, and an
existing run directory is never overwritten: ``--resume DIR`` continues one. :func:`run_folder` is
the one way a command opens its folder: create (or resume), manifest, config.yaml, log, and a final
status that always ends in ``ok``, ``failed`` or ``interrupted`` (a full or read-only disk
included, with one clear line).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from . import __version__
from .errors import RunDirError, SaveError

MANIFEST = "manifest.json"


# What a disk that cannot take a file says, in words for the user.
DISK_ERRORS = {errno.ENOSPC: "no space left on the device (disk full)",
               errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system",
               errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
               errno.ENOTDIR: "a parent is a file, not a folder", errno.EIO: "input/output error"}


_UMASK = os.umask(0o022)
os.umask(_UMASK)


def disk_error(path: str | Path, exc: OSError, doing: str = "cannot save") -> SaveError:
    """The one-line error for an ``OSError`` while writing ``path``."""
    reason = DISK_ERRORS.get(exc.errno or 0, exc.strerror or str(exc))
    return SaveError(f"{path}: {doing}: {reason}")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync and a rename:
    afterwards ``path`` holds the complete new file, or (when anything fails) the complete old file
    or nothing, and no temporary file is left. A disk error becomes a :class:`SaveError`."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_UMASK)   # mkstemp makes 0600; a saved file gets what open() would give
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise disk_error(path, exc) from None
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text atomically."""
    return atomic_write_bytes(path, text.encode())


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (indented, keys in insertion order)."""
    return atomic_write_text(path, to_json(data))


def write_yaml(path: str | Path, data: Any) -> Path:
    """Write YAML atomically."""
    return atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def to_json(data: Any) -> str:
    """The JSON text every file and ``--json`` output uses: indented, numpy scalars and arrays and
    paths converted, a final newline.

    >>> import numpy as np
    >>> to_json({"n": np.int64(3), "p": Path("a/b")})
    '{\\n  "n": 3,\\n  "p": "a/b"\\n}\\n'
    """
    return json.dumps(data, indent=2, default=_jsonable) + "\n"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


def check_out(out: str | Path | None, resumable: bool = False, base: str | Path = "runs") -> None:
    """Refuse, before any work is done, an ``--out`` that exists and is not an empty folder, or a
    run folder (``out``, else one under ``base``) that cannot be created there."""
    path = Path(out) if out is not None else Path(base)
    if out is not None and path.exists() and (not path.is_dir() or any(path.iterdir())):
        hint = " or continue it with --resume" if resumable else ""
        raise RunDirError(f"{path}: already exists and is not empty; choose another --out{hint}")
    ancestor = path.absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RunDirError(f"{path}: cannot create the run folder: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RunDirError(f"{path}: cannot create the run folder: {ancestor} is not writable "
                          "(read-only file system or permission denied)")


def create_run_dir(command: str, name: str, out: str | Path | None = None,
                   base: str | Path = "runs", resumable: bool = False) -> Path:
    """A new, empty run directory. ``out`` must not exist or be empty; a generated name never clashes.
    ``resumable``: the command has ``--resume`` (the refusal suggests it)."""
    try:
        if out is not None:
            check_out(out, resumable)
            path = Path(out)
            path.mkdir(parents=True, exist_ok=True)
            return path
        stamp = time.strftime("%Y%m%d-%H%M%S")
        stem = Path(base) / f"{_slug(command)}-{_slug(name)}-{stamp}"
        for i in range(1, 1000):
            path = stem if i == 1 else stem.with_name(f"{stem.name}-{i}")
            try:
                path.mkdir(parents=True)
                return path
            except FileExistsError:
                continue
    except OSError as exc:
        raise RunDirError(str(disk_error(out if out is not None else base, exc,
                                         "cannot create the run folder"))) from None
    raise RunDirError(f"{stem}: could not create a fresh run directory")


def open_run_dir(path: str | Path, command: str | None = None) -> dict:
    """Check that ``path`` is a run directory (of ``command``, if given); return its manifest."""
    path = Path(path)
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise RunDirError(f"{path}: not a run directory (no {MANIFEST})")
    try:
        data = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{manifest}: unreadable manifest: {exc}") from None
    if command and data.get("command") != command:
        raise RunDirError(f"{path}: is a {data.get('command')!r} run, not a {command!r} run")
    return data


def start_manifest(run_dir: Path, command: str, seed: int, argv: list[str] | None = None,
                   status: str = "running", **extra: Any) -> dict:
    """Write a manifest with status ``running`` (or ``created``: the folder is made, the command
    not started yet); a resumed run keeps its first start time and its other keys, and lists when
    it was resumed."""
    previous = {}
    if (run_dir / MANIFEST).is_file():
        previous = open_run_dir(run_dir)
    resumed = previous.get("status", "created") != "created"
    manifest = {
        **previous, "tool": "tinyml", "version": __version__, "command": command,
        "argv": argv if argv is not None else sys.argv,
        "seed": seed, "started": previous.get("started", _now()),
        "resumed": previous.get("resumed", []) + ([_now()] if resumed else []),
        "finished": None, "status": status, **extra,
    }
    write_json(run_dir / MANIFEST, manifest)
    return manifest


def finish_manifest(run_dir: Path, status: str, **extra: Any) -> bool:
    """Record the end time and final status (``ok``, ``failed``, ``interrupted``); False when there
    is no manifest to finish. When the disk cannot take a new file (full), the manifest is
    overwritten in place: it is small, its blocks are already allocated, and a status left
    ``running`` would lie."""
    try:
        manifest = open_run_dir(run_dir)
    except RunDirError:
        return False
    manifest.update(finished=_now(), status=status, **extra)
    try:
        write_json(run_dir / MANIFEST, manifest)
    except SaveError:
        return _overwrite(run_dir / MANIFEST, to_json(manifest).encode())
    return True


def _overwrite(path: Path, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return False  # a read-only folder: nothing can record the status, the error says why
    try:
        if os.write(fd, data) != len(data):
            return False
        os.ftruncate(fd, len(data))
        try:
            os.fsync(fd)
        except OSError:
            pass  # written: the page cache has it
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


@contextmanager
def record_outcome(run_dir: Path) -> Iterator[dict]:
    """Finish the manifest with how the block ends: ``ok`` (with the keys the block puts in the
    yielded dict), ``interrupted`` on KeyboardInterrupt, ``failed`` on any other exception (which
    goes on; a disk error as a :class:`SaveError` that says the run is marked failed)."""
    extra: dict = {}
    try:
        yield extra
    except KeyboardInterrupt:
        finish_manifest(run_dir, "interrupted")
        raise
    except (OSError, SaveError) as exc:
        error = exc if isinstance(exc, SaveError) else disk_error(exc.filename or run_dir, exc)
        recorded = finish_manifest(run_dir, "failed")
        outcome = ("marked failed" if recorded else "not kept" if not run_dir.exists() else
                   "has no manifest (the disk took nothing)")
        raise SaveError(f"{error}; run {run_dir} {outcome}") from None
    except BaseException:
        finish_manifest(run_dir, "failed")
        raise
    finish_manifest(run_dir, "ok", **extra)


@contextmanager
def run_folder(command: str, name: str, seed: int, *, out: str | Path | None = None,
               resume: str | Path | None = None, config: dict | None = None, source: str | None = None,
               argv: list[str] | None = None, log: Callable[[Path], None] | None = None,
               manifest: dict | None = None, resumable: bool = False) -> Iterator[tuple[Path, dict]]:
    """The folder of one command run, as every command opens it: a new folder (``out``, or a
    generated name under runs/) or the one resumed, its log attached (``log(path)``), manifest.json
    started (tool version, command line, seed, ``source``: the user's config file, and the keys of
    ``manifest``), the resolved ``config`` saved as config.yaml; yields ``(folder, outcome)`` and
    ends the manifest in ``ok`` (with the keys the block puts in ``outcome``), ``failed`` or
    ``interrupted``. Check the config before: a config error must not leave a failed folder.
    ``resumable``: the command has ``--resume``."""
    path = Path(resume) if resume is not None else create_run_dir(command, name, out, resumable=resumable)
    if log is not None:
        log(path / "log.txt")
    extra = {"source": source} if source is not None else {}
    with record_outcome(path) as outcome, _sigterm_interrupts():
        try:
            start_manifest(path, command, seed, argv, **extra, **(manifest or {}))
        except SaveError:
            if resume is None:  # a disk that takes not even the manifest: leave no empty folder
                shutil.rmtree(path, ignore_errors=True)
            raise
        if config is not None and resume is None:
            write_yaml(path / "config.yaml", config)
        yield path, outcome


def raise_interrupt(signum: int, frame: Any) -> None:
    """A signal handler: stop as Ctrl-C does (``kill`` ends a run ``interrupted``, not silently)."""
    raise KeyboardInterrupt


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
