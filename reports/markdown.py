"""Render the document model as Markdown (``report.md``): GitHub-flavoured, LaTeX in ``$$``."""

from __future__ import annotations

import html

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


def _cell(text: str) -> str:
    text = text.removeprefix("[badge] ")
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> str:
    numeric = t.numeric or tuple(False for _ in t.header)
    lines = []
    if t.caption:
        lines += [f"*{t.caption}*", ""]
    lines.append("| " + " | ".join(_cell(h) for h in t.header) + " |")
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def _block(b: Block) -> str:
    if isinstance(b, Section):
        return section_markdown(b)
    if isinstance(b, Paragraph):
        return b.text
    if isinstance(b, Figure):
        return f"![{b.alt}]({b.src})\n\n*{b.caption}*"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Math):
        label = f"{b.label}\n\n" if b.label else ""
        return f"{label}$$\n{b.latex.strip()}\n$$"
    if isinstance(b, Code):
        return f"```{b.language}\n{b.text.rstrip()}\n```"
    if isinstance(b, Bullets):
        return "\n".join(f"- {i}" for i in b.items)
    if isinstance(b, Callout):
        body = b.text.replace("\n", "\n> ")
        return f"> [!{_CALLOUT.get(b.kind, 'NOTE')}]\n> {body}"
    if isinstance(b, Details):
        # GitHub renders <details>; Markdown inside it needs the blank lines around
        inner = "\n\n".join(_block(x) for x in b.blocks)
        summary = html.escape(b.summary.replace("`", "").replace("**", ""))
        op = " open" if b.open else ""
        return f"<details{op}><summary>{summary}</summary>\n\n{inner}\n\n</details>"
    raise TypeError(f"unknown block {type(b).__name__}")


def section_markdown(s: Section) -> str:
    head = f'<a id="{s.id}"></a>\n\n' + "#" * min(s.level, 6) + " " + s.title
    return "\n\n".join([head, *(_block(b) for b in s.blocks)])


def render_markdown(title: str, subtitle: list[str], sections: list[Section]) -> str:
    toc = "\n".join(f"- [{s.title}](#{s.id})" for s in sections)
    parts = [f"# {title}", "\n".join(subtitle), "## Contents\n\n" + toc]
    parts += [section_markdown(s) for s in sections]
    return "\n\n".join(parts) + "\n"
