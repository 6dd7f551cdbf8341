"""The weight-sharing backends: TinyNAS shrinking, and `oneshot` / `differentiable` run end to end
through `tinyml search` (same leaderboard and candidate folders as the multi-trial backends)."""

import json

import numpy as np
import optuna
import pytest
import yaml

from tinyml_cli.arch import Arch, build_graph, make_space
from tinyml_cli.errors import ConfigError, DoesNotFitError
from tinyml_cli.estimate import estimate
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.config import load_config, validate
from tinyml_cli.data import load_builtin, load_dataset, resize_dataset
from tinyml_cli.search import SEARCH_SCHEMA, prepare_run, run_search
from tinyml_cli.search.context import make_context
from tinyml_cli.search.study import open_storage
from tinyml_cli.search.weight_sharing.costs import CostModel
from tinyml_cli.search.weight_sharing.training import sample_fitting, shrink_space
from tinyml_cli.train.checkpoint import load_candidate
from tinyml_cli.train.loop import accuracy

SMALL = {"name": "mbnet", "widths": [0.25, 0.5], "head_channels": 32, "kernels": [3, 5, 7],
         "expands": [1, 3, 6],
         "stages": [{"channels": 8, "depth": 1, "stride": 1, "expands": [1]},
                    {"channels": 16, "depth": 3, "stride": 2},
                    {"channels": 24, "depth": 2, "stride": 2}]}
PROFILE = load_profile("STM32F412")
SRAM = 8 * 1024  # about half of SMALL's architectures fit


def test_shrinking_picks_the_setting_that_fills_the_budget(rng):
    options = {**SMALL, "resolutions": [20, 40]}
    costs = CostModel(PROFILE, budget_for(PROFILE, {"sram": SRAM}))
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


def test_shrinking_skips_settings_where_fitting_subnets_are_rare(rng):
    space = make_space(SMALL, (1, 40, 1), 10)

    def fits(arch):  # width 0.5 fits only for about 1 in 27 subnets
        s1, s2 = arch.choices["stages"][1]["blocks"][0], arch.choices["stages"][2]["blocks"][0]
        return arch.choices["width"] == 0.25 or (s1["kernel"], s1["expand"], s2["kernel"]) == (7, 6, 7)

    def width(arch):
        return arch.choices["width"]

    assert shrink_space(space, width, fits, 200, rng, min_fit=0.0).genes["width"] == (0.5,)
    assert shrink_space(space, width, fits, 200, rng).genes["width"] == (0.25,)


def test_nothing_fits_is_a_clear_error(rng):
    costs = CostModel(PROFILE, budget_for(PROFILE, {"sram": 1024}))
    with pytest.raises(DoesNotFitError, match="fits the MCU budget"):
        sample_fitting(make_space(SMALL, (1, 40, 1), 10), costs.fits, rng, tries=20)


def _config(tmp_path, backend, options, trials):
    cfg = {"name": "tiny", "mcu": "STM32F412", "seed": 0, "constraints": {"sram": SRAM},
           "data": {"name": "mnist1d", "samples": 400}, "space": SMALL,
           "train": {"epochs": 1, "batch_size": 64, "threads": 1, "device": "cpu", "lr": 0.01},
           "search": {"backend": backend, "trials": trials, "top_k": 2, "options": options}}
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.mark.parametrize("backend, options, trials", [
    ("oneshot", {"supernet_epochs": 1, "shrink_samples": 10, "population": 3, "sample_size": 2}, 8),
    ("differentiable", {"epochs": 2, "warmup_epochs": 1, "shrink_samples": 10}, 3)])
