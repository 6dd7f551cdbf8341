"""Streams: each drift kind, schedule and label regime produces the statistics it claims."""

import numpy as np
import pytest

from tinyml_cli.config import validate
from tinyml_cli.drift.sources import SEA_THRESHOLDS
from tinyml_cli.drift.stream import STREAM_DATA_SCHEMA, STREAM_SCHEMA, build_stream, load_stream
from tinyml_cli.errors import ConfigError


def stream(seed=0, data=None, **cfg):
    return build_stream(validate(cfg, STREAM_SCHEMA, "test"), validate(data or {}, STREAM_DATA_SCHEMA, "test"), seed)


def digits(kind="permute", schedule="abrupt", positions=(600,), width=0, params=None, length=1200, **extra):
    return stream(data={"name": "digits"}, length=length,
                  drift={"kind": kind, "schedule": schedule, "positions": list(positions), "width": width,
                         "params": params or {}}, **extra)


def test_permutation_applies_only_after_the_position():
    s = digits()
    before, after = slice(0, 600), slice(600, None)
    assert (s.y[before] == s.source_y[before]).all()
    table = {}
    for src, new in zip(s.source_y[after], s.y[after]):
        assert table.setdefault(src, new) == new  # one fixed map after the drift
    assert sorted(table) == sorted(table.values()) == list(range(10))  # a permutation...
    assert all(k != v for k, v in table.items())  # ...without fixed points
    assert (s.level[before] == 0).all() and (s.level[after] == 1).all()


def test_permuting_chosen_classes_leaves_the_others():
    s = digits(params={"classes": [2, 5]})
    after = s.source_y[600:]
    moved = np.isin(after, [2, 5])
    assert (s.y[600:][~moved] == after[~moved]).all()
    assert (s.y[600:][after == 2] == 5).all() and (s.y[600:][after == 5] == 2).all()


def test_gradual_mixing_ratio_follows_the_linear_ramp():
    s = digits(schedule="gradual", positions=[1000], width=2000, length=4000)
    new = s.level == 1
    assert not new[:1000].any() and new[3000:].all()
    first, second = new[1000:2000].mean(), new[2000:3000].mean()
    assert abs(first - 0.25) < 0.04 and abs(second - 0.75) < 0.04  # ramp 0->1 over the width
    assert abs(new[1000:3000].mean() - 0.5) < 0.03
    mixed = slice(1000, 3000)
    assert (s.y[mixed][~new[mixed]] == s.source_y[mixed][~new[mixed]]).all()  # old concept keeps labels


def test_recurring_brings_the_same_concept_back():
    s = digits(schedule="recurring", positions=[300, 600, 900])
    assert (s.y[:300] == s.source_y[:300]).all() and (s.y[600:900] == s.source_y[600:900]).all()
    maps = [dict(zip(s.source_y[a:b], s.y[a:b])) for a, b in ((300, 600), (900, 1200))]
    assert maps[0] == maps[1] and any(k != v for k, v in maps[0].items())


def test_multiple_abrupt_positions_bring_new_permutations():
    s = digits(positions=[400, 800])
    maps = [dict(zip(s.source_y[a:b], s.y[a:b])) for a, b in ((400, 800), (800, 1200))]
    assert maps[0] != maps[1] and s.level.max() == 2


def test_new_class_is_absent_before_and_present_after():
    s = digits(kind="new-class", params={"new_class": 3})
    assert (s.y[:600] != 9).all() and s.num_labels == 10
    share = (s.y[600:] == 9).mean()
    assert 0.05 < share < 0.16  # about one class in ten
    assert (s.reference.y_train < 9).all() and len(s.reference.class_names) == 9
    # the renumbered class 9 is the source's class 3: same images as class 3 of a plain stream
    assert s.reference.x_train.shape[0] > 0


def test_prior_shift_matches_the_configured_weights():
    weights = [0.5, 0.5] + [0.0] * 8
    s = digits(kind="prior", params={"weights": weights}, length=2000, positions=[500])
    counts = np.bincount(s.y[500:], minlength=10) / 1500
    assert np.allclose(counts, weights, atol=0.04)
    assert (np.bincount(s.y[:500], minlength=10) > 20).all()  # before: every class


def test_covariate_gain_offset_apply_after_the_position_only():
    plain = digits(kind="covariate")
    shifted = digits(kind="covariate", params={"gain": 2.0, "offset": 0.5})
    assert np.array_equal(plain.x[:600], shifted.x[:600])
    assert np.allclose(shifted.x[600:], plain.x[600:] * 2.0 + 0.5)
    assert np.array_equal(plain.y, shifted.y)


def test_incremental_covariate_scales_with_the_level():
    plain = digits(kind="covariate", schedule="incremental", width=100)
    shifted = digits(kind="covariate", schedule="incremental", width=100, params={"offset": 1.0})
    diff = (shifted.x - plain.x).reshape(len(plain.x), -1).mean(1)
    assert np.allclose(diff, plain.level) and diff[649] == pytest.approx(0.5)


def test_noise_has_the_configured_spread():
    plain = digits(kind="covariate")
    noisy = digits(kind="covariate", params={"noise": 0.3})
    diff = noisy.x - plain.x
    assert np.abs(diff[:600]).max() == 0
    assert abs(diff[600:].std() - 0.3) < 0.01


