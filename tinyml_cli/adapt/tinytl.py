"""``tinytl``: TinyTL-style updates (Cai et al., 2020): the weights stay frozen; the biases of the
last few layers and the last layer's weights learn from small mini-batches of a bounded buffer.

To stay fast the network is cut once before the first updated layer: the frozen part runs over the
whole stream in one batched pass, and only the tail runs per update, from the cached activations.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from ..config import Field, integer, learning_rate, number
from ..ops import LAYER_OPS, layer_view
from ..train.builder import GraphModule
from .base import FLOAT, LABEL, STAMP, Cost, Method
from .replay import BlockPredictions, ReplayBuffer


def cut_index(module: GraphModule, layers: int) -> int:
    """Index of the first tail layer such that the tail holds the last ``layers`` layers with biases
    and reads nothing from before the cut but the cut tensor itself."""
    graph = module.graph
    with_bias = [i for i, l in enumerate(graph.layers) if l.bias or l.batch_norm]
    start = with_bias[-min(layers, len(with_bias))]
    while start > 0 and any(t < start for l in graph.layers[start:] for t in l.inputs if t != start):
        start -= 1
    return start


def trainable(module: GraphModule, start: int) -> list[torch.nn.Parameter]:
    """Biases of the tail's layers (batch-norm shifts where a convolution has batch norm) and the
    last layer's weights."""
    params = []
    for unit in module.layers[start:]:
        for name in ("conv", "bn", "fc"):
            part = getattr(unit, name, None)
            if part is not None and getattr(part, "bias", None) is not None:
                params.append(part.bias)
    return params + [module.classifier.weight]


class TinyTL(Method):
    """Bias and last-layer updates of a copy of the network from a bounded buffer.

    Options: ``layers`` how many layers with biases (counted from the classifier) learn;
    ``buffer`` labelled samples kept (their cut activations); ``every`` labels between updates;
    ``steps`` SGD steps per update on mini-batches of ``batch``; ``lr``. RAM: the trainable
    parameters and their gradients, the buffer (raw inputs: the device reruns the frozen part for a
    mini-batch, which the simulator caches) and what the backward pass keeps per mini-batch sample
    (ReLU masks, the last layer's input and output).

    >>> from tinyml_cli.adapt.demo import demo
    >>> from tinyml_cli.adapt.simulate import simulate
    >>> from tinyml_cli.drift.detectors import Adwin
    >>> ctx, x, z, y = demo()  # two classes; their labels swap at sample 300 of 600
    >>> trace = simulate(TinyTL(ctx, {"lr": 0.5}), Adwin(), x, z, y, label_time=np.arange(len(y)))
    >>> f"{trace.correct[:300].mean():.2f} before, {trace.correct[-100:].mean():.2f} at the end"
    '0.91 before, 0.95 at the end'
    """

    name = "tinytl"
    schema = {"layers": Field(integer(min_value=1), 2), "buffer": Field(integer(min_value=1), 64),
              "every": Field(integer(min_value=1), 32), "steps": Field(integer(min_value=1), 4),
              "batch": Field(integer(min_value=1), 32), "lr": Field(learning_rate, 0.05)}
    changes_weights = True

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.module = copy.deepcopy(ctx.module).eval()
        self.start = cut_index(self.module, self.options["layers"])
        self.stop = len(self.module.graph.layers)
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.params = trainable(self.module, self.start)
        for p in self.params:
            p.requires_grad_(True)
        self.opt = torch.optim.SGD(self.params, lr=self.options["lr"])

    @torch.no_grad()
    def bind(self, x: np.ndarray, z: np.ndarray) -> None:
        parts = []
        for i in range(0, len(x), 1024):
            t = self.module.prepare_input(torch.from_numpy(x[i:i + 1024]))
            parts.append(self.module.run_range(t, 0, self.start))
        self.h = torch.cat(parts) if parts else torch.zeros(0)
        self.buffer = ReplayBuffer(self.options["buffer"], self.options["every"])
        self.gen = torch.Generator().manual_seed(self.ctx.seed)
        self.blocks = BlockPredictions(self.options["every"], self._predict_block)

    @torch.no_grad()
    def _predict_block(self, start: int, stop: int) -> np.ndarray:
        return self.module.run_range(self.h[start:stop], self.start, self.stop).argmax(1).numpy()

    def predict(self, t: int) -> int:
        return self.blocks(t)

    def learn(self, t: int, y: int) -> None:
        if y >= self.module.classifier.out_features:
            self._grow(y + 1)
        if self.buffer.add(t, y):
            self._update()

    def _update(self) -> None:
        idx, labels = (torch.tensor(column) for column in self.buffer.columns())
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(self.options["steps"]):
            pick = torch.randint(len(idx), (min(self.options["batch"], len(idx)),), generator=self.gen)
            self.opt.zero_grad(set_to_none=True)
            loss_fn(self.module.run_range(self.h[idx[pick]], self.start, self.stop), labels[pick]).backward()
            self.opt.step()
        self.blocks.clear()

    def _grow(self, classes: int) -> None:
        """A new output for a class never seen (zero weights), as TinyOL does."""
        fc = self.module.classifier
        extra = classes - fc.out_features
        with torch.no_grad():
            weight = torch.cat([fc.weight, torch.zeros(extra, fc.in_features)])
            bias = torch.cat([fc.bias, torch.zeros(extra)])
        fc.weight, fc.bias = torch.nn.Parameter(weight), torch.nn.Parameter(bias)
        fc.out_features = classes
        self.params = trainable(self.module, self.start)
        self.opt = torch.optim.SGD(self.params, lr=self.options["lr"])

    def on_drift(self, t: int, since: int | None) -> None:
        self.buffer.on_drift(t, since)

    def cost(self) -> Cost:
        o, graph = self.options, self.module.graph
        tail = graph.layers[self.start:]
        fc = self.module.classifier
        c = max(fc.out_features, self.ctx.num_labels)
        params = sum(p.numel() for p in self.params) + (c - fc.out_features) * (fc.in_features + 1)
        # per mini-batch sample: 1-bit ReLU masks of the tail (bias gradients need no inputs), the
        # last layer's input (its weight gradient) and output; plus one sample's cut tensor in flight
        masks = sum(int(np.prod(l.output_shape)) for l in tail)
        per_sample = -(-masks // 8) + (fc.in_features + c) * FLOAT
        cut = int(np.prod(graph.tensor_shape(self.start))) * FLOAT
        frozen = sum(_macs(graph, l) for l in graph.layers[:self.start])
        macs = sum(_macs(graph, l) for l in tail)
        raw = int(np.prod(graph.input_shape)) * FLOAT
        return Cost(state=params * FLOAT, buffers=o["buffer"] * (raw + LABEL + STAMP), gradients=params * FLOAT,
                    activations=o["batch"] * per_sample + cut,
                    ops_per_update=o["steps"] * o["batch"] * (frozen + 3 * macs))

    def state(self) -> dict[str, np.ndarray]:
        return {name: p.detach().numpy() for name, p in self.module.named_parameters() if p.requires_grad}

    def adapted(self) -> GraphModule:
        """The adapted network (eval mode)."""
        return self.module


def _macs(graph, layer) -> int:
    """Multiply-accumulates of one layer, from the op table."""
    view = layer_view(layer, graph.input_shapes(layer))
    return LAYER_OPS[layer.op].kind.costs(view, "mcu").macs or 0
