"""Architecture spec v1: load, validate, and order a DAG network description.

A spec is JSON (see ``DESIGN.md``)::

    {"inputs": 3, "output": "out", "loss": "mse",
     "nodes": [{"name": "h1", "op": "dense", "units": 6, "inputs": ["input"]}, ...]}

Nodes may be listed in any order; :func:`parse_spec` computes a topological order (Kahn's
algorithm, ties broken by listing order, so the order is deterministic) and every node's width.
Each mistake raises :class:`SpecError` with a one-line message that names it. What each op
accepts (its keys, their types and choices, how many inputs, its output width) is read from the
op registry (:mod:`descentcheck.registry.ops`), never written here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from descentcheck.registry import ops as registry

from .errors import SpecError, did_you_mean
from .io import DuplicateKey, exists, json_loads, json_problem, read_document

INPUT = "input"
MAX_WIDTH = 2**31 - 1
SPEC_VERSION = 1  # "version" may be left out; any other value is refused, not guessed at
_COUNTS = {1: "one", 2: "two", 3: "three"}


@dataclass(frozen=True)
class Spec:
    """A validated spec: the raw dict, the nodes by name, a topological order and the widths."""

    raw: dict[str, Any]
    inputs: int
    output: str
    loss: str
    nodes: dict[str, dict[str, Any]]
    order: tuple[str, ...]
    widths: dict[str, int]

    @property
    def out_width(self) -> int:
        return self.widths[self.output]

    def to_json(self) -> str:
        return json.dumps(self.raw, indent=1)


def load_spec(source: str | Path | Mapping[str, Any], base: str | Path = ".") -> Spec:
    """Parse a spec from a dict, a JSON string, a JSON file's path (relative to ``base``) or,
    where no such file exists, a built-in example's name (:mod:`descentcheck.impl.examples`);
    a bare word that is neither is a mistyped name, not a missing file."""
    if isinstance(source, Mapping):
        return parse_spec(source)
    if not isinstance(source, str | os.PathLike):
        raise SpecError(
            "a spec is an object, JSON text, a file path or a built-in example's name, got "
            f"{type(source).__name__}"
        )
    text = os.fspath(source)  # str() of a PathLike other than Path is no path
    if not text.strip():  # Path("") is the current folder: "spec file . is a directory"
        raise SpecError("the spec is empty: give an object, JSON text, a file or an example")
    if text.lstrip().startswith("{"):
        try:
            return parse_spec(json_loads(text))
        except DuplicateKey as e:
            raise SpecError(f"spec: {e}") from None
        except json.JSONDecodeError as e:
            raise SpecError(f"malformed JSON in spec: {json_problem(e)}") from None
        except RecursionError:
            raise SpecError("spec nested too deeply to be a spec") from None
    path = Path(base) / text
    if not exists(path) and not path.suffix and len(Path(text).parts) == 1:
        from .examples import EXAMPLES

        if text in EXAMPLES:
            return parse_spec(EXAMPLES[text])
        raise SpecError(
            f"{text!r} is neither a spec file (looked in {Path(base).resolve()}) nor a built-in "
            f"example ({', '.join(EXAMPLES)}){did_you_mean(text, EXAMPLES)}"
        )
    return parse_spec(read_document(path, "spec file", SpecError)[0])


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{what} must be a positive integer, got {value!r}")
    if value > MAX_WIDTH:  # numpy's shapes are C longs: 1e24 would be an OverflowError
        digits = len(str(value))
        got = value if digits <= 30 else f"a number of {digits} digits"  # one line, not 4000 digits
        raise SpecError(f"{what} must be at most {MAX_WIDTH} (2^31 - 1), got {got}")
    return value


def _check_node(name: str, node: Mapping[str, Any]) -> None:
    """One node's op, keys, key values and number of inputs, as the op registry declares them."""
    op = node.get("op")
    info = registry.get(op) if isinstance(op, str) else None
    if info is None or info.kind == "loss":
        if op is None:
            raise SpecError(f'node {name!r} has no "op"')
        known = registry.layer_names()
        near = did_you_mean(op, known, f"; known: {', '.join(known)}")
        from descentcheck.registry.plugins import stray_groups

        raise SpecError(f"unknown op {op!r} in node {name!r}{near}{stray_groups()}")
    extra = set(node) - {"name", "op", "inputs"} - info.key_names
    if extra:
        raise SpecError(f"unknown key {sorted(extra)[0]!r} in node {name!r} (op {op})")
    ins = node.get("inputs")
    if not isinstance(ins, list) or not ins or not all(isinstance(s, str) for s in ins):
        raise SpecError(f"node {name!r} needs 'inputs', a nonempty list of node names")
    for key in info.keys:
        value = node.get(key.name, key.default)
        if key.type == "int" and (key.required or key.name in node):
            _positive_int(value, f"{key.name!r} of node {name!r}")
        if key.choices and value not in key.choices:
            raise SpecError(
                f"{key.name!r} of node {name!r} must be one of {', '.join(key.choices)}, "
                f"got {value!r}"
            )
    least, most = info.arity
    arity = len(ins)
    if least == most and arity != least:
        raise SpecError(
            f"node {name!r}: {op} takes exactly {_COUNTS.get(least, least)} input"
            f"{'s' if least > 1 else ''}, got {arity}"
        )
    if arity < least:
        raise SpecError(
            f"node {name!r}: {op} needs {_COUNTS.get(least, least)} or more inputs, got {arity}"
        )
    if most is not None and arity > most:
        raise SpecError(f"node {name!r}: {op} takes at most {most} inputs, got {arity}")


