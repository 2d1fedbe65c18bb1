"""Expectation-maximisation of a Gaussian mixture, vectorised over components.

The same algorithm as :class:`sklearn.mixture.GaussianMixture` (k-means
initialisation with the same random state, the same E- and M-steps,
``reg_covar``, ``tol`` on the mean log-likelihood, ``max_iter`` and
``n_init``), returning a fitted ``GaussianMixture`` and the posteriors of the
training data. It is faster without changing the result beyond roundoff:

- a posterior (responsibility) below ``exp(-37)`` (1e-16, float64's
  resolution) times the largest posterior of its sample is set to 0. This
  changes a component's weight, mean and covariance by less than
  ``n_samples * 1e-16 / n_k`` relative to the data's scale (1e-12 for
  10^4 samples and a component of weight ``n_k = 1`` sample; a dying
  component, ``n_k << 1``, can differ more, with a negligible weight), and
  the log-likelihood by less than ``n_components * 1e-16``. Deep features
  give nearly one-hot posteriors, so the M-step sums each component's
  covariance over a few samples only (BLAS ``syrk``);
- the "full" E-step evaluates the Mahalanobis distance only for the (sample,
  component) pairs that a lower bound cannot rule out: with ``U`` the upper
  triangular Cholesky factor of the precision, ``||(x - mu) U||^2`` is at
  least the sum of squares of the last ``m`` columns of ``(x - mu) U``, one
  product of the data with the stacked last columns of all components. A pair
  whose bound puts its posterior below ``exp(-37)`` times that of the sample's
  best exactly evaluated component is skipped (its posterior is set to 0
  anyway). The exact distances use BLAS ``trmm`` (``U`` is triangular): half
  the flops of scikit-learn's general product. When the components overlap
  (posteriors not one-hot) nothing is skipped and the E-step costs the plain
  ``O(N K d^2)``;
- "diag": ``X * X`` is formed once per fit, not at every E- and M-step.

Only float64 data and the "full" and "diag" covariances take this path;
:func:`_fit_gaussian_mixture` calls ``GaussianMixture.fit`` otherwise.
"""

# SPDX-License-Identifier: BSD-3-Clause

import math
import warnings

import numpy as np
from scipy.linalg import blas, lapack
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state

_LOG_2PI = math.log(2.0 * math.pi)

# Posteriors below exp(-_PRUNE_GAP) are set to 0 (see the module docstring);
# pairs whose log-posterior is certainly below -_PRUNE_GAP are not evaluated.
_PRUNE_GAP = 37.0

# Trailing columns of (x - mu) U whose squares bound the Mahalanobis distance.
_BOUND_COLUMNS = 4

_FAST_TYPES = ("full", "diag")

_SINGULAR_MESSAGE = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed "
    "samples). Try to decrease the number of components, increase reg_covar, or "
    "scale the input data."
)


def _log_det_chol(prec_chol, covariance_type):
    """Log-determinant of the Cholesky factor of each component's precision."""
    if covariance_type == "full":
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    return np.log(prec_chol).sum(axis=1)


def _mahalanobis_rows(X, mean, prec_chol, rows=None):
    """``||(x - mean) U||^2`` for the rows of ``X`` (all when ``rows`` is None).

    ``U`` (upper triangular) multiplies in place with BLAS ``trmm``: half the
    flops of a general product.
    """
    if rows is None:
        diff = X - mean
    else:
        diff = X[rows]
        diff -= mean
    # diff.T is Fortran-ordered: trmm overwrites it with U.T @ diff.T.
    y = blas.dtrmm(1.0, prec_chol, diff.T, side=0, lower=0, trans_a=1, overwrite_b=1)
    return np.einsum("ij,ij->j", y, y)


def _grouped_rows(mask):
    """Row indices of the True entries of each column of ``mask``."""
    components, rows = np.nonzero(mask.T)
    bounds = np.searchsorted(components, np.arange(mask.shape[1] + 1))
    return [rows[bounds[k] : bounds[k + 1]] for k in range(mask.shape[1])]


