"""Single-read input checks (probabilities, feature magnitude) and LEEP's kernel.

``_check_probabilities`` reduces cache-sized row blocks (minimum, row sums,
optionally argmax) instead of one full pass per reduction, and also replaces
``check_array``'s finiteness pass. These tests force many small blocks so that
block boundaries, early exits and error precedence are exercised.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest

import sktransfer._base as base
from sktransfer.metrics import LEEP, NCE
from sktransfer.metrics import _leep as leep_module


def _probabilities(n, k, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 3
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (P / P.sum(axis=1, keepdims=True)).astype(dtype)


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Blocks of 3 rows for 7 columns (168 bytes): many blocks, a ragged last one."""
    monkeypatch.setattr(base, "_SCAN_BYTES", 3 * 7 * 8)
    monkeypatch.setattr(leep_module, "_BLOCK_BYTES", 3 * 7 * 8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_argmax_and_acceptance_match_numpy(tiny_blocks, dtype):
    P = _probabilities(100, 7, dtype=dtype)
    # Ties go to the lowest column, as np.argmax.
    P[5] = np.array([0.25, 0.25, 0.0, 0.25, 0.25, 0.0, 0.0], dtype=dtype)
    before = P.copy()
    z = base._check_probabilities(P, "X", argmax=True)
    np.testing.assert_array_equal(z, np.argmax(P, axis=1))
    assert z[5] == 0
    assert base._check_probabilities(P, "X") is None
    np.testing.assert_array_equal(P, before)


@pytest.mark.parametrize("row", [0, 2, 3, 50, 99])
def test_negative_entry_in_any_block(tiny_blocks, row):
    P = _probabilities(100, 7)
    P[row, 1] -= 2 * P[row, 1] + 0.01  # negative, the row sum moves too
    with pytest.raises(ValueError, match="Negative values in data passed to LEEP"):
        base._check_probabilities(P, "LEEP")


@pytest.mark.parametrize(
    "value, message", [(np.nan, "contains NaN"), (np.inf, "contains infinity")]
)
def test_non_finite_is_reported_as_check_array_does(tiny_blocks, value, message):
    P = _probabilities(100, 7)
    P[77, 3] = value
    with pytest.raises(ValueError, match=f"Input X {message}"):
        base._check_probabilities(P, "NCE")


def test_nan_takes_precedence_over_an_earlier_negative(tiny_blocks):
    # The scan stops at the first bad block; the error still names the NaN,
    # as check_array's finiteness check (run first before) did.
    P = _probabilities(100, 7)
    P[1, 0] = -0.5
    P[90, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        base._check_probabilities(P, "NCE")


def test_minus_infinity_is_reported_as_infinity(tiny_blocks):
    P = _probabilities(100, 7)
    P[40, 2] = -np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        base._check_probabilities(P, "NCE")


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_finite_entries_whose_row_sum_overflows(tiny_blocks):
    # Every entry is finite, the row sum is inf: the row-sum message, not a
    # finiteness message and not an internal error.
    P = _probabilities(10, 7)
    P[4, :2] = 1e308
    with pytest.raises(ValueError, match=r"row\(s\) do not \(row 4 sums to inf\)"):
        base._check_probabilities(P, "LEEP")


def test_rows_not_summing_to_one_in_the_last_block(tiny_blocks):
    P = _probabilities(100, 7)
    P[99] *= 1.01
    with pytest.raises(ValueError, match=r"1 row\(s\) do not \(row 99 sums to 1.01"):
        base._check_probabilities(P, "LEEP")


def test_leep_kernel_matches_the_dense_formula(tiny_blocks):
    # Independent formula: joint = onehot.T @ P / N, P(y|z) = joint / P(z),
    # EEP_i = (P @ P(y|z))[i, y_i] (the thuml reference's full product).
    rng = np.random.default_rng(1)
    P = _probabilities(200, 7, seed=2)
    y = rng.integers(0, 4, size=200)
    onehot = np.eye(4)[y]
    joint = onehot.T @ P / 200
    conditional = (joint / joint.sum(axis=0)).T
    expected = np.mean(np.log((P @ conditional)[np.arange(200), y]))
    est = LEEP().fit(P, y)
    np.testing.assert_allclose(est.score_, expected, rtol=1e-13)
    np.testing.assert_allclose(est.joint_, joint.T, rtol=1e-13)
    np.testing.assert_allclose(est.conditional_, conditional, rtol=1e-13)


def test_nce_argmax_from_the_scan_matches_hard_labels(tiny_blocks):
    rng = np.random.default_rng(3)
    P = _probabilities(150, 7, seed=4)
    y = rng.integers(0, 3, size=150)
    assert NCE().fit(P, y).score_ == NCE().fit(np.argmax(P, axis=1), y).score_


@pytest.mark.parametrize("kind", ["int8", "uint16", "int64", "bool", "float", "str"])
def test_label_dtypes_give_the_same_score(kind):
    # Integer and boolean arrays skip type_of_target; the score must not
    # depend on the label type.
    rng = np.random.default_rng(5)
    P = _probabilities(120, 6, seed=6)
    codes = rng.integers(0, 2, size=120)
    y = {
        "int8": codes.astype(np.int8),
        "uint16": codes.astype(np.uint16),
        "int64": codes,
        "bool": codes.astype(bool),
        "float": codes.astype(float),
        "str": np.array(["a", "b"])[codes],
    }[kind]
    assert LEEP().fit(P, y).score_ == LEEP().fit(P, codes).score_


def test_continuous_targets_are_still_rejected():
    P = _probabilities(20, 3)
    with pytest.raises(ValueError, match="Unknown label type"):
        LEEP().fit(P, np.linspace(0, 1, 20))


# ----------------------------------------------------------- feature magnitude
@pytest.fixture
def tiny_feature_blocks(monkeypatch):
    """Blocks of 2 rows of 5 float64 features: many blocks, a ragged last one."""
    monkeypatch.setattr(base, "_SCAN_BYTES", 2 * 5 * 8)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize(
    "value, message",
    [
        (np.nan, "Input X contains NaN"),
        (np.inf, "Input X contains infinity"),
        (-np.inf, "Input X contains infinity"),
        (1e200, "magnitude up to 1e\\+200"),
        (-1e200, "magnitude up to 1e\\+200"),
    ],
)
@pytest.mark.parametrize("row", [0, 5, 10])
def test_magnitude_scan_finds_bad_entries_in_any_block(
    tiny_feature_blocks, order, value, message, row
):
    X = np.asarray(np.random.default_rng(0).normal(size=(11, 5)), order=order)
    X[row, 4] = value
    before = X.copy()
    with pytest.raises(ValueError, match=message):
        base._check_magnitude(X, "LogME")
    np.testing.assert_array_equal(X, before)


def test_magnitude_message_reports_the_largest_entry_not_the_first(
    tiny_feature_blocks,
):
    # The scan stops at the first block beyond the bound; the message still
    # names the largest magnitude in X.
    X = np.zeros((11, 5))
    X[0, 0] = 1e120
    X[9, 2] = -1e250
    with pytest.raises(ValueError, match="magnitude up to 1e\\+250"):
        base._check_magnitude(X, "HScore")


def test_nan_after_a_large_entry_is_reported_as_nan(tiny_feature_blocks):
    X = np.zeros((11, 5))
    X[0, 0] = 1e200
    X[10, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        base._check_magnitude(X, "HScore")


def test_magnitude_scan_accepts_bounded_strided_input(tiny_feature_blocks):
    X = np.random.default_rng(1).normal(size=(12, 10))[:, ::2]  # neither C nor F
    assert base._check_magnitude(X, "GBC") is None
