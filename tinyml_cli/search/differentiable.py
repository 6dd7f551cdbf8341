"""`differentiable`: Gumbel-softmax relaxation of the mbnet block choices with a differentiable,
hard resource constraint (FBNet / E-DNAS, HardCoRe-NAS).

Width and resolution are fixed first (TinyNAS shrinking, as in `oneshot`). Every block's kernel and
expand-ratio gene (expand 0 skips the block) gets logits ``alpha``; a forward pass mixes the choices
on shared weights: the depthwise kernel is the largest kernel times a probability-weighted mask of
centred kernels, the hidden channels are scaled by a probability-weighted mask of leading channels,
and a skippable block adds ``(1 - p_skip)`` of its residual branch. Weights and logits are trained
alternately on two halves of the training split.

The expected latency, flash, MACs and SRAM of the sampled network are differentiable in the logits.
Per-choice costs come from the estimator on one-hot choices: the totals are sums over layers, so a
block's choice changes them by a fixed amount; the arena's live-set peak is a smooth maximum
(log-sum-exp with temperature ``smooth_bytes``) over the blocks' expected peaks. On one-hot choices
these terms equal the estimator's latency, flash, MACs, persistent arena and live-set lower bound
(the last within ``smooth_bytes * ln(blocks + 1)``). The derived architecture is then repaired until the
estimator says it fits (greedy single-step downgrades, as HardCoRe-NAS guarantees feasibility), and
fine-tuned from the supernet's weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..arch import Arch, build_graph
from ..arch.mbnet import MbnetSpace
from ..arch.space import Genome
from ..config import Field, integer, number, validate
from ..data import Dataset
from ..errors import DoesNotFitError
from ..train.device import resolve_device
from .costs import CostModel
from .oneshot import SearchOutcome, _batches, finetune, shrink_space
from .supernet import ElasticBlock, Supernet, dataset_at

DIFFERENTIABLE_SCHEMA = {
    "epochs": Field(integer(min_value=1), 30, "epochs of alternating weight / architecture training"),
    "warmup_epochs": Field(integer(min_value=0), 5, "epochs training weights only, on uniform choices"),
    "arch_lr": Field(number(min_value=0.0), 0.01),
    "arch_fraction": Field(number(min_value=0.05, max_value=0.95), 0.3,
                           "share of the training split used for the architecture parameters"),
    "tau_start": Field(number(min_value=0.01), 5.0, "Gumbel-softmax temperature at the start"),
    "tau_end": Field(number(min_value=0.01), 0.5, "and at the end (geometric decay)"),
    "penalty": Field(number(min_value=0.0), 5.0, "weight of the resource penalty"),
    "target": Field(number(min_value=0.1, max_value=1.0), 0.9, "penalise expected use above this "
                    "fraction of each budget"),
    "smooth_bytes": Field(number(min_value=1.0), 256.0, "temperature of the smooth max over live sets"),
    "finetune_epochs": Field(integer(min_value=0), 10, "epochs fine-tuning the derived arch"),
    "shrink_samples": Field(integer(min_value=1), 200, "subnets sampled per width x resolution setting"),
    "bn_batches": Field(integer(min_value=1), 4),
}

ADDITIVE = ("latency_ms", "flash_model", "macs", "arena_persistent")


def differentiable_settings(options: dict | None, source: str = "search.differentiable") -> dict:
    """DIFFERENTIABLE_SCHEMA settings with defaults filled."""
    return validate(options or {}, DIFFERENTIABLE_SCHEMA, source)


def _blocks(space: MbnetSpace) -> list[tuple[int, int]]:
    return [(i, j) for i, stage in enumerate(space.options["stages"]) for j in range(stage["depth"])]


def _block_spans(arch: Arch) -> list[tuple[int, int]]:
    """Layer index range ``[start, end)`` of each kept block of an mbnet arch, in order."""
    graph = build_graph(arch)
    spans, start = [], 1  # layer 0 is the stem
    for stage in arch.choices["stages"]:
        for block in stage["blocks"]:
            end = start + (block["expand"] != 1) + 2
            if end < len(graph.layers) and graph.layers[end].op == "add":
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
        self.space, self.net = space, Supernet(space)
        self.width = space.genes["width"][0]
        self.blocks = _blocks(space)
        self.kernel_logits = nn.ParameterList(
            nn.Parameter(torch.zeros(len(space.genes[f"s{i}b{j}_kernel"]))) for i, j in self.blocks)
        self.expand_logits = nn.ParameterList(
            nn.Parameter(torch.zeros(len(space.genes[f"s{i}b{j}_expand"]))) for i, j in self.blocks)
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
        hidden = max(c_in, *(int(round(c_in * e)) for e in expands if e))
        channel = torch.arange(hidden, device=x.device)
        masks = {e: (channel < int(round(c_in * e))).to(x.dtype) for e in expands if e}
        h = 0.0
        if any(e not in (0, 1) for e in expands):
            expand_mask = sum(q[n] * masks[e] for n, e in enumerate(expands) if e not in (0, 1))
            h = block.expand(x, hidden) * expand_mask[None, :, None, None]
        if 1 in expands:
            h = h + q[expands.index(1)] * F.pad(x, (0, 0, 0, 0, 0, hidden - c_in))
        kernel_mask = (pk[:, None, None] * getattr(self, f"masks{b}")).sum(0)
        hidden_mask = sum(q[n] * masks[e] for n, e in enumerate(expands) if e)
        h = block.depthwise(h, kernel_mask=kernel_mask) * hidden_mask[None, :, None, None]
        h = block.project(h, c_out)
        if block.stride == 1 and c_in == c_out:
            return x + p_keep * h
        return h

    def derive(self) -> Genome:
        """The most likely choice of every gene."""
        genome = {"width": self.width, "resolution": self.space.genes["resolution"][0]}
        for b, (i, j) in enumerate(self.blocks):
            for gene, logits in (("kernel", self.kernel_logits[b]), ("expand", self.expand_logits[b])):
                options = self.space.genes[f"s{i}b{j}_{gene}"]
                genome[f"s{i}b{j}_{gene}"] = options[int(torch.argmax(logits))]
        return genome


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
    """Alternate weight steps (first part of the training split) and architecture steps (the rest,
    cross-entropy plus resource penalty). Returns per-epoch records."""
    device = resolve_device(train_cfg["device"])
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    table = ChoiceCosts.build(model.space, costs)
    cut = int(len(data.x_train) * (1 - settings["arch_fraction"]))
    weights_part = Dataset(data.name, data.x_train[:cut], data.y_train[:cut], data.x_val, data.y_val,
                           data.x_test, data.y_test, data.class_names)
    arch_part = Dataset(data.name, data.x_train[cut:], data.y_train[cut:], data.x_val, data.y_val,
                        data.x_test, data.y_test, data.class_names)
    w_opt = torch.optim.Adam(model.weight_parameters(), lr=train_cfg["lr"], weight_decay=train_cfg["weight_decay"])
    a_opt = torch.optim.Adam(model.arch_parameters(), lr=settings["arch_lr"])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=train_cfg["label_smoothing"])
    epochs, history = settings["epochs"], []
    for epoch in range(epochs):
        tau = settings["tau_start"] * (settings["tau_end"] / settings["tau_start"]) ** (epoch / max(1, epochs - 1))
        searching = epoch >= settings["warmup_epochs"]
        model.train()
        arch_batches = _batches(arch_part, train_cfg["batch_size"], generator)
        for x, y in _batches(weights_part, train_cfg["batch_size"], generator):
            w_opt.zero_grad(set_to_none=True)
            loss_fn(model(x.to(device), *model.sample(tau)), y.to(device)).backward()
            w_opt.step()
            if not searching:
                continue
            batch = next(arch_batches, None)
            if batch is None:
                arch_batches = _batches(arch_part, train_cfg["batch_size"], generator)
                batch = next(arch_batches)
            a_opt.zero_grad(set_to_none=True)
            expected = table.expected(*model.probabilities(), settings["smooth_bytes"])
            loss = loss_fn(model(batch[0].to(device), *model.sample(tau)), batch[1].to(device))
            (loss + settings["penalty"] * _penalty(expected, costs, settings["target"])).backward()
            a_opt.step()
        with torch.no_grad():
            expected = table.expected(*model.probabilities(), settings["smooth_bytes"])
        record = {"epoch": epoch + 1, "tau": tau, **{k: float(v) for k, v in expected.items()}}
        history.append(record)
        log(f"differentiable: epoch {epoch + 1}: tau {tau:.2f}, expected SRAM {record['sram']:.0f} B, "
            f"flash {record['flash_model']:.0f} B, latency {record['latency_ms']:.1f} ms")
    return history


def run_differentiable(space: MbnetSpace, data: Dataset, costs: CostModel, train_cfg: dict, settings: dict,
                       seed: int = 0, log: Callable[[str], None] = lambda _: None) -> SearchOutcome:
    """The whole differentiable search: shrink, train weights and logits, derive, repair, fine-tune."""
    rng = np.random.default_rng(seed)
    space = shrink_space(space, costs.macs, costs.fits, settings["shrink_samples"], rng)
    log(f"differentiable: width {space.genes['width'][0]}, resolution {space.genes['resolution'][0]}")
    local = dataset_at(data, space.decode(space.sample_genome(rng)).input_shape)
    model = RelaxedSupernet(space)
    history = train_relaxed(model, local, costs, train_cfg, settings, seed, log)
    derived = model.derive()
    logits = {f"s{i}b{j}_{g}": (model.kernel_logits if g == "kernel" else model.expand_logits)[b]
              for b, (i, j) in enumerate(model.blocks) for g in ("kernel", "expand")}

    def preference(gene: str, value: object) -> float:
        return float(logits[gene][space.genes[gene].index(value)])

    repaired = repair(space, derived, costs, preference)
    arch = space.decode(repaired)
    log(f"differentiable: derived arch {'fits' if repaired == derived else 'repaired to fit'}")
    scored = finetune(model.net, arch, local, train_cfg, settings["finetune_epochs"], settings["bn_batches"], seed)
    scored.metrics["repaired"] = repaired != derived
    return SearchOutcome([scored], 1, space, history)
