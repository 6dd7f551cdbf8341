"""The mbnet supernet agrees with stand-alone networks built from the IR."""

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tinyml_cli.arch import Arch, build_graph, make_space
from tinyml_cli.errors import ArchError
from tinyml_cli.estimate import estimate
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.search.weight_sharing.supernet import ElasticConv, Supernet, recalibrate_bn
from tinyml_cli.train.builder import build_module

SMALL = {"widths": [0.25, 0.5], "head_channels": 32,
         "stages": [{"channels": 8, "depth": 1, "stride": 1, "expands": [1]},
                    {"channels": 16, "depth": 3, "stride": 2},
                    {"channels": 24, "depth": 2, "stride": 2}]}
SHAPES = [(1, 40, 1), (8, 8, 1), (12, 12, 3)]


def _space(shape, **extra):
    return make_space({**SMALL, **extra}, shape, 10)


def _macs(fn) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fn()
    return counter.get_total_flops() // 2


def _trained_supernet(space, shape):
    """A supernet whose batch-norm statistics and affine parameters are not the defaults."""
    net = Supernet(space)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    net.train()
    rng = np.random.default_rng(0)
    for _ in range(3):
        net(torch.randn(8, *shape), space.sample(rng))
    return net.eval()


@pytest.mark.parametrize("shape", SHAPES)
def test_largest_subnet_has_the_parameters_and_macs_of_the_standalone_network(shape):
    space = _space(shape)
    net = Supernet(space).eval()
    arch = space.decode(net.largest())
    module = build_module(build_graph(arch)).eval()
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in module.parameters())
    x = torch.randn(1, *shape)
    macs = _macs(lambda: net(x, arch))
    assert macs == _macs(lambda: module(x)) > 0
    # and the estimator's counts of the deployed network (batch norm folded into one bias per channel)
    profile = load_profile("STM32F412")
    est = estimate(build_graph(arch), profile, budget_for(profile))
    convs = [m for m in net.modules() if isinstance(m, ElasticConv)]
    folded = sum(m.weight.numel() + m.bn.bias.numel() for m in convs) + sum(
        p.numel() for p in net.classifier.parameters())
    assert est.macs == macs and est.params == folded


@pytest.mark.parametrize("shape", SHAPES)
def test_extracted_subnet_computes_what_the_supernet_computes(shape, rng):
    space = _space(shape, kernels=[3, 5, 7], expands=[1, 3, 6])
    net = _trained_supernet(space, shape)
    x = torch.randn(4, *shape)
    genomes = [net.largest(), net.smallest()] + [space.sample_genome(rng) for _ in range(8)]
    for genome in genomes:
        arch = space.decode(genome)
        module = net.extract(arch).eval()
        with torch.no_grad():
            assert torch.allclose(net(x, arch), module(x), atol=1e-5), genome


def test_smaller_resolutions_share_the_weights():
    space = _space((12, 12, 3), resolutions=[8, 12])
    net = _trained_supernet(space, (12, 12, 3))
    genome = {**net.largest(), "resolution": 8}
    arch = space.decode(genome)
    assert arch.input_shape == (8, 8, 3)
    x = torch.randn(3, 8, 8, 3)
    with torch.no_grad():
        assert torch.allclose(net(x, arch), net.extract(arch).eval()(x), atol=1e-5)


def test_archs_the_supernet_cannot_serve_are_arch_errors():
    space = _space((1, 40, 1))
    net = Supernet(space)
    arch = space.decode(net.largest())
    wider = Arch("mbnet", arch.input_shape, 10, {**arch.choices, "width": 1.0})
    with pytest.raises(ArchError, match="width"):
        net.extract(wider)
    deeper = Arch("mbnet", arch.input_shape, 10, {**arch.choices, "stages": arch.choices["stages"][:2]})
    with pytest.raises(ArchError, match="stages"):
        net.extract(deeper)
    larger = Arch("mbnet", (1, 80, 1), 10, arch.choices)
    with pytest.raises(ArchError, match="resolution"):
        net.extract(larger)


def test_bn_recalibration_gives_the_batch_statistics():
    space = _space((1, 40, 1))
    net = _trained_supernet(space, (1, 40, 1))
    module = net.extract(space.decode(net.largest()))
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(64, 1, 40, 1)).astype(np.float32)
    recalibrate_bn(module, x, batches=1, batch_size=64)
    stem = module.layers[0]
    with torch.no_grad():
        pre = stem.conv(torch.nn.functional.pad(torch.from_numpy(x).permute(0, 3, 1, 2), stem.pad))
    assert torch.allclose(stem.bn.running_mean, pre.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.allclose(stem.bn.running_var, pre.var(dim=(0, 2, 3), unbiased=True), rtol=1e-3)
    assert not module.training
