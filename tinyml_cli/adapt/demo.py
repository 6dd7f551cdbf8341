"""A tiny deployed model and a drifting stream for examples and quick checks: two Gaussian classes
in four features, a one-layer network that separates them, labels swapped half-way."""

from __future__ import annotations

import numpy as np
import torch

from ..arch import Arch, build_graph
from ..train.builder import build_module
from .base import Context


def demo(seed: int = 0, n: int = 600, swap_at: int = 300) -> tuple[Context, np.ndarray, np.ndarray, np.ndarray]:
    """``(context, x, z, y)``: the model's context, stream inputs, their features and labels (swapped
    from ``swap_at`` on).

    >>> ctx, x, z, y = demo()
    >>> agree = y == (x[:, 0, 0, 0] < 0)  # the model's rule: class 1 when the first feature is negative
    >>> x.shape, z.shape, round(float(agree[:300].mean()), 2), round(float(agree[300:].mean()), 2)
    ((600, 1, 4, 1), (600, 4), 0.89, 0.08)
    """
    arch = Arch("plain", (1, 4, 1), 2, {"layers": [], "reduce": "flatten", "dense": []})
    module = build_module(build_graph(arch)).eval()
    with torch.no_grad():
        module.classifier.weight.copy_(torch.tensor([[2.0, 0, 0, 0], [-2.0, 0, 0, 0]]))
        module.classifier.bias.zero_()
    rng = np.random.default_rng(seed)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, count)
        x = rng.normal(0.0, 0.7, (count, 4)).astype(np.float32)
        x[:, 0] += np.where(y == 0, 1.0, -1.0)
        return x.reshape(count, 1, 4, 1), y

    ref_x, ref_y = draw(400)
    x, y = draw(n)
    y[swap_at:] = 1 - y[swap_at:]
    ctx = Context(arch, module, ref_x.reshape(-1, 4), ref_y, 2, seed, ref_x)
    return ctx, x, x.reshape(-1, 4), y
