"""H-score and the shrinkage (Ledoit-Wolf regularised) H-score."""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Real

import numpy as np
from scipy import sparse
from scipy.linalg import lapack, solve_triangular
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from sktransfer._base import TransferabilityMixin
from sktransfer.exceptions import DegenerateScoreWarning
from sktransfer.metrics._stats import _StreamingMixin

__all__ = ["HScore", "ShrinkageHScore", "h_score", "shrinkage_h_score"]

# Rows of X centred at once by the exact fallback and the fourth moment (about
# 32 MB).
_BLOCK_ELEMENTS = 1 << 22
# X^T X - n mu mu^T is used when, for every varying feature, n mu_j^2 is at most
# this times its centred squared norm (at most 4 digits lost, 1e-12 relative
# roundoff left in the standardised scatter matrix).
_MAX_MEAN_DOMINANCE = 1e4
# Reciprocal condition number (LAPACK's 1-norm estimate) above which the
# Cholesky solve is used; below it the eigen-decomposition applies the
# pseudo-inverse cutoff.
_CHOLESKY_RCOND = 1e-8
# Relative cutoff of the stable_transfer pseudo-inverse (``tf.linalg.pinv``).
_STABLE_TRANSFER_RCOND = 1e-5


def _class_sums(X, y, n_classes):
    """Row sums of ``X`` per class, shape (n_classes, n_features), in O(N D)."""
    n = X.shape[0]
    indicator = sparse.csr_matrix((np.ones(n), (y, np.arange(n))), shape=(n_classes, n))
    return np.asarray(indicator @ X)


def _rank_tol(n_samples, n_features):
    """Relative cutoff under which an eigenvalue of a Gram matrix is zero."""
    return max(n_samples, n_features) * np.finfo(np.float64).eps


def _is_varying(sq_norms, mean, n_samples):
    """Mask of the features whose centred squared norms ``sq_norms`` vary.

    A column is constant when its standard deviation is at the level of the
    roundoff of the centring (``N eps |mean|``): a constant column whose mean
    is not exactly representable centres to roundoff, not to zero.
    """
    std = np.sqrt(np.clip(sq_norms, 0.0, None) / n_samples)
    return std > n_samples * np.finfo(np.float64).eps * np.abs(mean)


def _varying_columns(sq_norms, mean, n_samples, name):
    """Mask of the features that vary (see ``_is_varying``); raise if none does."""
    varying = _is_varying(sq_norms, mean, n_samples)
    if not np.any(varying):
        raise ValueError(
            f"{name} is undefined for constant features: X has no variance after "
            "centring."
        )
    return varying


def _feature_side(X, y, counts, *, fourth_moment=False):
    """Statistics of the centred features: one syrk over ``X``, centred after.

    Returns the mean, the D x D scatter ``G = Xc^T Xc``, ``Bt = Xc^T Y
    diag(n_c)^(-1/2)`` of shape (D, C), whose column ``c`` is ``sqrt(n_c)
    (mu_c - mu)``, and, if asked, ``sum_n ||xc_n||^4`` (for the Ledoit-Wolf
    shrinkage). No centred N x D copy of ``X`` is made.

    ``G = X^T X - n mu mu^T`` costs what ``X^T X`` costs; the class sums come
    from one sparse indicator product (``O(N D)``) and give the mean. Entry
    ``(i, j)`` of the standardised ``G`` then carries a roundoff of about
    ``eps sqrt(r_i r_j)``, where ``r_j = n mu_j^2 / G_jj`` is the dominance of
    the mean of feature ``j`` over its spread. A feature whose ``r_j`` exceeds
    ``_MAX_MEAN_DOMINANCE`` (more than 4 digits lost) has its centred norm
    recomputed exactly: if it is constant, its row and column of ``G`` and
    of ``Bt`` are set to zero (its exact centred values are roundoff, and
    constant features are dropped); otherwise the statistics are
    recomputed by centring blocks of rows (``_feature_side_blocked``).
    """
    n, d = X.shape
    n_classes = counts.shape[0]
    sums = _class_sums(X, y, n_classes)
    mean = sums.sum(axis=0) / n
    gram = X.T @ X
    mass = n * mean**2
    gram -= np.outer(np.sqrt(n) * mean, np.sqrt(n) * mean)
    sq_norms = np.diagonal(gram)
    suspect = ~(mass <= _MAX_MEAN_DOMINANCE * sq_norms)
    if np.any(suspect):
        columns = np.flatnonzero(suspect)
        exact = _centred_sq_norms(X, mean, columns)
        if np.any(_is_varying(exact, mean[columns], n)):
            return _feature_side_blocked(X, y, counts, fourth_moment=fourth_moment)
        gram[columns, :] = 0.0
        gram[:, columns] = 0.0
        sums[:, columns] = counts[:, None] * mean[columns]
    Bt = (sums - counts[:, None] * mean) / np.sqrt(counts)[:, None]
    fourth = _fourth_moment(X, mean) if fourth_moment else 0.0
    return mean, gram, Bt.T, fourth


