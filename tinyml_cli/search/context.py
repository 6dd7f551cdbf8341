"""Everything a search worker needs, built once from the resolved config."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arch import Arch, SearchSpace, make_space
from ..data import Dataset, load_dataset, resize_dataset
from ..mcu import Budget, McuProfile, budget_for, load_profile
from .backends import BACKENDS, Backend


@dataclass
class SearchContext:
    """The resolved config with the dataset, search space, MCU budget and backend it names."""

    cfg: dict
    data: Dataset
    space: SearchSpace
    profile: McuProfile
    budget: Budget
    backend: Backend
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


def make_context(cfg: dict, source: str = "config") -> SearchContext:
    """Load the data and build space, budget and backend of a validated search config."""
    profile = load_profile(cfg["mcu"])
    data = load_dataset(cfg["data"], cfg["seed"])
    space = make_space(cfg["space"], data.input_shape, data.num_classes, source)
    backend = BACKENDS[cfg["search"]["backend"]](cfg["search"]["options"], source)
    return SearchContext(cfg, data, space, profile, budget_for(profile, cfg["constraints"]), backend)
