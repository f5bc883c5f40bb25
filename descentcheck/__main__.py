"""``python -m descentcheck`` and the ``descentcheck`` console script.

The command line's module is imported inside :func:`main`, so a Ctrl-C while it loads (the
first tenth of a second) is the same one line and status 130 as one during a command, not a
traceback from the import.
"""

from __future__ import annotations

import sys

INTERRUPTED = (
    "interrupted: every file is written whole or not at all, so earlier results are intact"
)


def main() -> None:
    try:
        from descentcheck.cli import run
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED + "\n")  # the line cli prints for one during a command
        raise SystemExit(130) from None
    run()


if __name__ == "__main__":
    main()
