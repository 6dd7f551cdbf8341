"""The int8 estimate: batch-norm folding is exact, tensors land on their int8 grids, and a trained
model keeps its accuracy within a few points."""

import functools

import numpy as np
import torch

from tinyml_cli.arch import Arch, build_graph
from tinyml_cli.data import load_builtin
from tinyml_cli.train.builder import build_module
from tinyml_cli.train.loop import TRAIN_SCHEMA, accuracy, fit, predict
from tinyml_cli.train.quant import fold_batch_norm, int8_accuracy, quantize_module
from tinyml_cli.config import validate


@functools.lru_cache(maxsize=1)
def trained_digits_model():
    data = load_builtin("digits", seed=0, samples=900)
    arch = Arch("plain", (8, 8, 1), 10, {"layers": [
        {"type": "conv", "channels": 8, "kernel": 3, "stride": 1},
        {"type": "dwsep", "channels": 16, "kernel": 3, "stride": 2}], "reduce": "avg", "dense": [16]})
    model = build_module(build_graph(arch))
    fit(model, data, validate({"epochs": 12, "device": "cpu", "lr": 0.01, "batch_size": 32}, TRAIN_SCHEMA, "t"), seed=0)
    return model, data


def test_folding_keeps_outputs_and_int8_keeps_accuracy():
    model, data = trained_digits_model()
    folded = fold_batch_norm(model)
    assert all(getattr(u, "bn", None) is None for u in folded.layers)
    np.testing.assert_allclose(predict(folded, data.x_test), predict(model, data.x_test), atol=1e-4)

    q = quantize_module(model, data.x_train[:200])
    logits = predict(q, data.x_test)
    scale, zero = q.activation_quant.params(len(q.graph.layers))
    steps = logits / scale + zero
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert steps.min() >= -128 - 1e-3 and steps.max() <= 127 + 1e-3
    assert not np.allclose(logits, predict(model, data.x_test))  # rounding does change the numbers

    float_acc = accuracy(model, data.x_test, data.y_test)
    int8_acc = int8_accuracy(model, data.x_train[:200], data.x_test, data.y_test)
    assert float_acc > 0.5
    assert abs(int8_acc - float_acc) <= 0.04


def test_weights_are_per_channel_int8_with_int32_bias():
    model, data = trained_digits_model()
    q = quantize_module(model, data.x_train[:100])
    folded = fold_batch_norm(model)
    for i, scale in q.weight_scales.items():
        unit = q.layers[i]
        w = (unit.conv if hasattr(unit, "conv") else unit.fc).weight.detach()
        ref = (folded.layers[i].conv if hasattr(unit, "conv") else folded.layers[i].fc).weight.detach()
        shape = (-1,) + (1,) * (w.dim() - 1)
        # scale is max|w| / 127 of each output channel, and every weight within half a step of its float
        torch.testing.assert_close(scale, ref.reshape(len(ref), -1).abs().amax(1) / 127)
        assert ((w - ref).abs() <= scale.view(shape) / 2 + 1e-7).all()
