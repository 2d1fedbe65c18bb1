"""Tests of SourceSelector: the table, ranking, composition, parallelism, errors."""

import importlib.util
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_html_repr

from sktransfer.datasets import make_source_pool
from sktransfer.metrics import NCTI, ETran, HScore, LogME, TransRate
from sktransfer.metrics._etran import _etran_combine
from sktransfer.metrics._ncti import _ncti_combine
from sktransfer.selection import SourceSelector

WIDTH = 32
_CALLS = []


def _block(X, i):
    """The features of source ``i``: its block of columns."""
    return np.asarray(X)[:, WIDTH * i : WIDTH * (i + 1)]


def _counted_block(X, i):
    _CALLS.append(i)
    return _block(X, i)


def _fail(X):
    raise RuntimeError("boom")


def _drop_a_row(X):
    return np.asarray(X)[1:, :WIDTH]


@pytest.fixture(scope="module")
def pool():
    return make_source_pool(n_samples=200, n_sources=5, random_state=0)


@pytest.fixture(scope="module")
def data(pool):
    return np.hstack(list(pool.features.values())), pool.target


def _sources(pool, func=_block):
    return [
        (name, FunctionTransformer(func, kw_args={"i": i}))
        for i, name in enumerate(pool.features)
    ]


def test_scores_table_ranking_and_best_source(pool, data):
    X, y = data
    sources = _sources(pool)
    selector = SourceSelector(sources).fit(X, y)
    names = list(pool.features)

    assert isinstance(selector.scores_, pd.DataFrame)
    assert selector.scores_.index.tolist() == names
    assert selector.scores_.index.name == "source"
    assert selector.scores_.columns.tolist() == ["LogME"]
    expected = [LogME().fit(F, y).score_ for F in pool.features.values()]
    assert_allclose(selector.scores_["LogME"], expected)
    assert selector.ranking_ == [names[i] for i in np.argsort(expected)[::-1]]
    # make_source_pool's signal decreases from the first source to the last.
    assert selector.ranking_ == names
    assert selector.best_source_name_ == "source_0"
    assert selector.best_score_ == pytest.approx(max(expected))
    assert selector.best_source_ is not sources[0][1]
    assert_array_equal(selector.transform(X), pool.features["source_0"])
    assert_array_equal(selector.fit_transform(X, y), pool.features["source_0"])
    assert selector.n_features_in_ == X.shape[1]
    assert selector.failed_sources_ == {}
    assert not hasattr(selector, "scores_std_")
    assert not hasattr(selector, "features_")


def test_several_metrics_as_list_and_dict(pool, data):
    X, y = data
    listed = SourceSelector(
        _sources(pool), estimator=[LogME(), TransRate(), LogME(compat="thuml")]
    ).fit(X, y)
    assert listed.scores_.columns.tolist() == ["LogME-1", "TransRate", "LogME-2"]
    assert list(listed.estimator_) == ["LogME-1", "TransRate", "LogME-2"]
    named = SourceSelector(
        _sources(pool), estimator={"logme": LogME(), "transrate": TransRate()}
    ).fit(X, y)
    assert named.scores_.columns.tolist() == ["logme", "transrate"]
    assert_allclose(named.scores_["transrate"], listed.scores_["TransRate"])
    F = pool.features["source_2"]
    assert named.scores_.loc["source_2", "transrate"] == pytest.approx(
        TransRate().fit(F, y).score_
    )


def test_score_without_final_estimator_is_transferability(pool, data):
    X, y = data
    selector = SourceSelector(_sources(pool)).fit(X, y)
    for method in ("predict", "predict_proba", "decision_function"):
        assert not hasattr(selector, method)
    assert selector.score(X, y) == pytest.approx(selector.best_score_)
    assert isinstance(selector.score(X, y), float)


