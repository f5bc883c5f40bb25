"""The sweep file (TOML or JSON; the README's "Sweep files"), validated by strict, frozen pydantic
models (:mod:`descentcheck.impl.validated`: unknown keys refused with the closest known one, each
problem one line ``FILE: WHERE: PROBLEM``). ``mode="before"`` validators expand shorthands and
fill the ``<...>`` slots; specs and data resolve relative to the sweep file's folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator as After
from pydantic import BeforeValidator as Before
from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from descentcheck.impl.data import resolve_source
from descentcheck.impl.errors import DataError, HyperparameterError, SpecError
from descentcheck.impl.io import npz_path, read_document
from descentcheck.impl.spec import load_spec
from descentcheck.impl.validated import (
    Table,
    choice,
    first_problem,
    kind_of,
    once,
    one_of,
    problem,
    unique,
)
from descentcheck.registry import optimizers as registry
from descentcheck.theory.random_specs import ACTIVATIONS, LAYERS

from .errors import SweepConfigError

FORMAT_VERSION = 1
CHECKS = ("decrease_every_step", "inside_region", "final_loss", "diverged")
MAX_RANDOM_STEPS = 12
DEFAULT_RANDOM_ROWS = 16
MAX_RANDOM_ROWS = 100_000  # drawn one number at a time: n = 1e10 grew a worker without bound
MAX_SEEDS = 1_000_000  # as expand.MAX_CASES
NonNeg = Annotated[StrictInt, Field(ge=0)]
Positive = Annotated[StrictInt, Field(ge=1)]
Number = Annotated[StrictFloat, Field(allow_inf_nan=False)]
OneOrMore = Before(lambda v: v if isinstance(v, list | tuple) else [v])
NonEmpty = Field(min_length=1)


@dataclass(frozen=True)
class Architecture:
    """A named spec dict (validated with ``impl.spec.parse_spec``)."""

    name: str
    spec: dict[str, Any]


def _architecture(entry: Any, info: pydantic.ValidationInfo) -> Architecture:
    """A spec file or built-in example by name, an inline spec, or ``{name, spec}`` with either
    (an unnamed inline spec is named by its ``name`` key, else ``""``, then ``inline{i}``)."""
    named = isinstance(entry, Mapping) and "spec" in entry
    for k in entry if named else ():
        choice(k, ("name", "spec"), "key")
    name, spec = (entry.get("name"), entry["spec"]) if named else (None, entry)
    if not isinstance(spec, str | Mapping):
        raise problem(f"expected a spec name, a file path or a table, got {kind_of(spec)}")
    try:  # through JSON: plain JSON types only
        raw = load_spec(json.loads(json.dumps(spec, allow_nan=False)), info.context["base"]).raw
    except SpecError as e:
        raise problem(f"invalid spec: {e}" if isinstance(spec, Mapping) else str(e)) from None
    except (TypeError, ValueError) as e:
        raise problem(f"spec is not plain JSON: {e}") from None
    return Architecture(
        str(name or (spec if isinstance(spec, str) else raw.get("name")) or ""), raw
    )


def _named(archs: tuple[Architecture, ...]) -> tuple[Architecture, ...]:
    out = tuple(Architecture(a.name or f"inline{i}", a.spec) for i, a in enumerate(archs))
    unique(tuple(a.name for a in out), "name {!r} is used twice (give one a name)")
    return out


def _exclusions(ops: tuple[str, ...]) -> tuple[str, ...]:
    """Known ops, sorted, each once, leaving a layer op to build with."""
    for i, op in enumerate(ops):
        choice(op, (*ACTIVATIONS, *LAYERS), "op", i)
    if set(LAYERS) <= set(ops):
        raise problem("excludes every layer op; nothing can be generated")
    return tuple(sorted(set(ops)))


class RandomDags(Table):
    """A seeded generator of small random DAG specs with skip connections."""

    count: Positive
    seed: NonNeg = 0
    max_steps: Annotated[StrictInt, Field(ge=2, le=MAX_RANDOM_STEPS)] = 5
    max_params: Positive | None = None
    exclude_ops: Annotated[tuple[str, ...], After(_exclusions)] = ()


def _some(archs: Architectures) -> Architectures:
    if not archs.specs and not archs.random:
        raise problem("no architectures (give specs or random)")
    return archs


class Architectures(Table):
    """The ``architectures`` table (a list is its ``specs``); not empty."""

    specs: Annotated[tuple[Annotated[Any, After(_architecture)], ...], After(_named)] = ()
    random: Annotated[tuple[RandomDags, ...], OneOrMore] = ()


def _data(v: Any, info: pydantic.ValidationInfo) -> Any:
    """A data set's name (or path) alone, or its table; its ``<kind>`` and a file's ``<path>``."""
    v = {"source": v} if isinstance(v, str) else v
    if not isinstance(v, Mapping) or not isinstance(v.get("source"), str):
        return v  # left to the type checks
    if v["source"].strip().lower() == "random":
        if "subsample" in v:
            raise problem("random data take n (rows), not subsample", "subsample")
        return {"n": DEFAULT_RANDOM_ROWS, **v, "<kind>": "random", "source": "random"}
    if "n" in v:
        raise problem("n (rows) is for random data; use subsample for a data set", "n")
    try:
        kind, where = resolve_source(v["source"], info.context["base"])
        path = str(npz_path(where, "data").resolve()) if kind == "file" else None
    except DataError as e:
        raise problem(str(e), "source") from None
    return {
        **v,
        "<kind>": kind,
        "source": where if kind == "builtin" else v["source"],
        "<path>": path,
    }


class DataEntry(Table):
    """One data set: ``kind`` "random", "builtin" (``source`` its name) or "file" (``path``)."""

    source: Annotated[StrictStr, NonEmpty]
    kind: str = Field(validation_alias="<kind>")
    seed: NonNeg = 0
    subsample: Positive | None = None
    n: Annotated[StrictInt, Field(ge=1, le=MAX_RANDOM_ROWS)] | None = None
    path: str | None = Field(None, validation_alias="<path>")


class Axis(Table):
    """One hyperparameter's ``values``, or a range ``min..max`` (``num`` points, or drawn)."""

    values: tuple[Any, ...] | None = Field(None, validation_alias="<values>")
    low: Number | None = Field(None, alias="min")
    high: Number | None = Field(None, alias="max")
    num: Positive | None = None
    log: StrictBool = False


