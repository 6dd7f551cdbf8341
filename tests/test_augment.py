"""Training-time augmentation (tinyml_cli/data/augment.py), checked against independent oracles."""

import numpy as np
import pytest
import torch

from tinyml_cli.config import validate
from tinyml_cli.data.augment import AUGMENT_SCHEMA, Augmenter, rotate
from tinyml_cli.errors import ConfigError

OFFSETS = np.array([9.8, -3.0, 100.0])
SCALES = np.array([0.1, 2.0, 50.0])


def signals(n=256, w=64, seed=0):
    """Raw 3-channel sensor windows: offsets and spreads far from 0 and 1 on purpose."""
    rng = np.random.default_rng(seed)
    return (OFFSETS + SCALES * rng.normal(size=(n, 1, w, 3))).astype(np.float32)


def images(n=64, h=12, w=16, c=2, seed=0):
    rng = np.random.default_rng(seed)
    return (OFFSETS[:c] + SCALES[:c] * rng.normal(size=(n, h, w, c))).astype(np.float32)


def run(cfg, x, seed=0, y=None, num_classes=4):
    aug = Augmenter(cfg, x)
    y = torch.arange(len(x)) % num_classes if y is None else y
    out, target = aug(torch.from_numpy(x), y, num_classes, torch.Generator().manual_seed(seed))
    return out.numpy(), target.numpy()


def test_defaults_are_all_off_and_identity():
    assert all(not v for k, v in validate({}, AUGMENT_SCHEMA, "t").items() if k != "fill")
    x = signals(8)
    for cfg in ({}, {"fill": "zero"}):
        aug = Augmenter(cfg, x)
        assert not aug.enabled and aug.describe() == "off"
        xt, y = torch.from_numpy(x), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
        out, target = aug(xt, y, 4, torch.Generator().manual_seed(0))
        assert out is xt
        assert target.dtype == torch.float32 and torch.equal(target, torch.eye(4)[y])


def test_describe():
    x = images(4)
    assert Augmenter({"jitter": 0.03, "scaling": 0.1}, x).describe() == "jitter 0.03, scaling 0.1"
    assert Augmenter({"flip": True, "shift": 0.1, "fill": "zero"}, x).describe() == "shift 0.1, flip, fill zero"
    assert Augmenter({"mixup": 0.2, "fill": "zero"}, x).describe() == "mixup 0.2"


@pytest.mark.parametrize("cfg, make", [
    ({"jitter": 0.1, "scaling": 0.1, "shift": 0.2, "time_warp": 0.3, "mixup": 0.4}, signals),
    ({"jitter": 0.1, "scaling": 0.1, "shift": 0.2, "flip": True, "rotation": 15, "cutout": 0.3,
      "mixup": 0.4}, images),
])
def test_seeded_runs_repeat_and_seeds_differ(cfg, make):
    x = make(32)
    global_state = torch.get_rng_state()
    a, ta = run(cfg, x, seed=1)
    b, tb = run(cfg, x, seed=1)
    c, tc = run(cfg, x, seed=2)
    assert np.array_equal(a, b) and np.array_equal(ta, tb)
    assert not np.array_equal(a, c) and not np.array_equal(ta, tc)
    assert a.shape == x.shape and a.dtype == np.float32 and ta.shape == (32, 4)
    assert torch.equal(torch.get_rng_state(), global_state)  # no draw from torch's global generator


def test_jitter_noise_is_the_fraction_of_each_channels_std():
    x = signals(512)
    out, _ = run({"jitter": 0.2}, x)
    noise = (out.astype(np.float64) - x).reshape(-1, 3)
    expected = 0.2 * x.reshape(-1, 3).std(0)
    np.testing.assert_allclose(noise.std(0), expected, rtol=0.02)
    assert np.all(np.abs(noise.mean(0)) < 4 * expected / np.sqrt(len(noise)))


def test_scaling_multiplies_each_window_channel_around_the_training_mean():
    x = signals(512)
    mean = x.reshape(-1, 3).astype(np.float64).mean(0)
    aug = Augmenter({"scaling": 0.1}, x)
    x[0] = mean  # a window at the training mean is a fixed point of the scaling
    out = aug(torch.from_numpy(x), torch.zeros(512, dtype=torch.long), 2, torch.Generator().manual_seed(0))[0].numpy()
    np.testing.assert_allclose(out[0], x[0], rtol=1e-6)
    dev_in, dev_out = x[1:].astype(np.float64) - mean, out[1:].astype(np.float64) - mean
    per_window = (dev_in * dev_out).sum((1, 2)) / (dev_in**2).sum((1, 2))  # (N, C) least-squares factor
    np.testing.assert_allclose(dev_out / SCALES, per_window[:, None, None, :] * dev_in / SCALES, atol=1e-4)
    assert abs(per_window.mean() - 1) < 0.02 and abs(per_window.std() - 0.1) < 0.01
    np.testing.assert_allclose((out.reshape(-1, 3).mean(0) - mean) / SCALES, 0, atol=0.01)


