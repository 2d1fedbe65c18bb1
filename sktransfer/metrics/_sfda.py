"""SFDA: Self-challenging Fisher Discriminant Analysis."""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.sparse
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import (
    Interval,
    RealNotInt,
    StrOptions,
    validate_params,
)

from sktransfer._base import TransferabilityMixin, _is_private_copy
from sktransfer.exceptions import DegenerateScoreWarning
from sktransfer.metrics._pca import pca_project

__all__ = ["SFDA", "sfda_score"]

# Adaptive shrinkage lambda = max(exp(-_DECAY * rho), _FLOOR), rho the largest
# eigenvalue of the within-class scatter; lambda is at the floor for rho >= this.
_DECAY = 5.0
_FLOOR = 1e-10
_RHO_AT_FLOOR = -np.log(_FLOOR) / _DECAY
# Power-iteration steps of the reference's estimate of rho (compat="sfda").
_POWER_STEPS = 3
_ROWS_PER_BLOCK = 4096


def _softmax(logits):
    logits = logits - logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def _largest_eigenvalue(S):
    """Largest eigenvalue of the symmetric PSD matrix ``S`` (Lanczos for large S)."""
    d = S.shape[0]
    if d > 64:
        # A fixed generic start vector keeps the result deterministic.
        v0 = np.random.default_rng(0).standard_normal(d)
        try:
            return float(eigsh(S, k=1, which="LA", v0=v0, return_eigenvectors=False)[0])
        except (ArpackError, ArpackNoConvergence):  # pragma: no cover - fallback
            pass
    return float(scipy.linalg.eigvalsh(S, subset_by_index=[d - 1, d - 1])[0])


def _power_iteration_estimate(S):
    """The reference's estimate of the largest eigenvalue of ``S``.

    Start from the row sums of ``S``, take ``_POWER_STEPS`` normalised power
    steps ``v_t = S v_{t-1} / ||S v_{t-1}||`` and return ``v_{T-1}^T S v_T``,
    the Rayleigh-like quantity of the last two iterates (a lower bound of the
    largest eigenvalue).
    """
    iterates = [S.sum(axis=1)]
    for _ in range(_POWER_STEPS):
        norm = np.linalg.norm(iterates[-1])
        if not norm > 0:
            raise ValueError(
                "SFDA(compat='sfda') is undefined here: the power iteration of "
                "the reference reached a zero vector (the row sums of the "
                "within-class scatter are zero)."
            )
        iterates.append(S @ (iterates[-1] / norm))
    x = iterates[-2] / np.linalg.norm(iterates[-2])
    y = iterates[-1] / np.linalg.norm(iterates[-1])
    return float(x @ S @ y)


def _adaptive_shrinkage(S_w, estimate):
    """``max(exp(-5 rho), 1e-10)`` with ``rho`` the largest eigenvalue of ``S_w``."""
    if estimate == "power":
        rho = _power_iteration_estimate(S_w)
    elif np.max(np.diagonal(S_w)) >= _RHO_AT_FLOOR:
        # rho >= max diagonal entry, so lambda is at the floor: no eigenvalue needed.
        return _FLOOR
    else:
        rho = _largest_eigenvalue(S_w)
    return float(max(np.exp(-_DECAY * rho), _FLOOR))


def _shrink(S, shrinkage):
    """``(1 - lambda) S + lambda tr(S) / d I`` (in place)."""
    target = shrinkage * np.trace(S) / S.shape[0]
    S *= 1.0 - shrinkage
    S.flat[:: S.shape[0] + 1] += target
    return S


def _within_scatter(Z, indicator, counts):
    """Class means (C, d) and biased within-class scatter (d, d) of ``Z``.

    Raises a ValueError when the scatter is zero up to roundoff.
    """
    means = (indicator @ Z) / counts[:, None]
    S_w = Z.T @ Z
    second_moment = np.trace(S_w)
    S_w -= (means * counts[:, None]).T @ means
    S_w /= Z.shape[0]
    S_w = 0.5 * (S_w + S_w.T)
    eps = np.finfo(np.float64).eps
    if not np.trace(S_w) * Z.shape[0] > 100 * Z.shape[1] * eps * second_moment:
        raise ValueError(
            "SFDA is undefined when the within-class scatter is zero: every "
            "class's samples are identical (or X is constant)."
        )
    return means, S_w


