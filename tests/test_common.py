"""scikit-learn's estimator checks and sktransfer's own checks on every metric."""

import pytest
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

from sktransfer.metrics import LogME, TransRate
from sktransfer.utils.discovery import all_estimators
from sktransfer.utils.estimator_checks import transferability_checks

# Every public transferability estimator, default-constructed, plus the
# non-default modes that change the code path.
METRICS = [cls() for _, cls in all_estimators("transferability")]
VARIANTS = [
    LogME(compat="thuml"),
    LogME(compat="tllib"),
    TransRate(compat="official"),
    TransRate(projection="lda"),
]
# Expected failures of scikit-learn's checks, with the reason.
EXPECTED_FAILED_CHECKS = {}


def _id(estimator):
    params = estimator.get_params(deep=False)
    changed = {
        k: v for k, v in params.items() if v != type(estimator)().get_params()[k]
    }
    args = ",".join(f"{k}={v}" for k, v in changed.items())
    return f"{type(estimator).__name__}({args})"


def test_all_metrics_discovered():
    names = {type(est).__name__ for est in METRICS}
    assert {"LogME", "TransRate"} <= names


@parametrize_with_checks(
    METRICS + VARIANTS,
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(
        type(est).__name__, {}
    ),
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", METRICS, ids=_id)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize(
    "estimator, check",
    [
        (est, check)
        for est in METRICS + VARIANTS
        for check in transferability_checks(est)
    ],
    ids=lambda obj: _id(obj) if hasattr(obj, "get_params") else obj.__name__,
)
def test_transferability_contract(estimator, check):
    check(type(estimator).__name__, estimator)
