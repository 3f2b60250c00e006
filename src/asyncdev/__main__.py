"""``python -m asyncdev`` and the ``asyncdev`` script: the command line.

With reload on, the first server process is started before the command line is read
(``_reload.early``), so that its start overlaps the supervisor's. Exits with the code
``asyncdev._cli.main`` returns.
"""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from ._reload import early

        early.start(sys.argv[1:])
        try:
            from ._cli import main as cli_main

            return cli_main()
        finally:
            early.discard()
    except KeyboardInterrupt:
        # Ctrl+C while the command line was still importing: nothing to report.
        sys.stderr.write("\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
