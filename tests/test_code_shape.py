"""The package's shape rules that ruff does not check: no function outside ``tests/`` over 80
lines (issue 13; ``theory.descent._build_regions`` grew to 81 unnoticed before this test)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("descentcheck", "impl", "theory", "properties", "reports")
MAX_LINES = 80


def long_functions(source: str, name: str) -> list[str]:
    """``NAME:LINE FUNCTION (N lines)`` for each function of ``source`` over MAX_LINES."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_LINES:
                out.append(f"{name}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_the_rule_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    assert long_functions(f"def f():\n{body}\n", "m.py") == ["m.py:1 f (81 lines)"]
    assert long_functions(f"def f():\n{body[: body.rindex(chr(10))]}\n", "m.py") == []


def test_no_function_outside_tests_is_over_80_lines():
    found = []
    for folder in PACKAGE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            found += long_functions(path.read_text(encoding="utf-8"), str(rel))
    assert found == []
