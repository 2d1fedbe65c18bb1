"""TransRate: mutual information between features and labels via coding rates."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Real

import numpy as np
from scipy.linalg import lapack
from sklearn.base import BaseEstimator, _fit_context
from sklearn.preprocessing import normalize
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from sktransfer._base import TransferabilityMixin
from sktransfer.metrics._stats import _StreamingMixin

__all__ = ["TransRate", "transrate_score"]

# Switches fixed by each reference implementation (see the TransRate docstring).
_COMPAT = {
    "tllib": {
        "class_weight": "uniform",
        "row_normalize": False,
        "trace_normalize": False,
        "rank_normalize": False,
    },
    "official": {
        "class_weight": "size",
        "row_normalize": True,
        "trace_normalize": True,
        "rank_normalize": True,
    },
}


def _rank_from_eigenvalues(eigenvalues, size):
    """Numerical rank with ``numpy.linalg.matrix_rank``'s default tolerance."""
    eigenvalues = np.abs(eigenvalues)
    if eigenvalues.size == 0 or eigenvalues.max() == 0:
        return 0
    tol = eigenvalues.max() * size * np.finfo(np.float64).eps
    return int(np.count_nonzero(eigenvalues > tol))


def _transrate_from_eigenvalues(
    eig_z,
    eig_zc,
    class_counts,
    *,
    eps,
    rank_z=None,
    class_weight="size",
    trace_normalize=False,
):
    """Stage 2 of TransRate: the score from the spectra of the covariance matrices.

    Parameters
    ----------
    eig_z : ndarray of shape (d,)
        Eigenvalues of ``Z.T @ Z / n`` (or singular values, for the projected
        path of the official code).
    eig_zc : sequence of ndarray
        Row ``c``: eigenvalues of ``Z_c.T @ Z_c / n_c``.
    class_counts : ndarray of shape (n_classes,)
        Number of samples ``n_c`` of each class.
    eps : float
        Distortion (the reference's "eps^2").
    rank_z : int or None
        If given, the coding rates are divided by it (rank normalisation).
    class_weight : {"size", "uniform"}
        Weights ``n_c / n`` or ``1 / K`` of the class-conditional rates.
    trace_normalize : bool
        Divide every eigenvalue by ``sum(eig_z)``.

    Returns
    -------
    transrate, rate, conditional_rate : float
    """
    class_counts = np.asarray(class_counts, dtype=np.float64)
    scale = eps * (np.sum(eig_z) if trace_normalize else 1.0)
    norm = 2.0 * (rank_z if rank_z is not None else 1.0)
    rate = np.log1p(np.abs(eig_z) / scale).sum() / norm
    class_rates = np.array([np.log1p(np.abs(ev) / scale).sum() / norm for ev in eig_zc])
    if class_weight == "size":
        weights = class_counts / class_counts.sum()
    else:
        weights = np.full(class_counts.shape[0], 1.0 / class_counts.shape[0])
    conditional_rate = float(weights @ class_rates)
    return float(rate - conditional_rate), float(rate), conditional_rate


def _half_logdet(gram, m, scale):
    """``0.5 * log det(I + gram / (m * scale))`` for a PSD Gram matrix (in place)."""
    gram /= m * scale
    gram.flat[:: gram.shape[0] + 1] += 1.0
    # LAPACK's potrf directly: numpy's cholesky is ~3x slower at D ~ 500, which
    # matters with one factorisation per class.
    chol, info = lapack.dpotrf(gram, lower=1, clean=0)
    if info != 0:  # pragma: no cover - roundoff safety net
        return 0.5 * np.log(np.clip(np.linalg.eigvalsh(gram), 1.0, None)).sum()
    return np.log(np.diagonal(chol)).sum()


