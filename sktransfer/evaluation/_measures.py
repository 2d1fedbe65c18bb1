"""Evaluation measures: how well transferability scores predict actual performance.

Each measure compares, over a pool of sources (models, layers, source datasets)
for one target, the actual performance of each source after transfer
(``accuracies``, the ground truth) with its transferability score
(``scores``, higher = predicted to transfer better). The argument order is
scikit-learn's ``(y_true, y_score)``.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral, Real

import numpy as np
from scipy import stats
from sklearn.utils._param_validation import Interval, validate_params

__all__ = [
    "kendall_tau",
    "pearson",
    "recall_at_k",
    "regret",
    "relative_top_k",
    "weighted_kendall_tau",
]

_K_CONSTRAINT = [
    Interval(Integral, 1, None, closed="left"),
    Interval(Real, 0, 1, closed="neither"),
]


def _check_pair(accuracies, scores):
    """Validate ``(accuracies, scores)``: 1-D, same length >= 2, finite float64."""
    arrays = []
    for name, values in (("accuracies", accuracies), ("scores", scores)):
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be an array of numbers: {exc}") from None
        if array.ndim != 1:
            raise ValueError(
                f"{name} must be 1-D (one value per source); got an array of shape "
                f"{array.shape}."
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contains NaN or infinite values.")
        arrays.append(array)
    accuracies, scores = arrays
    if accuracies.shape[0] != scores.shape[0]:
        raise ValueError(
            "accuracies and scores must have the same length (one value per source); "
            f"got {accuracies.shape[0]} and {scores.shape[0]}."
        )
    if accuracies.shape[0] < 2:
        raise ValueError(
            f"at least 2 sources are needed to evaluate a ranking; got "
            f"{accuracies.shape[0]}."
        )
    return accuracies, scores


def _warn_if_constant(accuracies, scores, name):
    """Warn that a rank correlation is undefined (NaN) for a constant input."""
    for label, values in (("accuracies", accuracies), ("scores", scores)):
        if np.all(values == values[0]):
            warnings.warn(
                f"{name}: {label} are constant (all {values[0]:.6g}); the rank "
                "correlation is undefined and NaN is returned.",
                stats.ConstantInputWarning,
                stacklevel=3,
            )
            return


def _resolve_k(k, n_sources):
    """An integer ``k`` as is (capped at the pool size); a fraction of the pool."""
    if isinstance(k, Integral):
        return int(min(k, n_sources))
    return max(1, int(k * n_sources))


def _top_k(scores, k):
    """Indices of the ``k`` highest scores; ties go to the earlier source."""
    return np.argsort(-scores, kind="stable")[:k]


@validate_params(
    {"accuracies": ["array-like"], "scores": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def weighted_kendall_tau(accuracies, scores):
    """Weighted Kendall's tau between actual performance and scores.

    The headline measure of the field (LogME, SFDA, TLlib, Agostinelli et al.):
    :func:`scipy.stats.weightedtau` with all its defaults. Disagreements among
    the best sources weigh more than disagreements among the worst ones.

    Parameters
    ----------
    accuracies : array-like of shape (n_sources,)
        Actual performance of each source after transfer (the ground truth).
    scores : array-like of shape (n_sources,)
        Transferability score of each source, higher = better.

    Returns
    -------
    tau : float
        Weighted tau in [-1, 1]; 1 when the scores order the sources exactly as
        the accuracies do. NaN (with scipy's ``ConstantInputWarning``) when
        either input is constant.

    See Also
    --------
    kendall_tau : The unweighted rank correlation.

    Notes
    -----
    This is ``scipy.stats.weightedtau(accuracies, scores).statistic`` with
    ``rank=True``, ``weigher=None`` (hyperbolic: the source of rank ``r``,
    counted from 0 at the top, weighs ``1 / (r + 1)``) and ``additive=True``,
    as in the reference code of Agostinelli et al. (``get_correlation_scores``
    in ``stable_transfer``). With ``rank=True`` scipy computes the weighted tau
    once with the ranking by decreasing ``(accuracies, scores)`` and once with
    the ranking by decreasing ``(scores, accuracies)`` and returns their
    average, so the result is already symmetric in its two arguments; no
    further averaging is done here. Cost: O(n log n).

    References
    ----------
    .. [1] S. Vigna, "A weighted correlation index for rankings with ties",
       WWW 2015.
    .. [2] A. Agostinelli, M. Pándy, J. Uijlings, T. Mensink, V. Ferrari, "How
       stable are transferability metrics evaluations?", ECCV 2022.

    Examples
    --------
    >>> from sktransfer.evaluation import weighted_kendall_tau
    >>> round(weighted_kendall_tau([0.9, 0.8, 0.7, 0.6], [4.0, 3.0, 2.0, 1.0]), 6)
    1.0
    >>> round(weighted_kendall_tau([0.9, 0.8, 0.7, 0.6], [3.0, 4.0, 2.0, 1.0]), 3)
    0.52
    """
    accuracies, scores = _check_pair(accuracies, scores)
    _warn_if_constant(accuracies, scores, "weighted_kendall_tau")
    return float(stats.weightedtau(accuracies, scores).statistic)


@validate_params(
    {"accuracies": ["array-like"], "scores": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def kendall_tau(accuracies, scores):
    """Kendall's tau-b between actual performance and scores.

    Parameters
    ----------
    accuracies : array-like of shape (n_sources,)
        Actual performance of each source after transfer (the ground truth).
    scores : array-like of shape (n_sources,)
        Transferability score of each source, higher = better.

    Returns
    -------
    tau : float
        Kendall's tau-b in [-1, 1]; NaN (with scipy's ``ConstantInputWarning``)
        when either input is constant.

    See Also
    --------
    weighted_kendall_tau : The top-weighted version used by most papers.

    Notes
    -----
    ``scipy.stats.kendalltau(accuracies, scores).statistic`` (the tau-b
    variant, which corrects for ties). With ``P`` concordant and ``Q``
    discordant pairs and ``T``, ``U`` the pairs tied only in one input,
    ``tau_b = (P - Q) / sqrt((P + Q + T) (P + Q + U))``.

    Examples
    --------
    >>> from sktransfer.evaluation import kendall_tau
    >>> kendall_tau([0.9, 0.8, 0.7, 0.6], [3.0, 4.0, 2.0, 1.0])
    0.666...
    """
    accuracies, scores = _check_pair(accuracies, scores)
    _warn_if_constant(accuracies, scores, "kendall_tau")
    return float(stats.kendalltau(accuracies, scores).statistic)


@validate_params(
    {"accuracies": ["array-like"], "scores": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def pearson(accuracies, scores):
    """Pearson's linear correlation between actual performance and scores.

    Parameters
    ----------
    accuracies : array-like of shape (n_sources,)
        Actual performance of each source after transfer (the ground truth).
    scores : array-like of shape (n_sources,)
        Transferability score of each source, higher = better.

    Returns
    -------
    rho : float
        Pearson's correlation in [-1, 1]; NaN (with scipy's
        ``ConstantInputWarning``) when either input is constant.

    Notes
    -----
    ``scipy.stats.pearsonr(accuracies, scores).statistic``. Unlike the rank
    measures it depends on the scale of the scores: a monotone transformation
    of a metric changes it.

    Examples
    --------
    >>> from sktransfer.evaluation import pearson
    >>> round(pearson([0.9, 0.8, 0.7, 0.6], [3.0, 4.0, 2.0, 1.0]), 3)
    0.8
    """
    accuracies, scores = _check_pair(accuracies, scores)
    return float(stats.pearsonr(accuracies, scores).statistic)


@validate_params(
    {"accuracies": ["array-like"], "scores": ["array-like"], "k": _K_CONSTRAINT},
    prefer_skip_nested_validation=True,
)
def relative_top_k(accuracies, scores, *, k=1):
    """Accuracy of the best of the top-k sources by score, relative to the best.

    ``relative_top_k(..., k=1)`` is "Rel@1" of Agostinelli et al. (their
    ``relative_top_accuracy``): the accuracy of the source the metric picks,
    divided by the best accuracy in the pool.

    Parameters
    ----------
    accuracies : array-like of shape (n_sources,)
        Actual performance of each source after transfer (the ground truth);
        the best one must be positive.
    scores : array-like of shape (n_sources,)
        Transferability score of each source, higher = better.
    k : int or float, default=1
        Number of top-scored sources to fine-tune; a float in (0, 1) is a
        fraction of the pool (at least one source). Capped at the pool size.

    Returns
    -------
    ratio : float
        ``max(accuracies[top_k]) / max(accuracies)``, in (0, 1] for
        non-negative accuracies; 1 when the best source is in the top k.

    See Also
    --------
    regret : The same comparison as a difference.
    recall_at_k : Whether the best source is in the top k.

    Notes
    -----
    Ties in ``scores`` go to the source listed first, like ``numpy.argmax``
    in the reference code.

    Examples
    --------
    >>> from sktransfer.evaluation import relative_top_k
    >>> relative_top_k([0.9, 0.8, 0.6], [2.0, 3.0, 1.0])
    0.888...
    >>> relative_top_k([0.9, 0.8, 0.6], [2.0, 3.0, 1.0], k=2)
    1.0
    """
    accuracies, scores = _check_pair(accuracies, scores)
    best = accuracies.max()
    if best <= 0:
        raise ValueError(
            f"relative_top_k needs a positive best accuracy; got max = {best}."
        )
    top = _top_k(scores, _resolve_k(k, scores.shape[0]))
    with np.errstate(over="ignore"):
        ratio = accuracies[top].max() / best
    if not np.isfinite(ratio):
        raise ValueError(
            f"relative_top_k overflows: the picked accuracy "
            f"{accuracies[top].max():.3g} divided by the best {best:.3g} is not "
            "a finite float; rescale the accuracies."
        )
    return float(ratio)


@validate_params(
    {"accuracies": ["array-like"], "scores": ["array-like"], "k": _K_CONSTRAINT},
    prefer_skip_nested_validation=True,
)
def recall_at_k(accuracies, scores, *, k=1):
    """Whether the best source is among the top-k sources by score.

    Averaged over targets (or setups), this is the Recall@k of Li et al.
    (N-LEEP, CVPR 2021) and the ``best_in_top_n`` of Agostinelli et al.

    Parameters
    ----------
    accuracies : array-like of shape (n_sources,)
        Actual performance of each source after transfer (the ground truth).
    scores : array-like of shape (n_sources,)
        Transferability score of each source, higher = better.
    k : int or float, default=1
        Number of top-scored sources; a float in (0, 1) is a fraction of the
        pool (at least one source). Capped at the pool size.

    Returns
    -------
    hit : float
        1.0 if a source with the highest accuracy is among the ``k`` sources
        with the highest scores, else 0.0.

    Notes
    -----
    When several sources share the best accuracy, any of them counts as a hit
    (the reference code checks only the first). Ties in ``scores`` go to the
    source listed first.

    Examples
    --------
    >>> from sktransfer.evaluation import recall_at_k
    >>> recall_at_k([0.9, 0.8, 0.6], [2.0, 3.0, 1.0])
    0.0
    >>> recall_at_k([0.9, 0.8, 0.6], [2.0, 3.0, 1.0], k=2)
    1.0
    """
    accuracies, scores = _check_pair(accuracies, scores)
    top = _top_k(scores, _resolve_k(k, scores.shape[0]))
    return float(np.any(accuracies[top] == accuracies.max()))


@validate_params(
    {"accuracies": ["array-like"], "scores": ["array-like"], "k": _K_CONSTRAINT},
    prefer_skip_nested_validation=True,
)
def regret(accuracies, scores, *, k=1):
    """Accuracy lost by fine-tuning the top-k sources by score instead of all.

    Parameters
    ----------
    accuracies : array-like of shape (n_sources,)
        Actual performance of each source after transfer (the ground truth).
    scores : array-like of shape (n_sources,)
        Transferability score of each source, higher = better.
    k : int or float, default=1
        Number of top-scored sources that are fine-tuned; a float in (0, 1) is
        a fraction of the pool (at least one source). Capped at the pool size.

    Returns
    -------
    regret : float
        ``max(accuracies) - max(accuracies[top_k])``, in the units of
        ``accuracies``; 0 when the best source is in the top k. Lower is
        better.

    See Also
    --------
    relative_top_k : The same comparison as a ratio.

    Examples
    --------
    >>> from sktransfer.evaluation import regret
    >>> round(regret([0.9, 0.8, 0.6], [2.0, 3.0, 1.0]), 6)
    0.1
    """
    accuracies, scores = _check_pair(accuracies, scores)
    top = _top_k(scores, _resolve_k(k, scores.shape[0]))
    return float(accuracies.max() - accuracies[top].max())
