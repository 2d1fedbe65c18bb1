"""A scikit-learn scorer that reports the transferability of a model's features."""

# SPDX-License-Identifier: BSD-3-Clause

from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import HasMethods, validate_params

from sktransfer._base import is_transferability_estimator

__all__ = ["make_transferability_scorer"]


class _TransferabilityScorer:
    """Callable ``scorer(estimator, X, y)``; see :func:`make_transferability_scorer`."""

    def __init__(self, metric):
        self.metric = metric

    def __repr__(self):
        return f"make_transferability_scorer({self.metric!r})"

    def _inputs(self, estimator, X):
        if self.metric._input_kind == "probabilities":
            if hasattr(estimator, "predict_proba"):
                return estimator.predict_proba(X)
        if isinstance(estimator, Pipeline):
            if len(estimator) == 1:
                return X
            # Every step but the last transforms; the last one (a classifier or
            # a metric) consumes the features that we score.
            return estimator[:-1].transform(X)
        if hasattr(estimator, "transform") and not is_transferability_estimator(
            estimator
        ):
            return estimator.transform(X)
        return X

    def __call__(self, estimator, X, y):
        return float(clone(self.metric).fit(self._inputs(estimator, X), y).score_)


@validate_params(
    {"metric": [HasMethods(["fit", "score"])]},
    prefer_skip_nested_validation=True,
)
def make_transferability_scorer(metric):
    """Make a scorer that measures the transferability of a fitted model's output.

    The scorer is a callable ``scorer(estimator, X, y)`` for
    :func:`~sklearn.model_selection.cross_validate`,
    :func:`~sklearn.model_selection.cross_val_score` and the ``scoring``
    parameter of :class:`~sklearn.model_selection.GridSearchCV`. It takes the
    input of the metric from the fitted ``estimator``:

    - a :class:`~sklearn.pipeline.Pipeline`: the output of all its steps but
      the last (e.g. the features of a ``TorchFeaturizer`` step in front of a
      classifier or a metric);
    - a transformer: its ``transform(X)``;
    - for metrics whose input is source-model probabilities (LEEP, NCE), an
      estimator with ``predict_proba``: its probabilities;
    - anything else: ``X`` itself.

    It then fits a clone of ``metric`` on ``(inputs, y)`` and returns
    ``score_`` (higher = more transferable). The metric is refit on every call:
    zoo-relative scores (min-max combinations over a pool of models) cannot be
    computed one candidate at a time and belong in a selector.

    Parameters
    ----------
    metric : estimator instance
        A transferability estimator, e.g. ``LogME()``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``.

    See Also
    --------
    LogME : Evidence-based transferability.
    TransRate : Coding-rate based transferability.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from sklearn.pipeline import make_pipeline
    >>> from sktransfer.metrics import LogME, make_transferability_scorer
    >>> X, y = make_classification(n_samples=200, n_features=20, random_state=0)
    >>> model = make_pipeline(PCA(n_components=5), LogisticRegression())
    >>> logme = make_transferability_scorer(LogME())
    >>> scoring = {"accuracy": "accuracy", "logme": logme}
    >>> result = cross_validate(model, X, y, cv=3, scoring=scoring)
    >>> sorted(key for key in result if key.startswith("test_"))
    ['test_accuracy', 'test_logme']
    """
    return _TransferabilityScorer(metric)
