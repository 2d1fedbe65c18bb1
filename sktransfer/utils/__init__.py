"""Utilities: estimator discovery and the package's common estimator checks."""

# SPDX-License-Identifier: BSD-3-Clause

from sktransfer.utils.discovery import all_estimators

__all__ = ["all_estimators"]
