"""The ``tinyml search`` config: common keys, data, search space, training, fidelity and search.

>>> cfg = validate({"search": {"backend": "random", "trials": 4}}, SEARCH_SCHEMA, "demo.yaml")
>>> cfg["data"]["name"], cfg["space"]["name"], cfg["search"]["top_k"], cfg["fidelity"]["epochs"]
('mnist1d', 'plain', 3, 'auto')
>>> validate({"search": {"backend": "evolutoin"}}, SEARCH_SCHEMA, "demo.yaml")
Traceback (most recent call last):
...
tinyml_cli.errors.ConfigError: demo.yaml: search.backend: expected one of random, evolution, bayesian, nsga2, oneshot, differentiable, rl, autotinyml, got 'evolutoin' (did you mean 'evolution'?)
"""

from __future__ import annotations

from typing import Any

from ..config import COMMON_SCHEMA, Field, boolean, choice, integer, mapping, number, optional, validate  # noqa: F401
from ..arch import SPACES
from ..data import DATA_SCHEMA
from ..train.loop import TRAIN_SCHEMA, epochs_or_auto
from .backends import BACKENDS
from ..errors import shown


def backend_name(value: Any) -> str:
    """A registered backend (looked up when parsed, so later registrations count)."""
    return choice(*BACKENDS)(value)


AUTO = "auto"
# ``cv_folds: auto`` cross-validates when the validation split is this small: with fewer than 200
# samples one sample moves accuracy by half a point or more and the standard error of an 80% accuracy
# is above 3 points, more than the gaps between the architectures a search has to rank.
AUTO_CV_BELOW = 200
AUTO_CV_FOLDS = 5
# ``fidelity.epochs: auto`` screens at a fifth of the full training (at least 5 epochs): on the small
# sets of scripts/bench_small_data.py a screen at 60 of 300 epochs ranked as well as a full one and
# fits five times the trials into the same time.
AUTO_FIDELITY_DIVISOR = 5
AUTO_FIDELITY_MIN = 5


def cv_folds(value: Any) -> int | str:
    """A fold count (0 or 1: no cross-validation), or ``auto``."""
    return value if value == AUTO else integer(min_value=0, max_value=50)(value)


def space_options(value: Any) -> dict:
    """The search space's options; ``name`` (default ``plain``) is checked here, the other options
    by the space."""
    options = {"name": "plain", **mapping(value)}
    name = options["name"]
    if not isinstance(name, str) or name not in SPACES:
        raise ValueError(f"name: expected one of {', '.join(SPACES)}, got {shown(name)}")
    return options


SEARCH_SCHEMA = {
    **COMMON_SCHEMA,
    "data": DATA_SCHEMA,
    "space": Field(space_options, {"name": "plain"}, "search space options; `name` picks plain or mbnet"),
    "train": TRAIN_SCHEMA,
    "fidelity": {
        "epochs": Field(optional(epochs_or_auto), AUTO,
                        f"screening epochs per trial; auto: 1/{AUTO_FIDELITY_DIVISOR} of train.epochs (at least "
                        f"{AUTO_FIDELITY_MIN}); null: train.epochs. The top-k are then trained for train.epochs"),
    },
    "search": {
        "backend": Field(backend_name, "evolution"),
        "trials": Field(integer(min_value=1), 20, "architectures to train or score; those the estimator "
                        "rejects (do not fit) and repeats are recorded but do not count (rejections do with "
                        "autotinyml, as in its paper)"),
        "max_rejections": Field(integer(min_value=1), 500, "stop screening after this many proposals in a "
                                "row that do not fit the budget or repeat one already evaluated"),
        "timeout_s": Field(optional(number(min_value=0.0)), None, "stop screening after this many seconds "
                           "(then the top-k are trained in full)"),
        "cv_folds": Field(cv_folds, AUTO, "stratified k-fold cross-validation on train + validation for "
                          f"ranking (0: off, the validation split ranks); auto: {AUTO_CV_FOLDS} folds when "
                          f"the validation split holds fewer than {AUTO_CV_BELOW} samples"),
        "warm_start": Field(boolean, True, "evaluate the space's textbook networks first (plain: stacks "
                            "of three convolutions with global pooling; mbnet: MobileNetV2's choices)"),
        "racing": Field(boolean, True, "with cross-validation: skip a candidate's remaining folds once its "
                        "accuracy so far is two fold spreads below the top-k"),
        "baseline": Field(boolean, True, "fit logistic regression and an RBF SVM on the same split as a "
                          "reference line (seconds)"),
        "top_k": Field(integer(min_value=0), 3, "best screened candidates trained in full and saved"),
        "options": Field(mapping, {}, "the backend's own options"),
        "calibration_samples": Field(integer(min_value=1), 256, "training samples calibrating int8"),
        "stale_after_s": Field(number(min_value=1.0), 900.0,
                               "a running trial silent this long (no epoch finished) is failed"),
    },
}
