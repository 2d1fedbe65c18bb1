"""LogME: the logarithm of the maximum evidence of a Bayesian linear model."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from sktransfer._base import TransferabilityMixin
from sktransfer.metrics._linalg import eigh_projected
from sktransfer.metrics._stats import _StreamingMixin

__all__ = ["LogME", "logme_score"]

_LOG_2PI = np.log(2.0 * np.pi)

# The choices each reference implementation makes (see the LogME docstring).
_COMPAT = {
    None: {"algorithm": "fixed_point", "eps": None, "tol": None, "max_iter": None},
    "thuml": {"algorithm": "fixed_point", "eps": 1e-5, "tol": 1e-3, "max_iter": 11},
    "stable_transfer": {
        "algorithm": "fixed_point",
        "eps": 1e-5,
        "tol": 1e-2,
        "max_iter": 11,
    },
    "tllib": {"algorithm": "mackay", "eps": 0.0, "tol": 1e-2, "max_iter": 11},
}


def _one_hot(y, n_classes):
    Y = np.zeros((y.shape[0], n_classes))
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y


def _xty(X, Y):
    """``X.T @ Y``; for one-hot targets, class sums in one pass over ``X``.

    The dense product costs ``2 N D K`` flops, which grows with the number of
    classes ``K``; with at most one nonzero per row, a sparse product costs
    ``N D`` whatever ``K``.
    """
    if np.count_nonzero(Y) <= Y.shape[0]:
        return np.asarray((sparse.csr_matrix(Y.T) @ X).T)
    return X.T @ Y


def _spectrum(X, Y, compat):
    """Eigen-decomposition of ``X.T @ X`` restricted to its numerical range.

    Returns ``sigma`` (k,) the kept eigenvalues of ``X.T @ X``, a function
    ``basis(M)`` returning ``V @ M`` with ``V`` (D, k) the matching right
    singular vectors of ``X``, and ``x = U.T @ Y`` (k, K). ``V`` itself is not
    formed when ``n_samples > n_features`` (see ``eigh_projected``).
    """
    n_samples, n_features = X.shape
    if n_samples > n_features:
        # U = X V / s, never formed: U.T @ Y = V.T @ (X.T @ Y) / s.
        evals, VtXtY, apply_basis = eigh_projected(X.T @ X, _xty(X, Y))
        evals = np.clip(evals[::-1], 0.0, None)
        s = np.sqrt(evals)
        if compat is None:
            keep = evals > evals[0] * n_features * np.finfo(np.float64).eps
        else:
            keep = s > 1e-10
        s = s[keep]
        x = VtXtY[::-1][keep] / s[:, None]
        # Row i of the descending order is eigenvector D - 1 - i of eigh's.
        kept = n_features - 1 - np.flatnonzero(keep)

        def basis(M):
            full = np.zeros((n_features, M.shape[1]))
            full[kept] = M
            return apply_basis(full)

        return s**2, basis, x
    else:
        U, s, Vt = np.linalg.svd(X, full_matrices=False)
        if compat is None:
            keep = s > s[0] * max(X.shape) * np.finfo(np.float64).eps
            U, s, Vt = U[:, keep], s[keep], Vt[keep]
        x = U.T @ Y
    return s**2, Vt.T.__matmul__, x


def _fixed_point(sigma, x, y_sq, n_samples, *, eps, tol, max_iter):
    """Fixed-point iteration of JMLR Algorithm 3, all target columns at once.

    Each column stops on its own criterion, as in the per-column reference loop;
    the values kept are those of the iteration at which it stopped.
    """
    n_outputs = x.shape[1]
    x2 = x**2
    res0 = y_sq - x2.sum(axis=0)
    alpha = np.ones(n_outputs)
    beta = np.ones(n_outputs)
    m2 = np.zeros(n_outputs)
    res2 = np.zeros(n_outputs)
    t_used = np.ones(n_outputs)
    n_iter = np.zeros(n_outputs, dtype=np.int64)
    active = np.arange(n_outputs)
    for it in range(max_iter):
        t = alpha[active] / beta[active]
        denom = sigma[:, None] + t
        gamma = (sigma[:, None] / denom).sum(axis=0)
        m2_a = (sigma[:, None] * x2[:, active] / denom**2).sum(axis=0)
        res2_a = (x2[:, active] * (t / denom) ** 2).sum(axis=0) + res0[active]
        alpha_a = gamma / (m2_a + eps)
        beta_a = (n_samples - gamma) / (res2_a + eps)
        alpha[active], beta[active] = alpha_a, beta_a
        m2[active], res2[active], t_used[active] = m2_a, res2_a, t
        n_iter[active] = it + 1
        converged = np.abs(alpha_a / beta_a - t) / t <= tol
        active = active[~converged]
        if active.size == 0:
            break
    # Posterior mean coordinates (with the t of the last iteration, as thuml).
    coords = np.sqrt(sigma)[:, None] * x / (t_used + sigma[:, None])
    return alpha, beta, m2, res2, n_iter, coords


def _mackay(sigma, z, y_sq, n_samples, *, eps, tol, max_iter):
    """MacKay's updates (the ICML 2021 algorithm) in the eigenbasis of X.T @ X.

    ``sigma`` holds all D eigenvalues and ``z = V.T @ X.T @ Y``. The residual
    ``||y - X m||^2`` is computed from the spectrum instead of an N x D product.
    """
    n_outputs = z.shape[1]
    alpha = np.ones(n_outputs)
    beta = np.ones(n_outputs)
    lam = np.ones(n_outputs)
    m2 = np.zeros(n_outputs)
    res2 = np.zeros(n_outputs)
    mu = np.zeros_like(z)
    n_iter = np.zeros(n_outputs, dtype=np.int64)
    active = np.arange(n_outputs)
    for it in range(max_iter):
        a, b, la = alpha[active], beta[active], lam[active]
        gamma = (sigma[:, None] / (sigma[:, None] + la)).sum(axis=0)
        mu_a = z[:, active] * b / (a + b * sigma[:, None])
        m2_a = (mu_a**2).sum(axis=0)
        res2_a = (
            y_sq[active]
            - 2.0 * (mu_a * z[:, active]).sum(axis=0)
            + (sigma[:, None] * mu_a**2).sum(axis=0)
        )
        res2_a = np.maximum(res2_a, 0.0)
        alpha_a = gamma / (m2_a + eps)
        beta_a = (n_samples - gamma) / (res2_a + eps)
        alpha[active], beta[active] = alpha_a, beta_a
        m2[active], res2[active], mu[:, active] = m2_a, res2_a, mu_a
        n_iter[active] = it + 1
        new_lam = alpha_a / beta_a
        converged = np.abs(new_lam - la) / la < tol
        lam[active] = np.where(converged, la, new_lam)
        active = active[~converged]
        if active.size == 0:
            break
    return alpha, beta, m2, res2, n_iter, mu


def _logme(X, Y, *, eps, tol, max_iter, compat):
    """LogME kernel on validated float64 ``X`` (N, D) and targets ``Y`` (N, K).

    Returns a dict with the per-column ``evidence``, ``alpha``, ``beta``,
    ``coef`` (K, D) and ``n_iter``.
    """
    n_samples, n_features = X.shape
    if not np.any(X):
        raise ValueError(
            "LogME is undefined for features that are all zero: X carries no "
            "information about y."
        )
    y_sq = (Y**2).sum(axis=0)
    algorithm = _COMPAT[compat]["algorithm"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if algorithm == "mackay":
            evals, z, basis = eigh_projected(X.T @ X, _xty(X, Y))
            sigma = np.clip(evals, 0.0, None)
            alpha, beta, m2, res2, n_iter, mu = _mackay(
                sigma, z, y_sq, n_samples, eps=eps, tol=tol, max_iter=max_iter
            )
            coef = basis(mu).T
            rank_deficit = 0
        else:
            sigma, basis, x = _spectrum(X, Y, compat)
            alpha, beta, m2, res2, n_iter, coords = _fixed_point(
                sigma, x, y_sq, n_samples, eps=eps, tol=tol, max_iter=max_iter
            )
            coef = basis(coords).T
            # The D - k eigenvalues of X.T @ X that are zero each add log(alpha)
            # to log|A|; the thuml and stable_transfer code drop them.
            rank_deficit = n_features - sigma.shape[0] if compat is None else 0
        logdet = np.log(alpha + beta * sigma[:, None]).sum(axis=0)
        logdet += rank_deficit * np.log(alpha)
        evidence = (
            0.5 * n_features * np.log(alpha)
            + 0.5 * n_samples * np.log(beta)
            - 0.5 * logdet
            - 0.5 * beta * res2
            - 0.5 * alpha * m2
            - 0.5 * n_samples * _LOG_2PI
        ) / n_samples
    if not np.all(np.isfinite(evidence)):
        raise ValueError(
            "LogME evidence is not finite: a target column is fitted exactly by "
            "the features (e.g. n_samples <= n_features with eps=0). Use eps > 0 "
            "or more samples."
        )
    return {
        "evidence": evidence,
        "alpha": alpha,
        "beta": beta,
        "coef": coef,
        "n_iter": n_iter,
    }


def _logme_from_gram(gram, XtY, y_sq, n_samples, *, eps, tol, max_iter, compat):
    """LogME from the statistics ``X^T X`` (D, D), ``X^T Y`` (D, K), ``||Y||^2``.

    The feature-side (eigh) route of :func:`_logme`, for the streaming path.
    """
    n_features = gram.shape[0]
    if not np.any(gram):
        raise ValueError(
            "LogME is undefined for features that are all zero: X carries no "
            "information about y."
        )
    evals, V = np.linalg.eigh(gram)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if _COMPAT[compat]["algorithm"] == "mackay":
            sigma = np.clip(evals, 0.0, None)
            alpha, beta, m2, res2, n_iter, mu = _mackay(
                sigma, V.T @ XtY, y_sq, n_samples, eps=eps, tol=tol, max_iter=max_iter
            )
            coef, rank_deficit = (V @ mu).T, 0
        else:
            evals, V = np.clip(evals[::-1], 0.0, None), V[:, ::-1]
            s = np.sqrt(evals)
            if compat is None:
                keep = evals > evals[0] * n_features * np.finfo(np.float64).eps
            else:
                keep = s > 1e-10
            s, V = s[keep], V[:, keep]
            sigma = s**2
            alpha, beta, m2, res2, n_iter, coords = _fixed_point(
                sigma,
                (V.T @ XtY) / s[:, None],
                y_sq,
                n_samples,
                eps=eps,
                tol=tol,
                max_iter=max_iter,
            )
            coef = (V @ coords).T
            rank_deficit = n_features - sigma.shape[0] if compat is None else 0
        logdet = np.log(alpha + beta * sigma[:, None]).sum(axis=0)
        logdet += rank_deficit * np.log(alpha)
        evidence = (
            0.5 * n_features * np.log(alpha)
            + 0.5 * n_samples * np.log(beta)
            - 0.5 * logdet
            - 0.5 * beta * res2
            - 0.5 * alpha * m2
            - 0.5 * n_samples * _LOG_2PI
        ) / n_samples
    if not np.all(np.isfinite(evidence)):
        raise ValueError(
            "LogME evidence is not finite: a target column is fitted exactly by "
            "the features. Use eps > 0 or more samples."
        )
    return {
        "evidence": evidence,
        "alpha": alpha,
        "beta": beta,
        "coef": coef,
        "n_iter": n_iter,
    }


class LogME(_StreamingMixin, TransferabilityMixin, BaseEstimator):
    """Logarithm of Maximum Evidence (LogME) of a Bayesian linear model.

    LogME fits one Bayesian linear regression per target column (the one-hot
    class indicators, or real-valued targets with ``regression=True``) with
    prior ``w ~ N(0, 1/alpha I)`` and noise ``N(0, 1/beta)``, maximises the
    evidence ``p(y | X, alpha, beta)`` over ``(alpha, beta)``, and returns the
    maximum log-evidence per sample averaged over the columns. Higher means
    more transferable.

    Parameters
    ----------
    regression : bool, default=False
        If True, ``y`` holds real-valued targets of shape (n_samples,) or
        (n_samples, n_outputs) and each column is a separate regression, as in
        the reference's ``regression=True``. If False, ``y`` holds class labels
        (any values) that are one-hot encoded.
    eps : float, default=1e-5
        Regulariser added to the denominators of the ``alpha`` and ``beta``
        updates (the reference's hard-coded ``1e-5``). It keeps degenerate
        fits finite but breaks the exact scale invariance of the evidence for
        large-magnitude features; ``eps=0`` restores it.
    tol : float, default=1e-3
        Relative change of ``alpha / beta`` at which the iteration stops.
    max_iter : int, default=11
        Maximum number of fixed-point iterations per target column.
    compat : {"thuml", "tllib", "stable_transfer"} or None, default=None
        Reproduce a reference implementation exactly. When set, it fixes the
        algorithm and overrides ``eps``, ``tol`` and ``max_iter``:

        - ``None``: the fixed-point algorithm (JMLR Algorithm 3) with the
          rank-deficiency correction (see Notes), with the parameters above;
        - ``"thuml"``: thuml/LogME's default fixed point (eps=1e-5, tol=1e-3,
          max_iter=11), including its omission of the ``(D - k) log(alpha)``
          term when ``n_samples <= n_features``;
        - ``"tllib"``: the MacKay (ICML 2021) updates of
          Transfer-Learning-Library (no eps, 1 % tolerance on alpha/beta,
          max_iter=11);
        - ``"stable_transfer"``: the google-research port (tol=1e-2),
          computed in float64. The port inverts the SVD branch (Gram matrix
          when ``n_features > n_samples``), which keeps roundoff-level
          directions whose contribution depends on LAPACK's noise; we take
          the numerically clean branch, which is equal in exact arithmetic.

    Attributes
    ----------
    score_ : float
        The LogME value on the training data: mean over target columns of the
        maximum log-evidence divided by ``n_samples``.
    evidence_ : ndarray of shape (n_outputs,)
        Log-evidence per sample of each target column (class).
    alpha_ : ndarray of shape (n_outputs,)
        Prior precision at the optimum, per target column.
    beta_ : ndarray of shape (n_outputs,)
        Noise precision at the optimum, per target column.
    coef_ : ndarray of shape (n_outputs, n_features)
        Posterior mean of the weights, per target column.
    n_iter_ : ndarray of shape (n_outputs,)
        Number of iterations run for each target column.
    statistics_ : ClassStatistics
        The sufficient statistics accumulated by :meth:`partial_fit` or
        given to :meth:`fit_statistics` (``fit`` does not keep any). See
        :ref:`streaming`.
    classes_ : ndarray of shape (n_classes,)
        Class labels (only when ``regression=False``).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    logme_score : Function form of this estimator.
    TransRate : Coding-rate based transferability.

    Notes
    -----
    For a target column ``y`` the log-evidence is

    .. math::

        \\mathcal{L}(\\alpha, \\beta) = \\frac{D}{2}\\log\\alpha
        + \\frac{N}{2}\\log\\beta - \\frac{N}{2}\\log 2\\pi
        - \\frac{\\beta}{2}\\lVert y - Xm\\rVert^2 - \\frac{\\alpha}{2} m^\\top m
        - \\frac{1}{2}\\log\\lvert\\alpha I + \\beta X^\\top X\\rvert,

    with ``m = beta A^{-1} X^T y`` the posterior mean. With ``sigma_i`` the k
    nonzero eigenvalues of ``X^T X``, ``log|A| = sum_i log(alpha + beta
    sigma_i) + (D - k) log(alpha)``. The reference fixed-point code drops the
    second term whenever ``k < D`` (always when ``n_samples <= n_features``),
    which can invert rankings; the default keeps it (``compat="thuml"``
    reproduces the omission).

    All classes are solved at once: one eigen-decomposition of the D x D Gram
    matrix (``n_samples > n_features``) or one thin SVD of ``X`` (otherwise),
    one product ``X^T Y``, then ``O(k K)`` work per iteration. Cost:
    ``O(N D min(N, D) + min(N, D)^3 + N D K)``.

    ``score(X, y)`` recomputes the maximum evidence on ``(X, y)``; it does not
    reuse the fitted ``alpha_`` and ``beta_``.

    References
    ----------
    .. [1] K. You, Y. Liu, J. Wang, M. Long, "LogME: Practical Assessment of
       Pre-trained Models for Transfer Learning", ICML 2021.
    .. [2] K. You, Y. Liu, Z. Zhang, J. Wang, M. I. Jordan, M. Long, "Ranking
       and Tuning Pre-trained Models: A New Paradigm for Exploiting Model
       Hubs", JMLR 2022 (Algorithm 3). Reference code: thuml/LogME.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sktransfer.metrics import LogME
    >>> X, y = make_classification(n_samples=200, n_features=20, random_state=0)
    >>> est = LogME().fit(X, y)
    >>> round(est.score_, 4) == round(est.score(X, y), 4)
    True
    >>> est.alpha_.shape
    (2,)
    """

    _parameter_constraints: dict = {
        "regression": ["boolean"],
        "eps": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "compat": [StrOptions({"thuml", "tllib", "stable_transfer"}), None],
    }

    def __init__(
        self, *, regression=False, eps=1e-5, tol=1e-3, max_iter=11, compat=None
    ):
        self.regression = regression
        self.eps = eps
        self.tol = tol
        self.max_iter = max_iter
        self.compat = compat

    def _is_classification(self):
        return not self.regression

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = self.regression
        return tags

    def _settings(self):
        settings = dict(_COMPAT[self.compat])
        for key, value in (
            ("eps", self.eps),
            ("tol", self.tol),
            ("max_iter", self.max_iter),
        ):
            if settings[key] is None:
                settings[key] = value
        del settings["algorithm"]
        return settings

    def _targets(self, y):
        if self.regression:
            return y.reshape(y.shape[0], -1)
        return _one_hot(y, y.max() + 1)

    def _run(self, X, y):
        return _logme(X, self._targets(y), compat=self.compat, **self._settings())

    def _check_streamable(self):
        if self.regression:
            raise NotImplementedError(
                "LogME(regression=True) cannot be computed from class statistics "
                "(partial_fit, fit_statistics, array-API inputs); pass numpy "
                "arrays to fit."
            )

    def _fit_statistics(self, stats):
        sums = stats.means_ * stats.counts_[:, None]
        result = _logme_from_gram(
            stats.gram(),
            sums.T,
            stats.counts_,
            stats.n_samples_,
            compat=self.compat,
            **self._settings(),
        )
        self._set_result(result)

    def _set_result(self, result):
        self.evidence_ = result["evidence"]
        self.alpha_ = result["alpha"]
        self.beta_ = result["beta"]
        self.coef_ = result["coef"]
        self.n_iter_ = result["n_iter"]
        self.score_ = float(result["evidence"].mean())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute LogME of ``X`` for the targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features of the target data extracted by a pretrained model.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, or real targets when ``regression=True``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        fitted, X, y = self._device_fit(X, y)
        if fitted is not None:
            return fitted
        X, y = self._validate_input(X, y, reset=True)
        result = self._run(X, y)
        self.evidence_ = result["evidence"]
        self.alpha_ = result["alpha"]
        self.beta_ = result["beta"]
        self.coef_ = result["coef"]
        self.n_iter_ = result["n_iter"]
        self.score_ = float(result["evidence"].mean())
        return self

    def _compute_score(self, X, y):
        return self._run(X, y)["evidence"].mean()


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def logme_score(
    X, y, *, regression=False, eps=1e-5, tol=1e-3, max_iter=11, compat=None
):
    """Compute LogME, the maximum log-evidence of a Bayesian linear model.

    Function form of :class:`LogME`; see it for the maths and the parameters.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Class labels, or real targets when ``regression=True``.
    regression : bool, default=False
        Treat ``y`` as real-valued targets.
    eps : float, default=1e-5
        Regulariser of the ``alpha`` and ``beta`` updates.
    tol : float, default=1e-3
        Relative tolerance on ``alpha / beta``.
    max_iter : int, default=11
        Maximum number of iterations.
    compat : {"thuml", "tllib", "stable_transfer"} or None, default=None
        Reproduce a reference implementation exactly.

    Returns
    -------
    score : float
        LogME value; higher means more transferable.

    See Also
    --------
    LogME : Estimator form, with the fitted ``alpha_``, ``beta_`` and ``coef_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import logme_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> informative = np.eye(3)[y] + 0.1 * rng.normal(size=(300, 3))
    >>> noise = rng.normal(size=(300, 3))
    >>> bool(logme_score(informative, y) > logme_score(noise, y))
    True
    """
    return (
        LogME(regression=regression, eps=eps, tol=tol, max_iter=max_iter, compat=compat)
        .fit(X, y)
        .score_
    )
