"""PARC: Pairwise Annotation Representation Comparison."""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral

import numpy as np
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, _fit_context
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    RealNotInt,
    StrOptions,
    validate_params,
)

from sktransfer._base import TransferabilityMixin
from sktransfer.exceptions import DegenerateScoreWarning
from sktransfer.metrics._pca import _resolve_n_components, pca_project

__all__ = ["PARC", "parc_score"]

# The reference's PCA seed (compat="parc").
_REFERENCE_PCA_SEED = 1919
# Elements of the correlation block computed at once.
_BLOCK_ELEMENTS = 1 << 22


def _standardize(Z):
    """Z-score each column; columns of (numerically) zero variance become 0."""
    Z = Z - Z.mean(axis=0)
    std = Z.std(axis=0)
    constant = std <= 1e-10 * std.max()
    std[constant] = 1.0
    Z /= std
    Z[:, constant] = 0.0
    return Z


def _reduce(X, n_components, compat):
    """PCA then per-feature standardisation (the reference's pipeline)."""
    if compat == "parc":
        if n_components is not None:
            k = _resolve_n_components(n_components, *X.shape, "PARC")
            if isinstance(k, float):
                raise ValueError(
                    "PARC(compat='parc') needs an integer n_components (the "
                    f"reference's f); got n_components={n_components!r}."
                )
            pca = PCA(
                n_components=k,
                svd_solver="randomized",
                iterated_power=1,
                random_state=_REFERENCE_PCA_SEED,
            )
            X = pca.fit_transform(X)
        return StandardScaler().fit_transform(X)
    Z, _ = pca_project(X, n_components, name="PARC")
    return _standardize(Z)


def _unit_rows(Z):
    """Centre and L2-normalise each row: ``U @ U.T`` is the Pearson correlation."""
    n_features = Z.shape[1]
    if n_features < 2:
        raise ValueError(
            "PARC correlates samples across their features, which needs at least "
            f"2 features after PCA; got n_features = {n_features}."
        )
    if n_features == 2:
        warnings.warn(
            "PARC: with 2 features after PCA every correlation between two "
            "samples is +1 or -1; the score only counts sign agreements, and "
            "its ties are broken by roundoff (it then depends on the sample "
            "order and the scale of X). Use more features.",
            DegenerateScoreWarning,
            stacklevel=5,
        )
    U = Z - Z.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(U, axis=1)
    constant = norms <= 1e-12 * norms.max()
    if np.any(constant):
        raise ValueError(
            f"PARC is undefined here: {int(constant.sum())} sample(s) have "
            "constant features after PCA and standardisation, so their Pearson "
            "correlation with other samples is undefined."
        )
    return U / norms[:, None]


