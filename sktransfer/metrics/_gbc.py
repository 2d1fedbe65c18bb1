"""GBC: the Gaussian Bhattacharyya Coefficient between target classes."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from scipy import sparse
from scipy.linalg import eigh
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import (
    Interval,
    RealNotInt,
    StrOptions,
    validate_params,
)

from sktransfer._base import TransferabilityMixin
from sktransfer.metrics._pca import _resolve_n_components, pca_project
from sktransfer.metrics._stats import _StreamingMixin

__all__ = ["GBC", "gbc_score"]

# Elements of the (rows, C, d) block of pairwise terms of the diagonal case.
_BLOCK_ELEMENTS = 1 << 20
# The stable_transfer floor of the class variances (absolute).
_STABLE_TRANSFER_FLOOR = 1e-4
# E[z^2] - E[z]^2 is used for the class variances when no squared class mean
# exceeds this times its variance (at most 4 digits lost).
_MAX_MEAN_DOMINANCE = 1e4


def _class_sums(X, y, n_classes):
    """Row sums of ``X`` per class, shape (n_classes, n_features), in O(N d)."""
    n = X.shape[0]
    indicator = sparse.csr_matrix((np.ones(n), (y, np.arange(n))), shape=(n_classes, n))
    return np.asarray(indicator @ X)


def _class_moments(Z, y, counts):
    """Per-class means and population variances (divisor ``n_c``) of ``Z``.

    From the class sums of ``Z`` and of ``Z**2`` (``E[z^2] - E[z]^2``, one
    N x d temporary), which loses about ``log10(mu^2 / var)`` digits of a
    variance: when some class mean dominates its spread by more than
    ``_MAX_MEAN_DOMINANCE``, the variances are recomputed from the deviations
    ``Z - means[y]`` instead (in the same temporary).
    """
    n_classes = counts.shape[0]
    means = _class_sums(Z, y, n_classes) / counts[:, None]
    squares = np.square(Z)
    var = _class_sums(squares, y, n_classes) / counts[:, None] - means**2
    if not np.all(means**2 <= _MAX_MEAN_DOMINANCE * var):
        np.subtract(Z, means[y], out=squares)
        np.square(squares, out=squares)
        var = _class_sums(squares, y, n_classes) / counts[:, None]
    return means, var


def _spherical_distances(means, var, log_weight):
    """Bhattacharyya distances between spherical Gaussians, all pairs at once.

    ``means`` (C, d), ``var`` (C,); the log-determinant term is multiplied by
    ``log_weight`` (``d`` for the exact distance, 1 for stable_transfer).
    """
    sq_norms = np.einsum("ij,ij->i", means, means)
    sq_dist = sq_norms[:, None] + sq_norms[None, :] - 2.0 * (means @ means.T)
    np.maximum(sq_dist, 0.0, out=sq_dist)
    np.fill_diagonal(sq_dist, 0.0)
    avg = 0.5 * (var[:, None] + var[None, :])
    log_var = np.log(var)
    log_term = np.log(avg) - 0.5 * (log_var[:, None] + log_var[None, :])
    return sq_dist / (8.0 * avg) + 0.5 * log_weight * log_term


def _diagonal_distances(means, var):
    """Bhattacharyya distances between diagonal Gaussians, in blocks of rows."""
    n_classes, d = means.shape
    sum_log_var = np.log(var).sum(axis=1)
    distances = np.empty((n_classes, n_classes))
    step = max(1, _BLOCK_ELEMENTS // (n_classes * d))
    for start in range(0, n_classes, step):
        rows = slice(start, start + step)
        avg = 0.5 * (var[rows, None, :] + var[None, :, :])
        quad = ((means[rows, None, :] - means[None, :, :]) ** 2 / avg).sum(axis=2)
        log_term = np.log(avg).sum(axis=2) - 0.5 * (
            sum_log_var[rows, None] + sum_log_var[None, :]
        )
        distances[rows] = quad / 8.0 + 0.5 * log_term
    return distances


def _gbc(X, y, *, n_components, gaussian, var_floor, compat):
    """GBC kernel on validated float64 ``X`` and encoded labels ``y``.

    Returns ``(score, distances, n_components)``.
    """
    n = X.shape[0]
    mean = X.mean(axis=0)
    Z, _ = pca_project(X, n_components, name="GBC", mean=mean)
    counts = np.bincount(y).astype(np.float64)
    means, var = _class_moments(Z, y, counts)
    # The per-dimension variances of Z by the law of total variance (no
    # further pass over Z).
    centre = counts @ means / n
    variances = counts @ (var + (means - centre) ** 2) / n
    return _gbc_from_moments(
        means,
        var,
        variances,
        n,
        mean,
        gaussian=gaussian,
        var_floor=var_floor,
        compat=compat,
    )


def _gbc_from_moments(means, var, variances, n, mean, *, gaussian, var_floor, compat):
    """GBC from the class means and variances in the reduced space.

    ``means`` (C, d) and ``var`` (C, d) per class, ``variances`` (d,) over all
    samples, ``mean`` the feature means of ``X`` (for the roundoff level of
    constant features). Returns ``(score, distances, d)``; modifies ``means``
    and ``var``.
    """
    d = means.shape[1]
    # Centring the means keeps the Gram form of the squared distances accurate.
    means -= means.mean(axis=0)
    if compat == "stable_transfer":
        floor = _STABLE_TRANSFER_FLOOR
    else:
        # Constant features centre to the roundoff of their mean, not to zero.
        roundoff = n * np.finfo(np.float64).eps * np.linalg.norm(mean)
        if not variances.sum() > roundoff**2:
            raise ValueError(
                "GBC is undefined for constant features: X has no variance after "
                "centring."
            )
        floor = var_floor * variances.mean()
    var = np.maximum(var, floor)
    if gaussian == "spherical":
        log_weight = 1.0 if compat == "stable_transfer" else float(d)
        distances = _spherical_distances(means, var.mean(axis=1), log_weight)
    else:
        distances = _diagonal_distances(means, var)
    np.fill_diagonal(distances, 0.0)
    coefficients = np.exp(-distances)
    np.fill_diagonal(coefficients, 0.0)
    return -float(coefficients.sum()), distances, d


def _gbc_from_statistics(stats, *, n_components, gaussian, var_floor, compat):
    """GBC from :class:`ClassStatistics` with per-class scatter matrices.

    The PCA comes from the accumulated D x D scatter matrix (as ``pca_project``
    does when ``n_samples > n_features``); the class variances in the
    projected space are ``diag(V^T S_c V) / n_c``.
    """
    n, D = stats.n_samples_, stats.n_features_in_
    scatter = stats.scatter()
    k = _resolve_n_components(n_components, int(n), D, "GBC")
    class_scatter = stats.class_scatter_
    counts = stats.counts_
    if k is None:
        means = stats.means_.copy()
        var = np.diagonal(class_scatter, axis1=1, axis2=2) / counts[:, None]
        variances = np.diagonal(scatter) / n
    else:
        total = np.trace(scatter)
        if isinstance(k, float):
            evals = np.clip(np.linalg.eigvalsh(scatter)[::-1], 0.0, None)
            ratio = evals / total if total > 0 else np.zeros_like(evals)
            k = int(np.searchsorted(np.cumsum(ratio), k, side="right") + 1)
        k = min(k, D)
        evals, V = eigh(scatter, subset_by_index=[D - k, D - 1])
        evals, V = np.clip(evals[::-1], 0.0, None), V[:, ::-1]
        signs = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(k)])
        signs[signs == 0] = 1.0
        V = V * signs
        means = (stats.means_ - stats.mean_) @ V
        SV = (class_scatter.reshape(-1, D) @ V).reshape(counts.shape[0], D, k)
        var = np.einsum("cdk,dk->ck", SV, V) / counts[:, None]
        variances = evals / n
    return _gbc_from_moments(
        means,
        var,
        variances,
        n,
        stats.mean_,
        gaussian=gaussian,
        var_floor=var_floor,
        compat=compat,
    )


class GBC(_StreamingMixin, TransferabilityMixin, BaseEstimator):
    """Gaussian Bhattacharyya Coefficient (GBC): overlap between the classes.

    GBC reduces the target features with PCA, models each class as a
    Gaussian (spherical or diagonal covariance), and sums the Bhattacharyya
    coefficients of every ordered pair of distinct classes. Well-separated
    classes overlap little, so the negated sum is higher for features that
    transfer better. Input: features.

    Parameters
    ----------
    n_components : int, float or None, default=64
        PCA size before the class statistics: a number of components (clipped
        to ``min(n_samples, n_features)`` with a ``UserWarning``), a fraction
        in (0, 1) of the variance to keep, or None for no PCA. The reference
        pipeline uses 64.
    gaussian : {"spherical", "diagonal"}, default="spherical"
        Covariance of each class's Gaussian: the mean of its per-dimension
        variances times the identity (the reference for classification), or
        the per-dimension variances (the reference for segmentation).
    var_floor : float, default=1e-4
        Lower bound of the per-dimension class variances, as a fraction of the
        mean per-dimension variance of the (projected) features, so that a
        class with a constant dimension keeps finite distances and the score
        stays invariant to the scale of ``X``. Ignored with
        ``compat="stable_transfer"``.
    compat : {"stable_transfer"} or None, default=None
        Reproduce a reference implementation:

        - ``None``: the exact Bhattacharyya distance between the Gaussians,
          with the relative variance floor above;
        - ``"stable_transfer"``: google-research ``stable_transfer``
          (``get_gbc_score``, the authors' code), with its absolute variance
          floor of ``1e-4`` and, for spherical Gaussians, its log-determinant
          term taken once instead of ``d`` times (see Notes). For diagonal
          Gaussians its distance is the exact one. Its PCA step
          (``sklearn.decomposition.PCA(svd_solver="full")``, float32 output)
          gives the same subspace as ours; we compute in float64. Constant
          features give ``-C (C - 1)`` there (every variance is floored),
          where the default raises a ``ValueError``.

    Attributes
    ----------
    score_ : float
        GBC on the training data, in ``[-C (C - 1), 0]``.
    bhattacharyya_distance_ : ndarray of shape (n_classes, n_classes)
        Bhattacharyya distance between the Gaussians of every pair of classes
        (symmetric, zero diagonal); ``score_`` is ``-sum(exp(-distance))``
        over the off-diagonal entries.
    n_components_ : int
        Number of dimensions after the PCA step.
    statistics_ : ClassStatistics
        The sufficient statistics accumulated by :meth:`partial_fit` or
        given to :meth:`fit_statistics` (``fit`` does not keep any). See
        :ref:`streaming`.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    gbc_score : Function form of this estimator.
    HScore : Class-mean covariance based transferability.

    Notes
    -----
    After PCA to ``d`` dimensions, each class ``c`` has mean ``mu_c`` and
    per-dimension population variances (divisor ``n_c``) ``v_c``, floored;
    the spherical model uses their mean ``v_c`` times ``I_d``. With ``v =
    (v_c + v_c') / 2``, the Bhattacharyya distance between two diagonal
    Gaussians is

    .. math::

        D_B(c, c') = \\frac{1}{8} \\sum_k \\frac{(\\mu_{ck} - \\mu_{c'k})^2}{v_k}
        + \\frac{1}{2} \\sum_k \\left(\\log v_k - \\tfrac{1}{2}\\log v_{ck}
        - \\tfrac{1}{2}\\log v_{c'k}\\right),

    which for spherical Gaussians is ``||mu_c - mu_c'||^2 / (8 v) + (d / 2)
    (log v - log(v_c) / 2 - log(v_c') / 2)``; the stable_transfer code omits
    the factor ``d`` of the second term, which under-weights differences of
    spread (the term is non-negative). Then

    .. math::

        \\mathrm{GBC} = -\\sum_{c} \\sum_{c' \\neq c} e^{-D_B(c, c')},

    over ordered pairs (each unordered pair counts twice), so fully
    overlapping classes give ``-C (C - 1)`` and perfectly separated ones 0.
    Higher means more transferable. The score is invariant to translations
    and to a common scaling of ``X`` (the floor is relative), and to rotations
    of ``X`` with the PCA step or with spherical Gaussians.

    Cost: the PCA, ``O(N D min(N, D) + min(N, D)^3)``, then one pass over the
    projected data for the class statistics, ``O(N d)``, and the C x C
    distance matrix, one ``C x d`` GEMM for spherical Gaussians, ``O(C^2 d)``
    for diagonal ones (no loop over the class pairs).

    ``score(X, y)`` recomputes the PCA and GBC on ``(X, y)``; it does not reuse
    the fitted projection or distances.

    References
    ----------
    .. [1] M. Pándy, A. Agostinelli, J. Uijlings, V. Ferrari, T. Mensink,
       "Transferability Estimation using Bhattacharyya Class Separability",
       CVPR 2022. Reference code: google-research
       ``stable_transfer/transferability/gbc.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import GBC
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> X = 3 * np.eye(3)[y] + 0.5 * rng.normal(size=(300, 3))
    >>> est = GBC(n_components=None).fit(X, y)
    >>> bool(-6 <= est.score_ <= 0), est.bhattacharyya_distance_.shape
    (True, (3, 3))
    """

    _parameter_constraints: dict = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            None,
        ],
        "gaussian": [StrOptions({"spherical", "diagonal"})],
        "var_floor": [Interval(Real, 0, None, closed="neither")],
        "compat": [StrOptions({"stable_transfer"}), None],
    }

    _min_samples_per_class = 2

    def __init__(
        self, *, n_components=64, gaussian="spherical", var_floor=1e-4, compat=None
    ):
        self.n_components = n_components
        self.gaussian = gaussian
        self.var_floor = var_floor
        self.compat = compat

    def _run(self, X, y):
        return _gbc(
            X,
            y,
            n_components=self.n_components,
            gaussian=self.gaussian,
            var_floor=self.var_floor,
            compat=self.compat,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute GBC of ``X`` for the labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features of the target data extracted by a pretrained model.
        y : array-like of shape (n_samples,)
            Class labels (any values), at least 2 samples per class.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        fitted, X, y = self._device_fit(X, y)
        if fitted is not None:
            return fitted
        X, y = self._validate_input(X, y, reset=True)
        self.score_, self.bhattacharyya_distance_, self.n_components_ = self._run(X, y)
        return self

    _statistics_params = {"class_scatter": True}

    def _fit_statistics(self, stats):
        self.score_, self.bhattacharyya_distance_, self.n_components_ = (
            _gbc_from_statistics(
                stats,
                n_components=self.n_components,
                gaussian=self.gaussian,
                var_floor=self.var_floor,
                compat=self.compat,
            )
        )

    def _compute_score(self, X, y):
        return self._run(X, y)[0]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def gbc_score(
    X, y, *, n_components=64, gaussian="spherical", var_floor=1e-4, compat=None
):
    """Compute GBC, the negated sum of the Bhattacharyya coefficients of classes.

    Function form of :class:`GBC`; see it for the maths and the parameters.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,)
        Class labels, at least 2 samples per class.
    n_components : int, float or None, default=64
        PCA size (int, variance fraction, or None for no PCA).
    gaussian : {"spherical", "diagonal"}, default="spherical"
        Covariance model of each class.
    var_floor : float, default=1e-4
        Floor of the class variances, relative to the mean feature variance.
    compat : {"stable_transfer"} or None, default=None
        Reproduce a reference implementation.

    Returns
    -------
    score : float
        GBC in ``[-C (C - 1), 0]``; higher means more transferable.

    See Also
    --------
    GBC : Estimator form, with the pairwise ``bhattacharyya_distance_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import gbc_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> informative = 3 * np.eye(3)[y] + 0.5 * rng.normal(size=(300, 3))
    >>> noise = rng.normal(size=(300, 3))
    >>> bool(gbc_score(informative, y, n_components=None)
    ...      > gbc_score(noise, y, n_components=None))
    True
    """
    return (
        GBC(
            n_components=n_components,
            gaussian=gaussian,
            var_floor=var_floor,
            compat=compat,
        )
        .fit(X, y)
        .score_
    )
