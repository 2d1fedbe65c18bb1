"""Featurizers: features, logits and probabilities from PyTorch models.

This is the only subpackage of sktransfer that imports torch. Its estimators
are scikit-learn transformers, so that ``Pipeline([("features",
TorchFeaturizer(model=...)), ("metric", LogME())])`` scores a pretrained model
on a labelled target task with ``Pipeline.score``.
"""

# SPDX-License-Identifier: BSD-3-Clause

from sktransfer.featurizers._gradients import GradientFeaturizer
from sktransfer.featurizers._streaming import stream_score
from sktransfer.featurizers._torch import TorchFeaturizer

__all__ = ["GradientFeaturizer", "TorchFeaturizer", "stream_score"]