def _lda_projected_spectra(Z, y, class_counts):
    """Spectra of the official "projected" path (LDA-like projection).

    With ``S_f = Z.T Z / n``, ``S_g = sum_c n_c/n mu_c mu_c^T = B B^T`` and
    ``P = pinv(S_f) S_g``, return the singular values of ``S_f P`` and of
    ``(Z_c^T Z_c / n_c - mu_c mu_c^T) P`` for every class. Every such matrix is
    ``L B^T`` with ``L`` of shape (d, K); with the thin QR ``B = Q R``, its
    singular values are those of the d x K matrix ``L R^T``: no D x D product
    per class, and no square root of roundoff-level eigenvalues.
    """
    n, d = Z.shape
    n_classes = class_counts.shape[0]
    means = np.empty((n_classes, d))
    for c in range(n_classes):
        means[c] = Z[y == c].mean(axis=0)
    B = (means * np.sqrt(class_counts / n)[:, None]).T  # (d, K)
    evals, Q = np.linalg.eigh(Z.T @ Z / n)
    keep = evals > 1e-15 * evals.max()
    W = Q[:, keep] @ ((Q[:, keep].T @ B) / evals[keep][:, None])  # pinv(S_f) B
    R_t = np.linalg.qr(B, mode="r").T

    def singular_values(L):
        return np.linalg.svd(L @ R_t, compute_uv=False)

    eig_z = singular_values(Z.T @ (Z @ W) / n)
    eig_zc = []
    for c in range(n_classes):
        Zc = Z[y == c]
        L = Zc.T @ (Zc @ W) / class_counts[c] - np.outer(means[c], means[c] @ W)
        eig_zc.append(singular_values(L))
    return eig_z, eig_zc


def _transrate(
    X,
    y,
    *,
    eps,
    class_weight,
    row_normalize,
    trace_normalize,
    rank_normalize,
    projection,
):
    """TransRate kernel on validated float64 ``X`` and encoded labels ``y``."""
    n, d = X.shape
    if row_normalize and d == 1:
        raise ValueError(
            "TransRate with row_normalize=True requires at least 2 features; got "
            "n_features = 1, for which every row normalises to +1 or -1."
        )
    Z = normalize(X) if row_normalize else X
    mean = Z.mean(axis=0)
    if row_normalize:  # Z is a copy: centre and normalise it in place
        Z -= mean
        Z = normalize(Z, copy=False)
    class_counts = np.bincount(y).astype(np.float64)

    if projection == "lda":
        Z = Z if row_normalize else Z - mean
        eig_z, eig_zc = _lda_projected_spectra(Z, y, class_counts)
        rank = _rank_from_eigenvalues(eig_z, d) if rank_normalize else None
        return _transrate_from_eigenvalues(
            eig_z,
            eig_zc,
            class_counts,
            eps=eps,
            rank_z=rank,
            class_weight=class_weight,
            trace_normalize=trace_normalize,
        )

    # Rows sorted by class, the small classes first: each class is a
    # contiguous block, and (when n > d) the global Gram is the sum of the
    # large classes' D x D Grams plus one product over the small classes' rows,
    # so the N D^2 pass is done once. The sorted, centred rows are the only
    # N x D copy of X.
    small = class_counts < d
    if n > d:
        # A class's log-determinant on the n_c x n_c side costs its own Gram
        # (n_c^2 D) and a Cholesky (n_c^3 / 3); on the D x D side its Gram is
        # part of the global one, leaving a Cholesky (D^3 / 3). Take the
        # cheaper: the small side only for n_c below about D / 2.
        small &= class_counts**2 * (d + class_counts / 3) < d**3 / 3
    order = np.lexsort((y, small[y] == 0))
    Zs = Z[order]
    if not row_normalize:
        Zs -= mean
    trace = np.einsum("ij,ij->", Zs, Zs) / n
    scale = eps * (trace if trace_normalize else 1.0)
    if trace == 0:
        raise ValueError(
            "TransRate is undefined for constant features: X has no variance "
            "after centring."
        )
    n_small = int(class_counts[small].sum())
    if n > d:
        gram = Zs[:n_small].T @ Zs[:n_small]
    else:
        gram = Zs @ Zs.T
    class_rates = np.empty(class_counts.shape[0])
    lo = 0
    for c in np.concatenate([np.flatnonzero(small), np.flatnonzero(~small)]):
        block = Zs[lo : lo + int(class_counts[c])]
        lo += block.shape[0]
        if small[c]:
            class_gram = block @ block.T
        else:
            class_gram = block.T @ block
            gram += class_gram
        class_rates[c] = _half_logdet(class_gram, class_counts[c], scale)
    if rank_normalize:
        eig_z = np.clip(np.linalg.eigvalsh(gram / n), 0.0, None)
        norm = _rank_from_eigenvalues(eig_z, d)
        rate = 0.5 * np.log1p(eig_z / scale).sum() / norm
    else:
        # Only the log-determinant is needed: a Cholesky factorisation costs
        # a fraction of the eigenvalues (tridiagonal reduction) at large D.
        norm = 1.0
        rate = _half_logdet(gram, n, scale)
    class_rates /= norm
    if class_weight == "size":
        weights = class_counts / n
    else:
        weights = np.full(class_counts.shape[0], 1.0 / class_counts.shape[0])
    conditional_rate = float(weights @ class_rates)
    if not np.isfinite(rate - conditional_rate):
        raise ValueError(
            "TransRate is not finite: the features are too large in magnitude "
            "(their squares overflow float64); rescale X."
        )
    return float(rate - conditional_rate), float(rate), conditional_rate


