"""Tests of PARC against literal N x N implementations with scipy's spearmanr."""

import tracemalloc

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from sktransfer.metrics import PARC, parc_score
from sktransfer.metrics import _parc as parc_module
from sktransfer.metrics._pca import pca_project


def _blobs(n_samples=150, n_features=40, n_classes=3, spread=0.7, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n_samples)
    X = spread * rng.normal(size=(n_classes, n_features))[y]
    return X + rng.normal(size=(n_samples, n_features)), y


def _spearman_upper(R_F, R_Y):
    """scipy's Spearman correlation of the flattened strict upper triangles."""
    iu = np.triu_indices(R_F.shape[0], k=1)
    return spearmanr(R_F[iu], R_Y[iu])[0]


def _literal_parc(X, y, n_components):
    """The default, literally (notes §10.1 with the exact PCA): deterministic
    PCA, StandardScaler, R_F = 1 - corrcoef, and the exact two-valued one-hot
    dissimilarity (0 for a same-class pair, 1 + 1/(C-1) otherwise)."""
    Z = X if n_components is None else pca_project(X, n_components)[0]
    R_F = 1 - np.corrcoef(StandardScaler().fit_transform(Z))
    n_classes = np.unique(y).shape[0]
    R_Y = (y[:, None] != y[None, :]) * (1 + 1 / (n_classes - 1))
    return 100 * _spearman_upper(R_F, R_Y)


def _literal_reference(X, y, n_components):
    """dbolya/parc as the notes describe it (§10.1): randomised PCA (seed 1919,
    one power iteration), StandardScaler, 1 - corrcoef of the features and of
    the one-hot labels, 100 x spearmanr of the upper triangles."""
    pca = PCA(
        n_components, svd_solver="randomized", random_state=1919, iterated_power=1
    )
    Z = StandardScaler().fit_transform(pca.fit_transform(X))
    onehot = np.eye(y.max() + 1)[y]
    return 100 * _spearman_upper(1 - np.corrcoef(Z), 1 - np.corrcoef(onehot))


@pytest.mark.parametrize("n_classes", [2, 3, 5, 7])
@pytest.mark.parametrize("n_components", [10, 0.9, None])
def test_matches_literal_spearman(n_classes, n_components):
    # Reference value: scipy.stats.spearmanr on the flattened upper triangles
    # of the literal N x N dissimilarity matrices.
    X, y = _blobs(n_classes=n_classes)
    expected = _literal_parc(X, y, n_components)
    score = PARC(n_components=n_components).fit(X, y).score_
    np.testing.assert_allclose(score, expected, rtol=1e-10)


@pytest.mark.parametrize("n_classes", [2, 4, 7])
def test_compat_matches_literal_reference(n_classes):
    # Reference value: the literal pipeline of dbolya/parc re-implemented above.
    X, y = _blobs(n_classes=n_classes)
    expected = _literal_reference(X, y, 10)
    score = PARC(n_components=10, compat="parc").fit(X, y).score_
    np.testing.assert_allclose(score, expected, rtol=1e-10)


def test_compat_reproduces_the_label_roundoff():
    # With 7 classes, 1 - corrcoef(one-hot) is not exactly two-valued (1/7 is
    # inexact) and the ties of the label ranks split by class pair; with 4
    # classes it is exact. Checked on the literal matrix itself.
    iu = np.triu_indices(150, k=1)
    for n_classes, n_values in [(4, 2), (7, 3)]:
        _, y = _blobs(n_classes=n_classes)
        R_Y = (1 - np.corrcoef(np.eye(n_classes)[y]))[iu]
        assert np.unique(R_Y).shape[0] >= n_values
    # Same randomised PCA on both sides: only the label side differs, and the
    # difference is large (the PCA step alone is tested with 4 classes below).
    X, y = _blobs(n_classes=7)
    Z = StandardScaler().fit_transform(
        PCA(
            10, svd_solver="randomized", random_state=1919, iterated_power=1
        ).fit_transform(X)
    )
    exact_labels = (y[:, None] != y[None, :]).astype(float)
    exact = 100 * _spearman_upper(1 - np.corrcoef(Z), exact_labels)
    compat = PARC(n_components=10, compat="parc").fit(X, y).score_
    assert abs(compat - exact) > 5


def test_default_matches_the_pipeline_with_sklearn_full_pca():
    # Reference value: the same pipeline with sklearn's exact PCA (full
    # solver), whose sign convention (largest loading positive) is ours.
    X, y = _blobs(n_classes=4)
    Z = StandardScaler().fit_transform(PCA(10, svd_solver="full").fit_transform(X))
    R_Y = (y[:, None] != y[None, :]).astype(float)
    expected = 100 * _spearman_upper(1 - np.corrcoef(Z), R_Y)
    np.testing.assert_allclose(PARC(n_components=10).fit(X, y).score_, expected)


