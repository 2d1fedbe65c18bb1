"""N-LEEP: LEEP on the posteriors of a Gaussian mixture fitted to the features."""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.decomposition import PCA
from sklearn.utils._param_validation import (
    Interval,
    RealNotInt,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import check_is_fitted, column_or_1d

from sktransfer._base import TransferabilityMixin
from sktransfer.exceptions import DegenerateScoreWarning
from sktransfer.metrics._gmm import _fit_gaussian_mixture, _mixture_posteriors
from sktransfer.metrics._pca import _resolve_n_components, pca_project

__all__ = ["NLEEP", "nleep_score"]

# What each reference implementation fixes (see the NLEEP docstring).
_COMPAT = {
    None: {"dtype": np.float64, "seed": None, "pca": "eigh", "log": True},
    "stable_transfer": {
        "dtype": np.float32,
        "seed": 123,
        "pca": "sklearn_full",
        "log": True,
    },
    "sfda": {"dtype": np.float64, "seed": None, "pca": "eigh", "log": False},
}


def _leep_core(P, y, n_classes, *, table=None, log=True):
    """LEEP of the "source" probabilities ``P`` for the encoded labels ``y``.

    Parameters
    ----------
    P : ndarray of shape (n_samples, n_sources)
        Rows are probability vectors over the source classes (here the Gaussian
        components).
    y : ndarray of shape (n_samples,)
        Labels in ``0..n_classes-1``.
    n_classes : int
        Number of target classes.
    table : ndarray of shape (n_classes, n_sources) or None
        Conditional table ``P(y | z)`` to use; if None, it is estimated from
        ``(P, y)``: ``joint[c, z] = sum_{i: y_i = c} P[i, z]``, divided by its
        column sums (a column without mass gives zeros).
    log : bool
        Mean of ``log EEP_i`` (LEEP) or of ``EEP_i`` (the SFDA repository).

    Returns
    -------
    score : float
        ``mean_i log EEP_i`` where ``EEP_i = sum_z P[i, z] table[y_i, z]``; a
        sample with ``EEP_i = 0`` (only possible with a reused ``table``)
        counts as a uniform prediction, ``log(1 / n_classes)``.
    table : ndarray of shape (n_classes, n_sources)
        The conditional table used.
    """
    # Row indices of each class, in one sort.
    bounds = np.cumsum(np.bincount(y, minlength=n_classes))[:-1]
    members = np.split(np.argsort(y, kind="stable"), bounds)
    if table is None:
        joint = np.array([P[rows].sum(axis=0) for rows in members])
        marginal = joint.sum(axis=0)
        table = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    eep = np.empty(y.shape[0])
    for c, rows in enumerate(members):
        eep[rows] = P[rows] @ table[c]
    np.minimum(eep, 1.0, out=eep)  # EEP <= 1 in exact arithmetic
    if not log:
        return float(eep.mean()), table
    positive = eep > 0
    logs = np.full(eep.shape, -np.log(n_classes))
    logs[positive] = np.log(eep[positive])
    return float(logs.mean()), table


def _pca_basis(X, n_components, compat, name):
    """Mean, projection matrix (k, D) and explained-variance ratio of the PCA.

    The default uses :func:`pca_project` and recovers its basis from the
    projection (``V = Xc^T Z / lambda``, as ``Xc^T Xc V = V Lambda``), so that
    new data can be projected; ``compat="stable_transfer"`` uses scikit-learn's
    ``PCA(svd_solver="full")``, as the reference.
    """
    if n_components is None:
        return None, None, None
    if _COMPAT[compat]["pca"] == "sklearn_full":
        n_components = _resolve_n_components(n_components, *X.shape, name)
        pca = PCA(n_components=n_components, svd_solver="full").fit(X)
        return pca.mean_, pca.components_, pca.explained_variance_ratio_
    Z, ratio = pca_project(X, n_components, name=name)
    mean = X.mean(axis=0)
    eigenvalues = np.einsum("ij,ij->j", Z, Z)
    # Z.T @ (X - mean) without a centred copy of X.
    basis = Z.T @ X
    basis -= np.outer(Z.sum(axis=0), mean)
    keep = eigenvalues > eigenvalues.max(initial=0.0) * np.finfo(np.float64).eps
    basis[keep] /= eigenvalues[keep, None]
    basis[~keep] = 0.0  # directions without variance (beyond the rank of X)
    return mean, basis, ratio


def _project(X, mean, components):
    """PCA features ``(X - mean) @ components.T`` (``X`` itself without PCA).

    Computed as ``X @ components.T - mean @ components.T``: no centred copy of
    ``X``.
    """
    if components is None:
        return X
    Z = X @ components.T
    Z -= mean @ components.T
    return Z


def _posteriors(Z, gmm, dtype):
    """Posteriors of the mixture on ``Z`` in ``dtype``, returned as float64."""
    P = _mixture_posteriors(gmm, Z.astype(dtype, copy=False))
    return P.astype(dtype, copy=False).astype(np.float64, copy=False)


def _fit_mixture(
    Z,
    n_gaussians,
    *,
    covariance_type,
    reg_covar,
    max_iter,
    n_init,
    random_state,
    name,
):
    """Fitted ``GaussianMixture`` and the posteriors of ``Z`` under it."""
    try:
        return _fit_gaussian_mixture(
            Z,
            n_gaussians,
            covariance_type=covariance_type,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            random_state=random_state,
        )
    except ValueError as exc:
        raise ValueError(
            f"{name}: the Gaussian mixture could not be fitted ({exc}). With "
            f"{n_gaussians} components on {Z.shape[1]} dimensions, try a larger "
            "reg_covar, covariance_type='diag' or 'spherical', fewer "
            "components_per_class or a smaller n_components."
        ) from exc


def _nleep(
    X,
    y,
    n_classes,
    *,
    n_components,
    components_per_class,
    covariance_type,
    reg_covar,
    max_iter,
    n_init,
    random_state,
    compat,
    name="NLEEP",
):
    """N-LEEP kernel on validated float64 ``X`` and encoded labels ``y``."""
    settings = _COMPAT[compat]
    n_samples = X.shape[0]
    mean, components, ratio = _pca_basis(X, n_components, compat, name)
    n_dims = X.shape[1] if components is None else components.shape[0]

    n_gaussians = components_per_class * n_classes
    if n_gaussians > n_samples:
        warnings.warn(
            f"{name}: components_per_class * n_classes = {n_gaussians} Gaussian "
            f"components for {n_samples} samples; using {n_samples}.",
            UserWarning,
            stacklevel=4,
        )
        n_gaussians = n_samples
    if n_samples / n_gaussians < n_dims:
        hint = " or covariance_type='diag'" if covariance_type == "full" else ""
        warnings.warn(
            f"{name}: {n_samples / n_gaussians:.3g} samples per Gaussian "
            f"component for {n_dims} dimensions; the mixture over-fits and "
            "N-LEEP saturates towards 0. Use fewer components_per_class, a "
            f"smaller n_components{hint}.",
            DegenerateScoreWarning,
            stacklevel=4,
        )

    Z = _project(X, mean, components)
    seed = random_state if settings["seed"] is None else settings["seed"]
    gmm, P = _fit_mixture(
        Z.astype(settings["dtype"], copy=False),
        n_gaussians,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        max_iter=max_iter,
        n_init=n_init,
        random_state=seed,
        name=name,
    )
    P = P.astype(settings["dtype"], copy=False).astype(np.float64, copy=False)
    score, table = _leep_core(P, y, n_classes, log=settings["log"])
    return {
        "score": score,
        "mean": mean,
        "components": components,
        "ratio": ratio,
        "n_dims": n_dims,
        "gmm": gmm,
        "table": table,
    }


class NLEEP(TransferabilityMixin, BaseEstimator):
    """N-LEEP: LEEP with a Gaussian mixture in place of the source classifier.

    N-LEEP reduces the target features with PCA, fits a Gaussian mixture with
    ``components_per_class * n_classes`` components to them (without the
    labels), and computes LEEP with the mixture's posterior probabilities as
    the "source-model probabilities": the mean log-likelihood of the labels
    under the empirical predictor ``P(y | x) = sum_z P(z | x) P(y | z)``.
    Higher (closer to 0) means more transferable.

    Input kind: features (e.g. penultimate-layer activations of the source
    model on the target data).

    Parameters
    ----------
    n_components : int, float or None, default=0.8
        PCA before the mixture: a number of components (clipped to
        ``min(n_samples, n_features)`` with a warning), a fraction of the
        variance to keep (the reference's 0.8), or None for no PCA.
    components_per_class : int, default=5
        Number of Gaussian components per target class (5 in the paper). A
        total larger than ``n_samples`` is clipped to ``n_samples`` with a
        warning.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Covariance of the Gaussian components (``GaussianMixture``'s). The
        reference uses "full"; "diag" costs ``O(N K d)`` per EM iteration
        instead of ``O(N K d^2)`` but needs many more iterations; see Notes
        for the measured speeds.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of the covariances.
        It is absolute, so the score depends on the scale of ``X``.
    max_iter : int, default=100
        Maximum number of EM iterations.
    n_init : int, default=1
        Number of EM runs from different k-means initialisations; the best
        (highest likelihood) is kept. More runs reduce the seed dependence.
    random_state : int, RandomState instance or None, default=0
        Seed of the k-means initialisation of the mixture. An int makes the
        score reproducible; see Notes for the dependence on it.
    compat : {"stable_transfer", "sfda"} or None, default=None
        Reproduce a reference implementation; the other parameters keep their
        values (their defaults are the references' settings):

        - ``None``: float64 throughout, the deterministic PCA of the package
          and the mixture seeded with ``random_state``;
        - ``"stable_transfer"``: google-research ``stable_transfer`` (the
          ECCV 2022 study): scikit-learn's ``PCA(svd_solver="full")`` (its
          ``transform``, equal to the reference's ``fit_transform`` up to
          float64 roundoff), the projected features and the posteriors cast
          to float32, the mixture fitted in float32 with seed 123
          (``random_state`` is ignored), and LEEP with its conventions
          (``EEP = 0`` counts as ``log(1/C)``). LEEP is computed in float64
          from the float32 posteriors (the reference uses TensorFlow float32:
          about 1e-7 relative difference). The float32 full-covariance fit
          fails on many real feature sets (the error suggests the fixes);
        - ``"sfda"``: TencentARC/SFDA's ``NLEEP``: the mean of the expected
          empirical prediction without the logarithm, in (0, 1]. The
          reference's mixture is not seeded, so its values vary from run to
          run; here it is seeded with ``random_state``.

    Attributes
    ----------
    score_ : float
        N-LEEP on the training data.
    n_components_ : int
        Number of PCA dimensions ``d`` the mixture is fitted on
        (``n_features_in_`` without PCA).
    explained_variance_ratio_ : ndarray of shape (`n_components_`,) or None
        Fraction of the variance of each kept principal component (None
        without PCA).
    pca_mean_ : ndarray of shape (`n_features_in_`,) or None
        Mean subtracted before the projection (None without PCA).
    pca_components_ : ndarray of shape (`n_components_`, `n_features_in_`) or None
        Projection matrix: the PCA features are
        ``(X - pca_mean_) @ pca_components_.T`` (None without PCA).
    gmm_ : sklearn.mixture.GaussianMixture
        The fitted mixture; ``gmm_.n_components`` is ``n_gaussians_``.
    n_gaussians_ : int
        Number of Gaussian components, ``components_per_class * n_classes``
        clipped to ``n_samples``.
    conditional_ : ndarray of shape (n_classes, `n_gaussians_`)
        The LEEP table ``P(y = c | z = k)`` estimated on the training data.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    nleep_score : Function form of this estimator.
    KNNScore : Leave-one-out k-NN accuracy, a simple baseline.
    LogME : Evidence-based transferability.

    Notes
    -----
    With ``z_i`` the PCA features of sample ``i``, ``theta_ik = P(k | z_i)``
    the posteriors of the fitted mixture (K components) and ``y_i`` the
    labels,

    .. math::

        \\hat P(y = c \\mid z = k) = \\frac{\\sum_{i: y_i = c}\\theta_{ik}}
        {\\sum_i \\theta_{ik}}, \\qquad
        \\mathrm{N\\text{-}LEEP} = \\frac{1}{N}\\sum_i \\log \\sum_k
        \\theta_{ik}\\,\\hat P(y_i \\mid z = k) \\;\\le 0.

    It is 0 when every component holds a single class, and about
    ``-H(Y)`` (the label entropy) when the components ignore the classes.

    The mixture is the one ``GaussianMixture(n_components=K,
    covariance_type=..., reg_covar=..., max_iter=..., n_init=...,
    random_state=...).fit`` finds (the same k-means initialisation, EM updates
    and stopping rule; equal up to floating-point roundoff, about 1e-12
    relative), and ``gmm_`` is that fitted ``GaussianMixture``. For float64
    data and the "full" and "diag" covariances the package runs its own EM,
    vectorised over the components. It sets to 0 the posteriors below
    ``exp(-37)`` (1e-16) times the largest of their sample, which changes
    the mixture by about ``1e-16 N / N_k`` relative (``N_k`` the
    component's weight in samples); deep features give nearly
    one-hot posteriors, so the M-step sums each covariance over a few
    samples, and the "full" E-step evaluates only the (sample, component)
    pairs that a cheap lower bound on the Mahalanobis distance cannot rule
    out. "tied", "spherical" and ``compat="stable_transfer"`` (float32) call
    ``GaussianMixture`` itself.

    Cost, with ``d`` the kept dimensions and ``K = components_per_class *
    C``: PCA ``O(N D min(N, D) + min(N, D)^3)``; the k-means initialisation
    ``O(N K d)`` per Lloyd iteration; each EM iteration ``O(N K d m + N c d^2
    + K d^3)`` for "full", with ``m = 4`` bound columns and ``c`` the pairs
    per sample that the bound keeps (a few on deep features; ``c = K``, the
    plain ``O(N K d^2)``, when the components overlap), ``O(N d^2 + N K d +
    d^3)`` for "tied", ``O(N K d)`` for "diag" and "spherical"; LEEP
    ``O(N K)``. "diag" is cheaper per iteration but may need many more
    iterations. Measured on one CPU thread
    (synthetic deep-feature-like data, ``benchmarks/bench_metrics.py``),
    N = 5000, D = 512, C = 10 (d = 123, K = 50): "full" 0.53 s (2 EM
    iterations), "diag" 1.5 s (85 iterations), the stable_transfer reference
    (float32 ``GaussianMixture``, "full") 1.6 s; N = 20000 (d = 129, 400
    samples per component, overlapping posteriors): "full" 22 s (9
    iterations, the E-step prunes nothing), "diag" 6.8 s, the reference 25 s. So "diag"
    is the faster option when the components overlap, not when "full"
    converges in a few iterations. The covariance type changes the value of
    the score.

    When ``N / K`` is smaller than ``d`` (fewer samples per component than
    dimensions), the full covariances are poorly estimated, the mixture
    over-fits and N-LEEP saturates towards 0; a
    :class:`~sktransfer.exceptions.DegenerateScoreWarning` says so.

    The mixture is initialised by k-means with ``random_state``, and EM finds
    a local optimum: different seeds give different scores (by up to 1e-2 on
    deep features). The initialisation picks samples by position, so
    reordering the samples acts like another seed: the score is invariant to
    sample order in distribution, not value by value. It is invariant to the
    names of the classes (the mixture never sees the labels).

    ``score(X, y)`` reuses the fitted state: it projects ``X`` with the fitted
    PCA, takes the posteriors of the fitted mixture and the fitted table
    ``conditional_``, so on held-out data it is an out-of-sample N-LEEP that
    does not saturate when the mixture over-fits. Labels not seen in ``fit``
    raise a ``ValueError``; a held-out sample whose expected prediction is 0
    counts as ``log(1/C)``.

    References
    ----------
    .. [1] Y. Li, X. Jia, R. Sang, Y. Zhu, B. Green, L. Wang, B. Gong,
       "Ranking Neural Checkpoints", CVPR 2021.
    .. [2] C. Nguyen, T. Hassner, M. Seeger, C. Archambeau, "LEEP: A New
       Measure to Evaluate Transferability of Learned Representations",
       ICML 2020.
    .. [3] A. Agostinelli, M. Pándy, J. Uijlings, T. Mensink, V. Ferrari, "How
       stable are Transferability Metrics evaluations?", ECCV 2022. Reference
       code: google-research ``stable_transfer/transferability/nleep.py``;
       also TencentARC/SFDA ``metrics.py`` (no logarithm).

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import NLEEP
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 100)
    >>> X = 4.0 * np.eye(3, 6)[y] + rng.normal(size=(300, 6))
    >>> est = NLEEP(components_per_class=2).fit(X, y)
    >>> est.n_gaussians_, est.conditional_.shape
    (6, (3, 6))
    >>> bool(-0.1 < est.score_ <= 0.0)
    True
    >>> est.score(X, y) == est.score_
    True
    """

    _parameter_constraints: dict = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            None,
        ],
        "components_per_class": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "compat": [StrOptions({"stable_transfer", "sfda"}), None],
    }

    def __init__(
        self,
        *,
        n_components=0.8,
        components_per_class=5,
        covariance_type="full",
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        random_state=0,
        compat=None,
    ):
        self.n_components = n_components
        self.components_per_class = components_per_class
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state
        self.compat = compat

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the PCA, the Gaussian mixture and the LEEP table; compute N-LEEP.

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
        result = _nleep(
            X,
            y,
            self.classes_.shape[0],
            n_components=self.n_components,
            components_per_class=self.components_per_class,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            n_init=self.n_init,
            random_state=self.random_state,
            compat=self.compat,
        )
        self.pca_mean_ = result["mean"]
        self.pca_components_ = result["components"]
        self.explained_variance_ratio_ = result["ratio"]
        self.n_components_ = result["n_dims"]
        self.gmm_ = result["gmm"]
        self.n_gaussians_ = self.gmm_.n_components
        self.conditional_ = result["table"]
        self.score_ = result["score"]
        return self

    def score(self, X, y):
        """Return N-LEEP of ``(X, y)`` under the fitted PCA, mixture and table.

        On the training data this is exactly ``score_``; on held-out data it
        is an out-of-sample N-LEEP (see Notes of :class:`NLEEP`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features of the target data.
        y : array-like of shape (n_samples,)
            Class labels, among those seen in ``fit``.

        Returns
        -------
        score : float
            N-LEEP; higher means more transferable.
        """
        check_is_fitted(self)
        X, y_encoded = self._validate_input(X, y, reset=False)
        # y_encoded indexes the sorted labels of y; map them to classes_.
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        labels = np.unique(column_or_1d(y)).tolist()
        unseen = [label for label in labels if label not in index]
        if unseen:
            raise ValueError(
                f"{type(self).__name__}.score: y has labels not seen in fit: "
                f"{unseen[:5]!r}; the fitted table conditional_ has no row for "
                "them."
            )
        position = np.array([index[label] for label in labels], dtype=np.int64)
        return float(self._compute_score(X, position[y_encoded]))

    def _compute_score(self, X, y):
        """N-LEEP of ``X`` with labels ``y`` encoded as indices of ``classes_``."""
        settings = _COMPAT[self.compat]
        Z = _project(X, self.pca_mean_, self.pca_components_)
        P = _posteriors(Z, self.gmm_, settings["dtype"])
        return _leep_core(
            P,
            y,
            self.classes_.shape[0],
            table=self.conditional_,
            log=settings["log"],
        )[0]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def nleep_score(
    X,
    y,
    *,
    n_components=0.8,
    components_per_class=5,
    covariance_type="full",
    reg_covar=1e-6,
    max_iter=100,
    n_init=1,
    random_state=0,
    compat=None,
):
    """Compute N-LEEP, LEEP on the posteriors of a Gaussian mixture of the features.

    Function form of :class:`NLEEP`; see it for the maths and parameters.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,)
        Class labels.
    n_components : int, float or None, default=0.8
        PCA size: components, fraction of variance, or None for no PCA.
    components_per_class : int, default=5
        Gaussian components per target class.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Covariance of the Gaussian components (see Notes of :class:`NLEEP`
        for their costs).
    reg_covar : float, default=1e-6
        Regularisation added to the diagonal of the covariances.
    max_iter : int, default=100
        Maximum number of EM iterations.
    n_init : int, default=1
        Number of EM initialisations.
    random_state : int, RandomState instance or None, default=0
        Seed of the mixture's initialisation.
    compat : {"stable_transfer", "sfda"} or None, default=None
        Reproduce a reference implementation.

    Returns
    -------
    score : float
        N-LEEP; higher (closer to 0) means more transferable.

    See Also
    --------
    NLEEP : Estimator form, with the fitted mixture and LEEP table.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import nleep_score
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 100)
    >>> informative = 4.0 * np.eye(3, 6)[y] + rng.normal(size=(300, 6))
    >>> noise = rng.normal(size=(300, 6))
    >>> bool(nleep_score(informative, y) > nleep_score(noise, y))
    True
    """
    return (
        NLEEP(
            n_components=n_components,
            components_per_class=components_per_class,
            covariance_type=covariance_type,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            random_state=random_state,
            compat=compat,
        )
        .fit(X, y)
        .score_
    )
