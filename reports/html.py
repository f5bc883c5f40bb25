"""Render the document model as one self-contained, offline HTML page.

No scripts, no web fonts, no external URLs: styles are inline in ``<style>``, figures are files
beside the page (``figures/*.png``), mathematics is MathML (rendered natively by browsers). The
MathML namespace attribute is dropped (HTML5 knows ``<math>`` without it), so the page holds no
URL of any kind.
"""

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

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*")
_XMLNS = re.compile(r'\s+xmlns="[^"]*"')

CSS = """
:root { --ink: #1d232b; --muted: #5b6672; --line: #d9dee4; --bg: #ffffff; --panel: #f5f7f9;
        --accent: #1f5fa8; --ok: #1b7f3b; --okbg: #e7f5ec; --fail: #b3261e; --failbg: #fbeceb;
        --note: #8a5a00; --notebg: #fdf5e3; }
* { box-sizing: border-box; }
html { font-size: 16px; }
body { margin: 0; color: var(--ink); background: var(--bg); line-height: 1.55;
       font-family: "DejaVu Sans", "Liberation Sans", Helvetica, Arial, sans-serif; }
.layout { display: grid; grid-template-columns: 250px minmax(0, 1fr); max-width: 1280px;
          margin: 0 auto; }
nav.toc { position: sticky; top: 0; align-self: start; height: 100vh; overflow-y: auto;
          padding: 28px 18px 28px 22px; border-right: 1px solid var(--line);
          background: var(--panel); font-size: 0.9rem; }
nav.toc h2 { font-size: 0.8rem; letter-spacing: 0.08em; text-transform: uppercase;
             color: var(--muted); margin: 0 0 10px; }
nav.toc ol { list-style: none; padding: 0; margin: 0; }
nav.toc li { margin: 5px 0; }
nav.toc li li { margin: 3px 0 3px 12px; font-size: 0.84rem; }
nav.toc a { color: var(--ink); text-decoration: none; }
nav.toc a:hover { color: var(--accent); text-decoration: underline; }
main { padding: 28px 44px 80px; min-width: 0; }
header.top h1 { font-size: 1.9rem; margin: 0 0 6px; }
header.top p { margin: 2px 0; color: var(--muted); }
h2 { font-size: 1.45rem; margin: 44px 0 12px; padding-top: 10px;
     border-top: 2px solid var(--line); }
h3 { font-size: 1.15rem; margin: 30px 0 8px; }
h4 { font-size: 1.0rem; margin: 22px 0 6px; }
p { margin: 8px 0 12px; max-width: 62rem; }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 0.88em;
       background: var(--panel); padding: 1px 4px; border-radius: 3px; }
pre { background: #f0f3f6; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      overflow-x: auto; font-size: 0.84rem; line-height: 1.4; white-space: pre-wrap;
      word-break: break-all; }
pre code { background: none; padding: 0; }
figure { margin: 16px 0 24px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px;
             background: #fff; }
figcaption { font-size: 0.9rem; color: var(--muted); margin-top: 6px; max-width: 62rem; }
table { border-collapse: collapse; margin: 4px 0 20px; font-size: 0.9rem; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: 0.88rem;
  padding: 14px 0 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; text-align: left;
         vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td code { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.table-wrap { overflow-x: auto; }
.callout { border-left: 4px solid var(--note); background: var(--notebg); padding: 8px 14px;
           margin: 12px 0; border-radius: 0 6px 6px 0; max-width: 62rem; }
.callout.ok { border-color: var(--ok); background: var(--okbg); }
.callout.fail { border-color: var(--fail); background: var(--failbg); }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 0.8rem;
         font-weight: 600; white-space: nowrap; }
.badge.ok { color: var(--ok); background: var(--okbg); }
.badge.fail { color: var(--fail); background: var(--failbg); }
.badge.note { color: var(--note); background: var(--notebg); }
.math { margin: 6px 0; overflow-x: auto; }
.math .label { color: var(--muted); font-size: 0.86rem; }
math { font-size: 1.12em; font-family: "Latin Modern Math", "STIX Two Math", "DejaVu Math TeX Gyre",
       "Cambria Math", math; }
.math math[display="block"] { text-align: left; margin: 4px 0 4px 8px; }
details { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; margin: 10px 0; }
details > summary { cursor: pointer; font-weight: 600; }
details[open] > summary { margin-bottom: 6px; }
ul { margin: 6px 0 12px; padding-left: 22px; max-width: 62rem; }
li { margin: 3px 0; }
@media (max-width: 900px) {
  .layout { grid-template-columns: 1fr; }
  nav.toc { position: static; height: auto; border-right: none;
            border-bottom: 1px solid var(--line); }
  main { padding: 20px; }
}
"""

