"""Tests of sktransfer.evaluation: measures, stability analysis, probes and plots."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sktransfer.evaluation import (
    evaluate_subpools,
    kendall_tau,
    linear_probe_accuracy,
    pearson,
    plot_scores_vs_accuracy,
    plot_tau_heatmap,
    recall_at_k,
    regret,
    relative_top_k,
    setup_stability_score,
    source_subpools,
    weighted_kendall_tau,
    win_rates,
)
from sktransfer.evaluation._stability import MEASURES, _pairwise_kendall

FIXTURES = Path(
    os.environ.get(
        "SKTRANSFER_FIXTURES", Path(__file__).resolve().parents[2] / "shared/fixtures"
    )
)
STABLE = FIXTURES / "stable_transfer"
PUBLISHED = FIXTURES / "published"

MEASURE_FUNCS = [weighted_kendall_tau, kendall_tau, pearson]
TOP_FUNCS = [relative_top_k, recall_at_k, regret]


# --------------------------------------------------------------------------
# Measures: hand-derived values
# --------------------------------------------------------------------------


def test_weighted_kendall_tau_hand_derived():
    # Hyperbolic additive weights: the pair of ranks (r, s) weighs
    # 1/(r+1) + 1/(s+1). Pairs (0,1), (0,2), (1,2) weigh 3/2, 4/3 and 5/6
    # (total 11/3). Swapping the top two makes the 3/2 pair discordant:
    # (4/3 + 5/6 - 3/2) / (11/3) = 2/11 (the same from either ranking).
    # Swapping the bottom two makes the 5/6 pair discordant: 6/11.
    assert weighted_kendall_tau([3, 2, 1], [2, 3, 1]) == pytest.approx(2 / 11)
    assert weighted_kendall_tau([3, 2, 1], [3, 1, 2]) == pytest.approx(6 / 11)
    assert weighted_kendall_tau([3, 2, 1], [30, 20, 10]) == pytest.approx(1.0)
    assert weighted_kendall_tau([3, 2, 1], [10, 20, 30]) == pytest.approx(-1.0)


def test_kendall_and_pearson_hand_derived():
    acc, scores = [0.9, 0.8, 0.7, 0.6], [3.0, 4.0, 2.0, 1.0]
    # 6 pairs, 1 discordant: (5 - 1) / 6.
    assert kendall_tau(acc, scores) == pytest.approx(2 / 3)
    # Centred: (.15, .05, -.05, -.15) and (.5, 1.5, -.5, -1.5): 0.4 / sqrt(.05 * 5).
    assert pearson(acc, scores) == pytest.approx(0.8)


def test_top_k_measures_hand_derived():
    acc, scores = [0.9, 0.8, 0.6], [2.0, 3.0, 1.0]
    assert relative_top_k(acc, scores) == pytest.approx(0.8 / 0.9)
    assert relative_top_k(acc, scores, k=2) == 1.0
    assert recall_at_k(acc, scores) == 0.0
    assert recall_at_k(acc, scores, k=2) == 1.0
    assert regret(acc, scores) == pytest.approx(0.1)
    assert regret(acc, scores, k=3) == 0.0
    # A fraction of the pool: int(0.5 * 3) = 1 source, at least 1.
    assert regret(acc, scores, k=0.5) == pytest.approx(0.1)
    assert regret(acc, scores, k=0.1) == pytest.approx(0.1)
    assert recall_at_k(acc, scores, k=0.7) == 1.0  # int(0.7 * 3) = 2
    # k larger than the pool is capped.
    assert relative_top_k(acc, scores, k=10) == 1.0


def test_top_k_ties():
    # Tied scores: the first source wins, as numpy.argmax in the reference.
    assert relative_top_k([0.5, 1.0], [1.0, 1.0]) == 0.5
    assert regret([0.5, 1.0], [1.0, 1.0]) == 0.5
    # Tied best accuracies: any of them is a hit.
    assert recall_at_k([1.0, 1.0, 0.2], [0.0, 2.0, 1.0]) == 1.0


@pytest.mark.parametrize("func", MEASURE_FUNCS)
def test_correlations_match_scipy(func):
    rng = np.random.default_rng(0)
    reference = {
        weighted_kendall_tau: lambda a, s: stats.weightedtau(a, s).statistic,
        kendall_tau: lambda a, s: stats.kendalltau(a, s).statistic,
        pearson: lambda a, s: stats.pearsonr(a, s).statistic,
    }[func]
    for n in (2, 5, 12):
        acc = rng.integers(0, 4, size=n).astype(float)  # with ties
        scores = rng.normal(size=n)
        if np.ptp(acc) == 0:
            acc[0] += 1
        assert func(acc, scores) == pytest.approx(reference(acc, scores), abs=1e-12)


def test_weighted_kendall_tau_is_symmetric():
    rng = np.random.default_rng(1)
    for _ in range(10):
        a, b = rng.normal(size=9), rng.integers(0, 3, size=9)
        assert weighted_kendall_tau(a, b) == pytest.approx(weighted_kendall_tau(b, a))


@pytest.mark.parametrize("func", MEASURE_FUNCS + TOP_FUNCS)
def test_measures_are_invariant_to_the_order_of_sources(func):
    rng = np.random.default_rng(2)
    acc, scores = rng.uniform(0.5, 1, size=8), rng.normal(size=8)
    perm = rng.permutation(8)
    assert func(acc[perm], scores[perm]) == pytest.approx(func(acc, scores))


@pytest.mark.parametrize("func", MEASURE_FUNCS + TOP_FUNCS)
def test_measures_return_python_floats(func):
    assert type(func([0.1, 0.5, 0.3], [1, 3, 2])) is float


@pytest.mark.parametrize("func", MEASURE_FUNCS + TOP_FUNCS)
@pytest.mark.parametrize(
    "acc, scores, match",
    [
        ([0.1, 0.2, 0.3], [1.0, 2.0], "same length"),
        ([0.1], [1.0], "at least 2"),
        ([0.1, np.nan], [1.0, 2.0], "NaN or infinite"),
        ([0.1, 0.2], [1.0, np.inf], "NaN or infinite"),
        ([[0.1, 0.2]], [[1.0, 2.0]], "1-D"),
        (["a", "b"], [1.0, 2.0], "numbers"),
    ],
)
def test_measures_validate_inputs(func, acc, scores, match):
    with pytest.raises(ValueError, match=match):
        func(acc, scores)


@pytest.mark.parametrize("func", TOP_FUNCS)
@pytest.mark.parametrize("k", [0, -1, 1.5, 0.0])
def test_top_k_measures_validate_k(func, k):
    with pytest.raises(ValueError, match="k"):
        func([0.1, 0.2], [1.0, 2.0], k=k)


def test_relative_top_k_needs_positive_best():
    with pytest.raises(ValueError, match="positive"):
        relative_top_k([-0.1, -0.2], [1.0, 2.0])


@pytest.mark.skipif(not PUBLISHED.is_dir(), reason=f"fixtures not found at {PUBLISHED}")
def test_tllib_published_correlations():
    # TLlib's CIFAR-10 model-selection table (10 ImageNet models) prints the
    # weighted tau and Pearson of each metric; see published/README.md.
    pd = pytest.importorskip("pandas")
    table = pd.read_csv(PUBLISHED / "tllib_cifar10_model_selection.csv")
    printed = pd.read_csv(
        PUBLISHED / "tllib_cifar10_published_correlations.csv", index_col=0
    )
    for metric in ("hscore", "leep", "logme", "nce"):
        acc, scores = table["finetuned_acc"], table[metric]
        tau = weighted_kendall_tau(acc, scores)
        assert round(tau, 3) == pytest.approx(printed.loc["weighted_tau", metric])
        # Pearson on the rounded inputs is off by rounding only (README: 3e-3).
        assert pearson(acc, scores) == pytest.approx(
            printed.loc["pearson", metric], abs=3e-3
        )
        assert kendall_tau(acc, scores) == pytest.approx(
            stats.kendalltau(acc, scores).statistic
        )
    # LogME picks Inception V3 at 96.3 against the best 97.4 (DenseNet169/201).
    rel = relative_top_k(table["finetuned_acc"], table["logme"])
    best = table["finetuned_acc"].max()
    picked = table["finetuned_acc"][table["logme"].idxmax()]
    assert rel == pytest.approx(picked / best)


# --------------------------------------------------------------------------
# Sub-pools and the setup-stability score
# --------------------------------------------------------------------------


def test_source_subpools():
    pools = source_subpools(["d", "b", "a", "c", "b"], sampling_ratio=0.9)
    assert pools == list(itertools.combinations(["a", "b", "c", "d"], 3))
    assert len(source_subpools(list(range(19)))) == 171  # C(19, 17)
    assert len(source_subpools(list(range(17)))) == 136  # C(17, 15)
    with pytest.raises(ValueError, match="too small"):
        source_subpools(["a", "b", "c"], sampling_ratio=0.5)


def _random_table(seed=0, n_metrics=3, n_targets=4, n_sources=6):
    rng = np.random.default_rng(seed)
    rows = []
    names = [f"s{i}" for i in range(n_sources)]
    for m, t in itertools.product(range(n_metrics), range(n_targets)):
        # One target is also a source name (excluded from its own pool).
        target = "s0" if t == 0 else f"t{t}"
        for source in names:
            rows.append((f"m{m}", target, source))
    n = len(rows)
    return {
        "metric": np.array([r[0] for r in rows]),
        "target": np.array([r[1] for r in rows]),
        "source": np.array([r[2] for r in rows]),
        # Integer-valued: ties in both columns exercise the tie paths.
        "score": rng.integers(0, 4, size=n).astype(float),
        "performance": rng.integers(1, 5, size=n) / 5,
    }


def _wrap(func):
    return lambda accuracies, scores: func(accuracies, scores)


def test_evaluate_subpools_matches_the_measures_one_by_one():
    table = _random_table()
    fast = evaluate_subpools(table, sampling_ratio=0.7, measures=list(MEASURES))
    # Wrapped functions are not recognised: the slow path calls them per setup.
    slow_measures = {name: _wrap(func) for name, func in MEASURES.items()}
    with np.errstate(all="ignore"), pytest.warns(stats.ConstantInputWarning):
        slow = evaluate_subpools(table, sampling_ratio=0.7, measures=slow_measures)
    for key in ("metric", "target", "subpool", "measure"):
        np.testing.assert_array_equal(fast[key], slow[key])
    np.testing.assert_allclose(fast["value"], slow["value"], atol=1e-12)


def test_evaluate_subpools_protocol():
    table = _random_table()
    res = evaluate_subpools(table, sampling_ratio=0.7, measures=["kendall_tau"])
    pools = source_subpools(table["source"], sampling_ratio=0.7)
    assert len(pools) == 15  # C(6, 4)
    # 3 metrics x 4 targets x 15 pools, one measure.
    assert res["value"].shape == (180,)
    # Target "s0" is one of the sources: it is dropped from its own pools.
    rows = (res["metric"] == "m0") & (res["target"] == "s0")
    for pool_id, value in zip(res["subpool"][rows], res["value"][rows], strict=True):
        keep = [s for s in pools[pool_id] if s != "s0"]
        sel = (
            (table["metric"] == "m0")
            & (table["target"] == "s0")
            & np.isin(table["source"], keep)
        )
        expected = stats.kendalltau(table["performance"][sel], table["score"][sel])
        np.testing.assert_allclose(value, expected.statistic, equal_nan=True)
    kept = evaluate_subpools(
        table, sampling_ratio=0.7, measures=["regret"], exclude_self=False
    )
    assert kept["value"].shape == (180,)


def test_evaluate_subpools_validates():
    table = _random_table()
    with pytest.raises(ValueError, match="column 'acc' not found"):
        evaluate_subpools(table, performance_col="acc")
    with pytest.raises(ValueError, match="unknown measures"):
        evaluate_subpools(table, measures=["spearman"])
    doubled = {k: np.concatenate([v, v]) for k, v in table.items()}
    with pytest.raises(ValueError, match="more than one row"):
        evaluate_subpools(doubled)
    with pytest.raises(TypeError, match="DataFrame or a mapping"):
        evaluate_subpools([1, 2, 3])


def test_pairwise_kendall_matches_scipy_on_common_entries():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 3, size=(6, 5)).astype(float)
    values[rng.random(values.shape) < 0.2] = np.nan
    taus = _pairwise_kendall(values)
    for i, j in itertools.combinations(range(6), 2):
        common = np.isfinite(values[i]) & np.isfinite(values[j])
        if common.sum() >= 2:
            with np.errstate(all="ignore"):
                expected = stats.kendalltau(values[i, common], values[j, common])
            expected = expected.statistic
        else:
            expected = np.nan
        np.testing.assert_allclose(taus[i, j], expected, equal_nan=True, atol=1e-12)


def test_setup_stability_score_reference_edge_cases():
    # The two cases of the reference test (setup_stability_score_test.py):
    # 100 experiments of 3 metrics with the same ranking give 1, random
    # outcomes give about 0.
    n_exp = 100
    results = {
        "metric": np.tile(["gbc", "leep", "logme"], n_exp),
        "comp_a": np.zeros(3 * n_exp),
        "comp_b": np.ones(3 * n_exp),
        "comp_c": np.repeat(np.arange(n_exp), 3),
        "value": np.tile([0.0, 1.0, 2.0], n_exp),
    }
    assert setup_stability_score(results, varying="comp_c") == pytest.approx(1.0)
    np.random.seed(0)
    results["value"] = np.random.uniform(0, 1, 3 * n_exp)
    random_ss = setup_stability_score(
        results, varying="comp_c", fixed=["comp_a", "comp_b"]
    )
    assert random_ss == pytest.approx(0.0, abs=0.01)


def _reference_ss(df, varying, fixed):
    """The reference algorithm with pandas and scipy, pivoting by metric name."""
    group_scores = []
    for _, group in df.groupby(fixed):
        wide = group.pivot(index=varying, columns="metric", values="value")
        taus = []
        for a, b in itertools.combinations(range(len(wide)), 2):
            x, y = wide.iloc[a].to_numpy(), wide.iloc[b].to_numpy()
            # Metrics missing (NaN) in either setup are left out of the pair;
            # the reference code would make the whole pair NaN instead.
            common = np.isfinite(x) & np.isfinite(y)
            if common.sum() < 2:
                taus.append(np.nan)
                continue
            with np.errstate(all="ignore"):
                taus.append(stats.kendalltau(x[common], y[common]).statistic)
        if taus and not np.all(np.isnan(taus)):
            group_scores.append(np.nanmean(taus))
    return np.nanmean(group_scores)


def test_setup_stability_score_matches_reference_and_pivots_by_name():
    pd = pytest.importorskip("pandas")
    table = _random_table(seed=4, n_metrics=4, n_sources=7)
    res = pd.DataFrame(evaluate_subpools(table, sampling_ratio=0.8))
    assert res["value"].isna().any()  # undefined correlations are NaN
    components = ["target", "subpool", "measure"]
    for varying in components:
        fixed = [c for c in components if c != varying]
        expected = _reference_ss(res, varying, fixed)
        assert setup_stability_score(res, varying=varying) == pytest.approx(expected)
        # Row order is irrelevant: the metrics are matched by name.
        shuffled = res.sample(frac=1.0, random_state=0)
        assert setup_stability_score(
            shuffled, varying=varying, fixed=fixed
        ) == pytest.approx(expected)


def test_setup_stability_score_validates():
    results = {
        "metric": ["a", "a", "b", "b"],
        "target": ["t", "t", "t", "t"],
        "value": [0.1, 0.2, 0.3, 0.4],
    }
    with pytest.raises(ValueError, match="appears twice"):
        setup_stability_score(results, varying="target")
    with pytest.raises(ValueError, match="cannot be fixed"):
        setup_stability_score(results, varying="target", fixed=["metric"])
    # A single setup: nothing to compare.
    single = {"metric": ["a", "b"], "target": ["t", "t"], "value": [0.1, 0.2]}
    assert np.isnan(setup_stability_score(single, varying="target"))


def test_win_rates():
    results = {
        "metric": ["a", "b", "c"] * 3,
        "target": np.repeat(["t1", "t2", "t3"], 3),
        "measure": ["regret"] * 9,
        "value": [0.0, 0.0, 0.1, 0.2, 0.1, np.nan, 0.3, 0.2, 0.1],
    }
    rates = win_rates(results, measure="regret", greater_is_better=False)
    # t1: a and b tie (1/2 each); t2: b; t3: c. NaN never wins.
    assert rates == pytest.approx({"a": 1 / 6, "b": 1 / 2, "c": 1 / 3})
    rates = win_rates(results, setup=["target"])
    assert rates == pytest.approx({"a": 2 / 3, "b": 0.0, "c": 1 / 3})
    assert sum(rates.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no row"):
        win_rates(results, measure="pearson")


# --------------------------------------------------------------------------
# Reproduction of Agostinelli et al. (ECCV 2022) from their published tables
# --------------------------------------------------------------------------

SCENARIOS = {
    # name: (file, source column, performance column, Trainable Backbone)
    "segmentation": (
        "source_datasets_table.csv",
        "Source Dataset",
        "Test Mean IoU",
        None,
    ),
    "classification_frozen": (
        "source_model_architectures_table.csv",
        "Source Architecture",
        "Test Accuracy",
        False,
    ),
    "classification_finetuned": (
        "source_model_architectures_table.csv",
        "Source Architecture",
        "Test Accuracy",
        True,
    ),
}

# What the tables give (sktransfer, scipy 1.17, 0.9 sub-pools: 136 of 15 of the
# 17 segmentation sources, 171 of 17 of the 19 architectures): the metric with
# the highest mean weighted tau over all (target, sub-pool) setups, which is also
# the one that wins most setups, and the setup-stability scores when the target,
# the sub-pool or the evaluation measure varies.
#   segmentation (source-dataset selection):   LogME, SS 0.2355 / 0.7989 / 0.5270
#   classification, frozen backbone:           N-LEEP, SS 0.7024 / 0.9219 / 0.7776
#   classification, fine-tuned backbone:       N-LEEP, SS 0.6421 / 0.8982 / 0.6881
# The paper's headline: LogME is best for source-dataset selection (segmentation),
# N-LEEP for source-architecture selection (classification).
EXPECTED = {
    "segmentation": ("logme", {"target": 0.2355, "subpool": 0.7989, "measure": 0.5270}),
    "classification_frozen": (
        "nleep",
        {"target": 0.7024, "subpool": 0.9219, "measure": 0.7776},
    ),
    "classification_finetuned": (
        "nleep",
        {"target": 0.6421, "subpool": 0.8982, "measure": 0.6881},
    ),
}


def _load_scenario(name):
    pd = pytest.importorskip("pandas")
    file, source_col, perf_col, trainable = SCENARIOS[name]
    df = pd.read_csv(STABLE / file, index_col=0)
    if trainable is not None:
        df = df[df["Trainable Backbone"] == trainable]
    return df, source_col, perf_col


def _scenario_results(name):
    df, source_col, perf_col = _load_scenario(name)
    return df, evaluate_subpools(
        df,
        metric_col="Transferability Metric",
        target_col="Target Dataset",
        source_col=source_col,
        score_col="Transferability Metric Score",
        performance_col=perf_col,
    )


@pytest.mark.skipif(not STABLE.is_dir(), reason=f"fixtures not found at {STABLE}")
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_stable_transfer_headline(scenario):
    pd = pytest.importorskip("pandas")
    df, source_col, perf_col = _load_scenario(scenario)
    winner, expected_ss = EXPECTED[scenario]

    # Independent computation, pandas + scipy only: mean over targets of the
    # weighted tau on the full pool (README of the fixtures), and its winner.
    full_pool = (
        df.groupby(["Transferability Metric", "Target Dataset"])
        .apply(
            lambda g: (
                stats.weightedtau(
                    g[perf_col], g["Transferability Metric Score"]
                ).statistic
            ),
            include_groups=False,
        )
        .groupby(level=0)
        .mean()
    )
    assert full_pool.idxmax() == winner

    df, results = _scenario_results(scenario)
    res = pd.DataFrame(results)
    n_pools = {"segmentation": 136}.get(scenario, 171)
    assert res["subpool"].nunique() == n_pools

    # Spot-check setups against scipy on the raw table.
    pools = source_subpools(df[source_col])
    tau_rows = res[res["measure"] == "weighted_kendall_tau"]
    for _, row in tau_rows.sample(25, random_state=0).iterrows():
        keep = [s for s in pools[row["subpool"]] if s != row["target"]]
        sel = df[
            (df["Transferability Metric"] == row["metric"])
            & (df["Target Dataset"] == row["target"])
            & df[source_col].isin(keep)
        ]
        expected = stats.weightedtau(
            sel[perf_col], sel["Transferability Metric Score"]
        ).statistic
        assert row["value"] == pytest.approx(expected, abs=1e-12)

    # The same winner over all sub-pool setups: by mean weighted tau and by
    # the share of setups won.
    means = tau_rows.groupby("metric")["value"].mean()
    assert means.idxmax() == winner
    rates = win_rates(results, measure="weighted_kendall_tau")
    assert max(rates, key=rates.get) == winner
    assert rates[winner] > 0.5

    for varying, value in expected_ss.items():
        assert setup_stability_score(results, varying=varying) == pytest.approx(
            value, abs=5e-5
        )


# Mean over targets of the weighted tau on each target's full source pool,
# printed in stable_transfer/README.md ("Simple summary", scipy 1.17.1).
README_FULL_POOL = {
    "segmentation": [0.5933, 0.4026, 0.5166, 0.6376, 0.5653],
    "classification_finetuned": [0.4271, -0.0166, -0.0682, 0.4094, 0.6117],
    "classification_frozen": [0.5697, 0.0166, -0.0071, 0.4982, 0.8064],
}


@pytest.mark.skipif(not STABLE.is_dir(), reason=f"fixtures not found at {STABLE}")
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_stable_transfer_full_pool_summary(scenario):
    df, _, perf_col = _load_scenario(scenario)
    taus = {}
    for (metric, _), group in df.groupby(["Transferability Metric", "Target Dataset"]):
        tau = weighted_kendall_tau(
            group[perf_col], group["Transferability Metric Score"]
        )
        taus.setdefault(metric, []).append(tau)
    means = [np.mean(taus[m]) for m in ("gbc", "hscore", "leep", "logme", "nleep")]
    np.testing.assert_allclose(means, README_FULL_POOL[scenario], atol=5e-5)


@pytest.mark.skipif(not STABLE.is_dir(), reason=f"fixtures not found at {STABLE}")
def test_stable_transfer_ss_matches_reference_on_a_subset():
    pd = pytest.importorskip("pandas")
    _, results = _scenario_results("segmentation")
    res = pd.DataFrame(results)
    res = res[res["subpool"] < 6]
    for varying in ("target", "subpool", "measure"):
        fixed = [c for c in ("target", "subpool", "measure") if c != varying]
        assert setup_stability_score(res, varying=varying) == pytest.approx(
            _reference_ss(res, varying, fixed)
        )


# --------------------------------------------------------------------------
# Linear probe
# --------------------------------------------------------------------------


def test_linear_probe_accuracy():
    rng = np.random.default_rng(0)
    y = np.repeat(["cat", "dog", "eel"], 40)
    informative = rng.normal(size=(120, 4)) + 4 * (
        y[:, None] == ["cat", "dog", "eel", "x"]
    )
    noise = rng.normal(size=(120, 4))
    good = linear_probe_accuracy(informative, y)
    bad = linear_probe_accuracy(noise, y)
    assert good.accuracy_mean > 0.95
    assert bad.accuracy_mean < 0.6
    assert good.accuracies.shape == (5,)
    assert good.accuracy_std == pytest.approx(good.accuracies.std())
    again = linear_probe_accuracy(informative, y)
    np.testing.assert_array_equal(good.accuracies, again.accuracies)
    assert linear_probe_accuracy(informative, y, cv=3).accuracies.shape == (3,)
    with pytest.raises(ValueError, match="different numbers of samples"):
        linear_probe_accuracy(informative, y[:-1])


# --------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------


def test_plots(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    acc = [0.9, 0.8, 0.7, 0.6]
    fig = plot_scores_vs_accuracy(
        acc,
        {"a": [4, 3, 2, 1], "b": [1, 2, 3, 4], "c": [3, 4, 2, 1]},
        labels=["w", "x", "y", "z"],
        n_cols=2,
    )
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "a: $\\tau_w$ = 1.00",
        "b: $\\tau_w$ = -1.00",
        f"c: $\\tau_w$ = {weighted_kendall_tau(acc, [3, 4, 2, 1]):.2f}",
    ]
    fig.savefig(tmp_path / "scores.png")
    heat = plot_tau_heatmap(
        [[0.5, np.nan], [-0.2, 0.9]], metrics=["a", "b"], targets=["t1", "t2"]
    )
    heat.savefig(tmp_path / "heat.png")
    for name in ("scores.png", "heat.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="shape"):
        plot_tau_heatmap([[0.5, 0.1]], metrics=["a", "b"], targets=["t1", "t2"])
    with pytest.raises(TypeError, match="mapping"):
        plot_scores_vs_accuracy(acc, [1, 2, 3, 4])


def test_import_is_light():
    code = (
        "import sys, sktransfer, sktransfer.evaluation; "
        "print([m for m in ('torch', 'skorch', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
