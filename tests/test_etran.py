"""Tests of ETran against hand-checked values and the reference's construction."""

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from sktransfer.metrics import ETran, etran_score
from sktransfer.metrics._etran import _etran_combine


def _blobs(n_samples=240, n_features=5, n_classes=3, spread=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    centers = spread * rng.normal(size=(n_classes, n_features))
    return centers[y] + rng.normal(size=(n_samples, n_features)), y


def _reference_lda_score(X, y):
    """mgholamikn/ETran ``LDA_Score`` as research note §4.2 describes it: shrunk
    within-class covariance (shrinkage from 3 power iterations), shrunk total
    covariance, eigenvectors of ``inv(Sw) @ Sb`` by ``numpy.linalg.eigh``,
    ``coef = mu V V^T`` and the mean softmax posterior of the true class."""
    classes = np.unique(y)
    priors = np.array([np.mean(y == c) for c in classes])
    means = np.array([X[y == c].mean(axis=0) for c in classes])
    d = X.shape[1]
    Sw = sum(
        p * np.cov(X[y == c].T, bias=True) for p, c in zip(priors, classes, strict=True)
    )
    v = Sw.sum(axis=1)
    for _ in range(3):
        v = Sw @ v / np.linalg.norm(Sw @ v)
    shrinkage = max(np.exp(-5 * v @ Sw @ v), 1e-10)

    def shrunk(cov):
        return (1 - shrinkage) * cov + shrinkage * np.trace(cov) / d * np.eye(d)

    Sw_s = shrunk(Sw)
    Sb = shrunk(np.cov(X.T, bias=True)) - Sw_s
    evals, evecs = np.linalg.eigh(np.linalg.inv(Sw_s) @ Sb)
    evecs = evecs[:, np.argsort(evals)[::-1]]
    coef = means @ evecs @ evecs.T
    intercept = -0.5 * np.diag(means @ coef.T) + np.log(priors)
    logits = X @ coef.T + intercept
    proba = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    return proba[np.arange(len(y)), np.searchsorted(classes, y)].mean()


def _gaussian_posterior_loop(X, y):
    """Identity-covariance Gaussian classifier, by class densities, sample by sample."""
    classes = np.unique(y)
    total = 0.0
    for x, label in zip(X, y, strict=True):
        log_joint = np.array(
            [
                np.log(np.mean(y == c))
                - 0.5 * np.sum((x - X[y == c].mean(axis=0)) ** 2)
                for c in classes
            ]
        )
        total += np.exp(log_joint[classes == label][0] - logsumexp(log_joint))
    return total / len(y)


def test_lda_component_hand_checked():
    # Class 0 = {0, 1} (mean 0.5, prior 2/3), class 1 = {3} (mean 3, prior 1/3).
    # P(true class | x) = 1 / (1 + ratio), with the ratio of the other class's
    # prior * exp(-(x - mu)^2 / 2) to the true class's:
    # x=0: 0.5 exp(-4.375); x=1: 0.5 exp(-1.875); x=3: 2 exp(-3.125).
    X = np.array([[0.0], [1.0], [3.0]])
    y = np.array([0, 0, 1])
    expected = (
        1 / (1 + 0.5 * np.exp(-4.375))
        + 1 / (1 + 0.5 * np.exp(-1.875))
        + 1 / (1 + 2 * np.exp(-3.125))
    ) / 3
    assert etran_score(X, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "shape, scale", [((240, 5), 0.5), ((40, 60), 0.1)], ids=["N>D", "N<D"]
)
def test_lda_component_equals_reference_construction(shape, scale):
    # Research note §4.3: V from eigh is orthonormal, so V V^T = I and the
    # reference's "LDA" is the identity-covariance Gaussian classifier.
    X, y = _blobs(*shape)
    X = scale * X  # unsaturated posteriors
    expected = _reference_lda_score(X, y)
    assert 0.4 < expected < 0.95
    assert ETran().fit(X, y).components_["lda"] == pytest.approx(expected, rel=1e-10)


def test_lda_component_equals_gaussian_density_formulation():
    X, y = _blobs(n_samples=90, n_features=4, n_classes=4, seed=3)
    expected = _gaussian_posterior_loop(X, y)
    assert etran_score(X, y) == pytest.approx(expected, rel=1e-12)


def test_energy_component_hand_checked():
    # Row energies log(sum exp(x)) = log(2), log(4), log(8), log(16); the two
    # lowest (energy_fraction=0.5 of 4 samples) average to 1.5 log(2).
    X = np.log([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0], [8.0, 8.0]])
    y = np.array([0, 1, 0, 1])
    est = ETran(energy_fraction=0.5).fit(X, y)
    assert est.n_energy_samples_ == 2
    assert est.components_["energy"] == pytest.approx(1.5 * np.log(2), rel=1e-12)