def test_final_estimator_predicts_on_the_winner(pool, data):
    X, y = data
    selector = SourceSelector(
        _sources(pool), final_estimator=LogisticRegression(max_iter=500)
    ).fit(X, y)
    reference = LogisticRegression(max_iter=500).fit(pool.features["source_0"], y)
    assert_array_equal(
        selector.predict(X), reference.predict(pool.features["source_0"])
    )
    assert_allclose(
        selector.predict_proba(X), reference.predict_proba(pool.features["source_0"])
    )
    assert selector.score(X, y) == pytest.approx(accuracy_score(y, selector.predict(X)))
    assert_array_equal(selector.classes_, np.unique(y))


@pytest.mark.parametrize(
    "combine, metric, combiner",
    [
        ("etran", ETran(), _etran_combine),
        ("ncti", NCTI(n_components=16), _ncti_combine),
    ],
)
def test_zoo_combination_matches_the_private_combiner(
    pool, data, combine, metric, combiner
):
    X, y = data
    selector = SourceSelector(
        _sources(pool), estimator=[LogME(), metric], combine=combine
    ).fit(X, y)
    components = [clone(metric).fit(F, y).components_ for F in pool.features.values()]
    expected = combiner(components)
    assert_allclose(selector.scores_["combined"], expected)
    order = np.argsort(-expected, kind="stable")
    assert selector.ranking_ == [list(pool.features)[i] for i in order]
    assert selector.best_score_ == pytest.approx(expected.max())
    # score on new data: the metric's own per-source score (not zoo-relative).
    assert selector.score(X, y) == pytest.approx(
        clone(metric).fit(pool.features[selector.best_source_name_], y).score_
    )


def test_zoo_combination_needs_its_metric(pool, data):
    with pytest.raises(ValueError, match="combine='etran'.*ETran"):
        SourceSelector(_sources(pool), combine="etran").fit(*data)


def test_mean_rank_and_callable_combine(pool, data):
    X, y = data
    metrics = [LogME(), TransRate(), HScore()]
    selector = SourceSelector(_sources(pool), estimator=metrics, combine="mean_rank")
    selector.fit(X, y)
    table = selector.scores_
    expected = np.mean(
        [rankdata(table[m]) for m in ("LogME", "TransRate", "HScore")], axis=0
    )
    assert_allclose(table["combined"], expected)
    assert selector.ranking_[0] == table["combined"].idxmax()

    def worst_first(scores):
        return -scores["LogME"]

    reverse = clone(selector).set_params(combine=worst_first).fit(X, y)
    assert_allclose(reverse.scores_["combined"], -table["LogME"])
    assert reverse.ranking_ == table["LogME"].sort_values().index.tolist()

    bad = clone(selector).set_params(combine=lambda scores: np.zeros(2))
    with pytest.raises(ValueError, match="one value per source"):
        bad.fit(X, y)


def test_cv_reports_mean_and_spread_over_folds(pool, data):
    X, y = data
    selector = SourceSelector(
        _sources(pool), estimator=[LogME(), ETran()], combine="etran", cv=3
    ).fit(X, y)
    assert selector.scores_std_.shape == selector.scores_.shape
    assert (selector.scores_std_.to_numpy() >= 0).all()
    folds = list(StratifiedKFold(3).split(X, y))
    per_fold = [
        [LogME().fit(F[test], y[test]).score_ for _, test in folds]
        for F in pool.features.values()
    ]
    assert_allclose(selector.scores_["LogME"], np.mean(per_fold, axis=1))
    assert_allclose(selector.scores_std_["LogME"], np.std(per_fold, axis=1))
    combined = [
        _etran_combine(
            [ETran().fit(F[test], y[test]).components_ for F in pool.features.values()]
        )
        for _, test in folds
    ]
    assert_allclose(selector.scores_["combined"], np.mean(combined, axis=0))
    assert_allclose(selector.scores_std_["combined"], np.std(combined, axis=0))


