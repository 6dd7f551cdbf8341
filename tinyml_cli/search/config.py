"""The ``tinyml search`` config: common keys, data, search space, training, fidelity and search.

>>> cfg = validate({"search": {"backend": "random", "trials": 4}}, SEARCH_SCHEMA, "demo.yaml")
>>> cfg["data"]["name"], cfg["space"]["name"], cfg["search"]["top_k"], cfg["fidelity"]["epochs"]
('mnist1d', 'plain', 3, None)
>>> validate({"search": {"backend": "evolutoin"}}, SEARCH_SCHEMA, "demo.yaml")
Traceback (most recent call last):
...
tinyml_cli.errors.ConfigError: demo.yaml: search.backend: expected one of random, evolution, bayesian, nsga2, oneshot, differentiable, got 'evolutoin' (did you mean 'evolution'?)
"""

from __future__ import annotations

from typing import Any

from ..config import COMMON_SCHEMA, Field, choice, integer, mapping, number, optional, validate  # noqa: F401
from ..data import DATA_SCHEMA
from ..train.loop import TRAIN_SCHEMA
from .backends import BACKENDS


def backend_name(value: Any) -> str:
    """A registered backend (looked up when parsed, so later registrations count)."""
    return choice(*BACKENDS)(value)


def space_options(value: Any) -> dict:
    """The search space's options; ``name`` defaults to ``plain`` (options are checked by the space)."""
    return {"name": "plain", **mapping(value)}


SEARCH_SCHEMA = {
    **COMMON_SCHEMA,
    "data": DATA_SCHEMA,
    "space": Field(space_options, {"name": "plain"}, "search space options; `name` picks plain or mbnet"),
    "train": TRAIN_SCHEMA,
    "fidelity": {
        "epochs": Field(optional(integer(min_value=1)), None,
                        "screening epochs per trial (default: train.epochs); the top-k are then "
                        "trained for train.epochs"),
    },
    "search": {
        "backend": Field(backend_name, "evolution"),
        "trials": Field(integer(min_value=1), 20, "architectures to evaluate (infeasible ones included)"),
        "top_k": Field(integer(min_value=0), 3, "best screened candidates trained in full and saved"),
        "options": Field(mapping, {}, "the backend's own options"),
        "calibration_samples": Field(integer(min_value=1), 256, "training samples calibrating int8"),
        "stale_after_s": Field(number(min_value=1.0), 900.0,
                               "a running trial silent this long (no epoch finished) is failed"),
    },
}
