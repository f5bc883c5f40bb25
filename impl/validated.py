"""Strict pydantic models whose first error is one line: the wording shared by descentcheck's
readers of documents a user hands it (a sweep file, a ledger file).

A problem is pydantic's first error, named by its place (``claims[2].outcome``, via
:func:`~descentcheck.impl.errors.located`) and worded by ``MESSAGES``, or a validator's
:func:`problem`. Keys in ``<...>`` are slots that readers fill before validating (a file's own
path, a resolved kind): no file has them, so no message names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from .errors import did_you_mean, located

MESSAGES = {  # pydantic's error types, worded; {v} is the input, {kind} its kind (kind_of)
    "greater_than_equal": "must be >= {ge:g}, got {v}",
    "less_than_equal": "must be <= {le:g}, got {v}",
    "finite_number": "must be finite, got {v}",
    "too_short": "is empty",
    "int_type": "expected an integer, got {kind}",
    "float_type": "expected a number, got {kind}",
    "bool_type": "expected true or false, got {kind}",
    "string_type": "expected a string, got {kind}",
    "string_too_short": "expected a non-empty string, got {kind}",
    "list_type": "expected a list, got {kind}",
    "tuple_type": "expected a list, got {kind}",
    "model_type": "expected a table, got {kind}",
    "dict_type": "expected a table, got {kind}",
    "literal_error": "expected {expected}, got {kind}",
}


def problem(text: str, *at: str | int) -> PydanticCustomError:
    """A validation error whose message is ``text``, ``at`` keys below the current place."""
    return PydanticCustomError("descentcheck", "{text}", {"text": text, "at": at})


def kind_of(v: Any) -> str:
    """A value as a message names it: ``a number (3)``, ``a table``, ``null``..."""
    if isinstance(v, bool):
        return f"a boolean ({str(v).lower()})"
    if isinstance(v, int | float | str):
        return f"{'a string' if isinstance(v, str) else 'a number'} ({v!r:.60})"
    if isinstance(v, Mapping | list) or v is None:
        return "a table" if isinstance(v, Mapping) else "a list" if isinstance(v, list) else "null"
    return f"a {type(v).__name__} ({v})"  # TOML's dates and times


def choice(v: Any, known: tuple[str, ...], what: str, *at: str | int) -> str:
    """``v`` if one of ``known``; else "unknown WHAT", the known ones and the closest one (for a
    key: the closest one, else the known ones)."""
    if not isinstance(v, str) or v not in known:
        listed = f" (known: {', '.join(known)})"
        tail = did_you_mean(v, known, listed) if what == "key" else listed + did_you_mean(v, known)
        raise problem(f"unknown {what} {v!r}{tail}", *at)
    return v


def unique(items: tuple[Any, ...], text: str, *at: str | int) -> tuple[Any, ...]:
    """``items``, each once; a repeat is ``text`` (``{}`` the item) at ``at`` and its index."""
    seen: set[Any] = set()  # not items[:i]: quadratic, and a sweep's seeds may number a million
    for i, v in enumerate(items):
        if v in seen:
            raise problem(text.format(v), *at, i)
        seen.add(v)
    return items


def one_of(what: str, *known: str) -> AfterValidator:
    return AfterValidator(lambda v: choice(v, known, what))


def once(text: str) -> AfterValidator:
    return AfterValidator(lambda items: unique(items, text))


class Table(pydantic.BaseModel, frozen=True, extra="forbid", populate_by_name=True):
    """A table of a document; its keys are its fields' names (or aliases), less the slots. An
    unknown key is refused with the closest known one."""

    @classmethod
    def file_keys(cls) -> tuple[str, ...]:
        names = [f.validation_alias or n for n, f in cls.model_fields.items()]
        return tuple(n for n in names if not n.startswith("<"))

    @pydantic.model_validator(mode="before")
    @classmethod
    def _known(cls, v: Any) -> Any:
        for k in v if isinstance(v, Mapping) else ():
            if not str(k).startswith("<"):
                choice(k, cls.file_keys(), "key")
        return v


def first_problem(e: pydantic.ValidationError, within: tuple[str | int, ...] = ()) -> str:
    """``WHERE: PROBLEM`` for pydantic's first error (``top level`` where it is the document;
    ``within``: where in a document the validated part lies)."""
    err = e.errors(include_url=False)[0]
    ctx, v, msg = err.get("ctx") or {}, err.get("input"), err["msg"]
    loc = [*within, *(k for k in (*err["loc"], *ctx.get("at", ())) if not str(k).startswith("<"))]
    if err["type"] == "missing":
        loc, msg = loc[:-1], f"missing key {loc[-1]!r}"
    text = MESSAGES.get(err["type"], "{msg}").format(**ctx, v=v, kind=kind_of(v), msg=msg)
    if err["type"] == "too_short" and ctx.get("min_length", 1) > 1:  # "is empty" said of [1.0]
        text = f"holds {ctx['actual_length']}, needs at least {ctx['min_length']}"
    return f"{located(loc) or 'top level'}: {text}"
