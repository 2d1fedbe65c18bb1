"""The vectorised EM of N-LEEP against scikit-learn's GaussianMixture."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from sktransfer.metrics import NLEEP
from sktransfer.metrics._gmm import (
    _e_step,
    _fit_gaussian_mixture,
    _m_step,
    _mixture_posteriors,
)
from sktransfer.metrics._nleep import _leep_core


def _clusters(n_samples=600, n_features=20, n_clusters=6, spread=3.0, seed=0):
    """Gaussian clusters with anisotropic covariances and a decaying spectrum:
    posteriors mostly one-hot (pruning active) but with overlapping pairs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_clusters, size=n_samples)
    centers = spread * rng.normal(size=(n_clusters, n_features))
    mixing = rng.normal(size=(n_clusters, n_features, n_features)) / np.sqrt(n_features)
    noise = rng.normal(size=(n_samples, n_features))
    scales = (np.arange(n_features) + 1.0) ** -0.5
    X = centers[labels] + np.einsum("ij,ijk->ik", noise, mixing[labels]) * scales
    return X, labels


def _assert_same_mixture(ours, theirs, rtol=1e-8):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=1e-10)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        expected = getattr(theirs, name)
        scale = np.max(np.abs(expected))
        np.testing.assert_allclose(
            getattr(ours, name), expected, rtol=rtol, atol=rtol * scale, err_msg=name
        )
    np.testing.assert_allclose(
        ours.precisions_, theirs.precisions_, rtol=rtol, atol=rtol * 1e-3
    )


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize(
    "seed, n_samples, n_features, n_components",
    [(0, 600, 20, 6), (1, 400, 12, 8), (2, 900, 30, 5), (3, 300, 5, 4)],
)
def test_em_equals_sklearn(covariance_type, seed, n_samples, n_features, n_components):
    X, _ = _clusters(n_samples, n_features, n_components, seed=seed)
    kwargs = {"covariance_type": covariance_type, "random_state": seed}
    theirs = GaussianMixture(n_components, **kwargs).fit(X)
    ours, resp = _fit_gaussian_mixture(X, n_components, **kwargs)
    assert isinstance(ours, GaussianMixture)
    assert ours.get_params() == theirs.get_params()
    assert ours.n_features_in_ == n_features
    _assert_same_mixture(ours, theirs)
    expected = theirs.predict_proba(X)
    np.testing.assert_allclose(resp, expected, rtol=1e-7, atol=1e-10)
    # The returned object is a usable fitted GaussianMixture.
    np.testing.assert_allclose(ours.predict_proba(X), expected, rtol=1e-7, atol=1e-10)
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-10)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_pruned_estep_equals_dense_estep():
    # The pruned "full" E-step skips pairs whose posterior underflows to 0; it
    # must give the dense E-step's posteriors and log-likelihood.
    X, _ = _clusters(n_samples=800, n_features=24, n_clusters=8, spread=4.0)
    gmm, _ = _fit_gaussian_mixture(X, 8, random_state=0)
    params = (gmm.weights_, gmm.means_, gmm.covariances_, gmm.precisions_cholesky_)
    bound_pruned, pruned = _e_step(X, None, params, "full", prune=True)
    bound_dense, dense = _e_step(X, None, params, "full", prune=False)
    assert bound_pruned == pytest.approx(bound_dense, rel=1e-13)
    np.testing.assert_allclose(pruned, dense, rtol=1e-10, atol=1e-300)
    # The data are such that most pairs are pruned (exact zeros).
    assert np.mean(pruned == 0.0) > 0.5
    np.testing.assert_array_equal(pruned == 0.0, dense == 0.0)
    # Only posteriors below exp(-37) times their sample's largest are zeroed.
    kept = pruned[pruned > 0.0] / np.repeat(
        pruned.max(axis=1), (pruned > 0.0).sum(axis=1)
    )
    assert kept.min() >= np.exp(-37.0)


def test_pruning_with_a_large_offset():
    # Clusters of spread ~0.01 at 1e6 from the origin: the bound's product
    # X @ U - mu @ U cancels heavily; pruning must still match the dense E-step.
    X, _ = _clusters(n_samples=1500, n_features=30, n_clusters=10, spread=0.5)
    X = 0.01 * X + 1e6
    gmm, _ = _fit_gaussian_mixture(X, 10, reg_covar=1e-12, random_state=0)
    params = (gmm.weights_, gmm.means_, gmm.covariances_, gmm.precisions_cholesky_)
    bound_pruned, pruned = _e_step(X, None, params, "full", prune=True)
    bound_dense, dense = _e_step(X, None, params, "full", prune=False)
    assert bound_pruned == pytest.approx(bound_dense, rel=1e-13)
    np.testing.assert_allclose(pruned, dense, rtol=1e-10, atol=1e-15)
    # scikit-learn's own E-step expands (x - mu) U the same way and loses ~7
    # digits here; the mixtures still agree to that precision.
    theirs = GaussianMixture(10, reg_covar=1e-12, random_state=0).fit(X)
    assert gmm.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(gmm.means_, theirs.means_, rtol=1e-12)
    np.testing.assert_allclose(pruned, theirs.predict_proba(X), atol=1e-5)