def _pair_correlations(U, y):
    """Correlation ``U_i . U_j`` of every pair ``i < j``, split by class.

    Returns the same-class and the different-class correlations. The rows are
    sorted by class, so in row ``i`` the same-class partners ``j > i`` are one
    contiguous run; the products are computed by blocks of rows and no N x N
    array is formed.
    """
    n = U.shape[0]
    order = np.argsort(y, kind="stable")
    U, y = U[order], y[order]
    counts = np.bincount(y)
    class_end = np.cumsum(counts)[y]
    n_same = int(np.sum(counts * (counts - 1)) // 2)
    same = np.empty(n_same)
    diff = np.empty(n * (n - 1) // 2 - n_same)
    at_same = at_diff = 0
    block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n - 1, block):
        stop = min(start + block, n)
        products = U[start:stop] @ U[start:].T
        for i in range(start, stop):
            row, end = products[i - start], class_end[i] - start
            k = end - (i - start) - 1
            same[at_same : at_same + k] = row[i - start + 1 : end]
            diff[at_diff : at_diff + row.shape[0] - end] = row[end:]
            at_same += k
            at_diff += row.shape[0] - end
    return same, diff


def _tie_sum(values):
    """``sum(t^3 - t)`` over the groups of equal values of a sorted array."""
    edges = np.flatnonzero(np.diff(values) != 0)
    t = np.diff(np.concatenate(([-1], edges, [values.shape[0] - 1]))).astype(float)
    return float(np.sum(t**3 - t))


def _rank_biserial(high, low):
    """Spearman correlation between ``concat(high, low)`` and "is in ``high``".

    Spearman's correlation (average ranks for ties, as
    ``scipy.stats.spearmanr``) with a two-valued variable is
    ``(U_h - U_l) / (2 sqrt(n_h n_l) sigma_r)``: ``U_h`` and
    ``U_l = n_h n_l - U_h`` are the Mann-Whitney statistics of the two groups
    and ``sigma_r`` the standard deviation of the ranks of all
    ``n_h + n_l`` values. Sorts both arrays in place.
    """
    n_h, n_l = high.shape[0], low.shape[0]
    if n_h == 0 or n_l == 0:
        kind = "the same class" if n_h == 0 else "different classes"
        raise ValueError(
            f"PARC needs at least one pair of samples of {kind}; the label "
            "dissimilarities are otherwise constant and Spearman's correlation "
            "is undefined."
        )
    high.sort()
    low.sort()
    query, ref = (high, low) if n_h <= n_l else (low, high)
    left = np.searchsorted(ref, query, side="left")
    right = np.searchsorted(ref, query, side="right")
    # Pairs (query, ref) with query > ref, ties counting one half.
    u_query = float(left.sum()) + 0.5 * float((right - left).sum())
    u_high = u_query if n_h <= n_l else n_h * n_l - u_query
    u_low = n_h * n_l - u_high
    n_values = n_h + n_l
    ties = 0.0
    if np.any(right > left) or np.any(query[1:] == query[:-1]):
        ties = _tie_sum(np.sort(np.concatenate((high, low))))
    elif np.any(ref[1:] == ref[:-1]):
        ties = _tie_sum(ref)
    rank_var = (n_values**2 - 1.0) / 12.0 - ties / (12.0 * n_values)
    if not rank_var > 0:
        raise ValueError(
            "PARC is undefined here: all pairwise feature dissimilarities are "
            "equal, so Spearman's correlation is undefined."
        )
    return (u_high - u_low) / (2.0 * np.sqrt(float(n_h) * n_l) * np.sqrt(rank_var))


def _upper_triangle(M):
    """Strict upper triangle of the square ``M``, row by row."""
    return M[np.triu(np.ones(M.shape, dtype=bool), k=1)]


def _reference_spearman(Z, y):
    """Spearman correlation of the literal N x N dissimilarity matrices.

    ``1 - numpy.corrcoef`` of the features and of the one-hot labels, as the
    reference computes them. The label correlations carry floating-point
    roundoff for most class counts (``1 / C`` is inexact), which breaks the
    ties of the two label dissimilarities into class-pair dependent ranks;
    this reproduces it.
    """
    _unit_rows(Z)  # raises for one feature or (numerically) constant samples
    r_f = _upper_triangle(1.0 - np.corrcoef(Z))
    r_y = _upper_triangle(1.0 - np.corrcoef(np.eye(y.max() + 1)[y]))
    ranks = []
    for values in (r_f, r_y):
        rank = rankdata(values)
        rank -= rank.mean()
        ranks.append(rank)
    norm = np.linalg.norm(ranks[0]) * np.linalg.norm(ranks[1])
    if not norm > 0:
        raise ValueError(
            "PARC is undefined here: the pairwise feature or label "
            "dissimilarities are all equal, so Spearman's correlation is "
            "undefined."
        )
    return float(ranks[0] @ ranks[1] / norm)


def _parc(X, y, *, n_components, max_samples, random_state, compat):
    """PARC kernel on validated float64 ``X`` and encoded labels ``y``.

    Returns ``(score, n_components, sample_indices)``.
    """
    indices = None
    if max_samples is not None and X.shape[0] > max_samples:
        rng = check_random_state(random_state)
        indices = np.sort(rng.permutation(X.shape[0])[:max_samples])
        X, y = X[indices], y[indices]
    Z = _reduce(X, n_components, compat)
    if compat == "parc":
        rho = _reference_spearman(Z, y)
    else:
        # Spearman(1 - r, "different class") = Spearman(r, "same class").
        same, diff = _pair_correlations(_unit_rows(Z), y)
        rho = _rank_biserial(same, diff)
    return 100.0 * float(rho), Z.shape[1], indices


class PARC(TransferabilityMixin, BaseEstimator):
    """Pairwise Annotation Representation Comparison (PARC).

    PARC compares two representational dissimilarity matrices of the target
    data: one of the (PCA-reduced, standardised) features, ``1 - Pearson
    correlation`` between every pair of samples, and one of the one-hot
    labels. The score is 100 times their Spearman rank correlation over the
    pairs: high when samples of the same class have more correlated features
    than samples of different classes. Higher means more transferable.

    The input ``X`` is features (an embedding of the target data by the
    pretrained model).

    Parameters
    ----------
    n_components : int, float or None, default=32
        PCA size applied first: a number of components (the paper's ``f``,
        clipped to ``min(n_samples, n_features)`` with a warning), a fraction
        of variance in (0, 1), or None for no PCA.
    max_samples : int or None, default=5000
        If ``n_samples`` is larger, PARC runs on a random subset of
        ``max_samples`` samples (drawn with ``random_state``) to bound the
        quadratic cost: at most ``max_samples (max_samples - 1) / 2`` pairs.
        None uses every sample (memory and time quadratic in ``n_samples``).
    random_state : int, RandomState instance or None, default=0
        Seed of the subsampling (only used when ``n_samples > max_samples``).
        Pass an int for a reproducible score.
    compat : {"parc"} or None, default=None
        Reproduce a reference implementation:

        - ``None``: exact, deterministic PCA (each component's
          largest-magnitude loading positive);
        - ``"parc"``: dbolya/parc's pipeline: scikit-learn's randomised
          ``PCA(svd_solver="randomized", iterated_power=1,
          random_state=1919)``, an approximation of the exact PCA, then
          ``StandardScaler``, then the literal ``n x n`` matrices
          ``1 - numpy.corrcoef`` of the features and of the one-hot labels
          and Spearman's correlation of their upper triangles. The label
          correlations carry floating-point roundoff whenever ``1 / C`` is
          inexact (e.g. 3, 5, 37 classes), so the label dissimilarities are
          not exactly two-valued and their ranks follow the roundoff of each
          class pair; this can change the score by several points (see
          Notes). ``n_components`` must be an int; it is clipped to
          ``min(n_samples, n_features)`` (the reference clips to
          ``n_samples`` only, and scikit-learn then raises).

        Both use every sample when ``n_samples <= max_samples``, as the
        reference; above it, the reference uses every sample (an N x N
        matrix) while ``max_samples`` still applies here.

    Attributes
    ----------
    score_ : float
        PARC on the training data, in [-100, 100].
    n_components_ : int
        Number of features after PCA.
    sample_indices_ : ndarray of shape (max_samples,) or None
        Indices of the samples used, or None when every sample was used.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    parc_score : Function form of this estimator.
    SFDA : Discriminant-analysis based transferability.

    Notes
    -----
    With ``Z`` the PCA-reduced features, each column standardised to zero
    mean and unit variance (columns of zero variance set to 0), ``r_ij`` the
    Pearson correlation between the rows ``z_i`` and ``z_j``, and ``Y`` the
    one-hot labels,

    .. math::

        \\mathrm{PARC} = 100\\,\\rho_S\\left(\\{1 - r_{ij}\\}_{i<j},\\;
        \\{1 - \\mathrm{corr}(Y_i, Y_j)\\}_{i<j}\\right),

    with ``rho_S`` Spearman's correlation (average ranks for ties) over the
    strict upper triangles. For single-label data the label dissimilarity is
    0 for a same-class pair and ``1 + 1/(C - 1)`` otherwise, so ``rho_S`` is a
    rank-biserial statistic, computed from two sorts and a Mann-Whitney count
    instead of ranking all pairs. Pearson's correlation between samples is not
    invariant to the sign of a principal component, so PARC depends on the
    PCA's sign convention.

    The default uses the exact two-valued label dissimilarity. The reference
    computes it with ``numpy.corrcoef`` of the one-hot rows, whose roundoff
    splits the ties (by about one ulp) for most class counts; ranked exactly,
    these splits order the class pairs arbitrarily. On blobs with 600
    samples, 37 balanced classes and 64 features we measured 19.5 (exact) vs
    6.6 (the reference's label matrix); with 2, 4, 8 or 16 classes they agree.

    Cost, with ``n = min(n_samples, max_samples)`` and ``d`` the PCA size:
    ``O(n D min(n, D) + min(n, D)^3)`` for the PCA and ``O(n^2 (d + log n))``
    time and ``O(n^2)`` memory (one float per pair) for the pairs. The
    default ``max_samples=5000`` (12.5 million pairs, about 0.5 s and 200 MB
    for the pair stage on one core) keeps PARC to about 3-4 s at any
    ``n_samples`` for 2048-dimensional features, most of it the PCA; the
    subsample's score has a sampling error well below one point.

    ``score(X, y)`` recomputes PARC on ``(X, y)``, subsampling with the same
    ``random_state``; there is no fitted state.

    References
    ----------
    .. [1] D. Bolya, R. Mittapalli, J. Hoffman, "Scalable Diverse Model
       Selection for Accessible Transfer Learning", NeurIPS 2021. Reference
       code: dbolya/parc (``methods.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import PARC
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=200)
    >>> X = 3.0 * rng.normal(size=(3, 50))[y] + rng.normal(size=(200, 50))
    >>> est = PARC(n_components=8).fit(X, y)
    >>> round(est.score_, 1), est.n_components_
    (50.3, 8)
    """

    _parameter_constraints: dict = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            None,
        ],
        "max_samples": [Interval(Integral, 2, None, closed="left"), None],
        "random_state": ["random_state"],
        "compat": [StrOptions({"parc"}), None],
    }

    def __init__(
        self, *, n_components=32, max_samples=5000, random_state=0, compat=None
    ):
        self.n_components = n_components
        self.max_samples = max_samples
        self.random_state = random_state
        self.compat = compat

    def _run(self, X, y):
        return _parc(
            X,
            y,
            n_components=self.n_components,
            max_samples=self.max_samples,
            random_state=self.random_state,
            compat=self.compat,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute PARC of ``X`` for the labels ``y``.

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
        self.score_, self.n_components_, self.sample_indices_ = self._run(X, y)
        return self

    def _compute_score(self, X, y):
        return self._run(X, y)[0]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def parc_score(X, y, *, n_components=32, max_samples=5000, random_state=0, compat=None):
    """Compute PARC, the pairwise feature-label dissimilarity rank correlation.

    Function form of :class:`PARC`; see it for the maths and the parameters.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,)
        Class labels.
    n_components : int, float or None, default=32
        PCA size applied first (None: no PCA).
    max_samples : int or None, default=5000
        Subsample size above which a random subset is used (None: all).
    random_state : int, RandomState instance or None, default=0
        Seed of the subsampling.
    compat : {"parc"} or None, default=None
        Reproduce the reference implementation.

    Returns
    -------
    score : float
        PARC in [-100, 100]; higher means more transferable.

    See Also
    --------
    PARC : Estimator form, with ``n_components_`` and ``sample_indices_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import parc_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=200)
    >>> informative = 3.0 * rng.normal(size=(3, 50))[y] + rng.normal(size=(200, 50))
    >>> noise = rng.normal(size=(200, 50))
    >>> bool(parc_score(informative, y) > parc_score(noise, y))
    True
    """
    return (
        PARC(
            n_components=n_components,
            max_samples=max_samples,
            random_state=random_state,
            compat=compat,
        )
        .fit(X, y)
        .score_
    )
