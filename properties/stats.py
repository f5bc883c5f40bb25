"""What the strategies generate, measured: a claim tested only on chains proves nothing about skips.

Per spec (:func:`spec_stats`):

- ``depth``: the most parametric layers (dense, gaussian, gaussian_logits) on one path from the
  input to the output;
- ``skip_edges``: the extra paths merges open, ``sum over add/concat nodes of (inputs - 1)``;
- ``distance_layers``: gaussian and gaussian_logits nodes;
- ``params``: the number of scalar parameters; ``nodes``: spec nodes; ``loss``.

:class:`StatsCollector` aggregates them over the cases a claim ran on, and :func:`format_stats`
prints the table ``descentcheck verify --stats`` shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descentcheck.impl.network import Network
from descentcheck.impl.spec import Spec, load_spec
from descentcheck.registry import ops as registry

# the op registry's (plugins add elementwise ops only)
PARAMETRIC = tuple(o.name for o in registry.BUILTIN if o.kind == "parametric")
DISTANCE = tuple(o.name for o in registry.BUILTIN if o.family == "distance")


def spec_stats(spec: Spec | Mapping[str, Any]) -> dict[str, Any]:
    """Depth, skip edges, distance layers, parameter and node counts of one spec."""
    s = spec if isinstance(spec, Spec) else load_spec(spec)
    depth = {"input": 0}
    for name in s.order:
        node = s.nodes[name]
        depth[name] = max(depth[p] for p in node["inputs"]) + (node["op"] in PARAMETRIC)
    merges = [n for n in s.nodes.values() if n["op"] in ("add", "concat")]
    return {
        "depth": depth[s.output],
        "skip_edges": sum(len(n["inputs"]) - 1 for n in merges),
        "add_merges": sum(n["op"] == "add" for n in merges),
        "concat_merges": sum(n["op"] == "concat" for n in merges),
        "distance_layers": sum(n["op"] in DISTANCE for n in s.nodes.values()),
        "params": Network(s).n_params,
        "nodes": len(s.nodes),
        "loss": s.loss,
    }


@dataclass
class StatsCollector:
    """Collects :func:`spec_stats` rows; :meth:`summary` aggregates them."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, spec: Spec | Mapping[str, Any]) -> None:
        self.rows.append(spec_stats(spec))

    def summary(self) -> dict[str, Any]:
        return summarize(self.rows)


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts and shares over stats rows (an empty list gives ``{"cases": 0}``)."""
    rows = list(rows)
    if not rows:
        return {"cases": 0}

    def col(key: str) -> np.ndarray:
        return np.array([r[key] for r in rows], dtype=float)

    depth, skips, dist, params = (
        col("depth"),
        col("skip_edges"),
        col("distance_layers"),
        col("params"),
    )
    return {
        "cases": len(rows),
        "depth_mean": float(depth.mean()),
        "depth_max": int(depth.max()),
        "share_depth_gt_1": float((depth > 1).mean()),
        "skip_edges_mean": float(skips.mean()),
        "share_with_skip": float((skips > 0).mean()),
        "share_with_add": float((col("add_merges") > 0).mean()),
        "share_with_concat": float((col("concat_merges") > 0).mean()),
        "share_with_distance": float((dist > 0).mean()),
        "params_median": float(np.median(params)),
        "params_max": int(params.max()),
        "share_cross_entropy": float(np.mean([r["loss"] != "mse" for r in rows])),
    }


_COLUMNS = (
    ("cases", "cases", "{:d}"),
    ("depth_mean", "depth", "{:.2f}"),
    ("depth_max", "max", "{:d}"),
    ("share_depth_gt_1", "depth>1", "{:.0%}"),
    ("share_with_skip", "skips", "{:.0%}"),
    ("skip_edges_mean", "skip/net", "{:.2f}"),
    ("share_with_add", "add", "{:.0%}"),
    ("share_with_concat", "concat", "{:.0%}"),
    ("share_with_distance", "distance", "{:.0%}"),
    ("params_median", "params~", "{:.0f}"),
    ("params_max", "max", "{:d}"),
    ("share_cross_entropy", "xent", "{:.0%}"),
)


def format_stats(stats: Mapping[str, Any]) -> str:
    """A text table of ``ledger["stats"]``: one row per claim that drew random DAGs, then all."""
    per_claim: Mapping[str, Mapping[str, Any]] = stats.get("per_claim", {})
    rows = [(cid, s) for cid, s in per_claim.items() if s.get("cases")]
    rows.append(("all generated cases", stats.get("all", {"cases": 0})))
    head = ["claim", *(h for _, h, _ in _COLUMNS)]
    table = [head]
    for cid, s in rows:
        cells = [cid]
        for key, _, fmt in _COLUMNS:
            v = s.get(key)
            cells.append("-" if v is None else fmt.format(v))
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = (
        "depth: parametric layers on the longest input-output path; skips: share of nets with an "
        "add/concat merge; skip/net: sum of (merge inputs - 1); distance: share with a gaussian "
        "or gaussian_logits layer; params~: median parameter count; xent: softmax cross-entropy."
    )
    return "\n".join([*lines, "", note])
