"""Deterministic PCA shared by the metrics that reduce features first (private)."""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral

import numpy as np

__all__ = []


def _resolve_n_components(n_components, n_samples, n_features, name):
    """Turn ``n_components`` into a count, clipping it to ``min(N, D)``.

    ``None`` means no reduction (returns None); an int is clipped with a
    ``UserWarning`` when larger than the data allow; a float in (0, 1) is a
    fraction of explained variance, resolved later from the spectrum.
    """
    if n_components is None:
        return None
    if isinstance(n_components, Integral):
        limit = min(n_samples, n_features)
        if n_components > limit:
            warnings.warn(
                f"{name}: n_components={n_components} is larger than "
                f"min(n_samples, n_features)={limit}; using {limit}.",
                UserWarning,
                stacklevel=3,
            )
            return limit
        return int(n_components)
    return float(n_components)


def pca_project(X, n_components, *, name="PCA"):
    """Project ``X`` on its leading principal components.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
        Input; not modified.
    n_components : int, float in (0, 1) or None
        Number of components (clipped to ``min(n_samples, n_features)`` with a
        warning), fraction of variance to keep (the smallest number of
        components whose explained-variance ratio reaches it, as
        ``sklearn.decomposition.PCA``), or None for no reduction (``X`` is
        returned as is, not centred).
    name : str
        Name of the calling metric, for the warning.

    Returns
    -------
    Z : ndarray of shape (n_samples, k)
        Centred data in the basis of the top ``k`` principal directions; each
        direction's sign makes its largest-magnitude loading positive, so the
        result is deterministic.
    explained_variance_ratio : ndarray of shape (k,) or None
        Fraction of the total variance of each kept component (None without
        reduction).

    Notes
    -----
    The spectrum comes from ``eigh`` of the D x D scatter matrix when
    ``n_samples > n_features`` (one syrk pass over ``X``) and from the thin SVD
    of the centred data otherwise.
    """
    n_samples, n_features = X.shape
    k = _resolve_n_components(n_components, n_samples, n_features, name)
    if k is None:
        return X, None
    Xc = X - X.mean(axis=0)
    if n_samples > n_features:
        evals, V = np.linalg.eigh(Xc.T @ Xc)
        evals, V = np.clip(evals[::-1], 0.0, None), V[:, ::-1]
    else:
        _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        evals, V = s**2, Vt.T
    total = evals.sum()
    ratio = evals / total if total > 0 else np.zeros_like(evals)
    if isinstance(k, float):
        k = int(np.searchsorted(np.cumsum(ratio), k, side="right") + 1)
        k = min(k, evals.shape[0])
    V = V[:, :k]
    signs = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(k)])
    signs[signs == 0] = 1.0
    return Xc @ (V * signs), ratio[:k]
