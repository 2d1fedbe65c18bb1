"""Stability of metric comparisons across experimental setups (Agostinelli et al.).

An experimental setup is a (source pool, target, evaluation measure) triple. The
functions here enumerate sub-pools of sources, evaluate every transferability
metric in every setup, and measure how often the ranking of the metrics
changes when one component of the setup varies.
"""

# SPDX-License-Identifier: BSD-3-Clause

import itertools
from collections.abc import Mapping
from numbers import Real

import numpy as np
from scipy import stats
from sklearn.utils._param_validation import Interval, validate_params

from sktransfer.evaluation._measures import (
    kendall_tau,
    pearson,
    recall_at_k,
    regret,
    relative_top_k,
    weighted_kendall_tau,
)

__all__ = ["evaluate_subpools", "setup_stability_score", "source_subpools", "win_rates"]

# Measures known by name; the first four are those of Agostinelli et al.
MEASURES = {
    "weighted_kendall_tau": weighted_kendall_tau,
    "kendall_tau": kendall_tau,
    "pearson": pearson,
    "relative_top_k": relative_top_k,
    "recall_at_k": recall_at_k,
    "regret": regret,
}
_DEFAULT_MEASURES = ("weighted_kendall_tau", "kendall_tau", "pearson", "relative_top_k")


def _column(data, name):
    """Column ``name`` of a DataFrame or a mapping of arrays, as a 1-D array."""
    try:
        values = data[name]
    except (KeyError, IndexError, TypeError):
        raise ValueError(
            f"column {name!r} not found; the table has columns {list(data.keys())}."
        ) from None
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-D; got shape {values.shape}.")
    return values


def _check_table(data, names):
    if not (isinstance(data, Mapping) or hasattr(data, "keys")):
        raise TypeError(
            "the table must be a pandas DataFrame or a mapping from column names to "
            f"1-D arrays; got {type(data).__name__}."
        )
    columns = {name: _column(data, name) for name in names}
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have different lengths: {lengths}.")
    return columns


def _codes(values):
    """Sorted unique values and the integer code of each entry."""
    return np.unique(values, return_inverse=True)


@validate_params(
    {
        "sources": ["array-like"],
        "sampling_ratio": [Interval(Real, 0, 1, closed="right")],
    },
    prefer_skip_nested_validation=True,
)
def source_subpools(sources, *, sampling_ratio=0.9):
    """All sub-pools of ``int(sampling_ratio * n)`` sources of a pool of ``n``.

    Parameters
    ----------
    sources : array-like of shape (n_sources,)
        Names of the sources; duplicates are counted once.
    sampling_ratio : float in (0, 1], default=0.9
        Fraction of the pool kept in each sub-pool, rounded down as in the
        reference code (``int(ratio * n)``). Agostinelli et al. use 0.9.

    Returns
    -------
    subpools : list of tuple
        Every combination of that many sources (``itertools.combinations``
        over the sorted unique names); the position in the list is the
        sub-pool's id.

    Examples
    --------
    >>> from sktransfer.evaluation import source_subpools
    >>> source_subpools(["c", "a", "b"], sampling_ratio=0.7)
    [('a', 'b'), ('a', 'c'), ('b', 'c')]
    """
    pool = np.unique(np.asarray(sources)).tolist()
    size = int(sampling_ratio * len(pool))
    if size < 2:
        raise ValueError(
            f"sub-pools of int({sampling_ratio} * {len(pool)}) = {size} sources are "
            "too small to rank; at least 2 are needed."
        )
    return list(itertools.combinations(pool, size))


def _resolve_measures(measures):
    if measures is None:
        return {name: MEASURES[name] for name in _DEFAULT_MEASURES}
    if isinstance(measures, Mapping):
        bad = [name for name, func in measures.items() if not callable(func)]
        if bad:
            raise TypeError(f"measures {bad} are not callable.")
        return dict(measures)
    if isinstance(measures, str):
        measures = [measures]
    unknown = [name for name in measures if name not in MEASURES]
    if unknown:
        raise ValueError(
            f"unknown measures {unknown}; known: {sorted(MEASURES)}, or pass a dict "
            "{name: callable(accuracies, scores)}."
        )
    return {name: MEASURES[name] for name in measures}


def _pair_signs(values):
    """Sign of ``values[:, i] - values[:, j]`` for every pair ``i < j``."""
    i, j = np.triu_indices(values.shape[1], 1)
    return np.sign(values[:, i] - values[:, j]), i, j


