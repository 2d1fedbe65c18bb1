"""Streaming (partial_fit), mergeable statistics and the featurizer stream.

The reference of every streamed score is the same metric's ``fit`` on the
stacked batches: partial_fit must reproduce it to 1e-8 relative whatever the
batches (random splits, class-sorted batches that miss classes, uneven sizes,
shards merged in any grouping).
"""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone

from sktransfer.metrics import (
    GBC,
    LEEP,
    NCE,
    ClassStatistics,
    HScore,
    JointCounts,
    LogME,
    ShrinkageHScore,
    TransRate,
)

RTOL = 1e-8

FEATURE_METRICS = [
    LogME(),
    LogME(compat="thuml"),
    LogME(compat="tllib"),
    HScore(),
    HScore(compat="stable_transfer"),
    ShrinkageHScore(),
    ShrinkageHScore(shrinkage=0.3),
    TransRate(),
    TransRate(class_weight="uniform", trace_normalize=True, rank_normalize=True),
    TransRate(projection="lda"),
    GBC(n_components=5),
    GBC(n_components=0.8, gaussian="diagonal"),
    GBC(n_components=None, compat="stable_transfer"),
]


def _ids(est):
    changed = {
        k: v
        for k, v in est.get_params().items()
        if v != clone(est).__class__().get_params()[k]
    }
    return f"{type(est).__name__}({','.join(f'{k}={v}' for k, v in changed.items())})"


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    n, d, c = 700, 12, 5
    y = rng.integers(0, c, size=n)
    X = rng.normal(size=(n, d)) + 3.0  # a non-zero mean tests the centring
    X[:, :c] += 1.5 * np.eye(c)[y]
    X[:, c] += 0.5 * X[:, 0]  # correlated features
    return X, np.array(["a", "b", "c", "d", "e"])[y]


@pytest.fixture(scope="module")
def probabilities():
    rng = np.random.default_rng(1)
    n, c_s, c_t = 600, 7, 4
    y = rng.integers(0, c_t, size=n)
    logits = rng.normal(size=(n, c_s))
    logits[:, :c_t] += 2.0 * np.eye(c_t)[y]
    P = np.exp(logits)
    return P / P.sum(axis=1, keepdims=True), y


def _splits(y, kind):
    """Batches of row indices: random, class-sorted (missing classes), uneven."""
    n = y.shape[0]
    rng = np.random.default_rng(42)
    if kind == "random":
        return np.array_split(rng.permutation(n), 6)
    if kind == "sorted":
        return np.array_split(np.argsort(y, kind="stable"), 9)
    cuts = np.sort(rng.choice(np.arange(1, n), size=4, replace=False))
    cuts[0] = 3  # a batch of 3 rows
    return np.split(np.arange(n), cuts)


# The first "uneven" batch has 3 rows: HScore warns that its interim score
# saturates.
@pytest.mark.filterwarnings("ignore:HScore saturates")
@pytest.mark.parametrize("split", ["random", "sorted", "uneven"])
@pytest.mark.parametrize("metric", FEATURE_METRICS, ids=_ids)
def test_partial_fit_equals_fit(metric, split, features):
    X, y = features
    expected = clone(metric).fit(X, y)
    est = clone(metric)
    for rows in _splits(y, split):
        batch = X[rows]
        assert est.partial_fit(batch, y[rows]) is est
        assert_allclose(batch, X[rows], rtol=0)  # the caller's batch is intact
    assert_allclose(est.score_, expected.score_, rtol=RTOL)
    assert est.classes_.tolist() == expected.classes_.tolist()
    assert est.n_features_in_ == X.shape[1]
    for attr in ("alpha_", "rate_", "shrinkage_", "bhattacharyya_distance_"):
        if hasattr(expected, attr):
            assert_allclose(getattr(est, attr), getattr(expected, attr), rtol=1e-7)


