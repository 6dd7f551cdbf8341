"""``finetune-last``: batch fine-tuning of the last layer from a bounded replay buffer of recent
labelled feature vectors."""

from __future__ import annotations

import numpy as np

from ..config import Field, integer, learning_rate, number
from ..train.builder import GraphModule
from .base import FLOAT, LABEL, STAMP, Cost, Method, with_head
from .replay import BlockPredictions, ReplayBuffer


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
              "lr": Field(learning_rate, 0.2)}
    changes_weights = True

    def bind(self, x: np.ndarray, z: np.ndarray) -> None:
        self.z = self.head.standardize(z)
        self.buffer = ReplayBuffer(self.options["buffer"], self.options["every"])
        self.rng = np.random.default_rng(self.ctx.seed)
        self.blocks = BlockPredictions(self.options["every"], self._predict_block)

    def _predict_block(self, start: int, stop: int) -> np.ndarray:
        return np.argmax(self.head.logits(self.z[start:stop]), axis=1)

    def predict(self, t: int) -> int:
        return self.blocks(t)

    def learn(self, t: int, y: int) -> None:
        if self.buffer.add(t, y):
            self._update()

    def _update(self) -> None:
        idx, labels = (np.array(column) for column in self.buffer.columns())
        for _ in range(self.options["epochs"]):
            order = self.rng.permutation(len(idx))
            for i in range(0, len(order), self.options["batch"]):
                pick = order[i:i + self.options["batch"]]
                self.head.sgd(self.z[idx[pick]], labels[pick], self.options["lr"])
        self.blocks.clear()

    def on_drift(self, t: int, since: int | None) -> None:
        self.buffer.on_drift(t, since)

    def cost(self) -> Cost:
        o = self.options
        f, c = self.head.w.shape[1], max(self.head.classes, self.ctx.num_labels)
        return Cost(state=(f + 1) * c * FLOAT, buffers=o["buffer"] * (f * FLOAT + LABEL + STAMP),
                    gradients=(f + 1) * c * FLOAT, activations=o["batch"] * (f + c) * FLOAT, flash=2 * f * FLOAT,
                    ops_per_update=o["epochs"] * o["buffer"] * 3 * c * (f + 1))

    def state(self) -> dict[str, np.ndarray]:
        return self.head.state()

    def adapted(self) -> GraphModule:
        """The deployed network with the adapted last layer."""
        return with_head(self.ctx.module, self.head)