def test_in_pipeline_and_cross_val_score(pool, data):
    X, y = data
    pipe = Pipeline(
        [
            ("select", SourceSelector(_sources(pool))),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.5
    selector = SourceSelector(
        _sources(pool), final_estimator=LogisticRegression(max_iter=500)
    )
    assert_allclose(cross_val_score(selector, X, y, cv=3), scores)
    # Without a final estimator, cross_val_score reports transferability.
    logme = cross_val_score(SourceSelector(_sources(pool)), X, y, cv=3)
    assert np.isfinite(logme).all()


def test_nested_parameters(pool, data):
    X, y = data
    selector = SourceSelector(_sources(pool), estimator=LogME())
    params = selector.get_params()
    assert params["source_4__kw_args"] == {"i": 4}
    assert params["estimator__compat"] == LogME().compat
    assert "source_0" in params and "sources" in params
    selector.set_params(source_4__kw_args={"i": 0})
    assert selector.named_sources.source_4.kw_args == {"i": 0}
    selector.fit(X, y)
    assert selector.scores_.loc["source_4", "LogME"] == pytest.approx(
        selector.scores_.loc["source_0", "LogME"]
    )
    selector.set_params(sources__source_2__kw_args={"i": 0})
    assert selector.named_sources.source_2.kw_args == {"i": 0}
    selector.set_params(source_3=FunctionTransformer(_block, kw_args={"i": 1}))
    assert selector.sources[3][0] == "source_3"
    assert clone(selector).get_params()["source_3__kw_args"] == {"i": 1}
    # The alias works where GridSearchCV sets parameters on clones.
    search = GridSearchCV(
        SourceSelector([("only", FunctionTransformer(_block, kw_args={"i": 1}))]),
        {"sources__only__kw_args": [{"i": 1}, {"i": 0}]},
        cv=2,
    ).fit(X, y)
    assert search.best_params_ == {"sources__only__kw_args": {"i": 0}}


def test_n_jobs_gives_the_same_table(pool, data):
    X, y = data
    metrics = [LogME(), TransRate()]
    one = SourceSelector(_sources(pool), estimator=metrics, n_jobs=1).fit(X, y)
    two = SourceSelector(_sources(pool), estimator=metrics, n_jobs=2).fit(X, y)
    pd.testing.assert_frame_equal(one.scores_, two.scores_)
    assert one.ranking_ == two.ranking_


@pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="needs dask.distributed: pip install 'dask[distributed]'",
)
def test_dask_local_cluster_gives_the_same_table(pool, data):
    # An in-process cluster (processes=False): two workers talking over the
    # inproc transport, nothing listening on the network, and no worker
    # processes to spawn (a few seconds each on a small shared machine). The
    # tasks still go through the scheduler and the joblib "dask" backend.
    from distributed import Client, LocalCluster

    X, y = data
    metrics = [LogME(), TransRate()]
    reference = SourceSelector(_sources(pool), estimator=metrics).fit(X, y)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        with joblib.parallel_backend("dask"):
            selector = SourceSelector(_sources(pool), estimator=metrics, n_jobs=2)
            selector.fit(X, y)
    assert len(pool.features) >= 4
    pd.testing.assert_frame_equal(selector.scores_, reference.scores_)
    assert selector.ranking_ == reference.ranking_


def test_on_error_raise_names_the_source(pool, data):
    X, y = data
    sources = _sources(pool) + [("bad", FunctionTransformer(_fail))]
    with pytest.raises(
        RuntimeError, match="Source 'bad' failed: RuntimeError: boom"
    ) as info:
        SourceSelector(sources).fit(X, y)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert str(info.value.__cause__) == "boom"
    mismatch = _sources(pool) + [("short", FunctionTransformer(_drop_a_row))]
    with pytest.raises(ValueError, match="Source 'short' failed"):
        SourceSelector(mismatch).fit(X, y)


def test_on_error_skip_records_failed_sources(pool, data):
    X, y = data
    sources = _sources(pool) + [
        ("bad", FunctionTransformer(_fail)),
        ("short", FunctionTransformer(_drop_a_row)),
    ]
    with pytest.warns(UserWarning) as record:
        selector = SourceSelector(sources, on_error="skip").fit(X, y)
    messages = [str(w.message) for w in record]
    assert any(m.startswith("Source 'bad' failed: RuntimeError") for m in messages)
    assert any(m.startswith("Source 'short' failed: ValueError") for m in messages)
    assert sorted(selector.failed_sources_) == ["bad", "short"]
    assert isinstance(selector.failed_sources_["bad"], RuntimeError)
    assert selector.scores_.index.tolist() == list(pool.features)
    assert "bad" not in selector.ranking_

    only_bad = [
        ("bad", FunctionTransformer(_fail)),
        ("worse", FunctionTransformer(_fail)),
    ]
    with (
        pytest.warns(UserWarning),
        pytest.raises(ValueError, match="All 2 sources failed"),
    ):
        SourceSelector(only_bad, on_error="skip").fit(X, y)


def test_invalid_sources(pool, data):
    X, y = data
    with pytest.raises(ValueError, match="non-empty"):
        SourceSelector([]).fit(X, y)
    with pytest.raises(ValueError, match="unique"):
        SourceSelector(
            [("a", FunctionTransformer()), ("a", FunctionTransformer())]
        ).fit(X, y)
    with pytest.raises(TypeError, match="Source 'clf' must be a transformer"):
        SourceSelector([("clf", LogisticRegression())]).fit(X, y)


def test_memory_caches_the_features(pool, data, tmp_path):
    X, y = data
    memory = joblib.Memory(tmp_path, verbose=0)
    sources = _sources(pool, func=_counted_block)
    _CALLS.clear()
    first = SourceSelector(sources, memory=memory).fit(X, y)
    assert sorted(_CALLS) == list(range(5))
    _CALLS.clear()
    # Another metric and a final estimator: no feature is extracted again.
    second = SourceSelector(
        sources,
        estimator=[LogME(), TransRate()],
        final_estimator=LogisticRegression(max_iter=500),
        memory=memory,
    ).fit(X, y)
    assert _CALLS == []
    assert_allclose(second.scores_["LogME"], first.scores_["LogME"])
    assert second.predict(X).shape == y.shape


def test_keep_features(pool, data):
    X, y = data
    selector = SourceSelector(_sources(pool), keep_features=True).fit(X, y)
    for name, F in pool.features.items():
        assert_array_equal(selector.features_[name], F)
    with_cv = SourceSelector(_sources(pool), keep_features=True, cv=2).fit(X, y)
    assert_array_equal(with_cv.features_["source_1"], pool.features["source_1"])


def test_scores_without_pandas(pool, data, monkeypatch):
    X, y = data
    monkeypatch.setitem(sys.modules, "pandas", None)
    selector = SourceSelector(_sources(pool), estimator=[LogME(), TransRate()])
    selector.fit(X, y)
    table = selector.scores_
    assert isinstance(table, dict)
    assert list(table) == ["source", "LogME", "TransRate"]
    assert table["source"].tolist() == list(pool.features)
    assert table["LogME"].shape == (5,)


def test_verbose_and_html_repr(pool, data, capsys):
    X, y = data
    selector = SourceSelector(
        _sources(pool)[:2],
        estimator={"a": LogME(), "b": TransRate()},
        final_estimator=LogisticRegression(max_iter=500),
        verbose=1,
    )
    html = estimator_html_repr(selector)
    assert "source_0" in html and "LogisticRegression" in html
    selector.fit(X, y)
    out = capsys.readouterr().out
    assert "[SourceSelector] source_0: a=" in out


def test_workers_return_scores_not_features(pool, data):
    # What a joblib task sends back: scores and components, features only
    # when asked, so that n_jobs > 1 never holds every source's features.
    from sklearn.utils.validation import check_memory

    from sktransfer.selection._selector import _score_source

    X, y = data
    name, source = _sources(pool)[0]
    args = (name, source, X, y, {"LogME": LogME()}, None, check_memory(None))
    result = _score_source(*args, False, False)
    assert result.features is None
    assert result.scores["LogME"] == [
        pytest.approx(LogME().fit(_block(X, 0), y).score_)
    ]
    kept = _score_source(*args, True, False)
    assert_array_equal(kept.features, _block(X, 0))
