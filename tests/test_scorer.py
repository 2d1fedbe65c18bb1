"""make_transferability_scorer: metric values of a fitted model's features."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktransfer.metrics import LogME, TransRate, make_transferability_scorer


@pytest.fixture
def data():
    return make_classification(
        n_samples=150, n_features=12, n_informative=6, random_state=0
    )


def test_pipeline_scores_the_transformed_features(data):
    X, y = data
    model = make_pipeline(StandardScaler(), PCA(n_components=4), LogisticRegression())
    model.fit(X, y)
    scorer = make_transferability_scorer(LogME())
    expected = LogME().fit(model[:-1].transform(X), y).score_
    assert scorer(model, X, y) == expected


def test_transformer_and_plain_estimator(data):
    X, y = data
    pca = PCA(n_components=3).fit(X)
    scorer = make_transferability_scorer(TransRate())
    assert scorer(pca, X, y) == TransRate().fit(pca.transform(X), y).score_
    clf = LogisticRegression().fit(X, y)
    assert scorer(clf, X, y) == TransRate().fit(X, y).score_
    # A metric as the estimator scores X itself.
    assert scorer(LogME().fit(X, y), X, y) == TransRate().fit(X, y).score_


def test_cross_validate_and_grid_search(data):
    X, y = data
    scorer = make_transferability_scorer(LogME())
    model = make_pipeline(PCA(), LogisticRegression())
    result = cross_validate(model, X, y, cv=3, scoring={"logme": scorer})
    assert result["test_logme"].shape == (3,)
    assert np.all(np.isfinite(result["test_logme"]))
    search = GridSearchCV(
        model, {"pca__n_components": [1, 6]}, scoring=scorer, cv=3
    ).fit(X, y)
    # More informative components give higher held-out LogME here.
    assert search.best_params_ == {"pca__n_components": 6}


def test_metric_is_cloned_not_fitted(data):
    X, y = data
    metric = LogME()
    make_transferability_scorer(metric)(PCA(2).fit(X), X, y)
    assert not hasattr(metric, "score_")
    assert "LogME()" in repr(make_transferability_scorer(metric))


def test_rejects_non_estimators():
    with pytest.raises(ValueError, match="metric"):
        make_transferability_scorer("logme")
