"""A multichannel time series from a file, one time step per row: a CSV with a header (numeric
value columns, optionally a 0/1 label column) or an .npz (array ``x`` of shape (T,) or (T, C),
optionally a 0/1 array of length T). Labels mark anomalous samples; they are for scoring only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputFileError
from .files import load_npz, read_csv_table


def read_series(path: str | Path, label: str = "label") -> tuple[np.ndarray, np.ndarray | None]:
    """``(x (T, C) float32, labels (T,) bool or None)`` from a .csv or .npz file; ``label`` names
    the label column or array (absent: no labels).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> _ = open(p, "w").write("a,b,label\\n1,2,0\\n3,4,1\\n")
    >>> x, y = read_series(p)
    >>> x.tolist(), y.tolist()
    ([[1.0, 2.0], [3.0, 4.0]], [False, True])
    """
    path = Path(path).expanduser()
    if path.suffix.lower() == ".npz":
        arrays = load_npz(path, "time-series file", ("x",))
        x, y = arrays["x"], arrays.get(label)
        where = f"{path}: x"
    elif path.suffix.lower() == ".csv":
        header, rows = read_csv_table(path)
        try:
            table = np.array([[float(v) for v in row] for row in rows[1:] if row], np.float64)
        except ValueError as exc:
            raise InputFileError(f"{path}: non-numeric value in a data row ({exc})") from None
        if table.ndim != 2 or table.shape[1] != len(header):
            raise InputFileError(f"{path}: every row must have the header's {len(header)} fields")
        keep = [i for i, h in enumerate(header) if h != label]
        x, y = table[:, keep], table[:, header.index(label)] if label in header else None
        where = f"{path}: value columns"
    else:
        raise InputFileError(f"{path}: a time series must be a .csv or .npz file")
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number) or x.shape[0] < 2 or x.shape[1] < 1:
        raise InputFileError(f"{where}: expected numbers of shape (T,) or (T, channels), got {x.dtype} {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputFileError(f"{where}: holds NaN or infinite values (row {int(np.argwhere(~np.isfinite(x))[0, 0])})")
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != len(x) or not np.isin(y, (0, 1)).all():
            raise InputFileError(f"{path}: {label}: expected {len(x)} labels of 0 or 1")
        y = y.astype(bool)
    return x.astype(np.float32), y


def events_of(labels: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of True labels.

    >>> events_of(np.array([0, 1, 1, 0, 1], bool))
    [(1, 3), (4, 5)]
    """
    edges = np.diff(np.concatenate([[0], labels.astype(np.int8), [0]]))
    return [(int(s), int(e)) for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]
