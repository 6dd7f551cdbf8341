"""Post-training int8 quantization following the TFLite int8 spec, and optional QAT fine-tuning.

Batch norm is folded into the convolutions; weights become per-channel symmetric int8 (per-tensor for
FULLY_CONNECTED, as the TFLite converter does), biases int32 with scale = input scale x weight scale,
and activations per-tensor asymmetric int8 calibrated (min/max) on training samples. Fused ReLU/ReLU6
need no extra op: the calibrated range of a post-activation tensor already starts at 0.

>>> import torch
>>> from tinyml_cli.arch.graph import GraphBuilder
>>> from tinyml_cli.train.builder import build_module
>>> b = GraphBuilder((6, 6, 1)); t = b.conv(b.input, 4, 3, activation="relu")
>>> t = b.mean(t); t = b.fully_connected(t, 3); _ = b.softmax(t)
>>> g = b.finish(); _ = torch.manual_seed(0)
>>> q = quantize(FoldedModule.from_module(build_module(g).eval()), np.ones((4, 6, 6, 1), np.float32))
>>> q.layers[0].weight.dtype, q.layers[0].bias.dtype, q.tensors[-1]
(dtype('int8'), dtype('int32'), QParams(scale=0.00390625, zero_point=-128))
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..arch.graph import Layer, LayerGraph
from ..data import Dataset
from ..ops import LAYER_OPS
from ..ops.precision import conversions
from ..train.builder import GraphModule, normalize_input

QMIN, QMAX = -128, 127
SOFTMAX_OUTPUT = (1.0 / 256.0, -128)
# Per element type: the activation grid (int16 symmetric, as TFLite's 16x8 scheme), the symmetric
# weight bound (int4 as TFLite's INT4 weights: [-7, 7]), a SOFTMAX's fixed output parameters and
# the bias bound (int64 bias with int16 activations).
ACTIVATION_RANGE = {"int8": (QMIN, QMAX), "int16": (-32767, 32767)}
WEIGHT_MAX = {"int8": QMAX, "int4": 7}
SOFTMAX_OUTPUTS = {"int8": SOFTMAX_OUTPUT, "int16": (1.0 / 32768.0, 0)}
BIAS_RANGE = {"int8": (-2**31, 2**31 - 1), "int16": (-2**63, 2**63 - 1)}
# Layers with weights (quantized per channel or per tensor, as their op says).
WEIGHT_OPS = tuple(name for name, op in LAYER_OPS.items() if op.weight_axis is not None)


@dataclass(frozen=True)
class QParams:
    """Per-tensor affine quantization: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


@dataclass
class QuantLayer:
    """Int8 weights (TFLite layout) with their scales, and the int32 bias; ``weight_type`` "int4":
    the values lie in [-7, 7] (written packed); an int64 bias with int16 activations."""

    weight: np.ndarray
    weight_scale: np.ndarray
    bias: np.ndarray
    quantized_dimension: int
    weight_type: str = "int8"


@dataclass
class QuantizedModel:
    """Everything the TFLite writer needs: the graph, each tensor's QParams, each layer's weights,
    and the float constants of the input normalization's front (``mean``, ``inv_std``). With mixed
    precision, ``conversions`` holds the parameters of each tensor requantized to another type
    (``(tensor, type)``: QParams) where a layer of that activation type reads it."""

    graph: LayerGraph
    tensors: list[QParams]
    layers: list[QuantLayer | None]
    front: dict[str, np.ndarray] = field(default_factory=dict)
    conversions: dict[tuple[int, str], QParams] = field(default_factory=dict)

    @property
    def output(self) -> QParams:
        """The int8 model output's parameters (an int16 last tensor is requantized to int8)."""
        return self.conversions.get((len(self.graph.layers), "int8"), self.tensors[-1])


def activation_qparams(lo: float, hi: float) -> QParams:
    """Asymmetric int8 parameters for a real range (widened to contain 0, as TFLite requires).

    >>> activation_qparams(0.0, 6.0)
    QParams(scale=0.023529411764705882, zero_point=-128)
    """
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = (hi - lo) / (QMAX - QMIN)
    zero_point = int(np.clip(round(QMIN - lo / scale), QMIN, QMAX))
    return QParams(scale, zero_point)


