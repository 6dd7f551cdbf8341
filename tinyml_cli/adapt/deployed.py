"""The deployed model a drift experiment starts from: a candidate folder, the best candidate of a
search run directory, or a small default network trained on the stream's pre-drift data."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..arch import Arch, build_graph
from ..config import read_yaml
from ..data import Dataset
from ..errors import ConfigError, InputFileError
from ..train.builder import GraphModule
from ..train.checkpoint import load_candidate, ranked_candidates
from ..train.loop import accuracy, resolve_normalize, train_and_evaluate


@dataclass
class Deployed:
    """A trained network, where it came from, and its accuracy on the reference validation split."""

    arch: Arch
    module: GraphModule
    origin: str
    val_accuracy: float


def default_arch(input_shape: tuple[int, int, int], num_classes: int) -> Arch:
    """A small network for the input: two conv blocks for signals and images, dense layers for short
    feature vectors (the synthetic generators)."""
    h, w, _ = input_shape
    if h * w < 16:
        return Arch("plain", input_shape, num_classes, {"layers": [], "reduce": "flatten", "dense": [32, 32]})
    layers = [{"type": "conv", "channels": 16, "kernel": 5 if h == 1 else 3, "stride": 1},
              {"type": "pool", "kind": "max", "size": 2},
              {"type": "dwsep", "channels": 32, "kernel": 3, "stride": 2}]
    return Arch("plain", input_shape, num_classes, {"layers": layers, "reduce": "flatten", "dense": [32]})


def candidate_folder(path: str | Path) -> Path:
    """A candidate folder itself, or the best candidate of a search run directory (the first of
    ``ranked_candidates``: by its leaderboard, else ``candidates/001``)."""
    path = Path(path)
    if (path / "arch.yaml").is_file():
        return path
    if not any(path.glob("candidates/*/arch.yaml")):
        raise InputFileError(f"{path}: neither a candidate folder (arch.yaml) nor a search run with candidates/")
    return ranked_candidates(path)[0]


def training_data_config(path: str | Path) -> tuple[dict, int] | None:
    """The ``data`` section and seed of the search run a model comes from (its ``config.yaml`` next to
    the candidate or two folders up), so a stream can be drawn from data the model never saw."""
    folder = candidate_folder(path)
    for run in (folder, folder.parent, folder.parent.parent):
        config = run / "config.yaml"
        if config.is_file():
            data = read_yaml(config)
            if isinstance(data, dict) and isinstance(data.get("data"), dict):
                return data["data"], int(data.get("seed", 0))
    return None


def load_deployed(path: str | Path | None, reference: Dataset, num_labels: int, train_cfg: dict,
                  seed: int) -> Deployed:
    """Load the model at ``path`` (checked against the stream) or train the default one."""
    if path is not None:
        folder = candidate_folder(path)
        arch, module, _ = load_candidate(folder)
        if tuple(arch.input_shape) != tuple(reference.input_shape):
            raise ConfigError(f"{folder}: the model takes input {list(arch.input_shape)} but the stream "
                              f"gives {list(reference.input_shape)}")
        if arch.num_classes != reference.num_classes:
            raise ConfigError(f"{folder}: the model has {arch.num_classes} classes but the stream's pre-drift "
                              f"concept has {reference.num_classes} (a new-class drift needs a model without it)")
        return Deployed(arch, module, str(folder), accuracy(module, reference.x_val, reference.y_val))
    arch = replace(default_arch(reference.input_shape, reference.num_classes),
                   normalize=resolve_normalize(train_cfg["normalize"], reference.input_shape))
    module, metrics = train_and_evaluate(build_graph(arch), reference, train_cfg, seed)
    module.eval()
    return Deployed(arch, module, "default model trained on the pre-drift data", metrics["val_accuracy"])


@torch.no_grad()
def features(module: GraphModule, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The frozen feature extractor's output (the classifier's input) for every sample, batched."""
    module.eval()
    parts = [module.features(torch.from_numpy(x[i:i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), np.float32)
