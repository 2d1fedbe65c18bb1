"""Transferability metrics: numpy/scipy estimators and functions (no torch).

Every metric is a scikit-learn estimator (``fit(X, y)`` stores ``score_``,
``score(X, y)`` returns a float, higher = more transferable) and a plain function
``<name>_score(X, y, **params)`` taking the same parameters.
"""

# SPDX-License-Identifier: BSD-3-Clause

from sktransfer.metrics._etran import ETran, etran_score
from sktransfer.metrics._gbc import GBC, gbc_score
from sktransfer.metrics._hscore import (
    HScore,
    ShrinkageHScore,
    h_score,
    shrinkage_h_score,
)
from sktransfer.metrics._knn import KNNScore, knn_score
from sktransfer.metrics._leep import LEEP, leep_score
from sktransfer.metrics._logme import LogME, logme_score
from sktransfer.metrics._nce import NCE, nce_score
from sktransfer.metrics._ncti import NCTI, ncti_score
from sktransfer.metrics._nleep import NLEEP, nleep_score
from sktransfer.metrics._parc import PARC, parc_score
from sktransfer.metrics._pge import PGE, pge_distances
from sktransfer.metrics._scorer import make_transferability_scorer
from sktransfer.metrics._sfda import SFDA, sfda_score
from sktransfer.metrics._stats import ClassStatistics, JointCounts
from sktransfer.metrics._task_transfer import ReferenceTask, TaskTransferBound
from sktransfer.metrics._transrate import TransRate, transrate_score

__all__ = [
    "ClassStatistics",
    "ETran",
    "GBC",
    "HScore",
    "JointCounts",
    "KNNScore",
    "LEEP",
    "LogME",
    "NCE",
    "NCTI",
    "NLEEP",
    "PARC",
    "PGE",
    "ReferenceTask",
    "SFDA",
    "ShrinkageHScore",
    "TaskTransferBound",
    "TransRate",
    "etran_score",
    "gbc_score",
    "h_score",
    "knn_score",
    "leep_score",
    "logme_score",
    "make_transferability_scorer",
    "nce_score",
    "ncti_score",
    "nleep_score",
    "parc_score",
    "pge_distances",
    "sfda_score",
    "shrinkage_h_score",
    "transrate_score",
]
