"""Transferability metrics: numpy/scipy estimators and functions (no torch).

Every metric is a scikit-learn estimator (``fit(X, y)`` stores ``score_``,
``score(X, y)`` returns a float, higher = more transferable) and a plain function
``<name>_score(X, y, **params)`` taking the same parameters.
"""

# SPDX-License-Identifier: BSD-3-Clause

from sktransfer.metrics._logme import LogME, logme_score
from sktransfer.metrics._scorer import make_transferability_scorer
from sktransfer.metrics._transrate import TransRate, transrate_score

__all__ = [
    "LogME",
    "TransRate",
    "logme_score",
    "make_transferability_scorer",
    "transrate_score",
]
