"""Datasets from local files: npz, idx (MNIST format, gzipped or not), cifar10 (python pickle
batches), imagefolder (one folder per class) and csv (one time-series window per row).

Every reader returns ``(x_train, y_train, x_test, y_test, class_names)`` with NHWC float32 inputs
(``x_test`` may be None when the files hold no test split). A missing or malformed file raises
InputFileError naming the path and the problem.
"""

from __future__ import annotations

import csv
import gzip
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InputFileError, shown

Arrays = tuple[np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None", "list[str] | None"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm")


def to_nhwc(x: np.ndarray, source: str) -> np.ndarray:
    """``(N, L)`` -> ``(N, 1, L, 1)``, ``(N, H, W)`` -> ``(N, H, W, 1)``; uint8 scaled to [0, 1]."""
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    if x.ndim == 2:
        x = x[:, None, :, None]
    elif x.ndim == 3:
        x = x[..., None]
    elif x.ndim != 4:
        raise InputFileError(f"{source}: expected inputs of 2 to 4 dimensions (N, ...), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise InputFileError(f"{source}: inputs are not numeric (dtype {x.dtype})")
    return (x.astype(np.float32) / scale).astype(np.float32)


def _labels(y: np.ndarray, source: str) -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise InputFileError(f"{source}: labels must be non-negative integers (got dtype {y.dtype})")
    return y.astype(np.int64)


def _check_pair(x: np.ndarray, y: np.ndarray, source: str) -> None:
    if len(x) != len(y):
        raise InputFileError(f"{source}: {len(x)} inputs but {len(y)} labels")
    if len(x) == 0:
        raise InputFileError(f"{source}: no samples")


def require_file(path: Path, what: str) -> Path:
    """``path``, or an InputFileError naming ``what`` when it does not exist."""
    if not path.exists():
        raise InputFileError(f"{path}: {what} not found")
    return path


def load_npz(path: Path, what: str, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every array of an .npz file; a missing or unreadable file, or one without the ``required``
    arrays, is an InputFileError (``what`` names the file in the not-found message)."""
    require_file(path, what)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as exc:
        raise InputFileError(f"{path}: not a readable .npz file: {exc}") from None
    for key in required:
        if key not in arrays:
            raise InputFileError(f"{path}: missing array {shown(key)} (found {', '.join(sorted(arrays)) or 'none'})")
    return arrays


def read_npz(path: Path, options: dict) -> Arrays:
    """``x_train, y_train`` and optionally ``x_test, y_test`` from one .npz file."""
    arrays = load_npz(path, "npz file", ("x_train", "y_train"))
    has_test = "x_test" in arrays and "y_test" in arrays
    x_tr, y_tr = to_nhwc(arrays["x_train"], str(path)), _labels(arrays["y_train"], f"{path}: y_train")
    _check_pair(x_tr, y_tr, f"{path}: x_train/y_train")
    x_te = y_te = None
    if has_test:
        x_te, y_te = to_nhwc(arrays["x_test"], str(path)), _labels(arrays["y_test"], f"{path}: y_test")
        _check_pair(x_te, y_te, f"{path}: x_test/y_test")
    return x_tr, y_tr, x_te, y_te, None


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx_file(path: Path) -> np.ndarray:
    """One IDX file (the MNIST format), gzipped or not."""
    try:
        raw = require_file(path, "idx file").read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputFileError(f"{path}: cannot read: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise InputFileError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputFileError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise InputFileError(f"{path}: IDX data has {len(raw) - header} bytes, header says {expected} "
                             f"for shape {tuple(dims)}")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find(folder: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def read_idx(path: Path, options: dict) -> Arrays:
    """A folder with MNIST-style ``train-images-idx3-ubyte[.gz]`` etc. (``t10k-*`` for the test split)."""
    if not require_file(path, "idx folder").is_dir():
        raise InputFileError(f"{path}: expected a folder holding train-images-idx3-ubyte and train-labels-idx1-ubyte")
    splits = []
    for prefix in ("train", "t10k"):
        images = _find(path, (f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"))
        labels = _find(path, (f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"))
        if prefix == "train" and (images is None or labels is None):
            missing = f"{prefix}-images-idx3-ubyte" if images is None else f"{prefix}-labels-idx1-ubyte"
            raise InputFileError(f"{path}: missing {missing}[.gz]")
        if images is None or labels is None:
            splits.append((None, None))
            continue
        x, y = to_nhwc(read_idx_file(images), str(images)), _labels(read_idx_file(labels), str(labels))
        _check_pair(x, y, f"{images.name}/{labels.name}")
        splits.append((x, y))
    (x_tr, y_tr), (x_te, y_te) = splits
    return x_tr, y_tr, x_te, y_te, None


def _unpickle(path: Path) -> dict:
    try:
        with open(require_file(path, "cifar10 batch"), "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], np.uint8)
        labels = np.asarray(batch[b"labels"])
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as exc:
        raise InputFileError(f"{path}: not a CIFAR-10 python batch: {type(exc).__name__}: {exc}") from None
    if data.ndim != 2 or data.shape[1] != 3072:
        raise InputFileError(f"{path}: expected data of shape (N, 3072), got {data.shape}")
    return {"x": data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), "y": labels}


def read_cifar10(path: Path, options: dict) -> Arrays:
    """The CIFAR-10 python version: ``data_batch_1..5`` and ``test_batch`` (and ``batches.meta``)."""
    if not require_file(path, "cifar10 folder").is_dir():
        raise InputFileError(f"{path}: expected the cifar-10-batches-py folder")
    train_files = sorted(path.glob("data_batch_*"))
    if not train_files:
        raise InputFileError(f"{path}: no data_batch_* files")
    train = [_unpickle(f) for f in train_files]
    x_tr = to_nhwc(np.concatenate([b["x"] for b in train]), str(path))
    y_tr = _labels(np.concatenate([b["y"] for b in train]), str(path))
    x_te = y_te = None
    if (path / "test_batch").is_file():
        test = _unpickle(path / "test_batch")
        x_te, y_te = to_nhwc(test["x"], str(path / "test_batch")), _labels(test["y"], str(path / "test_batch"))
    names = None
    meta = path / "batches.meta"
    if meta.is_file():
        try:
            with open(meta, "rb") as f:
                names = [n.decode() for n in pickle.load(f, encoding="bytes")[b"label_names"]]
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, AttributeError) as exc:
            raise InputFileError(f"{meta}: unreadable label names: {exc}") from None
    return x_tr, y_tr, x_te, y_te, names


def _read_image(path: Path, size: tuple[int, int] | None, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            arr = np.asarray(img, np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise InputFileError(f"{path}: not a readable image: {exc}") from None
    return arr[..., None] if arr.ndim == 2 else arr


def _image_classes(folder: Path) -> dict[str, list[Path]]:
    classes = {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
               for d in sorted(folder.iterdir()) if d.is_dir()}
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise InputFileError(f"{folder / empty[0]}: class folder holds no images")
    return classes


def read_imagefolder(path: Path, options: dict) -> Arrays:
    """``path/<class>/*.png`` (or ``path/train/<class>`` and ``path/test/<class>``); every image is
    resized to ``image_size`` (default: the first image's size) with ``channels`` 1 or 3."""
    if not require_file(path, "image folder").is_dir():
        raise InputFileError(f"{path}: expected a folder with one sub-folder per class")
    has_splits = (path / "train").is_dir() and (path / "test").is_dir()
    train_dir = path / "train" if has_splits else path
    classes = _image_classes(train_dir)
    if len(classes) < 2:
        raise InputFileError(f"{train_dir}: expected at least two class folders, found {len(classes)}")
    names = list(classes)
    size = options.get("image_size")
    hw = (size, size) if size else None
    if hw is None:
        first = _read_image(next(iter(classes.values()))[0], None, options["channels"])
        hw = first.shape[:2]

    def load(folder_classes: dict[str, list[Path]], where: Path) -> tuple[np.ndarray, np.ndarray]:
        unknown = [c for c in folder_classes if c not in names]
        if unknown:
            raise InputFileError(f"{where / unknown[0]}: class not present in {train_dir}")
        xs, ys = [], []
        for name, files in folder_classes.items():
            for f in files:
                xs.append(_read_image(f, hw, options["channels"]))
                ys.append(names.index(name))
        return to_nhwc(np.stack(xs), str(where)), np.asarray(ys, np.int64)

    x_tr, y_tr = load(classes, train_dir)
    x_te = y_te = None
    if has_splits:
        x_te, y_te = load(_image_classes(path / "test"), path / "test")
    return x_tr, y_tr, x_te, y_te, names


def read_csv_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """The stripped header and the rows of a CSV file with a header row and at least one data row."""
    try:
        with open(require_file(path, "csv file"), newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"{path}: cannot read as CSV: {exc}") from None
    if len(rows) < 2:
        raise InputFileError(f"{path}: expected a header row and at least one data row")
    return [h.strip() for h in rows[0]], rows


def read_csv(path: Path, options: dict) -> Arrays:
    """One window per row: numeric value columns and a label column (``label_column``) holding class
    names or integers; ``channels`` > 1 reads the values as interleaved channels (t0c0, t0c1, ...)."""
    label_col, channels = options["label_column"], options["channels"]
    header, rows = read_csv_table(path)
    if label_col not in header:
        raise InputFileError(f"{path}: no label column {shown(label_col)} in the header "
                             f"(set data.csv.label_column; columns: {', '.join(header[:8])})")
    li = header.index(label_col)
    values, labels = [], []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputFileError(f"{path}: line {n}: {len(row)} fields, the header has {len(header)}")
        try:
            values.append([float(v) for i, v in enumerate(row) if i != li])
        except ValueError as exc:
            raise InputFileError(f"{path}: line {n}: non-numeric value ({exc})") from None
        labels.append(row[li].strip())
    width = len(header) - 1
    if width % channels:
        raise InputFileError(f"{path}: {width} value columns do not split into {channels} channels")
    x = np.asarray(values, np.float32).reshape(len(values), 1, width // channels, channels)
    if all(label.lstrip("-").isdigit() for label in labels):
        y = _labels(np.asarray([int(v) for v in labels]), str(path))
        names = None
    else:
        names = sorted(set(labels))
        y = np.asarray([names.index(v) for v in labels], np.int64)
    return x, y, None, None, names


READERS: dict[str, Callable[[Path, dict], Arrays]] = {
    "npz": read_npz, "idx": read_idx, "cifar10": read_cifar10, "imagefolder": read_imagefolder,
    "csv": read_csv,
}


def read_files(fmt: str, path: str | Path, options: dict[str, Any]) -> Arrays:
    """Dispatch to the reader of ``fmt``."""
    return READERS[fmt](Path(path).expanduser(), options)
