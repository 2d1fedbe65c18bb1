"""Plots of transferability scores against actual performance (matplotlib)."""

# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Mapping

import numpy as np

from sktransfer.evaluation._measures import _check_pair, weighted_kendall_tau

__all__ = ["plot_scores_vs_accuracy", "plot_tau_heatmap"]


def _figure(figsize):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plotting needs matplotlib: pip install 'sktransfer[plots]'."
        ) from exc
    return Figure(figsize=figsize, layout="constrained")


def plot_scores_vs_accuracy(accuracies, scores, *, labels=None, n_cols=3):
    """Scatter each metric's scores against actual performance, tau in the title.

    Parameters
    ----------
    accuracies : array-like of shape (n_sources,)
        Actual performance of each source after transfer (the ground truth).
    scores : mapping of str to array-like of shape (n_sources,)
        The scores of each metric (higher = better), by metric name.
    labels : array-like of str of shape (n_sources,) or None, default=None
        Source names written next to the points.
    n_cols : int, default=3
        Panels per row.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One panel per metric, titled with the metric's name and its weighted
        Kendall's tau; save it with ``fig.savefig("scores.png")``. The figure
        is not registered with ``pyplot``.

    See Also
    --------
    plot_tau_heatmap : Weighted tau of every metric on every target.

    Examples
    --------
    >>> from sktransfer.evaluation import plot_scores_vs_accuracy
    >>> fig = plot_scores_vs_accuracy(
    ...     [0.9, 0.8, 0.6], {"LogME": [2.0, 3.0, 1.0], "LEEP": [3.0, 2.0, 1.0]}
    ... )
    >>> [ax.get_title() for ax in fig.axes]
    ['LogME: $\\\\tau_w$ = 0.18', 'LEEP: $\\\\tau_w$ = 1.00']
    """
    if not isinstance(scores, Mapping) or not scores:
        raise TypeError(
            "scores must be a non-empty mapping {metric name: scores per source}."
        )
    n_metrics = len(scores)
    n_cols = max(1, min(int(n_cols), n_metrics))
    n_rows = -(-n_metrics // n_cols)
    fig = _figure((3.2 * n_cols, 3.0 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, (name, metric_scores) in zip(axes, scores.items(), strict=False):
        acc, sco = _check_pair(accuracies, metric_scores)
        tau = weighted_kendall_tau(acc, sco)
        ax.scatter(sco, acc, s=18)
        if labels is not None:
            for x, y, text in zip(sco, acc, labels, strict=True):
                ax.annotate(str(text), (x, y), fontsize=7, alpha=0.8)
        ax.set_title(f"{name}: $\\tau_w$ = {tau:.2f}")
        ax.set_xlabel("score")
        ax.set_ylabel("accuracy")
    for ax in axes[n_metrics:]:
        fig.delaxes(ax)
    return fig


def plot_tau_heatmap(values, *, metrics, targets, title="Weighted Kendall's tau"):
    """Heat map of an evaluation measure, metrics x targets, annotated.

    Parameters
    ----------
    values : array-like of shape (n_metrics, n_targets)
        The measure (typically weighted tau) of each metric on each target;
        NaN cells are left blank.
    metrics : list of str of length n_metrics
        Row labels.
    targets : list of str of length n_targets
        Column labels.
    title : str, default="Weighted Kendall's tau"
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The heat map on a diverging colour scale from -1 to 1, with a colour
        bar; save it with ``fig.savefig("tau.png")``.

    See Also
    --------
    plot_scores_vs_accuracy : The scatter plots behind one column.

    Examples
    --------
    >>> from sktransfer.evaluation import plot_tau_heatmap
    >>> fig = plot_tau_heatmap(
    ...     [[0.8, 0.4], [0.1, -0.3]], metrics=["LogME", "LEEP"],
    ...     targets=["cifar10", "dtd"],
    ... )
    >>> fig.axes[0].get_title()
    "Weighted Kendall's tau"
    """
    values = np.asarray(values, dtype=np.float64)
    metrics, targets = list(metrics), list(targets)
    if values.shape != (len(metrics), len(targets)):
        raise ValueError(
            f"values must have shape (n_metrics, n_targets) = "
            f"({len(metrics)}, {len(targets)}); got {values.shape}."
        )
    fig = _figure((1.0 + 0.9 * len(targets), 1.2 + 0.5 * len(metrics)))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(targets)), targets, rotation=45, ha="right")
    ax.set_yticks(range(len(metrics)), metrics)
    for i in range(len(metrics)):
        for j in range(len(targets)):
            if np.isfinite(values[i, j]):
                color = "white" if abs(values[i, j]) > 0.6 else "black"
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=color,
                )
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig
