"""Local dataset formats: small files written here, read back and compared with what was written."""

import gzip
import pickle

import numpy as np
import pytest
from PIL import Image

from tinyml_cli.data import Dataset, data_config, load_dataset, resize_dataset
from tinyml_cli.data.files import read_idx_file
from tinyml_cli.errors import ConfigError, InputFileError


def cfg(**kw):
    return data_config(kw)


def test_npz_keeps_test_split_and_scales_uint8(tmp_path, rng):
    x = rng.integers(0, 256, (50, 6, 6), dtype=np.uint8)
    y = np.arange(50) % 3
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:7], y_test=y[:7])
    d = load_dataset(cfg(name="npz", path=str(tmp_path / "d.npz"), val_fraction=0.2), seed=0)
    assert d.input_shape == (6, 6, 1) and d.num_classes == 3
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (40, 10, 7)
    np.testing.assert_allclose(d.x_test[..., 0], x[:7] / 255.0, rtol=1e-6)
    # every training/validation sample keeps its own label (samples are unique: compare by content)
    label_of = {x[i].tobytes(): y[i] for i in range(50)}
    for xi, yi in zip(np.concatenate([d.x_train, d.x_val]), np.concatenate([d.y_train, d.y_val])):
        assert label_of[np.round(xi[..., 0] * 255).astype(np.uint8).tobytes()] == yi
    assert sorted(np.concatenate([d.y_train, d.y_val]).tolist()) == sorted(y.tolist())


def test_npz_1d_signals_and_missing_array(tmp_path, rng):
    np.savez(tmp_path / "s.npz", x_train=rng.normal(size=(30, 40)), y_train=np.arange(30) % 2)
    d = load_dataset(cfg(name="npz", path=str(tmp_path / "s.npz")), seed=1)
    assert d.input_shape == (1, 40, 1) and len(d.x_test) == round(30 * 0.15)
    np.savez(tmp_path / "bad.npz", x=np.zeros(3))
    with pytest.raises(InputFileError, match=r"bad\.npz: missing array 'x_train'"):
        load_dataset(cfg(name="npz", path=str(tmp_path / "bad.npz")), seed=0)
    with pytest.raises(InputFileError, match="nope.npz: npz file not found"):
        load_dataset(cfg(name="npz", path=str(tmp_path / "nope.npz")), seed=0)
    with pytest.raises(ConfigError, match="data.path"):
        load_dataset(cfg(name="npz"), seed=0)


def _idx_bytes(a: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, a.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in a.shape) + a.tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder(tmp_path, rng, gz):
    x = rng.integers(0, 256, (20, 5, 4), dtype=np.uint8)
    y = (np.arange(20) % 4).astype(np.uint8)
    for name, a in [("train-images-idx3-ubyte", x), ("train-labels-idx1-ubyte", y),
                    ("t10k-images-idx3-ubyte", x[:6]), ("t10k-labels-idx1-ubyte", y[:6])]:
        data = _idx_bytes(a)
        (tmp_path / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)
    d = load_dataset(cfg(name="idx", path=str(tmp_path), val_fraction=0.25), seed=0)
    assert d.input_shape == (5, 4, 1) and (len(d.x_train), len(d.x_val), len(d.x_test)) == (15, 5, 6)
    np.testing.assert_allclose(d.x_test[..., 0] * 255, x[:6], atol=1e-4)
    np.testing.assert_array_equal(d.y_test, y[:6])


