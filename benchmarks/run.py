"""Entry point of the benchmarks (``nox -s bench``): ``python benchmarks/run.py [options]``.

See benchmarks/README.rst for the cells, the servers and how to read the ratios.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import main

if __name__ == "__main__":
    main()
