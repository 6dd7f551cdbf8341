"""``none``: the frozen deployed model, the baseline every method is compared with."""

from __future__ import annotations

from .base import Method


class Frozen(Method):
    """Predicts with the deployed model and never learns: no memory beyond the model.

    >>> import numpy as np
    >>> from tinyml_cli.adapt.demo import demo
    >>> from tinyml_cli.adapt.simulate import simulate
    >>> from tinyml_cli.drift.detectors import Adwin
    >>> ctx, x, z, y = demo()  # two classes; their labels swap at sample 300 of 600
    >>> trace = simulate(Frozen(ctx), Adwin(), x, z, y, label_time=np.arange(len(y)))
    >>> f"{trace.correct[:300].mean():.2f} before, {trace.correct[-100:].mean():.2f} at the end"
    '0.89 before, 0.06 at the end'
    """

    name = "none"
