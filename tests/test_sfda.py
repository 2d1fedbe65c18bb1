"""Tests of SFDA against a literal eigen-route re-implementation of the reference."""

import warnings

import numpy as np
import pytest
import scipy.linalg

from sktransfer.metrics import SFDA, sfda_score
from sktransfer.metrics._pca import pca_project


def _blobs(n_samples=240, n_features=6, n_classes=4, scale=1.0, spread=1.5, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    centers = spread * rng.normal(size=(n_classes, n_features))
    # Unequal feature variances, so the shrinkage target matters.
    widths = np.linspace(0.5, 1.5, n_features)
    X = centers[y] + rng.normal(size=(n_samples, n_features)) * widths
    return scale * X, y


def _softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _within_scatter_loop(X, y):
    """S_w = sum_c pi_c Cov_c with biased class covariances, class by class."""
    n, d = X.shape
    S = np.zeros((d, d))
    for c in np.unique(y):
        Xc = X[y == c]
        S += Xc.shape[0] / n * np.cov(Xc.T, bias=True).reshape(d, d)
    return S


def _shrink(S, lam):
    d = S.shape[0]
    return (1 - lam) * S + lam * np.trace(S) / d * np.eye(d)


def _eigen_route_lda(X, y, lam):
    """The reference's stage 1 as the research notes describe it (§9.1).

    Generalised eigenproblem S_b v = e S~_w v with S_b = shrink(S_t) - S~_w, all
    eigenvectors sorted by decreasing e, coef = M V V^T, intercept
    -1/2 mu_c^T coef_c + log pi_c, posteriors softmax(X coef^T + intercept).
    """
    n, d = X.shape
    classes = np.unique(y)
    priors = np.array([np.mean(y == c) for c in classes])
    M = np.array([X[y == c].mean(axis=0) for c in classes])
    S_w = _shrink(_within_scatter_loop(X, y), lam)
    S_t = _shrink(np.cov(X.T, bias=True).reshape(d, d), lam)
    evals, V = scipy.linalg.eigh(S_t - S_w, S_w)
    V = V[:, np.argsort(evals)[::-1]]
    coef = M @ V @ V.T
    intercept = -0.5 * np.einsum("cd,cd->c", M, coef) + np.log(priors)
    return (lambda Z: _softmax(Z @ coef.T + intercept)), M


def _reference_sfda(X, y, lam, confmix=True):
    """Literal SFDA (notes §9.1): eigen-route LDA, ConfMix on an explicit copy."""
    predict_proba, M = _eigen_route_lda(X, y, lam)
    rows = np.arange(y.shape[0])
    proba = predict_proba(X)
    if not confmix:
        return proba[rows, y].mean()
    soft = _softmax(proba)  # the "soften" step: a softmax of the probabilities
    X_mixed = X.copy()
    for c in range(M.shape[0]):
        outer = np.mean([M[k] for k in range(M.shape[0]) if k != c], axis=0)
        idx = y == c
        p = soft[idx, c][:, None]
        X_mixed[idx] = p * X[idx] + (1 - p) * outer
    predict_proba, _ = _eigen_route_lda(X_mixed, y, lam)
    return predict_proba(X_mixed)[rows, y].mean()


def _power_iteration_loop(S, steps=3):
    """Our reading of the reference's rho (notes §9.1): three normalised power
    steps from the row sums of S, then x^T S y of the last two iterates."""
    v = S.sum(axis=1)
    iterates = [v / np.linalg.norm(v)]
    for _ in range(steps):
        w = S @ iterates[-1]
        iterates.append(w / np.linalg.norm(w))
    return iterates[-2] @ S @ iterates[-1]


@pytest.mark.parametrize("lam", [1e-10, 1e-3, 0.3, 0.9, 1.0])
@pytest.mark.parametrize("confmix", [True, False])
def test_solve_route_matches_eigen_route(lam, confmix):
    # Reference value: the generalised-eigenproblem route of the reference,
    # re-implemented literally above; SFDA computes S~_w^{-1} M^T by a solve.
    X, y = _blobs()
    expected = _reference_sfda(X, y, lam, confmix=confmix)
    score = SFDA(shrinkage=lam, confmix=confmix).fit(X, y).score_
    np.testing.assert_allclose(score, expected, rtol=1e-9)


@pytest.mark.parametrize(
    "scale, n_features", [(0.2, 6), (0.5, 6), (0.05, 80)], ids=["dense", "", "lanczos"]
)
def test_adaptive_shrinkage_uses_largest_eigenvalue(scale, n_features):
    # Reference value: lambda = max(exp(-5 rho), 1e-10) with rho the largest
    # eigenvalue of the class-by-class S_w (notes §9.1), from a dense eigvalsh;
    # n_features=80 exercises the Lanczos path.
    X, y = _blobs(n_samples=400, n_features=n_features, scale=scale)
    rho = np.linalg.eigvalsh(_within_scatter_loop(X, y))[-1]
    expected = max(np.exp(-5 * rho), 1e-10)
    assert 1e-10 < expected < 1  # not at the floor: the test can fail
    est = SFDA().fit(X, y)
    np.testing.assert_allclose(est.shrinkage_, expected, rtol=1e-9)
    np.testing.assert_allclose(est.score_, _reference_sfda(X, y, expected), rtol=1e-9)


def test_adaptive_shrinkage_floor_and_scale_dependence():
    # Notes §9.2: lambda depends on the absolute scale of the features and is
    # 1e-10 for large ones (rho >= ln(1e10) / 5).
    X, y = _blobs()
    lams = [SFDA().fit(s * X, y).shrinkage_ for s in (0.1, 0.3, 1.0, 10.0)]
    assert lams[-1] == 1e-10
    assert lams[0] > lams[1] > lams[2] > lams[3]


def test_compat_sfda_uses_the_power_iteration_estimate():
    # Reference value: our literal loop of the notes' power iteration (three
    # steps from the row sums) and the eigen-route SFDA at that lambda.
    X, y = _blobs(scale=0.3)
    rho = _power_iteration_loop(_within_scatter_loop(X, y))
    expected_lam = max(np.exp(-5 * rho), 1e-10)
    est = SFDA(compat="sfda").fit(X, y)
    np.testing.assert_allclose(est.shrinkage_, expected_lam, rtol=1e-9)
    np.testing.assert_allclose(
        est.score_, _reference_sfda(X, y, expected_lam), rtol=1e-9
    )
    # Three steps underestimate rho, so the reference shrinks more.
    assert est.shrinkage_ > SFDA().fit(X, y).shrinkage_


def test_compat_overrides_the_other_parameters():
    X, y = _blobs(scale=0.3)
    reference = SFDA(compat="sfda").fit(X, y)
    other = SFDA(compat="sfda", n_components=2, shrinkage=0.5, confmix=False)
    assert other.fit(X, y).score_ == reference.score_


def test_separable_vs_random_labels():
    # Limits: far-apart tight blobs are classified perfectly (score 1), random
    # features score about 1 / C (here C = 3, N >> D).
    rng = np.random.default_rng(0)
    y = np.arange(600) % 3
    separable = 10.0 * np.eye(3, 5)[y] + 0.1 * rng.normal(size=(600, 5))
    assert sfda_score(separable, y) > 0.999
    random_score = sfda_score(rng.normal(size=(600, 5)), y)
    assert abs(random_score - 1 / 3) < 0.03


def test_n_samples_le_n_features_warns_and_saturates():
    # Notes §9.2 (SFDA issue #5): N=200, D=512 gives exactly 1.0.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 512)), np.arange(200) % 10
    with pytest.warns(UserWarning, match="n_samples=200 <= n_features=512"):
        score = sfda_score(X, y)
    assert score == pytest.approx(1.0, abs=1e-12)
    # PCA first removes the saturation and the warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reduced = sfda_score(X, y, n_components=16)
    assert reduced < 0.5


def test_n_components_is_sfda_on_the_pca_projection():
    # Second formulation: PCA with the shared helper, then SFDA without PCA.
    X, y = _blobs(n_features=12, scale=0.3)
    Z, _ = pca_project(X, 5)
    est = SFDA(n_components=5).fit(X, y)
    assert est.n_components_ == 5
    np.testing.assert_allclose(est.score_, SFDA().fit(Z, y).score_, rtol=1e-12)
    assert SFDA().fit(X, y).n_components_ == 12


def test_caller_array_is_not_modified():
    # Notes §9.2: the reference mixes the caller's array in place (ConfMix).
    X, y = _blobs()
    X = np.ascontiguousarray(X)  # float64, C order: validation does not copy
    before = X.copy()
    est = SFDA().fit(X, y)
    est.score(X, y)
    np.testing.assert_array_equal(X, before)
    assert est.score(X, y) == est.score_


def test_function_matches_estimator():
    X, y = _blobs(scale=0.4)
    assert sfda_score(X, y, confmix=False) == SFDA(confmix=False).fit(X, y).score_


def test_one_sample_class_raises():
    X, y = _blobs(n_samples=21, n_classes=3)
    y[0] = 7  # a class with a single sample
    with pytest.raises(ValueError, match="at least 2 samples per class"):
        SFDA().fit(X, y)


def test_zero_within_class_scatter_raises():
    y = np.repeat([0, 1, 2], 4)
    X = np.eye(3)[y]  # every class is one repeated point
    with pytest.raises(ValueError, match="within-class scatter is zero"):
        SFDA().fit(X, y)


def test_singular_scatter_without_shrinkage_raises():
    X, y = _blobs()
    X[:, 0] = 1.0  # a constant feature: S_w has a zero row and column
    with pytest.raises(ValueError, match="singular"):
        SFDA(shrinkage=0.0).fit(X, y)
    assert np.isfinite(SFDA().fit(X, y).score_)  # lambda > 0 handles it


def test_compat_power_iteration_zero_start_raises():
    # Features (a, -a): the row sums of S_w are zero, the reference's start.
    rng = np.random.default_rng(0)
    a = rng.normal(size=(60, 1))
    X, y = np.hstack([a, -a]), np.arange(60) % 3
    with pytest.raises(ValueError, match="power iteration"):
        SFDA(compat="sfda").fit(X, y)
    assert np.isfinite(SFDA().fit(X, y).score_)


def test_in_place_centring_only_on_private_copies():
    # SFDA centres X in place when validation already copied it (float32 or
    # list input) and copies it otherwise: the score must not depend on which
    # path ran, and the caller's array must never change.
    import pandas as pd

    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 20)
    X = rng.normal(size=(3, 5))[y] + rng.normal(size=(60, 5))
    X32 = X.astype(np.float32)
    before = X32.copy()
    expected = SFDA().fit(X32.astype(np.float64), y).score_
    for given in (X32, X32.astype(np.float64), X32.tolist(), pd.DataFrame(X32)):
        np.testing.assert_allclose(SFDA().fit(given, y).score_, expected, rtol=1e-12)
    np.testing.assert_array_equal(X32, before)
    frame = pd.DataFrame(X32.astype(np.float64))
    SFDA().fit(frame, y)
    np.testing.assert_array_equal(frame.to_numpy(), X32.astype(np.float64))
