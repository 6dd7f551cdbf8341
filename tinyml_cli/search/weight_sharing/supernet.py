"""A weight-sharing supernet over an :class:`~tinyml_cli.arch.mbnet.MbnetSpace` (Once-for-All, MCUNet).

The layout (channels at a width, hidden channels, strides, residuals, a block's convolutions) comes
from :mod:`tinyml_cli.arch.mbnet`, the functions its graph builder uses.

One set of weights serves every architecture of the space. Each block is elastic in

- kernel: the centre of the largest kernel serves the smaller ones (crop),
- expand ratio: the leading hidden channels,
- depth: the leading blocks of each stage (the space's expand-0 skip genes drop blocks, and a decoded
  Arch lists only the blocks it keeps, so an Arch with ``n`` blocks in a stage uses the first ``n``),
- width: the leading channels of every layer.

A subnet's weights can be extracted into a stand-alone :class:`~tinyml_cli.train.builder.GraphModule`
that computes exactly what the supernet computes with that subnet selected.

>>> import numpy as np
>>> from tinyml_cli.arch import build_graph, make_space
>>> space = make_space({"widths": [0.25, 0.5], "stages": [{"channels": 8, "depth": 2, "stride": 2}],
...                     "head_channels": 16}, (1, 40, 1), 10)
>>> net = Supernet(space).eval()
>>> arch = space.sample(np.random.default_rng(0))
>>> x = torch.randn(2, 1, 40, 1)
>>> module = net.extract(arch).eval()
>>> bool(torch.allclose(net(x, arch), module(x), atol=1e-5))
True
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...arch import Arch, build_graph
from ...arch.graph import same_padding
from ...arch.mbnet import (MbnetSpace, block_stride, block_units, has_residual, head_channels, hidden_channels,
                           scaled_channels)
from ...arch.space import Genome
from ...errors import ArchError
from ...ops.torch_layers import ConvUnit
from ...train.builder import GraphModule, InputNorm, build_module

_ACT = {"none": lambda x: x, "relu6": F.relu6}


class ElasticConv(nn.Module):
    """A convolution + batch norm + activation at its largest size; smaller ones use leading
    channels and the centre of the kernel. Depthwise when ``depthwise`` (output channels = input);
    ``one_d`` gives a ``1 x kernel`` window (layers whose input always has height 1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, activation: str,
                 one_d: bool, depthwise: bool = False) -> None:
        super().__init__()
        kh = 1 if one_d else kernel
        shape = (out_channels, 1 if depthwise else in_channels, kh, kernel)
        self.weight = nn.Parameter(torch.empty(shape))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        self.bn = nn.BatchNorm2d(out_channels)
        self.stride, self.activation, self.depthwise = stride, activation, depthwise

    def kernel_weight(self, out_channels: int, in_channels: int, kh: int, kw: int) -> torch.Tensor:
        """The leading ``out_channels`` x ``in_channels`` of the weight, cropped to ``kh`` x ``kw``."""
        w = self.weight[:out_channels] if self.depthwise else self.weight[:out_channels, :in_channels]
        top, left = (w.shape[2] - kh) // 2, (w.shape[3] - kw) // 2
        return w[:, :, top:top + kh, left:left + kw]

    def forward(self, x: torch.Tensor, out_channels: int = 0, kernel: int = 0,
                kernel_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run at ``out_channels`` (ignored when depthwise) and ``kernel`` (0: the largest) on NCHW ``x``;
        ``kernel_mask`` (the weight's spatial shape) scales the largest kernel's taps instead.

        Like the IR, a tensor of height 1 gets a ``1 x kernel`` window (the kernel's centre row)."""
        c_in, height, width = x.shape[1], x.shape[2], x.shape[3]
        kernel = kernel or self.weight.shape[3]
        c_out = c_in if self.depthwise else out_channels
        kh, sh = (1, 1) if height == 1 else (kernel, self.stride)
        w = self.kernel_weight(c_out, c_in, kh, kernel)
        if kernel_mask is not None:
            top = (kernel_mask.shape[0] - kh) // 2
            w = w * kernel_mask[top:top + kh]
        top, bottom = same_padding(height, kh, sh)
        left, right = same_padding(width, kernel, self.stride)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        y = F.conv2d(x, w, None, (sh, self.stride), groups=c_in if self.depthwise else 1)
        bn = self.bn
        y = F.batch_norm(y, bn.running_mean[:c_out], bn.running_var[:c_out], bn.weight[:c_out],
                         bn.bias[:c_out], self.training, bn.momentum, bn.eps)
        return _ACT[self.activation](y)

    def copy_into(self, unit: ConvUnit) -> None:
        """Copy this layer's slice of the shape of ``unit`` (a builder ConvUnit) into it."""
        out_channels, in_channels, kh, kw = unit.conv.weight.shape
        unit.conv.weight.copy_(self.kernel_weight(out_channels, in_channels, kh, kw))
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(unit.bn, name).copy_(getattr(self.bn, name)[:out_channels])
        unit.bn.num_batches_tracked.copy_(self.bn.num_batches_tracked)


class ElasticBlock(nn.Module):
    """An inverted-residual block: optional 1x1 expand, depthwise, 1x1 project, residual add."""

    def __init__(self, c_in: int, c_out: int, hidden: int, kernel: int, stride: int, one_d: bool,
                 has_expand: bool) -> None:
        super().__init__()
        self.expand = ElasticConv(c_in, hidden, 1, 1, "relu6", one_d) if has_expand else None
        self.depthwise = ElasticConv(hidden, hidden, kernel, stride, "relu6", one_d, depthwise=True)
        self.project = ElasticConv(hidden, c_out, 1, 1, "none", one_d)
        self.stride = stride

    def units(self, expand: int) -> list[ElasticConv]:
        """The layers a block with this expand ratio runs, in order."""
        return [getattr(self, name) for name in block_units(expand)]

    def forward(self, x: torch.Tensor, c_out: int, kernel: int, expand: int) -> torch.Tensor:
        h = x
        if "expand" in block_units(expand):
            h = self.expand(h, hidden_channels(x.shape[1], expand))
        h = self.project(self.depthwise(h, kernel=kernel), c_out)
        if has_residual(self.stride, x.shape[1], c_out):
            h = x + h
        return h


@dataclass(frozen=True)
class Subnet:
    """What the supernet needs of an mbnet Arch: width and, per stage, the (kernel, expand) of its
    blocks."""

    width: float
    stages: tuple[tuple[tuple[int, int], ...], ...]

    @classmethod
    def from_arch(cls, arch: Arch) -> "Subnet":
        """Read the elastic choices of an mbnet Arch (building its graph checks the choices)."""
        build_graph(arch)
        stages = tuple(tuple((b["kernel"], b["expand"]) for b in s["blocks"]) for s in arch.choices["stages"])
        return cls(float(arch.choices["width"]), stages)


class Supernet(nn.Module):
    """Every architecture of ``space`` as a slice of one network (see the module docstring)."""

    def __init__(self, space: MbnetSpace) -> None:
        super().__init__()
        if not isinstance(space, MbnetSpace):
            raise ArchError(f"a supernet needs the mbnet space, got {getattr(space, 'name', space)!r}")
        self.space = space
        opts = space.options
        self.divisor = opts["divisor"]
        width = max(space.genes["width"])
        kernel = max(opts["kernels"])
        stem = opts["stem"]
        # a layer whose input has height 1 even at the largest resolution gets 1 x k weights, as in the IR
        height = 1 if space.input_shape[0] == 1 else max(space.genes["resolution"])
        c_in = scaled_channels(stem["channels"], width, self.divisor)
        self.stem = ElasticConv(space.input_shape[2], c_in, stem["kernel"], stem["stride"], "relu6",
                                height == 1)
        height = -(-height // stem["stride"])
        self.stages = nn.ModuleList()
        for stage in opts["stages"]:
            expands = stage["expands"] or opts["expands"]
            c_out = scaled_channels(stage["channels"], width, self.divisor)
            blocks = nn.ModuleList()
            for j in range(stage["depth"]):
                hidden = max(hidden_channels(c_in, max(expands)), c_in)
                stride = block_stride(stage["stride"], j)
                blocks.append(ElasticBlock(c_in, c_out, hidden, kernel, stride, height == 1,
                                           has_expand=any("expand" in block_units(e) for e in expands)))
                height = -(-height // stride)
                c_in = c_out
            self.stages.append(blocks)
        head = head_channels(opts["head_channels"], width, self.divisor)
        self.head = ElasticConv(c_in, head, 1, 1, "relu6", height == 1)
        self.classifier = nn.Linear(head, space.num_classes)
        self.input_norm = (InputNorm(space.normalize, space.input_shape[2])
                           if space.normalize != "none" else None)

    def fit_normalization(self, x_train: np.ndarray) -> None:
        """Fit the input normalization every subnet shares on raw training inputs."""
        if self.input_norm is not None:
            self.input_norm.fit(x_train)

    def check(self, arch: Arch) -> Subnet:
        """The Subnet of ``arch``; an ArchError when the supernet cannot serve it."""
        sub = Subnet.from_arch(arch)
        opts, ch = self.space.options, arch.choices
        fixed = {"stem": opts["stem"], "head_channels": opts["head_channels"], "divisor": opts["divisor"]}
        for key, want in fixed.items():
            if ch.get(key, want) != want:
                raise ArchError(f"arch choices: {key}: the supernet was built for {want!r}, got {ch.get(key)!r}")
        if len(sub.stages) != len(opts["stages"]):
            raise ArchError(f"arch choices: stages: the supernet has {len(opts['stages'])}, got {len(sub.stages)}")
        if sub.width > max(self.space.genes["width"]) or arch.input_shape[2] != self.space.input_shape[2]:
            raise ArchError(f"arch width {sub.width} or input channels {arch.input_shape[2]} exceed the supernet's")
        if max(arch.input_shape[:2]) > max(self.space.genes["resolution"]):
            raise ArchError(f"arch input {arch.input_shape} exceeds the supernet's largest resolution "
                            f"{max(self.space.genes['resolution'])}")
        for i, (stage, blocks) in enumerate(zip(opts["stages"], sub.stages)):
            s = ch["stages"][i]
            if s["channels"] != stage["channels"] or s["stride"] != stage["stride"] or len(blocks) > stage["depth"]:
                raise ArchError(f"arch choices: stages[{i}]: channels, stride or depth differ from the supernet's")
            expands = stage["expands"] or opts["expands"]
            for j, (k, e) in enumerate(blocks):
                if k > max(opts["kernels"]) or e > max(expands):
                    raise ArchError(f"arch choices: stages[{i}].blocks[{j}]: kernel {k} or expand {e} "
                                    "exceeds the supernet's")
                if e != 1 and self.stages[i][j].expand is None:
                    raise ArchError(f"arch choices: stages[{i}].blocks[{j}]: expand {e} but the supernet "
                                    "block has no expand layer")
        return sub

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        """Logits of the subnet ``arch`` for NHWC input ``x`` (already at the arch's resolution)."""
        sub = self.check(arch)
        return self._forward(x, sub)

    def _forward(self, x: torch.Tensor, sub: Subnet) -> torch.Tensor:
        x = self.run_stem(x, sub.width)
        for i, (blocks, chosen) in enumerate(zip(self.stages, sub.stages)):
            c_out = self.stage_channels(i, sub.width)
            for block, (kernel, expand) in zip(blocks, chosen):
                x = block(x, c_out, kernel, expand)
        return self.run_head(x, sub.width)

    def stage_channels(self, stage: int, width: float) -> int:
        """Output channels of a stage at ``width``."""
        return scaled_channels(self.space.options["stages"][stage]["channels"], width, self.divisor)

    def run_stem(self, x: torch.Tensor, width: float) -> torch.Tensor:
        """The stem at ``width`` on raw NHWC ``x`` (normalized first, as the subnets do); returns NCHW."""
        if self.input_norm is not None:
            x = self.input_norm(x)
        stem = scaled_channels(self.space.options["stem"]["channels"], width, self.divisor)
        return self.stem(x.permute(0, 3, 1, 2), stem)

    def run_head(self, x: torch.Tensor, width: float) -> torch.Tensor:
        """Head convolution, global mean and classifier on the last stage's NCHW output: logits."""
        x = self.head(x, head_channels(self.space.options["head_channels"], width, self.divisor))
        x = x.mean(dim=(2, 3))
        return F.linear(x, self.classifier.weight[:, :x.shape[1]], self.classifier.bias)

    def units(self, sub: Subnet) -> list[ElasticConv]:
        """The convolutions a subnet runs, in the order of its LayerGraph's conv layers."""
        out = [self.stem]
        for blocks, chosen in zip(self.stages, sub.stages):
            for block, (_, expand) in zip(blocks, chosen):
                out.extend(block.units(expand))
        return [*out, self.head]

    @torch.no_grad()
    def extract(self, arch: Arch) -> GraphModule:
        """A stand-alone GraphModule of ``arch`` carrying this supernet's weights for it."""
        sub = self.check(arch)
        module = build_module(build_graph(arch))
        convs = [m for m in module.layers if isinstance(m, ConvUnit)]
        units = self.units(sub)
        assert len(convs) == len(units), "supernet and graph disagree on the layer count"
        for unit, conv in zip(units, convs):
            unit.copy_into(conv)
        fc = module.classifier
        fc.weight.copy_(self.classifier.weight[:, :fc.in_features])
        fc.bias.copy_(self.classifier.bias)
        if self.input_norm is not None:
            module.input_norm.load_state_dict(self.input_norm.state_dict())
        return module.to(self.classifier.weight.device)

    def largest(self) -> Genome:
        """The genome with every gene at its largest option (all blocks, widest, largest kernels)."""
        return {name: max(options) for name, options in self.space.genes.items()}

    def smallest(self) -> Genome:
        """The genome with every gene at its smallest option (skippable blocks skipped)."""
        return {name: min(options) for name, options in self.space.genes.items()}


@torch.no_grad()
def recalibrate_bn(module: nn.Module, x: np.ndarray, batches: int = 4, batch_size: int = 64,
                   rng: np.random.Generator | None = None) -> nn.Module:
    """Reset every batch norm's statistics and re-estimate them (exact average) on a few batches of
    ``x``, as OFA does for subnets with inherited weights. Leaves ``module`` in eval mode."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    rng = rng or np.random.default_rng(0)
    count = min(len(x), batches * batch_size)
    idx = rng.choice(len(x), size=count, replace=False)
    device = next(module.parameters()).device
    module.train()
    for i in range(0, count, batch_size):
        module(torch.from_numpy(x[idx[i:i + batch_size]]).to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return module.eval()

