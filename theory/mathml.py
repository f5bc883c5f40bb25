"""Presentation MathML from SymPy, as well-formed XML.

SymPy's presentation printer writes relational operators as raw text (``<mo><</mo>``) and uses
HTML named entities, neither well-formed XML, and writes a subscript's digits as an identifier
(``<mi>0</mi>``); :func:`presentation` fixes all three.
:func:`math_block` wraps a fragment in a ``<math>`` element with the MathML namespace.
"""

from __future__ import annotations

import re
from html.entities import html5

import sympy as sp
from sympy.printing.mathml import MathMLPresentationPrinter

NAMESPACE = "http://www.w3.org/1998/Math/MathML"
_RAW_OPERATOR = re.compile(r"<mo>([<>&]=?)</mo>")
_ESCAPES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_NAMED_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = {"lt", "gt", "amp", "quot", "apos"}
_NUMBER_AS_IDENTIFIER = re.compile(r"<mi>(\d+(?:\.\d+)?)</mi>")  # SymPy's subscripts: x_0


def _numeric(m: re.Match[str]) -> str:
    name = m.group(1)
    if name in _XML_ENTITIES or f"{name};" not in html5:
        return m.group(0)
    return "".join(f"&#x{ord(ch):X};" for ch in html5[f"{name};"])


class _Printer(MathMLPresentationPrinter):
    """SymPy's presentation printer, with a ``Piecewise`` as a brace over its cases ("for x > 0",
    "otherwise"), as LaTeX's ``cases`` reads; SymPy's own printed relu as the function call
    ``piecewise((x, x > 0), (0, True))``."""

    def _print_Piecewise(self, e: sp.Piecewise) -> object:
        def node(tag: str, *children: object, text: str | None = None) -> object:
            el = self.dom.createElement(tag)
            if text is not None:
                el.appendChild(self.dom.createTextNode(text))
            for c in children:
                el.appendChild(c)
            return el

        rows = []
        for expr, cond in e.args:
            when = (
                [node("mtext", text="otherwise")]
                if cond == sp.true
                else [node("mtext", text="for\u00a0"), self._print(cond)]
            )
            rows.append(node("mtr", node("mtd", self._print(expr)), node("mtd", *when)))
        table = node("mtable", *rows)
        table.setAttribute("columnalign", "left")
        return node("mrow", node("mo", text="{"), table)


def presentation(e: sp.Basic) -> str:
    """Presentation MathML of ``e`` (no ``<math>`` wrapper), well-formed XML: raw ``<`` and
    ``>`` operators escaped, HTML named entities (``&InvisibleTimes;``) as numeric ones, and
    numeric subscripts as numbers (``<mn>0</mn>``, not SymPy's ``<mi>0</mi>``)."""
    text = _NAMED_ENTITY.sub(_numeric, _Printer().doprint(e))
    text = _NUMBER_AS_IDENTIFIER.sub(r"<mn>\1</mn>", text)
    return _RAW_OPERATOR.sub(
        lambda m: "<mo>" + "".join(_ESCAPES.get(ch, ch) for ch in m.group(1)) + "</mo>", text
    )


def math_block(inner: str, display: str = "block") -> str:
    return f'<math xmlns="{NAMESPACE}" display="{display}"><mrow>{inner}</mrow></math>'
