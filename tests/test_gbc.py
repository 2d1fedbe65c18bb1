"""Tests of GBC against a loop over class pairs with the closed-form distance."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

import sktransfer.metrics._gbc as gbc_module
from sktransfer.metrics import GBC, gbc_score


def _blobs(n_samples, n_features, n_classes=4, seed=0, spread=None):
    """Class blobs with class-dependent spreads (so the log terms matter)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    centers = 1.5 * rng.normal(size=(n_classes, n_features))
    if spread is None:
        spread = rng.uniform(0.5, 2.0, size=(n_classes, n_features))
    X = centers[y] + spread[y] * rng.normal(size=(n_samples, n_features))
    return X, y


def _bhattacharyya_distance(mu1, mu2, cov1, cov2):
    """Closed form between two Gaussians with full covariance matrices."""
    cov = (cov1 + cov2) / 2
    diff = mu1 - mu2
    quad = diff @ np.linalg.solve(cov, diff) / 8
    logdet = (
        np.linalg.slogdet(cov)[1]
        - 0.5 * np.linalg.slogdet(cov1)[1]
        - 0.5 * np.linalg.slogdet(cov2)[1]
    )
    return quad + 0.5 * logdet


def _loop_gbc(X, y, *, n_components, gaussian, floor=None, quirk=False):
    """GBC by its definition: sklearn PCA(svd_solver="full"), per-class means
    and np.var (ddof=0) floored, then a double loop over ordered pairs c != c'
    with the closed-form Bhattacharyya distance of the Gaussians N(mu, Sigma)
    (Sigma = v I for spherical, diag(v) for diagonal). ``floor=None`` is the
    default relative floor 1e-4 * mean per-dimension variance. ``quirk=True``
    replaces the spherical log-determinant term by the stable_transfer form
    (notes §8.1.4: one log term, not d)."""
    Z = (
        X
        if n_components is None
        else PCA(n_components, svd_solver="full").fit_transform(X)
    )
    d = Z.shape[1]
    if floor is None:
        floor = 1e-4 * Z.var(axis=0).mean()
    stats = {}
    for c in np.unique(y):
        v = np.maximum(Z[y == c].var(axis=0), floor)
        if gaussian == "spherical":
            v = np.full(d, v.mean())
        stats[c] = (Z[y == c].mean(axis=0), v)
    total = 0.0
    for c1, (mu1, v1) in stats.items():
        for c2, (mu2, v2) in stats.items():
            if c1 == c2:
                continue
            if quirk:
                avg = (v1[0] + v2[0]) / 2
                distance = np.sum((mu1 - mu2) ** 2) / avg / 8 + 0.5 * (
                    np.log(avg) - 0.5 * np.log(v1[0]) - 0.5 * np.log(v2[0])
                )
            else:
                distance = _bhattacharyya_distance(mu1, mu2, np.diag(v1), np.diag(v2))
            total += np.exp(-distance)
    return -total


@pytest.mark.parametrize("gaussian", ["spherical", "diagonal"])
@pytest.mark.parametrize(
    "shape, n_classes, n_components",
    [((300, 6), 4, None), ((400, 40), 6, 16), ((200, 30), 5, 0.8)],
    ids=["no-pca", "pca16", "pca0.8"],
)
def test_equals_pairwise_loop(shape, n_classes, n_components, gaussian):
    X, y = _blobs(*shape, n_classes=n_classes)
    expected = _loop_gbc(X, y, n_components=n_components, gaussian=gaussian)
    est = GBC(n_components=n_components, gaussian=gaussian).fit(X, y)
    assert est.score_ == pytest.approx(expected, rel=1e-9)
    if isinstance(n_components, float):
        pca = PCA(n_components, svd_solver="full").fit(X)
        assert est.n_components_ == pca.n_components_


@pytest.mark.parametrize("gaussian", ["spherical", "diagonal"])
def test_large_mean_and_float32_equal_pairwise_loop(gaussian):
    # Offset 1e6 for a spread ~1: X^T X - n mu mu^T would lose every digit,
    # so the PCA centres by blocks; GBC is translation invariant, so the
    # loop on the unshifted data is the reference.
    X, y = _blobs(400, 40, n_classes=6)
    expected = _loop_gbc(X, y, n_components=16, gaussian=gaussian)
    shifted = GBC(n_components=16, gaussian=gaussian).fit(X + 1e6, y)
    assert shifted.score_ == pytest.approx(expected, rel=1e-6)
    # float32 features are validated to float64: the score of the converted
    # array, within float32 roundoff of the float64 one.
    X32 = X.astype(np.float32)
    est = GBC(n_components=16, gaussian=gaussian)
    assert est.fit(X32, y).score_ == est.fit(X32.astype(np.float64), y).score_
    assert est.fit(X32, y).score_ == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("n_components", [None, 8])
