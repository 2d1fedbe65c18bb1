"""PGE (principal gradient expectation) and its gradient featurizer."""

import numpy as np
import pytest
import torch
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)
from torch import nn

from sktransfer.featurizers import GradientFeaturizer
from sktransfer.featurizers._gradients import _init_head
from sktransfer.metrics import PGE, pge_distances

torch.set_num_threads(1)

UNITS = [6, 3, 3]


def _records(n_tasks=4, n_rows=12, seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.normal(loc=rng.normal(size=sum(UNITS)), size=(n_rows, sum(UNITS)))
        for _ in range(n_tasks)
    ]


# ----------------------------------------------------------------- the metric
_NO_SOURCE = "PGE() without a source has no score (it only embeds the task)"


@parametrize_with_checks(
    [PGE(), PGE(normalize="none", distance="cosine", aggregate="concat")],
    expected_failed_checks=lambda est: dict.fromkeys(
        ["check_fit_score_takes_y", "check_pipeline_consistency"], _NO_SOURCE
    ),
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_param_validation():
    check_param_validation("PGE", PGE())


@pytest.mark.parametrize("normalize", ["unit_l2", "global_l2", "none"])
@pytest.mark.parametrize("distance", ["l2", "cosine"])
@pytest.mark.parametrize("aggregate", ["mean", "concat"])
def test_self_distance_zero_and_symmetry(normalize, distance, aggregate):
    params = {
        "unit_sizes": UNITS,
        "normalize": normalize,
        "distance": distance,
        "aggregate": aggregate,
    }
    G = _records()
    D = pge_distances(G, **params)
    np.testing.assert_allclose(np.diag(D), 0.0, atol=1e-12)
    np.testing.assert_array_equal(D, D.T)
    assert np.all(D[~np.eye(len(G), dtype=bool)] > 0)
    # The estimator agrees with the matrix, in both directions.
    for s, t in [(0, 1), (1, 0), (2, 3)]:
        source = PGE(unit_sizes=UNITS, normalize=normalize).fit(G[s])
        est = PGE(source=source, **params).fit(G[t])
        assert est.distance_ == pytest.approx(D[s, t], rel=1e-12, abs=1e-15)
        assert est.score_ == -est.distance_
    source = PGE(unit_sizes=UNITS, normalize=normalize).fit(G[0])
    assert PGE(source=source, **params).fit(G[0]).distance_ == pytest.approx(
        0.0, abs=1e-12
    )


@pytest.mark.parametrize("normalize", ["unit_l2", "global_l2"])
def test_invariant_to_gradient_scale_under_l2_normalisation(normalize):
    G = _records()
    D = pge_distances(G, unit_sizes=UNITS, normalize=normalize)
    scaled = [G[0] * 1e3, G[1] * 1e-4, G[2] * 7.0, G[3]]
    D_scaled = pge_distances(scaled, unit_sizes=UNITS, normalize=normalize)
    np.testing.assert_allclose(D_scaled, D, rtol=1e-10, atol=1e-12)
    D_raw = pge_distances(G, unit_sizes=UNITS, normalize="none")
    D_raw_scaled = pge_distances(scaled, unit_sizes=UNITS, normalize="none")
    assert not np.allclose(D_raw, D_raw_scaled)


def test_unit_l2_balances_units_and_concat_formula():
    rng = np.random.default_rng(1)
    G = rng.normal(size=(10, 12))
    G[:, :6] *= 1e4  # a unit with huge gradients
    pg = PGE(unit_sizes=UNITS).fit(G).principal_gradient_
    np.testing.assert_allclose(
        [np.linalg.norm(pg[:6]), np.linalg.norm(pg[6:9]), np.linalg.norm(pg[9:])], 1.0
    )
    H = rng.normal(size=(10, 12))
    src = PGE(unit_sizes=UNITS).fit(G)
    per_unit = [
        PGE(source=PGE().fit(G[:, sl]), distance="l2").fit(H[:, sl]).distance_
        for sl in (slice(0, 6), slice(6, 9), slice(9, 12))
    ]
    mean = PGE(source=src, unit_sizes=UNITS).fit(H).distance_
    concat = PGE(source=src, unit_sizes=UNITS, aggregate="concat").fit(H).distance_
    assert mean == pytest.approx(np.mean(per_unit))
    assert concat == pytest.approx(np.sqrt(np.sum(np.square(per_unit))))


def test_score_reuses_the_source_and_ignores_y():
    G = _records()
    source = PGE(unit_sizes=UNITS).fit(G[0])
    est = PGE(source=source, unit_sizes=UNITS).fit(G[1], y=np.arange(99))
    assert est.score(G[1]) == est.score_
    assert type(est.score(G[1])) is float
    assert est.score(G[2]) == pytest.approx(
        PGE(source=source, unit_sizes=UNITS).fit(G[2]).score_
    )
    assert est.n_gradients_ == G[1].shape[0]


def test_errors():
    G = _records()
    with pytest.raises(ValueError, match="has no source"):
        PGE().fit(G[0]).score(G[0])
    with pytest.raises(ValueError, match="unit_sizes must be positive"):
        PGE(unit_sizes=[5, 5]).fit(G[0])
    with pytest.raises(ValueError, match="gradient columns"):
        PGE(source=PGE().fit(G[0][:, :5])).fit(G[1])
    with pytest.raises(ValueError, match="normalize"):
        PGE(source=PGE(normalize="none").fit(G[0])).fit(G[1])
    with pytest.raises(ValueError, match="same number of columns"):
        pge_distances([G[0], G[1][:, :5]])
    with pytest.raises(ValueError, match="normalize must be"):
        pge_distances(G, normalize="sign")


def test_zero_units():
    G = np.zeros((3, 4))
    H = np.ones((3, 4))
    D = pge_distances([G, G, H], unit_sizes=[2, 2], distance="cosine")
    assert D[0, 1] == 0.0 and D[0, 2] == 1.0


# ---------------------------------------------------------------- featurizer
def _task(n=60, d=5, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, d)) + y[:, None]
    return X.astype(np.float32), y


