"""Source selection: rank a pool of featurizers by transferability (no torch)."""

# SPDX-License-Identifier: BSD-3-Clause

from sktransfer.selection._selector import SourceSelector

__all__ = ["SourceSelector"]