@pytest.mark.parametrize(
    "metric", [LogME(), TransRate(), GBC(n_components=4)], ids=_ids
)
def test_partial_fit_float32_accumulates_in_float64(metric, features):
    # fit converts float32 to float64 first; the stream must do the same per
    # batch, so both agree to the float64 tolerance (not float32's).
    X, y = features
    X32 = X.astype(np.float32)
    expected = clone(metric).fit(X32, y).score_
    est = clone(metric)
    for rows in _splits(y, "random"):
        est.partial_fit(X32[rows], y[rows])
    assert_allclose(est.score_, expected, rtol=RTOL)


def test_shrinkage_fourth_moment_survives_large_means(features):
    # sum ||x - mu||^4 is merged from shifted moments; a large offset must not
    # cancel it (the Ledoit-Wolf shrinkage depends on it).
    X, y = features
    X = X + 1e4
    expected = ShrinkageHScore().fit(X, y)
    est = ShrinkageHScore()
    for rows in _splits(y, "uneven"):
        est.partial_fit(X[rows], y[rows])
    assert_allclose(est.shrinkage_, expected.shrinkage_, rtol=1e-7)
    assert_allclose(est.score_, expected.score_, rtol=1e-7)


def test_score_is_nan_until_two_classes(features):
    X, y = features
    first = y == "a"
    est = LogME().partial_fit(X[first], y[first])
    assert np.isnan(est.score_)
    est.partial_fit(X[~first], y[~first])
    assert_allclose(est.score_, LogME().fit(X, y).score_, rtol=RTOL)


def test_fit_ends_the_stream(features):
    X, y = features
    est = LogME().partial_fit(X[:100], y[:100])
    est.fit(X[100:], y[100:])
    assert not hasattr(est, "statistics_")
    est.partial_fit(X[:300], y[:300])  # a new stream
    assert est.statistics_.n_samples_ == 300
    assert_allclose(est.score_, LogME().fit(X[:300], y[:300]).score_, rtol=RTOL)


def test_partial_fit_checks(features):
    X, y = features
    est = LogME().partial_fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="X has 11 features, but LogME is expecting"):
        est.partial_fit(X[50:100, :-1], y[50:100])
    with pytest.raises(ValueError, match=r"labels \['z'\] that are not in classes"):
        LogME().partial_fit(X[:3], ["a", "b", "z"], classes=["a", "b"])
    # Parameters that cannot stream have no partial_fit (as SVC(probability=
    # False) has no predict_proba), so scikit-learn's checks skip them.
    with pytest.raises(AttributeError, match="no attribute 'partial_fit'") as exc:
        LogME(regression=True).partial_fit(X[:50], X[:50, 0])
    assert "regression=True" in str(exc.value.__cause__)
    with pytest.raises(AttributeError, match="fit_statistics") as exc:
        TransRate(compat="official").fit_statistics(ClassStatistics())
    assert "row_normalize=True" in str(exc.value.__cause__)
    assert not hasattr(TransRate(row_normalize=True), "partial_fit")
    assert hasattr(TransRate(), "partial_fit")
    with pytest.raises(TypeError, match="cannot be compared"):
        LogME().partial_fit(X[:10], y[:10]).partial_fit(X[10:20], np.arange(10))
    with pytest.raises(ValueError, match="NaN"):
        LogME().partial_fit(np.full((3, 12), np.nan), y[:3])


def test_statistics_do_not_grow_with_samples(features):
    # Memory bounded by O(C D^2): the statistics after 7 batches hold as many
    # numbers as after 1, and none has n_samples rows; the class-centred rows
    # that wait for their class scatter product stay below D per class.
    X, y = features

    def n_numbers(stats, pending=True):
        total = sum(
            np.size(v) for v in vars(stats).values() if isinstance(v, np.ndarray)
        )
        if pending:
            for rows, _ in stats.__dict__.get("_pending", {}).values():
                total += sum(np.size(r) for r in rows)
        return total

    one = TransRate().partial_fit(X[:100], y[:100]).statistics_
    many = TransRate()
    for rows in np.array_split(np.arange(X.shape[0]), 7):
        many.partial_fit(X[rows], y[rows])
    c, d = 5, X.shape[1]
    assert n_numbers(many.statistics_, False) == n_numbers(one, False)
    fixed = c * d * d + 2 * d * d + 2 * c * d + 2 * d + 2 * c
    assert n_numbers(one) <= fixed + c * d * d
    assert c * d * d <= n_numbers(one)  # the class scatter matrices are kept
    assert n_numbers(LogME().partial_fit(X, y).statistics_) < c * d * d
    stats = ClassStatistics(class_scatter=True)
    for rows in np.array_split(np.arange(X.shape[0]), 50):  # ~3 rows per class
        stats.update(X[rows], y[rows])
        assert n_numbers(stats) <= fixed + c * d * d
    assert stats.__dict__.get("_pending")  # rows still wait: the case to test
    restored = pickle.loads(pickle.dumps(stats))  # pickling flushes them
    for metric in (TransRate(), GBC(n_components=4)):
        for s in (stats, restored):
            assert_allclose(
                clone(metric).fit_statistics(s).score_,
                clone(metric).fit(X, y).score_,
                rtol=RTOL,
            )


