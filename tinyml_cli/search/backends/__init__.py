"""Search backends by name. Adding one means adding a module with a Backend subclass and a line here
(what a backend provides: ``base.py``'s docstring)."""

from __future__ import annotations

from .autotinyml import AutotinymlBackend
from .base import COSTS, Backend, GenomeSampler
from .bayesian import BayesianBackend
from .differentiable import DifferentiableBackend
from .evolution import EvolutionBackend
from .nsga2 import Nsga2Backend
from .oneshot import OneshotBackend
from .random_search import RandomBackend
from .rl import RlBackend

BACKENDS: dict[str, type[Backend]] = {}
BACKENDS["random"] = RandomBackend
BACKENDS["evolution"] = EvolutionBackend
BACKENDS["bayesian"] = BayesianBackend
BACKENDS["nsga2"] = Nsga2Backend
BACKENDS["oneshot"] = OneshotBackend
BACKENDS["differentiable"] = DifferentiableBackend
BACKENDS["rl"] = RlBackend
BACKENDS["autotinyml"] = AutotinymlBackend

__all__ = ["BACKENDS", "COSTS", "Backend", "GenomeSampler"]