def tensor_qparams(lo: float, hi: float, dtype: str = "int8") -> QParams:
    """Parameters of a tensor of element type ``dtype`` for a real range: int8 asymmetric, int16
    symmetric (zero point 0, as TFLite's 16x8 scheme requires).

    >>> tensor_qparams(-1.0, 3.0, "int16")
    QParams(scale=9.155552842799158e-05, zero_point=0)
    """
    if dtype == "int8":
        return activation_qparams(lo, hi)
    peak = max(abs(float(lo)), abs(float(hi)), 1e-8)
    return QParams(peak / ACTIVATION_RANGE[dtype][1], 0)


def weight_axis(op: str) -> int:
    """The quantized dimension of a layer's TFLite-layout weights: output channels (0) for CONV_2D,
    channels (3) for DEPTHWISE_CONV_2D (the op table's ``weight_axis``)."""
    return LAYER_OPS[op].weight_axis


def weight_scales(weight: np.ndarray, op: str, qmax: int = QMAX) -> np.ndarray:
    """Symmetric scales: max |w| / 127 (``qmax``: 7 for int4) per output channel (one scale where
    the op quantizes its weights per tensor, as FULLY_CONNECTED does)."""
    if not LAYER_OPS[op].per_channel:
        peak = np.abs(weight).max(keepdims=True).reshape(1)
    else:
        axis = weight_axis(op)
        peak = np.abs(np.moveaxis(weight, axis, 0)).reshape(weight.shape[axis], -1).max(axis=1)
    return np.where(peak > 0, peak / qmax, 1.0).astype(np.float64)


def _channel_shape(op: str, ndim: int) -> tuple[int, ...]:
    shape = [1] * ndim
    if LAYER_OPS[op].per_channel:
        shape[weight_axis(op)] = -1
    return tuple(shape)


