"""Built-in data: synthetic source pools (and, later, a model zoo on real data)."""

# SPDX-License-Identifier: BSD-3-Clause

from sktransfer.datasets._external import (
    load_fashion_mnist,
    load_mnist_subset,
    load_mobilenetv2,
)
from sktransfer.datasets._synthetic import make_source_pool

__all__ = [
    "load_fashion_mnist",
    "load_mnist_subset",
    "load_mobilenetv2",
    "make_source_pool",
]
