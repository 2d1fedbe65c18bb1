"""The estimator contract: validation errors and label handling of every metric."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from sktransfer import TransferabilityMixin, is_transferability_estimator
from sktransfer.utils.discovery import all_estimators
from sktransfer.utils.estimator_checks import make_check_data

# Metrics whose source side is a required, pre-fitted __init__ parameter;
# tests/test_task_transfer.py runs these checks with a fitted reference.
NEEDS_REFERENCE = {"TaskTransferBound"}
METRICS = [
    cls()
    for name, cls in all_estimators("transferability")
    if name not in NEEDS_REFERENCE
]
IDS = [type(est).__name__ for est in METRICS]


@pytest.fixture(params=METRICS, ids=IDS)
def metric(request):
    return request.param


def _data(metric):
    return make_check_data(metric, n_samples=60)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_input_raises(metric, bad):
    X, y = _data(metric)
    X[3, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        metric.fit(X, y)


def test_single_class_raises(metric):
    X, _ = _data(metric)
    with pytest.raises(ValueError, match="at least 2 classes in y; got 1 class"):
        metric.fit(X, np.zeros(X.shape[0]))


def test_mismatched_lengths_raise(metric):
    X, y = _data(metric)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        metric.fit(X, y[:-1])


def test_empty_input_raises(metric):
    with pytest.raises(ValueError, match="0 sample"):
        metric.fit(np.empty((0, 4)), np.empty(0))


@pytest.mark.parametrize("shape", [(60,), (60, 2, 3)], ids=["1d", "3d"])
def test_wrong_dimensionality_raises(metric, shape):
    _, y = _data(metric)
    with pytest.raises(ValueError, match="(Expected 2D|Found array with dim 3)"):
        metric.fit(np.ones(shape), y)


def test_continuous_labels_raise(metric):
    X, _ = _data(metric)
    with pytest.raises(ValueError, match="Unknown label type"):
        metric.fit(X, np.linspace(0, 1, X.shape[0]))


def test_score_checks_feature_count(metric):
    X, y = _data(metric)
    metric.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        metric.score(X[:, :-1], y)


def test_score_before_fit_raises(metric):
    from sklearn.exceptions import NotFittedError

    X, y = _data(metric)
    with pytest.raises(NotFittedError):
        type(metric)().score(X, y)


def test_string_labels_and_classes(metric):
    X, y = _data(metric)
    labels = np.array(["b", "a", "c"])[y]
    est = type(metric)().fit(X, labels)
    np.testing.assert_array_equal(est.classes_, ["a", "b", "c"])
    assert est.score_ == pytest.approx(type(metric)().fit(X, y).score_)


# Metrics whose docstring says that score(X_new, y_new) reuses the fitted state
# (a held-out value); every other metric recomputes on the new data.
REUSES_FITTED_STATE = {"NLEEP"}


def test_score_on_new_data_follows_the_documented_semantics(metric):
    X, y = _data(metric)
    X2, y2 = make_check_data(metric, n_samples=90, random_state=5)
    est = type(metric)().fit(X, y)
    refit = type(metric)().fit(X2, y2).score_
    name = type(metric).__name__
    doc = " ".join(type(metric).__doc__.split())
    assert "``score(X, y)`` recomputes" in doc or "``score(X, y)`` reuses" in doc, (
        f"{name}'s docstring must say what score(X, y) does on new data"
    )
    if name in REUSES_FITTED_STATE:
        assert est.score(X2, y2) != pytest.approx(refit)
        assert est.score(X, y) == est.score_
    else:
        assert est.score(X2, y2) == pytest.approx(refit)


def test_pandas_input(metric):
    pd = pytest.importorskip("pandas")
    X, y = _data(metric)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = type(metric)().fit(frame, pd.Series(y))
    np.testing.assert_array_equal(est.feature_names_in_, frame.columns)
    assert est.score_ == pytest.approx(type(metric)().fit(X, y).score_)


class _NeedsThree(TransferabilityMixin, BaseEstimator):
    """A metric that needs three samples per class (like SFDA or GBC will)."""

    _min_samples_per_class = 3

    def fit(self, X, y):
        X, y = self._validate_input(X, y, reset=True)
        self.score_ = self._compute_score(X, y)
        return self

    def _compute_score(self, X, y):
        return float(np.bincount(y).min())


def test_min_samples_per_class_is_enforced():
    X = np.arange(12.0).reshape(6, 2)
    with pytest.raises(ValueError, match="at least 3 samples per class.*'b'"):
        _NeedsThree().fit(X, ["a", "a", "a", "a", "b", "b"])
    assert _NeedsThree().fit(X, ["a"] * 3 + ["b"] * 3).score_ == 3.0


def test_is_transferability_estimator():
    assert is_transferability_estimator(_NeedsThree)
    assert is_transferability_estimator(_NeedsThree())
    assert not is_transferability_estimator(BaseEstimator())


def test_tags():
    from sklearn.utils import get_tags

    for est in METRICS:
        tags = get_tags(est)
        assert tags.target_tags.required
        assert tags.estimator_type is None


@pytest.mark.parametrize("module", ["sktransfer", "sktransfer.metrics"])
def test_import_does_not_import_torch(module):
    code = (
        f"import sys, {module}; "
        "assert 'torch' not in sys.modules, 'torch was imported'; "
        "assert 'skorch' not in sys.modules, 'skorch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_estimators_rejects_unknown_filter():
    with pytest.raises(ValueError, match="type_filter"):
        all_estimators("classifier")


class _ProbabilityMetric(TransferabilityMixin, BaseEstimator):
    """Minimal probability-input metric: mean probability of the first column."""

    _input_kind = "probabilities"

    def fit(self, X, y):
        X, y = self._validate_input(X, y, reset=True)
        self.score_ = self._compute_score(X, y)
        return self

    def _compute_score(self, X, y):
        return float(X[:, 0].mean())


def test_probability_input_is_validated():
    P = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1], [0.3, 0.7]])
    y = [0, 1, 0, 1]
    assert _ProbabilityMetric().fit(P, y).score_ == pytest.approx(0.475)
    assert _ProbabilityMetric().fit(P.astype(np.float16), y).score_ == pytest.approx(
        0.475, abs=1e-3
    )
    with pytest.raises(ValueError, match="rows sum to one.*row 1 sums to 2\\)"):
        _ProbabilityMetric().fit(P + np.array([[0, 0], [0.5, 0.5], [0, 0], [0, 0]]), y)
    with pytest.raises(ValueError, match="negative values; apply a softmax"):
        _ProbabilityMetric().fit(P - 0.25, y)
    logits = np.log(P) + 3.0
    with pytest.raises(ValueError, match="softmax"):
        _ProbabilityMetric().fit(logits, y)


def test_probability_metrics_declare_positive_only():
    from sklearn.utils import get_tags

    assert get_tags(_ProbabilityMetric()).input_tags.positive_only
    assert not get_tags(_NeedsThree()).input_tags.positive_only
