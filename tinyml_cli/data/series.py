"""A multichannel time series from a file, one time step per row, as recordings come: a table
(.csv, .tsv or .txt; delimiter sniffed among ``,`` ``;`` tab, else whitespace; with ``;``, decimal
commas are read as points; a header row, or
none when the first row is all numbers: columns are then named ``0``, ``1``, ...) or an .npz (array
``x`` of shape (T,) or (T, C), channels named ``0``, ``1``, ...; optionally a 0/1 label array).

A time column (``time``: ``auto`` finds timestamp, time, date or datetime; or a name; ``none``) is
dropped from the values. The label column (``label``: ``auto`` takes the first of LABEL_NAMES
present; or a name, which must be there; ``none``) marks anomalous samples, for scoring only; other
label-like columns (SKAB's ``changepoint``) and unnamed ones (an index pandas wrote) are left out
of the values too. ``columns`` picks the
value columns (default: every column left). Empty or NaN cells (``missing``): ``hold`` the last
value (a leading gap takes the first value), ``linear`` interpolation, or ``error``; the filled
cells are counted. Every error is one line naming the file, the line and the column."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..config import Field, choice, list_of, optional, string
from ..errors import InputFileError, shown
from .files import load_npz, require_file

TIME_NAMES = ("timestamp", "time", "date", "datetime")
LABEL_NAMES = ("label", "is_anomaly", "anomaly", "labels", "is_outlier")
LABEL_LIKE = LABEL_NAMES + ("changepoint", "change_point", "is_changepoint")
MISSING = ("hold", "linear", "error")
EMPTY = frozenset({"", "nan", "na", "n/a", "null", "none"})
TABLE_SUFFIXES = (".csv", ".tsv", ".txt")


def _column_name(value: Any) -> str:
    """A column name; an integer (a headerless file's column number) is taken as its name."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else string(value)


MAX_COLUMNS = 4096


def _columns(value: Any) -> list[str]:
    """A list of distinct column names (at most MAX_COLUMNS)."""
    names = list_of(_column_name, min_length=1)(value)
    if len(names) > MAX_COLUMNS:
        raise ValueError(f"expected at most {MAX_COLUMNS} columns, got {len(names)}")
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise ValueError(f"column {shown(twice)} named twice")
    return names


FILE_SCHEMA = {
    "time": Field(string, "auto", "time column dropped from the values: auto (timestamp, time, date, datetime), "
                                  "none, or its name"),
    "columns": Field(optional(_columns), None,
                     "value columns (default: every numeric column left)"),
    "missing": Field(choice(*MISSING), "hold", "empty or NaN cells: hold the last value, linear, or error"),
}


@dataclass
class Series:
    """A series read from a file: ``x`` (T, C) float32, ``labels`` (T,) bool or None, the names of
    the value, time and label columns used, the label-like columns left out, the cells filled."""

    x: np.ndarray
    labels: np.ndarray | None
    columns: list[str]
    time: str | None = None
    label: str | None = None
    excluded: list[str] = field(default_factory=list)
    filled: int = 0
    missing: str = "hold"

    def describe(self) -> dict:
        return {"time": self.time, "label": self.label, "columns": self.columns, "excluded": self.excluded,
                "filled": self.filled, "missing": self.missing}


def _sniff(path: Path) -> tuple[list[list[str]], list[int]]:
    """The non-blank rows, split at the sniffed delimiter (none found: whitespace), and their line numbers."""
    try:
        with open(require_file(path, "time-series file"), newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read as text: {exc}") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in ",;\t"}
    delimiter = max(counts, key=counts.get) if max(counts.values()) else ("," if len(first.split()) < 2 else None)
    if delimiter is None:
        numbered = [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1)]
    else:
        try:
            reader = csv.reader(text.splitlines(), delimiter=delimiter)
            numbered = [(reader.line_num, row) for row in reader]
        except csv.Error as exc:
            raise InputFileError(f"{path}: cannot read as a table: {exc}") from None
    numbered = [(n, row) for n, row in numbered if any(c.strip() for c in row)]
    if delimiter == ";":  # the European export: decimal commas
        numbered = [(n, [c.replace(",", ".") for c in row]) for n, row in numbered]
    return [row for _, row in numbered], [n for n, _ in numbered]


def _unnamed(name: str) -> bool:
    """An index column as pandas writes it: no name, or ``Unnamed: 0``."""
    return name == "" or name.startswith("Unnamed:")


def _number(cell: str) -> float:
    return np.nan if cell.strip().lower() in EMPTY else float(cell)


def _table(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows and line numbers of a table file (a generated header when the first row is numbers)."""
    rows, lines = _sniff(path)
    if not rows:
        raise InputFileError(f"{path}: no rows")
    try:
        [_number(c) for c in rows[0]]
        header = [str(i) for i in range(len(rows[0]))]
    except ValueError:
        header, rows, lines = [h.strip() for h in rows[0]], rows[1:], lines[1:]
    for n, row in zip(lines, rows):
        if len(row) != len(header):
            raise InputFileError(f"{path}: line {n}: {len(row)} fields, the header has {len(header)}")
    return header, rows, lines


def _pick(path: Path, header: list[str], wanted: str, names: tuple[str, ...], what: str, key: str) -> int | None:
    """The index of a column named explicitly (absent: error) or found among ``names`` (``auto``)."""
    if wanted == "none":
        return None
    if wanted == "auto":
        lower = [h.lower() for h in header]
        return next((lower.index(n) for n in names if n in lower), None)
    if wanted not in header:
        raise InputFileError(f"{path}: no {what} column {shown(wanted)} ({key}; columns: {', '.join(header[:12])})")
    return header.index(wanted)


def _parse(path: Path, name: str, cells: list[str], lines: list[int], hint: str) -> np.ndarray:
    try:
        return np.array([_number(c) for c in cells], np.float64)
    except ValueError:
        i = next(i for i, c in enumerate(cells) if not _is_number(c))
        raise InputFileError(f"{path}: line {lines[i]}, column {shown(name)}: non-numeric value "
                             f"{shown(cells[i])}{hint}") from None


def _is_number(cell: str) -> bool:
    try:
        _number(cell)
        return True
    except ValueError:
        return False


def _fill(path: Path, x: np.ndarray, names: list[str], lines: list[int], missing: str, where: str) -> int:
    """Fill the NaN cells of ``x`` in place; their count. Infinite cells are errors."""
    bad = ~np.isfinite(x)
    for r, c in np.argwhere(bad & ~np.isnan(x))[:1]:
        raise InputFileError(f"{path}: {where} {lines[r]}, column {shown(names[c])}: infinite value")
    for r, c in np.argwhere(bad)[:1] if missing == "error" else ():
        raise InputFileError(f"{path}: {where} {lines[r]}, column {shown(names[c])}: empty or NaN cell "
                             f"(missing: error)")
    for c in np.flatnonzero(bad.any(axis=0)):
        gap = bad[:, c]
        if gap.all():
            raise InputFileError(f"{path}: column {shown(names[c])}: no value in the whole column")
        t, ok = np.arange(len(x)), np.flatnonzero(~gap)
        if missing == "linear":
            x[:, c] = np.interp(t, ok, x[ok, c])
        else:
            last = np.maximum.accumulate(np.where(gap, -1, t))
            x[:, c] = x[np.where(last < 0, ok[0], last), c]
    return int(bad.sum())


class Found(NamedTuple):
    """What a file reader found, before the columns are picked and the gaps filled."""

    header: list[str]
    values: dict[str, np.ndarray]  # float64 cells (NaN: empty) by column name
    labels: np.ndarray | None
    label: str | None
    time: str | None
    excluded: list[str]
    lines: list[int]  # each row's line (table) or row number (npz), for error messages
    where: str  # "line" or "row"


def _read_npz(path: Path, label: str, time: str, key: str) -> Found:
    """The channels of an .npz file's ``x`` (named ``0``, ``1``, ...) and its label array."""
    arrays = load_npz(path, "time-series file", ("x",))
    x = np.asarray(arrays["x"])
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
        raise InputFileError(f"{path}: x: expected numbers of shape (T,) or (T, channels), got {x.dtype} {x.shape}")
    if time not in ("auto", "none"):
        raise InputFileError(f"{path}: {key}.time: an .npz file has no time column")
    header = [str(i) for i in range(x.shape[1])]
    names = [n for n in LABEL_NAMES if n in arrays] if label == "auto" else [label] * (label in arrays)
    if label not in ("auto", "none") and not names:
        raise InputFileError(f"{path}: no label array {shown(label)} ({key}.label; arrays: {', '.join(arrays)})")
    label_name = names[0] if names and label != "none" else None
    y = None if label_name is None else np.asarray(arrays[label_name]).reshape(-1)
    if y is not None and not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise InputFileError(f"{path}: {label_name}: expected 0/1 labels, got {y.dtype}")
    values = {h: x[:, i].astype(np.float64) for i, h in enumerate(header)}
    return header, values, y, label_name, None, [], list(range(len(x))), "row"


def _read_table(path: Path, label: str, columns: list[str] | None, time: str, key: str) -> Found:
    """The value columns of a table file (``columns``, or every one not time, label, label-like or
    unnamed) and its label column."""
    header, rows, lines = _table(path)
    t_col = _pick(path, header, time, TIME_NAMES, "time", f"{key}.time")
    l_col = _pick(path, header, label, LABEL_NAMES, "label", f"{key}.label")
    label_name = None if l_col is None else header[l_col]
    excluded = [h for i, h in enumerate(header)
                if (h.lower() in LABEL_LIKE or _unnamed(h)) and i not in (l_col, t_col)]
    wanted = columns or [h for i, h in enumerate(header) if i not in (t_col, l_col) and h not in excluded]
    values = {}
    for name in wanted:
        if header.count(name) > 1:
            raise InputFileError(f"{path}: column {shown(name)} appears {header.count(name)} times in the header")
        if name in header:
            i = header.index(name)
            first = i == 0 and t_col is None and time == "auto"
            hint = f" (a time column? name it in {key}.time)" if first else ""
            values[name] = _parse(path, name, [r[i] for r in rows], lines, hint)
    y = None if l_col is None else _parse(path, label_name, [r[l_col] for r in rows], lines, "")
    return header, values, y, label_name, None if t_col is None else header[t_col], excluded, lines, "line"


def read_series(path: str | Path, label: str = "auto", columns: list[str] | None = None, time: str = "auto",
                missing: str = "hold", key: str = "anomaly") -> Series:
    """The series in a .csv/.tsv/.txt table or an .npz file; ``key`` names the config section the
    options come from in error messages.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> _ = open(p, "w").write("timestamp;a;b;is_anomaly;changepoint\\n2024-01-01 00:00;1;2;0;0\\n"
    ...                        "2024-01-01 00:01;;4;1;1\\n")
    >>> s = read_series(p)
    >>> s.x.tolist(), s.labels.tolist(), s.describe()
    ([[1.0, 2.0], [1.0, 4.0]], [False, True], {'time': 'timestamp', 'label': 'is_anomaly', \
'columns': ['a', 'b'], 'excluded': ['changepoint'], 'filled': 1, 'missing': 'hold'})
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix == ".npz":
        found = _read_npz(path, label, time, key)
    elif suffix in TABLE_SUFFIXES:
        found = _read_table(path, label, columns, time, key)
    else:
        raise InputFileError(f"{path}: a time series must be a .csv, .tsv, .txt or .npz file")
    header, values, y, label_name, t_col, excluded, lines, where = found
    for name in columns or []:
        if name not in values:
            raise InputFileError(f"{path}: {key}.columns: no column {shown(name)} (columns: {', '.join(header[:12])})")
    names = list(columns or values)
    if not names:
        raise InputFileError(f"{path}: no value column left (columns: {', '.join(header[:12])})")
    x = np.stack([values[n] for n in names], axis=1)
    if len(x) < 2:
        raise InputFileError(f"{path}: expected at least 2 time steps, got {len(x)}")
    filled = _fill(path, x, names, lines, missing, where)
    if y is not None:
        if len(y) != len(x):
            raise InputFileError(f"{path}: {label_name}: {len(y)} labels for {len(x)} time steps")
        wrong = np.flatnonzero(~np.isin(y, (0, 1)))
        if len(wrong):
            raise InputFileError(f"{path}: {where} {lines[wrong[0]]}, column {shown(label_name)}: expected a label "
                                 f"of 0 or 1, got {y[wrong[0]]:g}")
        y = y.astype(bool)
    return Series(x.astype(np.float32), y, names, t_col, label_name, excluded, filled, missing)


def events_of(labels: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of True labels.

    >>> events_of(np.array([0, 1, 1, 0, 1], bool))
    [(1, 3), (4, 5)]
    """
    edges = np.diff(np.concatenate([[0], labels.astype(np.int8), [0]]))
    return [(int(s), int(e)) for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]
