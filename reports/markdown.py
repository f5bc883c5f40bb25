"""Render the document model as Markdown (``report.md``): GitHub-flavoured, LaTeX in ``$$``."""

from __future__ import annotations

import html
import re

from .document import (
    Block,
    Bullets,
    Callout,
    Code,
    Details,
    Figure,
    Math,
    Paragraph,
    Section,
    Table,
)

_CALLOUT = {"ok": "NOTE", "fail": "WARNING", "note": "IMPORTANT"}
_CODE_SPAN = re.compile(r"(`[^`]*`)")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def _text(text: str) -> str:
    """``text`` with every ``<`` that would open raw HTML (``<img src=...>``, an autolink)
    written ``&lt;`` outside code spans: names come from users (a sweep named with an image
    tag made a Markdown viewer fetch it, where index.html escapes it); ``lr < 2/L`` is kept."""
    parts = _CODE_SPAN.split(text)
    return "".join(p if i % 2 else _TAG_START.sub("&lt;", p) for i, p in enumerate(parts))


def _cell(text: str) -> str:
    text = _text(text.removeprefix("[badge] "))
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> str:
    numeric = t.numeric or tuple(False for _ in t.header)
    lines = []
    if t.caption:
        lines += [f"*{_text(t.caption)}*", ""]
    lines.append("| " + " | ".join(_cell(h) for h in t.header) + " |")
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def _block(b: Block) -> str:
    if isinstance(b, Section):
        return section_markdown(b)
    if isinstance(b, Paragraph):
        return _text(b.text)
    if isinstance(b, Figure):
        return f"![{b.alt}]({b.src})\n\n*{_text(b.caption)}*"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Math):
        label = f"{b.label}\n\n" if b.label else ""
        return f"{label}$$\n{b.latex.strip()}\n$$"
    if isinstance(b, Code):
        return f"```{b.language}\n{b.text.rstrip()}\n```"
    if isinstance(b, Bullets):
        return "\n".join(f"- {_text(i)}" for i in b.items)
    if isinstance(b, Callout):
        body = _text(b.text).replace("\n", "\n> ")
        return f"> [!{_CALLOUT.get(b.kind, 'NOTE')}]\n> {body}"
    if isinstance(b, Details):
        # GitHub renders <details>; Markdown inside it needs the blank lines around
        inner = "\n\n".join(_block(x) for x in b.blocks)
        summary = html.escape(b.summary.replace("`", "").replace("**", ""))
        op = " open" if b.open else ""
        return f"<details{op}><summary>{summary}</summary>\n\n{inner}\n\n</details>"
    raise TypeError(f"unknown block {type(b).__name__}")


def section_markdown(s: Section) -> str:
    head = f'<a id="{s.id}"></a>\n\n' + "#" * min(s.level, 6) + " " + _text(s.title)
    return "\n\n".join([head, *(_block(b) for b in s.blocks)])


def render_markdown(title: str, subtitle: list[str], sections: list[Section]) -> str:
    toc = "\n".join(f"- [{_text(s.title)}](#{s.id})" for s in sections)
    parts = [f"# {_text(title)}", "\n".join(map(_text, subtitle)), "## Contents\n\n" + toc]
    parts += [section_markdown(s) for s in sections]
    return "\n\n".join(parts) + "\n"
