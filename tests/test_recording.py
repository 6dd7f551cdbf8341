"""Continuous recordings (data.name: recording): every window is checked against the raw rows it was
cut from, its label against the rule applied by hand, and the splits for shared samples by brute force."""

from collections import Counter

import numpy as np
import pytest

from tinyml_cli.data import data_config, load_dataset
from tinyml_cli.data.recording import LABEL_RULES, assign_blocks
from tinyml_cli.errors import ConfigError, InputFileError

CHANNELS = ["ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz"]


def load(path, seed=0, **kw):
    window = {k: kw.pop(k) for k in list(kw) if k in
              ("size", "stride", "label", "columns", "timestamp_column", "max_gap", "blocks")}
    return load_dataset(data_config({"name": "recording", "path": str(path), "window": window, **kw}), seed)


def accelerometer(rng, n=1500, hz=50):
    """A 50 Hz, 9-channel recording with 0/1 activity bouts of 40 to 200 samples."""
    t_ms = np.arange(n) * (1000 // hz)
    y = np.zeros(n, np.int64)
    start, label = 0, 0
    while start < n:
        length = int(rng.integers(40, 200))
        y[start:start + length] = label
        start, label = start + length, 1 - label
    phase = 2 * np.pi * np.arange(n) / hz
    x = rng.normal(0, 0.2, (n, 9)) + np.sin(phase[:, None] * (1 + 2 * y[:, None])) + np.arange(9)
    return t_ms, x, y


def write_csv(path, t, x, y, order=None, header=("timestamp", *CHANNELS, "label")):
    order = np.arange(len(y)) if order is None else order
    lines = [",".join(header)]
    lines += [",".join([str(t[i]), *(repr(float(v)) for v in x[i]), str(y[i])]) for i in order]
    path.write_text("\n".join(lines) + "\n")
    return path


def by_hand(rows, rule):
    """A window's label from its row labels, the rule written out plainly."""
    rows = [int(v) for v in rows]
    if rule == "majority":
        counts = Counter(rows)
        return min(c for c in counts if counts[c] == max(counts.values()))
    return {"center": rows[len(rows) // 2], "last": rows[-1], "max": max(rows)}[rule]


def locate(windows, raw):
    """The start row of every window, found by the content of its first row; asserts each window is
    exactly ``raw[start:start + size]``."""
    raw = raw.astype(np.float32)
    index = {row.tobytes(): i for i, row in enumerate(raw)}
    assert len(index) == len(raw), "oracle needs unique rows"
    starts = []
    for w in windows:
        assert w.shape[0] == 1
        start = index[w[0, 0].tobytes()]
        np.testing.assert_array_equal(w[0], raw[start:start + w.shape[1]])
        starts.append(start)
    return np.asarray(starts, np.int64)


def rows_of(starts, size):
    return {int(s) + k for s in starts for k in range(size)}


def test_accelerometer_csv_end_to_end(tmp_path, rng):
    t, x, y = accelerometer(rng)
    shuffled = rng.permutation(len(y))  # a logger that wrote rows out of order: sorted by timestamp
    path = write_csv(tmp_path / "subject1.csv", t, x, y, order=shuffled)
    size, stride = 32, 16
    d = load(path, size=size, stride=stride, timestamp_column="timestamp")
    assert d.input_shape == (1, size, 9) and d.class_names == ["0", "1"] and d.name == "recording"
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.train_groups.dtype == np.int64 and len(d.train_groups) == len(d.x_train)
    assert len(d.val_groups) == len(d.x_val)
    starts = {}
    for split, xs, ys in [("train", d.x_train, d.y_train), ("val", d.x_val, d.y_val), ("test", d.x_test, d.y_test)]:
        starts[split] = locate(xs, x)
        for s, label in zip(starts[split], ys):
            assert label == by_hand(y[s:s + size], "majority")
        assert set(ys.tolist()) == {0, 1}, split  # stratified: both classes everywhere
    train_rows = rows_of(starts["train"], size)
    assert not train_rows & rows_of(starts["val"], size)
    assert not train_rows & rows_of(starts["test"], size)
    assert not rows_of(starts["val"], size) & rows_of(starts["test"], size)
    # windows of one group are consecutive, stride apart; groups never straddle splits
    for groups, st in [(d.train_groups, starts["train"]), (d.val_groups, starts["val"])]:
        for g in np.unique(groups):
            assert set(np.diff(st[groups == g]).tolist()) <= {stride}
    assert not set(d.train_groups.tolist()) & set(d.val_groups.tolist())
    total = len(d.x_train) + len(d.x_val) + len(d.x_test)
    assert total >= (len(y) - size) // stride + 1 - 2 * 10  # at most ~1 window lost per block edge
    assert 0.05 <= len(d.x_test) / total <= 0.3 and 0.05 <= len(d.x_val) / total <= 0.3


def test_label_rules_by_hand():
    rows = np.array([[1, 1, 0, 0], [2, 2, 1, 0], [0, 2, 1, 1]])
    assert LABEL_RULES["majority"](rows).tolist() == [0, 2, 1]  # ties -> the smaller label
    assert LABEL_RULES["center"](rows).tolist() == [0, 1, 1]  # row size // 2
    assert LABEL_RULES["last"](rows).tolist() == [0, 0, 1]
    assert LABEL_RULES["max"](rows).tolist() == [1, 2, 2]


@pytest.mark.parametrize("rule", ["majority", "center", "last", "max"])
def test_every_label_rule_on_a_recording(tmp_path, rng, rule):
    n, size = 600, 6
    y = np.repeat(rng.integers(0, 3, n // 3), 3)  # runs of 3 rows: ties and mixed windows happen
    x = np.arange(n, dtype=np.float64)  # one channel counting rows: its value is the row index
    np.savez(tmp_path / "r.npz", x=x, y=y)
    d = load(tmp_path / "r.npz", size=size, stride=2, label=rule)
    assert d.input_shape == (1, size, 1)
    checked = 0
    for xs, ys in [(d.x_train, d.y_train), (d.x_val, d.y_val), (d.x_test, d.y_test)]:
        for s, label in zip(locate(xs, x[:, None]), ys):
            assert label == by_hand(y[s:s + size], rule)
            checked += 1
    assert checked > 200
    if rule == "majority":
        assert any(Counter(y[s:s + size].tolist()).most_common(1)[0][1] == size // 2
                   for s in locate(d.x_train, x[:, None]))  # a tie was among them


def test_timestamp_gap_splits_segments(tmp_path):
    t = np.concatenate([np.arange(270), 1000 + np.arange(330)]).astype(float)  # gap off any block edge
    x, y = np.arange(600.0), (np.arange(600) // 30) % 2
    np.savez(tmp_path / "gap.npz", x=x, y=y, t=t)
    d = load(tmp_path / "gap.npz", size=20, stride=5)
    starts = np.concatenate([locate(xs, x[:, None]) for xs in (d.x_train, d.x_val, d.x_test)])
    assert (t[starts + 19] - t[starts] == 19).all()  # no window spans the gap
    assert (starts < 270).any() and (starts >= 270).any()
    # one block and a max_gap above the gap: the recording is one segment, windows cross it
    d = load(tmp_path / "gap.npz", size=20, stride=5, blocks=1, max_gap=1000, val_fraction=0, test_fraction=0)
    starts = locate(d.x_train, x[:, None])
    assert len(starts) == (600 - 20) // 5 + 1 and (t[starts + 19] - t[starts] > 19).any()
    # default max_gap: 5x the median step (2 here): a step of 9 stays inside, a step of 11 cuts
    t = 2.0 * np.arange(600) + np.where(np.arange(600) >= 200, 7, 0) + np.where(np.arange(600) >= 400, 9, 0)
    np.savez(tmp_path / "steps.npz", x=x, y=y, t=t)
    starts = locate(load(tmp_path / "steps.npz", size=20, stride=1, blocks=1, val_fraction=0,
                         test_fraction=0).x_train, x[:, None])
    assert len(starts) == (400 - 19) + (200 - 19)
    assert ((starts < 200) & (starts + 19 >= 200)).any() and not ((starts < 400) & (starts + 19 >= 400)).any()


def test_csv_iso_timestamps_sorted_and_gapped(tmp_path):
    seconds = np.concatenate([np.arange(100), 500 + np.arange(100)])
    stamps = [str(np.datetime64("2024-05-01T10:00:00") + np.timedelta64(int(s), "s")) for s in seconds]
    lines = ["time,v,label"] + [f"{stamps[i]},{i},{'walk' if (i // 25) % 2 else 'sit'}" for i in range(200)][::-1]
    (tmp_path / "iso.csv").write_text("\n".join(lines) + "\n")
    d = load(tmp_path / "iso.csv", size=10, timestamp_column="time", blocks=4, val_fraction=0.25,
             test_fraction=0.25)
    assert d.class_names == ["sit", "walk"]
    starts = np.concatenate([locate(xs, np.arange(200.0)[:, None]) for xs in (d.x_train, d.x_val, d.x_test)])
    assert ((starts + 9 < 100) | (starts >= 100)).all()  # sorted back into time order, none across the gap


def test_folder_of_recordings(tmp_path, rng):
    raws = []
    for k, n in enumerate([400, 250, 330]):
        x = np.stack([k * 1e4 + np.arange(n), rng.normal(size=n), rng.normal(size=n)], axis=1)
        y = (np.arange(n) // 40 + k) % 2
        raws.append((x, y))
        if k == 1:
            np.savez(tmp_path / f"s{k}.npz", x=x, y=y)
        else:
            write_csv(tmp_path / f"s{k}.csv", np.arange(n), x, y, header=("t", "id", "a", "b", "label"))
    (tmp_path / "notes.txt").write_text("ignored")
    d = load(tmp_path, size=25, stride=25, timestamp_column="t", blocks=4)
    assert d.input_shape == (1, 25, 3)
    every = np.concatenate([r[0] for r in raws])
    file_of = np.concatenate([np.full(len(r[0]), k) for k, r in enumerate(raws)])
    labels = np.concatenate([r[1] for r in raws])
    found = []
    for xs, ys, groups in [(d.x_train, d.y_train, d.train_groups), (d.x_val, d.y_val, d.val_groups),
                           (d.x_test, d.y_test, None)]:
        starts = locate(xs, every)
        assert (file_of[starts] == file_of[starts + 24]).all()  # never across two files
        assert all(lab == by_hand(labels[s:s + 25], "majority") for s, lab in zip(starts, ys))
        if groups is not None:
            assert all(len(set(file_of[starts[groups == g]])) == 1 for g in np.unique(groups))
            assert groups.max() < 12  # 4 blocks in each of 3 files
        found.append(starts)
    # 4 equal blocks per file (edges at i * n // 4), whole windows inside each
    expected = sum((((i + 1) * n // 4 - i * n // 4) - 25) // 25 + 1 for n in (400, 250, 330) for i in range(4))
    assert len(np.concatenate(found)) == expected == 36
    # a folder whose files disagree on the channel count
    np.savez(tmp_path / "s9.npz", x=np.zeros((100, 2)), y=np.arange(100) % 2)
    with pytest.raises(InputFileError, match=r"s9\.npz: 2 channels, but s0\.csv has 3"):
        load(tmp_path, size=25, timestamp_column="t", blocks=4)


def test_npz_class_names_and_1d(tmp_path):
    n = 400
    y = np.where((np.arange(n) // 50) % 2, "walk", "run")
    np.savez(tmp_path / "r.npz", x=np.arange(n, dtype=np.float32), y=y)
    d = load(tmp_path / "r.npz", size=10, label="center")
    assert d.class_names == ["run", "walk"] and d.input_shape == (1, 10, 1)
    for s, label in zip(locate(d.x_test, np.arange(n, dtype=float)[:, None]), d.y_test):
        assert d.class_names[label] == y[s + 5]


def test_stratified_splits_reach_every_class(tmp_path, rng):
    n = 3000
    y = np.zeros(n, np.int64)
    for start in range(100, n, 300):  # a rare class: short bouts, one every 300 samples
        y[start:start + 60] = 1
    np.savez(tmp_path / "rare.npz", x=np.arange(n, dtype=float), y=y)
    for seed in range(4):
        d = load(tmp_path / "rare.npz", seed, size=20, stride=10, label="max", blocks=30)
        for ys in (d.y_train, d.y_val, d.y_test):
            assert set(ys.tolist()) == {0, 1}
    # a class with too few blocks for every split: training gets one first, then validation
    split = assign_blocks(np.array([0] * 8 + [1] * 2), np.ones(10), 0.2, 0.2, np.random.default_rng(0))
    assert sorted(split[8:].tolist()) == [0, 1] and set(split[:8].tolist()) == {0, 1, 2}


def test_deterministic_under_seed_and_options(tmp_path, rng):
    t, x, y = accelerometer(rng, n=1000)
    path = write_csv(tmp_path / "a.csv", t, x, y)
    a, b = load(path, 7, size=20, timestamp_column="timestamp"), load(path, 7, size=20, timestamp_column="timestamp")
    for f in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "train_groups", "val_groups"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    others = [load(path, s, size=20, timestamp_column="timestamp") for s in (0, 1, 2)]
    assert any(not np.array_equal(o.val_groups, a.val_groups) for o in others)


def test_zero_test_fraction_and_samples(tmp_path, rng):
    t, x, y = accelerometer(rng, n=800)
    path = write_csv(tmp_path / "a.csv", t, x, y)
    d = load(path, size=16, timestamp_column="timestamp", test_fraction=0.0)
    assert d.x_test.shape == (0, 1, 16, 9) and len(d.y_test) == 0 and len(d.x_val) > 0
    small = load(path, size=16, timestamp_column="timestamp", test_fraction=0.0, samples=10)
    np.testing.assert_array_equal(small.x_train, d.x_train[:10])
    np.testing.assert_array_equal(small.train_groups, d.train_groups[:10])
    np.testing.assert_array_equal(small.x_val, d.x_val)


def test_errors_name_the_file_and_the_problem(tmp_path):
    good = "t,a,b,label\n" + "".join(f"{i},{i},{-i},{(i // 10) % 2}\n" for i in range(100))
    (tmp_path / "good.csv").write_text(good)
    cases = [
        (tmp_path / "nope.csv", {}, InputFileError, r"nope\.csv: recording file or folder not found"),
        (tmp_path / "empty", {}, InputFileError, r"empty: folder holds no \.csv or \.npz recordings"),
        (tmp_path / "bad.csv", {}, InputFileError, r"bad\.csv: line 4: non-numeric channel value 'abc'"),
        (tmp_path / "good.csv", {"label_column": "cls"}, InputFileError,
         r"good\.csv: no label column 'cls' .*columns: t, a, b, label"),
        (tmp_path / "good.csv", {"columns": ["a", "zz"]}, InputFileError,
         r"good\.csv: no channel column 'zz' .*columns: t, a, b, label"),
        (tmp_path / "good.csv", {"size": 101}, InputFileError, r"good\.csv: 100 samples, shorter than one window of 101"),
        (tmp_path / "one.csv", {}, InputFileError, r"one\.csv: the windows hold 1 class \('0'\); expected at least two"),
        (tmp_path / "good.csv", {"size": None}, ConfigError, r"data\.window\.size: the recording format needs"),
        (tmp_path / "notes.txt", {}, InputFileError, r"notes\.txt: expected a \.csv or \.npz recording"),
        (tmp_path / "gappy.npz", {"size": 10}, InputFileError,
         r"gappy\.npz: timestamp gaps cut it into segments of at most 8 samples, shorter than one window of 10"),
        (tmp_path / "none.npz", {}, InputFileError, r"none\.npz: 0 samples, shorter than one window of 5"),
        (tmp_path / "good.csv", {"columns": ["a", "label"]}, ConfigError, r"'label' is the label or timestamp"),
    ]
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.csv").write_text("t,a,label\n0,1,0\n1,2,0\n2,abc,1\n")
    (tmp_path / "one.csv").write_text("a,label\n" + "".join(f"{i},0\n" for i in range(50)))
    (tmp_path / "notes.txt").write_text("x")
    np.savez(tmp_path / "gappy.npz", x=np.zeros(24), y=np.arange(24) % 2, t=np.arange(24) + 100 * (np.arange(24) // 8))
    np.savez(tmp_path / "none.npz", x=np.zeros((0, 3)), y=np.zeros(0, np.int64))
    for path, extra, error, message in cases:
        kw = {"size": 5, **extra}
        if kw["size"] is None:
            del kw["size"]
        with pytest.raises(error, match=message) as info:
            load(path, **kw)
        assert "\n" not in str(info.value)
    for key in ("size", "stride"):  # <= 0 is refused by the schema, naming the key
        with pytest.raises(ConfigError, match=rf"data\.window\.{key}: expected an integer >= 1, got 0"):
            load(tmp_path / "good.csv", **{"size": 5, key: 0})


def test_window_keys_validated_for_every_format():
    with pytest.raises(ConfigError, match=r"unknown key 'data\.window\.sise' \(did you mean 'size'\?\)"):
        data_config({"name": "digits", "window": {"sise": 4}})
    with pytest.raises(ConfigError, match=r"data\.window\.label: expected one of majority, center, last, max"):
        data_config({"name": "csv", "window": {"label": "mode"}})
    cfg = data_config({"name": "digits"})
    assert cfg["window"] == {"size": None, "stride": None, "label": "majority", "columns": None,
                             "timestamp_column": None, "max_gap": None, "blocks": None}
