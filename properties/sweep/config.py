"""The sweep file (TOML or JSON; the README's "Sweep files"), validated by strict, frozen pydantic
models. ``mode="before"`` validators refuse unknown keys (naming the closest known one), expand
shorthands and fill the ``<...>`` slots, keys that no file or message shows. Every problem is one
line ``FILE: WHERE: PROBLEM``: pydantic's first error as ``MESSAGES`` words it, or a validator's
:func:`_problem`. Specs and data resolve as everywhere else, relative to the sweep file's folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from descentcheck.impl.data import resolve_source
from descentcheck.impl.errors import (
    DataError,
    HyperparameterError,
    SpecError,
    did_you_mean,
    located,
)
from descentcheck.impl.io import read_document
from descentcheck.impl.spec import load_spec
from descentcheck.registry import optimizers as registry
from descentcheck.theory.random_specs import ACTIVATIONS, LAYERS

from .errors import SweepConfigError

FORMAT_VERSION = 1
CHECKS = ("decrease_every_step", "inside_region", "final_loss", "diverged")
MAX_RANDOM_STEPS = 12
DEFAULT_RANDOM_ROWS = 16
MAX_RANDOM_ROWS = 100_000  # drawn one number at a time: n = 1e10 grew a worker without bound
MAX_SEEDS = 1_000_000  # as expand.MAX_CASES
MESSAGES = {  # pydantic's error types, worded; {v} is the input, {kind} its kind (_kind)
    "greater_than_equal": "must be >= {ge:g}, got {v}",
    "less_than_equal": "must be <= {le:g}, got {v}",
    "finite_number": "must be finite, got {v}",
    "too_short": "is empty",
    "int_type": "expected an integer, got {kind}",
    "float_type": "expected a number, got {kind}",
    "bool_type": "expected true or false, got {kind}",
    "string_type": "expected a string, got {kind}",
    "string_too_short": "expected a non-empty string, got {kind}",
    "tuple_type": "expected a list, got {kind}",
    "model_type": "expected a table, got {kind}",
}


def _problem(text: str, *at: str | int) -> PydanticCustomError:
    """A validation error whose message is ``text``, ``at`` keys below the current place."""
    return PydanticCustomError("sweep", "{text}", {"text": text, "at": at})


def _kind(v: Any) -> str:
    """A value as a message names it: ``a number (3)``, ``a table``, ``null``..."""
    if isinstance(v, bool):
        return f"a boolean ({str(v).lower()})"
    if isinstance(v, int | float | str):
        return f"{'a string' if isinstance(v, str) else 'a number'} ({v!r})"
    if isinstance(v, Mapping | list) or v is None:
        return "a table" if isinstance(v, Mapping) else "a list" if isinstance(v, list) else "null"
    return f"a {type(v).__name__} ({v})"  # TOML's dates and times


def _choice(v: Any, known: tuple[str, ...], what: str, *at: str | int) -> str:
    """``v`` if one of ``known``; else "unknown WHAT", the known ones and the closest one (for a
    key: the closest one, else the known ones)."""
    if not isinstance(v, str) or v not in known:
        listed = f" (known: {', '.join(known)})"
        tail = did_you_mean(v, known, listed) if what == "key" else listed + did_you_mean(v, known)
        raise _problem(f"unknown {what} {v!r}{tail}", *at)
    return v


def _unique(items: tuple[Any, ...], problem: str) -> tuple[Any, ...]:
    """``items``, each once; a repeat is ``problem`` (``{}`` the item) at its index."""
    seen: set[Any] = set()  # not items[:i]: quadratic, and seeds may number a million
    for i, v in enumerate(items):
        if v in seen:
            raise _problem(problem.format(v), i)
        seen.add(v)
    return items


def _one_of(what: str, *known: str) -> AfterValidator:
    return AfterValidator(lambda v: _choice(v, known, what))


def _once(problem: str) -> AfterValidator:
    return AfterValidator(lambda items: _unique(items, problem))


NonNeg = Annotated[StrictInt, Field(ge=0)]
Positive = Annotated[StrictInt, Field(ge=1)]
Number = Annotated[StrictFloat, Field(allow_inf_nan=False)]
OneOrMore = pydantic.BeforeValidator(lambda v: v if isinstance(v, list | tuple) else [v])
NonEmpty = Field(min_length=1)


class _Table(pydantic.BaseModel, frozen=True, extra="forbid", populate_by_name=True):
    """A table of the file; its keys are its fields' names (or aliases), less the slots."""

    @classmethod
    def _file_keys(cls) -> tuple[str, ...]:
        names = [f.validation_alias or n for n, f in cls.model_fields.items()]
        return tuple(n for n in names if not n.startswith("<"))

    @pydantic.model_validator(mode="before")
    @classmethod
    def _known(cls, v: Any) -> Any:
        for k in v if isinstance(v, Mapping) else ():
            if not str(k).startswith("<"):
                _choice(k, cls._file_keys(), "key")
        return v


