"""Backend samplers against hand-built studies: aging evolution picks its parent among the youngest
feasible trials only; the random sampler's draws depend on seed and trial number alone."""

import numpy as np
import optuna

from tinyml_cli.arch import make_space
from tinyml_cli.search.backends.evolution import AgingEvolutionSampler
from tinyml_cli.search.backends.random_search import UniformGenomeSampler

SPACE = make_space({"name": "plain", "max_layers": 2}, (1, 40, 1), 10)


def add_trial(study, genome, value, feasible=True):
    trial = optuna.trial.create_trial(
        params=genome, value=value, user_attrs={"feasible": feasible},
        distributions={g: optuna.distributions.CategoricalDistribution(list(o)) for g, o in SPACE.genes.items()})
    study.add_trial(trial)


def ask_genome(study):
    trial = study.ask()
    return {g: trial.suggest_categorical(g, list(o)) for g, o in SPACE.genes.items()}


def test_aging_evolution_parent_comes_from_the_youngest_feasible_trials():
    rng = np.random.default_rng(0)
    genomes = [SPACE.sample_genome(rng) for _ in range(6)]
    values = [0.99, 0.2, 0.95, 0.4, 0.3, 0.5]  # the best (0.99) has aged out; 0.95 is infeasible
    feasible = [True, True, False, True, True, True]
    for seed in range(10):
        study = optuna.create_study(direction="maximize",
                                    sampler=AgingEvolutionSampler(SPACE, seed, population=3, sample_size=3))
        for g, v, f in zip(genomes, values, feasible):
            add_trial(study, g, v, f)
        child = ask_genome(study)
        # population = trials 3, 4, 5 (the three youngest feasible); the tournament takes all: parent = 0.5
        parent = genomes[5]
        changed = [g for g in child if child[g] != parent[g]]
        assert len(changed) == 1
        assert SPACE.decode(child).key() != SPACE.decode(parent).key()


def test_evolution_starts_random_until_the_population_is_full():
    study = optuna.create_study(direction="maximize",
                                sampler=AgingEvolutionSampler(SPACE, 7, population=4, sample_size=2))
    add_trial(study, SPACE.sample_genome(np.random.default_rng(1)), 0.9)
    genome = ask_genome(study)
    assert genome == SPACE.sample_genome(np.random.default_rng([7, 1]))


def test_uniform_sampler_draws_depend_on_seed_and_trial_number_only():
    a = optuna.create_study(sampler=UniformGenomeSampler(SPACE, 3))
    b = optuna.create_study(sampler=UniformGenomeSampler(SPACE, 3))
    first = [ask_genome(a) for _ in range(3)]
    add_trial(b, first[0], 0.1)  # b's next trial is number 1
    assert ask_genome(b) == first[1]
    assert len({SPACE.decode(g).key() for g in first}) == 3
