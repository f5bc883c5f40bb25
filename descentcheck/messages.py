"""Wording shared by every layer (no imports: ``impl``, ``theory`` and the registries all use it,
so it sits beside them rather than in one of them, keeping DESIGN.md's dependency direction)."""

from __future__ import annotations


def one_line(e: BaseException) -> str:
    """An exception as one line of a message, ``TypeName: text`` (its whitespace collapsed),
    for the failures of code descentcheck runs but did not write (a plugin, a worker's case)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