def test_gradients_match_closed_form_on_linear_model():
    X, y = _task()
    n, d = X.shape
    body = nn.Linear(d, 4)
    gf = GradientFeaturizer(model=body, n_restarts=2, batch_size=16, random_state=0)
    G = gf.fit_transform(X, y)
    n_batches = -(-n // 16)
    assert G.shape == (2 * n_batches, 4 * d + 4)
    assert gf.unit_names_ == ["weight", "bias"]
    np.testing.assert_array_equal(gf.unit_sizes_, [4 * d, 4])
    W = body.weight.detach().double().numpy()
    b = body.bias.detach().double().numpy()
    for r, seed in enumerate(gf.restart_seeds_):
        head = _init_head(4, 3, seed)
        A = head.weight.detach().double().numpy()
        c = head.bias.detach().double().numpy()
        order = np.random.RandomState(seed).permutation(n)
        for m in range(n_batches):
            idx = order[m * 16 : (m + 1) * 16]
            x = X[idx].astype(np.float64)
            logits = (x @ W.T + b) @ A.T + c
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            dlogits = (p - np.eye(3)[y[idx]]) / len(idx)
            dz = dlogits @ A
            expected = np.concatenate([(dz.T @ x).ravel(), dz.sum(axis=0)])
            np.testing.assert_allclose(
                G[r * n_batches + m], expected, rtol=1e-4, atol=1e-6
            )
    # The given model is never modified.
    np.testing.assert_array_equal(body.weight.detach().double().numpy(), W)


def test_featurizer_seeding_units_and_steps():
    X, y = _task()

    def factory():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 4))

    params = {"model": factory, "n_restarts": 2, "batch_size": 20}
    G1 = GradientFeaturizer(**params, random_state=1).fit_transform(X, y)
    G2 = GradientFeaturizer(**params, random_state=1).fit_transform(X, y)
    G3 = GradientFeaturizer(**params, random_state=2).fit_transform(X, y)
    np.testing.assert_array_equal(G1, G2)
    assert not np.allclose(G1, G3)
    # n_steps: the first batch gradient of each restart is at the start weights.
    G4 = GradientFeaturizer(**params, n_steps=2, random_state=1).fit_transform(X, y)
    np.testing.assert_allclose(G4[[0, 3]], G1[[0, 3]], rtol=1e-6)
    assert not np.allclose(G4[[1, 2]], G1[[1, 2]])
    # Units by name and by predicate; the head is never recorded.
    by_name = GradientFeaturizer(**params, units=["2.weight"], random_state=1)
    np.testing.assert_allclose(by_name.fit_transform(X, y), G1[:, 48:80])
    pred = GradientFeaturizer(
        **params, units=lambda name, p: name.endswith("bias"), random_state=1
    ).fit(X, y)
    assert pred.unit_names_ == ["0.bias", "2.bias"]
    assert G1.shape[1] == sum(p.numel() for p in factory().parameters())
    with pytest.raises(ValueError, match="Unknown weight units"):
        GradientFeaturizer(**params, units=["head.weight"]).fit(X, y)
    with pytest.raises(ValueError, match="needs the labels"):
        GradientFeaturizer(**params).fit(X, y).transform(X)