def _transrate_from_statistics(
    stats,
    *,
    eps,
    class_weight,
    row_normalize,
    trace_normalize,
    rank_normalize,
    projection,
):
    """TransRate from :class:`ClassStatistics` with per-class scatter matrices.

    ``Z`` is ``X`` centred on the global mean: its class Gram matrices are
    ``S_c + n_c m_c m_c^T`` with ``S_c`` the class scatter and ``m_c`` the
    class mean of ``Z``. The log-determinants are taken on the D x D side.
    """
    n, d = stats.n_samples_, stats.n_features_in_
    counts = stats.counts_
    means = stats.means_ - stats.mean_
    gram = stats.scatter()
    if projection == "lda":
        B = (means * np.sqrt(counts / n)[:, None]).T
        evals, Q = np.linalg.eigh(gram / n)
        keep = evals > 1e-15 * evals.max()
        W = Q[:, keep] @ ((Q[:, keep].T @ B) / evals[keep][:, None])
        R_t = np.linalg.qr(B, mode="r").T
        eig_z = np.linalg.svd(gram @ W @ R_t / n, compute_uv=False)
        # (Z_c^T Z_c / n_c - m_c m_c^T) W = S_c W / n_c.
        eig_zc = [
            np.linalg.svd(S_c @ W @ R_t / n_c, compute_uv=False)
            for S_c, n_c in zip(stats.class_scatter_, counts, strict=True)
        ]
        rank = _rank_from_eigenvalues(eig_z, d) if rank_normalize else None
        return _transrate_from_eigenvalues(
            eig_z,
            eig_zc,
            counts,
            eps=eps,
            rank_z=rank,
            class_weight=class_weight,
            trace_normalize=trace_normalize,
        )
    trace = np.trace(gram) / n
    if trace == 0:
        raise ValueError(
            "TransRate is undefined for constant features: X has no variance "
            "after centring."
        )
    scale = eps * (trace if trace_normalize else 1.0)
    class_rates = np.array(
        [
            _half_logdet(S_c + n_c * np.outer(m_c, m_c), n_c, scale)
            for S_c, n_c, m_c in zip(stats.class_scatter_, counts, means, strict=True)
        ]
    )
    eig_z = np.clip(np.linalg.eigvalsh(gram / n), 0.0, None)
    norm = _rank_from_eigenvalues(eig_z, d) if rank_normalize else 1.0
    rate = 0.5 * np.log1p(eig_z / scale).sum() / norm
    class_rates /= norm
    if class_weight == "size":
        weights = counts / n
    else:
        weights = np.full(counts.shape[0], 1.0 / counts.shape[0])
    conditional_rate = float(weights @ class_rates)
    return float(rate - conditional_rate), float(rate), conditional_rate


