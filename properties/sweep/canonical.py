"""Canonical JSON and the hashes built on it: a case's key and a sweep's config hash.

Canonical JSON is ``json.dumps`` with sorted keys, no whitespace, ASCII only and no NaN or
infinity (non-finite floats are written as the strings ``"nan"``, ``"inf"``, ``"-inf"`` before
they get here). Python writes a float as its shortest round-trip ``repr``, so equal values give
equal text, and text read back gives the same bits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any


def canonical_json(obj: Any) -> str:
    """``obj`` as canonical JSON text (see the module docstring)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def case_key(case: Any) -> str:
    """The stable key of a case: the SHA-256 (hex) of its canonical JSON."""
    return sha256_hex(canonical_json(case))


def config_hash(keys: Iterable[str]) -> str:
    """A sweep's identity: the SHA-256 of its sorted case keys, one per line. Two sweep files
    that expand to the same set of cases (whatever their formatting or order) have the same
    hash, so either one resumes the other's database."""
    return sha256_hex("\n".join(sorted(keys)))
