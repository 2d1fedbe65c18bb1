"""Stream a featurizer's output into a metric, batch by batch."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

__all__ = ["stream_score"]


class _BatchSink:
    """Stands in for the output array of one layer: receives its batches.

    ``TorchFeaturizer`` writes ``sink[start:stop] = features`` for every layer
    of every batch; once all layers of a batch have arrived they are joined
    (in the column order of ``transform``) and handed to ``feed(rows, F)``.
    """

    def __init__(self, n_samples, width, entry, pending, n_entries, order, feed):
        self.shape = (n_samples, width)
        self._entry = entry
        self._pending = pending
        self._n_entries = n_entries
        self._order = order
        self._feed = feed

    def __setitem__(self, rows, features):
        parts = self._pending.setdefault(rows.start, {})
        parts[self._entry] = features
        if len(parts) == self._n_entries:
            del self._pending[rows.start]
            blocks = [parts[e] for e in self._order]
            if torch.is_tensor(blocks[0]):
                joined = blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1)
            else:
                joined = blocks[0] if len(blocks) == 1 else np.hstack(blocks)
            self._feed(rows, joined)


def _stream_pass(featurizer, X, kind, y, step, on_device):
    n_samples = featurizer._n_samples(X, kind)
    order = list(featurizer.feature_slices_)
    pending = {}

    def feed(rows, features):
        step(features, y[rows])

    def allocate(widths):
        return {
            entry: _BatchSink(
                n_samples, width, entry, pending, len(widths), order, feed
            )
            for entry, width in widths.items()
        }

    featurizer._extract(X, kind, featurizer._taps, allocate, True, on_device)


def stream_score(metric, featurizer, X, y, *, classes=None, return_estimator=False):
    """Score a metric on a featurizer's output without storing all features.

    The featurizer runs its model over ``X`` batch by batch (its
    ``batch_size``); each batch of features goes to ``metric.partial_fit``
    (as a float32 tensor on the featurizer's device when that is a GPU, so
    the features never come to the host; as numpy on the CPU) and is then
    dropped, so memory stays bounded by one batch plus the
    metric's statistics (``O(C D^2)`` at most), whatever the number of
    samples. :class:`~sktransfer.metrics.LEEP` needs two passes, so the model
    runs twice over ``X`` for it. The result equals ``metric.fit(
    featurizer.transform(X), y).score_`` up to roundoff.

    Parameters
    ----------
    metric : estimator with ``partial_fit``
        A streaming metric (:class:`~sktransfer.metrics.LogME`,
        :class:`~sktransfer.metrics.TransRate`,
        :class:`~sktransfer.metrics.HScore`,
        :class:`~sktransfer.metrics.ShrinkageHScore`,
        :class:`~sktransfer.metrics.GBC`, :class:`~sktransfer.metrics.LEEP`,
        :class:`~sktransfer.metrics.NCE`). It is cloned, not modified.
    featurizer : TorchFeaturizer
        The feature extractor; fitted on ``X`` first if it is not fitted. Its
        ``memory`` cache and ``memmap_dir`` are not used.
    X : array-like, torch.Tensor or torch Dataset of n_samples
        Input of the model, as for :meth:`TorchFeaturizer.transform`.
    y : array-like of shape (n_samples,)
        Target labels.
    classes : array-like or None, default=None
        Passed to ``partial_fit``: labels outside it raise a ValueError.
    return_estimator : bool, default=False
        Also return the fitted clone of ``metric`` (with its
        ``statistics_``).

    Returns
    -------
    score : float
        The metric's score.
    estimator : estimator
        The fitted clone of ``metric``, if ``return_estimator=True``.

    See Also
    --------
    sktransfer.metrics.ClassStatistics : The statistics the metrics accumulate.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from sktransfer.featurizers import TorchFeaturizer, stream_score
    >>> from sktransfer.metrics import LogME
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> featurizer = TorchFeaturizer(model=net, batch_size=64, device="cpu")
    >>> streamed = stream_score(LogME(), featurizer, X, y)
    >>> full = LogME().fit(featurizer.transform(X), y).score_
    >>> bool(np.isclose(streamed, full, rtol=1e-10))
    True
    """
    if not hasattr(metric, "partial_fit"):
        raise TypeError(
            f"stream_score needs a metric with partial_fit; "
            f"{type(metric).__name__} cannot stream (see the streaming user guide "
            "for what to do instead)."
        )
    try:
        check_is_fitted(featurizer)
    except Exception:
        featurizer.fit(X)
    X, kind = featurizer._validate_input(X, reset=False)
    y = np.asarray(y)
    n_samples = featurizer._n_samples(X, kind)
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise ValueError(
            f"y must be 1-D with one label per sample of X; got shape {y.shape} "
            f"for {n_samples} samples."
        )
    estimator = clone(metric)
    # On a GPU the batches stay there: the metric reduces them on the device.
    on_device = featurizer.device_.type != "cpu"
    _stream_pass(
        featurizer,
        X,
        kind,
        y,
        lambda F, yb: estimator.partial_fit(F, yb, classes=classes),
        on_device,
    )
    if getattr(estimator, "_n_passes", 1) == 2:
        _stream_pass(
            featurizer,
            X,
            kind,
            y,
            lambda F, yb: estimator.partial_fit(F, yb, second_pass=True),
            on_device,
        )
    score = float(estimator.score_)
    return (score, estimator) if return_estimator else score
