"""Tests of HScore and ShrinkageHScore against literal re-implementations."""

import warnings

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf, ShrunkCovariance, ledoit_wolf_shrinkage

import sktransfer.metrics._hscore as hscore_module
from sktransfer.metrics import HScore, ShrinkageHScore, h_score, shrinkage_h_score


def _blobs(n_samples, n_features, n_classes=4, seed=0, mixing=True, offset=5.0):
    """Class blobs, correlated through a random mixing matrix, off-centre."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n_samples)
    y[:n_classes] = np.arange(n_classes)
    centers = rng.normal(size=(n_classes, n_features))
    X = centers[y] + rng.normal(size=(n_samples, n_features))
    if mixing:
        X = X @ rng.normal(size=(n_features, n_features))
    return X + offset, y


def _class_mean_matrix(X, y):
    g = np.zeros_like(X)
    for c in np.unique(y):
        g[y == c] = X[y == c].mean(axis=0)
    return g


def _literal_h_score(X, y, rcond=1e-15):
    """The official recipe: np.cov of f and of the class-mean matrix g, pinv,
    trace of the matrix product."""
    cov_f = np.cov(X, rowvar=False)
    cov_g = np.cov(_class_mean_matrix(X, y), rowvar=False)
    return np.trace(np.linalg.pinv(cov_f, rcond=rcond) @ cov_g)


def _literal_stable_transfer(X, y):
    """stable_transfer's get_hscore as the notes describe it (§6.3): covariances
    with divisor N - 1, pinv with rcond=1e-5, element-wise product, trace."""
    cov_f = np.cov(X, rowvar=False)
    cov_g = np.cov(_class_mean_matrix(X, y), rowvar=False)
    return np.trace(np.linalg.pinv(cov_f, rcond=1e-5) * cov_g)


def _svd_h_score(X, y):
    """Second formulation (notes §6.4): H = tr(P Pi), the squared norm of the
    normalised class indicators projected on the range of the centred X, with
    the range from a thin SVD of X itself (no covariance is formed)."""
    Xc = X - X.mean(axis=0)
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    U = U[:, s > s[0] * max(X.shape) * np.finfo(float).eps]
    labels = np.unique(y, return_inverse=True)[1]
    Yn = np.eye(labels.max() + 1)[labels] / np.sqrt(np.bincount(labels))
    return np.sum((U.T @ Yn) ** 2)


def _literal_tllib_shrinkage(X, y):
    """Transfer-Learning-Library's regularized_h_score as the notes describe it
    (§7): centre, LedoitWolf(assume_centered=False), np.cov of g, pinv with
    rcond=1e-15 of the shrunk covariance times (1 - alpha) cov_g."""
    Xc = X - X.mean(axis=0)
    lw = LedoitWolf(assume_centered=False).fit(Xc)
    alpha = lw.shrinkage_
    cov_g = np.atleast_2d(np.cov(_class_mean_matrix(Xc, y), rowvar=False))
    score = np.trace(
        np.linalg.pinv(lw.covariance_, rcond=1e-15) @ ((1 - alpha) * cov_g)
    )
    return score, alpha


# --------------------------------------------------------------------- H-score


def test_hand_checked_one_feature():
    # x = [0, 1, 3, 4], classes {0, 1} | {3, 4}: mean 2, class means 0.5 and
    # 3.5. Total sum of squares 4 + 1 + 1 + 4 = 10, between-class 4 * 1.5^2 = 9,
    # so H = 9 / 10 (the divisors N - 1 cancel). In one dimension the
    # element-wise product is the matrix product: stable_transfer agrees.
    X = np.array([[0.0], [1.0], [3.0], [4.0]])
    y = ["a", "a", "b", "b"]
    assert h_score(X, y) == pytest.approx(0.9, rel=1e-14)
    assert h_score(X, y, compat="stable_transfer") == pytest.approx(0.9, rel=1e-14)


@pytest.mark.parametrize(
    "shape, n_classes",
    [((500, 20), 5), ((300, 64), 10), ((80, 3), 2)],
    ids=["500x20", "300x64", "80x3"],
)
def test_equals_literal_definition(shape, n_classes):
    X, y = _blobs(*shape, n_classes=n_classes)
    assert h_score(X, y) == pytest.approx(_literal_h_score(X, y), rel=1e-9)


def test_blocked_accumulation_equals_literal(monkeypatch):
    # The exact fallback, forced (every feature counts as mean-dominated), in
    # blocks of 7 rows: the scatter and the class sums are accumulated over
    # 43 blocks (last one short).
    X, y = _blobs(300, 10, n_classes=6)
    monkeypatch.setattr(hscore_module, "_MAX_MEAN_DOMINANCE", 0.0)
    monkeypatch.setattr(hscore_module, "_BLOCK_ELEMENTS", 70)
    calls = _spy(monkeypatch, "_feature_side_blocked")
    assert h_score(X, y) == pytest.approx(_literal_h_score(X, y), rel=1e-10)
    assert calls == [1]


def _spy(monkeypatch, name):
    """Count the calls of a private function of the H-score module."""
    calls = []
    original = getattr(hscore_module, name)

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(hscore_module, name, spy)
    return calls


def _explicit_statistics(X, y):
    """Mean, centred scatter, Bt and sum ||xc||^4 by explicit centring (float64)."""
    mean = X.mean(axis=0)
    Xc = X - mean
    counts = np.bincount(y)
    sums = np.array([Xc[y == c].sum(axis=0) for c in range(counts.size)])
    fourth = np.sum(np.sum(Xc**2, axis=1) ** 2)
    return mean, Xc.T @ Xc, (sums / np.sqrt(counts)[:, None]).T, fourth


@pytest.mark.parametrize("offset", [0.0, 5.0, 100.0], ids=str)
def test_one_syrk_statistics_equal_explicit_centring(offset, monkeypatch):
    # X^T X - n mu mu^T, the class sums from one indicator product, and the
    # fourth moment against the straightforward float64 computation; at
    # offset 100 the mean dominates the spread (mu_j^2 / var_j) by 250 to
    # 1450, still on the fast path (at most 1e4).
    X, y = _blobs(500, 12, n_classes=5, offset=offset)
    calls = _spy(monkeypatch, "_feature_side_blocked")
    counts = np.bincount(y).astype(float)
    mean, gram, Bt, fourth = hscore_module._feature_side(
        X, y, counts, fourth_moment=True
    )
    ref_mean, ref_gram, ref_Bt, ref_fourth = _explicit_statistics(X, y)
    assert calls == []
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-13, atol=1e-13)
    # Roundoff of the standardised scatter: eps sqrt(r_i r_j) <= 1e4 eps.
    scale = 1.0 / np.sqrt(np.diagonal(ref_gram))
    np.testing.assert_allclose(
        gram * scale * scale[:, None],
        ref_gram * scale * scale[:, None],
        rtol=0,
        atol=1e-11,
    )
    np.testing.assert_allclose(Bt, ref_Bt, rtol=1e-10, atol=1e-9 * np.abs(ref_Bt).max())
    assert fourth == pytest.approx(ref_fourth, rel=1e-12)


def test_mean_dominated_feature_uses_the_exact_fallback(monkeypatch):
    # One informative feature at 1e6 with spread 1e-2 (n mu^2 / ||xc||^2 ~
    # 1e16): X^T X - n mu mu^T would leave no correct digit in its row, so
    # the statistics are recomputed by centring blocks of rows.
    X, y = _blobs(400, 6, n_classes=4, mixing=False)
    informative = 1e6 + 1e-2 * (
        (y == 1) + 0.3 * np.random.default_rng(5).normal(size=400)
    )
    shifted = np.column_stack([X, informative])
    calls = _spy(monkeypatch, "_feature_side_blocked")
    expected = _svd_h_score(shifted - shifted.mean(axis=0), y)
    assert h_score(shifted, y) == pytest.approx(expected, rel=1e-9)
    assert calls == [1]
    # The same feature centred: the fast path, the same score.
    centred = np.column_stack([X, informative - 1e6])
    assert h_score(centred, y) == pytest.approx(expected, rel=1e-9)
    assert calls == [1]
    # The shrinkage H-score takes the same route and agrees with TLlib's recipe.
    ref, alpha = _literal_tllib_shrinkage(shifted, y)
    est = ShrinkageHScore().fit(shifted, y)
    assert calls == [1, 1]
    assert est.shrinkage_ == pytest.approx(alpha, rel=1e-9)
    assert est.score_ == pytest.approx(ref, rel=1e-9)


def test_constant_columns_stay_on_the_fast_path(monkeypatch):
    # A constant column with a mean is "mean-dominated" (its centred norm is
    # roundoff): its exact centred norm is checked, it is dropped, and the
    # blocked fallback is not needed.
    X, y = _blobs(300, 6, n_classes=3)
    with_constant = np.column_stack([np.full(300, 1e3), X, np.full(300, 0.1)])
    calls = _spy(monkeypatch, "_feature_side_blocked")
    assert h_score(with_constant, y) == pytest.approx(h_score(X, y), rel=1e-10)
    assert h_score(with_constant, y, compat="stable_transfer") == pytest.approx(
        _literal_stable_transfer(X, y), rel=1e-8
    )
    assert shrinkage_h_score(with_constant, y) == pytest.approx(
        _literal_tllib_shrinkage(with_constant, y)[0], rel=1e-9
    )
    assert calls == []


def test_float32_input_is_scored_in_float64():
    # Validation converts float32 to float64 (the kernel accumulates in
    # float64): the score is that of the converted array, and within float32
    # roundoff of the float64 features' score.
    X, y = _blobs(2000, 32, n_classes=5)
    X32 = X.astype(np.float32)
    for func in (h_score, shrinkage_h_score):
        assert func(X32, y) == func(X32.astype(np.float64), y)
        assert func(X32, y) == pytest.approx(func(X, y), rel=1e-5)


def test_rank_deficient_features_use_the_pseudo_inverse():
    # A duplicated column, a constant column and a linear combination: the
    # scatter matrix is singular, the Cholesky path is refused and the
    # eigen-decomposition applies the pseudo-inverse, as np.linalg.pinv does.
    X, y = _blobs(400, 8, n_classes=5, mixing=False)
    X = np.column_stack([X, X[:, 0], np.full(400, 3.0), X[:, 1] - 2 * X[:, 2]])
    expected = _literal_h_score(X, y)
    assert h_score(X, y) == pytest.approx(expected, rel=1e-9)
    # The redundant columns add nothing.
    assert expected == pytest.approx(_literal_h_score(X[:, :8], y), rel=1e-9)


def test_equals_svd_formulation():
    X, y = _blobs(300, 25, n_classes=7)
    assert h_score(X, y) == pytest.approx(_svd_h_score(X, y), rel=1e-9)


def test_badly_scaled_feature_keeps_its_information():
    # H is invariant to rescaling a feature. A class-informative column of
    # magnitude 1e-8 has a covariance eigenvalue 1e-16 times the others: the
    # literal pinv(rcond=1e-15) drops it, the standardised computation keeps
    # it and agrees with the SVD formulation (which never squares X).
    X, y = _blobs(400, 8, n_classes=5, mixing=False)
    informative = (y == 0).astype(float)
    tiny = np.column_stack([X, 1e-8 * informative])
    unit = np.column_stack([X, informative])
    expected = _svd_h_score(unit, y)
    assert h_score(tiny, y) == pytest.approx(expected, rel=1e-9)
    assert h_score(unit, y) == pytest.approx(expected, rel=1e-9)
    assert _svd_h_score(tiny, y) == pytest.approx(expected, rel=1e-9)
    assert _literal_h_score(tiny, y) < expected - 0.1


def test_constant_columns_are_ignored():
    # 0.1 is not representable: the column centres to roundoff, not to zero,
    # and must not act as a (spurious) constant direction.
    X, y = _blobs(200, 6, n_classes=3)
    with_constant = np.column_stack([X, np.full(200, 0.1), np.full(200, -3.3)])
    assert h_score(with_constant, y) == pytest.approx(h_score(X, y), rel=1e-10)
    # N <= D: 40 varying columns span every centred direction (H = C - 1 = 2);
    # a constant column taken as a direction would add the all-ones vector
    # and give C = 3.
    small, y_small = _blobs(30, 40, n_classes=3, mixing=False)
    with pytest.warns(UserWarning, match="saturates"):
        value = h_score(np.column_stack([small, np.full(30, 0.1)]), y_small)
    assert value == pytest.approx(2.0, rel=1e-9)


def test_n_le_d_equals_literal_on_rank_deficient_features():
    # N = 60 <= D = 100 but the features have rank 20, so H < C - 1 and the
    # sample-side formula is exercised away from saturation.
    rng = np.random.default_rng(3)
    y = np.arange(60) % 4
    X = (np.eye(4, 20)[y] + rng.normal(size=(60, 20))) @ rng.normal(size=(20, 100))
    with pytest.warns(UserWarning, match="saturates"):
        value = h_score(X, y)
    expected = _literal_h_score(X, y, rcond=1e-10)
    assert value == pytest.approx(expected, rel=1e-8)
    assert value < 3 - 0.1


@pytest.mark.parametrize(
    "n_samples, n_features, n_classes",
    [(100, 99, 10), (60, 512, 5), (500, 512, 20)],
    ids=["D=N-1", "100x512", "500x512"],
)
def test_saturates_at_c_minus_one_when_d_ge_n_minus_one(
    n_samples, n_features, n_classes
):
    # Research notes §6.4: H = C - 1 exactly whenever D >= N - 1 (full-rank
    # centred features), whatever the features; (500, 512, 20) -> 19.0000 is
    # the notes' own check. Pure noise features: no signal at all.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_samples, n_features))
    y = np.arange(n_samples) % n_classes
    with pytest.warns(UserWarning, match="saturates"):
        value = h_score(X, y)
    assert value == pytest.approx(n_classes - 1, rel=1e-9)


def test_no_warning_above_the_saturation_limit():
    X, y = _blobs(12, 10, n_classes=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h_score(X, y)
        shrinkage_h_score(X[:5], y[:5])  # the shrinkage version never warns


def test_invariant_to_invertible_linear_maps():
    # tr(pinv(cov_f) cov_g) is invariant under X -> X A + b for invertible A;
    # the element-wise variant is not (notes §6.3: 0.76 -> 241 there).
    X, y = _blobs(400, 16, n_classes=5, mixing=False)
    A = np.random.default_rng(1).normal(size=(16, 16)) * np.logspace(-1, 1, 16)
    XA = X @ A - 7.0
    assert h_score(XA, y) == pytest.approx(h_score(X, y), rel=1e-9)
    elementwise, elementwise_mapped = (
        h_score(Z, y, compat="stable_transfer") for Z in (X, XA)
    )
    assert abs(elementwise_mapped / elementwise - 1) > 0.5


@pytest.mark.parametrize("shape", [(500, 32), (40, 64)], ids=["N>D", "N<D"])
def test_stable_transfer_equals_elementwise_literal(shape):
    X, y = _blobs(*shape, n_classes=6)
    # A direction of variance ~1e-7 of the largest: pinv(rcond=1e-5) drops it.
    X[:, 0] = 1e-4 * X[:, 0] + X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = h_score(X, y, compat="stable_transfer")
    expected = _literal_stable_transfer(X, y)
    assert value == pytest.approx(expected, rel=1e-8)
    # And it is not the H-score: not even bounded by C - 1 here.
    assert value > 5


def test_bounds_and_limits():
    rng = np.random.default_rng(0)
    y = np.arange(5000) % 4
    separable = np.eye(4)[y] + 1e-3 * rng.normal(size=(5000, 4))
    random = rng.normal(size=(5000, 5))
    # Separable: each class is a point, cov_f is all between-class, H -> C - 1.
    assert 3 - 1e-4 < h_score(separable, y) <= 3 + 1e-9
    # Independent features: E[H] ~ D (C - 1) / N = 0.003.
    assert 0 <= h_score(random, y) < 0.02


@pytest.mark.filterwarnings("ignore:HScore saturates")
def test_constant_features_raise():
    with pytest.raises(ValueError, match="constant features"):
        h_score(np.full((20, 3), 2.0), np.arange(20) % 2)
    with pytest.raises(ValueError, match="constant features"):
        h_score(np.full((20, 3), 0.1), np.arange(20) % 2)
    with pytest.raises(ValueError, match="constant features"):
        h_score(np.full((3, 5), 2.0), [0, 1, 1])


def test_invalid_parameters():
    X, y = _blobs(30, 3)
    with pytest.raises(ValueError, match="compat"):
        h_score(X, y, compat="tllib")
    with pytest.raises(ValueError, match="2 classes"):
        HScore().fit(X, np.zeros(30))


# ----------------------------------------------------------- shrinkage H-score


@pytest.mark.parametrize(
    "shape, n_classes",
    [((500, 20), 5), ((300, 64), 10), ((60, 200), 5), ((100, 512), 10)],
    ids=["500x20", "300x64", "60x200", "100x512"],
)
def test_shrinkage_equals_literal_tllib_recipe(shape, n_classes):
    X, y = _blobs(*shape, n_classes=n_classes, mixing=shape[0] > shape[1])
    expected, alpha = _literal_tllib_shrinkage(X, y)
    est = ShrinkageHScore().fit(X, y)
    assert est.shrinkage_ == pytest.approx(alpha, rel=1e-10)
    assert est.shrinkage_ == pytest.approx(ledoit_wolf_shrinkage(X), rel=1e-10)
    assert est.score_ == pytest.approx(expected, rel=1e-9)


def test_shrinkage_blocked_accumulation(monkeypatch):
    X, y = _blobs(200, 6, n_classes=3)
    expected, _ = _literal_tllib_shrinkage(X, y)
    monkeypatch.setattr(hscore_module, "_BLOCK_ELEMENTS", 60)
    assert shrinkage_h_score(X, y) == pytest.approx(expected, rel=1e-10)
    # The exact fallback, forced, in blocks of 10 rows.
    monkeypatch.setattr(hscore_module, "_MAX_MEAN_DOMINANCE", 0.0)
    calls = _spy(monkeypatch, "_feature_side_blocked")
    assert shrinkage_h_score(X, y) == pytest.approx(expected, rel=1e-10)
    assert calls == [1]


@pytest.mark.parametrize("shape", [(300, 12), (40, 90)], ids=["N>D", "N<D"])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_fixed_shrinkage_equals_shrunk_covariance(shape, alpha):
    # sklearn's ShrunkCovariance gives (1 - alpha) S + alpha tr(S)/D I.
    X, y = _blobs(*shape, n_classes=4, mixing=False)
    X[:, 0] = 1.5  # a constant column: singular S when alpha = 0
    cov = ShrunkCovariance(shrinkage=alpha).fit(X).covariance_
    cov_g = np.cov(_class_mean_matrix(X, y), rowvar=False)
    expected = np.trace(np.linalg.pinv(cov, rcond=1e-13) @ ((1 - alpha) * cov_g))
    est = ShrinkageHScore(shrinkage=alpha).fit(X, y)
    assert est.shrinkage_ == alpha
    assert est.score_ == pytest.approx(expected, rel=1e-8, abs=1e-12)


def test_zero_shrinkage_is_the_h_score_with_mixed_divisors():
    # alpha = 0: pinv(S) with S = Xc^T Xc / N against cov_g with N - 1.
    X, y = _blobs(200, 10, n_classes=4)
    assert shrinkage_h_score(X, y, shrinkage=0.0) == pytest.approx(
        200 / 199 * h_score(X, y), rel=1e-10
    )


def test_shrinkage_one_feature_has_zero_shrinkage():
    # sklearn's Ledoit-Wolf returns 0 for a single feature.
    X, y = _blobs(50, 1, n_classes=3)
    est = ShrinkageHScore().fit(X, y)
    assert est.shrinkage_ == 0.0
    assert est.score_ == pytest.approx(_literal_tllib_shrinkage(X, y)[0], rel=1e-12)


def test_shrinkage_does_not_saturate():
    # Notes §6.4/§7: at N=100, D=512 the plain H-score is C - 1 for any
    # features; the shrinkage version stays below and still ranks.
    rng = np.random.default_rng(0)
    y = np.arange(100) % 10
    noise = rng.normal(size=(100, 512))
    informative = 0.5 * rng.normal(size=(10, 512))[y] + noise
    with pytest.warns(UserWarning, match="saturates"):
        assert h_score(noise, y) == pytest.approx(h_score(informative, y))
    low, high = shrinkage_h_score(noise, y), shrinkage_h_score(informative, y)
    assert 0 < low < high < 9 - 0.5


def test_shrinkage_below_plain_h_score():
    X, y = _blobs(300, 40, n_classes=6)
    assert 0 < shrinkage_h_score(X, y) < h_score(X, y)


def test_shrinkage_is_one_for_isotropic_noise():
    # Ledoit-Wolf caps the shrinkage at 1 (beta = min(beta, delta)); for this
    # isotropic sample sklearn's estimate is exactly 1, so Sigma_alpha = mu I
    # and H_alpha = (1 - 1) * ... = 0.
    X = np.random.default_rng(0).normal(size=(50, 5))
    y = np.arange(50) % 3
    assert ledoit_wolf_shrinkage(X) == 1.0
    est = ShrinkageHScore().fit(X, y)
    assert est.shrinkage_ == 1.0
    assert est.score_ == 0.0


def test_shrinkage_constant_features_raise():
    with pytest.raises(ValueError, match="constant features"):
        shrinkage_h_score(np.ones((20, 3)), np.arange(20) % 2)
    with pytest.raises(ValueError, match="constant features"):
        shrinkage_h_score(np.full((20, 3), 0.1), np.arange(20) % 2)
    with pytest.raises(ValueError, match="constant features"):
        shrinkage_h_score(np.ones((4, 6)), [0, 1, 0, 1])


def test_shrinkage_invalid_parameter():
    X, y = _blobs(30, 3)
    with pytest.raises(ValueError, match="shrinkage"):
        shrinkage_h_score(X, y, shrinkage=1.5)
