"""The private dense linear-algebra kernels against plain numpy/scipy."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
from scipy.linalg import eigh

from sktransfer.metrics._linalg import centred_scatter, eigh_projected, top_eigh


def _aligned(reference, other):
    """``other`` with each row's sign matched to ``reference`` (eigenvector signs)."""
    signs = np.sign(np.sum(reference * other, axis=1))
    signs[signs == 0] = 1.0
    return other * signs[:, None]


@pytest.mark.parametrize(
    "n_rows, d", [(50, 1), (50, 2), (200, 40), (20, 40)], ids=str
)  # (20, 40): rank-deficient Gram
def test_eigh_projected_matches_eigh(n_rows, d):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(n_rows, d)) * (np.arange(d) + 1.0) ** -0.5 + 0.3
    G = A.T @ A
    B = rng.normal(size=(d, 3))
    M = rng.normal(size=(d, 2))
    before = G.copy()
    evals, VtB, apply_basis = eigh_projected(G, B)
    ref_evals, V = np.linalg.eigh(G)
    np.testing.assert_array_equal(G, before)  # input not modified
    np.testing.assert_allclose(evals, ref_evals, rtol=1e-12, atol=1e-12 * evals.max())
    # Distinct eigenvalues: each projection is defined up to its sign.
    VtB_ref = V.T @ B
    np.testing.assert_allclose(
        _aligned(VtB_ref, VtB)[ref_evals > 1e-8 * ref_evals.max()],
        VtB_ref[ref_evals > 1e-8 * ref_evals.max()],
        atol=1e-10,
    )
    # V @ (V^T B) = B whatever the signs: apply_basis is the same V.
    np.testing.assert_allclose(apply_basis(VtB), B, atol=1e-10)
    assert apply_basis(M).shape == (d, 2)


def test_centred_scatter_matches_explicit_centring():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)) * [1.0, 2.0, 0.5, 1.0, 3.0, 1.0] + 5.0
    mean = X.mean(axis=0)
    expected = (X - mean).T @ (X - mean)
    # X^T X - n m m^T: roundoff relative to the largest entry, not to each one.
    np.testing.assert_allclose(
        centred_scatter(X, mean), expected, rtol=0, atol=1e-12 * expected.max()
    )


def test_centred_scatter_falls_back_when_the_mean_dominates():
    # Spread 1e-3 around 1e4: X^T X - n m m^T would lose all digits here.
    rng = np.random.default_rng(1)
    X = 1e4 + 1e-3 * rng.normal(size=(500, 4))
    mean = X.mean(axis=0)
    expected = (X - mean).T @ (X - mean)
    np.testing.assert_allclose(centred_scatter(X, mean), expected, rtol=1e-9)


@pytest.mark.parametrize(
    "d, k",
    [(1024, 16), (256, 32), (60, 5), (256, 33)],
    ids=["lanczos", "lanczos-d256", "eigh", "eigh-k>d/8"],
)
def test_top_eigh_matches_eigh_subset(d, k):
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    spectrum = 1.0 / (np.arange(d) + 1.0)
    S = (Q * spectrum) @ Q.T
    evals, vecs = top_eigh(S, k)
    ref_evals, ref_vecs = eigh(S, subset_by_index=[d - k, d - 1])
    np.testing.assert_allclose(evals, ref_evals[::-1], rtol=1e-12)
    # The same subspace, to machine precision.
    np.testing.assert_allclose(vecs @ vecs.T, ref_vecs @ ref_vecs.T, atol=1e-12)
    assert np.all(np.diff(evals) <= 0)


def test_top_eigh_reads_any_memory_layout():
    # The Lanczos products use BLAS dsymv on the lower triangle: C order (its
    # transpose is the same symmetric matrix), Fortran order and a strided view
    # give the same result, and the input is not modified.
    rng = np.random.default_rng(3)
    d, k = 1024, 8
    A = rng.normal(size=(2 * d, d)) * (np.arange(d) + 1.0) ** -0.5
    S = A.T @ A
    before = S.copy()
    evals, vecs = top_eigh(S, k)
    np.testing.assert_array_equal(S, before)
    ref_evals, ref_vecs = eigh(S, subset_by_index=[d - k, d - 1])
    np.testing.assert_allclose(evals, ref_evals[::-1], rtol=1e-12)
    padded = np.zeros((d, 2 * d))
    padded[:, ::2] = S
    for layout in (np.asfortranarray(S), padded[:, ::2]):
        other_evals, other_vecs = top_eigh(layout, k)
        np.testing.assert_allclose(other_evals, evals, rtol=1e-13)
        np.testing.assert_allclose(other_vecs @ other_vecs.T, vecs @ vecs.T, atol=1e-12)
