"""The sweep's errors: each a one-line message naming the problem (the CLI prints it as is)."""

from __future__ import annotations

from descentcheck.impl.errors import DescentcheckError


class SweepConfigError(DescentcheckError):
    """The sweep file is unreadable or invalid (unknown key, bad range, unknown optimizer...)."""


class SweepDbError(DescentcheckError):
    """The database file is not this sweep's: corrupt, foreign, newer schema, another config."""


class SweepError(DescentcheckError):
    """The sweep could not run (no Dask installed, scheduler unreachable, ...)."""


class CaseError(DescentcheckError):
    """One case cannot be evaluated (data file changed, L = 0 with relative learning rates...)."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the sweep; ``str(e)`` says how much is committed and how to
    resume (a KeyboardInterrupt, so callers that only know Ctrl-C still stop); ``terminated``
    whether it was SIGTERM."""

    terminated: bool = False