def _batch_kendall_tau(acc, sco):
    """``kendall_tau`` of each row pair of two (n_rows, n_sources) arrays."""
    sign_a, _, _ = _pair_signs(acc)
    sign_s, _, _ = _pair_signs(sco)
    denominator = np.sqrt(np.abs(sign_a).sum(1) * np.abs(sign_s).sum(1))
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = (sign_a * sign_s).sum(1) / denominator
    return np.where(denominator > 0, tau, np.nan)


def _batch_pearson(acc, sco):
    """``pearson`` of each row pair (NaN for a constant row)."""
    acc = acc - acc.mean(axis=1, keepdims=True)
    sco = sco - sco.mean(axis=1, keepdims=True)
    denominator = np.sqrt((acc**2).sum(1) * (sco**2).sum(1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (acc * sco).sum(1) / denominator
    return np.where(denominator > 0, np.clip(rho, -1.0, 1.0), np.nan)


def _batch_weighted_kendall_tau(acc, sco):
    """``weighted_kendall_tau`` of each row pair.

    Rows without ties in either array use the closed form of scipy's
    additive hyperbolic weighted tau: with ``r`` the 0-based rank in one
    ranking and ``w = 1 / (r + 1)``, ``tau = sum_ij (w_i + w_j) s_ij /
    sum_ij (w_i + w_j)``, averaged over the ranking by ``acc`` and the ranking
    by ``sco``. Rows with ties call scipy.
    """
    sign_a, i, j = _pair_signs(acc)
    sign_s, _, _ = _pair_signs(sco)
    concordance = sign_a * sign_s
    tau = np.zeros(acc.shape[0])
    for values in (acc, sco):
        ranks = np.argsort(np.argsort(-values, axis=1, kind="stable"), axis=1)
        weights = 1.0 / (ranks + 1.0)
        pair_weights = weights[:, i] + weights[:, j]
        tau += (pair_weights * concordance).sum(1) / pair_weights.sum(1) / 2
    tied = ~(np.all(sign_a != 0, axis=1) & np.all(sign_s != 0, axis=1))
    for row in np.flatnonzero(tied):
        tau[row] = stats.weightedtau(acc[row], sco[row]).statistic
    return tau


def _batch_top1(acc, sco):
    best = acc.max(axis=1)
    picked = acc[np.arange(acc.shape[0]), np.argmax(sco, axis=1)]
    return best, picked


def _batch_relative_top_k(acc, sco):
    best, picked = _batch_top1(acc, sco)
    if np.any(best <= 0):
        raise ValueError("relative_top_k needs a positive best accuracy.")
    return picked / best


def _batch_recall_at_k(acc, sco):
    best, picked = _batch_top1(acc, sco)
    return (picked == best).astype(np.float64)


def _batch_regret(acc, sco):
    best, picked = _batch_top1(acc, sco)
    return best - picked


# Vectorised versions (over sub-pools) of the measures with their defaults.
_BATCH = {
    "weighted_kendall_tau": _batch_weighted_kendall_tau,
    "kendall_tau": _batch_kendall_tau,
    "pearson": _batch_pearson,
    "relative_top_k": _batch_relative_top_k,
    "recall_at_k": _batch_recall_at_k,
    "regret": _batch_regret,
}


def _evaluate_rows(name, func, acc, sco):
    """Measure ``func`` on each row of ``acc`` and ``sco``, vectorised if known."""
    if name in _BATCH and func is MEASURES[name]:
        return _BATCH[name](acc, sco)
    return np.array([float(func(a, s)) for a, s in zip(acc, sco, strict=True)])


def evaluate_subpools(
    data,
    *,
    sampling_ratio=0.9,
    measures=None,
    exclude_self=True,
    metric_col="metric",
    target_col="target",
    source_col="source",
    score_col="score",
    performance_col="performance",
):
    """Evaluate every metric on every target and every sub-pool of sources.

    The sub-sampling protocol of Agostinelli et al. (their
    ``evaluate_subsampled_experiments``): each combination of
    ``int(sampling_ratio * n)`` of the ``n`` sources of the table is a source
    pool; every (metric, target, pool) is a setup, evaluated with each measure.

    Parameters
    ----------
    data : pandas.DataFrame or mapping of str to array-like
        Long table with one row per (metric, target, source): the metric's
        score for that source on that target, and the source's actual
        performance on the target.
    sampling_ratio : float in (0, 1], default=0.9
        Fraction of the sources in each pool (see :func:`source_subpools`).
    measures : list of str, dict or None, default=None
        Names from ``weighted_kendall_tau``, ``kendall_tau``, ``pearson``,
        ``relative_top_k``, ``recall_at_k``, ``regret``, or a dict of
        ``name: callable(accuracies, scores) -> float``. None: the four
        measures of the paper (weighted tau, tau, Pearson, Rel@1).
    exclude_self : bool, default=True
        Drop the source whose name equals the target's (a dataset is not a
        source for itself).
    metric_col, target_col, source_col, score_col, performance_col : str
        Column names in ``data``.

    Returns
    -------
    results : dict of ndarray
        Columns ``"metric"``, ``"target"``, ``"subpool"`` (the index in
        :func:`source_subpools`), ``"measure"`` and ``"value"``, one row per
        (metric, target, sub-pool, measure); ``pandas.DataFrame(results)``
        makes it a table.

    See Also
    --------
    setup_stability_score : Stability of the metric ranking across setups.
    win_rates : How often each metric is the best one.

    Notes
    -----
    In each setup the pool is the sub-pool's sources that the table has for
    that (metric, target), minus the target itself when ``exclude_self``;
    setups left with fewer than 2 sources are skipped. Undefined values (a
    correlation with a constant input) are NaN, without scipy's warning. The
    built-in measures are computed for all sub-pools at once with closed
    forms that agree with the scalar functions to rounding (weighted tau
    falls back to scipy for setups with ties). A (metric, target,
    source) that appears twice is an error. Cost: one call of each measure per
    setup, ``n_metrics * n_targets * C(n, int(ratio * n))`` setups.

    References
    ----------
    .. [1] A. Agostinelli, M. Pándy, J. Uijlings, T. Mensink, V. Ferrari, "How
       stable are transferability metrics evaluations?", ECCV 2022; code:
       ``google-research/stable_transfer/transferability/results_analysis``.

    Examples
    --------
    >>> from sktransfer.evaluation import evaluate_subpools
    >>> table = {
    ...     "metric": ["m"] * 3,
    ...     "target": ["t"] * 3,
    ...     "source": ["a", "b", "c"],
    ...     "score": [3.0, 2.0, 1.0],
    ...     "performance": [0.9, 0.5, 0.7],
    ... }
    >>> res = evaluate_subpools(table, sampling_ratio=0.7, measures=["kendall_tau"])
    >>> res["subpool"], res["value"]
    (array([0, 1, 2]), array([ 1.,  1., -1.]))
    """
    names = (metric_col, target_col, source_col, score_col, performance_col)
    columns = _check_table(data, names)
    funcs = _resolve_measures(measures)
    metrics, targets, sources = (columns[n] for n in names[:3])
    scores = columns[score_col].astype(np.float64)
    performances = columns[performance_col].astype(np.float64)

    pool, source_codes = _codes(sources)
    subpools = source_subpools(pool, sampling_ratio=sampling_ratio)
    index = {name: i for i, name in enumerate(pool.tolist())}
    combos = np.array([[index[s] for s in combo] for combo in subpools])

    metric_names, metric_codes = _codes(metrics)
    target_names, target_codes = _codes(targets)
    cell = (metric_codes * len(target_names) + target_codes) * len(pool) + source_codes
    if np.unique(cell).size != cell.size:
        raise ValueError(
            "the table has more than one row for some (metric, target, source); "
            "filter it to one setting first (e.g. one backbone mode)."
        )
    shape = (len(metric_names), len(target_names), len(pool))
    score_table = np.full(shape, np.nan)
    perf_table = np.full(shape, np.nan)
    score_table[metric_codes, target_codes, source_codes] = scores
    perf_table[metric_codes, target_codes, source_codes] = performances

    rows = {"metric": [], "target": [], "subpool": [], "measure": [], "value": []}
    for m, metric in enumerate(metric_names):
        for t, target in enumerate(target_names):
            present = np.isfinite(score_table[m, t]) & np.isfinite(perf_table[m, t])
            if exclude_self and target in index:
                present[index[target]] = False
            mask = present[combos]
            counts = mask.sum(axis=1)
            for count in np.unique(counts[counts >= 2]):
                pool_ids = np.flatnonzero(counts == count)
                keep = combos[pool_ids][mask[pool_ids]].reshape(-1, count)
                acc, sco = perf_table[m, t][keep], score_table[m, t][keep]
                for name, func in funcs.items():
                    rows["metric"].append(np.full(pool_ids.size, metric))
                    rows["target"].append(np.full(pool_ids.size, target))
                    rows["subpool"].append(pool_ids)
                    rows["measure"].append(np.full(pool_ids.size, name))
                    rows["value"].append(_evaluate_rows(name, func, acc, sco))
    if not rows["value"]:
        raise ValueError("no setup has at least 2 sources to rank.")
    rows = {key: np.concatenate(parts) for key, parts in rows.items()}
    order = np.lexsort((rows["subpool"], rows["target"], rows["metric"]))
    rows = {key: values[order] for key, values in rows.items()}
    rows["subpool"] = rows["subpool"].astype(np.intp)
    rows["value"] = rows["value"].astype(np.float64)
    return rows


def _pairwise_kendall(values):
    """Kendall's tau-b between every pair of rows of ``values`` (NaN = missing).

    Each pair of rows is compared on the columns finite in both, as
    ``scipy.stats.kendalltau`` on those entries would; NaN when fewer than two
    such columns remain or one row is constant on them.
    """
    a, b = np.triu_indices(values.shape[1], 1)
    diff = values[:, a] - values[:, b]
    valid = np.isfinite(diff)
    sign = np.where(valid, np.sign(np.where(valid, diff, 0.0)), 0.0)
    concordance = sign @ sign.T  # concordant minus discordant pairs
    untied = (sign != 0).astype(np.float64) @ valid.T.astype(np.float64)
    denominator = np.sqrt(untied * untied.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, concordance / denominator, np.nan)


def _nanmean(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def _component_columns(data, exclude):
    return [name for name in list(data.keys()) if name not in exclude]


def setup_stability_score(
    results, *, varying, fixed=None, metric_col="metric", value_col="value"
):
    """Setup stability (SS) score: does the ranking of metrics survive a change?

    Agostinelli et al.'s measure of how stable a comparison of transferability
    metrics is when one component of the experimental setup varies (the target
    dataset, the source pool or the evaluation measure) and the others are
    fixed. 1 means the ranking of the metrics never changes; about 0 means it
    is random.

    Parameters
    ----------
    results : pandas.DataFrame or mapping of str to array-like
        Long table with one row per (metric, setup): typically the output of
        :func:`evaluate_subpools`.
    varying : str
        The column that varies (e.g. ``"target"``, ``"subpool"``,
        ``"measure"``).
    fixed : list of str or None, default=None
        The columns held fixed. None: every column other than ``varying``,
        ``metric_col`` and ``value_col``.
    metric_col : str, default="metric"
        Column with the transferability metric's name.
    value_col : str, default="value"
        Column with the evaluation-measure value of the metric in that setup.

    Returns
    -------
    score : float
        The SS score in [-1, 1]; NaN when no pair of setups can be compared.

    See Also
    --------
    evaluate_subpools : Builds the table of setups.

    Notes
    -----
    The rows are grouped by the ``fixed`` columns. Inside a group, each value
    of ``varying`` gives one vector: the values of the metrics, pivoted
    explicitly by metric name (the reference code takes the rows in their
    stored order instead, which silently mixes metrics up when the order
    differs between groups). Kendall's tau-b is computed between every pair
    of vectors of the group, on the metrics present in both, and averaged
    (NaN-mean); the score is the NaN-mean over groups. A metric whose value is
    NaN in one of the two setups is left out of that pair (the reference code
    would make the whole pair NaN; both agree when no value is NaN). It is computed with
    one matrix product per group, ``O(n_vectors^2 * n_metrics^2)``.

    References
    ----------
    .. [1] A. Agostinelli, M. Pándy, J. Uijlings, T. Mensink, V. Ferrari, "How
       stable are transferability metrics evaluations?", ECCV 2022; code:
       ``setup_stability_score.py`` in ``google-research/stable_transfer``.

    Examples
    --------
    >>> from sktransfer.evaluation import setup_stability_score
    >>> results = {
    ...     "metric": ["a", "b", "c"] * 2,
    ...     "target": ["t1"] * 3 + ["t2"] * 3,
    ...     "value": [0.1, 0.5, 0.9, 0.2, 0.4, 0.8],
    ... }
    >>> setup_stability_score(results, varying="target")
    1.0
    """
    if fixed is None:
        fixed = _component_columns(results, {varying, metric_col, value_col})
    elif isinstance(fixed, str):
        fixed = [fixed]
    else:
        fixed = list(fixed)
    overlap = {varying, metric_col, value_col} & set(fixed)
    if overlap:
        raise ValueError(f"columns {sorted(overlap)} cannot be fixed components.")
    columns = _check_table(results, [metric_col, value_col, varying, *fixed])
    values = columns[value_col].astype(np.float64)
    metric_names, metric_codes = _codes(columns[metric_col])
    _, vary_codes = _codes(columns[varying])
    group_codes = np.zeros(values.shape[0], dtype=np.int64)
    for name in fixed:
        uniques, codes = _codes(columns[name])
        group_codes = group_codes * len(uniques) + codes
        _, group_codes = np.unique(group_codes, return_inverse=True)

    n_metrics = len(metric_names)
    cell = (group_codes * (vary_codes.max() + 1) + vary_codes) * n_metrics
    cell = cell + metric_codes
    if np.unique(cell).size != cell.size:
        raise ValueError(
            f"some metric appears twice in one setup; the columns {fixed} and "
            f"{varying!r} must identify a setup (pass every setup component)."
        )
    group_scores = []
    order = np.argsort(group_codes, kind="stable")
    bounds = np.flatnonzero(np.diff(group_codes[order])) + 1
    for rows in np.split(order, bounds):
        split_names, split_codes = np.unique(vary_codes[rows], return_inverse=True)
        if split_names.size < 2:
            continue
        table = np.full((split_names.size, n_metrics), np.nan)
        table[split_codes, metric_codes[rows]] = values[rows]
        taus = _pairwise_kendall(table)
        group_scores.append(_nanmean(taus[np.triu_indices(split_names.size, 1)]))
    return _nanmean(group_scores)


def win_rates(
    results,
    *,
    measure=None,
    setup=None,
    greater_is_better=True,
    metric_col="metric",
    value_col="value",
    measure_col="measure",
):
    """Fraction of setups in which each metric is the best one.

    Parameters
    ----------
    results : pandas.DataFrame or mapping of str to array-like
        Long table with one row per (metric, setup): typically the output of
        :func:`evaluate_subpools`.
    measure : str or None, default=None
        Keep only the rows whose ``measure_col`` equals it. None: use every
        row (then ``setup`` should include the measure column, as it does by
        default).
    setup : list of str or None, default=None
        The columns that identify a setup. None: every column other than
        ``metric_col`` and ``value_col``.
    greater_is_better : bool, default=True
        Whether higher values of the measure are better (False for
        :func:`regret`).
    metric_col, value_col, measure_col : str
        Column names.

    Returns
    -------
    rates : dict of str to float
        For each metric (sorted by name), the fraction of setups it wins. A
        tie between ``j`` best metrics gives each ``1 / j``, so the rates sum
        to 1. NaN values never win; setups without a finite value are not
        counted.

    Examples
    --------
    >>> from sktransfer.evaluation import win_rates
    >>> results = {
    ...     "metric": ["a", "b"] * 3,
    ...     "target": ["t1", "t1", "t2", "t2", "t3", "t3"],
    ...     "value": [0.9, 0.1, 0.8, 0.2, 0.3, 0.7],
    ... }
    >>> {k: round(v, 3) for k, v in win_rates(results).items()}
    {'a': 0.667, 'b': 0.333}
    """
    if setup is None:
        setup = _component_columns(results, {metric_col, value_col})
    elif isinstance(setup, str):
        setup = [setup]
    names = [metric_col, value_col, *setup]
    if measure is not None and measure_col not in names:
        names.append(measure_col)
    columns = _check_table(results, names)
    keep = np.ones(columns[metric_col].shape[0], dtype=bool)
    if measure is not None:
        keep = columns[measure_col] == measure
        if not keep.any():
            raise ValueError(f"no row has {measure_col} == {measure!r}.")
    values = columns[value_col][keep].astype(np.float64)
    if not greater_is_better:
        values = -values
    metric_names, metric_codes = _codes(columns[metric_col][keep])
    group_codes = np.zeros(values.shape[0], dtype=np.int64)
    for name in setup:
        uniques, codes = _codes(columns[name][keep])
        group_codes = group_codes * len(uniques) + codes
        _, group_codes = np.unique(group_codes, return_inverse=True)
    n_groups = int(group_codes.max()) + 1 if group_codes.size else 0
    best = np.full(n_groups, -np.inf)
    finite = np.isfinite(values)
    np.maximum.at(best, group_codes[finite], values[finite])
    winner = finite & (values == best[group_codes])
    n_winners = np.bincount(group_codes[winner], minlength=n_groups)
    counted = n_winners > 0
    wins = np.zeros(len(metric_names))
    np.add.at(wins, metric_codes[winner], 1.0 / n_winners[group_codes[winner]])
    total = counted.sum()
    return {
        str(name): float(wins[i] / total) if total else float("nan")
        for i, name in enumerate(metric_names)
    }
