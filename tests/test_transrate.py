"""Tests of TransRate against the official eigenvalue files and second formulations."""

import os
from pathlib import Path

import numpy as np
import pytest

from sktransfer.metrics import TransRate, transrate_score
from sktransfer.metrics._transrate import _transrate_from_eigenvalues

FIXTURES = Path(
    os.environ.get(
        "SKTRANSFER_FIXTURES", Path(__file__).resolve().parents[2] / "shared/fixtures"
    )
)
OFFICIAL = FIXTURES / "transrate_official"

# Stage-2 values of the official repository (Long-Kai/TransRate) on its shipped
# eigenvalue logs, from shared/fixtures/transrate_official/README.md: TransRate,
# R(Z) and R(Z|Y), with the paper's settings (trace + rank normalisation, n_c/n
# weights) and the eps of each case.
OFFICIAL_CASES = [
    ("0001_Z_centralized", 1e-4, 0.3042494907526251, 1.001388, 0.697139),
    ("0002_Z_centralized", 1e-4, 0.2970156154789918, 0.994364, 0.697349),
    ("0003_Z_centralized", 1e-4, 0.20538288980393993, 1.159595, 0.954212),
    ("0004_Z_centralized", 1e-4, 0.15794098351628016, 0.934514, 0.776573),
    ("1001_Z_new_proj_mul", 1e-5, 0.24636784620155483, 2.626150, 2.379782),
    ("1601_Z_new_proj_mul", 1e-5, 0.2783724041090059, 2.728089, 2.449716),
    ("1701_Z_new_proj_mul", 1e-5, 0.33196554603561257, 2.686191, 2.354226),
]


def _blobs(class_sizes, n_features, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(class_sizes)), class_sizes)
    centers = spread * rng.normal(size=(len(class_sizes), n_features))
    # A decaying spectrum, like deep features.
    scales = (np.arange(n_features) + 1.0) ** -0.5
    X = centers[y] + rng.normal(size=(y.shape[0], n_features)) * scales
    order = rng.permutation(y.shape[0])
    return X[order], y[order]


def _coding_rate_slogdet(Z, eps):
    m, d = Z.shape
    return 0.5 * np.linalg.slogdet(np.eye(d) + Z.T @ Z / (m * eps))[1]


def _tllib_transrate(X, y, eps=1e-4):
    """Transfer-Learning-Library's formula: slogdet, centring, 1/K weights."""
    Z = X - X.mean(axis=0)
    rate = _coding_rate_slogdet(Z, eps)
    classes = range(y.max() + 1)
    conditional = np.mean([_coding_rate_slogdet(Z[y == c], eps) for c in classes])
    return rate - conditional


def _official_stage1(X, y):
    """The official stage 1, centralized path: row-normalise, centre, row-normalise,
    then the spectra of Z^T Z / n and Z_c^T Z_c / n_c (singular values of the
    symmetric matrices) and the rank of Z^T Z / n."""
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    Z = Z - Z.mean(axis=0)
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    cov = Z.T @ Z / Z.shape[0]
    eig_z = np.linalg.svd(cov, compute_uv=False)
    rank_z = np.linalg.matrix_rank(cov)
    eig_zc, counts = [], []
    for c in range(y.max() + 1):
        Zc = Z[y == c]
        eig_zc.append(np.linalg.svd(Zc.T @ Zc / Zc.shape[0], compute_uv=False))
        counts.append(Zc.shape[0])
    return eig_z, eig_zc, np.array(counts), rank_z