@pytest.mark.parametrize("gaussian", ["spherical", "diagonal"])
def test_stable_transfer_equals_pairwise_loop(gaussian, n_components):
    # The reference: absolute floor 1e-4; for spherical Gaussians the log term
    # once instead of d times; diagonal is the exact distance. At this scale
    # the class variances (2.5e-5 * (0.25 to 4)) straddle the floor.
    X, y = _blobs(300, 20, n_classes=5)
    X *= 5e-3
    expected = _loop_gbc(
        X,
        y,
        n_components=n_components,
        gaussian=gaussian,
        floor=1e-4,
        quirk=gaussian == "spherical",
    )
    value = gbc_score(
        X, y, n_components=n_components, gaussian=gaussian, compat="stable_transfer"
    )
    assert value == pytest.approx(expected, rel=1e-9)
    # The floor matters here: without it the loop gives another value.
    unfloored = _loop_gbc(
        X,
        y,
        n_components=n_components,
        gaussian=gaussian,
        floor=0.0,
        quirk=gaussian == "spherical",
    )
    assert unfloored != pytest.approx(expected, rel=1e-3)


def test_distances_and_score_are_consistent():
    X, y = _blobs(300, 5, n_classes=4)
    est = GBC(n_components=None, gaussian="diagonal").fit(X, y)
    D = est.bhattacharyya_distance_
    assert D.shape == (4, 4)
    np.testing.assert_allclose(D, D.T, rtol=1e-12)
    assert np.all(np.diag(D) == 0) and np.all(D[~np.eye(4, dtype=bool)] > 0)
    assert est.score_ == pytest.approx(-np.exp(-D)[~np.eye(4, dtype=bool)].sum())
    assert -12 <= est.score_ <= 0


def test_diagonal_blocks_equal_one_block(monkeypatch):
    # 30 classes in blocks of 2 rows (step = 500 // (30 * 8)).
    X, y = _blobs(600, 8, n_classes=30)
    expected = gbc_score(X, y, n_components=None, gaussian="diagonal")
    monkeypatch.setattr(gbc_module, "_BLOCK_ELEMENTS", 500)
    value = gbc_score(X, y, n_components=None, gaussian="diagonal")
    assert value == pytest.approx(expected, rel=1e-12)


def test_exact_log_term_vs_reference_quirk():
    # The log term is >= 0 (AM-GM) and the exact distance has it d times, so
    # the exact spherical GBC is higher when class spreads differ...
    X, y = _blobs(400, 10, n_classes=4)
    exact = gbc_score(X, y, n_components=None)
    quirk = gbc_score(X, y, n_components=None, compat="stable_transfer")
    assert exact > quirk
    # ... and equal when every class has the same spread (log term zero): the
    # classes share one spherical variance exactly when the within-class
    # samples are the same up to a shift.
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(50, 10))
    X_same = np.vstack([noise + 3 * rng.normal(size=10) for _ in range(4)])
    y_same = np.repeat(np.arange(4), 50)
    assert gbc_score(X_same, y_same, n_components=None) == pytest.approx(
        gbc_score(X_same, y_same, n_components=None, compat="stable_transfer"),
        rel=1e-12,
    )
    # For diagonal Gaussians the reference distance is exact: no floor hit
    # here, so the two modes agree.
    assert gbc_score(X, y, n_components=None, gaussian="diagonal") == pytest.approx(
        gbc_score(
            X, y, n_components=None, gaussian="diagonal", compat="stable_transfer"
        ),
        rel=1e-12,
    )


@pytest.mark.parametrize(
    "n_classes, n_features, n_components, gaussian",
    [
        (5, 16, None, "spherical"),
        (5, 32, 16, "spherical"),
        (5, 32, 16, "diagonal"),
        (10, 16, 0.8, "diagonal"),
    ],
)
@pytest.mark.parametrize("compat", [None, "stable_transfer"])
def test_one_hot_beats_random(n_classes, n_features, n_components, gaussian, compat):
    # The reference's own test cases (notes §8.4): one-hot-like features of the
    # labels score higher than random features.
    rng = np.random.default_rng(0)
    y = np.arange(400) % n_classes
    one_hot = np.eye(n_classes, n_features)[y] + 0.1 * rng.normal(
        size=(400, n_features)
    )
    random = rng.normal(size=(400, n_features))
    params = {"n_components": n_components, "gaussian": gaussian, "compat": compat}
    assert gbc_score(one_hot, y, **params) > gbc_score(random, y, **params)