class FoldedModule(nn.Module):
    """The deployed network in float: batch norm folded, TFLite weight layouts, NHWC tensors.

    With ``qparams`` set (one QParams per tensor) it runs fake-quantized: weights, biases and every
    tensor are rounded to their grid (each layer's precision: int8 or int4 weights, int8 or int16
    activations, and a tensor read by a layer of another activation type rounded to that type's grid
    too, as the QUANTIZE between them does), with straight-through gradients for QAT.
    """

    def __init__(self, graph: LayerGraph, weights: dict[int, tuple[np.ndarray, np.ndarray]],
                 front: dict[str, np.ndarray] | None = None) -> None:
        super().__init__()
        self.graph = graph
        for name, value in (front or {}).items():   # the input normalization's statistics
            self.register_buffer(name, torch.tensor(value, dtype=torch.float32))
        self.weight = nn.ParameterDict({str(i): nn.Parameter(torch.tensor(w, dtype=torch.float32))
                                        for i, (w, _) in weights.items()})
        self.bias = nn.ParameterDict({str(i): nn.Parameter(torch.tensor(b, dtype=torch.float32))
                                      for i, (_, b) in weights.items()})
        self.qparams: list[QParams] | None = None
        self.conversions: dict[tuple[int, str], QParams] = {}

    @classmethod
    def from_module(cls, module: GraphModule) -> "FoldedModule":
        """Fold each convolution's batch norm (eval statistics) into its weights and bias, and take
        the weights into TFLite layouts (on the CPU, wherever ``module`` lives)."""
        weights = {}
        for i, (layer, unit) in enumerate(zip(module.graph.layers, module.layers)):
            exported = LAYER_OPS[layer.op].export_weights(unit)
            if exported is not None:
                w, b = exported
                weights[i] = (w.detach().cpu().numpy(), b.detach().cpu().numpy())
        front = ({name: buffer.detach().cpu().numpy() for name, buffer in module.input_norm.named_buffers()}
                 if module.input_norm is not None else {})
        return cls(module.graph, weights, front)

    def front_constants(self) -> dict[str, np.ndarray]:
        """The input normalization's statistics (float32), for the .tflite front."""
        return {name: getattr(self, name).detach().cpu().numpy() for name in ("mean", "inv_std")
                if hasattr(self, name)}

    def _fake(self, x: torch.Tensor, tensor: int, dtype: str | None = None) -> torch.Tensor:
        """``tensor`` rounded to its grid (or, with ``dtype``, to its requantized grid of that type)."""
        if self.qparams is None:
            return x
        if not self.graph.precision:
            q = self.qparams[tensor]
            return _fake_quant(x, q.scale, q.zero_point, QMIN, QMAX)
        types = self.graph.tensor_types
        if dtype is None or dtype == types[tensor]:
            q, dtype = self.qparams[tensor], types[tensor]
        else:
            q = self.conversions[tensor, dtype]
        return _fake_quant(x, q.scale, q.zero_point, *ACTIVATION_RANGE[dtype])

    def _input_scale(self, layer: Layer, act: str) -> float:
        t = layer.inputs[0]
        return self.conversions[t, act].scale if (t, act) in self.conversions else self.qparams[t].scale

    def _layer_params(self, i: int, layer: Layer) -> tuple[torch.Tensor, torch.Tensor]:
        w, b = self.weight[str(i)], self.bias[str(i)]
        if self.qparams is None:
            return w, b
        wtype, act = self.graph.layer_types(i)
        qmax = WEIGHT_MAX[wtype]
        scale = torch.tensor(weight_scales(w.detach().double().numpy(), layer.op, qmax), dtype=torch.float32)
        w = _fake_quant(w, scale.reshape(_channel_shape(layer.op, w.dim())), 0, -qmax, qmax)
        bias_scale = scale * self._input_scale(layer, act)
        return w, _fake_quant(b, bias_scale, 0, *BIAS_RANGE[act])

    def _apply(self, i: int, layer: Layer, inputs: list[torch.Tensor]) -> torch.Tensor:
        op = LAYER_OPS[layer.op]
        w, b = self._layer_params(i, layer) if op.weight_axis is not None else (None, None)
        return op.forward(layer, inputs, w, b)

    def _run(self, x: torch.Tensor, stop: int) -> list[torch.Tensor]:
        """Every tensor up to ``stop`` for raw input ``x`` (tensor 0: the normalized input)."""
        x = normalize_input(x, self.graph.normalize, getattr(self, "mean", None), getattr(self, "inv_std", None))
        out = [self._fake(x, 0)]
        mixed = bool(self.graph.precision) and self.qparams is not None
        for i, layer in enumerate(self.graph.layers[:stop]):
            act = self.graph.layer_types(i)[1]
            inputs = [self._fake(out[t], t, act) if mixed else out[t] for t in layer.inputs]
            out.append(self._fake(self._apply(i, layer, inputs), i + 1))
        return out

    def tensors(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every tensor of the graph (NHWC), the input first."""
        return self._run(x, len(self.graph.layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits: the input of the final SOFTMAX (the last tensor when there is none)."""
        stop = len(self.graph.layers) - (LAYER_OPS[self.graph.layers[-1].op].output_quant == "softmax")
        return self._run(x, stop)[stop]


def _fake_quant(x: torch.Tensor, scale: torch.Tensor | float, zero_point: int, lo: int,
                hi: int) -> torch.Tensor:
    """Round to the quantization grid, with straight-through gradients."""
    q = (torch.clamp(torch.round(x / scale) + zero_point, lo, hi) - zero_point) * scale
    return x + (q - x).detach()


@torch.no_grad()
def calibrate(folded: FoldedModule, samples: np.ndarray, batch_size: int = 256) -> list[QParams]:
    """Per-tensor QParams from the min/max each tensor reaches on ``samples`` (float, unquantized)."""
    saved, folded.qparams = folded.qparams, None
    graph = folded.graph
    lo = np.full(len(graph.tensor_shapes), np.inf)
    hi = np.full(len(graph.tensor_shapes), -np.inf)
    for start in range(0, len(samples), batch_size):
        for t, value in enumerate(folded.tensors(torch.from_numpy(samples[start:start + batch_size]))):
            lo[t] = min(lo[t], float(value.min()))
            hi[t] = max(hi[t], float(value.max()))
    folded.qparams = saved
    types = graph.tensor_types
    folded.conversions = {(t, dtype): tensor_qparams(lo[t], hi[t], dtype) for t, dtype in conversions(graph)}
    params = [activation_qparams(lo[0], hi[0])]
    for i, layer in enumerate(graph.layers):
        rule = LAYER_OPS[layer.op].output_quant
        if rule == "softmax":
            params.append(QParams(*SOFTMAX_OUTPUTS[types[i + 1]]))
        elif rule == "input":                         # the kernel keeps its input's parameters
            t = layer.inputs[0]
            params.append(folded.conversions.get((t, types[i + 1]), params[t]))
        else:
            params.append(tensor_qparams(lo[i + 1], hi[i + 1], types[i + 1]))
    return params


def quantize(folded: FoldedModule, samples: np.ndarray) -> QuantizedModel:
    """Calibrate on ``samples`` (sets ``folded.qparams``), then quantize every weight and bias."""
    folded.qparams = calibrate(folded, samples)
    return quantize_layers(folded)


def quantize_layers(folded: FoldedModule) -> QuantizedModel:
    """Int8 (or int4) weights and int32 (int64) biases of a calibrated folded module (after QAT, say)."""
    if folded.qparams is None:
        raise ValueError("calibrate the folded module before quantizing its layers")
    layers: list[QuantLayer | None] = []
    for i, layer in enumerate(folded.graph.layers):
        if LAYER_OPS[layer.op].weight_axis is None:
            layers.append(None)
            continue
        w = folded.weight[str(i)].detach().double().numpy()
        b = folded.bias[str(i)].detach().double().numpy()
        wtype, act = folded.graph.layer_types(i)
        qmax = WEIGHT_MAX[wtype]
        scale = weight_scales(w, layer.op, qmax)
        q = np.clip(np.round(w / scale.reshape(_channel_shape(layer.op, w.ndim))), -qmax, qmax)
        bias_scale = scale * folded._input_scale(layer, act)
        qb = np.clip(np.round(b / bias_scale), *BIAS_RANGE[act])
        layers.append(QuantLayer(q.astype(np.int8), scale, qb.astype(np.int64 if act == "int16" else np.int32),
                                 weight_axis(layer.op), wtype))
    return QuantizedModel(folded.graph, list(folded.qparams), layers, folded.front_constants(),
                          dict(folded.conversions))


@torch.no_grad()
def folded_logits(folded: FoldedModule, x: np.ndarray, quantized: bool = True,
                  batch_size: int = 256) -> np.ndarray:
    """Logits of the folded module: fake-quantized when it is calibrated and ``quantized``, else float."""
    folded.eval()
    saved = folded.qparams
    if not quantized:
        folded.qparams = None
    try:
        outs = [folded(torch.from_numpy(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    finally:
        folded.qparams = saved
    return torch.cat(outs).numpy()


def folded_accuracy(folded: FoldedModule, x: np.ndarray, y: np.ndarray, quantized: bool = True) -> float:
    """Top-1 accuracy of :func:`folded_logits` on ``(x, y)`` (nan for no samples)."""
    if not len(x):
        return float("nan")
    return float((folded_logits(folded, x, quantized).argmax(1) == y).mean())


def int8_accuracies(module: GraphModule, x_calib: np.ndarray,
                    *splits: tuple[np.ndarray, np.ndarray]) -> list[float]:
    """Top-1 accuracy on each ``(x, y)`` split of the int8 model export writes for ``module``:
    batch norm folded, calibrated on ``x_calib``, run fake-quantized."""
    folded = FoldedModule.from_module(module)
    quantize(folded, x_calib)
    return [folded_accuracy(folded, x, y) for x, y in splits]


def qat_finetune(folded: FoldedModule, data: Dataset, epochs: int, lr: float = 1e-4,
                 batch_size: int = 64, seed: int = 0) -> FoldedModule:
    """Quantization-aware fine-tuning: train the folded weights through fake quantization (ranges
    fixed from calibration, straight-through gradients); keeps the best validation epoch."""
    if folded.qparams is None:
        raise ValueError("calibrate (quantize) before QAT fine-tuning")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(folded.parameters(), lr=lr)
    x_all, y_all = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)

    best, best_state = folded_accuracy(folded, data.x_val, data.y_val), copy.deepcopy(folded.state_dict())
    for _ in range(epochs):
        folded.train()
        order = torch.randperm(len(x_all), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(folded(x_all[idx]), y_all[idx]).backward()
            opt.step()
        acc = folded_accuracy(folded, data.x_val, data.y_val)
        if acc > best:
            best, best_state = acc, copy.deepcopy(folded.state_dict())
    folded.load_state_dict(best_state)
    return folded.eval()