def test_n_init_and_max_iter_as_sklearn():
    # Overlapping clusters: the three initialisations end at lower bounds that
    # differ by ~1e-6, far above roundoff, so the best one is the same as
    # sklearn's (separated clusters give ties decided by roundoff).
    X, _ = _clusters(n_samples=500, n_features=10, n_clusters=5, spread=0.3, seed=4)
    kwargs = {
        "n_init": 3,
        "max_iter": 200,
        "reg_covar": 1e-3,
        "tol": 1e-4,
        "random_state": 9,
    }
    theirs = GaussianMixture(5, **kwargs).fit(X)
    ours, _ = _fit_gaussian_mixture(X, 5, **kwargs)
    _assert_same_mixture(ours, theirs)
    # Not converged in 2 iterations: the same warning and n_iter_ as sklearn.
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        theirs = GaussianMixture(5, max_iter=2, random_state=0).fit(X)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        ours, _ = _fit_gaussian_mixture(X, 5, max_iter=2, random_state=0)
    assert not ours.converged_ and ours.n_iter_ == 2
    _assert_same_mixture(ours, theirs)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_reg_covar(covariance_type):
    X, _ = _clusters(n_samples=300, n_features=8, n_clusters=4, seed=5)
    kwargs = {"covariance_type": covariance_type, "reg_covar": 0.5, "random_state": 1}
    ours, _ = _fit_gaussian_mixture(X, 4, **kwargs)
    _assert_same_mixture(ours, GaussianMixture(4, **kwargs).fit(X))
    # Every variance is at least reg_covar (sample covariance + 0.5 I).
    variances = ours.covariances_
    if covariance_type == "full":
        variances = np.diagonal(variances, axis1=1, axis2=2)
    assert variances.min() >= 0.5


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_empty_component(covariance_type):
    # Hand derivation: a component without responsibility gets weight
    # 10 eps / sum(nk), mean 0 (0 / (10 eps)) and covariance reg_covar * I.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) + 5.0
    resp = np.zeros((50, 3))
    resp[:25, 0] = 1.0
    resp[25:, 2] = 1.0
    X2 = X * X
    weights, means, covariances, _ = _m_step(X, X2, resp, 1e-2, covariance_type)
    eps = np.finfo(np.float64).eps
    assert weights[1] == pytest.approx(10 * eps / (50 + 30 * eps), rel=1e-12)
    np.testing.assert_array_equal(means[1], 0.0)
    expected = np.eye(3) * 1e-2 if covariance_type == "full" else np.full(3, 1e-2)
    np.testing.assert_allclose(covariances[1], expected, rtol=1e-12)
    np.testing.assert_allclose(means[0], X[:25].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(means[2], X[25:].mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_singular_covariance_raises(covariance_type):
    # Four distinct points repeated ten times: each k-means cluster collapses
    # to one point, a zero covariance without regularisation.
    X = np.repeat(np.arange(8.0).reshape(4, 2), 10, axis=0)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        _fit_gaussian_mixture(
            X, 4, covariance_type=covariance_type, reg_covar=0.0, random_state=0
        )
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        _fit_gaussian_mixture(X[:3], 4, covariance_type=covariance_type)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_deterministic_and_input_unchanged(covariance_type):
    X, _ = _clusters(n_samples=400, n_features=16, n_clusters=5, seed=6)
    X_copy = X.copy()
    first, resp_first = _fit_gaussian_mixture(
        X, 5, covariance_type=covariance_type, random_state=3
    )
    again, resp_again = _fit_gaussian_mixture(
        X, 5, covariance_type=covariance_type, random_state=3
    )
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(resp_first, resp_again)
    np.testing.assert_array_equal(first.covariances_, again.covariances_)
    # The posteriors of new data equal the fit's on the training data, bit for
    # bit, and predict_proba up to roundoff.
    np.testing.assert_array_equal(_mixture_posteriors(first, X), resp_first)
    np.testing.assert_array_equal(X, X_copy)
    X_new = X[:50] + 0.1
    np.testing.assert_allclose(
        _mixture_posteriors(first, X_new),
        first.predict_proba(X_new),
        rtol=1e-7,
        atol=1e-10,
    )


@pytest.mark.parametrize("covariance_type", ["tied", "spherical"])
def test_other_covariance_types_use_sklearn(covariance_type):
    X, _ = _clusters(n_samples=300, n_features=6, n_clusters=3, seed=7)
    kwargs = {"covariance_type": covariance_type, "random_state": 2}
    ours, resp = _fit_gaussian_mixture(X, 3, **kwargs)
    theirs = GaussianMixture(3, **kwargs).fit(X)
    np.testing.assert_array_equal(ours.means_, theirs.means_)
    np.testing.assert_array_equal(resp, theirs.predict_proba(X))


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_nleep_score_equals_sklearn_mixture(covariance_type):
    # N-LEEP with the fitted PCA, GaussianMixture.fit and the LEEP of its
    # predict_proba (tests/test_nleep.py checks _leep_core against a loop).
    X, y = _clusters(n_samples=600, n_features=30, n_clusters=3, spread=1.0, seed=8)
    est = NLEEP(covariance_type=covariance_type, random_state=4).fit(X, y)
    Z = (X - est.pca_mean_) @ est.pca_components_.T
    gmm = GaussianMixture(15, covariance_type=covariance_type, random_state=4).fit(Z)
    expected = _leep_core(gmm.predict_proba(Z), y, 3)[0]
    assert est.score_ == pytest.approx(expected, rel=1e-9)
    _assert_same_mixture(est.gmm_, gmm)
    assert est.score(X, y) == est.score_
