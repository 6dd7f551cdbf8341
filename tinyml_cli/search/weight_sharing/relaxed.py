"""A Gumbel-softmax relaxation of the mbnet block choices with differentiable resource costs, for
the `differentiable` backend (FBNet / E-DNAS, HardCoRe-NAS).

At one width and resolution, every block's kernel and expand-ratio gene (expand 0 skips the block)
gets logits; a forward pass mixes the choices on shared weights: the depthwise kernel is the largest
kernel times a probability-weighted mask of centred kernels, the hidden channels are scaled by a
probability-weighted mask of leading channels, and a skippable block adds ``1 - p_skip`` of its
residual branch. Weights and logits are trained alternately on two parts of the training split.

The expected latency, flash, MACs and SRAM are differentiable in the logits. Per-choice costs come
from the estimator on one-hot choices: those totals are sums over layers, so a block's choice changes
them by a fixed amount; the arena's live-set peak is a smooth maximum (log-sum-exp with temperature
``smooth_bytes``) over the blocks' expected peaks. On one-hot choices these terms equal the
estimator's latency, flash, MACs, persistent arena and live-set lower bound (the last within
``smooth_bytes * ln(blocks + 1)``). :func:`repair` then downgrades the derived architecture until the
estimator says it fits, so the constraint is hard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...arch import Arch, build_graph
from ...arch.mbnet import MbnetSpace, block_units, has_residual, hidden_channels
from ...arch.space import Genome
from ...data import Dataset
from ...errors import DoesNotFitError
from ...train.loop import batches, make_loss, make_optimizer, make_schedule, start, step, steps_per_epoch
from .costs import CostModel
from .supernet import ElasticBlock, Supernet

ADDITIVE = ("latency_ms", "flash_model", "macs", "arena_persistent")


def _blocks(space: MbnetSpace) -> list[tuple[int, int]]:
    return [(i, j) for i, stage in enumerate(space.options["stages"]) for j in range(stage["depth"])]


def _block_spans(arch: Arch) -> list[tuple[int, int]]:
    """Layer index range ``[start, end)`` of each kept block of an mbnet arch, in order."""
    graph = build_graph(arch)
    spans, start = [], 1  # layer 0 is the stem
    for stage in arch.choices["stages"]:
        for block in stage["blocks"]:
            end = start + len(block_units(block["expand"]))
            if end < len(graph.layers) and len(graph.layers[end].inputs) == 2:   # the residual ADD
                end += 1
            spans.append((start, end))
            start = end
    return spans


@dataclass
class ChoiceCosts:
    """Per-block, per-(kernel, expand) costs from the estimator, for expected costs in torch.

    ``deltas[r][b][k, e]`` is how much block ``b`` at (kernels[k], expands[e]) changes total ``r``
    against the reference genome (every gene at its first option); ``live[b][k, e]`` is the largest
    live set of the block's layers (0 when skipped); ``fixed_live`` the largest of the other layers'.
    """

    base: dict[str, float]
    deltas: dict[str, list[torch.Tensor]]
    live: list[torch.Tensor]
    fixed_live: float

    @classmethod
    def build(cls, space: MbnetSpace, costs: CostModel) -> "ChoiceCosts":
        """Tables for ``space`` (one width and resolution) from one estimate per block choice."""
        ref = {name: options[0] for name, options in space.genes.items()}
        base_est = costs.estimate(space.decode(ref))
        base = {r: float(getattr(base_est, r)) for r in ADDITIVE}
        rows = base_est.layers
        spans = _block_spans(space.decode(ref))
        inside = {i for start, end in spans for i in range(start, end)}
        fixed_live = float(max(row["live_sram"] for i, row in enumerate(rows) if i not in inside))
        deltas: dict[str, list[torch.Tensor]] = {r: [] for r in ADDITIVE}
        live = []
        for index, (i, j) in enumerate(_blocks(space)):
            kernels, expands = space.genes[f"s{i}b{j}_kernel"], space.genes[f"s{i}b{j}_expand"]
            table = {r: torch.zeros(len(kernels), len(expands), dtype=torch.float64) for r in ADDITIVE}
            peak = torch.zeros(len(kernels), len(expands), dtype=torch.float64)
            for k, kernel in enumerate(kernels):
                for e, expand in enumerate(expands):
                    genome = {**ref, f"s{i}b{j}_kernel": kernel, f"s{i}b{j}_expand": expand}
                    est = costs.estimate(space.decode(genome))
                    for r in ADDITIVE:
                        table[r][k, e] = float(getattr(est, r)) - base[r]
                    if expand:
                        start, end = spans[index]
                        peak[k, e] = max(row["live_sram"] for row in est.layers[start:end])
            for r in ADDITIVE:
                deltas[r].append(table[r])
            live.append(peak)
        return cls(base, deltas, live, fixed_live)

    def expected(self, kernel_probs: list[torch.Tensor], expand_probs: list[torch.Tensor],
                 smooth_bytes: float) -> dict[str, torch.Tensor]:
        """Expected latency_ms, flash_model, macs and SRAM (persistent arena plus a smooth max of the
        live sets) when block ``b`` takes its choices with these probabilities."""
        joint = [torch.outer(pk.double(), pe.double()) for pk, pe in zip(kernel_probs, expand_probs)]
        out = {r: self.base[r] + sum((p * d).sum() for p, d in zip(joint, self.deltas[r])) for r in ADDITIVE}
        peaks = torch.stack([torch.tensor(self.fixed_live, dtype=torch.float64)]
                            + [(p * m).sum() for p, m in zip(joint, self.live)])
        out["sram"] = out["arena_persistent"] + smooth_bytes * torch.logsumexp(peaks / smooth_bytes, 0)
        return out


def _centre_masks(weight: torch.Tensor, kernels: tuple[int, ...]) -> torch.Tensor:
    """One mask per kernel size over ``weight``'s spatial shape, 1 on the centred kernel."""
    kh, kw = weight.shape[2], weight.shape[3]
    masks = torch.zeros(len(kernels), kh, kw)
    for n, k in enumerate(kernels):
        h = 1 if kh == 1 else k
        top, left = (kh - h) // 2, (kw - k) // 2
        masks[n, top:top + h, left:left + k] = 1.0
    return masks


