"""Echo state networks: the reservoir's spectral radius, online readouts against batch ridge, int8
states against float ones, and parameter validation."""

import numpy as np
import pytest

from tinyml_cli.adapt.esn import BatchRidge, EchoStateNetwork, Reservoir, Rls, spectral_radius
from tinyml_cli.errors import ConfigError


@pytest.mark.parametrize("radius", [0.5, 0.9, 1.2])
@pytest.mark.parametrize("units,density", [(30, 0.3), (100, 0.05)])
def test_reservoir_spectral_radius_is_what_was_asked(radius, units, density):
    reservoir = Reservoir(2, units, layers=2, radius=radius, density=density, rng=np.random.default_rng(3))
    for layer in reservoir.layers:
        assert np.max(np.abs(np.linalg.eigvals(layer.w.astype(np.float64)))) == pytest.approx(radius, rel=1e-5)


def test_binary_reservoir_keeps_the_radius_with_its_gain():
    layer = Reservoir(2, 60, radius=0.8, kind="binary", rng=np.random.default_rng(1)).layers[0]
    assert set(np.unique(layer.w)) == {-1.0, 0.0, 1.0}
    assert layer.gain * spectral_radius(layer.w) == pytest.approx(0.8, rel=1e-5)


def _stationary(seed, n=400):
    """Reservoir features of a seeded input stream, and targets from a fixed linear map plus noise."""
    rng = np.random.default_rng(seed)
    phi = Reservoir(3, 40, rng=rng).run(rng.normal(0, 1, (n, 3))).astype(np.float64)
    y = phi @ rng.normal(0, 1, (phi.shape[1], 2)) + rng.normal(0, 0.05, (n, 2))
    return phi, y


@pytest.mark.parametrize("seed", [0, 1])
def test_rls_without_forgetting_matches_batch_ridge(seed):
    phi, y = _stationary(seed)
    ridge = 1e-2
    rls, batch = Rls(phi.shape[1], 2, ridge=ridge), BatchRidge(phi.shape[1], 2, ridge=ridge, batch=len(phi))
    for p, t in zip(phi, y):
        rls.learn(p, t)
        batch.learn(p, t)
    closed = np.linalg.solve(phi.T @ phi + ridge * np.eye(phi.shape[1]), phi.T @ y)
    np.testing.assert_allclose(rls.w, closed, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch.w, closed, rtol=1e-8, atol=1e-10)
    augmented = np.vstack([phi, np.sqrt(ridge) * np.eye(phi.shape[1])])  # ridge as least squares
    lstsq = np.linalg.lstsq(augmented, np.vstack([y, np.zeros((phi.shape[1], 2))]), rcond=None)[0]
    np.testing.assert_allclose(rls.w, lstsq, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("readout,forgetting", [("rls", 0.98), ("ridge", 0.7)])
def test_forgetting_follows_a_changed_target(readout, forgetting):
    """The target map changes half-way: with forgetting the readout relearns it (per sample for RLS,
    per mini-batch of 16 for ridge); without, it stays between the two maps."""
    phi, _ = _stationary(2, n=1200)
    rng = np.random.default_rng(5)
    before, after = rng.normal(0, 1, (phi.shape[1], 1)), rng.normal(0, 1, (phi.shape[1], 1))
    target = np.vstack([phi[:600] @ before, phi[600:] @ after])
    late = {}
    for factor in (1.0, forgetting):
        model = Rls(phi.shape[1], 1, factor) if readout == "rls" else BatchRidge(phi.shape[1], 1, factor, batch=16)
        errors = []
        for p, t in zip(phi, target):
            errors.append(float(model.predict(p)[0] - t[0]) ** 2)
            model.learn(p, t)
        late[factor] = np.mean(errors[-200:])
    assert late[forgetting] < 0.01 * late[1.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_int8_states_track_float_states(seed):
    """One int8 layer stays within 0.03 (4 steps of 1/127) of the float states everywhere; a deep
    (two-layer) one within 0.015 RMS."""
    u = np.random.default_rng(seed).normal(0, 1, (800, 3))
    for layers, bound, rms in ((1, 0.03, 0.008), (2, 0.15, 0.015)):
        ref = Reservoir(3, 100, layers, rng=np.random.default_rng(seed)).run(u)
        q = Reservoir(3, 100, layers, kind="int8", rng=np.random.default_rng(seed)).run(u)
        assert np.all(np.abs(q * 127 - np.rint(q * 127)) < 1e-4)  # int8 grid
        assert np.max(np.abs(q - ref)) < bound
        assert np.sqrt(np.mean((q - ref) ** 2)) < rms


def test_binary_states_are_signs():
    phi = Reservoir(2, 30, kind="binary", rng=np.random.default_rng(0)).run(np.ones((20, 2)))
    assert set(np.unique(phi)) == {-1.0, 1.0}


@pytest.mark.parametrize("kwargs,word", [({"radius": 0}, "radius"), ({"leak": 1.5}, "leak"),
                                         ({"density": 0}, "density"), ({"kind": "int4"}, "kind"),
                                         ({"readout": "sgd"}, "readout"), ({"forgetting": 0}, "forgetting"),
                                         ({"units": 3, "density": 0.01}, "nilpotent")])
def test_bad_parameters_name_themselves(kwargs, word):
    with pytest.raises(ConfigError, match=f"esn: .*{word}"):
        EchoStateNetwork(1, 1, **kwargs)


def test_esn_method_memory_matches_what_it_keeps():
    from tinyml_cli.adapt.demo import demo
    from tinyml_cli.adapt.esn.method import Esn

    ctx = demo()[0]
    for kind, weight in (("float", 4), ("int8", 1)):
        esn = Esn(ctx, {"units": 20, "kind": kind, "density": 0.2})
        layer, f = esn.reservoir.layers[0], 2 * 20 + 1
        cost = esn.cost()
        assert cost.state == 20 * (weight + 4) + f * 2 * 4  # states, their running mean, the readout
        assert cost.buffers == f * (f + 1) // 2 * 4  # RLS's P, one triangle
        nnz = layer.nonzeros()
        assert cost.flash == (nnz + layer.w_in.size) * weight + 2 * nnz + 2 * 21 + 8 + 2 * 4
        assert cost.ops_per_update == 4 * (nnz + layer.w_in.size + 40) + 2 * f * f + f + 4 * f + 2 * f
    ridge = Esn(ctx, {"units": 20, "readout": "ridge", "batch": 8}).cost()
    assert ridge.buffers == (41 * 42 // 2 + 41 * 2) * 4
