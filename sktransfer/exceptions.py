"""Warnings raised by sktransfer.

Errors are the standard ``ValueError`` (bad values: NaN, too few samples or
classes, rows of probabilities that do not sum to one) and ``TypeError`` (bad
types); see the "Input requirements and errors" page of the documentation.
"""

# SPDX-License-Identifier: BSD-3-Clause

__all__ = ["DegenerateScoreWarning"]


class DegenerateScoreWarning(UserWarning):
    """Warning that a score is valid but degenerate on the given data.

    Raised when the metric's value is well defined but no longer says much
    about the features: H-score and SFDA saturate when there are about as many
    features as samples, an over-parameterised Gaussian mixture makes N-LEEP
    tend to 0. The score is returned; the message says what to change
    (reduce the features, use a shrinkage variant, fewer mixture components).

    It subclasses :class:`UserWarning`, so ``warnings.filterwarnings`` on
    ``UserWarning`` also applies to it.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sktransfer.exceptions import DegenerateScoreWarning
    >>> from sktransfer.metrics import HScore
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(6, 10)), np.array([0, 0, 0, 1, 1, 1])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     score = HScore().fit(X, y).score_
    >>> caught[0].category is DegenerateScoreWarning
    True
    >>> round(score, 6)  # n_classes - 1, whatever the features
    1.0
    """