def parse_spec(raw: Mapping[str, Any]) -> Spec:
    """Validate a spec dict; see the module docstring."""
    if not isinstance(raw, Mapping):
        raise SpecError(f"a spec must be a JSON object, got {type(raw).__name__}")
    unknown = set(raw) - {"inputs", "output", "loss", "nodes", "version", "name", "description"}
    if unknown:
        raise SpecError(f"unknown top-level key {sorted(unknown)[0]!r} in spec")
    for key in ("inputs", "output", "loss", "nodes"):
        if key not in raw:
            raise SpecError(f"spec has no {key!r}")
    if raw.get("version", SPEC_VERSION) != SPEC_VERSION or isinstance(raw.get("version"), bool):
        raise SpecError(
            f"this descentcheck reads specs of version {SPEC_VERSION}, got {raw['version']!r}"
        )
    for key in ("name", "description"):
        if not isinstance(raw.get(key, ""), str):
            raise SpecError(f"spec {key!r} must be a string, got {raw[key]!r}")
    n_in = _positive_int(raw["inputs"], "'inputs'")
    loss = raw["loss"]
    losses = registry.loss_names()
    if not isinstance(loss, str) or loss not in losses:
        raise SpecError(f"unknown loss {loss!r}; known: {', '.join(losses)}")
    nodes_list = raw["nodes"]
    if not isinstance(nodes_list, list) or not nodes_list:
        raise SpecError("'nodes' must be a nonempty list")

    nodes: dict[str, dict[str, Any]] = {}
    for i, node in enumerate(nodes_list):
        if not isinstance(node, Mapping):
            raise SpecError(f"node #{i} must be an object")
        name = node.get("name")
        if "name" in node and not isinstance(name, str):
            raise SpecError(f"node #{i}'s name must be a string, got {name!r:.40}")
        if not isinstance(name, str) or not name:
            raise SpecError(f"node #{i} has no name")
        if name == INPUT:
            raise SpecError(f"node name {INPUT!r} is reserved for the network input")
        if "." in name:
            raise SpecError(f"node name {name!r} must not contain '.' (it separates NODE.PARAM)")
        if name in nodes:
            raise SpecError(f"duplicate node name {name!r}")
        _check_node(name, node)
        nodes[name] = dict(node)

    for name, node in nodes.items():
        for parent in node["inputs"]:
            if parent != INPUT and parent not in nodes:
                raise SpecError(f"node {name!r} has unknown input {parent!r}")
    output = raw["output"]
    if not isinstance(output, str) or output not in nodes:
        raise SpecError(f"output {output!r} is not a node of the spec")

    order = _topological_order(nodes)
    widths = _widths(n_in, nodes, order)
    _check_reaches_output(nodes, output)
    least = registry.get(loss).min_width  # type: ignore[union-attr]
    if widths[output] < least:
        raise SpecError(
            f"{loss} needs an output of width {least} or more; {output!r} has width "
            f"{widths[output]}"
        )
    return Spec(dict(raw), n_in, output, loss, nodes, order, widths)


