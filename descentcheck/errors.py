"""Errors for bad input, shared by every layer: the reference trainer's (``impl.errors``
re-exports them), the numpy-free registries' and theory's, so that neither the registries nor
theory's derivations import ``impl`` for them (DESIGN.md's dependency direction).

Every error carries a one-line message that names the problem; the CLI prints it as
``error: <message>`` and exits with status 2, never with a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from descentcheck.messages import one_line as one_line  # re-exported for the layers' modules


class DescentcheckError(Exception):
    """Base class: a user-facing problem with one-line message."""


class SpecError(DescentcheckError):
    """The architecture spec is malformed (cycle, unknown op, width mismatch, ...)."""


class DataError(DescentcheckError):
    """A data set is missing, unreadable, or does not fit the network (shape, NaN, labels)."""


class ParamsError(DescentcheckError):
    """A parameters file or dict does not fit the network, or is unreadable."""


class HyperparameterError(DescentcheckError):
    """An optimizer or trainer setting is out of range (negative learning rate, ...)."""


class GradcheckError(DescentcheckError, ValueError):
    """A gradient check cannot run as asked (an unknown method, a bad tolerance or ``x0``, a
    function that is not finite there); a ``ValueError`` too, as ``check_gradient`` documents."""


class BackendError(DescentcheckError):
    """An array backend is unknown or cannot run here (CuPy missing, no CUDA GPU)."""


def params_mapping(params: object) -> None:
    """Raise :class:`ParamsError` unless ``params`` is a mapping (``NAME.PARAM -> array``)."""
    if not isinstance(params, Mapping):
        got = type(params).__name__
        raise ParamsError(f"parameters must be a mapping NAME.PARAM -> array, got {got}")


def located(path: Iterable[str | int]) -> str:
    """A place in a parsed document as its messages name it: ``claims[2].outcome``."""
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def did_you_mean(word: object, known: Iterable[str], otherwise: str = "") -> str:
    """``"; did you mean 'x'?"`` for the known name closest to ``word`` (difflib's ratio of at
    least 0.6, case aside), else ``otherwise``: the tail every "unknown name" message ends with."""
    by_lower = {k.lower(): k for k in reversed(list(known))}  # SINE_SKIP finds sine_skip
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else otherwise
