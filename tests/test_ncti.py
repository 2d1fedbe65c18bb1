"""Tests of NCTI against hand-checked values, scikit-learn's LDA and closed forms."""

import warnings

import numpy as np
import pytest
import sklearn
from scipy import linalg
from scipy.special import expit, logsumexp
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.utils.fixes import parse_version

from sktransfer.metrics import NCTI, ncti_score
from sktransfer.metrics._ncti import _ncti, _ncti_combine

# scikit-learn 1.9 (PR #33626) divides the within-class scatter of its LDA SVD
# solver by N instead of N - K, the value of the versions the reference ran on.
SKLEARN_SVD_DIVIDES_BY_N = parse_version(sklearn.__version__) >= parse_version("1.9")


def _blobs(n_samples=300, n_features=10, n_classes=3, spread=1.0, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    centers = spread * rng.normal(size=(n_classes, n_features))
    return scale * (centers[y] + rng.normal(size=(n_samples, n_features))), y


def _reference_ncti(X, y, n_components=64):
    """BUserName/NCTI ``NCTI_Score`` as research note §5.2 describes it, with
    scikit-learn's PCA (exact solver) and LDA. Returns the components and the
    shrinkage (None for the SVD solver)."""
    pca = PCA(n_components=n_components, svd_solver="full")
    Z = pca.fit_transform(X)
    shrinkage = max(np.exp(-pca.explained_variance_[:32].sum()), 1e-10)
    if shrinkage == 1e-10:
        lda, shrinkage = LinearDiscriminantAnalysis(solver="svd"), None
    else:
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=float(shrinkage))
    H = lda.fit_transform(Z, y)
    H = H - H.mean(axis=0)
    P = lda.predict_proba(Z)
    vc = np.log(sum(np.linalg.norm(P[y == c], ord="nuc") for c in np.unique(y)))
    components = {
        "ncc": P[np.arange(len(y)), y].mean(),
        "seli": np.linalg.norm(H, ord="nuc"),
        "vc": vc,
    }
    return components, shrinkage


def _assert_components(actual, expected, rtol):
    assert set(actual) == {"ncc", "seli", "vc"}
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, rel=rtol), key


@pytest.mark.parametrize("n_classes", [2, 3, 6])
def test_shrunk_path_equals_reference_with_sklearn(n_classes):
    # Small-variance features: exp(-sum of top-32 variances) > 1e-10, so the
    # reference uses LDA(solver="eigen", shrinkage=s) (unchanged across
    # scikit-learn versions).
    X, y = _blobs(
        n_samples=400, n_features=80, n_classes=n_classes, spread=0.25, scale=0.1
    )
    expected, shrinkage = _reference_ncti(X, y)
    assert shrinkage is not None
    est = NCTI().fit(X, y)
    assert est.shrinkage_ == pytest.approx(shrinkage, rel=1e-10)
    assert est.n_components_ == 64
    assert 0.5 < expected["ncc"] < 0.99
    _assert_components(est.components_, expected, rtol=1e-8)


@pytest.mark.parametrize("n_classes", [2, 3, 6])
def test_svd_path_equals_sklearn_svd_solver(n_classes):
    # Large-variance features: the reference uses LDA(solver="svd"). The kernel
    # reproduces the installed scikit-learn when given its within-class
    # degrees of freedom (N since 1.9, N - K before).
    X, y = _blobs(n_samples=400, n_features=80, n_classes=n_classes, spread=0.25)
    X = 3.0 * X
    expected, shrinkage = _reference_ncti(X, y)
    assert shrinkage is None
    dof = len(y) if SKLEARN_SVD_DIVIDES_BY_N else len(y) - n_classes
    components, used, _ = _ncti(X, y, n_components=64, shrinkage="auto", dof=dof)
    assert used is None
    assert 0.5 < expected["ncc"] < 0.99
    _assert_components(components, expected, rtol=1e-8)


