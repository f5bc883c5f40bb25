"""What the strategies generate, measured: a claim tested only on chains proves nothing about skips.

Per spec (:func:`spec_stats`):

- ``depth``: the most parametric layers (dense, gaussian, gaussian_logits) on one path from the
  input to the output;
- ``skip_edges``: the extra paths merges open, ``sum over add/concat nodes of (inputs - 1)``;
- ``distance_layers``: gaussian and gaussian_logits nodes;
- ``params``: the number of scalar parameters; ``nodes``: spec nodes; ``loss``;
- ``ops``: the ops the spec uses, each once (plugins' included).

Over a claim's cases (:func:`summarize`), ``op_shares`` and ``loss_shares`` give the share of
nets that use each op and each loss: what a plugin author reads to see that their op is drawn.

:class:`StatsCollector` aggregates them over the cases a claim ran on, and :func:`format_stats`
prints the table ``descentcheck verify --stats`` shows.

Per draw (:class:`DrawTally`, every case a claim searched): *vacuous* when the claim's condition
left nothing to test (:func:`is_vacuous`: no step, run or case tested, or E(w_0) = 0, a global
minimum where nothing can decrease), and *at a bound* when a hyperparameter
drawn by ``st.floats(low, high)`` (``strategies.fractions``) equals ``low`` or ``high``
(:func:`float_ranges`, :func:`at_bound`; Hypothesis favours the ends of a float range). The
evenly spread grid draws (``unit_interval``, ``log_uniform``) reach an end with probability
2/65536 by construction and are not inspected.
"""

from __future__ import annotations

import math
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
        "ops": sorted({n["op"] for n in s.nodes.values()}),
    }


# a measured count of 0 under one of these keys: the case tested nothing (not "nontrivial":
# reorder-rename's identity order still renames every node)
TESTED_KEYS = ("steps_tested", "runs_tested", "cases_tested")


def is_vacuous(measured: Mapping[str, float], drawn: Any = None) -> bool:
    """The case's check tested nothing: a ``TESTED_KEYS`` count is 0, or the drawn case starts
    at E(w_0) = 0 (a global minimum of a non-negative loss: nothing can decrease)."""
    if any(k in measured and measured[k] == 0 for k in TESTED_KEYS):
        return True
    case = drawn.get("case") if isinstance(drawn, Mapping) else None
    if case is None:
        return False
    with np.errstate(all="ignore"):
        return float(case.net.loss(case.params, case.x, case.yt)) == 0.0


def float_ranges(strategy: Any) -> dict[str, tuple[float, float]]:
    """``{key: (low, high)}`` for each top-level key of a ``fixed_dictionaries`` strategy drawn
    by ``st.floats(low, high)`` (possibly filtered); {} for any other strategy."""
    try:
        mapping = strategy.wrapped_strategy.mapping
    except AttributeError:
        return {}
    out = {}
    for key, sub in mapping.items():
        inner = getattr(sub, "wrapped_strategy", sub)
        inner = getattr(inner, "filtered_strategy", inner)
        lo, hi = getattr(inner, "min_value", None), getattr(inner, "max_value", None)
        if isinstance(lo, float) and isinstance(hi, float) and math.isfinite(lo + hi):
            out[key] = (lo, hi)
    return out


def at_bound(drawn: Any, ranges: Mapping[str, tuple[float, float]]) -> list[str]:
    """The keys of ``ranges`` whose drawn value equals its range's low or high end."""
    if not isinstance(drawn, Mapping):
        return []
    return [k for k, (lo, hi) in ranges.items() if k in drawn and drawn[k] in (lo, hi)]


@dataclass
class DrawTally:
    """Per claim: cases searched, vacuous ones, ones with a hyperparameter at a bound (which)."""

    ranges: Mapping[str, tuple[float, float]]
    cases: int = 0
    vacuous: int = 0
    at_bound: int = 0
    by_key: dict[str, int] = field(default_factory=dict)

    def add(self, drawn: Any, measured: Mapping[str, float]) -> None:
        self.cases += 1
        self.vacuous += is_vacuous(measured, drawn)
        keys = at_bound(drawn, self.ranges)
        self.at_bound += bool(keys)
        for k in keys:
            self.by_key[k] = self.by_key.get(k, 0) + 1

    def result(self) -> dict[str, Any]:
        return {
            "draws": self.cases,
            "vacuous": self.vacuous,
            "at_bound": self.at_bound,
            "at_bound_by_key": dict(self.by_key),
            "float_ranges": {k: list(v) for k, v in self.ranges.items()},
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
        # by name: a plugin loss is neither mse nor cross-entropy
        "share_cross_entropy": float(np.mean([r["loss"] == "softmax_cross_entropy" for r in rows])),
        "op_shares": _shares([r.get("ops", ()) for r in rows]),
        "loss_shares": _shares([(r["loss"],) for r in rows]),
    }


def _shares(used: list[Iterable[str]]) -> dict[str, float]:
    """``{name: share of the rows whose names include it}``, by name."""
    counts: dict[str, int] = {}
    for names in used:
        for name in set(names):
            counts[name] = counts.get(name, 0) + 1
    return {k: counts[k] / len(used) for k in sorted(counts)}


_COLUMNS = (
    ("draws", "draws", "{:d}"),
    ("rejected", "rejected", "{:d}"),  # by the check (a premise not met), beside the draws
    ("vacuous", "vacuous", "{:d}"),
    ("at_bound", "at bound", "{:d}"),
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
    rows = [(cid, s) for cid, s in per_claim.items() if s.get("cases") or s.get("draws")]
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
    everything = stats.get("all", {})
    for key, what in (("op_shares", "ops"), ("loss_shares", "losses")):
        if everything.get(key):
            shown = ", ".join(f"{k} {v:.0%}" for k, v in everything[key].items())
            lines.append(f"{what} in all generated cases (share of nets using each): {shown}")
    for cid, st in rows:
        by_key = st.get("at_bound_by_key") or {}
        if by_key:
            shown = ", ".join(f"{k} {n}/{st['draws']}" for k, n in sorted(by_key.items()))
            lines.append(f"at a bound, {cid}: {shown}")
    note = (
        "draws: cases searched; vacuous: of them, cases where the claim's condition left nothing "
        "to test (no step, run or case tested, or E(w_0) = 0); at bound: cases "
        "with a st.floats hyperparameter drawn at an end of its range (grid draws are even by "
        "construction and not inspected); cases: those with a generated DAG, described by the "
        "rest. "
        "depth: parametric layers on the longest input-output path; skips: share of nets with an "
        "add/concat merge; skip/net: sum of (merge inputs - 1); distance: share with a gaussian "
        "or gaussian_logits layer; params~: median parameter count; xent: softmax cross-entropy."
    )
    return "\n".join([*lines, "", note])
