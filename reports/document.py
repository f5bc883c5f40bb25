"""A small document model: what each report section says, independent of HTML or Markdown.

Every section of the report is a :class:`Section` holding blocks (paragraphs, figures, tables,
mathematics, code, lists, collapsible details, subsections). :mod:`.html` and :mod:`.markdown`
render the same tree, so ``index.html`` and ``report.md`` never drift apart.

Inline text uses two markers only, rendered by both back ends: ``code`` in backticks and
**bold** in double asterisks. Everything else in a string is literal text (it is escaped for
HTML).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Figure:
    """An image file under the report folder (``src`` relative to it), with a caption."""

    src: str
    caption: str
    alt: str
    width: int | None = None  # display width in CSS pixels; None: the column width


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    numeric: tuple[bool, ...] = ()  # right-align these columns


@dataclass(frozen=True)
class Math:
    """A displayed formula: presentation MathML for HTML, LaTeX for Markdown."""

    mathml: str
    latex: str
    label: str = ""


@dataclass(frozen=True)
class Code:
    text: str
    language: str = ""


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Callout:
    """A highlighted remark; ``kind`` is ``ok``, ``fail`` or ``note``."""

    text: str
    kind: str = "note"


@dataclass
class Details:
    """A collapsible group (open or closed in HTML; always expanded in Markdown)."""

    summary: str
    blocks: list[Block] = field(default_factory=list)
    open: bool = False


@dataclass
class Section:
    """A titled part of the report; ``level`` 2 for top-level sections, 3 for subsections."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self

    def sub(self, id: str, title: str) -> Section:
        """Append and return a subsection."""
        s = Section(id, title, level=self.level + 1)
        self.blocks.append(s)
        return s


Block = Paragraph | Figure | Table | Math | Code | Bullets | Callout | Details | Section


def walk(blocks: list[Block]) -> Iterator[Block]:
    """Every block, depth first (subsections' and details' blocks included)."""
    for b in blocks:
        yield b
        if isinstance(b, Section | Details):
            yield from walk(b.blocks)


def figures(sections: list[Section]) -> list[Figure]:
    """Every figure in the document, in order."""
    return [b for b in walk(list(sections)) if isinstance(b, Figure)]