@pytest.mark.skipif(not OFFICIAL.is_dir(), reason=f"fixtures not found at {OFFICIAL}")
@pytest.mark.parametrize("case", OFFICIAL_CASES, ids=[c[0] for c in OFFICIAL_CASES])
def test_stage2_reproduces_official_values(case):
    name, eps, expected, rate_expected, cond_expected = case
    data = np.load(OFFICIAL / f"{name}.npz")
    transrate, rate, conditional = _transrate_from_eigenvalues(
        data["eig_Z"],
        data["eig_Zc"],
        data["n_Zc"],
        eps=eps,
        rank_z=int(data["rank_Z"]),
        class_weight="size",
        trace_normalize=True,
    )
    assert transrate == pytest.approx(expected, abs=1e-6)
    # The README prints R(Z) and R(Z|Y) to 6 decimals.
    assert rate == pytest.approx(rate_expected, abs=1e-6)
    assert conditional == pytest.approx(cond_expected, abs=1e-6)


@pytest.mark.parametrize("sizes", [(40, 60, 80), (300, 200, 250)], ids=["nc<d", "nc>d"])
def test_official_compat_equals_stage2_on_official_stage1(sizes):
    # Ties the feature path to the stage-2 function validated above: computing
    # the spectra as the official stage 1 does and applying stage 2 gives the
    # same number as TransRate(compat="official") on the raw features.
    X, y = _blobs(sizes, n_features=64)
    eig_z, eig_zc, counts, rank_z = _official_stage1(X, y)
    expected, rate, conditional = _transrate_from_eigenvalues(
        eig_z, eig_zc, counts, eps=1e-4, rank_z=rank_z, trace_normalize=True
    )
    est = TransRate(compat="official").fit(X, y)
    assert est.score_ == pytest.approx(expected, rel=1e-9)
    assert est.rate_ == pytest.approx(rate, rel=1e-9)
    assert est.conditional_rate_ == pytest.approx(conditional, rel=1e-9)


@pytest.mark.parametrize("n_features", [10, 100], ids=["d<nc", "d>nc"])
def test_compat_tllib_equals_slogdet_formula(n_features):
    # Imbalanced classes on both sides of d exercise both Sylvester branches.
    X, y = _blobs((15, 60, 120), n_features=n_features)
    expected = _tllib_transrate(X, y)
    assert transrate_score(X, y, compat="tllib") == pytest.approx(expected, rel=1e-10)


def test_default_uses_size_weights():
    X, y = _blobs((15, 60, 120), n_features=30)
    Z = X - X.mean(axis=0)
    counts = np.bincount(y)
    conditional = sum(
        counts[c] / len(y) * _coding_rate_slogdet(Z[y == c], 1e-4) for c in range(3)
    )
    expected = _coding_rate_slogdet(Z, 1e-4) - conditional
    est = TransRate().fit(X, y)
    assert est.score_ == pytest.approx(expected, rel=1e-10)
    assert est.rate_ == pytest.approx(_coding_rate_slogdet(Z, 1e-4), rel=1e-12)


def test_weightings_coincide_for_balanced_classes():
    X, y = _blobs((50, 50, 50, 50), n_features=20)
    assert transrate_score(X, y) == pytest.approx(
        transrate_score(X, y, class_weight="uniform"), rel=1e-12
    )
    assert transrate_score(X, y, compat="tllib") == pytest.approx(
        transrate_score(X, y), rel=1e-12
    )


def test_n_le_d_uses_the_smaller_gram():
    # N < D: every Gram matrix is taken on the sample side.
    X, y = _blobs((10, 12, 8), n_features=80)
    assert transrate_score(X, y, compat="tllib") == pytest.approx(
        _tllib_transrate(X, y), rel=1e-10
    )


def _projected_direct(X, y, eps):
    """The official projected path by its definition, with D x D matrices."""
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    Z = Z - Z.mean(axis=0)
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    n = Z.shape[0]
    cov_f = Z.T @ Z / n
    counts = np.bincount(y)
    means = np.array([Z[y == c].mean(axis=0) for c in range(y.max() + 1)])
    cov_g = sum(
        counts[c] / n * np.outer(means[c], means[c]) for c in range(len(counts))
    )
    P = np.linalg.pinv(cov_f, rcond=1e-15) @ cov_g
    eig_z = np.linalg.svd(cov_f @ P, compute_uv=False)
    eig_zc = [
        np.linalg.svd(
            (Z[y == c].T @ Z[y == c] - counts[c] * np.outer(means[c], means[c]))
            @ P
            / counts[c],
            compute_uv=False,
        )
        for c in range(len(counts))
    ]
    rank = np.linalg.matrix_rank(cov_f @ P)
    return _transrate_from_eigenvalues(
        eig_z, eig_zc, counts, eps=eps, rank_z=rank, trace_normalize=True
    )


