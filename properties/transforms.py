"""Spec-and-parameter transformations that must not change what a network computes.

- :func:`add_zero_branch`: a node ``a`` becomes ``add(a, gaussian_logits(s))`` with all radii of
  the new layer 0. Its output ``-1/2 sum_i r_ji^2 (x_i - c_ji)^2`` is exactly 0, and so is every
  gradient through it (``dE/dc ~ r^2``, ``dE/dr ~ r``, ``dE/dx ~ r^2``): r = 0 is a fixed point of
  every optimizer, and the branch stays a zero branch for the whole trajectory.
- :func:`permute_units`: reorder the units of a hidden layer and, consistently, everything that
  reads them (rows of a dense reader's W, columns of a distance reader's centroids and radii, the
  blocks of a concat, the other inputs of an add). Returns None when the permutation cannot be
  made consistent (it would reach the network input or the output).
- :func:`reorder_rename`: list the nodes in another order under other names.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from descentcheck.impl.spec import INPUT, Spec, load_spec
from descentcheck.registry import ops as registry

Array = np.ndarray
SpecDict = dict[str, Any]
Params = dict[str, Array]
# the op registry's parametric ops (the dense and distance layouts below; plugins add none)
PARAMETRIC = tuple(o.name for o in registry.BUILTIN if o.kind == "parametric")


def _fresh(base: str, taken: set[str]) -> str:
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}{i}"
    return name


def descendants(spec: Mapping[str, Any], node: str) -> set[str]:
    """Every node reachable from ``node`` (not ``node`` itself)."""
    children: dict[str, list[str]] = {}
    for n in spec["nodes"]:
        for p in n["inputs"]:
            children.setdefault(p, []).append(n["name"])
    seen: set[str] = set()
    stack = [node]
    while stack:
        for c in children.get(stack.pop(), []):
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return seen


def add_zero_branch(
    spec: Mapping[str, Any],
    params: Mapping[str, Array],
    at: str,
    source: str,
    radius: str,
    centroids: Array,
) -> tuple[SpecDict, Params]:
    """Insert ``zero = gaussian_logits(source)`` (radii 0) and ``merge = add(at, zero)``; every
    former reader of ``at`` reads ``merge`` instead. ``source`` must not descend from ``at``;
    ``centroids`` has shape (width of at, width of source)."""
    parsed = load_spec(spec)
    if source != at and source in descendants(spec, at):
        raise ValueError(f"{source!r} descends from {at!r}: the branch would close a cycle")
    new = copy.deepcopy(dict(spec))
    taken = {n["name"] for n in new["nodes"]} | {INPUT}
    zero = _fresh("zero_branch", taken)
    merge = _fresh("zero_merge", taken | {zero})
    units = parsed.widths[at]
    for n in new["nodes"]:
        n["inputs"] = [merge if p == at else p for p in n["inputs"]]
    new["nodes"].append(
        {
            "name": zero,
            "op": "gaussian_logits",
            "units": units,
            "radius": radius,
            "inputs": [source],
        }
    )
    new["nodes"].append({"name": merge, "op": "add", "inputs": [at, zero]})
    if new["output"] == at:
        new["output"] = merge
    out = {k: np.array(v, copy=True) for k, v in params.items()}
    out[f"{zero}.centroids"] = np.asarray(centroids, dtype=np.float64).reshape(
        units, parsed.widths[source]
    )
    out[f"{zero}.radii"] = np.zeros(
        units if radius == "per_unit" else (units, parsed.widths[source])
    )
    return new, out


def permutable_nodes(spec: Mapping[str, Any]) -> list[str]:
    """Hidden parametric nodes with at least two units (candidates for :func:`permute_units`)."""
    return [
        n["name"]
        for n in spec["nodes"]
        if n["op"] in PARAMETRIC and n["units"] >= 2 and n["name"] != spec["output"]
    ]


def permute_units(
    spec: Mapping[str, Any], params: Mapping[str, Array], node: str, perm: Sequence[int]
) -> Params | None:
    """Parameters of the same function with ``node``'s units reordered by ``perm`` (the new unit
    i is the old unit ``perm[i]``), or None when no consistent reordering exists."""
    s = load_spec(spec)
    assigned = _unit_orders(s, node, np.asarray(perm, dtype=np.int64))
    return None if assigned is None else _apply_orders(s, params, assigned)


def _unit_orders(s: Spec, node: str, perm: Array) -> dict[str, Array] | None:
    """Every node's unit order forced by reordering ``node``'s units by ``perm`` (a node not
    in the result keeps its order), or None when the orders conflict or would move the input's
    or the output's units."""
    consumers: dict[str, list[str]] = {name: [] for name in (INPUT, *s.nodes)}
    for name in s.order:
        for p in s.nodes[name]["inputs"]:
            consumers[p].append(name)
    assigned: dict[str, Array] = {}
    todo: list[tuple[str, Array]] = [(node, perm)]

    def identity(n: str) -> Array:
        return np.arange(s.widths[n])

    pending_concats: list[str] = []  # concats with a permuted input, settled once todo drains
    while todo or pending_concats:
        if not todo:
            v = pending_concats.pop()
            parts, offset = [], 0
            for p in s.nodes[v]["inputs"]:
                if p not in assigned:  # an input nothing asked to move stays in place
                    todo.append((p, identity(p)))
                parts.append(assigned.get(p, identity(p)) + offset)
                offset += s.widths[p]
            todo.append((v, np.concatenate(parts)))
            continue
        u, pi = todo.pop()
        if u in assigned:
            if not np.array_equal(assigned[u], pi):
                return None
            continue
        trivial = np.array_equal(pi, identity(u))
        if u == INPUT or u == s.output:
            if not trivial:
                return None
            assigned[u] = pi
            continue
        assigned[u] = pi
        op = s.nodes[u]["op"]
        ins = s.nodes[u]["inputs"]
        # what u's inputs must then carry
        if op not in PARAMETRIC and op != "concat":  # add or elementwise: same order in
            todo.extend((p, pi) for p in ins)
        elif op == "concat":
            bounds = np.cumsum([0, *(s.widths[p] for p in ins)])
            for p, a, b in zip(ins, bounds[:-1], bounds[1:]):
                block = pi[a:b]
                if not np.all((block >= a) & (block < b)):
                    return None
                todo.append((p, block - a))
        # what u's readers then carry (dense and distance readers absorb it in their params)
        for v in consumers[u]:
            vop = s.nodes[v]["op"]
            if vop == "concat":
                if v not in assigned and v not in pending_concats:
                    pending_concats.append(v)
            elif vop not in PARAMETRIC:  # add or elementwise
                todo.append((v, pi))
    return assigned