_BADGES = {
    "holds": "ok",
    "held": "ok",
    "falsified": "fail",
    "fails": "fail",
    "error": "fail",
    "yes": "ok",
    "no": "fail",
    "proved": "ok",
    "refuted": "fail",
    "unknown": "note",
}


def inline(text: str) -> str:
    """Escape ``text`` and render its ``code`` and **bold** markers."""
    out: list[str] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        if m.group(1) is not None:
            out.append(f"<code>{html.escape(m.group(1))}</code>")
        else:
            out.append(f"<strong>{html.escape(m.group(2))}</strong>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def badge(text: str, kind: str | None = None) -> str:
    """A coloured label; ``kind`` defaults from the word (held, falsified, ...)."""
    k = kind or _BADGES.get(text.split()[0].lower() if text else "", "note")
    return f'<span class="badge {k}">{html.escape(text)}</span>'


def _cell(text: str) -> str:
    # a cell written as "[badge] word" renders as a coloured label
    if text.startswith("[badge] "):
        return badge(text[len("[badge] ") :])
    return inline(text)


def _table(t: Table) -> str:
    numeric = t.numeric or tuple(False for _ in t.header)
    # a real <caption> and column scopes, so a screen reader ties them to the table
    cap = f"<caption>{inline(t.caption)}</caption>" if t.caption else ""
    head = "".join(f'<th scope="col">{inline(h)}</th>' for h in t.header)
    body = []
    for row in t.rows:
        cells = "".join(
            f'<td class="num">{_cell(c)}</td>' if numeric[i] else f"<td>{_cell(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _block(b: Block) -> str:
    if isinstance(b, Section):
        return section_html(b)
    if isinstance(b, Paragraph):
        return f"<p>{inline(b.text)}</p>"
    if isinstance(b, Figure):
        width = f' width="{b.width}"' if b.width else ""
        return (
            f'<figure><img src="{html.escape(b.src)}" alt="{html.escape(b.alt)}"{width} '
            f'loading="eager"><figcaption>{inline(b.caption)}</figcaption></figure>'
        )
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Math):
        label = f'<div class="label">{inline(b.label)}</div>' if b.label else ""
        return f'<div class="math">{label}{_XMLNS.sub("", b.mathml)}</div>'
    if isinstance(b, Code):
        return f"<pre><code>{html.escape(b.text)}</code></pre>"
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{inline(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Callout):
        return f'<div class="callout {b.kind}">{inline(b.text)}</div>'
    if isinstance(b, Details):
        inner = "\n".join(_block(x) for x in b.blocks)
        op = " open" if b.open else ""
        return f"<details{op}><summary>{inline(b.summary)}</summary>\n{inner}\n</details>"
    raise TypeError(f"unknown block {type(b).__name__}")


def section_html(s: Section) -> str:
    tag = f"h{min(s.level, 6)}"
    body = "\n".join(_block(b) for b in s.blocks)
    return (
        f'<section id="{html.escape(s.id)}">\n<{tag}>{inline(s.title)}</{tag}>\n{body}\n</section>'
    )


def _toc(sections: list[Section]) -> str:
    items = []
    for s in sections:
        subs = [b for b in s.blocks if isinstance(b, Section)]
        inner = ""
        if subs:
            inner = "<ol>" + "".join(
                f'<li><a href="#{html.escape(c.id)}">{inline(c.title)}</a></li>' for c in subs
            )
            inner += "</ol>"
        items.append(f'<li><a href="#{html.escape(s.id)}">{inline(s.title)}</a>{inner}</li>')
    return f'<nav class="toc"><h2>Contents</h2><ol>{"".join(items)}</ol></nav>'


def render_html(title: str, subtitle: list[str], sections: list[Section]) -> str:
    """The whole page."""
    sub = "".join(f"<p>{inline(line)}</p>" for line in subtitle)
    body = "\n".join(section_html(s) for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<div class="layout">
{_toc(sections)}
<main>
<header class="top"><h1>{html.escape(title)}</h1>{sub}</header>
{body}
</main>
</div>
</body>
</html>
"""