def test_idx_malformed(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") * 3 + b"xx")
    with pytest.raises(InputFileError, match="header says 125"):
        read_idx_file(tmp_path / "train-images-idx3-ubyte")
    (tmp_path / "junk").write_bytes(b"hello world")
    with pytest.raises(InputFileError, match="bad magic"):
        read_idx_file(tmp_path / "junk")
    with pytest.raises(InputFileError, match="missing train-labels-idx1-ubyte"):
        load_dataset(cfg(name="idx", path=str(tmp_path)), seed=0)


def test_cifar10_batches(tmp_path, rng):
    def batch(n):
        return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(np.arange(n) % 10)}
    b1, b2, test = batch(12), batch(8), batch(5)
    for name, b in [("data_batch_1", b1), ("data_batch_2", b2), ("test_batch", test)]:
        (tmp_path / name).write_bytes(pickle.dumps(b))
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    d = load_dataset(cfg(name="cifar10", path=str(tmp_path), val_fraction=0.1), seed=0)
    assert d.input_shape == (32, 32, 3) and d.class_names[3] == "c3" and len(d.x_test) == 5
    # CIFAR stores planes R, G, B of 32x32 row-major: pixel (row 1, col 2) green = data[1024 + 32 + 2]
    assert d.x_test[0, 1, 2, 1] == pytest.approx(test[b"data"][0, 1024 + 32 + 2] / 255.0)
    (tmp_path / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(InputFileError, match="data_batch_3: not a CIFAR-10 python batch"):
        load_dataset(cfg(name="cifar10", path=str(tmp_path)), seed=0)


def test_imagefolder_resizes_and_reads_classes(tmp_path):
    for split, n in [("train", 4), ("test", 2)]:
        for k, cls in enumerate(["cat", "dog"]):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((10, 12, 3), 40 + 100 * k, np.uint8)).save(tmp_path / split / cls / f"{i}.png")
    d = load_dataset(cfg(name="imagefolder", path=str(tmp_path), image_size=6, channels=3,
                         val_fraction=0.25), seed=0)
    assert d.class_names == ["cat", "dog"] and d.input_shape == (6, 6, 3)
    assert len(d.x_test) == 4 and len(d.x_train) + len(d.x_val) == 8
    for x, y in zip(d.x_test, d.y_test):
        np.testing.assert_allclose(x, (40 + 100 * y) / 255.0, atol=1e-6)
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "train" / "cat" / "x.png")
    (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(InputFileError, match="broken.png: not a readable image"):
        load_dataset(cfg(name="imagefolder", path=str(tmp_path)), seed=0)


def test_csv_windows_with_named_labels(tmp_path):
    lines = ["t0_x,t0_y,t1_x,t1_y,t2_x,t2_y,activity"]
    for i in range(20):
        lines.append(",".join(str(i * 10 + j) for j in range(6)) + ("," + ("walk" if i % 2 else "run")))
    (tmp_path / "w.csv").write_text("\n".join(lines) + "\n")
    d = load_dataset(cfg(name="csv", path=str(tmp_path / "w.csv"), label_column="activity", channels=2,
                         test_fraction=0.2), seed=0)
    assert d.input_shape == (1, 3, 2) and d.class_names == ["run", "walk"]
    for x, y in zip(d.x_test, d.y_test):
        i = int(x[0, 0, 0]) // 10
        np.testing.assert_array_equal(x[0, :, 1], [i * 10 + 1, i * 10 + 3, i * 10 + 5])
        assert y == (1 if i % 2 else 0)
    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,0\n1,x,1\n")
    with pytest.raises(InputFileError, match="bad.csv: line 3: non-numeric"):
        load_dataset(cfg(name="csv", path=str(tmp_path / "bad.csv")), seed=0)
    with pytest.raises(InputFileError, match="no label column 'cls'"):
        load_dataset(cfg(name="csv", path=str(tmp_path / "bad.csv"), label_column="cls"), seed=0)


def test_resize_images_matches_pil_and_rejects_channel_mismatch(rng):
    x = rng.random((4, 16, 16, 1)).astype(np.float32)
    y = np.zeros(4, np.int64)
    d = Dataset("toy", x, y, x, y, x, y, ["a", "b"])
    r = resize_dataset(d, (32, 32, 1))
    assert r.input_shape == (32, 32, 1)
    # upsampling by 2 with bilinear keeps the mean and every value within the input's range
    assert r.x_train.mean() == pytest.approx(x.mean(), abs=0.01)
    assert x.min() - 1e-6 <= r.x_train.min() and r.x_train.max() <= x.max() + 1e-6
    assert resize_dataset(d, (16, 16, 1)) is d
    with pytest.raises(ConfigError, match="3 input channel"):
        resize_dataset(d, (16, 16, 3))