class TransRate(_StreamingMixin, TransferabilityMixin, BaseEstimator):
    """TransRate: mutual information between features and labels via coding rates.

    TransRate estimates the mutual information between the target features
    and the labels as the difference between the coding rate of all the
    (centred) features and the weighted coding rates of each class's features.
    High values mean features that are diverse overall (complete) and compact
    within each class. Higher means more transferable.

    Parameters
    ----------
    eps : float, default=1e-4
        Distortion of the coding rate (the reference's ``eps``, which plays the
        role of epsilon squared).
    class_weight : {"size", "uniform"}, default="size"
        Weight of each class's coding rate: its frequency ``n_c / n`` (the
        official code) or ``1 / K`` (Transfer-Learning-Library).
    row_normalize : bool, default=False
        L2-normalise each row before and after the global centring (official
        pipeline). Makes the score invariant to the scale of ``X``.
    trace_normalize : bool, default=False
        Divide all eigenvalues by the trace of ``Z^T Z / n`` (official).
    rank_normalize : bool, default=False
        Divide the coding rates by the rank of ``Z^T Z / n`` (official). With
        ``trace_normalize``, it makes layers of different widths comparable.
    projection : {"lda"} or None, default=None
        ``"lda"`` uses the official "projected" path: the covariances are
        multiplied by ``pinv(S_f) S_g`` (the between-class scatter), leaving
        rank ``K - 1``; the spectra are singular values, as in the official
        stage 1.
    compat : {"tllib", "official"} or None, default=None
        Reproduce a reference implementation. When set, it overrides
        ``class_weight``, ``row_normalize``, ``trace_normalize`` and
        ``rank_normalize`` (``eps`` and ``projection`` stay as given, as the
        references take them as arguments):

        - ``"tllib"``: ``class_weight="uniform"`` and no normalisation
          (Transfer-Learning-Library, the widely copied port);
        - ``"official"``: ``class_weight="size"``, row, trace and rank
          normalisation (Long-Kai/TransRate). Its projected path is
          ``compat="official", projection="lda"``.

    Attributes
    ----------
    score_ : float
        TransRate on the training data, ``rate_ - conditional_rate_``.
    rate_ : float
        Coding rate ``R(Z)`` of all features.
    conditional_rate_ : float
        Weighted coding rate of the classes, ``R(Z | Y)``.
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
    transrate_score : Function form of this estimator.
    LogME : Evidence-based transferability.

    Notes
    -----
    With ``Z`` the globally centred features (not re-centred per class) and
    ``Z_c`` the rows of class ``c``,

    .. math::

        R(Z) = \\frac{1}{2}\\log\\det\\left(I + \\frac{Z^\\top Z}{n\\,\\epsilon}
        \\right), \\qquad
        \\mathrm{TransRate} = R(Z) - \\sum_c w_c R(Z_c).

    Each log-determinant is computed on the cheaper side, ``n_c x n_c`` (for
    ``n_c`` below about ``D / 2``) or ``D x D`` (Sylvester's identity), with a
    Cholesky factorisation, so many small classes stay cheap; the global
    one too (no eigenvalues unless ``rank_normalize``). Cost: ``O(N D^2 + D^3
    + sum_c min(n_c^2 D, D^3))``. The projected path costs ``O(N D^2 + D^3 + N D K)``.

    The score is not invariant to the scale of ``X`` unless
    ``row_normalize=True``; without trace and rank normalisation, it is not
    comparable across feature dimensions.

    ``score(X, y)`` recomputes TransRate on ``(X, y)``; there is no fitted
    state.

    References
    ----------
    .. [1] L.-K. Huang, J. Huang, Y. Rong, Q. Yang, Y. Wei, "Frustratingly Easy
       Transferability Estimation", ICML 2022. Reference code:
       Long-Kai/TransRate (official), Transfer-Learning-Library
       (``tllib/ranking/transrate.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import TransRate
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> X = np.eye(3)[y] + 0.1 * rng.normal(size=(300, 3))
    >>> est = TransRate().fit(X, y)
    >>> bool(est.score_ > 0)
    True
    >>> bool(np.isclose(est.score_, est.rate_ - est.conditional_rate_))
    True
    """

    _parameter_constraints: dict = {
        "eps": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [StrOptions({"size", "uniform"})],
        "row_normalize": ["boolean"],
        "trace_normalize": ["boolean"],
        "rank_normalize": ["boolean"],
        "projection": [StrOptions({"lda"}), None],
        "compat": [StrOptions({"tllib", "official"}), None],
    }

    def __init__(
        self,
        *,
        eps=1e-4,
        class_weight="size",
        row_normalize=False,
        trace_normalize=False,
        rank_normalize=False,
        projection=None,
        compat=None,
    ):
        self.eps = eps
        self.class_weight = class_weight
        self.row_normalize = row_normalize
        self.trace_normalize = trace_normalize
        self.rank_normalize = rank_normalize
        self.projection = projection
        self.compat = compat

    def _settings(self):
        settings = {
            "eps": self.eps,
            "class_weight": self.class_weight,
            "row_normalize": self.row_normalize,
            "trace_normalize": self.trace_normalize,
            "rank_normalize": self.rank_normalize,
            "projection": self.projection,
        }
        settings.update(_COMPAT.get(self.compat, {}))
        return settings

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute TransRate of ``X`` for the labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features of the target data extracted by a pretrained model.
        y : array-like of shape (n_samples,)
            Class labels (any values).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        fitted, X, y = self._device_fit(X, y)
        if fitted is not None:
            return fitted
        X, y = self._validate_input(X, y, reset=True)
        self.score_, self.rate_, self.conditional_rate_ = _transrate(
            X, y, **self._settings()
        )
        return self

    _statistics_params = {"class_scatter": True}

    def _check_streamable(self):
        if self._settings()["row_normalize"]:
            raise NotImplementedError(
                "TransRate with row_normalize=True (or compat='official') cannot "
                "be computed from class statistics (partial_fit, fit_statistics, "
                "array-API inputs): its second normalisation follows the global "
                "centring, so it needs two passes. Use row_normalize=False, or "
                "normalise the rows yourself and pass numpy arrays to fit."
            )

    def _fit_statistics(self, stats):
        self.score_, self.rate_, self.conditional_rate_ = _transrate_from_statistics(
            stats, **self._settings()
        )

    def _compute_score(self, X, y):
        return _transrate(X, y, **self._settings())[0]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def transrate_score(
    X,
    y,
    *,
    eps=1e-4,
    class_weight="size",
    row_normalize=False,
    trace_normalize=False,
    rank_normalize=False,
    projection=None,
    compat=None,
):
    """Compute TransRate, the coding-rate estimate of feature-label information.

    Function form of :class:`TransRate`; see it for the maths and parameters.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,)
        Class labels.
    eps : float, default=1e-4
        Distortion of the coding rate.
    class_weight : {"size", "uniform"}, default="size"
        Weight of the class-conditional coding rates.
    row_normalize : bool, default=False
        L2-normalise rows before and after centring.
    trace_normalize : bool, default=False
        Divide eigenvalues by the trace of the feature covariance.
    rank_normalize : bool, default=False
        Divide coding rates by the rank of the feature covariance.
    projection : {"lda"} or None, default=None
        Use the official LDA-like projected path.
    compat : {"tllib", "official"} or None, default=None
        Reproduce a reference implementation.

    Returns
    -------
    score : float
        TransRate; higher means more transferable.

    See Also
    --------
    TransRate : Estimator form, with ``rate_`` and ``conditional_rate_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import transrate_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> informative = np.eye(3)[y] + 0.1 * rng.normal(size=(300, 3))
    >>> noise = rng.normal(size=(300, 3))
    >>> bool(transrate_score(informative, y) > transrate_score(noise, y))
    True
    """
    return (
        TransRate(
            eps=eps,
            class_weight=class_weight,
            row_normalize=row_normalize,
            trace_normalize=trace_normalize,
            rank_normalize=rank_normalize,
            projection=projection,
            compat=compat,
        )
        .fit(X, y)
        .score_
    )
