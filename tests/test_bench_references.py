"""The benchmark's re-written reference implementations compute our metrics.

``benchmarks/_references.py`` re-implements the public reference algorithms
(from their published descriptions) as timing baselines. Each one must give
the same score as the sktransfer metric in the matching ``compat=`` mode (or
default) on small data; otherwise the speed comparison would be between
different quantities. The two sides share no code: the references use full
SVDs, ``pinv``, ``slogdet``, Python loops over classes, pairs or samples,
scikit-learn's PCA/LedoitWolf, while the package uses syrk + eigh/Cholesky
kernels, so agreement is a real cross-check of both.
"""

# SPDX-License-Identifier: BSD-3-Clause

import importlib.util
import pathlib
import sys
import warnings

import numpy as np
import pytest

from sktransfer.metrics import (
    GBC,
    LEEP,
    NCE,
    NLEEP,
    PARC,
    SFDA,
    HScore,
    LogME,
    ShrinkageHScore,
    TransRate,
)

_BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, _BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


refs = _load("_references")


def _features(n, d, c, seed=0, scale=1.0):
    """Class-dependent features with a power-law spectrum and an offset."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % c)
    s = (np.arange(d) + 1.0) ** -0.5
    mu = rng.standard_normal((c, d)) * s
    X = 0.5 + mu[y] + rng.standard_normal((n, d)) * s
    return scale * X, y


def _probabilities(n, n_source, c, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % c)
    logits = rng.standard_normal((n, n_source))
    logits[np.arange(n), (y * 7) % n_source] += 3.0
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    return P / P.sum(axis=1, keepdims=True), y


@pytest.mark.parametrize("shape", [(400, 20, 4), (60, 100, 3)])
def test_logme_matches_thuml(shape):
    X, y = _features(*shape)
    expected = LogME(compat="thuml").fit(X, y).score_
    assert refs.logme_thuml(X, y) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("shape", [(400, 20, 4), (300, 40, 10), (600, 64, 30)])
def test_transrate_matches_tllib(shape):
    # (600, 64, 30): n_c = 20 < D / 2, our small-class (Sylvester) path.
    X, y = _features(*shape)
    expected = TransRate(compat="tllib").fit(X, y).score_
    assert refs.transrate_tllib(X, y) == pytest.approx(expected, rel=1e-9)


def test_hscore_matches_official():
    X, y = _features(500, 30, 5)
    expected = HScore().fit(X, y).score_
    assert refs.hscore_official(X, y) == pytest.approx(expected, rel=1e-8)


def test_shrinkage_hscore_matches_tllib():
    X, y = _features(300, 40, 6)
    expected = ShrinkageHScore().fit(X, y).score_
    assert refs.shrinkage_hscore_tllib(X, y) == pytest.approx(expected, rel=1e-8)


def test_gbc_matches_stable_transfer():
    X, y = _features(400, 80, 5, scale=3.0)
    expected = GBC(n_components=16, compat="stable_transfer").fit(X, y).score_
    got = refs.gbc_stable_transfer(X, y, n_components=16, svd_solver="full")
    # The reference's PCA output is float32.
    assert got == pytest.approx(expected, rel=1e-5)
    assert -5 * 4 < got < 0


def test_sfda_matches_repo():
    X, y = _features(300, 12, 4, scale=0.5)
    expected = SFDA(compat="sfda").fit(X, y).score_
    assert refs.sfda_repo(X, y) == pytest.approx(expected, rel=1e-8)


def test_leep_and_nce_match_thuml():
    P, y = _probabilities(600, 30, 5)
    assert refs.leep_thuml(P, y) == pytest.approx(
        LEEP(compat="thuml").fit(P, y).score_, rel=1e-10
    )
    assert refs.nce_thuml(P, y) == pytest.approx(NCE().fit(P, y).score_, rel=1e-10)


def test_nleep_matches_stable_transfer():
    X, y = _features(300, 10, 3, scale=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = NLEEP(compat="stable_transfer").fit(X, y).score_
    got = refs.nleep_stable_transfer(X, y)
    # The same float32 mixture fit; LEEP summed in a different order.
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_parc_matches_dbolya():
    X, y = _features(120, 40, 4)
    expected = PARC(n_components=8, max_samples=None, compat="parc").fit(X, y).score_
    assert refs.parc_reference(X, y, n_dims=8) == pytest.approx(expected, rel=1e-9)


def test_every_benchmarked_reference_is_checked():
    tested = {
        "LogME",
        "TransRate",
        "HScore",
        "ShrinkageHScore",
        "GBC",
        "SFDA",
        "LEEP",
        "NCE",
        "NLEEP",
        "PARC",
    }
    assert set(refs.REFERENCES) == tested
