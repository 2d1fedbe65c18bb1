"""Leave-one-out k-nearest-neighbour accuracy, a simple transferability baseline."""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import (
    Interval,
    RealNotInt,
    StrOptions,
    validate_params,
)

from sktransfer._base import TransferabilityMixin
from sktransfer.metrics._pca import pca_project

__all__ = ["KNNScore", "knn_score"]

# Rows of the (n, k, k) vote comparison processed at once.
_VOTE_CHUNK_ELEMENTS = 2**22


def _majority_vote(neighbor_labels):
    """Majority label of each row; ties go to the class of the nearest neighbour.

    ``neighbor_labels`` (n, k) lists each sample's neighbours' labels from the
    nearest to the farthest. Among the classes with the most votes, the winner
    is the one that occurs first in the row, i.e. whose nearest member is the
    closest (a rule that does not depend on the class names).
    """
    n, k = neighbor_labels.shape
    if k == 1:
        return neighbor_labels[:, 0]
    predictions = np.empty(n, dtype=neighbor_labels.dtype)
    step = max(1, _VOTE_CHUNK_ELEMENTS // (k * k))
    for start in range(0, n, step):
        block = neighbor_labels[start : start + step]
        votes = (block[:, :, None] == block[:, None, :]).sum(axis=2)
        first_best = np.argmax(votes == votes.max(axis=1, keepdims=True), axis=1)
        predictions[start : start + step] = block[np.arange(block.shape[0]), first_best]
    return predictions


def _knn_accuracy(X, y, *, n_neighbors, metric, n_components, name="KNNScore"):
    """Leave-one-out k-NN accuracy on validated float64 ``X`` and labels ``y``.

    Returns the accuracy and the number of neighbours used (clipped to
    ``n_samples - 1``).
    """
    n_samples = X.shape[0]
    if n_neighbors > n_samples - 1:
        warnings.warn(
            f"{name}: n_neighbors={n_neighbors} is larger than n_samples - 1 = "
            f"{n_samples - 1} (leave-one-out); using {n_samples - 1}.",
            UserWarning,
            stacklevel=5,
        )
        n_neighbors = n_samples - 1
    Z, _ = pca_project(X, n_components, name=name)
    search = NearestNeighbors(n_neighbors=n_neighbors, metric=metric).fit(Z)
    # With no query, each sample's own index is excluded from its neighbours,
    # even when other samples coincide with it (they remain neighbours).
    neighbors = search.kneighbors(return_distance=False)
    predictions = _majority_vote(y[neighbors])
    return float(np.mean(predictions == y)), n_neighbors


class KNNScore(TransferabilityMixin, BaseEstimator):
    """Leave-one-out k-nearest-neighbour accuracy of the target features.

    Each sample is classified by a majority vote of its ``n_neighbors``
    nearest other samples (the sample itself is left out), and the score is
    the fraction of samples classified correctly. It is the strongest of the
    simple baselines compared with transferability metrics in PARC's
    benchmark. Higher means more transferable.

    Input kind: features (e.g. penultimate-layer activations of the source
    model on the target data).

    Parameters
    ----------
    n_neighbors : int, default=1
        Number of neighbours that vote (PARC's benchmark uses 1). A value
        larger than ``n_samples - 1`` is clipped with a warning.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance between samples (PARC's benchmark uses Euclidean).
    n_components : int, float or None, default=None
        Optional PCA before the search: a number of components (clipped to
        ``min(n_samples, n_features)`` with a warning), a fraction of the
        variance to keep, or None for no PCA.

    Attributes
    ----------
    score_ : float
        Leave-one-out accuracy on the training data, in [0, 1].
    n_neighbors_ : int
        Number of neighbours used (``n_neighbors`` clipped to
        ``n_samples - 1``).
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    knn_score : Function form of this estimator.
    NLEEP : Transferability from a Gaussian mixture of the features.
    LogME : Evidence-based transferability.

    Notes
    -----
    With ``N_k(i)`` the ``k`` nearest samples to ``x_i`` other than ``i``,

    .. math::

        \\mathrm{kNN} = \\frac{1}{N}\\sum_i \\left[\\,y_i =
        \\operatorname{mode}\\{y_j : j \\in N_k(i)\\}\\,\\right] \\in [0, 1].

    Ties between classes in the vote go to the class whose nearest member
    among the ``k`` neighbours is the closest, which does not depend on the
    class names. Ties in distance (duplicate samples, or several neighbours
    at the ``k``-th distance) are broken by scikit-learn's
    ``NearestNeighbors``; they can make the score depend on the sample order,
    which never happens with continuous features. A sample never counts
    itself, but its duplicates do count as its neighbours.

    The search uses ``sklearn.neighbors.NearestNeighbors`` on the training set
    (a tree for few features, otherwise a brute-force search in chunks), so no
    N x N array is formed. Cost: ``O(N^2 D)`` for the brute-force search
    (``O(N D min(N, D))`` more for PCA) and ``O(N k^2)`` for the votes.

    PARC's reference code (``dbolya/parc``, ``methods.py::kNN``) reports
    ``100 x`` this accuracy, and takes the first entry of the sorted distance
    row as the sample itself, which is wrong when duplicates exist.

    ``score(X, y)`` recomputes the leave-one-out accuracy on ``(X, y)``; there
    is no fitted state.

    References
    ----------
    .. [1] D. Bolya, R. Mittapalli, J. Hoffman, "Scalable Diverse Model
       Selection for Accessible Transfer Learning", NeurIPS 2021 (the kNN
       baseline). Reference code: dbolya/parc (``methods.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import KNNScore
    >>> X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
    >>> y = [0, 0, 0, 1, 1, 1]
    >>> KNNScore().fit(X, y).score_
    1.0
    >>> KNNScore(n_neighbors=5).fit(X, y).score_
    0.0
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            None,
        ],
    }

    def __init__(self, *, n_neighbors=1, metric="euclidean", n_components=None):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.n_components = n_components

    def _run(self, X, y):
        return _knn_accuracy(
            X,
            y,
            n_neighbors=self.n_neighbors,
            metric=self.metric,
            n_components=self.n_components,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute the leave-one-out k-NN accuracy of ``X`` for the labels ``y``.

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
        self.score_, self.n_neighbors_ = self._run(X, y)
        return self

    def _compute_score(self, X, y):
        return self._run(X, y)[0]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def knn_score(X, y, *, n_neighbors=1, metric="euclidean", n_components=None):
    """Compute the leave-one-out k-nearest-neighbour accuracy of the features.

    Function form of :class:`KNNScore`; see it for the details.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,)
        Class labels.
    n_neighbors : int, default=1
        Number of neighbours that vote.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance between samples.
    n_components : int, float or None, default=None
        Optional PCA size: components, fraction of variance, or None.

    Returns
    -------
    score : float
        Leave-one-out accuracy in [0, 1]; higher means more transferable.

    See Also
    --------
    KNNScore : Estimator form.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import knn_score
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 50)
    >>> informative = 4.0 * np.eye(3)[y] + rng.normal(size=(150, 3))
    >>> noise = rng.normal(size=(150, 3))
    >>> bool(knn_score(informative, y) > knn_score(noise, y))
    True
    """
    return (
        KNNScore(n_neighbors=n_neighbors, metric=metric, n_components=n_components)
        .fit(X, y)
        .score_
    )
