"""``none``: the frozen deployed model, the baseline every method is compared with."""

from __future__ import annotations

from .base import Method


class Frozen(Method):
    """Predicts with the deployed model and never learns: no memory beyond the model.

    >>> Frozen.name, Frozen.changes_weights
    ('none', False)
    """

    name = "none"