def test_projection_lda_equals_direct_definition():
    X, y = _blobs((60, 80, 100, 70), n_features=24)
    expected, rate, conditional = _projected_direct(X, y, eps=1e-5)
    est = TransRate(compat="official", projection="lda", eps=1e-5).fit(X, y)
    assert est.score_ == pytest.approx(expected, rel=1e-7)
    assert est.rate_ == pytest.approx(rate, rel=1e-7)
    assert est.conditional_rate_ == pytest.approx(conditional, rel=1e-7)


def test_projection_has_rank_k_minus_one():
    X, y = _blobs((60, 80, 100, 70), n_features=24)
    rank_normalized = TransRate(projection="lda", rank_normalize=True).fit(X, y)
    raw = TransRate(projection="lda").fit(X, y)
    assert raw.rate_ / rank_normalized.rate_ == pytest.approx(3.0)


def test_row_normalisation_gives_scale_invariance():
    X, y = _blobs((50, 70, 60), n_features=16)
    reference = transrate_score(X, y, compat="official")
    for scale in (1e-3, 7.0, 1e4):
        assert transrate_score(scale * X, y, compat="official") == pytest.approx(
            reference, rel=1e-10
        )


def test_trace_normalisation_gives_scale_invariance():
    X, y = _blobs((50, 70, 60), n_features=16)
    reference = transrate_score(X, y, trace_normalize=True)
    assert transrate_score(1e3 * X, y, trace_normalize=True) == pytest.approx(
        reference, rel=1e-10
    )
    # Without normalisation the score depends on the scale (eps is absolute).
    assert transrate_score(1e3 * X, y) != pytest.approx(transrate_score(X, y))


def test_separable_vs_random_limits():
    rng = np.random.default_rng(0)
    y = np.arange(2000) % 4
    separable = np.eye(4)[y] * 10 + 0.01 * rng.normal(size=(2000, 4))
    random = rng.normal(size=(2000, 4))
    high = transrate_score(separable, y)
    low = transrate_score(random, y)
    # Separable: R(Z) is large, every class collapses to a point; random:
    # classes look like the whole, R(Z|Y) ~ R(Z), TransRate ~ 0 (small-sample
    # bias only).
    assert high > 10
    assert abs(low) < 0.01


def test_labels_with_gaps_do_not_give_nan():
    # research notes §1.8: references loop over range(max(y) + 1) and give NaN
    # for absent classes; we encode the labels.
    X, y = _blobs((30, 40, 50), n_features=8)
    gapped = np.array([0, 3, 9])[y]
    assert transrate_score(X, gapped) == pytest.approx(transrate_score(X, y))


def test_class_with_one_sample_is_finite():
    X, y = _blobs((1, 40, 50), n_features=8)
    assert np.isfinite(transrate_score(X, y))


def test_constant_features_raise():
    with pytest.raises(ValueError, match="constant features"):
        transrate_score(np.ones((20, 3)), np.arange(20) % 2)


def test_row_normalize_needs_two_features():
    X, y = _blobs((20, 20), n_features=1)
    with pytest.raises(ValueError, match="at least 2 features"):
        transrate_score(X, y, row_normalize=True)
    assert np.isfinite(transrate_score(X, y))


def test_invalid_parameters():
    X, y = _blobs((20, 20), n_features=3)
    with pytest.raises(ValueError, match="eps"):
        transrate_score(X, y, eps=0)
    with pytest.raises(ValueError, match="class_weight"):
        transrate_score(X, y, class_weight="balanced")
