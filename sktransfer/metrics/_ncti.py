"""NCTI: how far pretrained features are from neural collapse on the target data."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from scipy import linalg
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import (
    Interval,
    RealNotInt,
    StrOptions,
    validate_params,
)

from sktransfer._base import TransferabilityMixin
from sktransfer.metrics._etran import _component_table, _min_max
from sktransfer.metrics._pca import pca_project

__all__ = ["NCTI", "ncti_score"]

# The reference's automatic shrinkage: exp(-sum of the top 32 PCA variances),
# floored at 1e-10; at the floor it switches to the unshrunk SVD solver.
_N_SHRINKAGE_COMPONENTS = 32
_SHRINKAGE_FLOOR = 1e-10
# Rank tolerance of scikit-learn's LDA SVD solver (its ``tol`` default).
_SVD_TOL = 1e-4


def _pc_variances(Z):
    """Variances (ddof=1) of the principal components of centred ``Z``, descending."""
    n_samples, n_features = Z.shape
    if n_samples > n_features:
        evals = linalg.eigvalsh(Z.T @ Z)[::-1]
    else:
        evals = linalg.svdvals(Z) ** 2
    return np.clip(evals, 0.0, None) / (n_samples - 1)


def _resolve_shrinkage(shrinkage, variances):
    """The shrinkage used, or None for the unshrunk SVD solver."""
    if shrinkage != "auto":
        return None if shrinkage is None else float(shrinkage)
    value = max(
        float(np.exp(-variances[:_N_SHRINKAGE_COMPONENTS].sum())), _SHRINKAGE_FLOOR
    )
    return None if value == _SHRINKAGE_FLOOR else value


def _lda_svd(Z, y, means, priors, *, dof):
    """LDA without shrinkage, as scikit-learn's SVD solver (Venables & Ripley).

    The within-class covariance is the residual scatter divided by ``dof``
    (``N - K`` in the reference's scikit-learn). Returns the discriminant
    coordinates (centred at the weighted mean) and the decision values.
    """
    n_classes = means.shape[0]
    residuals = Z - means[y]
    std = residuals.std(axis=0)
    std[std == 0] = 1.0
    _, s, vt = linalg.svd(residuals / std / np.sqrt(dof), full_matrices=False)
    rank = int(np.sum(s > _SVD_TOL))
    if rank == 0:
        raise ValueError(
            "NCTI is undefined when the within-class scatter is zero (every "
            "class is a single point in feature space)."
        )
    whiten = (vt[:rank] / std).T / s[:rank]
    xbar = priors @ means
    centres = np.sqrt(Z.shape[0] * priors / (n_classes - 1))[:, None] * (means - xbar)
    _, s_between, vt_between = linalg.svd(centres @ whiten, full_matrices=False)
    rank = int(np.sum(s_between > _SVD_TOL * s_between[0]))
    scalings = whiten @ vt_between[:rank].T
    coef = (means - xbar) @ scalings
    projected = (Z - xbar) @ scalings
    decision = projected @ coef.T - 0.5 * np.sum(coef**2, axis=1) + np.log(priors)
    return projected, decision


def _lda_eigen(Z, y, means, priors, *, shrinkage):
    """LDA with shrunk covariances, as scikit-learn's eigen solver.

    ``S_w`` and ``S_t`` are the maximum-likelihood within-class and total
    covariances, each shrunk as ``(1 - s) S + s tr(S) / d I``; the directions
    solve ``(S_t - S_w) v = lambda S_w v``.
    """
    n_samples, n_features = Z.shape
    residuals = Z - means[y]
    within = residuals.T @ residuals / n_samples
    if not np.any(within):
        raise ValueError(
            "NCTI is undefined when the within-class scatter is zero (every "
            "class is a single point in feature space)."
        )
    centred = Z - Z.mean(axis=0)
    total = centred.T @ centred / n_samples

    def shrink(cov):
        shrunk = (1.0 - shrinkage) * cov
        shrunk.flat[:: n_features + 1] += shrinkage * np.trace(cov) / n_features
        return shrunk

    within, total = shrink(within), shrink(total)
    try:
        evals, evecs = linalg.eigh(total - within, within)
    except linalg.LinAlgError as exc:
        raise ValueError(
            f"NCTI: the shrunk within-class covariance (shrinkage={shrinkage:.3g}) "
            "is numerically singular; use a larger shrinkage."
        ) from exc
    evecs = evecs[:, np.argsort(evals)[::-1]]
    coef = (means @ evecs) @ evecs.T
    decision = Z @ coef.T - 0.5 * np.einsum("ij,ij->i", means, coef) + np.log(priors)
    return Z @ evecs, decision


def _ncti(X, y, *, n_components, shrinkage, dof=None):
    """NCTI kernel on validated float64 ``X`` and encoded labels ``y``.

    Returns ``(components, shrinkage_used, n_components_used)``; ``dof``
    overrides the SVD solver's within-class degrees of freedom (``N - K``).
    """
    n_samples = X.shape[0]
    counts = np.bincount(y)
    n_classes = counts.shape[0]
    if n_samples <= n_classes:
        raise ValueError(
            f"NCTI needs more samples than classes; got {n_samples} samples for "
            f"{n_classes} classes."
        )
    if n_components is None:
        Z = X - X.mean(axis=0)
    else:
        Z, _ = pca_project(X, n_components, name="NCTI")
    used = _resolve_shrinkage(
        shrinkage, _pc_variances(Z) if shrinkage == "auto" else None
    )
    Y = np.zeros((n_samples, n_classes))
    Y[np.arange(n_samples), y] = 1.0
    means = (Y.T @ Z) / counts[:, None]
    priors = counts / n_samples
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if used is None:
            dof = n_samples - n_classes if dof is None else dof
            projected, decision = _lda_svd(Z, y, means, priors, dof=dof)
        else:
            projected, decision = _lda_eigen(Z, y, means, priors, shrinkage=used)
        projected = projected[:, : min(n_classes - 1, Z.shape[1])]
        projected = projected - projected.mean(axis=0)
        seli = linalg.svdvals(projected).sum() if projected.shape[1] else 0.0
        proba = np.exp(decision - logsumexp(decision, axis=1, keepdims=True))
        ncc = proba[np.arange(n_samples), y].mean()
        order = np.argsort(y, kind="stable")
        blocks = np.split(proba[order], np.cumsum(counts)[:-1])
        vc = np.log(sum(linalg.svdvals(block).sum() for block in blocks))
    components = {"ncc": float(ncc), "seli": float(seli), "vc": float(vc)}
    if not np.all(np.isfinite(list(components.values()))):
        raise ValueError(
            "NCTI is not finite: the features are degenerate or too large in "
            "magnitude for the discriminant analysis; check or rescale X."
        )
    return components, used, Z.shape[1]


def _ncti_combine(components):
    """Zoo-level NCTI: min-max normalised ``ncc + seli - vc`` across models.

    For models ``m = 1..M`` with components ``S_ncc(m)``, ``S_seli(m)`` and
    ``S_vc(m)`` (``NCTI().fit(X_m, y).components_``, ``X_m`` the features of
    model ``m`` on the same target data),

    .. math::

        \\mathrm{NCTI}(m) = \\bar S_{ncc}(m) + \\bar S_{seli}(m)
        - \\bar S_{vc}(m), \\qquad
        \\bar S(m) = \\frac{S(m) - \\min_k S(k)}{\\max_k S(k) - \\min_k S(k)},

    as in the reference code (``evaluate_metric_group1_cpu.py``). A component
    that is equal for every model (in particular with a single model)
    contributes 0 instead of the reference's division by zero. The values are
    relative to the pool: adding or removing a model changes every other
    model's value.

    Parameters
    ----------
    components : sequence of dict
        One dict per model with keys ``"ncc"``, ``"seli"`` and ``"vc"``.

    Returns
    -------
    scores : ndarray of shape (n_models,)
        Combined score of each model, in ``[-1, 2]``; higher is better.
    """
    ncc, seli, vc = _component_table(
        components, ("ncc", "seli", "vc"), "_ncti_combine"
    ).T
    return _min_max(ncc) + _min_max(seli) - _min_max(vc)


class NCTI(TransferabilityMixin, BaseEstimator):
    """Neural Collapse Transferability Index (NCTI) of pretrained features.

    NCTI measures how close the target features are to neural collapse, the
    geometry of well-trained classifier features, with three components
    computed in the discriminant space of an LDA fitted after PCA: the
    **ncc** (nearest-centre classifier) score, the mean LDA posterior of the
    true class; the **seli** score, the nuclear norm of the discriminant
    coordinates (spread of the class structure); and the **vc** score, the log
    of the summed class-wise nuclear norms of the posteriors (within-class
    variability). Higher ncc and seli and lower vc mean more transferable.

    The paper's final score is **relative to a pool of models**: each component
    is min-max normalised across the candidate models and NCTI is
    ``ncc + seli - vc``. A single model has no such score, so ``score_`` is
    the ncc component alone, a mean probability in ``[0, 1]`` comparable
    across models (seli grows with the sample size and vc with the class
    sizes); ``components_`` holds all three for a pool-level combination
    (done by a selector across models, not by this estimator).

    Parameters
    ----------
    n_components : int, float or None, default=64
        Size of the PCA applied first: a number of components (clipped to
        ``min(n_samples, n_features)`` with a warning), a fraction of
        variance in (0, 1), or None for no PCA (the features are only
        centred). The reference uses 64.
    shrinkage : "auto", float in (0, 1] or None, default="auto"
        Shrinkage of the LDA covariances. ``"auto"`` is the reference's rule:
        ``s = max(exp(-v), 1e-10)`` with ``v`` the summed variances of the
        top 32 principal components, and the unshrunk SVD solver when ``s``
        hits the floor ``1e-10`` (typical for unnormalised CNN features). A
        float always uses the shrunk (eigen) solver; None always the SVD
        solver.

    Attributes
    ----------
    score_ : float
        The ncc component, the single-model score.
    components_ : dict
        ``{"ncc": float, "seli": float, "vc": float}`` on the training data.
    shrinkage_ : float or None
        Shrinkage used by the LDA; None when the SVD solver ran.
    n_components_ : int
        Number of features after the PCA (``n_features_in_`` without PCA).
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    ncti_score : Function form of this estimator.
    ETran : Another metric whose published score is relative to a model pool.

    Notes
    -----
    The input is features. With ``Z`` the PCA projection of ``X``, fit an LDA
    to ``(Z, y)``; let ``H`` be its discriminant coordinates (the first
    ``min(K - 1, d)`` directions, centred) and ``P`` its posteriors, with
    ``P_c`` the rows of class ``c``. Then

    .. math::

        S_{ncc} = \\frac{1}{N}\\sum_i P_{i, y_i}, \\qquad
        S_{seli} = \\lVert H\\rVert_*, \\qquad
        S_{vc} = \\log \\sum_c \\lVert P_c\\rVert_*,

    with ``||.||_*`` the nuclear norm (sum of singular values).

    The LDA is scikit-learn's, as the reference uses it: the SVD solver
    (within-class covariance ``S_w / (N - K)``, directions of within-class
    standard deviation below ``1e-4`` dropped) or the eigen solver (maximum-
    likelihood covariances shrunk towards ``tr(S) / d I``, directions from
    ``(S_t - S_w) v = lambda S_w v``), reimplemented in float64 so that the
    result does not depend on the installed scikit-learn: version 1.9 changed
    its SVD solver to ``S_w / N``. Without rank deficiency, the SVD solver's
    coordinates give ``S_seli = sqrt(N - K) sum_{j < K} sqrt(1 + gamma_j)``
    with ``gamma_j`` the eigenvalues of ``S_w^{-1} S_b`` (scatter matrices),
    so seli is affine-invariant but grows as ``sqrt(N)``.

    The reference's PCA is scikit-learn's ``PCA(64)`` without a seed (its
    randomised solver is not reproducible); the deterministic PCA used here
    equals it up to the signs of the components, which no component depends
    on. The reference fails when ``min(N, D) < 64``; here the PCA size is
    clipped with a warning. The ``"auto"`` shrinkage switches solver at
    ``v = -log(1e-10) ~ 23``, so features with small variance (normalised or
    low-dimensional) take the shrunk solver and others the unshrunk one. The
    posteriors are evaluated on the data the LDA was fitted on, so with few
    samples per discriminant dimension (``N`` close to the PCA size) ncc is
    optimistic even for uninformative features.

    Cost: the PCA, ``O(N D^2 + D^3)`` (``O(N D min(N, D))`` when
    ``N <= D``), dominates; then ``O(N d^2 + d^3)`` for the LDA in ``d``
    dimensions and ``O(N K min(d, K))`` for the nuclear norms.

    There is no ``compat`` option: with ``shrinkage="auto"`` and
    ``n_components=64`` the components are those of the reference code run
    with the scikit-learn of its time (before 1.9).

    ``score(X, y)`` recomputes the PCA, the LDA and the ncc component on
    ``(X, y)``; it does not reuse fitted state.

    References
    ----------
    .. [1] Z. Wang, Y. Luo, L. Zheng, Z. Huang, M. Baktashmotlagh, "How Far
       Pre-trained Models Are from Neural Collapse on the Target Dataset
       Informs their Transferability", ICCV 2023, pp. 5549-5558. Reference
       code: BUserName/NCTI (``metrics.py``: ``NCTI_Score``;
       ``evaluate_metric_group1_cpu.py``: the pool-level combination).

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import NCTI
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> X = 3.0 * np.eye(8)[y] + rng.normal(size=(300, 8))
    >>> est = NCTI(n_components=8).fit(X, y)
    >>> sorted(est.components_)
    ['ncc', 'seli', 'vc']
    >>> est.score_ == est.components_["ncc"]
    True
    >>> bool(est.score_ > 0.9)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            None,
        ],
        "shrinkage": [
            StrOptions({"auto"}),
            Interval(Real, 0, 1, closed="right"),
            None,
        ],
    }

    def __init__(self, *, n_components=64, shrinkage="auto"):
        self.n_components = n_components
        self.shrinkage = shrinkage

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute the NCTI components of ``X`` for the labels ``y``.

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
        X, y = self._validate_input(X, y, reset=True)
        self.components_, self.shrinkage_, self.n_components_ = _ncti(
            X, y, n_components=self.n_components, shrinkage=self.shrinkage
        )
        self.score_ = self.components_["ncc"]
        return self

    def _compute_score(self, X, y):
        components, _, _ = _ncti(
            X, y, n_components=self.n_components, shrinkage=self.shrinkage
        )
        return components["ncc"]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def ncti_score(X, y, *, n_components=64, shrinkage="auto"):
    """Compute NCTI's single-model score, its ncc component.

    Function form of :class:`NCTI`; see it for the maths, the other two
    components and the pool-level combination.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,)
        Class labels.
    n_components : int, float or None, default=64
        Size of the PCA applied first (None: no PCA).
    shrinkage : "auto", float in (0, 1] or None, default="auto"
        Shrinkage of the LDA covariances (``"auto"``: the reference's rule).

    Returns
    -------
    score : float
        Mean LDA posterior of the true class, in ``[0, 1]``; higher means more
        transferable.

    See Also
    --------
    NCTI : Estimator form, with the three components in ``components_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import ncti_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> informative = 3.0 * np.eye(8)[y] + rng.normal(size=(300, 8))
    >>> noise = rng.normal(size=(300, 8))
    >>> bool(
    ...     ncti_score(informative, y, n_components=8)
    ...     > ncti_score(noise, y, n_components=8)
    ... )
    True
    """
    return NCTI(n_components=n_components, shrinkage=shrinkage).fit(X, y).score_