@pytest.mark.parametrize("n_samples", [200, 399, 400, 1000, 1234])
def test_energy_tail_size_matches_reference_rule(n_samples):
    # The reference keeps int(percent * 10) * n // 1000 samples, percent = 0.5.
    X, y = _blobs(n_samples=n_samples, n_features=3)
    est = ETran().fit(X, y)
    n_tail = int(0.5 * 10) * n_samples // 1000
    assert est.n_energy_samples_ == n_tail
    energy = logsumexp(X, axis=1)
    expected = np.sort(energy)[:n_tail].mean()
    assert est.components_["energy"] == pytest.approx(expected, rel=1e-12)


def test_energy_tail_is_never_empty():
    # N < 200: the reference's tail is empty (NaN); the lowest sample is used.
    X, y = _blobs(n_samples=60)
    est = ETran().fit(X, y)
    assert est.n_energy_samples_ == 1
    assert est.components_["energy"] == pytest.approx(logsumexp(X, axis=1).min())


def test_energy_component_ignores_labels():
    X, y = _blobs()
    shuffled = np.random.default_rng(1).permutation(y)
    energy = ETran(energy_fraction=0.1).fit(X, y).components_["energy"]
    assert ETran(energy_fraction=0.1).fit(X, shuffled).components_[
        "energy"
    ] == pytest.approx(energy, rel=1e-14)


def test_separable_vs_random_limits():
    rng = np.random.default_rng(0)
    y = np.arange(400) % 4
    separable = 10.0 * np.eye(4)[y] + 0.1 * rng.normal(size=(400, 4))
    random = rng.normal(size=(400, 4))
    # Far-apart clusters: every posterior is ~1.
    assert etran_score(separable, y) > 1 - 1e-12
    # Noise: the posteriors stay near the prior 1/4.
    assert etran_score(random, y) < 0.4


def test_binary_posterior_is_a_sigmoid():
    # With two classes the posterior is expit of the logit difference.
    X, y = _blobs(n_samples=100, n_features=3, n_classes=2, spread=0.5, seed=2)
    m0, m1 = X[y == 0].mean(axis=0), X[y == 1].mean(axis=0)
    p1 = np.mean(y == 1)
    delta = X @ (m1 - m0) - 0.5 * (m1 @ m1 - m0 @ m0) + np.log(p1 / (1 - p1))
    expected = np.mean(np.where(y == 1, expit(delta), expit(-delta)))
    assert etran_score(X, y) == pytest.approx(expected, rel=1e-12)


def test_score_recomputes_on_new_data():
    X1, y1 = _blobs(seed=0)
    X2, y2 = _blobs(seed=1, spread=0.3)
    est = ETran().fit(X1, y1)
    assert est.score_ == est.components_["lda"]
    assert est.score(X2, y2) == pytest.approx(etran_score(X2, y2), rel=1e-14)
    assert est.score(X2, y2) != pytest.approx(est.score_)


def test_combine_hand_checked():
    # lda [0.5, 0.7, 0.9] -> [0, 0.5, 1]; energy [3, 1, 2] -> [1, 0, 0.5];
    # 0.85 * lda + 0.15 * energy = [0.15, 0.425, 0.925].
    components = [
        {"lda": 0.5, "energy": 3.0},
        {"lda": 0.7, "energy": 1.0},
        {"lda": 0.9, "energy": 2.0},
    ]
    np.testing.assert_allclose(_etran_combine(components), [0.15, 0.425, 0.925])


def test_combine_constant_component_contributes_zero():
    # Equal energies (the reference divides by zero): only the LDA part counts.
    components = [{"lda": 0.2, "energy": 1.0}, {"lda": 0.4, "energy": 1.0}]
    np.testing.assert_allclose(_etran_combine(components), [0.0, 0.85])
    np.testing.assert_array_equal(_etran_combine(components[:1]), [0.0])


def test_combine_accepts_fitted_components():
    X, y = _blobs()
    pool = [ETran().fit(X * scale, y).components_ for scale in (0.2, 1.0, 3.0)]
    combined = _etran_combine(pool)
    assert combined.shape == (3,)
    assert combined.min() >= 0.0 and combined.max() <= 1.0


@pytest.mark.parametrize(
    "components, match",
    [
        ([], "at least one model"),
        ([{"lda": 0.5}], "keys"),
        ([{"lda": np.nan, "energy": 1.0}], "finite"),
    ],
)
def test_combine_errors(components, match):
    with pytest.raises(ValueError, match=match):
        _etran_combine(components)


def test_overflowing_features_raise():
    X, y = _blobs()
    with pytest.raises(ValueError, match="too large"):
        etran_score(1e200 * X, y)


@pytest.mark.parametrize("value", [0.0, 1.5, -0.1])
def test_invalid_energy_fraction(value):
    X, y = _blobs()
    with pytest.raises(ValueError, match="energy_fraction"):
        etran_score(X, y, energy_fraction=value)
