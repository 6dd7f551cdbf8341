"""The in-memory dataset every command trains and evaluates on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Splits of NHWC float32 inputs and int64 labels. 1-D signals have height 1.

    ``train_groups`` and ``val_groups`` (optional, int64 per sample) tie samples together: windows
    cut from one stretch of a recording share a group, so cross-validation never puts one group's
    samples on both sides of a fold (overlapping windows would leak). None: every sample stands alone.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    train_groups: np.ndarray | None = None
    val_groups: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one sample."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


def split_dataset(name: str, x: np.ndarray, y: np.ndarray, val_fraction: float, test_fraction: float,
                  seed: int, class_names: list[str] | None = None) -> Dataset:
    """Shuffle with ``seed`` and cut into train / validation / test.

    >>> x = np.zeros((100, 1, 4, 1), np.float32); y = np.arange(100) % 2
    >>> d = split_dataset("toy", x, y, 0.2, 0.1, seed=0)
    >>> len(d.x_train), len(d.x_val), len(d.x_test), d.class_names
    (70, 20, 10, ['0', '1'])
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    n_val = int(round(len(x) * val_fraction))
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    names = class_names or [str(c) for c in range(int(y.max()) + 1)]
    x = x.astype(np.float32)
    y = y.astype(np.int64)
    return Dataset(name, x[train], y[train], x[val], y[val], x[test], y[test], names)


def split_validation(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                     y_test: np.ndarray, val_fraction: float, seed: int,
                     class_names: list[str] | None = None) -> Dataset:
    """Keep a given test split; cut a seeded validation split out of the training data.

    >>> x = np.zeros((10, 1, 4, 1), np.float32); y = np.arange(10) % 3
    >>> d = split_validation("toy", x, y, x[:4], y[:4], 0.2, seed=0)
    >>> len(d.x_train), len(d.x_val), len(d.x_test), d.num_classes
    (8, 2, 4, 3)
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    n_val = int(round(len(x_train) * val_fraction))
    val, train = order[:n_val], order[n_val:]
    top = int(max(y_train.max(), y_test.max() if len(y_test) else 0)) + 1
    names = class_names or [str(c) for c in range(top)]
    x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    return Dataset(name, x_train[train], y_train[train], x_train[val], y_train[val], x_test, y_test, names)


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (float64) of NHWC inputs, accumulated in chunks so a
    large image set is not copied.

    >>> channel_stats(np.array([[[[0.0, 5.0]], [[2.0, 5.0]]]], np.float32))
    (array([1., 5.]), array([1., 0.]))
    """
    mean = x.mean(axis=(0, 1, 2), dtype=np.float64)
    chunk = max(1, 2**22 // max(1, x[0].size))
    squares = np.zeros_like(mean)
    for i in range(0, len(x), chunk):
        d = x[i:i + chunk].astype(np.float64) - mean
        squares += (d * d).sum(axis=(0, 1, 2))
    return mean, np.sqrt(squares / x[..., 0].size)
