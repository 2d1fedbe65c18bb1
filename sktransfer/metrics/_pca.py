"""Deterministic PCA shared by the metrics that reduce features first (private)."""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral

import numpy as np

from sktransfer.metrics._linalg import centred_scatter, top_eigh

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


def pca_project(X, n_components, *, name="PCA", mean=None):
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
    mean : ndarray of shape (n_features,) or None
        The column means of ``X`` when the caller has them already (saves a
        pass over ``X``); None computes them.

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
    The spectrum comes from the smaller Gram matrix of the centred data: the
    D x D scatter when ``n_samples > n_features`` (one syrk pass over ``X``,
    no centred copy: ``X^T X - n mu mu^T``, see ``centred_scatter``), the N x N
    inner products otherwise; only the top ``k`` eigenvectors are computed,
    by Lanczos iterations when ``k`` is small against a large D (all
    eigenvalues are needed only for a variance fraction).
    """
    n_samples, n_features = X.shape
    k = _resolve_n_components(n_components, n_samples, n_features, name)
    if k is None:
        return X, None
    if mean is None:
        mean = X.mean(axis=0)
    # The spectrum of the smaller Gram matrix: D x D scatter (no centred copy
    # of X) or N x N products.
    if n_samples > n_features:
        Xc, gram = None, centred_scatter(X, mean)
    else:
        Xc = X - mean
        gram = Xc @ Xc.T
    size = gram.shape[0]
    total = np.trace(gram)
    if isinstance(k, float):
        evals = np.clip(np.linalg.eigvalsh(gram)[::-1], 0.0, None)
        ratio = evals / total if total > 0 else np.zeros_like(evals)
        k = int(np.searchsorted(np.cumsum(ratio), k, side="right") + 1)
    k = min(k, size)
    # Only the top k eigenvectors are computed.
    evals, vecs = top_eigh(gram, k)
    evals = np.clip(evals, 0.0, None)
    if n_samples > n_features:
        V = vecs
    else:
        # Right singular vectors from the left ones: V = Xc^T U / s.
        s = np.sqrt(evals)
        V = (Xc.T @ vecs) / np.where(s > 0, s, 1.0)
    signs = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(k)])
    signs[signs == 0] = 1.0
    ratio = evals / total if total > 0 else np.zeros_like(evals)
    V = V * signs
    if Xc is None:
        Z = X @ V
        Z -= mean @ V
        return Z, ratio
    return Xc @ V, ratio