def test_svd_path_closed_form():
    # Second formulation of the SVD solver (no PCA, full-rank within scatter):
    # S_seli = sqrt(N - K) sum_{j < K} sqrt(1 + gamma_j), gamma the generalised
    # eigenvalues of (S_b, S_w); posteriors of Gaussians with the pooled
    # covariance S_w / (N - K), by explicit log-densities.
    X, y = _blobs(n_samples=150, n_features=5, n_classes=4, spread=0.7, seed=4)
    n, k = len(y), 4
    means = np.array([X[y == c].mean(axis=0) for c in range(k)])
    resid = X - means[y]
    S_w = resid.T @ resid
    centred = means - X.mean(axis=0)
    S_b = sum((y == c).sum() * np.outer(centred[c], centred[c]) for c in range(k))
    gamma = np.sort(linalg.eigh(S_b, S_w, eigvals_only=True))[::-1][: k - 1]
    seli = np.sqrt(n - k) * np.sqrt(1 + gamma).sum()
    cov = S_w / (n - k)
    log_joint = np.empty((n, k))
    for c in range(k):
        diff = X - means[c]
        log_joint[:, c] = np.log(np.mean(y == c)) - 0.5 * np.einsum(
            "ij,ij->i", diff, np.linalg.solve(cov, diff.T).T
        )
    P = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    expected = {
        "ncc": P[np.arange(n), y].mean(),
        "seli": seli,
        "vc": np.log(sum(np.linalg.norm(P[y == c], ord="nuc") for c in range(k))),
    }
    est = NCTI(n_components=None, shrinkage=None).fit(X, y)
    assert est.shrinkage_ is None and est.n_components_ == 5
    _assert_components(est.components_, expected, rtol=1e-10)


def _two_class_vc(a, b):
    # Nuclear norm of a 2 x 2 matrix: sqrt(||M||_F^2 + 2 |det M|). Class 0 has
    # rows [a, 1-a], [b, 1-b] (det a - b); class 1 the same rows reversed.
    frob = a**2 + (1 - a) ** 2 + b**2 + (1 - b) ** 2
    return np.log(2 * np.sqrt(frob + 2 * abs(a - b)))


def test_hand_checked_svd_solver():
    # x = -2, -1 (class 0) and 1, 2 (class 1): means -1.5 and 1.5, residuals
    # +-0.5, S_w = 1, pooled variance S_w / (N - K) = 0.5. The discriminant
    # coordinate is x / sqrt(0.5) = sqrt(2) x, whose norm is sqrt(2 * 10).
    # Logit of class 1: x (mu_1 - mu_0) / 0.5 = 6x, so P(true) = expit(6|x|).
    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    y = np.array([0, 0, 1, 1])
    a, b = expit(12.0), expit(6.0)
    est = NCTI(n_components=None, shrinkage=None).fit(X, y)
    expected = {"ncc": (a + b) / 2, "seli": np.sqrt(20.0), "vc": _two_class_vc(a, b)}
    _assert_components(est.components_, expected, rtol=1e-12)


def test_hand_checked_shrunk_solver():
    # Same data; in one dimension shrinkage towards tr(S)/d is the identity.
    # ML covariances: within 0.25, total 2.5, so the direction v solves
    # 2.25 v = lambda 0.25 v with 0.25 v^2 = 1: v = 2 and the coordinate 2x has
    # norm sqrt(4 * 10). Logit of class 1: x * 3 / 0.25 = 12x.
    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    y = np.array([0, 0, 1, 1])
    a, b = expit(24.0), expit(12.0)
    est = NCTI(n_components=None, shrinkage=0.5).fit(X, y)
    assert est.shrinkage_ == 0.5
    expected = {"ncc": (a + b) / 2, "seli": np.sqrt(40.0), "vc": _two_class_vc(a, b)}
    _assert_components(est.components_, expected, rtol=1e-12)


def test_auto_shrinkage_rule():
    # s = exp(-(sum of the 32 largest principal-component variances, ddof=1)).
    X, y = _blobs(n_samples=200, n_features=40, scale=0.1)
    variances = np.sort(np.linalg.eigvalsh(np.cov(X.T)))[::-1]
    est = NCTI(n_components=None).fit(X, y)
    assert est.shrinkage_ == pytest.approx(np.exp(-variances[:32].sum()), rel=1e-10)
    # Above -log(1e-10) ~ 23 the floor is hit and the SVD solver runs.
    assert NCTI(n_components=None).fit(10 * X, y).shrinkage_ is None


def test_separable_vs_random_limits():
    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    counts = np.bincount(y)
    separable = 20.0 * np.eye(6)[y] + 0.1 * rng.normal(size=(300, 6))
    est = NCTI(n_components=6).fit(separable, y)
    # Collapsed posteriors: each P_c has rows e_c, rank one with norm sqrt(n_c).
    assert est.score_ > 1 - 1e-12
    assert est.components_["vc"] == pytest.approx(np.log(np.sqrt(counts).sum()))
    random = NCTI(n_components=6).fit(rng.normal(size=(300, 6)), y)
    # Noise: posteriors near the prior 1/3, and a smaller discriminant spread.
    assert random.score_ < 0.45
    assert random.components_["seli"] < est.components_["seli"]


