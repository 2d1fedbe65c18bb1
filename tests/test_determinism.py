"""Determinism: every randomised estimator takes ``random_state``, and the same
seed gives bit-identical results across runs and across ``n_jobs`` settings."""

import inspect

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sktransfer import metrics as M
from sktransfer.evaluation import linear_probe_accuracy
from sktransfer.selection import SourceSelector
from sktransfer.utils.discovery import all_estimators

# Estimators with no random step (closed forms, deterministic solvers, exact
# PCA through eigh/svd of fixed inputs, deterministic tie-breaking): no
# ``random_state``. A new estimator must be added here or take one.
DETERMINISTIC = {
    "ETran",
    "GBC",
    "HScore",
    "KNNScore",
    "LEEP",
    "LogME",
    "NCE",
    "NCTI",
    "PGE",
    "SFDA",
    "ShrinkageHScore",
    "SourceSelector",  # its sources and metrics carry their own seeds
    "TransRate",
}
RANDOMISED = {
    "GradientFeaturizer",
    "NLEEP",
    "PARC",
    "ReferenceTask",
    "TaskTransferBound",
    "TorchFeaturizer",
}


def test_randomised_estimators_take_random_state():
    names = {name for name, _ in all_estimators()}
    assert names == DETERMINISTIC | RANDOMISED
    for name, cls in all_estimators():
        params = inspect.signature(cls).parameters
        assert ("random_state" in params) == (name in RANDOMISED), name


def _data(n=90, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    return 2 * rng.normal(size=(k, d))[y] + rng.normal(size=(n, d)), y


def _bitwise(a, b):
    """Equal bit for bit (NaN equal to NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "estimator",
    [
        M.NLEEP(random_state=0),
        M.NLEEP(random_state=np.random.RandomState(3)),
        M.PARC(max_samples=40, random_state=0),  # subsamples 40 of 90
        M.KNNScore(n_neighbors=3),
        M.SFDA(),
        M.LogME(),
    ],
    ids=lambda est: type(est).__name__,
)
def test_same_seed_same_score(estimator):
    X, y = _data()
    first = clone(estimator).fit(X, y).score_
    second = clone(estimator).fit(X, y).score_
    assert _bitwise(first, second)
    # And the function form gives the very same bits.
    third = clone(estimator).fit(X.copy(), y.copy()).score_
    assert _bitwise(first, third)


def test_parc_seed_matters_only_when_subsampling():
    X, y = _data()
    a = M.PARC(max_samples=40, random_state=0).fit(X, y).score_
    b = M.PARC(max_samples=40, random_state=1).fit(X, y).score_
    assert a != b  # the subsample changes with the seed
    c = M.PARC(random_state=0).fit(X, y).score_
    d = M.PARC(random_state=1).fit(X, y).score_
    assert _bitwise(c, d)  # no subsampling: the seed is unused


def test_reference_task_and_bound_are_reproducible():
    pytest.importorskip("torch")
    pytest.importorskip("ot")
    X, y = _data()
    refs = [M.ReferenceTask(n_iter=30, random_state=0).fit(X, y) for _ in range(2)]
    assert _bitwise(refs[0].coef_, refs[1].coef_)
    assert _bitwise(refs[0].class_loss_, refs[1].class_loss_)
    X_t, y_t = _data(seed=1)
    scores = [
        M.TaskTransferBound(reference=refs[0], n_iter=20, batch_size=30, random_state=0)
        .fit(X_t, y_t)
        .score_
        for _ in range(2)
    ]
    assert _bitwise(scores[0], scores[1])


def _mlp():
    import torch

    # Features are the input of the last Linear layer: the 5 tanh units.
    return torch.nn.Sequential(
        torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)
    )


def test_featurizers_are_reproducible():
    pytest.importorskip("torch")
    from sktransfer.featurizers import GradientFeaturizer, TorchFeaturizer

    X, y = _data()
    X = X.astype(np.float32)
    # A factory: the seed fixes the initial weights.
    feats = [
        TorchFeaturizer(model=_mlp, random_state=0, device="cpu").fit_transform(X)
        for _ in range(2)
    ]
    assert _bitwise(feats[0], feats[1])
    other = TorchFeaturizer(model=_mlp, random_state=1, device="cpu").fit_transform(X)
    assert not np.array_equal(feats[0], other)
    body = _mlp()[:2]
    grads = [
        GradientFeaturizer(model=body, n_restarts=2, batch_size=30, random_state=0)
        .fit(X, y)
        .gradients_
        for _ in range(2)
    ]
    assert _bitwise(grads[0], grads[1])


def _selector(n_jobs, **params):
    sources = [
        ("identity", FunctionTransformer()),
        ("tanh", FunctionTransformer(np.tanh)),
        ("scaled", StandardScaler()),
        ("square", FunctionTransformer(np.square)),
    ]
    metrics = [M.LogME(), M.NLEEP(random_state=0), M.PARC(max_samples=50)]
    return SourceSelector(sources, estimator=metrics, n_jobs=n_jobs, **params)


@pytest.mark.parametrize("cv", [None, 3])
def test_source_selector_same_across_n_jobs(cv):
    X, y = _data()
    tables = []
    for n_jobs in (None, 1, 2):
        selector = _selector(n_jobs, cv=cv).fit(X, y)
        tables.append((selector.scores_, selector.ranking_, selector.best_score_))
    for scores, ranking, best in tables[1:]:
        assert ranking == tables[0][1]
        assert _bitwise(best, tables[0][2])
        for column in ("LogME", "NLEEP", "PARC"):
            assert _bitwise(scores[column], tables[0][0][column])


def test_linear_probe_same_across_n_jobs():
    X, y = _data()
    X = X + 3 * np.random.default_rng(1).normal(size=X.shape)  # not separable
    runs = [
        linear_probe_accuracy(X, y, cv=3, random_state=0, n_jobs=n_jobs)
        for n_jobs in (None, 2, None)
    ]
    for key in ("accuracy_mean", "accuracy_std", "accuracies"):
        assert _bitwise(runs[0][key], runs[1][key])
        assert _bitwise(runs[0][key], runs[2][key])