@pytest.mark.parametrize("compat", [None, "stable_transfer"])
def test_limits(compat):
    n_classes = 5
    rng = np.random.default_rng(0)
    y = np.arange(2000) % n_classes
    # Well separated (notes §8.4: means c^2, sigma 0.01): GBC ~ 0.
    separated = (y**2)[:, None] + 0.01 * rng.normal(size=(2000, 4))
    assert gbc_score(separated, y, n_components=None, compat=compat) > -1e-6
    # Same distribution for every class: GBC close to -C(C-1) = -20.
    overlapping = rng.normal(size=(2000, 4))
    value = gbc_score(overlapping, y, n_components=None, compat=compat)
    assert -20 < value < -0.95 * 20


def test_reference_near_total_overlap_at_tiny_scale():
    # The reference's test (notes §8.4): all classes ~ N(0, 1e-4^2); with the
    # absolute floor 1e-4 every variance is floored, GBC > -C(C-1) and within
    # 20 % of it.
    rng = np.random.default_rng(0)
    y = np.arange(500) % 5
    X = 1e-4 * rng.normal(size=(500, 16))
    value = gbc_score(X, y, n_components=None, compat="stable_transfer")
    assert -20 < value < -0.8 * 20


def test_default_is_scale_and_rotation_invariant():
    X, y = _blobs(300, 12, n_classes=4)
    Q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(12, 12)))
    reference = gbc_score(X, y, n_components=6)
    for Z in (1e-5 * X, 1e4 * X, X @ Q + 3.0):
        assert gbc_score(Z, y, n_components=6) == pytest.approx(reference, rel=1e-8)
    # The reference's absolute floor breaks scale invariance at small scales.
    tiny = gbc_score(1e-5 * X, y, n_components=6, compat="stable_transfer")
    assert tiny != pytest.approx(
        gbc_score(X, y, n_components=6, compat="stable_transfer")
    )


def test_too_many_components_warn_and_clip():
    X, y = _blobs(100, 8, n_classes=3)
    with pytest.warns(UserWarning, match="n_components=64 is larger than"):
        est = GBC().fit(X, y)
    assert est.n_components_ == 8
    # PCA to all 8 dimensions is a rotation: spherical GBC does not change.
    assert est.score_ == pytest.approx(gbc_score(X, y, n_components=None), rel=1e-10)


def test_class_with_one_sample_raises():
    X, y = _blobs(30, 4, n_classes=3)
    y[0] = 7
    with pytest.raises(ValueError, match="at least 2 samples per class"):
        gbc_score(X, y, n_components=None)


def test_constant_features_raise():
    y = np.arange(20) % 2
    for value in (1.0, 0.1):  # 0.1 centres to roundoff, not to zero
        with pytest.raises(ValueError, match="constant features"):
            gbc_score(np.full((20, 3), value), y, n_components=None)
        with pytest.raises(ValueError, match="constant features"):
            gbc_score(np.full((20, 3), value), y, n_components=2)
    # The reference floors every variance: all classes coincide, BC = 1 for
    # each of the C (C - 1) = 2 ordered pairs.
    assert gbc_score(
        np.full((20, 3), 0.1), y, n_components=2, compat="stable_transfer"
    ) == pytest.approx(-2.0, rel=1e-12)


def test_invalid_parameters():
    X, y = _blobs(40, 4, n_classes=2)
    with pytest.raises(ValueError, match="gaussian"):
        gbc_score(X, y, gaussian="full")
    with pytest.raises(ValueError, match="n_components"):
        gbc_score(X, y, n_components=0)
    with pytest.raises(ValueError, match="var_floor"):
        gbc_score(X, y, var_floor=0.0)


@pytest.mark.parametrize("offset, n_passes", [(0.0, 2), (30.0, 2), (1e4, 3)])
def test_class_moments_equal_per_class_numpy(offset, n_passes, monkeypatch):
    # E[z^2] - E[z]^2 from two indicator products while no squared class mean
    # exceeds 1e4 times its variance (offset 30: up to ~900 times), else a
    # third pass over the deviations (offset 1e4 for a spread ~1: 1e8 times,
    # where the difference would keep about 8 digits).
    rng = np.random.default_rng(0)
    y = np.arange(600) % 4
    Z = rng.normal(size=(600, 5)) * [1.0, 2.0, 0.5, 1.0, 3.0] + offset + y[:, None]
    calls = []
    original = gbc_module._class_sums

    def spy(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(gbc_module, "_class_sums", spy)
    counts = np.bincount(y).astype(float)
    means, var = gbc_module._class_moments(Z, y, counts)
    assert len(calls) == n_passes
    for c in range(4):
        np.testing.assert_allclose(means[c], Z[y == c].mean(axis=0), rtol=1e-13)
        np.testing.assert_allclose(var[c], Z[y == c].var(axis=0), rtol=1e-10)
