"""The synthetic source pool and the ``python -m sktransfer`` entry point."""

import sys

import numpy as np
import pytest

from sktransfer.datasets import make_source_pool


def test_source_pool_shapes_and_determinism():
    pool = make_source_pool(n_samples=90, n_classes=3, n_sources=4, random_state=1)
    assert list(pool.features) == [f"source_{i}" for i in range(4)]
    for X in pool.features.values():
        assert X.shape == (90, 32) and X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(pool.target), [30, 30, 30])
    signals = list(pool.signal.values())
    assert signals == sorted(signals, reverse=True)
    again = make_source_pool(n_samples=90, n_classes=3, n_sources=4, random_state=1)
    np.testing.assert_array_equal(again.features["source_2"], pool.features["source_2"])


def test_source_pool_order_is_real():
    # The ground-truth order is visible to a linear probe: best vs worst source.
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    pool = make_source_pool(random_state=2)
    probe = LogisticRegression(max_iter=1000)
    best = cross_val_score(probe, pool.features["source_0"], pool.target).mean()
    worst = cross_val_score(probe, pool.features["source_4"], pool.target).mean()
    assert best > worst + 0.3


def test_source_pool_validates():
    with pytest.raises(ValueError, match="n_classes"):
        make_source_pool(n_classes=1)


def test_main_module_runs_the_command_line(capsys, monkeypatch):
    # ``python -m sktransfer`` runs ``sktransfer/__main__.py`` as ``__main__``:
    # the ``sktransfer`` command line (a subprocess run is in tests/test_cli.py).
    import runpy
    from pathlib import Path

    import sktransfer

    script = str(Path(sktransfer.__file__).with_name("__main__.py"))
    monkeypatch.setattr(sys, "argv", ["sktransfer", "--version"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(script, run_name="__main__")
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"sktransfer {sktransfer.__version__}\n"
    monkeypatch.setattr(sys, "argv", ["sktransfer"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(script, run_name="__main__")
    assert exc.value.code == 2  # no command: the help text and status 2
    assert capsys.readouterr().out.startswith("usage: sktransfer")
