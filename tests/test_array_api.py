"""Array-API (torch tensor) inputs: computed on their device, same scores.

The reference is the numpy path of the same metric on the same values. On
CPU tensors this runs in CI; the CUDA test runs where a GPU is present.
"""

import subprocess
import sys

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
    LogME,
    ShrinkageHScore,
    TransRate,
)

torch = pytest.importorskip("torch")

FEATURE_METRICS = [
    LogME(),
    LogME(compat="tllib"),
    HScore(),
    ShrinkageHScore(),
    TransRate(),
    TransRate(projection="lda"),
    GBC(n_components=4),
    GBC(n_components=None, gaussian="diagonal"),
]
PROBABILITY_METRICS = [
    LEEP(),
    LEEP(compat="stable_transfer"),
    NCE(),
    NCE(compat="parc"),
]


def _id(est):
    return repr(est)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n, d, c = 400, 10, 4
    y = rng.integers(0, c, size=n)
    X = rng.normal(size=(n, d)) + 1.0
    X[:, :c] += 2.0 * np.eye(c)[y]
    logits = rng.normal(size=(n, 6))
    logits[:, :c] += 2.0 * np.eye(c)[y]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return X, P, y


def _numpy_input(metric, data):
    X, P, y = data
    return (P if metric._input_kind == "probabilities" else X), y


@pytest.mark.parametrize("metric", FEATURE_METRICS + PROBABILITY_METRICS, ids=_id)
def test_float64_tensor_equals_numpy(metric, data):
    X, y = _numpy_input(metric, data)
    expected = clone(metric).fit(X, y)
    for labels in (y, torch.from_numpy(y)):
        est = clone(metric).fit(torch.from_numpy(X), labels)
        assert_allclose(est.score_, expected.score_, rtol=1e-8)
        assert est.n_features_in_ == X.shape[1]
        assert est.classes_.tolist() == expected.classes_.tolist()
    # score on tensors goes through the same path
    assert_allclose(
        expected.score(torch.from_numpy(X), torch.from_numpy(y)),
        expected.score_,
        rtol=1e-8,
    )


@pytest.mark.parametrize("metric", FEATURE_METRICS + PROBABILITY_METRICS, ids=_id)
def test_float32_tensor_is_close(metric, data):
    # float32 features are accumulated in float64 on the device: the score is
    # that of the float32 values, so it equals numpy's fit on the same float32
    # array to the float64 tolerance, and the float64 data's to float32's.
    X, y = _numpy_input(metric, data)
    X32 = X.astype(np.float32)
    got = clone(metric).fit(torch.from_numpy(X32), y).score_
    assert_allclose(got, clone(metric).fit(X32, y).score_, rtol=1e-8)
    assert_allclose(got, clone(metric).fit(X, y).score_, rtol=1e-4)


def test_tensor_never_goes_through_numpy_asarray(data, monkeypatch):
    # The statistics path reduces on the tensor's device: only the D x D and
    # C x D results come to the host. A tensor whose __array__ fails (as a
    # CUDA tensor's does) must still be scored.
    X, _, y = data

    class NoHost(torch.Tensor):
        def __array__(self, *args, **kwargs):
            raise AssertionError("the features were copied to the host")

    def no_host(t):
        return t.as_subclass(NoHost)

    T = no_host(torch.from_numpy(X))
    for metric in FEATURE_METRICS:
        est = clone(metric).fit(T, y)
        assert_allclose(est.score_, clone(metric).fit(X, y).score_, rtol=1e-8)


def test_partial_fit_with_tensors(data):
    X, P, y = data
    est, leep = TransRate(), LEEP()
    for rows in np.array_split(np.argsort(y, kind="stable"), 5):
        est.partial_fit(torch.from_numpy(X[rows]), torch.from_numpy(y[rows]))
        leep.partial_fit(torch.from_numpy(P[rows]), y[rows])
    for rows in np.array_split(np.arange(len(y)), 3):
        leep.partial_fit(torch.from_numpy(P[rows]), y[rows], second_pass=True)
    assert_allclose(est.score_, TransRate().fit(X, y).score_, rtol=1e-8)
    assert_allclose(leep.score_, LEEP().fit(P, y).score_, rtol=1e-8)
    with pytest.raises(ValueError, match="X has 9 features, but TransRate"):
        est.partial_fit(torch.from_numpy(X[:5, :-1]), y[:5])


def test_fallbacks_to_the_host(data):
    # n_samples <= n_features (fit works on the sample side) and parameters
    # that cannot stream go through numpy, with the same result.
    X, _, y = data
    small = X[:8]
    assert_allclose(
        LogME().fit(torch.from_numpy(small), y[:8]).score_,
        LogME().fit(small, y[:8]).score_,
        rtol=1e-12,
    )
    for metric in (TransRate(compat="official"), LogME(regression=True)):
        target = X[:, 0] if metric.get_params().get("regression") else y
        assert_allclose(
            clone(metric).fit(torch.from_numpy(X), target).score_,
            clone(metric).fit(X, target).score_,
            rtol=1e-12,
        )


def test_tensor_input_errors(data):
    X, _, y = data
    bad = torch.from_numpy(X.copy())
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        LogME().fit(bad, y)
    with pytest.raises(ValueError, match="one label per sample"):
        LogME().fit(torch.from_numpy(X), y[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogME().fit(torch.from_numpy(X), np.zeros(len(y)))
    with pytest.raises(ValueError, match="2 samples per class"):
        GBC().fit(torch.from_numpy(X[:50]), np.r_[np.zeros(49), 1])


def test_statistics_of_a_tensor_equal_numpy(data):
    X, _, y = data
    a = ClassStatistics(class_scatter=True).update(torch.from_numpy(X), y)
    b = ClassStatistics(class_scatter=True).update(X, y)
    for attr in ("counts_", "means_", "within_scatter_", "class_scatter_"):
        assert isinstance(getattr(a, attr), np.ndarray)
        assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-12, atol=1e-10)


def test_metrics_do_not_import_torch():
    code = (
        "import sys, numpy as np, sktransfer.metrics as m;"
        "m.LogME().partial_fit(np.eye(4), [0, 1, 0, 1]);"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("metric", FEATURE_METRICS + PROBABILITY_METRICS, ids=_id)
def test_cuda_tensor_equals_numpy(metric, data):
    X, y = _numpy_input(metric, data)
    T = torch.from_numpy(X).to("cuda")
    est = clone(metric).fit(T, torch.from_numpy(y).to("cuda"))
    assert_allclose(est.score_, clone(metric).fit(X, y).score_, rtol=1e-8)
    T32 = T.to(torch.float32)
    assert_allclose(
        clone(metric).fit(T32, y).score_,
        clone(metric).fit(X.astype(np.float32), y).score_,
        rtol=1e-7,
    )


def test_tensor_probabilities_are_checked(data):
    _, P, y = data
    logits = torch.from_numpy(np.log(P) * 3.0)
    for metric in PROBABILITY_METRICS:
        with pytest.raises(ValueError, match="apply a softmax"):
            clone(metric).fit(logits, y)
        with pytest.raises(ValueError, match="apply a softmax"):
            clone(metric).partial_fit(logits, y)
