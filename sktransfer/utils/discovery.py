"""Discovery of the public estimators of sktransfer."""

# SPDX-License-Identifier: BSD-3-Clause

import importlib
import inspect

from sklearn.base import BaseEstimator

from sktransfer._base import TransferabilityMixin

__all__ = ["all_estimators"]

# Subpackages whose public estimators are collected. Those that need optional
# dependencies (torch) are imported only when they exist and import cleanly.
_PUBLIC_MODULES = (
    "sktransfer.metrics",
    "sktransfer.featurizers",
    "sktransfer.selection",
    "sktransfer.evaluation",
)


def all_estimators(type_filter=None):
    """Return the public estimators of sktransfer.

    Parameters
    ----------
    type_filter : {"transferability"} or None, default=None
        If ``"transferability"``, return only the transferability metrics;
        if None, return every public estimator.

    Returns
    -------
    estimators : list of (str, type)
        ``(name, class)`` pairs sorted by name.

    Examples
    --------
    >>> from sktransfer.utils.discovery import all_estimators
    >>> names = [name for name, _ in all_estimators("transferability")]
    >>> "LogME" in names and "TransRate" in names
    True
    """
    if type_filter not in (None, "transferability"):
        raise ValueError(
            f"type_filter must be None or 'transferability'; got {type_filter!r}."
        )
    found = {}
    for module_name in _PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and not inspect.isabstract(obj)
            ):
                found[name] = obj
    estimators = sorted(found.items())
    if type_filter == "transferability":
        estimators = [
            (name, cls)
            for name, cls in estimators
            if issubclass(cls, TransferabilityMixin)
        ]
    return estimators
