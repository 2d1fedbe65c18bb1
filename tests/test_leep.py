"""Tests of LEEP: a hand-computed example, loop and reference formulations, limits."""

import pickle

import numpy as np
import pytest

from sktransfer.metrics import LEEP, leep_score
from sktransfer.metrics import _leep as leep_module


def _softmax_data(n_samples=300, n_source=12, n_classes=4, signal=2.0, seed=0):
    """Softmax outputs of a source model whose classes are linked to y."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    centers = signal * rng.normal(size=(n_classes, n_source))
    logits = centers[y] + rng.normal(size=(n_samples, n_source))
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    return P / P.sum(axis=1, keepdims=True), y


def _leep_loops(P, y):
    """LEEP by its definition (Nguyen et al., Eq. 1-2), one scalar at a time."""
    n, n_source = P.shape
    n_classes = y.max() + 1
    joint = np.zeros((n_source, n_classes))
    for i in range(n):
        for j in range(n_source):
            joint[j, y[i]] += P[i, j] / n
    total = 0.0
    for i in range(n):
        eep = 0.0
        for j in range(n_source):
            if joint[j].sum() > 0:
                eep += P[i, j] * joint[j, y[i]] / joint[j].sum()
        total += np.log(eep)
    return total / n


def _leep_thuml(P, y):
    """thuml/LogME LEEP.py as the research notes (§3) describe it: joint of P / N
    summed per class (C_t x C_s), P(y|z) = joint / joint.sum(axis=0) with no
    guard (0/0 -> NaN), EEP = P @ P(y|z).T, mean of the logs."""
    n, n_source = P.shape
    n_classes = int(y.max() + 1)
    normalized = P / float(n)
    joint = np.zeros((n_classes, n_source))
    for c in range(n_classes):
        joint[c] = normalized[y == c].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        conditional = (joint / joint.sum(axis=0, keepdims=True)).T
        eep = (P @ conditional)[np.arange(n), y]
        return np.mean(np.log(eep))


def _leep_stable_transfer(P, y):
    """google-research stable_transfer leep.py as the notes (§3) describe it,
    in numpy: unnormalised joint with einsum, divide_no_nan, EEP = 0 counts as
    -log C_t."""
    n_classes = int(y.max() + 1)
    onehot = np.eye(n_classes)[y]
    occurrences = np.einsum("bt,bs->st", onehot, P)
    mass = occurrences.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        conditional = np.where(mass > 0, occurrences / mass, 0.0)
    eep = ((P @ conditional) * onehot).sum(axis=-1)
    with np.errstate(divide="ignore"):
        return np.mean(np.where(eep > 0, np.log(eep), -np.log(float(n_classes))))


def test_hand_computed_example():
    # Two source classes, two target classes, four samples.
    X = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9]])
    y = np.array(["cat", "cat", "dog", "dog"])
    # N P(z, y): z0 gets 0.9 + 0.8 = 1.7 from "cat" and 0.2 + 0.1 = 0.3 from
    # "dog"; z1 gets 0.3 and 1.7. N P(z) = 2 for both, so P(y|z0) = (0.85,
    # 0.15) and P(y|z1) = (0.15, 0.85).
    # EEP: row 0 (cat) 0.9 * 0.85 + 0.1 * 0.15 = 0.78; row 1 (cat) 0.8 * 0.85
    # + 0.2 * 0.15 = 0.71; rows 2 and 3 (dog) 0.71 and 0.78 by symmetry.
    # LEEP = (2 log 0.78 + 2 log 0.71) / 4.
    est = LEEP().fit(X, y)
    assert est.score_ == pytest.approx((np.log(0.78) + np.log(0.71)) / 2, rel=1e-14)
    np.testing.assert_allclose(est.joint_, [[0.425, 0.075], [0.075, 0.425]])
    np.testing.assert_allclose(est.conditional_, [[0.85, 0.15], [0.15, 0.85]])


def test_hand_computed_three_samples_three_sources():
    # y = (0, 0, 1); rows (1, 0, 0), (0.5, 0.5, 0), (0, 0.5, 0.5).
    # N P(z, y): z0: (1.5, 0); z1: (0.5, 0.5); z2: (0, 0.5).
    # P(y|z): z0 (1, 0), z1 (0.5, 0.5), z2 (0, 1).
    # EEP: row 0: 1 * 1 = 1; row 1: 0.5 * 1 + 0.5 * 0.5 = 0.75;
    # row 2 (y=1): 0.5 * 0.5 + 0.5 * 1 = 0.75. LEEP = 2 log(0.75) / 3.
    X = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    y = np.array([0, 0, 1])
    assert leep_score(X, y) == pytest.approx(2 * np.log(0.75) / 3, rel=1e-14)


def test_matches_loop_formulation():
    P, y = _softmax_data(n_samples=60, n_source=7, n_classes=3)
    assert leep_score(P, y) == pytest.approx(_leep_loops(P, y), rel=1e-12)


def test_many_blocks_per_class(monkeypatch):
    # Blocks of 2 rows: every class spans many blocks (the path taken by large
    # classes); the value is unchanged.
    P, y = _softmax_data(n_samples=90, n_source=5, n_classes=3)
    expected = _leep_loops(P, y)
    monkeypatch.setattr(leep_module, "_BLOCK_BYTES", 2 * 8 * 5)
    assert leep_score(P, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("compat", [None, "thuml", "stable_transfer"])
def test_compat_reproduces_references(compat):
    # Without zero-mass source classes the three implementations agree.
    P, y = _softmax_data()
    reference = {
        None: _leep_thuml,
        "thuml": _leep_thuml,
        "stable_transfer": _leep_stable_transfer,
    }[compat](P, y)
    assert leep_score(P, y, compat=compat) == pytest.approx(reference, rel=1e-12)


def _with_zero_mass_column(P, column=3):
    """Insert a source class that never receives probability."""
    return np.insert(P, column, 0.0, axis=1)


def test_zero_mass_source_class_default_is_finite():
    P, y = _softmax_data()
    P0 = _with_zero_mass_column(P)
    # The reference (thuml/TLlib) yields NaN here (research notes §3).
    assert np.isnan(_leep_thuml(P0, y))
    est = LEEP().fit(P0, y)
    # Second formulation: the empty class contributes nothing, so LEEP equals
    # LEEP without that column.
    assert est.score_ == pytest.approx(leep_score(P, y), rel=1e-12)
    # Its row of P(y|z) is uniform; the joint has a zero row.
    np.testing.assert_allclose(est.conditional_[3], 0.25)
    np.testing.assert_array_equal(est.joint_[3], 0.0)
    np.testing.assert_allclose(est.conditional_.sum(axis=1), 1.0)


def test_zero_mass_source_class_thuml_raises():
    P, y = _softmax_data()
    P0 = _with_zero_mass_column(P)
    with pytest.raises(ValueError, match=r"reference .* returns NaN.*compat=None"):
        leep_score(P0, y, compat="thuml")


def test_zero_mass_source_class_stable_transfer():
    # divide_no_nan: the reference gives a finite value, equal to ours.
    P, y = _softmax_data()
    P0 = _with_zero_mass_column(P)
    est = LEEP(compat="stable_transfer").fit(P0, y)
    assert est.score_ == pytest.approx(_leep_stable_transfer(P0, y), rel=1e-12)
    np.testing.assert_array_equal(est.conditional_[3], 0.0)


def test_one_hot_perfect_transfer():
    # Source class = target class, one-hot "probabilities": every EEP is 1, so
    # LEEP = 0 (stable_transfer returns 0.0, thuml NaN when a source class is
    # never predicted, research notes §3 "Our check").
    y = np.array([0, 1, 2, 0, 1, 2, 1])
    X = np.eye(4, dtype=int)[y]  # source class 3 is never predicted
    assert leep_score(X, y) == 0.0
    assert leep_score(X, y, compat="stable_transfer") == 0.0
    assert np.isnan(_leep_thuml(X.astype(float), y))
    with pytest.raises(ValueError, match="returns NaN"):
        leep_score(X, y, compat="thuml")
    assert leep_score(X[:, :3], y, compat="thuml") == 0.0


def test_uninformative_source_gives_minus_label_entropy():
    # Identical rows: P(y|z) = P(y) for every z, EEP_i = P(y_i), so LEEP is
    # minus the empirical entropy of y: -log 4 for four balanced classes.
    y = np.arange(40) % 4
    X = np.tile([0.1, 0.2, 0.3, 0.4, 0.0], (40, 1))
    assert leep_score(X, y) == pytest.approx(-np.log(4), rel=1e-12)
    y_imbalanced = np.array([0] * 30 + [1] * 10)
    expected = 0.75 * np.log(0.75) + 0.25 * np.log(0.25)
    assert leep_score(X, y_imbalanced) == pytest.approx(expected, rel=1e-12)


def test_bounds_and_orientation():
    P, y = _softmax_data(signal=3.0)
    informative = leep_score(P, y)
    shuffled = leep_score(P, np.random.default_rng(1).permutation(y))
    assert shuffled < informative <= 0.0
    assert shuffled >= -np.log(4) - 0.05  # near the uninformative limit


def test_source_class_permutation_invariance():
    P, y = _softmax_data()
    columns = np.random.default_rng(3).permutation(P.shape[1])
    for compat in (None, "thuml", "stable_transfer"):
        assert leep_score(P[:, columns], y, compat=compat) == pytest.approx(
            leep_score(P, y, compat=compat), rel=1e-12
        )


def test_score_equals_score_and_recomputes_on_new_data():
    P, y = _softmax_data()
    P2, y2 = _softmax_data(n_samples=100, seed=7)
    est = LEEP().fit(P, y)
    assert est.score(P, y) == est.score_
    # score on new data re-estimates P(y|z) from the new data (documented).
    assert est.score(P2, y2) == leep_score(P2, y2)
    assert est.score(P2, y2) != est.score_


def test_probability_validation_errors():
    P, y = _softmax_data(n_samples=20)
    with pytest.raises(ValueError, match="LEEP expects.*negative values.*softmax"):
        leep_score(P - 0.01, y)
    with pytest.raises(ValueError, match="LEEP expects.*rows sum to one.*softmax"):
        leep_score(2.0 * P, y)
    logits = np.log(P) + 5.0
    with pytest.raises(ValueError, match="softmax"):
        leep_score(np.abs(logits), y)


def test_dtypes_readonly_and_pickle():
    # Checks scikit-learn's estimator checks cannot run on probability inputs
    # (see EXPECTED_FAILED_CHECKS in test_common.py).
    P, y = _softmax_data()
    expected = leep_score(P, y)
    assert leep_score(P.astype(np.float32), y) == pytest.approx(expected, rel=1e-5)
    frozen = P.copy()
    frozen.setflags(write=False)
    assert leep_score(frozen, y) == expected
    est = LEEP().fit(P, y)
    restored = pickle.loads(pickle.dumps(est))
    assert restored.score(P, y) == est.score_
    np.testing.assert_array_equal(restored.conditional_, est.conditional_)
    refit = est.fit(P, y)
    assert refit.score_ == expected


def test_invalid_compat():
    P, y = _softmax_data(n_samples=20)
    with pytest.raises(ValueError, match="compat"):
        leep_score(P, y, compat="parc")
    with pytest.raises(ValueError, match="compat"):
        LEEP(compat="tllib").fit(P, y)
