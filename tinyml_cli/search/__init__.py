"""Multi-trial architecture search on one Optuna study: backends by name, one shared driver."""

from .backends import BACKENDS, Backend
from .config import SEARCH_SCHEMA
from .driver import PreparedRun, prepare_run, run_search

__all__ = ["BACKENDS", "Backend", "SEARCH_SCHEMA", "PreparedRun", "prepare_run", "run_search"]
