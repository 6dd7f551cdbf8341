"""The weight-sharing backends: relaxed supernet, differentiable costs, repair, and end-to-end runs."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinyml_cli.arch import make_space
from tinyml_cli.config import validate
from tinyml_cli.data import load_builtin
from tinyml_cli.errors import DoesNotFitError
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.search.costs import CostModel
from tinyml_cli.search.differentiable import (ChoiceCosts, RelaxedSupernet, differentiable_settings, repair,
                                              run_differentiable)
from tinyml_cli.search.oneshot import oneshot_settings, run_oneshot, sample_fitting, shrink_space
from tinyml_cli.train.loop import TRAIN_SCHEMA

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


def test_shrinking_picks_the_setting_that_fills_the_budget(rng):
    options = {**SMALL, "resolutions": [20, 40]}
    costs = CostModel(PROFILE, budget_for(PROFILE, {"sram": 8 * 1024}))
    shrunk = shrink_space(make_space(options, (1, 40, 1), 10), costs.macs, costs.fits, 60, rng)
    # brute force on many more samples: mean MACs of the fitting architectures of every setting
    means = {}
    for width in SMALL["widths"]:
        for resolution in (20, 40):
            sub = make_space(options, (1, 40, 1), 10)
            sub.genes = {**sub.genes, "width": (width,), "resolution": (resolution,)}
            sample_rng = np.random.default_rng(7)
            means[width, resolution] = np.mean([costs.macs(a) for a in (sub.sample(sample_rng) for _ in range(300))
                                                if costs.fits(a)])
    best = max(means, key=means.get)
    chosen = (shrunk.genes["width"][0], shrunk.genes["resolution"][0])
    assert chosen[1] == best[1] == 40
    assert means[chosen] >= 0.85 * means[best]


@pytest.fixture(scope="module")
def tiny_data():
    return load_builtin("mnist1d", samples=400)


def _train_cfg():
    return validate({"epochs": 1, "batch_size": 64, "device": "cpu"}, TRAIN_SCHEMA, "test")


def test_oneshot_returns_only_fitting_archs(tiny_data):
    space = make_space(SMALL, tiny_data.input_shape, tiny_data.num_classes)
    costs = CostModel(PROFILE, budget_for(PROFILE, {"sram": 8 * 1024}))
    settings = oneshot_settings({"supernet_epochs": 1, "population": 6, "generations": 2, "top_k": 2,
                                 "finetune_epochs": 1, "shrink_samples": 10})
    out = run_oneshot(space, tiny_data, costs.fits, costs.macs, _train_cfg(), settings, seed=0)
    assert out.evaluated >= 6 and len(out.candidates) == 2
    assert all(costs.fits(c.arch) for c in out.candidates)
    assert out.candidates[0].val_accuracy >= out.candidates[1].val_accuracy
    assert 0.0 <= out.candidates[0].test_accuracy <= 1.0


def test_differentiable_returns_a_fitting_arch(tiny_data):
    space = make_space(SMALL, tiny_data.input_shape, tiny_data.num_classes)
    costs = CostModel(PROFILE, budget_for(PROFILE, {"sram": 8 * 1024}))
    settings = differentiable_settings({"epochs": 2, "warmup_epochs": 1, "finetune_epochs": 1,
                                        "shrink_samples": 10})
    out = run_differentiable(space, tiny_data, costs, _train_cfg(), settings, seed=0)
    assert len(out.candidates) == 1 and costs.fits(out.candidates[0].arch)
    assert out.history[-1]["epoch"] == 2


def test_nothing_fits_is_a_clear_error(rng):
    space = make_space(SMALL, (1, 40, 1), 10)
    costs = CostModel(PROFILE, budget_for(PROFILE, {"sram": 1024}))
    with pytest.raises(DoesNotFitError, match="fits the MCU budget"):
        sample_fitting(space, costs.fits, rng, tries=20)
