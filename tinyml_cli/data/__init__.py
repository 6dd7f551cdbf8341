"""Datasets (built-in and from local files) as NHWC float32 arrays with train/val/test splits."""

from .dataset import Dataset, split_dataset
from .builtin import BUILTIN_DATASETS, load_builtin

__all__ = ["BUILTIN_DATASETS", "Dataset", "load_builtin", "split_dataset"]