def test_backend_writes_the_leaderboard_and_fitting_candidates(tmp_path, backend, options, trials, train_calls):
    run = prepare_run(_config(tmp_path, backend, options, trials), [], out=str(tmp_path / "run"),
                      storage=str(tmp_path / "study.log"))
    run_search(run)
    assert not train_calls  # trials are scored with inherited weights, never trained
    study = optuna.load_study(study_name="tinyml-search-tiny", storage=open_storage(run.url))
    scored = [t for t in study.trials if t.user_attrs.get("status") == "scored"]
    assert scored and all(t.user_attrs["metrics"]["epochs_run"] == 0 for t in scored)
    budget = budget_for(PROFILE, {"sram": SRAM})
    for t in scored:  # every scored architecture fits, by the estimator
        assert estimate(build_graph(Arch.from_dict(t.user_attrs["arch"])), PROFILE, budget).fits
    board = json.loads((run.run_dir / "leaderboard.json").read_text())
    assert board["backend"] == backend and board["leaderboard"][0]["stage"] == "final"
    finals = [row for row in board["leaderboard"] if row["stage"] == "final"]
    assert len(finals) == min(2, len(scored))
    for row in finals:
        arch, module, metrics = load_candidate(run.run_dir / row["candidate"])
        assert estimate(build_graph(arch), PROFILE, budget).fits
        assert metrics["epochs_run"] == 1
        data = resize_dataset(load_dataset(run.cfg["data"], run.cfg["seed"]), arch.input_shape)
        assert accuracy(module, data.x_val, data.y_val) == pytest.approx(metrics["val_accuracy"])
    assert (run.run_dir / "leaderboard.csv").is_file() and (run.run_dir / "pareto.png").is_file()


def test_differentiable_proposes_the_repaired_derived_arch_then_learned_samples(tmp_path):
    options = {"epochs": 2, "warmup_epochs": 1, "shrink_samples": 10}
    ctx = make_context(load_config(_config(tmp_path, "differentiable", options, 2), SEARCH_SCHEMA))
    backend = ctx.backend
    backend.prepare(ctx)
    study = optuna.create_study(sampler=backend.sampler(ctx.space, seed=0), direction="maximize")
    learnt = backend.relaxation
    assert [r["epoch"] for r in learnt.history] == [1, 2]
    proposals = []
    for _ in range(4):
        trial = study.ask()
        genome = {g: trial.suggest_categorical(g, list(o)) for g, o in ctx.space.genes.items()}
        trial.set_user_attr("arch_key", ctx.space.decode(genome).key())
        study.tell(trial, 0.5)
        proposals.append(genome)
    assert proposals[0] == learnt.derived
    for genome in proposals:  # every proposal fits and stays at the shrunk width and resolution
        assert learnt.costs.fits(ctx.space.decode(genome))
        assert genome["width"] == learnt.space.genes["width"][0]


def test_weight_sharing_needs_the_mbnet_space(tmp_path):
    path = _config(tmp_path, "oneshot", {}, 2)
    run = prepare_run(path, ["space={name: plain}"], out=str(tmp_path / "run"))
    with pytest.raises(ConfigError, match="needs the mbnet space"):
        run_search(run)


def test_supernet_training_takes_the_configured_optimizer_step():
    """One sandwich step with ``train.optimizer: sgd`` (schedule constant) moves the weights exactly as torch's SGD
    (Nesterov momentum 0.9: the first step is lr * 1.9 * gradient) on the summed losses of the
    largest and smallest subnets; a hard-coded Adam would not."""
    import copy

    import torch

    from tinyml_cli.search.weight_sharing import Supernet, train_supernet
    from tinyml_cli.train.loop import TRAIN_SCHEMA, batches

    space = make_space(SMALL, (1, 40, 1), 10)
    data = load_builtin("mnist1d", samples=120)
    train = validate({"optimizer": "sgd", "lr": 0.1, "weight_decay": 0.0, "schedule": "constant",
                      "label_smoothing": 0.0, "batch_size": 1000, "device": "cpu"}, TRAIN_SCHEMA, "t", "train")
    torch.manual_seed(0)
    net = Supernet(space)
    reference = copy.deepcopy(net)
    reference.fit_normalization(data.x_train)
    reference.train()
    # the one batch, in the order the loop draws it (gradients through batch norm of near-dead
    # channels are sensitive to the summation order)
    (idx,) = batches(len(data.x_train), 1000, torch.Generator().manual_seed(0))
    x, y = torch.from_numpy(data.x_train[idx.numpy()]), torch.from_numpy(data.y_train[idx.numpy()])
    loss = sum(torch.nn.functional.cross_entropy(reference(x, space.decode(g)), y)
               for g in (reference.largest(), reference.smallest()))
    loss.backward()
    train_supernet(net, lambda arch: data, train, epochs=1, random_subnets=0, rng=np.random.default_rng(0))
    for (name, p), q in zip(net.named_parameters(), reference.parameters()):
        expected = q - 0.1 * 1.9 * q.grad if q.grad is not None else q
        assert torch.allclose(p, expected, atol=1e-6), name
