"""Datasets (built-in and from local files) as NHWC float32 arrays with train/val/test splits."""

from .dataset import Dataset, split_dataset, split_validation
from .builtin import BUILTIN_DATASETS, load_builtin
from .load import DATA_SCHEMA, FORMATS, data_config, load_dataset, resize_dataset

__all__ = ["BUILTIN_DATASETS", "DATA_SCHEMA", "Dataset", "FORMATS", "data_config", "load_builtin",
           "load_dataset", "resize_dataset", "split_dataset", "split_validation"]
