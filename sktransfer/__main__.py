"""``python -m sktransfer``: the ``sktransfer`` command line (``sktransfer._cli``)."""

# SPDX-License-Identifier: BSD-3-Clause

import sys

from sktransfer._cli import main

if __name__ == "__main__":
    sys.exit(main())