def _fill_exact(W, X, means, prec_chol, const, mask):
    """Set ``W[i, k]`` to the exact weighted log-density where ``mask``.

    A component needed for more than half of the samples is computed for all
    of them (no gathered copy of ``X``; the extra pairs are exact too).
    """
    n_samples = X.shape[0]
    for k, rows in enumerate(_grouped_rows(mask)):
        if 2 * rows.size > n_samples:
            W[:, k] = const[k] - 0.5 * _mahalanobis_rows(X, means[k], prec_chol[k])
        elif rows.size:
            W[rows, k] = const[k] - 0.5 * _mahalanobis_rows(
                X, means[k], prec_chol[k], rows
            )


def _weighted_log_prob_full(X, weights, means, prec_chol, prune):
    """``log w_k + log N(x_i | mu_k, Sigma_k)``; -inf for pairs ruled out."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    const = (
        np.log(weights) + _log_det_chol(prec_chol, "full") - 0.5 * n_features * _LOG_2PI
    )
    m = _BOUND_COLUMNS
    if not prune or n_features <= 2 * m or n_components < 3:
        W = np.empty((n_samples, n_components))
        for k in range(n_components):
            W[:, k] = const[k] - 0.5 * _mahalanobis_rows(X, means[k], prec_chol[k])
        return W

    # Lower bound of the distances from the last m columns of (x - mu_k) U_k,
    # for all components in one product.
    tail = prec_chol[:, :, -m:]  # (K, d, m)
    stacked = tail.transpose(1, 0, 2).reshape(n_features, n_components * m)
    B = X @ stacked
    B -= np.einsum("kd,kdm->km", means, tail).reshape(1, -1)
    np.square(B, out=B)
    upper = const - 0.5 * B.reshape(n_samples, n_components, m).sum(axis=2)
    del B

    W = np.full((n_samples, n_components), -np.inf)
    # The most promising component of each sample, computed exactly, gives a
    # floor for its log-likelihood; pairs whose bound is far below are skipped.
    first = np.argmax(upper, axis=1)
    todo = np.zeros((n_samples, n_components), dtype=bool)
    todo[np.arange(n_samples), first] = True
    _fill_exact(W, X, means, prec_chol, const, todo)
    floor = W[np.arange(n_samples), first] - _PRUNE_GAP
    todo = upper >= floor[:, None]
    todo[np.arange(n_samples), first] = False
    _fill_exact(W, X, means, prec_chol, const, todo)
    return W


def _weighted_log_prob_diag(X, X2, weights, means, prec_chol):
    """scikit-learn's "diag" log-densities, with ``X2 = X * X`` precomputed."""
    n_features = X.shape[1]
    precisions = prec_chol**2
    log_prob = (
        np.sum(means**2 * precisions, axis=1)
        - 2.0 * (X @ (means * precisions).T)
        + (X2 @ precisions.T)
    )
    log_prob += n_features * _LOG_2PI
    log_prob *= -0.5
    log_prob += _log_det_chol(prec_chol, "diag") + np.log(weights)
    return log_prob


def _normalise(W):
    """Posteriors ``exp(W - logsumexp(W))`` and the mean log-likelihood.

    ``W`` is overwritten with the posteriors.
    """
    peak = W.max(axis=1)
    W -= peak[:, None]
    W[W < -_PRUNE_GAP] = -np.inf
    np.exp(W, out=W)
    total = W.sum(axis=1)
    W /= total[:, None]
    return float(np.mean(peak + np.log(total))), W


def _e_step(X, X2, params, covariance_type, prune):
    """Mean log-likelihood of ``X`` and its posteriors under ``params``."""
    weights, means, _, prec_chol = params
    if covariance_type == "full":
        W = _weighted_log_prob_full(X, weights, means, prec_chol, prune)
    else:
        W = _weighted_log_prob_diag(X, X2, weights, means, prec_chol)
    with np.errstate(under="ignore"):
        return _normalise(W)


