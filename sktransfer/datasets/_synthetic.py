"""Synthetic pools of candidate sources with a known quality order."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_source_pool"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_classes": [Interval(Integral, 2, None, closed="left")],
        "n_sources": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_source_pool(n_samples=600, n_classes=5, n_sources=5, random_state=0):
    """Make a labelled target task and a pool of synthetic "pretrained" features.

    Each source maps the target's latent class structure into a 32-dimensional
    feature space (the same width for all, so that metrics without dimension
    normalisation compare fairly) with a signal-to-noise ratio that decreases
    from the first source to the last, plus noise in every direction. The first
    source is therefore the most transferable one; the linear-probe accuracy of
    each source confirms the order empirically.

    Parameters
    ----------
    n_samples : int, default=600
        Number of target samples.
    n_classes : int, default=5
        Number of target classes (balanced).
    n_sources : int, default=5
        Number of candidate sources.
    random_state : int, RandomState instance or None, default=0
        Seed of the generator.

    Returns
    -------
    pool : :class:`~sklearn.utils.Bunch`
        With keys:

        - ``features``: dict mapping a source name to its feature matrix of
          shape (n_samples, n_features_of_that_source), float32 like the
          output of a torch model;
        - ``target``: ndarray of shape (n_samples,), the target labels;
        - ``signal``: dict mapping a source name to its signal strength (the
          ground-truth order: larger is more transferable).

    Examples
    --------
    >>> from sktransfer.datasets import make_source_pool
    >>> pool = make_source_pool(n_samples=100, n_sources=3)
    >>> sorted(pool.features)
    ['source_0', 'source_1', 'source_2']
    >>> pool.features["source_0"].shape
    (100, 32)
    """
    rng = check_random_state(random_state)
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    latent_dim = max(2, n_classes)
    centers = rng.normal(size=(n_classes, latent_dim))
    latent = centers[y] + 0.5 * rng.normal(size=(n_samples, latent_dim))
    signals = np.geomspace(2.0, 0.1, num=n_sources) if n_sources > 1 else [2.0]
    features, signal = {}, {}
    for i in range(n_sources):
        width = 32
        projection = rng.normal(size=(latent_dim, width)) / np.sqrt(latent_dim)
        noise = rng.normal(size=(n_samples, width))
        X = signals[i] * latent @ projection + noise
        name = f"source_{i}"
        features[name] = X.astype(np.float32)
        signal[name] = float(signals[i])
    return Bunch(features=features, target=y, signal=signal)