def _topological_order(nodes: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    indegree = {name: sum(p != INPUT for p in node["inputs"]) for name, node in nodes.items()}
    children: dict[str, list[str]] = {name: [] for name in nodes}
    for name, node in nodes.items():
        for parent in node["inputs"]:
            if parent != INPUT:
                children[parent].append(name)
    position = {name: i for i, name in enumerate(nodes)}
    ready = [name for name in nodes if indegree[name] == 0]
    order: list[str] = []
    while ready:
        ready.sort(key=position.__getitem__)
        name = ready.pop(0)
        order.append(name)
        for child in children[name]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    if len(order) < len(nodes):
        cycle = _find_cycle(nodes, set(nodes) - set(order))
        raise SpecError(f"the spec has a cycle: {_path_words(cycle)}")
    return tuple(order)


def _path_words(path: list[str], ends: int = 4) -> str:
    """``a -> b -> c``; a long path by its first and last ``ends`` names and its length (a
    20,000-node cycle made an error line of 188,922 characters)."""
    if len(path) <= 2 * ends + 1:
        return " -> ".join(path)
    head, tail = " -> ".join(path[:ends]), " -> ".join(path[-ends:])
    return f"{head} -> ... -> {tail} ({len(path) - 1:,} nodes)"


def _find_cycle(nodes: dict[str, dict[str, Any]], stuck: set[str]) -> list[str]:
    """A cycle among the nodes Kahn's algorithm could not order, as a closed path of names."""
    start = next(name for name in nodes if name in stuck)  # the first in the spec's order
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    # every stuck node has a stuck parent, so walking parents must revisit a node
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(p for p in nodes[node]["inputs"] if p in stuck)
    cycle = [*path[seen[node] :], node]
    return cycle[::-1]


def _widths(n_in: int, nodes: dict[str, dict[str, Any]], order: tuple[str, ...]) -> dict[str, int]:
    widths = {INPUT: n_in}
    for name in order:
        node = nodes[name]
        op = node["op"]
        ins = [widths[p] for p in node["inputs"]]
        rule = registry.get(op).width  # type: ignore[union-attr]
        if rule == "equal" and len(set(ins)) != 1:
            desc = ", ".join(f"{p} ({w})" for p, w in zip(node["inputs"], ins))
            raise SpecError(f"width mismatch at {op} node {name!r}: inputs {desc}")
        if rule == "sum":
            widths[name] = sum(ins)
        elif rule == "units":
            widths[name] = node["units"]
        else:  # "input" (one input) or "equal"
            widths[name] = ins[0]
    return widths


def _check_reaches_output(nodes: dict[str, dict[str, Any]], output: str) -> None:
    reached = {output}
    stack = [output]
    while stack:
        for parent in nodes[stack.pop()]["inputs"]:
            if parent != INPUT and parent not in reached:
                reached.add(parent)
                stack.append(parent)
    dead = [name for name in nodes if name not in reached]
    if dead:
        raise SpecError(f"node {dead[0]!r} does not feed the output {output!r}")
    if not any(INPUT in nodes[n]["inputs"] for n in reached):
        raise SpecError(f"the output {output!r} does not depend on the network input")