def _precision_cholesky(covariances, covariance_type):
    """Upper-triangular Cholesky factors of the precisions, as scikit-learn's."""
    if covariance_type == "diag":
        if np.any(covariances <= 0.0):
            raise ValueError(_SINGULAR_MESSAGE)
        return 1.0 / np.sqrt(covariances)
    prec_chol = np.empty_like(covariances)
    for k, covariance in enumerate(covariances):
        # LAPACK potrf and trtri: the factor of scipy.linalg.cholesky and the
        # inverse that scikit-learn gets from solve_triangular(L, I).
        cov_chol, info = lapack.dpotrf(covariance, lower=1, clean=1)
        if info != 0:
            raise ValueError(_SINGULAR_MESSAGE)
        inverse, info = lapack.dtrtri(cov_chol, lower=1)
        if info != 0:
            raise ValueError(_SINGULAR_MESSAGE)
        prec_chol[k] = inverse.T
    return prec_chol


def _m_step(X, X2, resp, reg_covar, covariance_type, weights_total=None):
    """Weights, means, covariances and precision factors from ``resp``.

    The covariance of component ``k`` is summed over the samples with a
    nonzero responsibility only. ``weights_total`` divides the weights (the
    number of samples at initialisation, as scikit-learn; their sum otherwise).
    """
    nk = resp.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
    means = (resp.T @ X) / nk[:, None]
    if covariance_type == "full":
        n_components, n_features = means.shape
        covariances = np.empty((n_components, n_features, n_features))
        upper = np.triu_indices(n_features, 1)
        for k, rows in enumerate(_grouped_rows(resp > 0)):
            # sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T over the nonzero r_ik, as
            # a^T a with a = sqrt(r) (x - mu): BLAS syrk, half the flops of
            # scikit-learn's general product.
            diff = X[rows]
            diff -= means[k]
            diff *= np.sqrt(resp[rows, k])[:, None]
            # diff.T is Fortran-ordered: syrk gives the upper triangle.
            cov = blas.dsyrk(1.0 / nk[k], diff.T) if rows.size else 0.0
            covariances[k] = cov
            covariances[k][upper[::-1]] = covariances[k][upper]
            covariances[k].flat[:: n_features + 1] += reg_covar
    else:
        covariances = (resp.T @ X2) / nk[:, None] - means**2 + reg_covar
    total = nk.sum() if weights_total is None else weights_total
    weights = nk / total
    prec_chol = _precision_cholesky(covariances, covariance_type)
    return weights, means, covariances, prec_chol


def _kmeans_resp(X, n_components, random_state):
    """One-hot responsibilities of scikit-learn's k-means initialisation."""
    labels = (
        KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
        .fit(X)
        .labels_
    )
    resp = np.zeros((X.shape[0], n_components), dtype=X.dtype)
    resp[np.arange(X.shape[0]), labels] = 1
    return resp


def _as_gaussian_mixture(gmm, params, n_features):
    """Set the fitted attributes of ``gmm`` from ``params``."""
    gmm.weights_, gmm.means_, gmm.covariances_, gmm.precisions_cholesky_ = params
    if gmm.covariance_type == "full":
        prec_chol = gmm.precisions_cholesky_
        gmm.precisions_ = prec_chol @ prec_chol.transpose(0, 2, 1)
    else:
        gmm.precisions_ = gmm.precisions_cholesky_**2
    gmm.n_features_in_ = n_features
    return gmm