@dataclass(frozen=True)
class Architecture:
    """A named spec dict (validated with ``impl.spec.parse_spec``)."""

    name: str
    spec: dict[str, Any]


def _architecture(entry: Any, info: pydantic.ValidationInfo) -> Architecture:
    """One ``specs`` entry: a spec file or built-in example by name, an inline spec, or
    ``{name, spec}`` with either; unnamed inline specs get ``""`` (then ``inline{i}``)."""
    name, spec = None, entry
    if isinstance(entry, Mapping) and "spec" in entry:
        for k in entry:
            _choice(k, ("name", "spec"), "key")
        name, spec = entry.get("name"), entry["spec"]
    if not isinstance(spec, str | Mapping):
        raise _problem(f"expected a spec name, a file path or a table, got {_kind(spec)}")
    try:
        plain = json.loads(json.dumps(spec, allow_nan=False))  # plain JSON types only
        raw = load_spec(plain, info.context["base"]).raw
    except SpecError as e:
        raise _problem(f"invalid spec: {e}" if isinstance(spec, Mapping) else str(e)) from None
    except (TypeError, ValueError) as e:
        raise _problem(f"spec is not plain JSON: {e}") from None
    title = name or (spec if isinstance(spec, str) else raw.get("name"))
    return Architecture(str(title or ""), dict(raw))


def _named(archs: tuple[Architecture, ...]) -> tuple[Architecture, ...]:
    out = tuple(Architecture(a.name or f"inline{i}", a.spec) for i, a in enumerate(archs))
    _unique(tuple(a.name for a in out), "name {!r} is used twice (give one a name)")
    return out


def _exclusions(ops: tuple[str, ...]) -> tuple[str, ...]:
    """Known ops, sorted, each once, leaving a layer op to build with."""
    for i, op in enumerate(ops):
        _choice(op, (*ACTIVATIONS, *LAYERS), "op", i)
    if set(LAYERS) <= set(ops):
        raise _problem("excludes every layer op; nothing can be generated")
    return tuple(sorted(set(ops)))


class RandomDags(_Table):
    """A seeded generator of small random DAG specs with skip connections."""

    count: Positive
    seed: NonNeg = 0
    max_steps: Annotated[StrictInt, Field(ge=2, le=MAX_RANDOM_STEPS)] = 5
    max_params: Positive | None = None
    exclude_ops: Annotated[tuple[str, ...], AfterValidator(_exclusions)] = ()


class Architectures(_Table):
    """The ``architectures`` table (a list is its ``specs``); not empty."""

    specs: Annotated[
        tuple[Annotated[Any, AfterValidator(_architecture)], ...], AfterValidator(_named)
    ] = ()
    random: Annotated[tuple[RandomDags, ...], OneOrMore] = ()

    @pydantic.model_validator(mode="before")
    @classmethod
    def _just_specs(cls, v: Any) -> Any:
        return {"specs": v} if isinstance(v, list) else v

    @pydantic.model_validator(mode="after")
    def _some(self) -> Architectures:
        if not self.specs and not self.random:
            raise _problem("no architectures (give specs or random)")
        return self


