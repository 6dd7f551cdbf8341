"""Everything a search worker needs, built once from the resolved config."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arch import Arch, SearchSpace, make_space
from ..data import Dataset, load_dataset, resize_dataset
from ..data.cv import Fold, pool, stratified_folds
from ..errors import ConfigError
from ..mcu import Budget, McuProfile, resolve
from ..train.loop import resolve_normalize
from .backends import BACKENDS, Backend
from .config import AUTO, AUTO_CV_BELOW, AUTO_CV_FOLDS


@dataclass
class SearchContext:
    """The resolved config with the dataset, search space, MCU budget and backend it names."""

    cfg: dict
    data: Dataset
    space: SearchSpace
    profile: McuProfile
    budget: Budget
    backend: Backend
    folds: list[Fold] | None = None        # cross-validation folds over train + validation
    _resized: dict[tuple[int, int, int], Dataset] = field(default_factory=dict, repr=False)

    @property
    def seed(self) -> int:
        """The run's seed."""
        return self.cfg["seed"]

    def data_for(self, arch: Arch) -> Dataset:
        """The dataset resized to ``arch``'s input (cached per shape)."""
        shape = tuple(arch.input_shape)
        if shape not in self._resized:
            self._resized[shape] = resize_dataset(self.data, shape)
        return self._resized[shape]


def fold_count(cfg: dict, data: Dataset, backend: Backend, source: str = "config") -> int:
    """How many cross-validation folds the search uses (0: none, the validation split ranks)."""
    asked = cfg["search"]["cv_folds"]
    if asked == AUTO:
        small = len(data.y_val) < AUTO_CV_BELOW
        return AUTO_CV_FOLDS if small and backend.cross_validates else 0
    if asked >= 2 and not backend.cross_validates:
        raise ConfigError(f"{source}: search.cv_folds: the {backend.name} backend scores candidates with "
                          "shared weights on the validation split; cross-validation needs a backend that "
                          "trains each candidate (set search.cv_folds: 0)")
    return asked if asked >= 2 else 0


def make_context(cfg: dict, source: str = "config") -> SearchContext:
    """Load the data and build space, budget, backend and cross-validation folds of a validated
    search config."""
    profile, budget = resolve(cfg)
    data = load_dataset(cfg["data"], cfg["seed"])
    normalize = resolve_normalize(cfg["train"]["normalize"], data.input_shape)
    if cfg["runtime"] == "c" and normalize != "none":
        raise ConfigError(f"{source}: runtime: c takes int8 inputs, but train.normalize resolves to "
                          f"{normalize!r} on this data's {data.input_shape} inputs: set train.normalize: none")
    space = make_space(cfg["space"], data.input_shape, data.num_classes, source, normalize)
    backend = BACKENDS[cfg["search"]["backend"]](cfg["search"]["options"], source)
    k = fold_count(cfg, data, backend, source)
    folds = None
    if k:
        _, y, groups = pool(data)
        folds = stratified_folds(y, k, np.random.default_rng([cfg["seed"], k]), groups)
    return SearchContext(cfg, data, space, profile, budget, backend, folds)
