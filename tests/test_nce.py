"""Tests of NCE: hand-computed examples, reference formulations, input kinds, limits."""

import numpy as np
import pytest

from sktransfer.metrics import NCE, nce_score


def _softmax_data(n_samples=300, n_source=12, n_classes=4, signal=2.0, seed=0):
    """Softmax outputs of a source model whose classes are linked to y."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    centers = signal * rng.normal(size=(n_classes, n_source))
    logits = centers[y] + rng.normal(size=(n_samples, n_source))
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    return P / P.sum(axis=1, keepdims=True), y


def _nce_tllib(z, y):
    """tllib/ranking/nce.py (= thuml/LogME NCE.py) as the research notes (§4)
    describe it: joint filled one sample at a time with 1/N, P(y|z) = joint /
    P(z), source classes with P(z) = 0 dropped, 1e-20 added inside the log."""
    n_classes = int(np.max(y) + 1)
    n_source = int(np.max(z) + 1)
    n = len(z)
    joint = np.zeros((n_classes, n_source))
    for s, t in zip(z, y, strict=True):
        joint[t, s] += 1.0 / n
    p_z = joint.sum(axis=0, keepdims=True)
    with np.errstate(invalid="ignore"):
        conditional = (joint / p_z).T
    mask = p_z.reshape(-1) != 0
    conditional = conditional[mask] + 1e-20
    entropy = np.sum(-conditional * np.log(conditional), axis=1, keepdims=True)
    return -np.sum(entropy * p_z.reshape(-1, 1)[mask])


def _nce_parc(P, y, n_classes):
    """dbolya/parc NegativeCrossEntropy as the research notes (§4) describe it:
    z = argmax, one-hot joint (C_t x C_s) / N + 1e-5 in every cell, marginal
    counts / N + 1e-5, sum of joint * log(joint / marginal)."""
    z = P.argmax(axis=-1)
    n = y.shape[0]
    n_source = P.shape[1]
    joint = (np.eye(n_classes)[y, :].T @ np.eye(n_source)[z, :]) / n + 1e-5
    marginal = np.eye(n_source)[z, :].sum(axis=0) / n + 1e-5
    return (joint * np.log(joint / marginal[None, :])).sum()


def test_hand_computed_example():
    # Source class 0 always goes with "a"; source class 1 half "a", half "b":
    # H(Y|Z) = P(z=0) * 0 + P(z=1) * log 2 = 0.5 log 2.
    z = np.array([0, 0, 1, 1])
    y = np.array(["a", "a", "a", "b"])
    est = NCE().fit(z, y)
    assert est.score_ == pytest.approx(-0.5 * np.log(2), rel=1e-14)
    np.testing.assert_array_equal(est.joint_, [[0.5, 0.0], [0.25, 0.25]])
    np.testing.assert_array_equal(est.source_classes_, [0, 1])
    assert est.n_features_in_ == 1


def test_hand_computed_three_classes():
    # z = (7, 7, 7, 9), y = (0, 1, 2, 2). P(z=7) = 3/4 with y uniform on three
    # classes (entropy log 3); P(z=9) = 1/4 with y = 2 (entropy 0).
    # NCE = -(3/4) log 3.
    assert nce_score(np.array([7, 7, 7, 9]), np.array([0, 1, 2, 2])) == pytest.approx(
        -0.75 * np.log(3), rel=1e-14
    )


def test_hand_computed_parc_smoothing():
    # Same data as test_hand_computed_example, as probabilities (C_s = 2). PARC:
    # joint cells 0.5, 0, 0.25, 0.25 each + 1e-5; marginals 0.5 + 1e-5 twice.
    # NCE = 0.50001 log(0.50001 / 0.50001) + 0.00001 log(0.00001 / 0.50001)
    #       + 2 * 0.25001 log(0.25001 / 0.50001).
    X = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    y = np.array([0, 0, 0, 1])
    expected = 1e-5 * np.log(1e-5 / 0.50001) + 0.50002 * np.log(0.25001 / 0.50001)
    assert nce_score(X, y, compat="parc") == pytest.approx(expected, rel=1e-12)
    assert nce_score(X, y) == pytest.approx(-0.5 * np.log(2), rel=1e-14)


def test_default_matches_tllib_formulation():
    P, y = _softmax_data()
    z = P.argmax(axis=1)
    # The reference's 1e-20 moves the value by less than 1e-18.
    assert nce_score(P, y) == pytest.approx(_nce_tllib(z, y), rel=1e-12, abs=1e-15)
    assert nce_score(z, y) == nce_score(P, y)


def test_parc_matches_reference_formulation():
    # Some of the twelve source classes are never the argmax: they still get
    # their smoothed cells, C_s = the number of columns of X.
    P, y = _softmax_data()
    P[:, [2, 5, 9]] *= 1e-3
    P /= P.sum(axis=1, keepdims=True)
    assert np.setdiff1d(np.arange(12), P.argmax(axis=1)).size >= 3
    expected = _nce_parc(P, y, n_classes=4)
    assert nce_score(P, y, compat="parc") == pytest.approx(expected, rel=1e-12)
    # The smoothing lowers the score (notes §4: thuml -0.586 vs PARC -0.623).
    assert nce_score(P, y, compat="parc") < nce_score(P, y)


def test_parc_with_hard_labels_uses_the_labels_present():
    P, y = _softmax_data()
    z = P.argmax(axis=1)
    present = np.unique(z)
    assert nce_score(z, y, compat="parc") == pytest.approx(
        _nce_parc(P[:, present], y, n_classes=4), rel=1e-12
    )


def test_label_values_and_kinds():
    P, y = _softmax_data(n_source=5)
    z = P.argmax(axis=1)
    reference = nce_score(z, y)
    names = np.array(["ant", "bee", "cow", "dog", "eel"])
    assert nce_score(names[z], y) == pytest.approx(reference, rel=1e-14)
    assert nce_score(10 * z - 7, y) == pytest.approx(reference, rel=1e-14)
    assert nce_score(list(z), y) == pytest.approx(reference, rel=1e-14)
    assert nce_score(names[z].astype(object), y) == pytest.approx(reference, rel=1e-14)
    assert nce_score(z == 0, y) == pytest.approx(nce_score((z == 0).astype(int), y))
    est = NCE().fit(names[z], y)
    np.testing.assert_array_equal(est.source_classes_, np.unique(names[z]))
    np.testing.assert_array_equal(NCE().fit(P, y).source_classes_, np.arange(5))


@pytest.mark.parametrize(
    "labels",
    [np.array([0.0, 1.0, 1.0, 0.0]), np.array([0.5, 1.5, 2.5, 0.5], dtype=object)],
    ids=["float", "object-float"],
)
def test_one_dimensional_float_is_rejected(labels):
    with pytest.raises(ValueError, match="Expected 2D array.*hard source labels"):
        nce_score(labels, [0, 1, 0, 1])


def test_one_dimensional_length_mismatch():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        nce_score(np.array([0, 1, 2]), [0, 1, 0, 1])


def test_probability_validation_errors():
    P, y = _softmax_data(n_samples=20)
    with pytest.raises(ValueError, match="NCE expects.*negative values.*softmax"):
        nce_score(P - 0.01, y)
    with pytest.raises(ValueError, match="NCE expects.*rows sum to one.*softmax"):
        nce_score(2.0 * P, y)
    # A 2-D integer array is read as probabilities, not as labels.
    with pytest.raises(ValueError, match="rows sum to one"):
        nce_score(np.array([[0], [1], [2], [1]]), [0, 1, 0, 1])


def test_limits_and_bounds():
    y = np.arange(60) % 3
    # z determines y: H(Y|Z) = 0.
    assert nce_score(y + 4, y) == 0.0
    # z constant: NCE = -H(Y) = -log 3 on balanced classes, the lower bound.
    assert nce_score(np.zeros(60, dtype=int), y) == pytest.approx(-np.log(3))
    P, y = _softmax_data(signal=3.0)
    informative = nce_score(P, y)
    shuffled = nce_score(P, np.random.default_rng(1).permutation(y))
    assert -np.log(4) <= shuffled < informative <= 0.0


def test_source_class_permutation_invariance():
    P, y = _softmax_data()
    columns = np.random.default_rng(3).permutation(P.shape[1])
    for compat in (None, "parc"):
        assert nce_score(P[:, columns], y, compat=compat) == pytest.approx(
            nce_score(P, y, compat=compat), rel=1e-12
        )


def test_score_recomputes_on_new_data():
    P, y = _softmax_data()
    P2, y2 = _softmax_data(n_samples=100, seed=7)
    est = NCE().fit(P, y)
    assert est.score(P, y) == est.score_
    assert est.score(P2, y2) == nce_score(P2, y2)
    labels = NCE().fit(P.argmax(axis=1), y)
    assert labels.score(P2.argmax(axis=1), y2) == nce_score(P2, y2)
    # Fitted on labels (one column), scored on probabilities: a feature-count
    # mismatch, as for any estimator.
    with pytest.raises(ValueError, match="features"):
        labels.score(P2, y2)


def test_does_not_modify_labels():
    z = np.array([3, 1, 3, 2, 1, 2])
    before = z.copy()
    NCE().fit(z, [0, 1, 0, 1, 1, 0]).score(z, [0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(z, before)


def test_invalid_compat():
    with pytest.raises(ValueError, match="compat"):
        nce_score(np.array([0, 1, 0, 1]), [0, 1, 0, 1], compat="thuml")
