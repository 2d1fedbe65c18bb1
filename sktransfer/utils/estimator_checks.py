"""Common checks that every sktransfer transferability estimator must pass.

They complement scikit-learn's ``check_estimator`` with the contract specific to
transferability metrics: the ``score_`` invariant, invariance to label renaming
and sample order, the orientation "informative features score higher than the
same features with shuffled labels", and no modification of the caller's data.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.base import clone

__all__ = [
    "check_does_not_modify_input",
    "check_informative_beats_noise",
    "check_label_permutation_invariance",
    "check_sample_order_invariance",
    "check_score_is_finite_float",
    "check_score_matches_fitted_score",
    "make_check_data",
    "transferability_checks",
]


def make_check_data(
    estimator, *, n_samples=120, n_classes=3, informative=True, random_state=0
):
    """Make a small labelled dataset of the input kind ``estimator`` expects.

    Parameters
    ----------
    estimator : estimator instance
        A transferability estimator; its ``_input_kind`` selects the data:
        features (class-dependent Gaussian blobs) or probabilities (softmax of
        class-dependent logits over twice as many source classes).
    n_samples : int, default=120
        Number of samples.
    n_classes : int, default=3
        Number of target classes.
    informative : bool, default=True
        If True, ``X`` depends strongly on ``y``; otherwise ``X`` is pure noise.
    random_state : int, default=0
        Seed of the generator.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Input of the metric.
    y : ndarray of shape (n_samples,)
        Balanced integer labels in ``0..n_classes-1``.

    Examples
    --------
    >>> from sktransfer.metrics import LogME
    >>> from sktransfer.utils.estimator_checks import make_check_data
    >>> X, y = make_check_data(LogME())
    >>> X.shape, y.shape
    ((120, 8), (120,))
    """
    rng = np.random.default_rng(random_state)
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    kind = getattr(estimator, "_input_kind", "features")
    signal = 3.0 if informative else 0.0
    if kind == "probabilities":
        n_source = 2 * n_classes
        centers = rng.normal(size=(n_classes, n_source)) * signal
        logits = centers[y] + rng.normal(size=(n_samples, n_source))
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True), y
    n_features = 8
    centers = rng.normal(size=(n_classes, n_features)) * signal
    return centers[y] + rng.normal(size=(n_samples, n_features)), y


def check_score_matches_fitted_score(name, estimator):
    """``fit(X, y).score(X, y)`` equals ``score_`` and ``fit`` returns self.

    Parameters
    ----------
    name : str
        Name of the estimator, used in the error message.
    estimator : estimator instance
        Transferability estimator to check (it is cloned, not modified).

    Raises
    ------
    AssertionError
        If the estimator breaks the property.

    Examples
    --------
    >>> from sktransfer.metrics import LogME
    >>> from sktransfer.utils.estimator_checks import check_score_matches_fitted_score
    >>> check_score_matches_fitted_score("LogME", LogME())
    """
    X, y = make_check_data(estimator)
    est = clone(estimator)
    assert est.fit(X, y) is est, f"{name}.fit must return self"
    score = est.score(X, y)
    assert score == est.score_ or np.isclose(score, est.score_, rtol=1e-12), (
        f"{name}: score(X, y)={score!r} differs from score_={est.score_!r}"
    )


def check_score_is_finite_float(name, estimator):
    """``score`` returns a finite Python float and ``score_`` is one too.

    Parameters
    ----------
    name : str
        Name of the estimator, used in the error message.
    estimator : estimator instance
        Transferability estimator to check (it is cloned, not modified).

    Raises
    ------
    AssertionError
        If the estimator breaks the property.

    Examples
    --------
    >>> from sktransfer.metrics import LogME
    >>> from sktransfer.utils.estimator_checks import check_score_is_finite_float
    >>> check_score_is_finite_float("LogME", LogME())
    """
    X, y = make_check_data(estimator)
    est = clone(estimator).fit(X, y)
    score = est.score(X, y)
    assert type(score) is float, f"{name}.score returned {type(score).__name__}"
    assert np.isfinite(score), f"{name}.score returned {score}"
    assert np.isfinite(est.score_), f"{name}.score_ is {est.score_}"


def check_label_permutation_invariance(name, estimator):
    """Renaming the classes (any values, strings included) keeps the score.

    Parameters
    ----------
    name : str
        Name of the estimator, used in the error message.
    estimator : estimator instance
        Transferability estimator to check (it is cloned, not modified).

    Raises
    ------
    AssertionError
        If the estimator breaks the property.

    Examples
    --------
    >>> from sktransfer.metrics import LogME
    >>> from sktransfer.utils.estimator_checks import check_label_permutation_invariance
    >>> check_label_permutation_invariance("LogME", LogME())
    """
    X, y = make_check_data(estimator)
    reference = clone(estimator).fit(X, y).score_
    renamings = {
        "permuted": np.array([2, 0, 1])[y],
        "non-contiguous": np.array([10, -3, 7])[y],
        "strings": np.array(["cat", "dog", "bird"])[y],
    }
    for label, y_renamed in renamings.items():
        score = clone(estimator).fit(X, y_renamed).score_
        assert np.isclose(score, reference, rtol=1e-9, atol=1e-12), (
            f"{name}: {label} labels give {score!r}, original labels {reference!r}"
        )


def check_sample_order_invariance(name, estimator):
    """Shuffling the samples (rows of X and y together) keeps the score.

    Parameters
    ----------
    name : str
        Name of the estimator, used in the error message.
    estimator : estimator instance
        Transferability estimator to check (it is cloned, not modified).

    Raises
    ------
    AssertionError
        If the estimator breaks the property.

    Examples
    --------
    >>> from sktransfer.metrics import LogME
    >>> from sktransfer.utils.estimator_checks import check_sample_order_invariance
    >>> check_sample_order_invariance("LogME", LogME())
    """
    X, y = make_check_data(estimator)
    reference = clone(estimator).fit(X, y).score_
    order = np.random.default_rng(42).permutation(X.shape[0])
    score = clone(estimator).fit(X[order], y[order]).score_
    assert np.isclose(score, reference, rtol=1e-9, atol=1e-12), (
        f"{name}: shuffled samples give {score!r}, original order {reference!r}"
    )


def check_informative_beats_noise(name, estimator):
    """Class-separable input scores higher than the same input, labels shuffled.

    Parameters
    ----------
    name : str
        Name of the estimator, used in the error message.
    estimator : estimator instance
        Transferability estimator to check (it is cloned, not modified).

    Raises
    ------
    AssertionError
        If the estimator breaks the property.

    Examples
    --------
    >>> from sktransfer.metrics import LogME
    >>> from sktransfer.utils.estimator_checks import check_informative_beats_noise
    >>> check_informative_beats_noise("LogME", LogME())
    """
    X, y = make_check_data(estimator, informative=True)
    y_shuffled = np.random.default_rng(1).permutation(y)
    informative = clone(estimator).fit(X, y).score_
    shuffled = clone(estimator).fit(X, y_shuffled).score_
    assert informative > shuffled, (
        f"{name}: separable data score {informative!r} <= shuffled labels "
        f"{shuffled!r}; the metric is not oriented higher = more transferable"
    )


def check_does_not_modify_input(name, estimator):
    """``fit`` and ``score`` leave the caller's arrays unchanged.

    Parameters
    ----------
    name : str
        Name of the estimator, used in the error message.
    estimator : estimator instance
        Transferability estimator to check (it is cloned, not modified).

    Raises
    ------
    AssertionError
        If the estimator breaks the property.

    Examples
    --------
    >>> from sktransfer.metrics import LogME
    >>> from sktransfer.utils.estimator_checks import check_does_not_modify_input
    >>> check_does_not_modify_input("LogME", LogME())
    """
    X, y = make_check_data(estimator)
    for X_in in (X.copy(), np.asfortranarray(X), X.astype(np.float32)):
        X_before, y_before = X_in.copy(), y.copy()
        est = clone(estimator).fit(X_in, y)
        est.score(X_in, y)
        np.testing.assert_array_equal(X_in, X_before, err_msg=f"{name} modified X")
        np.testing.assert_array_equal(y, y_before, err_msg=f"{name} modified y")


def transferability_checks(estimator):
    """Yield the sktransfer-specific checks that apply to ``estimator``.

    Parameters
    ----------
    estimator : estimator instance
        A transferability estimator.

    Yields
    ------
    check : callable
        A function ``check(name, estimator)`` that raises ``AssertionError``
        when the estimator breaks the contract.

    Examples
    --------
    >>> from sktransfer.metrics import TransRate
    >>> from sktransfer.utils.estimator_checks import transferability_checks
    >>> for check in transferability_checks(TransRate()):
    ...     check("TransRate", TransRate())
    """
    yield check_score_matches_fitted_score
    yield check_score_is_finite_float
    yield check_label_permutation_invariance
    yield check_sample_order_invariance
    yield check_informative_beats_noise
    yield check_does_not_modify_input
