"""The relaxed supernet, its expected costs against the estimator, and the repair to fit."""

import math

import pytest
import torch
import torch.nn.functional as F

from tinyml_cli.arch import make_space
from tinyml_cli.errors import DoesNotFitError
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.search.weight_sharing.costs import CostModel
from tinyml_cli.search.weight_sharing.relaxed import ChoiceCosts, RelaxedSupernet, repair

SMALL = {"widths": [0.25, 0.5], "head_channels": 32, "kernels": [3, 5, 7], "expands": [1, 3, 6],
         "stages": [{"channels": 8, "depth": 1, "stride": 1, "expands": [1]},
                    {"channels": 16, "depth": 3, "stride": 2},
                    {"channels": 24, "depth": 2, "stride": 2}]}
PROFILE = load_profile("STM32F412")


def _one_width(shape, width=0.5):
    space = make_space(SMALL, shape, 10)
    space.genes = {**space.genes, "width": (width,)}
    return space


def _one_hot(model, genome):
    kernels, expands = [], []
    for i, j in model.blocks:
        for gene, out in (("kernel", kernels), ("expand", expands)):
            options = model.space.genes[f"s{i}b{j}_{gene}"]
            out.append(F.one_hot(torch.tensor(options.index(genome[f"s{i}b{j}_{gene}"])), len(options)).float())
    return kernels, expands


@pytest.mark.parametrize("shape", [(1, 40, 1), (12, 12, 3)])
def test_relaxed_supernet_on_one_hot_choices_is_the_discrete_subnet(shape, rng):
    space = _one_width(shape)
    model = RelaxedSupernet(space)
    with torch.no_grad():
        for p in model.weight_parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.train()
    model(torch.randn(8, *shape), *model.sample(1.0))  # move the batch-norm statistics
    model.eval()
    x = torch.randn(3, *shape)
    for _ in range(6):
        genome = space.sample_genome(rng)
        with torch.no_grad():
            relaxed = model(x, *_one_hot(model, genome))
            module = model.net.extract(space.decode(genome)).eval()
            assert torch.allclose(relaxed, module(x), atol=1e-5), genome


@pytest.mark.parametrize("shape", [(1, 40, 1), (8, 8, 1)])
def test_expected_costs_on_one_hot_choices_match_the_estimator(shape, rng):
    space = _one_width(shape)
    costs = CostModel(PROFILE, budget_for(PROFILE))
    table = ChoiceCosts.build(space, costs)
    model = RelaxedSupernet(space)
    smooth = 64.0
    for _ in range(8):
        genome = space.sample_genome(rng)
        est = costs.estimate(space.decode(genome))
        expected = table.expected(*_one_hot(model, genome), smooth)
        assert float(expected["latency_ms"]) == pytest.approx(est.latency_ms, rel=1e-9)
        assert float(expected["flash_model"]) == pytest.approx(est.flash_model, rel=1e-12)
        assert float(expected["macs"]) == pytest.approx(est.macs, rel=1e-12)
        bound = est.sram_lower_bound
        assert bound <= float(expected["sram"]) <= bound + smooth * math.log(len(model.blocks) + 1)
        assert bound <= est.peak_sram


def test_expected_sram_is_differentiable_in_the_logits():
    space = _one_width((1, 40, 1))
    model = RelaxedSupernet(space)
    table = ChoiceCosts.build(space, CostModel(PROFILE, budget_for(PROFILE)))
    table.expected(*model.probabilities(), 256.0)["sram"].backward()
    # a larger expand ratio uses more memory: its logit's gradient is positive
    grads = model.expand_logits[1].grad
    options = space.genes["s1b0_expand"]
    assert grads[options.index(6)] > 0 > grads[options.index(1)]


def test_repair_downgrades_until_the_estimator_says_it_fits(rng):
    space = _one_width((1, 40, 1))
    costs = CostModel(PROFILE, budget_for(PROFILE, {"sram": 8 * 1024}))
    largest = {name: max(options) for name, options in space.genes.items()}
    assert not costs.fits(space.decode(largest))
    fixed = repair(space, largest, costs)
    assert costs.fits(space.decode(fixed))
    assert all(fixed[g] <= largest[g] for g in largest)
    with pytest.raises(DoesNotFitError):
        repair(space, largest, CostModel(PROFILE, budget_for(PROFILE, {"sram": 1024})))


