"""Evaluation of transferability metrics against actual transfer performance.

Measures of agreement between scores and ground truth over a pool of sources
(weighted Kendall's tau, Kendall's tau, Pearson, Rel@k, Recall@k, regret), the
stability analysis of Agostinelli et al. (ECCV 2022), ground truth by linear
probing (scikit-learn) or fine-tuning (skorch), and plots. Importing this
module does not import torch, skorch or matplotlib; the functions that need
them import them when called.
"""

# SPDX-License-Identifier: BSD-3-Clause

from sktransfer.evaluation._ground_truth import finetune_accuracy, linear_probe_accuracy
from sktransfer.evaluation._measures import (
    kendall_tau,
    pearson,
    recall_at_k,
    regret,
    relative_top_k,
    weighted_kendall_tau,
)
from sktransfer.evaluation._plots import plot_scores_vs_accuracy, plot_tau_heatmap
from sktransfer.evaluation._stability import (
    evaluate_subpools,
    setup_stability_score,
    source_subpools,
    win_rates,
)

__all__ = [
    "evaluate_subpools",
    "finetune_accuracy",
    "kendall_tau",
    "linear_probe_accuracy",
    "pearson",
    "plot_scores_vs_accuracy",
    "plot_tau_heatmap",
    "recall_at_k",
    "regret",
    "relative_top_k",
    "setup_stability_score",
    "source_subpools",
    "weighted_kendall_tau",
    "win_rates",
]