def _centred_sq_norms(X, mean, columns):
    """``sum_n (X[n, j] - mean[j])^2`` for the given columns, by row blocks."""
    step = max(1, _BLOCK_ELEMENTS // max(1, columns.shape[0]))
    out = np.zeros(columns.shape[0])
    for start in range(0, X.shape[0], step):
        block = X[start : start + step, columns] - mean[columns]
        out += np.einsum("ij,ij->j", block, block)
    return out


def _fourth_moment(X, mean):
    """``sum_n ||x_n - mean||^4`` by row blocks (no N x D copy)."""
    step = max(1, _BLOCK_ELEMENTS // X.shape[1])
    fourth = 0.0
    for start in range(0, X.shape[0], step):
        block = X[start : start + step] - mean
        fourth += np.sum(np.einsum("ij,ij->i", block, block) ** 2)
    return fourth


def _feature_side_blocked(X, y, counts, *, fourth_moment=False):
    """``_feature_side`` by centring blocks of rows: the exact fallback.

    Used when the mean of a varying feature dominates its spread so much that
    ``X^T X - n mu mu^T`` would lose more than 4 digits.
    """
    n, d = X.shape
    mean = X.mean(axis=0)
    step = max(1, _BLOCK_ELEMENTS // d)
    gram = np.zeros((d, d))
    sums = np.zeros((counts.shape[0], d))
    fourth = 0.0
    for start in range(0, n, step):
        block = X[start : start + step] - mean
        gram += block.T @ block
        sums += _class_sums(block, y[start : start + step], counts.shape[0])
        if fourth_moment:
            fourth += np.sum(np.einsum("ij,ij->i", block, block) ** 2)
    return mean, gram, (sums / np.sqrt(counts)[:, None]).T, fourth


def _sample_side(Xc, y, counts):
    """Spectrum of the N x N Gram ``K = Xc Xc^T`` (used when N <= D).

    Returns ``K``, its eigenvalues ``lam`` (clipped at zero) and eigenvectors
    ``U``, and ``Z = diag(n_c)^(-1/2) Y^T U`` of shape (C, N): ``||Z[:,
    k]||^2`` is the squared norm of the projection of the normalised class
    indicators on the k-th left singular vector of ``Xc``.
    """
    K = Xc @ Xc.T
    lam, U = np.linalg.eigh(K)
    lam = np.clip(lam, 0.0, None)
    Z = _class_sums(U, y, counts.shape[0]) / np.sqrt(counts)[:, None]
    return K, lam, U, Z


def _pinv_quadratic(gram, Bt, *, a=1.0, b=0.0, tol):
    """``tr(Bt^T pinv(a G + b I) Bt)`` for a PSD ``G`` (D x D) and ``Bt`` (D x C).

    A Cholesky solve when ``a G + b I`` is well conditioned (LAPACK's
    condition estimate), else the eigen-decomposition of ``G``, with the
    eigenvalues of ``a G + b I`` at or below ``tol`` times the largest treated
    as zero (the pseudo-inverse).
    """
    d = gram.shape[0]
    A = a * gram
    A.flat[:: d + 1] += b
    chol, info = lapack.dpotrf(A, lower=1, clean=1)
    if info == 0:
        anorm = np.abs(A).sum(axis=0).max()
        rcond, info = lapack.dpocon(chol, anorm, uplo="L")
        if info == 0 and rcond > _CHOLESKY_RCOND:
            W = solve_triangular(chol, Bt, lower=True, check_finite=False)
            return np.einsum("ij,ij->", W, W)
    evals, V = np.linalg.eigh(gram)
    sigma = a * np.clip(evals, 0.0, None) + b
    keep = sigma > sigma.max() * tol
    P = V[:, keep].T @ Bt
    return np.sum(P**2 / sigma[keep][:, None])


def _h_score(X, y, *, compat):
    """H-score kernel on validated float64 ``X`` and encoded labels ``y``.

    Both covariances share the divisor ``N - 1``, which cancels: the kernel
    works with the unscaled scatter matrices. By default the features are
    standardised first (H is invariant to it), so that the numerical rank
    does not depend on their units; stable_transfer works on the raw ones.
    """
    n, d = X.shape
    _saturation_warning(n, d, stacklevel=5)
    counts = np.bincount(y).astype(np.float64)
    if n > d:
        mean, gram, Bt, _ = _feature_side(X, y, counts)
        return _h_score_from_gram(gram, Bt, mean, n, compat=compat)
    Xc = X - X.mean(axis=0)
    sq_norms = np.einsum("ij,ij->j", Xc, Xc)
    varying = _varying_columns(sq_norms, X.mean(axis=0), n, "HScore")
    if compat == "stable_transfer":
        _, lam, U, _ = _sample_side(Xc, y, counts)
        keep = lam > lam.max() * _STABLE_TRANSFER_RCOND
        # Eigenvectors of Xc^T Xc: V_k = Xc^T U_k / sqrt(lam_k), so the diagonal
        # of its pseudo-inverse is sum_k (Xc^T U_k)_i^2 / lam_k^2.
        W = Xc.T @ (U[:, keep] / lam[keep])
        Bt = _class_sums(Xc, y, counts.shape[0]).T / np.sqrt(counts)
        return float(np.einsum("ij,ij->i", W, W) @ np.einsum("ij,ij->i", Bt, Bt))
    Xs = Xc[:, varying] / np.sqrt(sq_norms[varying])
    _, lam, _, Z = _sample_side(Xs, y, counts)
    keep = lam > lam.max() * _rank_tol(n, d)
    return float(np.sum(Z[:, keep] ** 2))


def _ledoit_wolf_shrinkage(frob_sq, delta, fourth, n_samples, n_features):
    """Ledoit-Wolf shrinkage from the biased covariance ``S = Xc^T Xc / N``.

    ``frob_sq = ||S||_F^2``, ``delta = ||S - mu I||_F^2`` with ``mu = tr(S) /
    D``, and ``fourth = sum_n ||xc_n||^4``: the estimator of
    ``sklearn.covariance.ledoit_wolf_shrinkage``, without its two N x D^2
    products.
    """
    if n_features == 1:
        return 0.0
    beta = (fourth / n_samples - frob_sq) / (n_features * n_samples)
    delta = max(delta, 0.0) / n_features
    beta = min(beta, delta)
    return 0.0 if beta <= 0 else float(beta / delta)


def _shrinkage_h_score(X, y, *, shrinkage):
    """Shrinkage H-score kernel; returns ``(score, shrinkage)``."""
    n, d = X.shape
    counts = np.bincount(y).astype(np.float64)
    tol = _rank_tol(n, d)
    if n > d:
        mean, gram, Bt, fourth = _feature_side(
            X, y, counts, fourth_moment=shrinkage is None
        )
        _varying_columns(np.diagonal(gram), mean, n, "ShrinkageHScore")
        trace = np.trace(gram) / n
        mu = trace / d
        if shrinkage is None:
            centred = gram / n
            centred.flat[:: d + 1] -= mu
            delta = np.einsum("ij,ij->", centred, centred)
            frob_sq = np.einsum("ij,ij->", gram, gram) / n**2
            shrinkage = _ledoit_wolf_shrinkage(frob_sq, delta, fourth, n, d)
        a, b = (1.0 - shrinkage) / n, shrinkage * mu
        quad = _pinv_quadratic(gram, Bt, a=a, b=b, tol=tol)
    else:
        mean = X.mean(axis=0)
        Xc = X - mean
        _varying_columns(np.einsum("ij,ij->j", Xc, Xc), mean, n, "ShrinkageHScore")
        K, lam, _, Z = _sample_side(Xc, y, counts)
        trace = np.trace(K) / n
        mu = trace / d
        if shrinkage is None:
            frob_sq = np.einsum("ij,ij->", K, K) / n**2
            fourth = np.sum(np.diagonal(K) ** 2)
            delta = frob_sq - d * mu**2
            shrinkage = _ledoit_wolf_shrinkage(frob_sq, delta, fourth, n, d)
        a, b = (1.0 - shrinkage) / n, shrinkage * mu
        # Bt^T pinv(a G + b I) Bt = Z diag(lam / (a lam + b)) Z^T on the range
        # of Xc^T; the D - rank directions outside it carry no class mean.
        sigma = a * lam + b
        keep = (sigma > sigma.max() * tol) & (lam > lam.max() * tol)
        quad = np.sum(Z[:, keep] ** 2 * (lam[keep] / sigma[keep]))
    score = (1.0 - shrinkage) * quad / (n - 1)
    if not np.isfinite(score):
        raise ValueError(
            "ShrinkageHScore is not finite: the features are too small or too "
            "large in magnitude (their squares underflow or overflow float64); "
            "rescale X."
        )
    return float(score), float(shrinkage)


def _saturation_warning(n, d, stacklevel):
    if n - 1 <= d:
        warnings.warn(
            f"HScore saturates when n_features >= n_samples - 1 (got "
            f"n_samples={n}, n_features={d}): it then equals n_classes - 1 "
            "whatever the features (for centred features of full rank). Use "
            "ShrinkageHScore, or reduce the features first.",
            DegenerateScoreWarning,
            stacklevel=stacklevel,
        )


def _h_score_from_statistics(stats, *, compat):
    """H-score from :class:`ClassStatistics` (the feature side of ``_h_score``)."""
    n, d = stats.n_samples_, stats.n_features_in_
    _saturation_warning(int(n), d, stacklevel=5)
    return _h_score_from_gram(
        stats.scatter(), stats.between(), stats.mean_, n, compat=compat
    )


def _h_score_from_gram(gram, Bt, mean, n, *, compat):
    """H-score from the centred scatter ``gram`` (D, D) and ``Bt`` (D, C).

    ``Bt @ Bt.T`` is the between-class scatter; ``mean`` (the feature means)
    tells constant columns from varying ones.
    """
    d = gram.shape[0]
    sq_norms = np.diagonal(gram)
    varying = _varying_columns(sq_norms, mean, n, "HScore")
    if compat == "stable_transfer":
        evals, V = np.linalg.eigh(gram)
        keep = evals > evals.max() * _STABLE_TRANSFER_RCOND
        diag_pinv = V[:, keep] ** 2 @ (1.0 / evals[keep])
        return float(diag_pinv @ np.einsum("ij,ij->i", Bt, Bt))
    scale = 1.0 / np.sqrt(sq_norms[varying])
    gram = gram[np.ix_(varying, varying)] * scale * scale[:, None]
    Bt = Bt[varying] * scale[:, None]
    return float(_pinv_quadratic(gram, Bt, tol=_rank_tol(n, d)))


def _shrinkage_h_score_from_statistics(stats, *, shrinkage):
    """Shrinkage H-score from :class:`ClassStatistics`; ``(score, shrinkage)``."""
    n, d = stats.n_samples_, stats.n_features_in_
    gram, Bt = stats.scatter(), stats.between()
    _varying_columns(np.diagonal(gram), stats.mean_, n, "ShrinkageHScore")
    mu = np.trace(gram) / n / d
    if shrinkage is None:
        centred = gram / n
        centred.flat[:: d + 1] -= mu
        delta = np.einsum("ij,ij->", centred, centred)
        frob_sq = np.einsum("ij,ij->", gram, gram) / n**2
        fourth = stats.fourth_moment()
        shrinkage = _ledoit_wolf_shrinkage(frob_sq, delta, fourth, n, d)
    a, b = (1.0 - shrinkage) / n, shrinkage * mu
    quad = _pinv_quadratic(gram, Bt, a=a, b=b, tol=_rank_tol(n, d))
    return float((1.0 - shrinkage) * quad / (n - 1)), float(shrinkage)


class HScore(_StreamingMixin, TransferabilityMixin, BaseEstimator):
    """H-score: the trace of the inverse feature covariance times the class-mean one.

    The H-score of Bao et al. measures how much of the feature covariance is
    explained by the class means: ``tr(pinv(cov(f)) cov(E[f | y]))``. It is
    the sum of the squared canonical correlations between the features and
    the class indicators, so it lies in ``[0, min(C - 1, rank)]``. Higher
    means more transferable. Input: features.

    Parameters
    ----------
    compat : {"stable_transfer"} or None, default=None
        Reproduce a reference implementation:

        - ``None``: the definition, ``tr(pinv(cov_f) cov_g)``, computed on
          standardised features (see Notes); the official code and
          Transfer-Learning-Library's ``h_score`` (numpy ``pinv`` with
          ``rcond=1e-15`` on the raw covariance) agree with it to roundoff
          unless the features span more than about 7 orders of magnitude or
          are nearly collinear;
        - ``"stable_transfer"``: google-research ``stable_transfer``
          (``get_hscore``), which multiplies ``pinv(cov_f, rcond=1e-5)`` and
          ``cov_g`` **element-wise** before the trace, i.e. computes
          ``sum_i [pinv(cov_f)]_ii [cov_g]_ii``. This is the variant behind the
          H-scores published by Agostinelli et al. (ECCV 2022). It is not
          invariant to invertible linear maps of the features and not bounded
          by ``C - 1``. Computed in float64 (the reference computes in the
          input's dtype, float32 in its pipeline).

    Attributes
    ----------
    score_ : float
        The H-score on the training data.
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
    h_score : Function form of this estimator.
    ShrinkageHScore : Ledoit-Wolf regularised H-score, which does not saturate.
    LogME : Evidence-based transferability.

    Notes
    -----
    With ``cov_f`` the sample covariance of the features and ``cov_g`` the
    covariance of the matrix whose row ``i`` is the mean of the class of
    sample ``i`` (both with divisor ``N - 1``),

    .. math::

        H = \\mathrm{tr}\\left(\\mathrm{cov}(f)^{+}\\,
        \\mathrm{cov}(\\mathbb{E}[f \\mid y])\\right)
        = \\mathrm{tr}\\left(B^\\top (X_c^\\top X_c)^{+} B\\right),

    where ``X_c`` is the centred ``X`` and ``B`` (D x C) has columns
    ``sqrt(n_c) (mu_c - mu)``: ``cov_g`` is ``B B^T / (N - 1)``, so the
    N x D matrix of class means is never formed. H is invariant to any
    invertible linear map ``X -> X A`` and to translations.

    When ``N > D``, the scatter matrix is one syrk over the raw ``X`` (the
    cost of ``X^T X``), centred afterwards (``X^T X - N mu mu^T``), and the
    class sums one sparse indicator product (``O(N D)``); a feature whose
    mean dominates its spread by more than 1e4 (``N mu_j^2`` over its centred
    squared norm, so that the subtraction would lose more than 4 digits) is
    checked exactly: a constant one is dropped, a varying one sends the
    computation to an exact fallback that centres blocks of rows (an extra
    pass, no N x D copy). ``H = ||L^{-1} B||_F^2`` with
    the Cholesky factor ``L`` of the scatter when it is well conditioned, else
    through its eigen-decomposition (the pseudo-inverse). Cost:
    ``O(N D^2 + D^3 + D^2 C)``. When ``N <= D``, ``H`` is the squared norm of
    the projection of the normalised class indicators on the range of
    ``X_c``, from the N x N Gram matrix: ``O(N^2 D + N^3)``.

    Numerics: H is invariant to rescaling each feature, so the scatter matrix
    is first scaled to unit diagonal (a correlation matrix); constant features
    (standard deviation at the roundoff level of their mean) are dropped, and
    eigenvalues at or below ``max(N, D) * eps`` times the largest count as
    zero (the numerical rank). A feature 1e-8 times smaller than the others
    thus keeps its information, which ``pinv`` of the raw covariance drops.

    Pitfall: when ``D >= N - 1`` the centred features span every centred
    direction of the samples and ``H = C - 1`` exactly, whatever the features
    (a :class:`~sktransfer.exceptions.DegenerateScoreWarning` is raised
    then). Use :class:`ShrinkageHScore` for small or high-dimensional targets.

    ``score(X, y)`` recomputes the H-score on ``(X, y)``; there is no fitted
    state.

    References
    ----------
    .. [1] Y. Bao, Y. Li, S.-L. Huang, L. Zhang, L. Zheng, A. Zamir, L. Guibas,
       "An Information-Theoretic Approach to Transferability in Task Transfer
       Learning", ICIP 2019. Reference code:
       YaojieBao/An-Information-theoretic-Metric-of-Transferability.
    .. [2] A. Agostinelli, M. Pándy, J. Uijlings, T. Mensink, V. Ferrari, "How
       stable are Transferability Metrics evaluations?", ECCV 2022. Reference
       code: google-research ``stable_transfer/transferability/hscore.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import HScore
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> X = np.eye(3)[y] + 0.1 * rng.normal(size=(300, 3))
    >>> est = HScore().fit(X, y)
    >>> bool(0 < est.score_ <= 2)
    True
    """

    _parameter_constraints: dict = {
        "compat": [StrOptions({"stable_transfer"}), None],
    }

    def __init__(self, *, compat=None):
        self.compat = compat

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute the H-score of ``X`` for the labels ``y``.

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
        self.score_ = _h_score(X, y, compat=self.compat)
        return self

    def _fit_statistics(self, stats):
        self.score_ = _h_score_from_statistics(stats, compat=self.compat)

    def _compute_score(self, X, y):
        return _h_score(X, y, compat=self.compat)


class ShrinkageHScore(_StreamingMixin, TransferabilityMixin, BaseEstimator):
    """Shrinkage H-score: the H-score with a Ledoit-Wolf feature covariance.

    The regularised H-score of Ibrahim et al. replaces the feature covariance
    of the H-score by its Ledoit-Wolf shrinkage towards a scaled identity, and
    the class-mean covariance by its ``(1 - alpha)`` multiple. Unlike the
    plain H-score it does not saturate at ``C - 1`` when ``n_features >=
    n_samples - 1``. Higher means more transferable. Input: features.

    Parameters
    ----------
    shrinkage : float in [0, 1] or None, default=None
        Shrinkage ``alpha``. None estimates it with the Ledoit-Wolf formula
        (as ``sklearn.covariance.LedoitWolf``), which is the published method
        and Transfer-Learning-Library's ``regularized_h_score``.

    Attributes
    ----------
    score_ : float
        The shrinkage H-score on the training data.
    shrinkage_ : float
        The shrinkage ``alpha`` used (estimated when ``shrinkage=None``).
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
    shrinkage_h_score : Function form of this estimator.
    HScore : The plain H-score.

    Notes
    -----
    With ``S = X_c^T X_c / N`` the biased covariance of the centred features,
    ``mu = tr(S) / D`` and ``cov_g`` the class-mean covariance of
    :class:`HScore` (divisor ``N - 1``, as Transfer-Learning-Library's
    recipe: the divisors are mixed),

    .. math::

        \\Sigma_\\alpha = (1 - \\alpha) S + \\alpha \\mu I, \\qquad
        H_\\alpha = \\mathrm{tr}\\left(\\Sigma_\\alpha^{+}\\,(1 - \\alpha)\\,
        \\mathrm{cov}(\\mathbb{E}[f \\mid y])\\right).

    The Ledoit-Wolf ``alpha`` needs ``||S||_F``, ``tr(S)`` and ``sum_n
    ||xc_n||^4``, all read from the scatter matrix and one pass over the rows,
    instead of the two extra N x D^2 products of
    ``sklearn.covariance.ledoit_wolf_shrinkage``. When ``N > D``:
    one syrk over ``X`` centred afterwards, as :class:`HScore` (with the same
    guard and fallback), class sums, ``sum_n ||xc_n||^4`` by row blocks, and
    a Cholesky solve with ``Sigma_alpha``
    (positive definite when ``alpha > 0``), ``O(N D^2 + D^3 + D^2 C)``. When
    ``N <= D``, everything comes from the N x N Gram matrix by the
    push-through identity, ``O(N^2 D + N^3)``. ``0 <= H_alpha``; ``alpha = 1``
    gives 0 and ``alpha = 0`` gives ``N / (N - 1)`` times the H-score.

    ``score(X, y)`` recomputes the score on ``(X, y)``, re-estimating the
    shrinkage there when ``shrinkage=None``; it does not reuse
    ``shrinkage_``.

    References
    ----------
    .. [1] S. Ibrahim, N. Ponomareva, R. Mazumder, "Newer is not always better:
       Rethinking transferability metrics, their peculiarities, stability and
       performance", ECML-PKDD 2022 (arXiv:2110.06893). Reference code:
       Transfer-Learning-Library (``tllib/ranking/hscore.py``,
       ``regularized_h_score``).
    .. [2] O. Ledoit, M. Wolf, "A well-conditioned estimator for
       large-dimensional covariance matrices", Journal of Multivariate
       Analysis, 2004.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import ShrinkageHScore
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> X = np.eye(3)[y] + 0.1 * rng.normal(size=(300, 3))
    >>> est = ShrinkageHScore().fit(X, y)
    >>> bool(0 < est.score_ <= 2), bool(0 <= est.shrinkage_ <= 1)
    (True, True)
    """

    _parameter_constraints: dict = {
        "shrinkage": [Interval(Real, 0, 1, closed="both"), None],
    }

    def __init__(self, *, shrinkage=None):
        self.shrinkage = shrinkage

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute the shrinkage H-score of ``X`` for the labels ``y``.

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
        self.score_, self.shrinkage_ = _shrinkage_h_score(
            X, y, shrinkage=self.shrinkage
        )
        return self

    def _fit_statistics(self, stats):
        self.score_, self.shrinkage_ = _shrinkage_h_score_from_statistics(
            stats, shrinkage=self.shrinkage
        )

    def _compute_score(self, X, y):
        return _shrinkage_h_score(X, y, shrinkage=self.shrinkage)[0]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def h_score(X, y, *, compat=None):
    """Compute the H-score, ``tr(pinv(cov(f)) cov(E[f | y]))``.

    Function form of :class:`HScore`; see it for the maths and the parameters.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,)
        Class labels.
    compat : {"stable_transfer"} or None, default=None
        Reproduce a reference implementation (``"stable_transfer"``: its
        element-wise product).

    Returns
    -------
    score : float
        H-score; higher means more transferable.

    See Also
    --------
    HScore : Estimator form.
    shrinkage_h_score : Ledoit-Wolf regularised H-score.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import h_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> informative = np.eye(3)[y] + 0.1 * rng.normal(size=(300, 3))
    >>> noise = rng.normal(size=(300, 3))
    >>> bool(h_score(informative, y) > h_score(noise, y))
    True
    """
    return HScore(compat=compat).fit(X, y).score_


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def shrinkage_h_score(X, y, *, shrinkage=None):
    """Compute the shrinkage (Ledoit-Wolf regularised) H-score.

    Function form of :class:`ShrinkageHScore`; see it for the maths.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,)
        Class labels.
    shrinkage : float in [0, 1] or None, default=None
        Shrinkage of the feature covariance; None estimates it (Ledoit-Wolf).

    Returns
    -------
    score : float
        Shrinkage H-score; higher means more transferable.

    See Also
    --------
    ShrinkageHScore : Estimator form, with the fitted ``shrinkage_``.
    h_score : The plain H-score.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import shrinkage_h_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> informative = np.eye(3)[y] + 0.1 * rng.normal(size=(300, 3))
    >>> noise = rng.normal(size=(300, 3))
    >>> bool(shrinkage_h_score(informative, y) > shrinkage_h_score(noise, y))
    True
    """
    return ShrinkageHScore(shrinkage=shrinkage).fit(X, y).score_
