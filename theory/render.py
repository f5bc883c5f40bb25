"""Text forms of a derivation: LaTeX, SymPy (``str``), JSON (DESIGN.md's contract) and MathML.

``derive_text(op, fmt, dim)`` is what ``descentcheck derive OP --format FMT --dim D`` prints.
The JSON form is exactly::

    {"op": OP, "symbols": [names...], "output": EXPR, "grad": {SYMBOL: EXPR, ...}}

where every EXPR is ``str`` of a SymPy expression, so ``sympy.sympify(EXPR)`` gives the same
expression back (a column vector prints as ``Matrix([[..], ..])``). ``grad`` has one entry per
parameter and input, ``d output / d SYMBOL``. The other formats add the notes (the relu kink,
the softmax cross-entropy simplification and its condition, conventions) as comments.
"""

from __future__ import annotations

import json

import sympy as sp

from . import FORMATS
from .derivations import Derivation, derive, softmax_ce_simplification
from .errors import DeriveError
from .mathml import math_block, presentation


def latex_names(d: Derivation) -> dict[sp.Symbol, str]:
    names: dict[sp.Symbol, str] = {}
    for s in d.symbols:
        if s.name.startswith("yhat"):
            names[s] = rf"\hat{{y}}_{{{s.name[4:]}}}"
    return names


def _lhs_name(d: Derivation) -> tuple[str, str]:
    """(plain, latex) name of the output: E for a loss, y or a bold y for a vector."""
    if d.is_loss:
        return "E", "E"
    if d.unit.is_vector:
        return "y", r"\mathbf{y}"
    return "y", "y"


def to_json(d: Derivation) -> str:
    payload = {
        "op": d.op,
        "symbols": [s.name for s in d.symbols],
        "output": str(d.output),
        "grad": {s.name: str(g) for s, g in d.grad.items()},
    }
    return json.dumps(payload, indent=2)


def to_sympy(d: Derivation) -> str:
    name, _ = _lhs_name(d)
    lines = [
        f"# {d.op}: one unit with D = {d.dim} inputs",
        f"# symbols: {', '.join(s.name for s in d.symbols)}",
        *(f"# note: {n}" for n in d.notes),
        f"{name} = {d.output}",
    ]
    lines += [f"d{name}/d{s} = {g}" for s, g in d.grad.items()]
    if d.op == "softmax_cross_entropy":
        lines += [f"# {identity}" for identity in softmax_ce_simplification(d.dim)]
    return "\n".join(lines) + "\n"


#: what separates two rows of a printed ``align*`` block; a matrix's or a case's own rows are
#: ``\\`` without the line break, so a reader splits on this (``reports.derivations``)
ROW_BREAK = r" \\" + "\n"


def align_block(head: list[str], rows: list[str]) -> str:
    """The ``head`` lines (``%`` comments), then ``rows`` in one ``align*`` block, ROW_BREAK
    apart (the form ``reports.derivations.op_blocks`` reads back)."""
    return "\n".join(head) + "\n\\begin{align*}\n" + ROW_BREAK.join(rows) + "\n\\end{align*}\n"


def to_latex(d: Derivation) -> str:
    names = latex_names(d)
    _, lhs = _lhs_name(d)

    def tex(e: sp.Expr) -> str:
        return sp.latex(e, symbol_names=names)

    rows = [f"{lhs} &= {tex(d.output)}"]
    for s, g in d.grad.items():
        rows.append(rf"\frac{{\partial {lhs}}}{{\partial {tex(s)}}} &= {tex(g)}")
    if d.op == "softmax_cross_entropy":
        last = d.dim - 1
        rows.append(
            r"\frac{\partial E}{\partial \hat{y}_{k}} &= "
            r"\operatorname{softmax}(\hat{y})_{k} \sum_{m} y_{m} - y_{k}"
            r" = \operatorname{softmax}(\hat{y})_{k} - y_{k}"
            rf" \quad\text{{exactly when }} \sum_{{m=0}}^{{{last}}} y_{{m}} = 1"
        )
    head = [f"% {d.op}: one unit with D = {d.dim} inputs", *(f"% {n}" for n in d.notes)]
    return align_block(head, rows)


def to_mathml(d: Derivation) -> str:
    name, _ = _lhs_name(d)
    lhs = f"<mi>{name}</mi>"
    out = [f"<!-- {d.op}: one unit with D = {d.dim} inputs -->"]
    out += [f"<!-- {n.replace('--', '-')} -->" for n in d.notes]
    out.append(math_block(f"{lhs}<mo>=</mo>{presentation(d.output)}"))
    for s, g in d.grad.items():
        frac = (
            f"<mfrac><mrow><mo>&#x2202;</mo>{lhs}</mrow>"
            f"<mrow><mo>&#x2202;</mo>{presentation(s)}</mrow></mfrac>"
        )
        out.append(math_block(f"{frac}<mo>=</mo>{presentation(g)}"))
    return "\n".join(out) + "\n"


_RENDERERS = {"latex": to_latex, "sympy": to_sympy, "json": to_json, "mathml": to_mathml}
assert tuple(_RENDERERS) == FORMATS


def derive_text(
    op: str, fmt: str = "latex", dim: int = 3, setting: dict[str, str] | None = None
) -> str:
    """The derivation of one unit of ``op`` with ``dim`` inputs, as text in ``fmt``; for an
    optimizer's name (not an op's), its update rule and descent region (``render_update``), for
    ``setting`` (choice hyperparameter -> value; the defaults where not given).

    Raises :class:`DeriveError` (a ``ValueError``) with a one-line message for an unknown op,
    an unknown format, or a dim out of range."""
    if fmt not in _RENDERERS:
        raise DeriveError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    from descentcheck.registry import ops
    from descentcheck.registry import optimizers as updates

    if isinstance(op, str) and op not in ops.derive_names() and op in updates.names():
        from .render_update import RENDERERS  # an optimizer: its update rule (dim not used)

        return RENDERERS[fmt](updates.get(op), setting)
    return _RENDERERS[fmt](derive(op, dim))