def shifted(sample, dy, dx, mode):
    """Oracle: numpy pad (edge or zeros) then crop, sample moved down dy and right dx."""
    h, w, _ = sample.shape
    p = max(abs(dy), abs(dx), 1)
    padded = np.pad(sample, ((p, p), (p, p), (0, 0)), mode="edge" if mode == "edge" else "constant")
    return padded[p - dy:p - dy + h, p - dx:p - dx + w]


def recover_shifts(x, out, kh, kw, mode):
    found = []
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(-kh, kh + 1) for dx in range(-kw, kw + 1)
                if np.array_equal(shifted(x[i], dy, dx, mode), out[i])]
        assert len(hits) == 1, f"sample {i}: {hits}"
        found.append(hits[0])
    return found


def test_signal_shift_moves_by_whole_samples_with_edge_fill():
    x = signals(48, w=50)
    out, _ = run({"shift": 0.1}, x)  # up to 5 samples either way
    ks = [dx for _, dx in recover_shifts(x, out, 0, 5, "edge")]
    assert len(set(ks)) >= 6 and min(ks) < 0 < max(ks)


def test_image_shift_with_zero_fill():
    x = images(32, h=10, w=20)
    out, _ = run({"shift": 0.2, "fill": "zero"}, x)  # up to 2 rows and 4 columns
    found = recover_shifts(x, out, 2, 4, "zero")
    assert len(set(found)) > 10


def test_time_warp_keeps_endpoints_is_monotone_and_interpolates_linearly():
    n, w = 64, 80
    ramp = np.broadcast_to(np.arange(w, dtype=np.float32)[None, None, :, None], (n, 1, w, 3)).copy()
    warped, _ = run({"time_warp": 0.5}, ramp, seed=3)
    src_times = warped[:, 0, :, 0].astype(np.float64)  # a warped ramp is the warp curve itself
    assert np.all(np.diff(src_times, axis=1) >= -1e-4)
    np.testing.assert_allclose(src_times[:, [0, -1]], np.tile([0, w - 1], (n, 1)), atol=1e-4)
    assert np.abs(src_times - np.arange(w)).max(1).min() > 0.5  # every window is actually warped
    x = signals(n, w=w)
    out, _ = run({"time_warp": 0.5}, x, seed=3)  # same seed and batch size: the same curves
    for i in range(n):
        for c in range(3):
            expected = np.interp(src_times[i], np.arange(w), x[i, 0, :, c])
            np.testing.assert_allclose(out[i, 0, :, c], expected, rtol=1e-5, atol=1e-3 * SCALES[c])


def test_flip_is_torch_flip_along_width_for_a_random_half():
    x = images(64)
    out, _ = run({"flip": True}, x)
    flipped = torch.flip(torch.from_numpy(x), dims=[2]).numpy()
    same = [np.array_equal(out[i], x[i]) for i in range(len(x))]
    mirrored = [np.array_equal(out[i], flipped[i]) for i in range(len(x))]
    assert all(s != m for s, m in zip(same, mirrored))
    assert 16 < sum(mirrored) < 48


def test_rotation_of_a_constant_image_stays_constant_inside():
    x = np.full((16, 21, 21, 2), [3.5, -7.0], np.float32)
    train = images(16, h=21, w=21)
    for fill, inner in (("edge", slice(None)), ("zero", slice(5, 16))):
        out = rotate(torch.from_numpy(x), torch.linspace(-20, 20, 16), fill).numpy()
        np.testing.assert_allclose(out[:, inner, inner], x[:, inner, inner], rtol=1e-5)
    out, _ = run({"rotation": 20, "fill": "zero"}, np.concatenate([x, train]))
    np.testing.assert_allclose(out[:16, 5:16, 5:16], x[:, 5:16, 5:16], rtol=1e-5)
    assert (out[:16] == 0).any()  # the corners of some images came from outside