class RelaxedSupernet(nn.Module):
    """A supernet over a one-width, one-resolution mbnet space with architecture logits per gene."""

    def __init__(self, space: MbnetSpace) -> None:
        super().__init__()
        if len(space.genes["width"]) > 1 or len(space.genes["resolution"]) > 1:
            raise ValueError("the relaxed supernet needs one width and one resolution (shrink the space first)")
        self.space, self.net = space, Supernet(space)
        self.width = space.genes["width"][0]
        self.blocks = _blocks(space)
        self.kernel_logits = nn.ParameterList(
            nn.Parameter(torch.zeros(len(space.genes[f"s{i}b{j}_kernel"]))) for i, j in self.blocks)
        self.expand_logits = nn.ParameterList(
            nn.Parameter(torch.zeros(len(space.genes[f"s{i}b{j}_expand"]))) for i, j in self.blocks)
        self._genes = {f"s{i}b{j}_{kind}": (kind, b) for b, (i, j) in enumerate(self.blocks)
                       for kind in ("kernel", "expand")}
        for b, (i, j) in enumerate(self.blocks):
            block = self.net.stages[i][j]
            self.register_buffer(f"masks{b}", _centre_masks(block.depthwise.weight,
                                                              space.genes[f"s{i}b{j}_kernel"]))

    def weight_parameters(self) -> list[nn.Parameter]:
        """The supernet's weights (not the architecture logits)."""
        return list(self.net.parameters())

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture logits."""
        return [*self.kernel_logits, *self.expand_logits]

    def probabilities(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Softmax of the logits, per block: kernel and expand probabilities."""
        return ([F.softmax(a, 0) for a in self.kernel_logits], [F.softmax(a, 0) for a in self.expand_logits])

    def sample(self, tau: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Gumbel-softmax samples of every block's choice probabilities."""
        return ([F.gumbel_softmax(a, tau) for a in self.kernel_logits],
                [F.gumbel_softmax(a, tau) for a in self.expand_logits])

    def forward(self, x: torch.Tensor, kernel_probs: list[torch.Tensor],
                expand_probs: list[torch.Tensor]) -> torch.Tensor:
        """Logits of the network mixing every block's choices with these probabilities."""
        h = self.net.run_stem(x, self.width)
        for b, (i, j) in enumerate(self.blocks):
            block = self.net.stages[i][j]
            c_out = self.net.stage_channels(i, self.width)
            h = self._block(block, h, c_out, b, kernel_probs[b], expand_probs[b])
        return self.net.run_head(h, self.width)

    def _block(self, block: ElasticBlock, x: torch.Tensor, c_out: int, b: int, pk: torch.Tensor,
               pe: torch.Tensor) -> torch.Tensor:
        i, j = self.blocks[b]
        expands = self.space.genes[f"s{i}b{j}_expand"]
        c_in = x.shape[1]
        keep = torch.tensor([e != 0 for e in expands])
        p_keep = pe[keep].sum()
        q = pe / p_keep.clamp_min(1e-6)
        hidden = max(c_in, *(hidden_channels(c_in, e) for e in expands if e))
        channel = torch.arange(hidden, device=x.device)
        masks = {e: (channel < hidden_channels(c_in, e)).to(x.dtype) for e in expands if e}
        expanding = [e for e in expands if e and "expand" in block_units(e)]
        h = 0.0
        if expanding:
            expand_mask = sum(q[expands.index(e)] * masks[e] for e in expanding)
            h = block.expand(x, hidden) * expand_mask[None, :, None, None]
        if 1 in expands:
            h = h + q[expands.index(1)] * F.pad(x, (0, 0, 0, 0, 0, hidden - c_in))
        kernel_mask = (pk[:, None, None] * getattr(self, f"masks{b}")).sum(0)
        hidden_mask = sum(q[n] * masks[e] for n, e in enumerate(expands) if e)
        h = block.depthwise(h, kernel_mask=kernel_mask) * hidden_mask[None, :, None, None]
        h = block.project(h, c_out)
        if has_residual(block.stride, c_in, c_out):
            return x + p_keep * h
        return h

    def logits(self, gene: str) -> torch.Tensor:
        """The logits of a ``s{i}b{j}_kernel`` or ``s{i}b{j}_expand`` gene."""
        kind, b = self._genes[gene]
        return (self.kernel_logits if kind == "kernel" else self.expand_logits)[b].detach()

    def _genome(self, pick: Callable[[torch.Tensor], int]) -> Genome:
        genome = {"width": self.width, "resolution": self.space.genes["resolution"][0]}
        for i, j in self.blocks:
            for kind in ("kernel", "expand"):
                gene = f"s{i}b{j}_{kind}"
                genome[gene] = self.space.genes[gene][pick(self.logits(gene))]
        return genome

    def derive(self) -> Genome:
        """The most likely choice of every gene."""
        return self._genome(lambda logits: int(torch.argmax(logits)))

    def sample_genome(self, rng: np.random.Generator) -> Genome:
        """A genome drawn from the learned choice distribution."""
        return self._genome(lambda logits: int(rng.choice(len(logits), p=F.softmax(logits.double(), 0).numpy())))


def repair(space: MbnetSpace, genome: Genome, costs: CostModel,
           preference: Callable[[str, object], float] = lambda gene, value: 0.0) -> Genome:
    """Downgrade one gene a step at a time (next smaller kernel or expand ratio; expand 0 skips) until
    the estimator says the arch fits: each step takes the move that leaves the least overshoot, ties
    going to the higher ``preference``. DoesNotFitError when nothing smaller is left."""
    genome = dict(genome)
    while not costs.fits(space.decode(genome)):
        moves = []
        for name, options in space.genes.items():
            if not name.endswith(("_kernel", "_expand")):
                continue
            order = sorted(options, key=lambda v: (v != 0, v)) if name.endswith("_expand") else sorted(options)
            at = order.index(genome[name])
            if at > 0:
                moved = {**genome, name: order[at - 1]}
                moves.append((costs.overshoot(space.decode(moved)), -preference(name, order[at - 1]), name, moved))
        if not moves:
            raise DoesNotFitError("the smallest architecture of the differentiable search's space does not "
                                  "fit the MCU budget; lower space.widths or space.resolutions")
        genome = min(moves, key=lambda m: m[:3])[3]
    return genome


def _penalty(expected: dict[str, torch.Tensor], costs: CostModel, target: float) -> torch.Tensor:
    b = costs.budget
    limits = {"sram": b.sram, "flash_model": b.flash, "macs": b.macs, "latency_ms": b.latency_ms}
    return sum(F.relu(expected[r] / (target * limit) - 1.0) for r, limit in limits.items() if limit)


def train_relaxed(model: RelaxedSupernet, data: Dataset, costs: CostModel, train_cfg: dict,
                  settings: dict, seed: int = 0, log: Callable[[str], None] = lambda _: None) -> list[dict]:
    """Alternate weight steps (the first part of the training split; ``train.optimizer``, ``lr``,
    ``weight_decay``, ``schedule`` and ``label_smoothing`` as any training) and architecture steps
    (the rest, Adam at ``arch_lr``: cross-entropy plus ``penalty`` times the expected use above
    ``target`` of each budget).
    ``settings``: epochs, warmup_epochs, arch_lr, arch_fraction, tau_start, tau_end, penalty, target,
    smooth_bytes. Returns per-epoch records of the temperature and the expected costs."""
    device, generator = start(train_cfg, seed)
    model.to(device)
    table = ChoiceCosts.build(model.space, costs)
    x_all, y_all = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    model.net.fit_normalization(data.x_train)
    cut = int(len(x_all) * (1 - settings["arch_fraction"]))
    epochs, history, size = settings["epochs"], [], train_cfg["batch_size"]
    w_opt = make_optimizer(model.weight_parameters(), train_cfg)
    w_sched = make_schedule(w_opt, train_cfg, epochs * steps_per_epoch(cut, size))
    a_opt = torch.optim.Adam(model.arch_parameters(), lr=settings["arch_lr"])
    loss_fn = make_loss(train_cfg)

    def loss(idx: torch.Tensor, tau: float) -> torch.Tensor:
        logits = model(x_all[idx].to(device), *model.sample(tau))
        return loss_fn(logits, y_all[idx].to(device))

    for epoch in range(epochs):
        tau = settings["tau_start"] * (settings["tau_end"] / settings["tau_start"]) ** (epoch / max(1, epochs - 1))
        model.train()
        arch_batches = batches(len(x_all) - cut, size, generator)
        for idx in batches(cut, size, generator):
            step(w_opt, loss(idx, tau), w_sched)
            if epoch < settings["warmup_epochs"]:
                continue
            arch_idx = next(arch_batches, None)
            if arch_idx is None:
                arch_batches = batches(len(x_all) - cut, size, generator)
                arch_idx = next(arch_batches)
            expected = table.expected(*model.probabilities(), settings["smooth_bytes"])
            penalty = settings["penalty"] * _penalty(expected, costs, settings["target"])
            step(a_opt, loss(cut + arch_idx, tau) + penalty)
        with torch.no_grad():
            expected = table.expected(*model.probabilities(), settings["smooth_bytes"])
        record = {"epoch": epoch + 1, "tau": tau, **{k: float(v) for k, v in expected.items()}}
        history.append(record)
        log(f"differentiable: epoch {epoch + 1}: tau {tau:.2f}, expected SRAM {record['sram']:.0f} B, "
            f"flash {record['flash_model']:.0f} B, latency {record['latency_ms']:.2f} ms")
    return history