def _range(a: Axis) -> Axis:
    low, high, num = a.low, a.high, a.num or 0
    if a.values is not None:
        return a
    if low is None or high is None:
        raise problem(f"missing key {'min' if low is None else 'max'!r}")
    for bad, why in (
        (low > high, f"min {low} > max {high}"),
        (a.log and low <= 0, f"log = true needs min > 0, got {low}"),
        (num > 1 and low == high, f"{num} points between equal min and max"),
    ):
        if bad:
            raise problem(f"bad range: {why}")
    return a


def _values(h: registry.Hyperparameter, v: Any, *at: str | int) -> tuple[Any, ...]:
    """A list (or one value) of ``h``, each once and each as ``train`` takes it."""
    if v == []:
        raise problem("is empty", *at)
    many, out = isinstance(v, list), []
    for i, x in enumerate(v if many else [v]):
        try:
            out.append(h.check(x))
        except HyperparameterError as e:
            raise problem(str(e), *at, *([i] if many else [])) from None
    return unique(tuple(out), "value {} appears twice", *at)


def _axes(v: Any) -> Any:
    """Check an optimizer block's name and the hyperparameters it takes; gather them as axes."""
    if not isinstance(v, Mapping):
        return v
    if "name" not in v:
        raise problem("missing key 'name'")
    name = choice(v["name"], registry.names(), "optimizer", "name")
    declared = {h.name: h for h in registry.get(name).hyperparameters}
    for k in v:
        choice(k, (*OptimizerBlock.file_keys(), *declared), "key")
    if missing := [p for p, h in declared.items() if h.required and p not in v]:
        raise problem(f"optimizer {name} needs {missing[0]!r}")
    for p, h in declared.items():
        if h.choices and isinstance(v.get(p), Mapping):
            known = ", ".join(h.choices)
            raise problem(f"{p} is a choice ({known}): give a name or a list, not a range", p)
    axes = {
        p: v[p] if isinstance(v[p], Mapping) else {"<values>": _values(h, v[p], p)}
        for p, h in declared.items()
        if p in v
    }
    return {**{k: x for k, x in v.items() if k not in declared}, "<axes>": axes}


def _searched(b: OptimizerBlock) -> OptimizerBlock:
    grid, declared = b.search == "grid", {h.name: h for h in registry.get(b.name).hyperparameters}
    if not grid and b.count is None:
        raise problem("a random search needs count (how many points to draw)")
    if grid and {"count", "seed"} & b.model_fields_set:
        raise problem("count and seed are for search = 'random'")
    for p, a in b.axes.items():
        if grid and a.values is None and a.num is None:
            raise problem("a grid range needs num (how many points), or use a list", p)
        if not grid and a.num is not None:
            raise problem("unknown key 'num' (known: min, max, log)", p)
        for key, end in (("min", a.low), ("max", a.high)):
            if end is not None:
                _values(declared[p], end, p, key)
    return b


