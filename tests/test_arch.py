"""The IR, the two search spaces and the torch builder agree with each other and with torch."""

import pytest
import torch

from tinyml_cli.arch import Arch, build_graph, make_space, sample_buildable
from tinyml_cli.arch.graph import GraphBuilder, same_padding
from tinyml_cli.arch.mbnet import mobilenet_v2
from tinyml_cli.errors import ArchError, ConfigError
from tinyml_cli.train.builder import build_module

SPACES = [("mbnet", (1, 40, 1)), ("mbnet", (16, 16, 3)), ("plain", (1, 40, 1)), ("plain", (8, 8, 1))]


@pytest.mark.parametrize("name,shape", SPACES)
def test_sampled_archs_run_in_torch_with_ir_shapes(name, shape, rng):
    space = make_space({"name": name}, shape, 10)
    for arch in sample_buildable(space, rng, 5):
        graph = build_graph(arch)
        module = build_module(graph).eval()
        seen = []
        hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape)))
                 for m in module.layers]
        out = module(torch.randn(2, *arch.input_shape))
        for h in hooks:
            h.remove()
        assert tuple(out.shape) == (2, 10)
        for layer, got in zip(graph.layers, seen):
            want = layer.output_shape if len(layer.output_shape) == 1 else (
                layer.output_shape[2], layer.output_shape[0], layer.output_shape[1])
            assert got[1:] == want, layer


def test_same_padding_matches_tensorflow_rule():
    # TF: out = ceil(in / s); pad_total = max((out - 1) * s + k - in, 0); extra padding goes after.
    for size in range(1, 20):
        for k in (1, 3, 5, 7):
            for s in (1, 2):
                before, after = same_padding(size, k, s)
                out = (size + before + after - k) // s + 1
                assert out == -(-size // s)
                assert after - before in (0, 1)


def test_mutation_changes_exactly_one_gene(rng):
    space = make_space({"name": "mbnet"}, (1, 40, 1), 10)
    genome = space.sample_genome(rng)
    for _ in range(50):
        child = space.mutate(genome, rng)
        assert sum(child[k] != genome[k] for k in genome) == 1


def test_arch_yaml_round_trip(tmp_path, rng):
    space = make_space({"name": "plain"}, (8, 8, 1), 10)
    arch = space.sample(rng)
    path = tmp_path / "arch.yaml"
    path.write_text(arch.to_yaml())
    again = Arch.load(path)
    assert again == arch and again.key() == arch.key()


def test_mobilenet_v2_structure_matches_the_paper():
    graph = build_graph(mobilenet_v2(1.0, 224, 1000))
    convs = [l for l in graph.layers if l.op == "conv2d"]
    assert graph.tensor_shape(graph.layers.index(convs[-1]) + 1) == (7, 7, 1280)
    assert sum(l.op == "depthwise_conv2d" for l in graph.layers) == 17
    assert sum(l.op == "add" for l in graph.layers) == 10


def test_collapsing_shapes_are_arch_errors():
    arch = Arch("plain", (1, 8, 1), 10, {"layers": [{"type": "pool", "kind": "max", "size": 2}] * 4,
                                         "reduce": "avg", "dense": []})
    with pytest.raises(ArchError, match="max_pool"):
        build_graph(arch)
    with pytest.raises(ArchError):
        GraphBuilder((0, 8, 1))


def test_bad_choices_name_the_key():
    arch = Arch("mbnet", (8, 8, 1), 10, {"width": 0.5, "stem": {"channels": 8, "kernel": 3, "stride": 2},
                                         "stages": [{"channels": 8, "stride": 1}], "head_channels": 16})
    with pytest.raises(ConfigError, match=r"stages\[0\]\.blocks"):
        build_graph(arch)
    with pytest.raises(ConfigError, match="unknown search space 'resnet'"):
        build_graph(Arch("resnet", (8, 8, 1), 10, {}))


def test_candidate_round_trip(tmp_path, rng):
    from tinyml_cli.errors import InputFileError
    from tinyml_cli.train.checkpoint import load_candidate, save_candidate

    space = make_space({"name": "plain"}, (8, 8, 1), 10)
    arch = sample_buildable(space, rng, 1)[0]
    module = build_module(build_graph(arch)).eval()
    save_candidate(tmp_path / "c", arch, module, {"val_accuracy": 0.5})
    arch2, module2, metrics = load_candidate(tmp_path / "c")
    x = torch.randn(3, *arch.input_shape)
    assert arch2 == arch and metrics == {"val_accuracy": 0.5}
    assert torch.equal(module(x), module2(x))
    (tmp_path / "c" / "weights.pt").write_bytes(b"garbage")
    with pytest.raises(InputFileError, match="corrupt"):
        load_candidate(tmp_path / "c")
