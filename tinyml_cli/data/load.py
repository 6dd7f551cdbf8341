"""The ``data:`` config section and :func:`load_dataset`, which turns it into a Dataset.

>>> cfg = validate({"name": "digits", "samples": 300}, DATA_SCHEMA, "demo.yaml")
>>> d = load_dataset(cfg, seed=0)
>>> d.input_shape, d.num_classes, len(d.x_train) + len(d.x_val) + len(d.x_test)
((8, 8, 1), 10, 300)
"""

from __future__ import annotations

import numpy as np

from ..config import Field, choice, integer, list_of, number, optional, string, validate
from ..errors import ConfigError, InputFileError, shown
from .builtin import BUILTIN_DATASETS
from .dataset import Dataset, split_dataset, split_validation
from .files import READERS, read_files
from .recording import LABEL_RULES, load_recording

FORMATS = (*BUILTIN_DATASETS, *READERS, "recording")

DATA_SCHEMA = {
    "name": Field(choice(*FORMATS), "mnist1d", "a built-in dataset or a local file format"),
    "path": Field(optional(string), None, "file or folder for the local formats"),
    "samples": Field(optional(integer(min_value=10)), None,
                     "built-ins: how many samples (mnist1d generates them); files: keep the first N"),
    "val_fraction": Field(number(min_value=0.0, max_value=0.9), 0.15),
    "test_fraction": Field(number(min_value=0.0, max_value=0.9), 0.15,
                           "used when the files hold no test split"),
    "image_size": Field(optional(integer(min_value=1)), None, "imagefolder: resize every image to this"),
    "channels": Field(integer(min_value=1), 1, "imagefolder: 1 (grey) or 3 (RGB); csv: interleaved channels"),
    "label_column": Field(string, "label", "csv, recording: the column holding the class"),
    "window": {  # recording: how a continuous recording is cut into windows (unused by other formats)
        "size": Field(optional(integer(min_value=1)), None, "samples per window (required for recordings)"),
        "stride": Field(optional(integer(min_value=1)), None, "samples between window starts (default: size)"),
        "label": Field(choice(*LABEL_RULES), "majority",
                       "a window's label from its rows: majority (ties: smaller), center, last or max"),
        "columns": Field(optional(list_of(string, 1)), None,
                         "CSV channel columns (default: all but the timestamp and label columns)"),
        "timestamp_column": Field(optional(string), None,
                                  "CSV column to sort rows by; a gap over max_gap starts a new segment"),
        "max_gap": Field(optional(number(min_value=0.0)), None,
                         "largest timestamp step inside a segment (default: 5x the median step)"),
        "blocks": Field(optional(integer(min_value=1)), None,
                        "contiguous blocks per recording dealt to the splits (default 10)"),
    },
}


def load_dataset(cfg: dict, seed: int) -> Dataset:
    """The Dataset a validated ``data:`` section describes, split with ``seed``."""
    name = cfg["name"]
    if name in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[name](seed, cfg["val_fraction"], cfg["test_fraction"], cfg["samples"])
    if not cfg["path"]:
        raise ConfigError(f"data.path: the {shown(name)} format reads local files; give their path")
    if name == "recording":
        return load_recording(cfg, seed)
    if name == "imagefolder" and cfg["channels"] not in (1, 3):
        raise ConfigError(f"data.channels: imagefolder images are read with 1 or 3 channels, got {cfg['channels']}")
    x_tr, y_tr, x_te, y_te, names = read_files(name, cfg["path"], cfg)
    if cfg["samples"]:
        x_tr, y_tr = x_tr[:cfg["samples"]], y_tr[:cfg["samples"]]
    if names is not None and int(y_tr.max()) >= len(names):
        raise InputFileError(f"{cfg['path']}: label {int(y_tr.max())} but only {len(names)} class names")
    if x_te is None:
        data = split_dataset(name, x_tr, y_tr, cfg["val_fraction"], cfg["test_fraction"], seed, names)
    else:
        if x_te.shape[1:] != x_tr.shape[1:]:
            raise InputFileError(f"{cfg['path']}: test inputs have shape {x_te.shape[1:]}, "
                                 f"training inputs {x_tr.shape[1:]}")
        data = split_validation(name, x_tr, y_tr, x_te, y_te, cfg["val_fraction"], seed, names)
    if data.num_classes < 2:
        raise InputFileError(f"{cfg['path']}: expected at least two classes")
    return data


def data_config(section: dict | None, source: str = "data") -> dict:
    """Validate a raw ``data:`` mapping (for callers outside a full config)."""
    return validate(section or {}, DATA_SCHEMA, source, "data")


def resize_dataset(data: Dataset, input_shape: tuple[int, int, int]) -> Dataset:
    """``data`` with every split resized to ``input_shape`` (H, W, C): bilinear for images, linear
    resampling along W for 1-D signals (height 1). Same shape: ``data`` itself.

    >>> x = np.linspace(0, 1, 40, dtype=np.float32).reshape(1, 1, 40, 1).repeat(3, 0)
    >>> d = Dataset("toy", x, np.zeros(3, np.int64), x, np.zeros(3, np.int64), x, np.zeros(3, np.int64), ["a", "b"])
    >>> r = resize_dataset(d, (1, 20, 1))
    >>> r.input_shape, round(float(r.x_train[0, 0, 0, 0]), 3), round(float(r.x_train[0, 0, -1, 0]), 3)
    ((1, 20, 1), 0.018, 0.982)
    """
    import torch
    import torch.nn.functional as F

    target = tuple(int(d) for d in input_shape)
    if target == data.input_shape:
        return data
    if target[2] != data.input_shape[2]:
        raise ConfigError(f"the architecture expects {target[2]} input channel(s), the dataset "
                          f"{shown(data.name)} has {data.input_shape[2]}")
    if (target[0] == 1) != (data.input_shape[0] == 1):
        raise ConfigError(f"cannot resize {shown(data.name)} inputs of shape {data.input_shape} to {target}: "
                          "1-D signals and images do not mix")

    def resize(x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros((0, *target), np.float32)
        t = torch.from_numpy(x).permute(0, 3, 1, 2)
        out = F.interpolate(t, size=target[:2], mode="bilinear", align_corners=False,
                            antialias=target[0] < x.shape[1] or target[1] < x.shape[2])
        return out.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)

    return Dataset(data.name, resize(data.x_train), data.y_train, resize(data.x_val), data.y_val,
                   resize(data.x_test), data.y_test, list(data.class_names), data.train_groups,
                   data.val_groups)