def _fit_gaussian_mixture(
    X,
    n_components,
    *,
    covariance_type="full",
    reg_covar=1e-6,
    tol=1e-3,
    max_iter=100,
    n_init=1,
    random_state=None,
    prune=True,
):
    """Fit a Gaussian mixture as ``GaussianMixture(...).fit(X)`` does.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data; float64 with "full" or "diag" takes the vectorised EM, anything
        else ``GaussianMixture.fit``.
    n_components : int
        Number of Gaussian components (at most ``n_samples``).
    covariance_type, reg_covar, tol, max_iter, n_init, random_state
        As for :class:`~sklearn.mixture.GaussianMixture`.
    prune : bool, default=True
        Skip the "full" log-densities whose posterior is certainly below
        ``exp(-37)`` (see the module docstring); False computes them all
        (such posteriors are set to 0 either way).

    Returns
    -------
    gmm : sklearn.mixture.GaussianMixture
        The fitted mixture (``weights_``, ``means_``, ``covariances_``,
        ``precisions_cholesky_``, ``precisions_``, ``converged_``,
        ``n_iter_``, ``lower_bound_``, ``lower_bounds_``, ``n_features_in_``).
    resp : ndarray of shape (n_samples, n_components)
        Posteriors of ``X`` under ``gmm`` (``gmm.predict_proba(X)``).

    Raises
    ------
    ValueError
        When a covariance is not positive definite (singular data without
        enough ``reg_covar``), with scikit-learn's message.
    """
    gmm = GaussianMixture(
        n_components=n_components,
        covariance_type=covariance_type,
        tol=tol,
        reg_covar=reg_covar,
        max_iter=max_iter,
        n_init=n_init,
        random_state=random_state,
    )
    if X.dtype != np.float64 or covariance_type not in _FAST_TYPES:
        gmm.fit(X)
        return gmm, gmm.predict_proba(X)

    n_samples, n_features = X.shape
    if n_samples < n_components:
        raise ValueError(
            "Expected n_samples >= n_components but got n_components = "
            f"{n_components}, n_samples = {n_samples}"
        )
    X2 = X * X if covariance_type == "diag" else None
    rng = check_random_state(random_state)
    best = None
    for _ in range(n_init):
        resp = _kmeans_resp(X, n_components, rng)
        params = _m_step(X, X2, resp, reg_covar, covariance_type, n_samples)
        lower_bound = -np.inf
        bounds = []
        converged = False
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            previous = lower_bound
            lower_bound, resp = _e_step(X, X2, params, covariance_type, prune)
            params = _m_step(X, X2, resp, reg_covar, covariance_type)
            bounds.append(lower_bound)
            if abs(lower_bound - previous) < tol:
                converged = True
                break
        if best is None or lower_bound > best[0]:
            best = (lower_bound, params, n_iter, bounds, converged)
    lower_bound, params, n_iter, bounds, converged = best
    if not converged:
        warnings.warn(
            "Best performing initialization did not converge. Try different init "
            "parameters, or increase max_iter, tol, or check for degenerate data.",
            ConvergenceWarning,
            stacklevel=2,
        )
    _as_gaussian_mixture(gmm, params, n_features)
    gmm.converged_ = converged
    gmm.n_iter_ = n_iter
    gmm.lower_bound_ = lower_bound
    gmm.lower_bounds_ = bounds
    _, resp = _e_step(X, X2, params, covariance_type, prune)
    return gmm, resp


def _mixture_posteriors(gmm, X):
    """Posteriors of ``X`` under a fitted ``gmm``, as ``gmm.predict_proba(X)``.

    Float64 "full" and "diag" mixtures use the E-step of
    :func:`_fit_gaussian_mixture` (so that the training data get the same
    posteriors, bit for bit, as in the fit); others call ``predict_proba``.
    """
    if X.dtype != np.float64 or gmm.covariance_type not in _FAST_TYPES:
        return gmm.predict_proba(X)
    params = (gmm.weights_, gmm.means_, gmm.covariances_, gmm.precisions_cholesky_)
    X2 = X * X if gmm.covariance_type == "diag" else None
    return _e_step(X, X2, params, gmm.covariance_type, prune=True)[1]