def _shards(X, y, n_shards, **params):
    return [
        ClassStatistics(**params).update(X[rows], y[rows])
        for rows in np.array_split(
            np.random.default_rng(3).permutation(len(y)), n_shards
        )
    ]


@pytest.mark.parametrize("metric", FEATURE_METRICS[::2], ids=_ids)
def test_merged_shards_equal_fit(metric, features):
    X, y = features
    shards = _shards(X, y, 4, class_scatter=True)
    expected = clone(metric).fit(X, y).score_
    for merged in (
        shards[0] + shards[1] + shards[2] + shards[3],
        (shards[3] + shards[1]) + (shards[2] + shards[0]),
        sum(shards),
        shards[2].merge(shards[0]).merge(shards[3].merge(shards[1])),
    ):
        est = clone(metric).fit_statistics(merged)
        assert_allclose(est.score_, expected, rtol=RTOL)
    # merging does not modify either side
    counts = shards[0].counts_.copy()
    _ = shards[0] + shards[1]
    assert_allclose(shards[0].counts_, counts)


def test_merge_of_shards_with_disjoint_classes(features):
    X, y = features
    left = np.isin(y, ["a", "b"])
    merged = ClassStatistics(class_scatter=True).update(X[left], y[left]) + (
        ClassStatistics(class_scatter=True).update(X[~left], y[~left])
    )
    assert merged.classes_.tolist() == ["a", "b", "c", "d", "e"]
    for metric in (TransRate(), GBC(n_components=3), HScore()):
        assert_allclose(
            clone(metric).fit_statistics(merged).score_,
            clone(metric).fit(X, y).score_,
            rtol=RTOL,
        )


def test_statistics_reference_values():
    # Hand-checkable: two classes of two points in 1-D.
    X = np.array([[0.0], [2.0], [10.0], [14.0]])
    y = np.array([0, 0, 1, 1])
    stats = ClassStatistics(class_scatter=True).update(X[:3], y[:3]) + (
        ClassStatistics(class_scatter=True).update(X[3:], y[3:])
    )
    assert_allclose(stats.counts_, [2, 2])
    assert_allclose(stats.means_, [[1.0], [12.0]])
    # (0-1)^2 + (2-1)^2 = 2, (10-12)^2 + (14-12)^2 = 8
    assert_allclose(stats.class_scatter_[:, 0, 0], [2.0, 8.0])
    assert_allclose(stats.within_scatter_, [[10.0]])
    assert_allclose(stats.mean_, [6.5])
    assert_allclose(stats.scatter(), [[np.sum((X - 6.5) ** 2)]])
    assert_allclose(stats.gram(), [[np.sum(X**2)]])
    assert_allclose(stats.fourth_moment(), np.sum((X - 6.5) ** 4))


def test_fit_statistics_checks(features):
    X, y = features
    plain = ClassStatistics().update(X, y)
    with pytest.raises(ValueError, match="class_scatter=True"):
        TransRate().fit_statistics(plain)
    with pytest.raises(TypeError, match="expects a ClassStatistics"):
        LogME().fit_statistics(JointCounts())
    with pytest.raises(ValueError, match="at least one batch"):
        LogME().fit_statistics(ClassStatistics())
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogME().fit_statistics(ClassStatistics().update(X[:5], ["a"] * 5))
    with pytest.raises(ValueError, match="features"):
        plain + ClassStatistics().update(X[:, :3], y)
    est = LogME().fit_statistics(plain)
    assert est.n_features_in_ == X.shape[1]
    assert est.statistics_ is not plain  # a copy


