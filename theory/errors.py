"""Errors of the theory subpackage (no SymPy import here: the CLI imports this at start-up)."""

from __future__ import annotations


class DeriveError(ValueError):
    """A ``derive`` request names an unknown op or format, or a dimension out of range.

    The message is one line and lists what is known, so the CLI can print it as is."""
