"""The `autotinyml` backend: its SVM learns a feasible region it is never told, its proposals waste
fewer trials on networks that do not fit than random ones, and it runs end to end through the CLI
with rejected trials counted against the budget."""

import json
from pathlib import Path

import numpy as np
import optuna
import yaml
from sklearn.svm import LinearSVC

from tinyml_cli.arch import build_graph, make_space
from tinyml_cli.errors import ArchError
from tinyml_cli.estimate import estimate
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.search.backends.autotinyml import AutotinymlSampler, encode, fit_feasibility
from tinyml_cli.search.backends.random_search import UniformGenomeSampler
from tinyml_cli.search.study import open_storage

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "configs" / "search" / "digits_tiny.yaml").read_text())
PROFILE = load_profile(TINY["mcu"])
BUDGET = budget_for(PROFILE, {"sram": 2048, "flash": 8192})


def fits(space, genome, budget=BUDGET):
    """The estimator's verdict: the black box the sampler learns."""
    try:
        return estimate(build_graph(space.decode(genome)), PROFILE, budget).fits
    except ArchError:
        return False


def test_classifier_separates_a_known_feasible_region():
    """A disc in (channels, kernel) rank space, neither extreme: no line separates it (a linear SVM
    is near chance), the RBF SVM classifies 9 in 10 unseen genomes right after 200 examples."""
    space = make_space({"name": "plain", "max_layers": 1}, (1, 40, 1), 10)
    rng = np.random.default_rng(0)
    genomes = [space.sample_genome(rng) for _ in range(1200)]

    def inside(g):
        rc = space.genes["l0_channels"].index(g["l0_channels"]) / 4
        rk = space.genes["l0_kernel"].index(g["l0_kernel"]) / 2
        return (rc - 0.5) ** 2 + (rk - 0.5) ** 2 <= 0.15

    y, x = np.array([inside(g) for g in genomes]), encode(space, genomes)
    assert 0.1 < y.mean() < 0.3
    model = fit_feasibility(x[:200], y[:200])
    assert ((model.decision_function(x[200:]) > 0) == y[200:]).mean() >= 0.88
    linear = LinearSVC(class_weight="balanced").fit(x[:200], y[:200])
    assert (linear.predict(x[200:]).astype(bool) == y[200:]).mean() <= 0.6


def test_classifier_learns_the_estimators_verdicts():
    """On digits_tiny's space and budget about 1 random network in 12 fits; of those the classifier
    (200 verdicts) calls feasible, most do."""
    space = make_space(TINY["space"], (8, 8, 1), 10)
    rng = np.random.default_rng(0)
    genomes = [space.sample_genome(rng) for _ in range(700)]
    y, x = np.array([fits(space, g) for g in genomes]), encode(space, genomes)
    assert y.mean() < 0.15
    predicted = fit_feasibility(x[:200], y[:200]).decision_function(x[200:]) > 0
    assert predicted.sum() >= 10 and y[200:][predicted].mean() >= 0.5


def _search(sampler, space, trials):
    """``trials`` proposals against the estimator (no training: the objective is a smooth proxy,
    more MACs scoring higher); the verdicts, in order."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    verdicts = []
    for _ in range(trials):
        t = study.ask()
        genome = {g: t.suggest_categorical(g, list(o)) for g, o in space.genes.items()}
        ok = fits(space, genome)
        t.set_user_attr("feasible", ok)
        t.set_user_attr("arch_key", space.decode(genome).key())
        macs = estimate(build_graph(space.decode(genome)), PROFILE, BUDGET).macs if ok else 0
        study.tell(t, float(np.log1p(macs)) / 20)
        verdicts.append(ok)
    return verdicts


def test_proposals_after_the_initial_design_fit_far_more_often_than_random_ones():
    space = make_space(TINY["space"], (8, 8, 1), 10)
    seeds = (0, 1, 2)
    learnt = [_search(AutotinymlSampler(space, s, initial_trials=10, candidates=100, trees=10), space, 24)
              for s in seeds]
    blind = [_search(UniformGenomeSampler(space, s), space, 24) for s in seeds]
    # the same random design first (same seeds), then: random proposals fit about 1 time in 12,
    # learnt ones (once the classifier has seen both verdicts) several times as often
    assert [v[:10] for v in learnt] == [v[:10] for v in blind]
    hits, blind_hits = sum(sum(v[10:]) for v in learnt), sum(sum(v[10:]) for v in blind)
    assert hits >= 15 and hits >= 4 * blind_hits


def test_autotinyml_search_runs_through_the_cli_and_spends_trials_on_rejections(cli, tmp_path, train_calls):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "data": {"name": "digits", "samples": 400}}))
    code, out, err = cli("search", config, "--json", "--out", tmp_path / "run", "--storage", tmp_path / "study.log",
                         "search.backend=autotinyml", "search.trials=8", "search.top_k=1", "search.baseline=false", "search.cv_folds=0", "train.epochs=1",
                         "constraints.sram=3KB", "constraints.flash=12KB",
                         "fidelity.epochs=1", "search.options={initial_trials: 4, trees: 10, candidates: 100}")
    assert code == 0, err
    summary = json.loads(out)
    n = summary["trials"]
    assert summary["backend"] == "autotinyml"
    # rejected trials count toward search.trials and are never trained
    assert n["trained"] + n["infeasible"] == 8 and n["infeasible"] >= 1 and n["trained"] >= 1
    assert len(train_calls) == n["trained"] + 1                    # screening + one full training
    budget = budget_for(PROFILE, {"sram": 3072, "flash": 12288})   # about half the networks fit
    assert all(estimate(g, PROFILE, budget).fits for g in train_calls)
    study = optuna.load_study(study_name=summary["study"], storage=open_storage(str(tmp_path / "study.log")))
    for t in study.trials:             # the estimator, asked again, agrees with every verdict
        assert fits(make_space(TINY["space"], (8, 8, 1), 10), t.params, budget) == t.user_attrs["feasible"]
    assert (tmp_path / "run" / "candidates" / "001" / "weights.pt").is_file()