def test_rotation_zero_is_identity_and_quarter_turns_match_rot90():
    x = torch.from_numpy(images(8, h=12, w=16))
    torch.testing.assert_close(rotate(x, torch.zeros(8)), x, atol=1e-5, rtol=0)
    out, _ = run({"rotation": 1e-9}, x.numpy())
    np.testing.assert_allclose(out, x.numpy(), atol=1e-4)
    square = torch.from_numpy(images(8, h=9, w=9))
    torch.testing.assert_close(rotate(square, torch.full((8,), 90.0)), torch.rot90(square, -1, (1, 2)),
                               atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(rotate(x, torch.full((8,), 180.0)), torch.flip(x, (1, 2)), atol=1e-4, rtol=1e-5)


def test_cutout_sets_exactly_one_square_to_the_channel_mean():
    x = images(32, h=12, w=16)
    mean = x.reshape(-1, 2).astype(np.float64).mean(0).astype(np.float32)
    out, _ = run({"cutout": 0.25}, x)  # side round(0.25 * 12) = 3
    for i in range(len(x)):
        changed = np.any(out[i] != x[i], axis=-1)
        rows, cols = np.nonzero(changed.any(1))[0], np.nonzero(changed.any(0))[0]
        assert len(rows) == len(cols) == 3 and np.ptp(rows) == np.ptp(cols) == 2
        assert changed.sum() == 9
        np.testing.assert_array_equal(out[i][changed], np.broadcast_to(mean, (9, 2)))
        np.testing.assert_array_equal(out[i][~changed], x[i][~changed])


@pytest.mark.parametrize("make", [signals, images])
def test_mixup_is_one_convex_combination_of_inputs_and_targets(make):
    n = 48
    x = make(n)
    out, target = run({"mixup": 0.4}, x, y=torch.arange(n), num_classes=n)  # one class per sample
    np.testing.assert_allclose(target.sum(1), 1, rtol=1e-6)
    assert np.all(target >= 0) and np.all((target > 0).sum(1) <= 2)
    lams = []
    for i in range(n):
        lam = target[i, i]
        others = [j for j in np.nonzero(target[i])[0] if j != i]
        expected = x[i] if not others else lam * x[i] + (1 - lam) * x[others[0]]
        np.testing.assert_allclose(out[i], expected, rtol=1e-5, atol=1e-4 * SCALES[:x.shape[-1]].max())
        lams.append(lam)
    assert np.ptp(lams) > 0.5 and sum(0.1 < lam < 0.9 for lam in lams) > 5  # real, varied mixing


@pytest.mark.parametrize("cfg, make, key", [
    ({"rotation": 10}, signals, "rotation"),
    ({"flip": True}, signals, "flip"),
    ({"cutout": 0.2}, signals, "cutout"),
    ({"time_warp": 0.2}, images, "time_warp"),
])
def test_a_key_for_the_other_input_kind_is_a_config_error(cfg, make, key):
    with pytest.raises(ConfigError, match=rf"^train\.augment\.{key}: applies to"):
        Augmenter(cfg, make(4))


def test_bad_values_name_the_key_path():
    with pytest.raises(ConfigError, match=r"train\.augment\.jitter: expected a number >= 0"):
        Augmenter({"jitter": -0.1}, signals(4))
    with pytest.raises(ConfigError, match=r"unknown key 'train\.augment\.rotate' \(did you mean 'rotation'\?\)"):
        Augmenter({"rotate": 10}, images(4))
    with pytest.raises(ValueError, match="does not match"):
        Augmenter({"jitter": 0.1}, signals(4))(torch.zeros(2, 1, 8, 3), torch.zeros(2, dtype=torch.long), 2,
                                               torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_draws_match_cpu():
    cfg = {"jitter": 0.1, "scaling": 0.1, "shift": 0.2, "flip": True, "rotation": 15, "cutout": 0.3, "mixup": 0.4}
    x = images(32)
    aug, y = Augmenter(cfg, x), torch.arange(32) % 4
    cpu = aug(torch.from_numpy(x), y, 4, torch.Generator().manual_seed(5))
    gpu = aug(torch.from_numpy(x).cuda(), y.cuda(), 4, torch.Generator().manual_seed(5))
    assert gpu[0].device.type == "cuda" and gpu[0].dtype == torch.float32
    torch.testing.assert_close(gpu[0].cpu(), cpu[0], atol=1e-3 * SCALES.max(), rtol=1e-4)
    torch.testing.assert_close(gpu[1].cpu(), cpu[1])