def test_image_rotation_by_90_degrees_is_rot90():
    plain = digits(kind="covariate")
    turned = digits(kind="covariate", params={"rotation": 90.0})
    expected = np.rot90(plain.x[600:], k=1, axes=(1, 2))
    assert np.allclose(turned.x[600:], expected, atol=1e-5)


def test_time_warp_resamples_the_signal():
    kw = dict(data={"name": "mnist1d", "samples": 400}, length=300, drift={"kind": "covariate", "positions": [100]})
    plain = stream(**kw)
    kw["drift"]["params"] = {"warp": 2.0}
    warped = stream(**kw)
    assert np.array_equal(plain.x[:100], warped.x[:100])
    idx = np.minimum(np.arange(40) * 2, 39)
    assert np.allclose(warped.x[100:, 0, :, 0], plain.x[100:, 0, idx, 0])


def test_label_regimes():
    delayed = digits(labels={"regime": "delayed", "delay": 25})
    t = np.arange(1200)
    assert (delayed.label_time[:-25] == t[:-25] + 25).all() and (delayed.label_time[-25:] == -1).all()
    part = digits(labels={"regime": "fraction", "fraction": 0.3})
    labelled = part.label_time >= 0
    assert abs(labelled.mean() - 0.3) < 0.04 and (part.label_time[labelled] == t[labelled]).all()


def test_sea_concepts_follow_the_thresholds():
    s = stream(source="sea", length=2000, drift={"kind": "concept", "positions": [500, 1000, 1500]})
    for k, (a, b) in enumerate(((0, 500), (500, 1000), (1000, 1500), (1500, 2000))):
        x = s.x[a:b, 0, :, 0]
        assert ((x[:, 0] + x[:, 1] <= SEA_THRESHOLDS[k]).astype(int) == s.y[a:b]).all()


def test_stagger_and_hyperplane_change_their_concept():
    st = stream(source="stagger", length=600, drift={"kind": "concept", "positions": [300]})
    x = st.x[:, 0, :, 0]
    assert (st.y[:300] == (x[:300, 0] * x[:300, 3]).astype(int)).all()  # small and red
    assert (st.y[300:] == ((x[300:, 4] + x[300:, 7]) > 0).astype(int)).all()  # green or circle
    hp = stream(source="hyperplane", length=2000, drift={"kind": "concept", "schedule": "incremental",
                                                        "positions": [500], "width": 1000})
    assert 0 < hp.level[1000] < 1
    assert (hp.y[:500] == hp.source_y[:500]).all()


def test_stream_file_round_trip(tmp_path):
    s = digits(labels={"regime": "delayed", "delay": 5})
    s.save(tmp_path / "s.npz")
    back = load_stream(tmp_path / "s.npz")
    assert np.array_equal(back.x, s.x) and np.array_equal(back.y, s.y)
    assert back.positions == [600] and np.array_equal(back.label_time, s.label_time)
    assert np.array_equal(back.reference.x_train, s.reference.x_train)


def test_bad_streams_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="position 5000 is outside"):
        digits(positions=[5000])
    with pytest.raises(ConfigError, match="no incremental"):
        digits(schedule="incremental", width=10)
    with pytest.raises(ConfigError, match="needs a dataset source"):
        stream(source="sea", drift={"kind": "prior", "positions": [100]})
    with pytest.raises(ConfigError, match="expected one of data, sea"):
        stream(source="mnist2d")
    with pytest.raises(ConfigError, match="rotation and brightness apply to images"):
        stream(data={"name": "mnist1d", "samples": 200}, length=100,
               drift={"kind": "covariate", "positions": [50], "params": {"rotation": 10}})
    (tmp_path / "bad.npz").write_bytes(b"nope")
    from tinyml_cli.errors import InputFileError
    with pytest.raises(InputFileError, match="bad.npz: not a readable .npz file"):
        load_stream(tmp_path / "bad.npz")
    with pytest.raises(InputFileError, match="gone.npz: stream file not found"):
        load_stream(tmp_path / "gone.npz")
    np.savez(tmp_path / "no_y.npz", x=np.zeros((4, 3), np.float32))
    with pytest.raises(InputFileError, match=r"no_y.npz: missing array 'y' \(found x\)"):
        load_stream(tmp_path / "no_y.npz")


def test_any_dataset_can_feed_a_stream():
    from tinyml_cli.data import split_dataset
    from tinyml_cli.drift.stream import stream_from_dataset

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2, 3, 1)).astype(np.float32)
    y = np.arange(600) % 3
    data = split_dataset("toy", x, y, 0.1, 0.5, seed=0)
    cfg = validate({"length": 400, "drift": {"kind": "permute", "positions": [100]}}, STREAM_SCHEMA, "test")
    s = stream_from_dataset(data, cfg, seed=0)
    test_rows = {row.tobytes() for row in data.x_test}
    assert all(row.tobytes() in test_rows for row in s.x)  # streamed from the held-out split only
    assert s.name == "toy" and s.reference.x_train.shape[1:] == (2, 3, 1)
    assert (s.y[:100] == s.source_y[:100]).all() and (s.y[100:] != s.source_y[100:]).all()