def test_dask_shards_merge_to_the_same_score(features):
    dask = pytest.importorskip("dask")
    X, y = features
    parts = np.array_split(np.arange(len(y)), 5)

    @dask.delayed
    def shard(rows):
        # pickled, as if computed on another worker
        return pickle.loads(
            pickle.dumps(ClassStatistics(class_scatter=True).update(X[rows], y[rows]))
        )

    @dask.delayed
    def merge(a, b):
        return a + b

    level = [shard(rows) for rows in parts]
    while len(level) > 1:  # a merge tree
        level = [
            merge(*level[i : i + 2]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    (merged,) = dask.compute(*level, scheduler="threads")
    for metric in (LogME(), TransRate(), GBC(n_components=4), ShrinkageHScore()):
        assert_allclose(
            clone(metric).fit_statistics(merged).score_,
            clone(metric).fit(X, y).score_,
            rtol=RTOL,
        )


# ------------------------------------------------------- probability metrics
@pytest.mark.parametrize("compat", [None, "thuml", "stable_transfer"])
def test_leep_two_passes_equal_fit(compat, probabilities):
    P, y = probabilities
    expected = LEEP(compat=compat).fit(P, y)
    est = LEEP(compat=compat)
    for rows in _splits(y, "sorted"):
        est.partial_fit(P[rows], y[rows])
    assert np.isnan(est.score_)  # the first pass fixes P(y|z) only
    assert_allclose(est.conditional_, expected.conditional_, rtol=1e-12)
    assert_allclose(est.joint_, expected.joint_, rtol=1e-12)
    batches = _splits(y, "uneven")
    for rows in batches[:-1]:
        est.partial_fit(P[rows], y[rows], second_pass=True)
    assert np.isnan(est.score_)
    est.partial_fit(P[batches[-1]], y[batches[-1]], second_pass=True)
    assert_allclose(est.score_, expected.score_, rtol=RTOL)
    with pytest.raises(ValueError, match="second pass has started"):
        est.partial_fit(P[:5], y[:5])
    with pytest.raises(ValueError, match="more than"):
        est.partial_fit(P[:5], y[:5], second_pass=True)


def test_leep_thuml_zero_mass_raises_at_second_pass(probabilities):
    P, y = probabilities
    P = np.hstack([P, np.zeros((P.shape[0], 1))])
    est = LEEP(compat="thuml").partial_fit(P, y)
    with pytest.raises(ValueError, match="zero"):
        est.partial_fit(P, y, second_pass=True)


def test_leep_merged_shards_two_passes(probabilities):
    P, y = probabilities
    parts = np.array_split(np.arange(len(y)), 3)
    first = sum(JointCounts().update(P[r], y[r]) for r in parts)
    second = [pickle.loads(pickle.dumps(first)) for _ in parts]
    second = [
        s.update_second_pass(P[r], y[r]) for s, r in zip(second, parts, strict=True)
    ]
    merged = second[0] + second[1] + second[2]
    assert merged.n_second_pass_ == len(y)
    assert_allclose(
        LEEP().fit_statistics(merged).score_, LEEP().fit(P, y).score_, rtol=RTOL
    )
    with pytest.raises(ValueError, match="same"):
        second[0] + JointCounts().update(P, y).update_second_pass(P, y)


@pytest.mark.parametrize("compat", [None, "parc"])
def test_nce_streams_probabilities_and_labels(compat, probabilities):
    P, y = probabilities
    z = np.array(["s0", "s1", "s2", "s3", "s4", "s5", "s6"])[P.argmax(axis=1)]
    for X in (P, z):
        expected = NCE(compat=compat).fit(X, y)
        est = NCE(compat=compat)
        for rows in _splits(y, "sorted"):  # source labels grow, too
            est.partial_fit(X[rows], y[rows])
        assert_allclose(est.score_, expected.score_, rtol=RTOL)
        assert_allclose(est.joint_, expected.joint_, rtol=1e-12)
        assert est.source_classes_.tolist() == expected.source_classes_.tolist()
    with pytest.raises(ValueError, match="ambiguous"):
        NCE().partial_fit(np.zeros(4), [0, 1, 0, 1])


def test_joint_counts_reference_values():
    # Hand-made joint: source 0 -> (a, a), source 1 -> (a, b).
    stats = JointCounts(soft=False).update([0, 1], ["a", "b"]) + JointCounts(
        soft=False
    ).update([0, 1], ["a", "a"])
    assert_allclose(stats.counts_, [[2, 0], [1, 1]])
    assert_allclose(stats.conditional(), [[1, 0], [0.5, 0.5]])
    soft = JointCounts().update(np.array([[0.75, 0.25], [0.5, 0.5]]), [0, 1])
    assert_allclose(soft.counts_, [[0.75, 0.5], [0.25, 0.5]])
    with pytest.raises(ValueError, match="soft=False"):
        JointCounts().update(np.array([0, 1]), [0, 1])


# ------------------------------------------------------------ featurizer
def test_stream_score_matches_transform_then_fit(monkeypatch):
    torch = pytest.importorskip("torch")
    from torch import nn

    from sktransfer.featurizers import TorchFeaturizer, stream_score

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    net = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 4))
    feat = TorchFeaturizer(model=net, layer=["0", "1"], batch_size=64, device="cpu")
    probs = TorchFeaturizer(
        model=net, output="probabilities", batch_size=70, device="cpu"
    )
    F = feat.fit(X).transform(X)
    Pr = probs.fit(X).transform(X)
    expected = {
        "LogME": LogME().fit(F, y).score_,
        "TransRate": TransRate().fit(F, y).score_,
        "LEEP": LEEP().fit(Pr, y).score_,
        "NCE": NCE().fit(Pr, y).score_,
    }

    # The stream never builds the N x D output array.
    def no_full_array(*args, **kwargs):
        raise AssertionError("stream_score materialised all features")

    monkeypatch.setattr(TorchFeaturizer, "_layer_arrays", no_full_array)
    assert_allclose(stream_score(LogME(), feat, X, y), expected["LogME"], rtol=RTOL)
    score, est = stream_score(TransRate(), feat, X, y, return_estimator=True)
    assert_allclose(score, expected["TransRate"], rtol=RTOL)
    assert est.statistics_.n_samples_ == 300
    assert_allclose(stream_score(LEEP(), probs, X, y), expected["LEEP"], rtol=RTOL)
    assert_allclose(stream_score(NCE(), probs, X, y), expected["NCE"], rtol=RTOL)
    with pytest.raises(TypeError, match="partial_fit"):
        from sktransfer.metrics import PARC

        stream_score(PARC(), feat, X, y)
    with pytest.raises(ValueError, match="one label per sample"):
        stream_score(LogME(), feat, X, y[:-1])


def test_stream_pass_on_device_feeds_tensors():
    # The GPU route of stream_score (features kept on the featurizer's device)
    # exercised on the CPU: the metric receives tensors, with the same score.
    torch = pytest.importorskip("torch")
    from torch import nn

    from sktransfer.featurizers import TorchFeaturizer
    from sktransfer.featurizers._streaming import _stream_pass

    torch.manual_seed(0)
    X = np.random.default_rng(1).normal(size=(120, 4)).astype(np.float32)
    y = np.arange(120) % 3
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    feat = TorchFeaturizer(model=net, layer=["0", "1"], batch_size=50, device="cpu")
    F = feat.fit(X).transform(X)
    est, seen = LogME(), []

    def step(batch, labels):
        seen.append(type(batch))
        est.partial_fit(batch, labels)

    _stream_pass(feat, *feat._validate_input(X, reset=False), y, step, True)
    assert seen == [torch.Tensor] * 3
    assert_allclose(est.score_, LogME().fit(F, y).score_, rtol=RTOL)