def test_featurizer_param_validation():
    check_param_validation(
        "GradientFeaturizer", GradientFeaturizer(model=lambda: nn.Linear(5, 2))
    )


def test_variance_shrinks_with_restarts():
    """The paper's stability property: more restarts, less seed-to-seed spread.

    With ``n_steps=0`` every restart averages its batches into the full-data
    gradient at a random head, so restarts are i.i.d. and the spread of the
    mean over ``R`` restarts is ``spread(1) / R``. The tolerance is three
    standard errors of the measured spreads (from the per-seed squared
    deviations), not a fixed factor.
    """
    X, y = _task(n=48)
    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(5, 6), nn.Tanh())
    seeds = range(24)

    def spread(n_restarts):
        pgs = np.array(
            [
                PGE(normalize="none")
                .fit(
                    GradientFeaturizer(
                        model=body, n_restarts=n_restarts, batch_size=16, random_state=s
                    ).fit_transform(X, y)
                )
                .principal_gradient_
                for s in seeds
            ]
        )
        sq = (
            np.square(pgs - pgs.mean(axis=0)).sum(axis=1)
            * len(seeds)
            / (len(seeds) - 1)
        )
        return sq.mean(), sq.std(ddof=1) / np.sqrt(len(seeds))

    (s1, e1), (s4, e4), (s16, e16) = spread(1), spread(4), spread(16)
    assert s1 > s4 > s16
    for R, s, e in [(4, s4, e4), (16, s16, e16)]:
        assert abs(R * s - s1) < 3 * np.hypot(e1, R * e), (R, R * s / s1)


def test_pipeline_fit_time_labels():
    X, y = _task()
    body = nn.Linear(5, 4)
    feat = GradientFeaturizer(model=body, n_restarts=2, batch_size=20, random_state=0)
    source = PGE(unit_sizes=[20, 4]).fit(feat.fit_transform(X[::-1], y[::-1]))
    pipe = Pipeline(
        [("gradients", feat), ("pge", PGE(source=source, unit_sizes=[20, 4]))]
    ).fit(X, y)
    assert np.isfinite(pipe[-1].score_) and pipe[-1].score_ <= 0


def test_example_ranks_real_sources(monkeypatch, tmp_path):
    """Real-data check: digits source tasks, tau > 0 on every probe network."""
    import runpy
    from pathlib import Path

    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    script = Path(__file__).resolve().parents[1] / "examples"
    try:
        ns = runpy.run_path(str(script / "plot_pge_source_ranking.py"))
    finally:
        plt.close("all")
    assert min(ns["taus"]) > 0
    assert ns["pge"].score_ == pytest.approx(ns["results"][0][1][4])
