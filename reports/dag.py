"""Drawing a spec's DAG with matplotlib alone (no graphviz): a layered left-to-right layout.

:func:`layout` puts ``input`` in column 0 and every node one column right of its deepest parent
(longest-path layering), then orders each column by the mean row of its parents (one barycentre
sweep, which untangles the usual skip-connection shapes). :func:`draw_dag` draws rounded boxes
coloured by kind (dense, distance, activation, merge) and arrows; an edge that jumps over
columns (a skip connection) is drawn as an arc, in the accent colour, so skips stand out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from descentcheck.registry import ops as registry

from .plotting import pyplot, save

INPUT = "input"
KIND_COLORS = {
    "input": "#e8eaed",
    "dense": "#cfe0f3",
    "distance": "#d3ecd9",
    "activation": "#f1f1f1",
    "merge": "#fbe3c8",
}
SKIP_COLOR = "#c0392b"
SPACING = 1.3  # column distance, in box heights
BOX_W, BOX_H = 1.0, 0.6


def kind(op: str) -> str:
    """The box colour's kind: the op registry's family of ``op`` (an unknown op: activation)."""
    info = registry.get(op)
    return info.family if info is not None and info.family in KIND_COLORS else "activation"


def _nodes(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in spec["nodes"]}


def layout(spec: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Column and row of every node (``input`` included); see the module docstring."""
    nodes = _nodes(spec)
    col: dict[str, int] = {INPUT: 0}

    def depth(name: str) -> int:
        if name not in col:
            col[name] = 1 + max(depth(p) for p in nodes[name]["inputs"])
        return col[name]

    for name in nodes:
        depth(name)
    columns: dict[int, list[str]] = {}
    for name in [INPUT, *nodes]:
        columns.setdefault(col[name], []).append(name)
    row: dict[str, float] = {INPUT: 0.0}
    for c in sorted(columns)[1:]:
        members = columns[c]
        members.sort(
            key=lambda n: sum(row[p] for p in nodes[n]["inputs"]) / len(nodes[n]["inputs"])
        )
        k = len(members)
        for i, n in enumerate(members):
            row[n] = i - (k - 1) / 2
    return {n: (SPACING * col[n], row[n]) for n in col}


def label(node: Mapping[str, Any] | None) -> str:
    """Two-line box text: the node's name, then its op (and units, and per-unit radii)."""
    if node is None:
        return "input"
    op = node["op"]
    text = op if "units" not in node else f"{op} {node['units']}"
    if len(text) > 12 and "units" in node:  # a long op name: the units on their own line
        text = f"{op}\n{node['units']} units"
    if node.get("radius") == "per_unit":
        text += "\nr per unit"
    return f"{node['name']}\n{text}"


def draw_dag(ax: Any, spec: Mapping[str, Any], title: str = "") -> None:
    """Draw the DAG of ``spec`` on the axes ``ax``."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    nodes = _nodes(spec)
    pos = layout(spec)
    box_w, box_h = BOX_W, BOX_H
    skips = [
        (p, n)
        for n, node in nodes.items()
        for p in node["inputs"]
        if pos[n][0] - pos[p][0] > 1.5 * SPACING
    ]

    def spread(key: str, edges: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
        """Horizontal offsets along a box's bottom edge, so arcs sharing a box fan out."""
        out: dict[tuple[str, str], float] = {}
        for name in {e[0] if key == "src" else e[1] for e in edges}:
            mine = [e for e in edges if (e[0] if key == "src" else e[1]) == name]
            mine.sort(key=lambda e: pos[e[1] if key == "src" else e[0]][0])
            for i, e in enumerate(mine):
                out[e] = (i - (len(mine) - 1) / 2) * min(0.22, 0.8 * box_w / len(mine))
        return out

    out_dx, in_dx = spread("src", skips), spread("dst", skips)
    for name, node in nodes.items():
        x1, y1 = pos[name]
        for parent in node["inputs"]:
            x0, y0 = pos[parent]
            if (parent, name) in out_dx:  # a skip: bottom to bottom, bending under the columns
                start = (x0 + out_dx[(parent, name)], y0 - box_h / 2)
                end = (x1 + in_dx[(parent, name)], y1 - box_h / 2)
                bend, skip = 0.3, True
            else:
                start, end, bend, skip = (x0 + box_w / 2, y0), (x1 - box_w / 2, y1), 0.0, False
            arrow = FancyArrowPatch(
                start,
                end,
                arrowstyle="-|>",
                mutation_scale=9,
                linewidth=1.3 if skip else 1.0,
                color=SKIP_COLOR if skip else "#555555",
                connectionstyle=f"arc3,rad={bend}",
                shrinkA=1,
                shrinkB=1,
                zorder=1,
            )
            ax.add_patch(arrow)
    out = spec["output"]
    for name, (x, y) in pos.items():
        node = nodes.get(name)
        k = "input" if node is None else kind(node["op"])
        box = FancyBboxPatch(
            (x - box_w / 2, y - box_h / 2),
            box_w,
            box_h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=KIND_COLORS[k],
            edgecolor="#1d232b" if name == out else "#8a939c",
            linewidth=1.6 if name == out else 0.8,
            zorder=2,
        )
        ax.add_patch(box)
        ax.text(x, y, label(node), ha="center", va="center", fontsize=6.8, zorder=3)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    spans = [pos[n][0] - pos[p][0] for n, node in nodes.items() for p in node["inputs"]]
    below = 0.3 * max(spans, default=0) / 2 + 0.1 if max(spans, default=0) > 1.5 * SPACING else 0
    ax.set_xlim(min(xs) - 0.55, max(xs) + 0.55)
    ax.set_ylim(min(ys) - box_h / 2 - below - 0.15, max(ys) + box_h / 2 + 0.15)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9.5)


def dag_size(spec: Mapping[str, Any]) -> tuple[float, float]:
    """A figure size (inches) that fits the layout."""
    pos = layout(spec)
    cols = max(p[0] for p in pos.values()) / SPACING + 1
    rows = max(p[1] for p in pos.values()) - min(p[1] for p in pos.values()) + 1
    return max(3.0, 1.08 * cols + 0.3), max(1.5, 0.75 * rows + 0.9)


def dag_figure(spec: Mapping[str, Any], path: Path, title: str = "") -> Path:
    """Save a figure of ``spec``'s DAG as ``path``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=dag_size(spec))
    draw_dag(ax, spec, title)
    return save(fig, path)
