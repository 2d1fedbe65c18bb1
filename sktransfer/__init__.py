"""sktransfer: transferability estimation with scikit-learn estimators.

Given a labelled target dataset and a pool of pretrained models (or source
tasks, or layers), rank them by how well they will transfer, without
fine-tuning them all. Importing :mod:`sktransfer` or :mod:`sktransfer.metrics`
does not import torch.
"""

# SPDX-License-Identifier: BSD-3-Clause

from sktransfer._base import TransferabilityMixin, is_transferability_estimator

__version__ = "0.1.0.dev0"

__all__ = [
    "TransferabilityMixin",
    "__version__",
    "datasets",
    "evaluation",
    "exceptions",
    "featurizers",
    "is_transferability_estimator",
    "metrics",
    "selection",
    "utils",
]


def __getattr__(name):
    # Subpackages load lazily so that ``import sktransfer`` stays cheap.
    if name in {
        "datasets",
        "evaluation",
        "exceptions",
        "featurizers",
        "metrics",
        "selection",
        "utils",
    }:
        import importlib

        return importlib.import_module(f"sktransfer.{name}")
    raise AttributeError(f"module 'sktransfer' has no attribute {name!r}")
