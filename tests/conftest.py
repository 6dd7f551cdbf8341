import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)


@pytest.fixture
def cli(capsys):
    """``tinyml ARGS...`` run in this process: returns (exit code, stdout, stderr)."""
    from tinyml_cli.cli import main

    def run(*args):
        with pytest.raises(SystemExit) as exit_:
            main([str(a) for a in args])
        out = capsys.readouterr()
        return exit_.value.code, out.out, out.err

    return run


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)


@pytest.fixture
def train_calls(monkeypatch):
    """Every graph a search trains from scratch, in order (the real training still runs)."""
    from tinyml_cli.search.backends import base as base_module

    calls = []
    real = base_module.train_and_evaluate

    def counting(graph, *args, **kwargs):
        calls.append(graph)
        return real(graph, *args, **kwargs)

    monkeypatch.setattr(base_module, "train_and_evaluate", counting)
    return calls