def _discriminant(S_w, means, log_priors, shrinkage):
    """Shrinkage-LDA weights ``W = S~_w^{-1} M^T`` (d, C) and intercepts (C,)."""
    S = _shrink(S_w.copy(), shrinkage)
    try:
        W = scipy.linalg.solve(S, means.T, assume_a="pos", check_finite=False)
    except np.linalg.LinAlgError:
        try:
            W = scipy.linalg.solve(S, means.T, assume_a="sym", check_finite=False)
        except np.linalg.LinAlgError as exc:
            raise ValueError(
                "SFDA: the shrunk within-class scatter is singular; use "
                "shrinkage > 0 or reduce the dimension with n_components."
            ) from exc
    intercept = log_priors - 0.5 * np.einsum("cd,dc->c", means, W)
    return W, intercept


def _sfda(X, y, *, shrinkage, confmix, estimate, overwrite_X=False):
    """SFDA kernel on validated float64 ``X`` and encoded labels ``y``.

    Returns ``(score, shrinkage)``. ``X`` is not modified unless
    ``overwrite_X`` (then it is centred and mixed in place: no N x D copy).
    """
    n_samples = X.shape[0]
    rows = np.arange(n_samples)
    counts = np.bincount(y).astype(np.float64)
    n_classes = counts.shape[0]
    log_priors = np.log(counts / n_samples)
    indicator = scipy.sparse.csr_matrix(
        (np.ones(n_samples), (y, rows)), shape=(n_classes, n_samples)
    )
    # Centred data: the posteriors are invariant to a common shift of the data
    # and the means, and the scatter loses fewer digits to cancellation.
    if overwrite_X:
        Z = X
        Z -= X.mean(axis=0)
    else:
        Z = X - X.mean(axis=0)

    # Stage 1: shrinkage LDA and its posteriors.
    means, S_w = _within_scatter(Z, indicator, counts)
    if shrinkage is None:
        shrinkage = _adaptive_shrinkage(S_w, estimate)
    W, intercept = _discriminant(S_w, means, log_priors, shrinkage)
    proba = _softmax(Z @ W + intercept)
    if not confmix:
        return float(proba[rows, y].mean()), shrinkage

    # Stage 2: ConfMix. Each sample moves towards the unweighted mean of the
    # other classes' means, z~ = m_{-c} + p (z - m_{-c}), with p the true-class
    # probability softened by a second softmax. V holds p (z - m_{-c}).
    p = _softmax(proba)[rows, y]
    outer = (means.sum(axis=0) - means) / (n_classes - 1)
    for start in range(0, n_samples, _ROWS_PER_BLOCK):
        block = slice(start, start + _ROWS_PER_BLOCK)
        Z[block] -= outer[y[block]]
        Z[block] *= p[block, None]
    V = Z
    v_means, S_w = _within_scatter(V, indicator, counts)
    W, intercept = _discriminant(S_w, outer + v_means, log_priors, shrinkage)
    logits = V @ W + (outer @ W)[y] + intercept
    return float(_softmax(logits)[rows, y].mean()), shrinkage