def test_affine_invariance_of_the_svd_path():
    # LDA depends on X only through affine-invariant quantities.
    X, y = _blobs(n_samples=150, n_features=5, spread=0.7, seed=5)
    A = np.random.default_rng(6).normal(size=(5, 5))
    est = NCTI(n_components=None, shrinkage=None)
    base = est.fit(X, y).components_
    moved = est.fit(X @ A + 3.0, y).components_
    _assert_components(moved, base, rtol=1e-8)


def test_pca_size_is_clipped_with_a_warning():
    X, y = _blobs(n_samples=100, n_features=8)
    with pytest.warns(UserWarning, match="n_components=64 is larger"):
        est = NCTI().fit(X, y)
    assert est.n_components_ == 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert NCTI(n_components=8).fit(X, y).score_ == est.score_


def test_score_recomputes_on_new_data():
    X1, y1 = _blobs(seed=0, n_features=6)
    X2, y2 = _blobs(seed=1, n_features=6, spread=0.3)
    est = NCTI(n_components=6).fit(X1, y1)
    assert est.score_ == est.components_["ncc"]
    assert est.score(X2, y2) == pytest.approx(
        ncti_score(X2, y2, n_components=6), rel=1e-14
    )
    assert est.score(X2, y2) != pytest.approx(est.score_)


def test_combine_hand_checked():
    # ncc [0.2, 0.6, 1.0] -> [0, 0.5, 1]; seli [10, 30, 20] -> [0, 1, 0.5];
    # vc [1, 2, 3] -> [0, 0.5, 1]; ncc + seli - vc = [0, 1, 0.5].
    components = [
        {"ncc": 0.2, "seli": 10.0, "vc": 1.0},
        {"ncc": 0.6, "seli": 30.0, "vc": 2.0},
        {"ncc": 1.0, "seli": 20.0, "vc": 3.0},
    ]
    np.testing.assert_allclose(_ncti_combine(components), [0.0, 1.0, 0.5])


def test_combine_constant_component_and_single_model():
    components = [
        {"ncc": 0.5, "seli": 10.0, "vc": 1.0},
        {"ncc": 0.5, "seli": 20.0, "vc": 3.0},
    ]
    # ncc ties (the reference divides by zero): it contributes 0.
    np.testing.assert_allclose(_ncti_combine(components), [0.0, 0.0])
    np.testing.assert_array_equal(_ncti_combine(components[:1]), [0.0])


@pytest.mark.parametrize(
    "components, match",
    [([], "at least one model"), ([{"ncc": 0.5, "vc": 1.0}], "keys")],
)
def test_combine_errors(components, match):
    with pytest.raises(ValueError, match=match):
        _ncti_combine(components)


def test_as_many_samples_as_classes_raise():
    X = np.arange(6.0).reshape(3, 2)
    with pytest.raises(ValueError, match="more samples than classes"):
        ncti_score(X, [0, 1, 2])


@pytest.mark.parametrize("shrinkage", ["auto", None, 0.5])
def test_zero_within_class_scatter_raises(shrinkage):
    # Every class is a single point: the LDA is undefined.
    X = np.repeat(np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 3.0]]), 4, axis=0)
    y = np.repeat([0, 1, 2], 4)
    with pytest.raises(ValueError, match="within-class scatter is zero"):
        ncti_score(X, y, n_components=None, shrinkage=shrinkage)


def test_singular_shrunk_covariance_raises():
    # N < D: the within-class covariance is singular and a shrinkage of 1e-300
    # does not regularise it.
    X, y = _blobs(n_samples=30, n_features=40)
    with pytest.raises(ValueError, match="numerically singular"):
        ncti_score(X, y, n_components=None, shrinkage=1e-300)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"shrinkage": 0.0}, "shrinkage"),
        ({"shrinkage": "ledoit"}, "shrinkage"),
        ({"n_components": 0}, "n_components"),
        ({"n_components": 1.5}, "n_components"),
    ],
)
def test_invalid_parameters(params, match):
    X, y = _blobs()
    with pytest.raises(ValueError, match=match):
        ncti_score(X, y, **params)
