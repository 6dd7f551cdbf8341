"""The ``rl`` backend: REINFORCE's policy improves its mean reward on toy objectives (the oracle: the
objective itself), rewards under a budget are what the configuration says, and a tiny search runs
through the CLI with per-layer precision genes."""

import numpy as np
import optuna
import pytest
import yaml

from tinyml_cli.arch import build_graph, make_space
from tinyml_cli.errors import ConfigError
from tinyml_cli.ops.precision import offered, weight_layers
from tinyml_cli.search.backends import BACKENDS
from tinyml_cli.search.backends.rl import ReinforceSampler

SPACE = make_space({"name": "plain", "max_layers": 3, "precisions": ["w8a8", "w4a8", "w8a16"]}, (1, 40, 1), 10)


def run_toy(sampler, objective, trials):
    """Trials of ``objective(genome) -> (value, constraint)`` through the sampler; the rewards it learned."""
    study = optuna.create_study(sampler=sampler, direction="maximize")
    for _ in range(trials):
        trial = study.ask()
        genome = {g: trial.suggest_categorical(g, list(o)) for g, o in SPACE.genes.items()}
        value, over = objective(genome)
        trial.set_constraint("flash", over)
        study.tell(trial, value)
    sampler.learn(study, trials)
    return np.array(sampler.rewards)


def target_share(genome):
    """The share of genes at their first option (a reward with one known optimum, 1.0)."""
    return float(np.mean([genome[g] == o[0] for g, o in SPACE.genes.items()]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_policy_improves_its_mean_reward_on_a_toy_objective(seed):
    sampler = ReinforceSampler(SPACE, seed, learning_rate=0.5)
    rewards = run_toy(sampler, lambda g: (target_share(g), 0.0), 150)
    assert rewards[-30:].mean() > rewards[:30].mean() + 0.15
    # the optimum is the most likely option of most genes
    best = [sampler.probabilities(g).argmax() == 0 for g, o in SPACE.genes.items() if len(o) > 1]
    assert np.mean(best) > 0.75


def test_budget_penalty_and_cut_steer_the_policy_to_what_fits():
    # "flash" over budget whenever p0 is w8a16 (overshoot 0.5): the penalty (or the cut) must teach
    # the policy to avoid it although the toy accuracy prefers it
    def objective(genome):
        wide = genome["p0_precision"] == "w8a16"
        return 0.6 + 0.2 * wide, 0.5 if wide else -0.1

    for options in ({"reward": "penalty", "penalty": 1.0}, {"reward": "cut", "cut_reward": 0.0}):
        sampler = ReinforceSampler(SPACE, 0, learning_rate=0.5, **options)
        rewards = run_toy(sampler, objective, 120)
        assert sampler.probabilities("p0_precision")[2] < 0.15
        assert rewards[-30:].mean() > rewards[:30].mean()


def test_reward_of_a_trial_is_accuracy_or_the_configured_budget_verdict():
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.set_constraint("sram", 0.25)
    trial.set_constraint("flash", 0.5)
    study.tell(trial, 0.9)
    over = study.trials[0]
    assert ReinforceSampler(SPACE, 0, penalty=2.0).reward(over) == pytest.approx(0.9 - 2.0 * 0.75)
    assert ReinforceSampler(SPACE, 0, reward="cut", cut_reward=-1.0).reward(over) == -1.0
    trial = study.ask()
    trial.set_constraint("sram", -0.3)
    study.tell(trial, 0.7)
    assert ReinforceSampler(SPACE, 0, reward="cut").reward(study.trials[1]) == 0.7


def test_options_and_precision_genes_are_validated():
    with pytest.raises(ConfigError, match=r"search.options.learning_rate: .*"):
        BACKENDS["rl"]({"learning_rate": 0}, "s.yaml")
    with pytest.raises(ConfigError, match="search.options.baseline_decay"):
        BACKENDS["rl"]({"baseline_decay": 1.5}, "s.yaml")
    with pytest.raises(ConfigError, match="precisions.*expected one of w8a8, w4a8, w8a16, got 'w4a16'"):
        make_space({"name": "mbnet", "precisions": ["w8a8", "w4a16"]}, (32, 32, 3), 10)


def test_every_decoded_precision_runs_where_it_is_offered(rng):
    # precision genes only offer what the runtime runs, and decode names one per layer with weights
    for space in (SPACE, make_space({"name": "mbnet", "precisions": ["w4a8", "w8a16"]}, (32, 32, 3), 10)):
        int8 = make_space({**space.options, "precisions": ["w8a8"]}, space.input_shape, 10)
        assert int8.genes.keys() < space.genes.keys()
        for _ in range(20):
            arch = space.sample(rng)
            graph = build_graph(arch)
            layers = weight_layers(graph)
            assert len(arch.precision) in (0, len(layers))
            for code, i in zip(arch.precision, layers):
                assert code in offered(graph.layers[i].op)


@pytest.mark.slow
def test_tiny_rl_search_through_the_cli(tmp_path, cli):
    cfg = {"name": "rl", "mcu": "STM32F412", "seed": 0, "data": {"name": "mnist1d", "samples": 300},
           "space": {"name": "plain", "max_layers": 2, "channels": [4, 8], "kernels": [3], "units": [16],
                     "max_dense": 1, "precisions": ["w8a8", "w4a8", "w8a16"]},
           "train": {"epochs": 1, "batch_size": 64, "threads": 1, "device": "cpu"},
           "search": {"backend": "rl", "trials": 3, "top_k": 1, "cv_folds": 0, "baseline": False,
                      "options": {"reward": "cut"}}}
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, _, err = cli("search", path, "--out", tmp_path / "run", "-q")
    assert code == 0, err
    study = optuna.load_study(study_name="tinyml-search-rl", storage=f"sqlite:///{tmp_path}/run/study.db")
    trained = [t for t in study.trials if t.user_attrs.get("status") == "trained"]
    assert len(trained) == 3
    for t in trained:
        metrics = t.user_attrs["metrics"]
        assert t.values[0] == metrics["val_accuracy"] and "float_val_accuracy" in metrics
    cfg["search"]["options"] = {"reward": "soft"}
    path.write_text(yaml.safe_dump(cfg))
    code, _, err = cli("search", path, "--out", tmp_path / "run2", "-q")
    assert code == 2 and "search.options.reward" in err and "Traceback" not in err
