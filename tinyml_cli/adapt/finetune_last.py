"""``finetune-last``: batch fine-tuning of the last layer from a bounded replay buffer of recent
labelled feature vectors."""

from __future__ import annotations

import numpy as np

from ..config import Field, integer, number
from ..train.builder import GraphModule
from .base import FLOAT, LABEL, STAMP, Cost, Method, with_head


class FinetuneLast(Method):
    """Every ``every`` labels, ``epochs`` passes of mini-batch SGD over the replay buffer (the last
    ``buffer`` labelled feature vectors) on the last layer. On a detection the buffer keeps only what
    arrived since the estimated change.

    Options: ``buffer`` samples kept, ``every`` labels between updates, ``epochs``, ``batch`` and
    ``lr``. RAM: the last layer, the buffer (features, labels, arrival stamps), one mini-batch of
    gradients and the batch's features and probabilities.

    >>> from tinyml_cli.adapt.demo import demo
    >>> from tinyml_cli.adapt.simulate import simulate
    >>> from tinyml_cli.drift.detectors import Adwin
    >>> ctx, x, z, y = demo()  # two classes; their labels swap at sample 300 of 600
    >>> trace = simulate(FinetuneLast(ctx), Adwin(), x, z, y, label_time=np.arange(len(y)))
    >>> f"{trace.correct[:300].mean():.2f} before, {trace.correct[-100:].mean():.2f} at the end"
    '0.90 before, 0.93 at the end'
    """

    name = "finetune-last"
    schema = {"buffer": Field(integer(min_value=1), 128), "every": Field(integer(min_value=1), 16),
              "epochs": Field(integer(min_value=1), 4), "batch": Field(integer(min_value=1), 16),
              "lr": Field(number(min_value=0.0), 0.2)}
    changes_weights = True

    def bind(self, x: np.ndarray, z: np.ndarray) -> None:
        self.z = self.head.standardize(z)
        self.kept: list[tuple[int, int]] = []  # (stream index, label), oldest first
        self.since_update = 0
        self.rng = np.random.default_rng(self.ctx.seed)
        self._valid_from, self._pred = 0, np.zeros(0, np.int64)

    def predict(self, t: int) -> int:
        # the weights only change every `every` labels: predict a block at once while they hold still
        if not self._valid_from <= t < self._valid_from + len(self._pred):
            self._valid_from = t
            self._pred = np.argmax(self.head.logits(self.z[t:t + self.options["every"]]), axis=1)
        return int(self._pred[t - self._valid_from])

    def learn(self, t: int, y: int) -> None:
        self.kept.append((t, y))
        if len(self.kept) > self.options["buffer"]:
            self.kept.pop(0)
        self.since_update += 1
        if self.since_update >= self.options["every"]:
            self.since_update = 0
            self._update()

    def _update(self) -> None:
        idx, labels = (np.array(column) for column in zip(*self.kept))
        for _ in range(self.options["epochs"]):
            order = self.rng.permutation(len(idx))
            for i in range(0, len(order), self.options["batch"]):
                pick = order[i:i + self.options["batch"]]
                self.head.sgd(self.z[idx[pick]], labels[pick], self.options["lr"])
        self._pred = self._pred[:0]

    def on_drift(self, t: int, since: int | None) -> None:
        start = since if since is not None else t - self.options["every"]
        self.kept = [(i, y) for i, y in self.kept if i >= start]

    def cost(self) -> Cost:
        o = self.options
        f, c = self.head.w.shape[1], max(self.head.classes, self.ctx.num_labels)
        return Cost(state=(f + 1) * c * FLOAT, buffers=o["buffer"] * (f * FLOAT + LABEL + STAMP),
                    gradients=(f + 1) * c * FLOAT, activations=o["batch"] * (f + c) * FLOAT, flash=2 * f * FLOAT,
                    ops_per_update=o["epochs"] * o["buffer"] * 3 * c * (f + 1))

    def state(self) -> dict[str, np.ndarray]:
        return {"weight": self.head.w, "bias": self.head.b, "mean": self.head.mean, "std": self.head.std}

    def adapted(self) -> GraphModule:
        """The deployed network with the adapted last layer."""
        return with_head(self.ctx.module, self.head)
