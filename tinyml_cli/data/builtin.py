"""Built-in datasets, generated or shipped by installed packages: nothing is downloaded."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .dataset import Dataset, split_dataset


def load_digits(seed: int, val_fraction: float, test_fraction: float, samples: int | None = None) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images), scaled to [0, 1]."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    y = bunch.target
    if samples:
        x, y = x[:samples], y[:samples]
    return split_dataset("digits", x, y, val_fraction, test_fraction, seed)


def load_mnist1d(seed: int, val_fraction: float, test_fraction: float, samples: int | None = None) -> Dataset:
    """MNIST-1D (Greydanus, 2020) from the ``mnist1d`` package's generator: 40-sample signals."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = samples or 5000
    args.seed = seed
    data = make_dataset(args)
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    y = np.concatenate([data["y"], data["y_test"]])
    return split_dataset("mnist1d", x[:, None, :, None], y, val_fraction, test_fraction, seed)


BUILTIN_DATASETS: dict[str, Callable[..., Dataset]] = {"digits": load_digits, "mnist1d": load_mnist1d}


def load_builtin(name: str, seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.15,
                 samples: int | None = None) -> Dataset:
    """A built-in dataset by name."""
    return BUILTIN_DATASETS[name](seed, val_fraction, test_fraction, samples)