class OptimizerBlock(Table):
    """An optimizer's axes, searched on a grid (their product) or at ``count`` random points."""

    name: str
    search: Annotated[str, one_of("search", "grid", "random")] = "grid"
    count: Positive | None = None
    seed: NonNeg = 0
    relative_to_L: StrictBool = False
    axes: dict[str, Annotated[Axis, After(_range)]] = Field(validation_alias="<axes>")


class EstimateL(Table):
    """How L_0 is estimated at w_0 (``theory.smoothness``)."""

    iters: Positive = 60
    seed: NonNeg = 0
    method: Annotated[str, one_of("method", "lanczos", "power")] = "lanczos"


class SeedRange(Table):
    """``seeds = {count, start}``: ``count`` seeds from ``start`` on."""

    count: Positive
    start: NonNeg = 0


def _seeds(v: Any) -> Any:
    r = SeedRange.model_validate(v) if isinstance(v, Mapping) else None
    if r and r.count > MAX_SEEDS:  # before a list of them is made
        raise problem(f"{r.count:,} seeds; a sweep holds at most {MAX_SEEDS:,} cases", "count")
    return list(range(r.start, r.start + r.count)) if r else v


def _version(v: int) -> int:
    if v != FORMAT_VERSION:
        raise problem(f"this descentcheck reads sweep files of version {FORMAT_VERSION}, got {v}")
    return v


class SweepConfig(Table):
    """A validated sweep file; ``architectures`` and ``random_dags`` are its two kinds of nets."""

    path: Path = Field(Path("<sweep>"), validation_alias="<path>")
    text: str = Field("", validation_alias="<text>")
    version: Annotated[StrictInt, After(_version)] = FORMAT_VERSION
    name: Annotated[StrictStr, NonEmpty]
    description: StrictStr = ""
    steps: Positive
    seeds: Annotated[
        tuple[NonNeg, ...], Before(_seeds), NonEmpty, once("seed {} appears twice")
    ] = (0,)
    checks: Annotated[
        tuple[Annotated[str, one_of("check", *CHECKS)], ...],
        NonEmpty,
        After(lambda v: tuple(c for c in CHECKS if c in v)),
    ] = CHECKS
    table: Annotated[
        Architectures, Before(lambda v: {"specs": v} if isinstance(v, list) else v), After(_some)
    ] = Field(alias="architectures")
    data: Annotated[
        tuple[Annotated[DataEntry, Before(_data)], ...],
        OneOrMore,
        NonEmpty,
        once("the same data set appears twice"),
    ]
    optimizers: Annotated[
        tuple[Annotated[OptimizerBlock, Before(_axes), After(_searched)], ...], OneOrMore, NonEmpty
    ]
    estimate_L: EstimateL = EstimateL()

    @property
    def architectures(self) -> tuple[Architecture, ...]:
        return self.table.specs

    @property
    def random_dags(self) -> tuple[RandomDags, ...]:
        return self.table.random

    def to_json(self) -> dict[str, Any]:
        """The validated config as plain JSON (stored in the database's ``meta``)."""
        return self.model_dump(mode="json", by_alias=True, exclude={"path", "text"})


def load_config(path: str | os.PathLike[str]) -> SweepConfig:
    """Read and validate a sweep file: JSON by its suffix or a leading ``{``, else TOML."""
    raw, text = read_document(path, "sweep file", SweepConfigError, toml=True)
    return parse_config(raw, path, text)


def parse_config(raw: Any, path: str | os.PathLike[str] = "<sweep>", text: str = "") -> SweepConfig:
    """Validate an already-parsed sweep dict; relative paths resolve against ``path``'s folder.
    A problem is pydantic's first error as ``FILE: WHERE: PROBLEM`` (slots left out)."""
    p = Path(path)
    base = p.parent if p.name != "<sweep>" else Path.cwd()
    raw = {"name": p.stem, **raw, "<path>": p, "<text>": text} if isinstance(raw, Mapping) else raw
    try:
        return SweepConfig.model_validate(raw, context={"base": base})
    except pydantic.ValidationError as e:
        raise SweepConfigError(f"{p}: {first_problem(e)}") from None
