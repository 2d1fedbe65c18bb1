"""The private PCA helper shared by GBC, N-LEEP and PARC."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from sktransfer.metrics._pca import pca_project


@pytest.mark.parametrize("shape", [(200, 12), (10, 30)], ids=["N>D", "N<D"])
@pytest.mark.parametrize("n_components", [3, 0.8])
def test_matches_sklearn_pca_up_to_sign(shape, n_components):
    rng = np.random.default_rng(0)
    X = rng.normal(size=shape) * (np.arange(shape[1]) + 1.0) ** -0.7 + 2.0
    Z, ratio = pca_project(X, n_components)
    ref = PCA(n_components=n_components, svd_solver="full").fit(X)
    Z_ref = ref.transform(X)
    assert Z.shape == Z_ref.shape
    np.testing.assert_allclose(np.abs(Z), np.abs(Z_ref), atol=1e-10)
    np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-10)


def test_too_many_components_are_clipped_with_a_warning():
    X = np.random.default_rng(0).normal(size=(20, 5))
    with pytest.warns(UserWarning, match="n_components=64 is larger than"):
        Z, _ = pca_project(X, 64, name="GBC")
    assert Z.shape == (20, 5)


def test_none_returns_input_and_input_is_not_modified():
    X = np.random.default_rng(0).normal(size=(20, 5))
    before = X.copy()
    Z, ratio = pca_project(X, None)
    assert Z is X and ratio is None
    pca_project(X, 2)
    np.testing.assert_array_equal(X, before)


def test_signs_are_deterministic_under_row_order():
    X = np.random.default_rng(1).normal(size=(50, 6))
    order = np.random.default_rng(2).permutation(50)
    Z, _ = pca_project(X, 3)
    Z_perm, _ = pca_project(X[order], 3)
    np.testing.assert_allclose(Z[order], Z_perm, atol=1e-10)


def test_given_mean_is_used_as_is():
    # The caller's column means save a pass over X: the same result as computing
    # them.
    X = np.random.default_rng(4).normal(size=(80, 6)) + 3.0
    Z, ratio = pca_project(X, 3)
    Z_given, ratio_given = pca_project(X, 3, mean=X.mean(axis=0))
    np.testing.assert_array_equal(Z_given, Z)
    np.testing.assert_array_equal(ratio_given, ratio)
