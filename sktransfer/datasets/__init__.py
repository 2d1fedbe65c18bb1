"""Built-in data: a model zoo pretrained on real data, its target, synthetic pools."""

# SPDX-License-Identifier: BSD-3-Clause

from sktransfer.datasets._external import (
    load_fashion_mnist,
    load_mnist_subset,
    load_mobilenetv2,
)
from sktransfer.datasets._synthetic import make_source_pool
from sktransfer.datasets._zoo import load_digits_target, load_zoo, make_zoo_cnn

__all__ = [
    "load_digits_target",
    "load_fashion_mnist",
    "load_mnist_subset",
    "load_mobilenetv2",
    "load_zoo",
    "make_source_pool",
    "make_zoo_cnn",
]
