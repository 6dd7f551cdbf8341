"""Run directories: creation, resume, atomic writes and the manifest.

A command writes into ``runs/<command>-<name>-<YYYYmmdd-HHMMSS>/`` (or ``--out DIR``). Files are
written to a temporary name and renamed, so an interrupted command never leaves a half file, and an
existing run directory is never overwritten: ``--resume DIR`` continues one.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from . import __version__
from .errors import RunDirError

MANIFEST = "manifest.json"


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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


def create_run_dir(command: str, name: str, out: str | Path | None = None,
                   base: str | Path = "runs") -> Path:
    """A new, empty run directory. ``out`` must not exist or be empty; a generated name never clashes."""
    if out is not None:
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise RunDirError(f"{path}: already exists and is not empty; choose another --out "
                              "or continue it with --resume")
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


def start_manifest(run_dir: Path, command: str, seed: int, argv: list[str] | None = None) -> dict:
    """Write a manifest with status ``running``; keep the first start time when resuming."""
    previous = {}
    if (run_dir / MANIFEST).is_file():
        previous = open_run_dir(run_dir)
    manifest = {
        "tool": "tinyml", "version": __version__, "command": command,
        "argv": argv if argv is not None else sys.argv,
        "seed": seed, "started": previous.get("started", _now()),
        "resumed": previous.get("resumed", []) + ([_now()] if previous else []),
        "finished": None, "status": "running",
    }
    write_json(run_dir / MANIFEST, manifest)
    return manifest


def finish_manifest(run_dir: Path, status: str, **extra: Any) -> None:
    """Record the end time and final status (``ok``, ``failed``, ``interrupted``)."""
    manifest = open_run_dir(run_dir)
    manifest.update(finished=_now(), status=status, **extra)
    write_json(run_dir / MANIFEST, manifest)


@contextmanager
def record_outcome(run_dir: Path) -> Iterator[dict]:
    """Finish the manifest with how the block ends: ``ok`` (with the keys the block puts in the
    yielded dict), ``interrupted`` on KeyboardInterrupt, ``failed`` on any other exception (which
    goes on)."""
    extra: dict = {}
    try:
        yield extra
    except KeyboardInterrupt:
        finish_manifest(run_dir, "interrupted")
        raise
    except BaseException:
        finish_manifest(run_dir, "failed")
        raise
    finish_manifest(run_dir, "ok", **extra)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
