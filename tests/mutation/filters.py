"""Which mutants the mutation run tries: no mutant that only touches a docstring, a type
annotation, an annotation-only type alias or the text of a raised error, and (optionally) a
seeded sample of the rest.

A mutant is *filtered* when its source and the original are the same program once both are
normalised: docstrings removed, every annotation removed, module-level assignments to names
used only inside annotations removed (files with ``from __future__ import annotations`` never
evaluate them), and each ``raise`` reduced to the exception type it raises (the message is for
people; the ledger never reads it). The sample keeps a mutant when
``sha256(f"{seed}|{file}|{line}|{index}")`` read as a fraction in [0, 1) is below ``rate``, so
the same seed and rate always pick the same mutants.

Environment (read by :func:`sample_from_env`): ``MUTANTS_SAMPLE`` the kept fraction (default 1,
every mutant), ``MUTANTS_SEED`` the seed (default 0).
"""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

DOCSTRING_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _drop_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return body[1:] or [ast.Pass()]
    return body


def _annotation_only_names(tree: ast.Module) -> set[str]:
    """Names loaded inside annotations and nowhere else (type aliases like ``Array``)."""
    if not any(
        isinstance(n, ast.ImportFrom)
        and n.module == "__future__"
        and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    ):
        return set()
    in_annotations: set[str] = set()
    for node in ast.walk(tree):
        for ann in _annotations_of(node):
            in_annotations |= {n.id for n in ast.walk(ann) if isinstance(n, ast.Name)}
    assigned_at_top = {
        t.id
        for s in tree.body
        if isinstance(s, ast.Assign)
        for t in s.targets
        if isinstance(t, ast.Name)
    }
    stripped = _Strip(set()).visit(_copy(tree))
    loaded = {
        n.id for n in ast.walk(stripped) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return (in_annotations & assigned_at_top) - loaded


def _annotations_of(node: ast.AST) -> list[ast.expr]:
    out: list[ast.expr] = []
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
        out.append(node.returns)
    if isinstance(node, ast.arg) and node.annotation is not None:
        out.append(node.annotation)
    if isinstance(node, ast.AnnAssign):
        out.append(node.annotation)
    return out


def _copy(tree: ast.Module) -> ast.Module:
    return ast.parse(ast.unparse(tree))


class _Strip(ast.NodeTransformer):
    """Removes what the run does not mutate: docstrings, annotations, alias definitions, and the
    arguments of a raised exception."""

    def __init__(self, aliases: set[str]) -> None:
        self.aliases = aliases

    def generic_visit(self, node: ast.AST) -> ast.AST:
        node = super().generic_visit(node)
        if isinstance(node, DOCSTRING_OWNERS):
            node.body = _drop_docstring(node.body)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
        if isinstance(node, ast.arg):
            node.annotation = None
        if isinstance(node, ast.AnnAssign):
            node.annotation = ast.Constant(None)
        if isinstance(node, ast.Raise):
            exc = node.exc
            node.exc = exc.func if isinstance(exc, ast.Call) else exc
            node.cause = None
        if isinstance(node, ast.Module):
            node.body = [s for s in node.body if not self._alias(s)] or [ast.Pass()]
        return node

    def _alias(self, stmt: ast.stmt) -> bool:
        return isinstance(stmt, ast.Assign) and all(
            isinstance(t, ast.Name) and t.id in self.aliases for t in stmt.targets
        )


def normalized(source: str, aliases: set[str] | None = None) -> str:
    """The program ``source`` without what the run does not mutate, as a canonical AST dump."""
    tree = ast.parse(source)
    if aliases is None:
        aliases = _annotation_only_names(tree)
    return ast.dump(_Strip(aliases).visit(tree))


# numba's fused kernels and their dispatch: the mutants env installs no numba, so the ledger
# never runs them (numpy's chains do the work there); tests/test_fused.py holds each kernel to
# its chain bit for bit, and kills the hand-planted mutants its history records
NOT_RUN_BY_THE_LEDGER = frozenset({"fused.py", "fused_kernels.py"})
# the same for single lines elsewhere: a kernel's call where a layer or an optimizer dispatches
# to it, marked where they stand
NUMBA_ONLY = "# mutants: numba only"


def _changed_lines(original: str, mutated: str) -> list[str] | None:
    """The original's lines the mutant changed (None when it adds or removes lines)."""
    a, b = original.splitlines(), mutated.splitlines()
    if len(a) != len(b):
        return None
    return [x for x, y in zip(a, b, strict=True) if x != y]


def filter_reason(original: str, mutated: str, filename: str = "") -> str | None:
    """Why the mutant is not tried (``"docstring, annotation or error text"``, or code the
    ledger does not run where mutmut runs it), or None."""
    if Path(filename).name in NOT_RUN_BY_THE_LEDGER:
        return "code the ledger does not run without numba (tests/test_fused.py checks it)"
    changed = _changed_lines(original, mutated)
    if changed and all(line.rstrip().endswith(NUMBA_ONLY) for line in changed):
        return "a line only numba's kernels run (tests/test_fused.py checks it)"
    try:
        aliases = _annotation_only_names(ast.parse(original))
        same = normalized(original, aliases) == normalized(mutated, aliases)
    except SyntaxError:
        return None  # a mutant that does not parse is tried, and dies on import
    return "docstring, annotation or error text" if same else None


def sample_key(filename: str, line_number: int, index: int, seed: int) -> float:
    """The mutant's place in the seeded sample, in [0, 1) (``line_number`` 0-based)."""
    digest = hashlib.sha256(f"{seed}|{filename}|{line_number}|{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def sampled(
    filename: str, line_number: int, index: int, rate: float, seed: int, top: float = 0.0
) -> bool:
    """Whether the seeded sample at ``rate`` keeps this mutant: its key below ``rate``, or (two
    workers from both ends of the hash order, see :mod:`budget`) at or above ``1 - top``."""
    if rate + top >= 1.0:
        return True
    key = sample_key(filename, line_number, index, seed)
    return key < rate or key >= 1.0 - top


def sample_from_env() -> tuple[float, int]:
    """``(rate, seed)`` from ``MUTANTS_SAMPLE`` and ``MUTANTS_SEED``."""
    return float(os.environ.get("MUTANTS_SAMPLE", "1")), int(os.environ.get("MUTANTS_SEED", "0"))
