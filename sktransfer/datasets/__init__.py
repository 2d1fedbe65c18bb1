"""Built-in data: synthetic source pools (and, later, a model zoo on real data)."""

# SPDX-License-Identifier: BSD-3-Clause

from sktransfer.datasets._synthetic import make_source_pool

__all__ = ["make_source_pool"]