class SFDA(TransferabilityMixin, BaseEstimator):
    """Self-challenging Fisher Discriminant Analysis (SFDA).

    SFDA fits a shrinkage linear discriminant analysis (Fisher's LDA with the
    within-class scatter shrunk towards a scaled identity) on the target
    features, then "challenges" it: every sample is mixed with the mean of the
    other classes in proportion to how confidently the first model classifies
    it (ConfMix), a second discriminant analysis is fitted on the mixed
    features, and the score is its mean posterior probability of the true
    class. Higher means more transferable.

    The input ``X`` is features (an embedding of the target data by the
    pretrained model).

    Parameters
    ----------
    n_components : int, float or None, default=None
        Reduce the features with PCA first: a number of components (clipped to
        ``min(n_samples, n_features)`` with a warning), a fraction of variance
        in (0, 1), or None for no reduction (the reference). Reducing the
        dimension avoids the saturation at 1 when ``n_samples <= n_features``.
    shrinkage : float in [0, 1] or None, default=None
        Shrinkage ``lambda`` of the within-class scatter towards
        ``tr(S_w) / d I``. None uses the paper's adaptive rule
        ``lambda = max(exp(-5 rho), 1e-10)`` with ``rho`` the largest
        eigenvalue of ``S_w``.
    confmix : bool, default=True
        Apply the self-challenging ConfMix stage. If False, the score is the
        mean true-class posterior of the first shrinkage-LDA model.
    compat : {"sfda"} or None, default=None
        Reproduce a reference implementation. When set, it overrides
        ``n_components``, ``shrinkage`` and ``confmix``:

        - ``None``: the parameters above; with ``shrinkage=None``, ``rho`` is
          the exact largest eigenvalue of ``S_w`` (Lanczos);
        - ``"sfda"``: TencentARC/SFDA: no PCA, ConfMix on, and ``rho``
          estimated as the reference does, by three power-iteration steps
          started from the row sums of ``S_w`` (``v_2^T S_w v_3`` of the
          normalised iterates), which underestimates it and so shrinks more.
          The reference's in-place modification of the caller's array is not
          reproduced (it does not change the score of one call).

    Attributes
    ----------
    score_ : float
        SFDA on the training data: the mean posterior probability of the true
        class after ConfMix, in (0, 1].
    shrinkage_ : float
        Shrinkage ``lambda`` used by both discriminant analyses.
    n_components_ : int
        Dimension of the features the discriminant analyses used
        (``n_features_in_`` without PCA).
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    sfda_score : Function form of this estimator.
    LogME : Evidence-based transferability.

    Notes
    -----
    With class priors ``pi_c = n_c / N``, class means ``mu_c`` and the biased
    within-class scatter ``S_w = sum_c pi_c Cov_c``, the shrunk scatter is
    ``S~_w = (1 - lambda) S_w + lambda tr(S_w) / d I`` and the posteriors are

    .. math::

        P(c \\mid x) = \\operatorname{softmax}_c\\left(x^\\top \\tilde S_w^{-1}
        \\mu_c - \\tfrac{1}{2} \\mu_c^\\top \\tilde S_w^{-1} \\mu_c
        + \\log \\pi_c\\right).

    The reference solves the generalised eigenproblem ``S_b v = e S~_w v`` and
    uses ``coef = M V V^T``; since ``V^T S~_w V = I``, ``V V^T = S~_w^{-1}`` and
    the between-class scatter drops out, so this implementation computes
    ``S~_w^{-1} M^T`` with one Cholesky solve instead.

    ConfMix: with ``p_i`` the true-class entry of ``softmax(P(. | x_i))`` (the
    reference's "softened" probabilities, a softmax applied to the
    probabilities) and ``m_{-c}`` the unweighted mean of the other classes'
    means, each sample of class ``c`` becomes ``x~_i = p_i x_i + (1 - p_i)
    m_{-c}``. A second model with the same ``lambda`` is fitted on ``x~`` and

    .. math::

        \\mathrm{SFDA} = \\frac{1}{N} \\sum_i P_2(y_i \\mid \\tilde x_i).

    The mixed features are never formed in full: the second scatter is the
    Gram matrix of ``p_i (x_i - m_{-c})``, and the caller's array is not
    modified. Cost: two Gram matrices and two Cholesky factorisations,
    ``O(N D^2 + D^3 + N D C)``, plus ``O(D^2)`` per Lanczos step when the
    adaptive ``lambda`` is not at its floor.

    The score saturates at 1 when ``n_samples <= n_features`` (the classes are
    then linearly separable and ``lambda`` is tiny); a
    :class:`~sktransfer.exceptions.DegenerateScoreWarning` is issued. The
    adaptive ``lambda`` depends on the scale of ``X``, so the score is not
    scale invariant.

    ``score(X, y)`` recomputes SFDA on ``(X, y)``, including ``lambda``; it does
    not reuse ``shrinkage_``.

    References
    ----------
    .. [1] W. Shao, X. Zhao, Y. Ge, Z. Zhang, L. Yang, X. Wang, Y. Shan, P. Luo,
       "Not All Models Are Equal: Predicting Model Transferability in a
       Self-challenging Fisher Space", ECCV 2022. Reference code:
       TencentARC/SFDA (``metrics.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import SFDA
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> X = 2.0 * np.eye(3)[y] + rng.normal(size=(300, 3))
    >>> est = SFDA().fit(X, y)
    >>> bool(0 < est.score_ <= 1)
    True
    >>> round(est.shrinkage_, 4)
    0.0059
    """

    _min_samples_per_class = 2

    _parameter_constraints: dict = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            None,
        ],
        "shrinkage": [Interval(Real, 0, 1, closed="both"), None],
        "confmix": ["boolean"],
        "compat": [StrOptions({"sfda"}), None],
    }

    def __init__(self, *, n_components=None, shrinkage=None, confmix=True, compat=None):
        self.n_components = n_components
        self.shrinkage = shrinkage
        self.confmix = confmix
        self.compat = compat

    def _run(self, X, y, overwrite_X=False):
        if self.compat == "sfda":
            n_components, shrinkage, confmix, estimate = None, None, True, "power"
        else:
            n_components, shrinkage = self.n_components, self.shrinkage
            confmix, estimate = self.confmix, "exact"
        Z, _ = pca_project(X, n_components, name="SFDA")
        if Z.shape[0] <= Z.shape[1]:
            warnings.warn(
                f"SFDA: n_samples={Z.shape[0]} <= n_features={Z.shape[1]}; the "
                "classes are linearly separable and the score saturates near 1. "
                "Reduce the dimension with n_components.",
                DegenerateScoreWarning,
                stacklevel=3,
            )
        score, shrinkage = _sfda(
            Z,
            y,
            shrinkage=shrinkage,
            confmix=confmix,
            estimate=estimate,
            # The PCA output is always new; X itself only when validation
            # copied it.
            overwrite_X=overwrite_X or Z is not X,
        )
        return score, shrinkage, Z.shape[1]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute SFDA of ``X`` for the labels ``y``.

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
        X_given = X
        X, y = self._validate_input(X, y, reset=True)
        self.score_, self.shrinkage_, self.n_components_ = self._run(
            X, y, overwrite_X=_is_private_copy(X, X_given)
        )
        return self

    def _compute_score(self, X, y):
        return self._run(X, y)[0]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def sfda_score(X, y, *, n_components=None, shrinkage=None, confmix=True, compat=None):
    """Compute SFDA, the self-challenging Fisher discriminant transferability.

    Function form of :class:`SFDA`; see it for the maths and the parameters.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,)
        Class labels, at least 2 samples per class.
    n_components : int, float or None, default=None
        PCA size applied first (None: no PCA).
    shrinkage : float in [0, 1] or None, default=None
        Shrinkage of the within-class scatter (None: the adaptive rule).
    confmix : bool, default=True
        Apply the ConfMix stage.
    compat : {"sfda"} or None, default=None
        Reproduce the reference implementation.

    Returns
    -------
    score : float
        SFDA in (0, 1]; higher means more transferable.

    See Also
    --------
    SFDA : Estimator form, with the fitted ``shrinkage_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import sfda_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> informative = 2.0 * np.eye(3)[y] + rng.normal(size=(300, 3))
    >>> noise = rng.normal(size=(300, 3))
    >>> bool(sfda_score(informative, y) > sfda_score(noise, y))
    True
    """
    return (
        SFDA(
            n_components=n_components,
            shrinkage=shrinkage,
            confmix=confmix,
            compat=compat,
        )
        .fit(X, y)
        .score_
    )