class DataEntry(_Table):
    """One data set: ``kind`` "random", "builtin" (``source`` its name) or "file" (``path``)."""

    source: Annotated[StrictStr, NonEmpty]
    kind: str = Field(validation_alias="<kind>")
    seed: NonNeg = 0
    subsample: Positive | None = None
    n: Annotated[StrictInt, Field(ge=1, le=MAX_RANDOM_ROWS)] | None = None
    path: str | None = Field(None, validation_alias="<path>")

    @pydantic.model_validator(mode="before")
    @classmethod
    def _resolve(cls, v: Any, info: pydantic.ValidationInfo) -> Any:
        v = {"source": v} if isinstance(v, str) else v
        if not isinstance(v, Mapping) or not isinstance(v.get("source"), str):
            return v  # left to the type checks
        if v["source"].strip().lower() == "random":
            if "subsample" in v:
                raise _problem("random data take n (rows), not subsample", "subsample")
            return {"n": DEFAULT_RANDOM_ROWS, **v, "<kind>": "random", "source": "random"}
        if "n" in v:
            raise _problem("n (rows) is for random data; use subsample for a data set", "n")
        try:
            kind, where = resolve_source(v["source"], info.context["base"])
        except DataError as e:
            raise _problem(str(e), "source") from None
        if kind == "builtin":
            return {**v, "<kind>": kind, "source": where}
        if not Path(where).is_file():
            raise _problem(f"data file not found: {where}", "source")
        return {**v, "<kind>": kind, "<path>": str(Path(where).resolve())}


class Axis(_Table):
    """One hyperparameter's ``values``, or a range ``min..max`` (``num`` points, or drawn)."""

    values: tuple[Any, ...] | None = Field(None, validation_alias="<values>")
    low: Number | None = Field(None, alias="min")
    high: Number | None = Field(None, alias="max")
    num: Positive | None = None
    log: StrictBool = False

    @pydantic.model_validator(mode="after")
    def _range(self) -> Axis:
        low, high, num = self.low, self.high, self.num or 0
        if self.values is not None:
            return self
        if low is None or high is None:
            raise _problem(f"missing key {'min' if low is None else 'max'!r}")
        for bad, problem in (
            (low > high, f"min {low} > max {high}"),
            (self.log and low <= 0, f"log = true needs min > 0, got {low}"),
            (num > 1 and low == high, f"{num} points between equal min and max"),
        ):
            if bad:
                raise _problem(f"bad range: {problem}")
        return self


def _values(h: registry.Hyperparameter, v: Any, *at: str | int) -> tuple[Any, ...]:
    """A list (or one value) of ``h``, each once: one of its choices, or a number in its declared
    interval (the registry's check and wording, as ``train`` gives them)."""
    out: list[Any] = []
    for i, x in enumerate(v if isinstance(v, list) else [v]):
        here = (*at, i) if isinstance(v, list) else at
        if h.choices:
            x = _choice(x, h.choices, h.name, *here)
        elif isinstance(x, bool) or not isinstance(x, int | float):
            raise _problem(f"expected a number, got {_kind(x)}", *here)
        try:
            x = h.check(x)
        except HyperparameterError as e:
            raise _problem(str(e), *here) from None
        if x in out:
            raise _problem(f"value {x} appears twice", *here)
        out.append(x)
    if not out:
        raise _problem("is empty", *at)
    return tuple(out)


