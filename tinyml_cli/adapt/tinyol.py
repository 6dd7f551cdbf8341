"""``tinyol``: TinyOL (Ren et al., 2021): the frozen network's last layer is trained on the device by
SGD, one labelled sample at a time, and grows an output when a label it has never seen arrives."""

from __future__ import annotations

import numpy as np

from ..config import Field, learning_rate, number
from ..train.builder import GraphModule
from .base import FLOAT, Cost, Method, with_head


class TinyOL(Method):
    """Online SGD on the last layer (softmax cross-entropy), one sample per update.

    Options: ``lr`` the learning rate. RAM: the last layer's weights and biases (they change, so
    they live in SRAM), their gradient row by row (one output's gradient at a time: ``F + 1``
    floats), and the kept feature vector and output probabilities; flash: the features' mean and
    deviation used to standardise them.

    Reference: H. Ren, D. Anicic, T. A. Runkler, "TinyOL: TinyML with online-learning on
    microcontrollers", IJCNN 2021.

    >>> from tinyml_cli.adapt.demo import demo
    >>> from tinyml_cli.adapt.simulate import simulate
    >>> from tinyml_cli.drift.detectors import Adwin
    >>> ctx, x, z, y = demo()  # two classes; their labels swap at sample 300 of 600
    >>> trace = simulate(TinyOL(ctx), Adwin(), x, z, y, label_time=np.arange(len(y)))
    >>> f"{trace.correct[:300].mean():.2f} before, {trace.correct[-100:].mean():.2f} at the end"
    '0.90 before, 0.90 at the end'
    """

    name = "tinyol"
    schema = {"lr": Field(learning_rate, 0.1, "SGD learning rate (on standardised features)")}
    changes_weights = True

    def bind(self, x: np.ndarray, z: np.ndarray) -> None:
        self.z = self.head.standardize(z)

    def predict(self, t: int) -> int:
        return int(np.argmax(self.head.logits(self.z[t])))

    def learn(self, t: int, y: int) -> None:
        self.head.sgd(self.z[t:t + 1], np.array([y]), self.options["lr"])

    def cost(self) -> Cost:
        f, c = self.head.w.shape[1], max(self.head.classes, self.ctx.num_labels)
        return Cost(state=(f + 1) * c * FLOAT, gradients=(f + 1) * FLOAT, activations=(f + c) * FLOAT,
                    flash=2 * f * FLOAT, ops_per_update=2 * c * (f + 1))

    def state(self) -> dict[str, np.ndarray]:
        return self.head.state()

    def adapted(self) -> GraphModule:
        """The deployed network with the adapted last layer."""
        return with_head(self.ctx.module, self.head)
