"""``python -m asyncdev``: the same command line as the ``asyncdev`` script.

Exits with the code ``asyncdev._cli.main`` returns.
"""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
