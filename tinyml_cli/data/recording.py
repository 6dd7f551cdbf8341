"""Continuous recordings (a data logger's output) cut into windows, split without leaking time.

``data.name: recording`` reads ``data.path``: one .csv or .npz recording, or a folder of them (one
recording per file, e.g. one subject or session, read in name order). A CSV recording has a header
row and one row per time sample: one column per channel, a label column (``data.label_column``;
integers used as is, or class names sorted into ids) and optionally a timestamp column
(``window.timestamp_column``: numbers or ISO 8601 times). An .npz recording holds ``x`` (T, C) or
(T,), ``y`` (T,) and optionally ``t`` (T,).

Windows of ``window.size`` rows, one every ``window.stride`` rows, become NHWC float32 inputs
``(N, 1, size, C)``. ``window.label`` picks a window's label from its rows: ``majority`` (ties go to
the smaller label), ``center`` (row ``size // 2``), ``last`` or ``max`` (one positive row makes a
0/1 window positive). Timestamps order the rows, and a step over ``window.max_gap`` (default: 5x the
median sampling interval) starts a new segment, so no window spans a gap.

Splits respect time: every segment is cut into contiguous blocks (``window.blocks`` per recording,
default 10, each at least one window long), windows never cross a block boundary, and whole blocks go
to test / validation / train by a seeded permutation, stratified by each block's majority window
label, aiming at ``data.test_fraction`` and ``data.val_fraction`` of the windows. No validation or
test window shares a sample with a training window. Training and validation windows carry their
block id in ``train_groups`` / ``val_groups`` so cross-validation keeps a block together.

>>> import os, tempfile
>>> from tinyml_cli.data import data_config
>>> tmp = tempfile.TemporaryDirectory()
>>> t = np.arange(1000)
>>> np.savez(os.path.join(tmp.name, "walk.npz"), x=np.sin(t / 5.0), y=(t // 100) % 2, t=t)
>>> d = load_recording(data_config({"name": "recording", "path": tmp.name, "window": {"size": 20}}), 0)
>>> d.input_shape, d.class_names, len(d.x_train), len(d.x_val), len(d.x_test)
((1, 20, 1), ['0', '1'], 30, 10, 10)
>>> d.val_groups.tolist()
[3, 3, 3, 3, 3, 8, 8, 8, 8, 8]
>>> tmp.cleanup()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError, InputFileError, shown
from .dataset import Dataset
from .files import load_npz, read_csv_table

SUFFIXES = (".csv", ".npz")
DEFAULT_BLOCKS = 10
TRAIN, VAL, TEST = 0, 1, 2


def _majority(rows: np.ndarray) -> np.ndarray:
    counts = np.stack([(rows == k).sum(axis=1) for k in range(int(rows.max()) + 1)], axis=1)
    return counts.argmax(axis=1)  # argmax takes the first maximum: ties go to the smaller label


LABEL_RULES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "majority": _majority,
    "center": lambda rows: rows[:, rows.shape[1] // 2],
    "last": lambda rows: rows[:, -1],
    "max": lambda rows: rows.max(axis=1),
}


@dataclass
class Recording:
    """One file's rows in time order: values ``x`` (T, C), raw ``labels`` (T,) as int64 or str,
    timestamps ``t`` (T,) as float64 or None."""

    source: Path
    x: np.ndarray
    labels: np.ndarray
    t: np.ndarray | None


def _floats(rows: list[list[str]], cols: list[int], lines: list[int], path: Path, what: str) -> np.ndarray:
    try:
        return np.asarray([[row[i] for i in cols] for row in rows], np.float64)
    except ValueError:
        for row, line in zip(rows, lines):
            for i in cols:
                try:
                    float(row[i])
                except ValueError:
                    raise InputFileError(f"{path}: line {line}: non-numeric {what} {shown(row[i])}") from None
        raise


def _times(rows: list[list[str]], col: int, lines: list[int], path: Path) -> np.ndarray:
    try:
        return _floats(rows, [col], lines, path, "timestamp")[:, 0]
    except InputFileError:
        pass
    times = []
    for row, line in zip(rows, lines):
        try:
            times.append(np.datetime64(row[col].strip(), "us"))
        except ValueError:
            raise InputFileError(f"{path}: line {line}: timestamp {shown(row[col])} is neither a number "
                                 "nor an ISO 8601 time") from None
    return (np.asarray(times) - times[0]).astype(np.float64) / 1e6  # seconds


def read_csv_recording(path: Path, label_column: str, columns: list[str] | None,
                       timestamp_column: str | None) -> Recording:
    """One CSV recording: a header row, then one row per time sample."""
    header, table = read_csv_table(path)
    available = f"columns: {', '.join(header)}"
    if label_column not in header:
        raise InputFileError(f"{path}: no label column {shown(label_column)} (data.label_column; {available})")
    if timestamp_column is not None and timestamp_column not in header:
        raise InputFileError(f"{path}: no timestamp column {shown(timestamp_column)} "
                             f"(data.window.timestamp_column; {available})")
    if columns is None:
        columns = [h for h in header if h not in (label_column, timestamp_column)]
    for name in columns:
        if name not in header:
            raise InputFileError(f"{path}: no channel column {shown(name)} (data.window.columns; {available})")
        if name in (label_column, timestamp_column):
            raise ConfigError(f"data.window.columns: {shown(name)} is the label or timestamp column, not a channel")
    if not columns:
        raise InputFileError(f"{path}: no channel columns besides the label and timestamp ({available})")
    rows, lines = [], []
    for line, row in enumerate(table[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputFileError(f"{path}: line {line}: {len(row)} fields, the header has {len(header)}")
        rows.append(row)
        lines.append(line)
    li = header.index(label_column)
    x = _floats(rows, [header.index(c) for c in columns], lines, path, "channel value")
    labels = [row[li].strip() for row in rows]
    for label, line in zip(labels, lines):
        if not label:
            raise InputFileError(f"{path}: line {line}: empty label")
    t = _times(rows, header.index(timestamp_column), lines, path) if timestamp_column else None
    if all(label.lstrip("-").isdigit() for label in labels):
        y = np.asarray([int(label) for label in labels], np.int64)
    else:
        y = np.asarray(labels, str)
    return Recording(path, x, y, t)


def read_npz_recording(path: Path) -> Recording:
    """One .npz recording: ``x`` (T, C) or (T,), ``y`` (T,), optional ``t`` (T,)."""
    arrays = load_npz(path, "npz recording", ("x", "y"))
    x, y, t = arrays["x"], arrays["y"].reshape(-1), arrays.get("t")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
        raise InputFileError(f"{path}: expected a numeric x of shape (T, C) or (T,), got {x.dtype} {x.shape}")
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        y = y.astype(np.int64)
    elif y.dtype.kind != "U":
        raise InputFileError(f"{path}: y must hold integer labels or class names, got dtype {y.dtype}")
    if len(y) != len(x) or (t is not None and t.shape != (len(x),)):
        shape_t = "" if t is None else f", t {t.shape}"
        raise InputFileError(f"{path}: x {x.shape}, y {y.shape}{shape_t} do not describe the same samples")
    if t is not None and not np.issubdtype(t.dtype, np.number):
        raise InputFileError(f"{path}: t must hold numeric timestamps, got dtype {t.dtype}")
    return Recording(path, x.astype(np.float64), y, None if t is None else t.astype(np.float64))


def recording_files(path: Path) -> list[Path]:
    """``path`` itself, or the .csv/.npz files of a folder sorted by name."""
    if not path.exists():
        raise InputFileError(f"{path}: recording file or folder not found")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise InputFileError(f"{path}: folder holds no .csv or .npz recordings")
        return files
    if path.suffix.lower() not in SUFFIXES:
        raise InputFileError(f"{path}: expected a .csv or .npz recording, or a folder of them")
    return [path]


def segments(t: np.ndarray | None, n: int, max_gap: float | None) -> list[tuple[int, int]]:
    """``[start, stop)`` row ranges split where sorted timestamps ``t`` step by more than ``max_gap``
    (default: 5x the median positive step).

    >>> segments(np.array([0., 1, 2, 3, 10, 11, 12]), 7, None)
    [(0, 4), (4, 7)]
    """
    if t is None or n < 2:
        return [(0, n)]
    steps = np.diff(t)
    if max_gap is None:
        positive = steps[steps > 0]
        max_gap = 5 * float(np.median(positive)) if len(positive) else np.inf
    cuts = [0, *(np.flatnonzero(steps > max_gap) + 1).tolist(), n]
    return list(zip(cuts[:-1], cuts[1:]))


def cut_blocks(spans: list[tuple[int, int]], size: int, blocks: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` blocks, about ``blocks`` over all ``spans`` (shared in proportion
    to their length, at least one per span that holds a window, each block at least ``size`` rows).

    >>> cut_blocks([(0, 100), (100, 130), (130, 135)], size=10, blocks=4)
    [(0, 33), (33, 66), (66, 100), (100, 130)]
    """
    spans = [(a, b) for a, b in spans if b - a >= size]
    total = sum(b - a for a, b in spans)
    out = []
    for a, b in spans:
        length = b - a
        k = int(min(max(1, round(blocks * length / total)), length // size))
        out += [(a + i * length // k, a + (i + 1) * length // k) for i in range(k)]
    return out


def assign_blocks(labels: np.ndarray, sizes: np.ndarray, val_fraction: float, test_fraction: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Split per block (0 train, 1 validation, 2 test): within each majority ``labels`` stratum, a
    permutation of its blocks, the first ones to test and the next to validation, as many as bring
    their window counts (``sizes``) nearest to the fractions. A stratum too small for every split
    gives its blocks to train first, then validation, then test.

    >>> assign_blocks(np.array([0, 0, 0, 1, 1, 1]), np.ones(6), 0.3, 0.3, np.random.default_rng(0)).tolist()
    [1, 0, 2, 0, 1, 2]
    """
    split = np.full(len(labels), TRAIN, np.int64)
    for label in np.unique(labels):
        rest = rng.permutation(np.flatnonzero(labels == label))
        total = float(sizes[rest].sum())
        for code, fraction, later in ((TEST, test_fraction, 1 + (val_fraction > 0)), (VAL, val_fraction, 1)):
            most = max(len(rest) - later, 0)
            reached = np.concatenate([[0.0], np.cumsum(sizes[rest])])[:most + 1]
            take = int(np.argmin(np.abs(reached - fraction * total)))
            if fraction > 0 and most >= 1:
                take = max(take, 1)
            split[rest[:take]] = code
            rest = rest[take:]
    return split


def _window_options(cfg: dict) -> tuple[int, int, dict]:
    opts = cfg["window"]
    size, stride = opts["size"], opts["stride"]
    if size is None:
        raise ConfigError("data.window.size: the recording format needs a window size (samples per window)")
    stride = size if stride is None else stride
    for key, value in (("size", size), ("stride", stride), ("blocks", opts["blocks"] or 1)):
        if value <= 0:
            raise ConfigError(f"data.window.{key}: expected a positive integer, got {value}")
    return size, stride, opts


def _encode_labels(recordings: list[Recording]) -> tuple[list[np.ndarray], list[str]]:
    """Integer labels as is (names '0'..'max'); otherwise every distinct name, sorted, over all files."""
    if all(r.labels.dtype == np.int64 for r in recordings):
        for r in recordings:
            if len(r.labels) and r.labels.min() < 0:
                raise InputFileError(f"{r.source}: labels must be non-negative integers, found {r.labels.min()}")
        top = max(int(r.labels.max()) for r in recordings if len(r.labels))
        return [r.labels for r in recordings], [str(c) for c in range(top + 1)]
    names = sorted(set().union(*(r.labels.astype(str).tolist() for r in recordings)))
    index = {name: i for i, name in enumerate(names)}
    return [np.asarray([index[v] for v in r.labels.astype(str).tolist()], np.int64) for r in recordings], names


def read_recordings(root: Path, label_column: str, opts: dict, size: int) -> list[Recording]:
    """Every recording under ``root``, rows sorted by timestamp, each at least ``size`` rows long and
    all with the same channel count."""
    recordings: list[Recording] = []
    for f in recording_files(root):
        if f.suffix.lower() == ".csv":
            rec = read_csv_recording(f, label_column, opts["columns"], opts["timestamp_column"])
        else:
            if opts["columns"] is not None:
                raise ConfigError(f"data.window.columns: names CSV columns, but {f} is an .npz recording")
            rec = read_npz_recording(f)
        if rec.t is not None:
            order = np.argsort(rec.t, kind="stable")
            rec = Recording(rec.source, rec.x[order], rec.labels[order], rec.t[order])
        if len(rec.x) < size:
            raise InputFileError(f"{f}: {len(rec.x)} samples, shorter than one window of {size} (data.window.size)")
        if recordings and rec.x.shape[1] != recordings[0].x.shape[1]:
            raise InputFileError(f"{f}: {rec.x.shape[1]} channels, but {recordings[0].source.name} has "
                                 f"{recordings[0].x.shape[1]}")
        recordings.append(rec)
    return recordings


def load_recording(cfg: dict, seed: int) -> Dataset:
    """The Dataset of windows a validated ``data:`` section (``name: recording``) describes."""
    size, stride, opts = _window_options(cfg)
    root = Path(cfg["path"]).expanduser()
    recordings = read_recordings(root, cfg["label_column"], opts, size)
    labels, names = _encode_labels(recordings)

    xs, ys, groups, block_labels, block_sizes = [], [], [], [], []
    for rec, y in zip(recordings, labels):
        spans = segments(rec.t, len(rec.x), opts["max_gap"])
        blocks = cut_blocks(spans, size, opts["blocks"] or DEFAULT_BLOCKS)
        if not blocks:
            raise InputFileError(f"{rec.source}: timestamp gaps cut it into segments of at most "
                                 f"{max(b - a for a, b in spans)} samples, shorter than one window of {size} "
                                 "(data.window.size, data.window.max_gap)")
        for a, b in blocks:
            rows = a + np.arange(0, b - a - size + 1, stride)[:, None] + np.arange(size)
            window_labels = LABEL_RULES[opts["label"]](y[rows])
            xs.append(rec.x[rows].astype(np.float32)[:, None])
            ys.append(window_labels.astype(np.int64))
            groups.append(np.full(len(rows), len(block_labels), np.int64))
            block_labels.append(int(np.bincount(window_labels).argmax()))
            block_sizes.append(len(rows))
    x, y, group = np.concatenate(xs), np.concatenate(ys), np.concatenate(groups)
    present = np.unique(y)
    if len(present) < 2:
        raise InputFileError(f"{root}: the windows hold {len(present)} class ({shown(names[present[0]])}); "
                             "expected at least two")

    rng = np.random.default_rng(seed)
    split = assign_blocks(np.asarray(block_labels), np.asarray(block_sizes, np.float64),
                          cfg["val_fraction"], cfg["test_fraction"], rng)[group]
    train, val, test = (split == TRAIN), (split == VAL), (split == TEST)
    keep = cfg["samples"] or int(train.sum())
    return Dataset("recording", x[train][:keep], y[train][:keep], x[val], y[val], x[test], y[test],
                   names, group[train][:keep], group[val])