class OptimizerBlock(_Table):
    """An optimizer's axes, searched on a grid (their product) or at ``count`` random points."""

    name: str
    search: Annotated[str, _one_of("search", "grid", "random")] = "grid"
    count: Positive | None = None
    seed: NonNeg = 0
    relative_to_L: StrictBool = False
    axes: dict[str, Axis] = Field(validation_alias="<axes>")

    @pydantic.model_validator(mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        """Check the name and the hyperparameters it takes; gather them under ``<axes>``."""
        if not isinstance(v, Mapping) or "<axes>" in v:
            return v
        if "name" not in v:
            raise _problem("missing key 'name'")
        name = _choice(v["name"], registry.names(), "optimizer", "name")
        declared = {h.name: h for h in registry.get(name).hyperparameters}
        for k in v:
            _choice(k, (*cls._file_keys(), *declared), "key")
        if missing := [p for p, h in declared.items() if h.required and p not in v]:
            raise _problem(f"optimizer {name} needs {missing[0]!r}")
        for p in (p for p, h in declared.items() if h.choices and isinstance(v.get(p), Mapping)):
            known = ", ".join(declared[p].choices)
            raise _problem(f"{p} is a choice ({known}): give a name or a list, not a range", p)
        axes = {
            p: v[p] if isinstance(v[p], Mapping) else {"<values>": _values(h, v[p], p)}
            for p, h in declared.items()
            if p in v
        }
        return {**{k: x for k, x in v.items() if k not in declared}, "<axes>": axes}

    @pydantic.model_validator(mode="after")
    def _searched(self) -> OptimizerBlock:
        grid, hs = self.search == "grid", registry.get(self.name).hyperparameters
        if not grid and self.count is None:
            raise _problem("a random search needs count (how many points to draw)")
        if grid and {"count", "seed"} & self.model_fields_set:
            raise _problem("count and seed are for search = 'random'")
        for p, a in self.axes.items():
            if grid and a.values is None and a.num is None:
                raise _problem("a grid range needs num (how many points), or use a list", p)
            if not grid and a.num is not None:
                raise _problem("unknown key 'num' (known: min, max, log)", p)
            for key, end in (("min", a.low), ("max", a.high)):
                if end is not None:
                    _values(next(h for h in hs if h.name == p), end, p, key)
        return self


class EstimateL(_Table):
    """How L_0 is estimated at w_0 (``theory.smoothness``)."""

    iters: Positive = 60
    seed: NonNeg = 0
    method: Annotated[str, _one_of("method", "lanczos", "power")] = "lanczos"


class SeedRange(_Table):
    """``seeds = {count, start}``: ``count`` seeds from ``start`` on."""

    count: Positive
    start: NonNeg = 0


def _seeds(v: Any) -> Any:
    r = SeedRange.model_validate(v) if isinstance(v, Mapping) else None
    if r and r.count > MAX_SEEDS:  # before a list of them is made
        raise _problem(f"{r.count:,} seeds; a sweep holds at most {MAX_SEEDS:,} cases", "count")
    return list(range(r.start, r.start + r.count)) if r else v


def _version(v: int) -> int:
    if v != FORMAT_VERSION:
        raise _problem(f"this descentcheck reads sweep files of version {FORMAT_VERSION}, got {v}")
    return v


class SweepConfig(_Table):
    """A validated sweep file; ``architectures`` and ``random_dags`` are its two kinds of nets."""

    path: Path = Field(Path("<sweep>"), validation_alias="<path>")
    text: str = Field("", validation_alias="<text>")
    version: Annotated[StrictInt, AfterValidator(_version)] = FORMAT_VERSION
    name: Annotated[StrictStr, NonEmpty]
    description: StrictStr = ""
    steps: Positive
    seeds: Annotated[
        tuple[NonNeg, ...],
        pydantic.BeforeValidator(_seeds),
        NonEmpty,
        _once("seed {} appears twice"),
    ] = (0,)
    checks: Annotated[
        tuple[Annotated[str, _one_of("check", *CHECKS)], ...],
        NonEmpty,
        AfterValidator(lambda v: tuple(c for c in CHECKS if c in v)),
    ] = CHECKS
    table: Architectures = Field(alias="architectures")
    data: Annotated[
        tuple[DataEntry, ...], OneOrMore, NonEmpty, _once("the same data set appears twice")
    ]
    optimizers: Annotated[tuple[OptimizerBlock, ...], OneOrMore, NonEmpty]
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


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file: JSON by its suffix or a leading ``{``, else TOML."""
    raw, text = read_document(path, "sweep file", SweepConfigError, toml=True)
    return parse_config(raw, path, text)


def parse_config(raw: Any, path: str | Path = "<sweep>", text: str = "") -> SweepConfig:
    """Validate an already-parsed sweep dict; relative paths resolve against ``path``'s folder.
    A problem is pydantic's first error as ``FILE: WHERE: PROBLEM`` (slots left out)."""
    p = Path(path)
    base = p.parent if p.name != "<sweep>" else Path.cwd()
    raw = {"name": p.stem, **raw, "<path>": p, "<text>": text} if isinstance(raw, Mapping) else raw
    try:
        return SweepConfig.model_validate(raw, context={"base": base})
    except pydantic.ValidationError as e:
        err = e.errors(include_url=False)[0]
        ctx, v, msg = err.get("ctx") or {}, err.get("input"), err["msg"]
        loc = [k for k in (*err["loc"], *ctx.get("at", ())) if not str(k).startswith("<")]
        if err["type"] == "missing":
            loc, msg = loc[:-1], f"missing key {loc[-1]!r}"
        text = MESSAGES.get(err["type"], "{msg}").format(**ctx, v=v, kind=_kind(v), msg=msg)
        where = located(loc)
        raise SweepConfigError(f"{p}: {where or 'top level'}: {text}") from None