def test_rank_biserial_with_ties_matches_spearmanr():
    # Heavy ties inside and across the two groups (values rounded to 0.1).
    rng = np.random.default_rng(0)
    for high_size, low_size in [(300, 900), (900, 300)]:
        high = np.round(rng.random(high_size), 1)
        low = np.round(rng.random(low_size) * 0.8, 1)
        group = np.r_[np.ones(high_size), np.zeros(low_size)]
        expected = spearmanr(np.r_[high, low], group)[0]
        got = parc_module._rank_biserial(high.copy(), low.copy())
        np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("n_classes, n_features", [(4, 3), (5, 4)])
def test_perfect_separation_hand_value(n_classes, n_features):
    # Every same-class pair is more correlated than every different-class pair:
    # U_same = n_0 n_1, U_diff = 0, no ties, so
    # rho = sqrt(n_0 n_1) / (2 sqrt((P^2 - 1) / 12)).
    rng = np.random.default_rng(0)
    n = 200
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n_classes, n_features))[y]
    X += 1e-3 * rng.normal(size=(n, n_features))
    counts = np.bincount(y)
    n0 = int(np.sum(counts * (counts - 1) // 2))
    n_pairs = n * (n - 1) // 2
    n1 = n_pairs - n0
    expected = 100 * np.sqrt(n0 * n1) / (2 * np.sqrt((n_pairs**2 - 1) / 12))
    score = parc_score(X, y, n_components=None)
    np.testing.assert_allclose(score, expected, rtol=1e-12)


def test_random_labels_score_near_zero():
    X, y = _blobs(n_samples=400, n_classes=5)
    shuffled = np.random.default_rng(1).permutation(y)
    assert abs(parc_score(X, shuffled)) < 3
    assert parc_score(X, y) > 20


def test_subsampling_is_seeded_and_uses_the_drawn_samples():
    X, y = _blobs(n_samples=300)
    est = PARC(max_samples=120, random_state=3).fit(X, y)
    idx = est.sample_indices_
    assert idx.shape == (120,) and np.all(np.diff(idx) > 0)
    # Second formulation: PARC on the subset, without subsampling.
    subset = PARC(max_samples=None).fit(X[idx], y[idx]).score_
    assert est.score_ == subset
    # Same seed: bit-identical; another seed: another subset.
    assert PARC(max_samples=120, random_state=3).fit(X, y).score_ == est.score_
    assert est.score(X, y) == est.score_
    other = PARC(max_samples=120, random_state=4).fit(X, y)
    assert not np.array_equal(other.sample_indices_, idx)
    assert PARC().fit(X, y).sample_indices_ is None


def test_no_n_by_n_array_above_max_samples():
    # N = 3000 would need 72 MB for one N x N float64 matrix; with
    # max_samples=300 the peak stays far below.
    X, y = _blobs(n_samples=3000, n_features=20)
    tracemalloc.start()
    PARC(n_components=10, max_samples=300).fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8e6


def test_blocked_pairs_match_a_single_block(monkeypatch):
    X, y = _blobs()
    expected = PARC().fit(X, y).score_
    monkeypatch.setattr(parc_module, "_BLOCK_ELEMENTS", 1000)  # 6 rows a block
    assert PARC().fit(X, y).score_ == pytest.approx(expected, rel=1e-12)


def test_n_components_clipped_with_warning():
    X, y = _blobs(n_samples=60, n_features=8)
    with pytest.warns(UserWarning, match="n_components=32 is larger"):
        est = PARC().fit(X, y)
    assert est.n_components_ == 8


def test_one_feature_raises():
    X, y = _blobs(n_features=5)
    with pytest.raises(ValueError, match="n_features = 1"):
        PARC(n_components=1).fit(X, y)
    with pytest.raises(ValueError, match="n_features = 1"):
        PARC(n_components=None).fit(X[:, :1], y)


def test_compat_needs_an_integer_n_components():
    X, y = _blobs()
    with pytest.raises(ValueError, match="integer n_components"):
        PARC(n_components=0.9, compat="parc").fit(X, y)


def test_no_same_class_pair_raises():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 4)), np.arange(6)  # every class is one sample
    with pytest.raises(ValueError, match="pair of samples of the same class"):
        PARC(n_components=None).fit(X, y)


@pytest.mark.parametrize("compat", [None, "parc"])
def test_constant_sample_raises(compat):
    # Rows r, -r and 0: the column means are 0, so the zero row stays constant
    # after standardisation and its correlations are undefined.
    rng = np.random.default_rng(0)
    r = rng.normal(size=(5, 6))
    X = np.vstack([r, -r, np.zeros((1, 6))])
    y = np.arange(11) % 2
    with pytest.raises(ValueError, match="constant features"):
        PARC(n_components=None, compat=compat).fit(X, y)


def test_function_matches_estimator():
    X, y = _blobs()
    assert parc_score(X, y, n_components=8) == PARC(n_components=8).fit(X, y).score_