def _apply_orders(s: Spec, params: Mapping[str, Array], assigned: Mapping[str, Array]) -> Params:
    """The parametric nodes' parameters with their input and output units in the orders
    ``assigned`` gives (copies; the given arrays are not changed)."""
    out = {k: np.array(v, copy=True) for k, v in params.items()}
    for name in s.order:
        node_ = s.nodes[name]
        if node_["op"] not in PARAMETRIC:
            continue
        pin = assigned.get(node_["inputs"][0])
        pout = assigned.get(name)
        if node_["op"] == "dense":
            W, b = out[f"{name}.W"], out[f"{name}.b"]
            if pin is not None:
                W = W[pin, :]
            if pout is not None:
                W, b = W[:, pout], b[pout]
            out[f"{name}.W"], out[f"{name}.b"] = W, b
        else:
            c, r = out[f"{name}.centroids"], out[f"{name}.radii"]
            if pin is not None:
                c = c[:, pin]
                r = r[:, pin] if r.ndim == 2 else r
            if pout is not None:
                c, r = c[pout], r[pout]
            out[f"{name}.centroids"], out[f"{name}.radii"] = c, r
    return out


def reorder_rename(
    spec: Mapping[str, Any],
    params: Mapping[str, Array],
    order: Sequence[int],
    names: Sequence[str],
) -> tuple[SpecDict, Params]:
    """The spec with its node list reordered (new position i holds old node ``order[i]``) and the
    old node j renamed ``names[j]``; parameters renamed to match."""
    nodes = spec["nodes"]
    rename = {n["name"]: names[j] for j, n in enumerate(nodes)}
    rename[INPUT] = INPUT
    new_nodes = []
    for i in order:
        n = copy.deepcopy(nodes[i])
        n["name"] = rename[n["name"]]
        n["inputs"] = [rename[p] for p in n["inputs"]]
        new_nodes.append(n)
    new = {**copy.deepcopy(dict(spec)), "nodes": new_nodes, "output": rename[spec["output"]]}
    out = {}
    for k, v in params.items():
        node, p = k.rsplit(".", 1)
        out[f"{rename[node]}.{p}"] = np.array(v, copy=True)
    return new, out
