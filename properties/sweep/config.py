"""The sweep file (TOML, or JSON), validated by pydantic into a :class:`SweepConfig`.

The format, key by key, is the README's "Sweep files" section. The models are strict (no
string-to-number coercion) and frozen; an unknown key is refused with the closest known one.
Every problem raises :class:`SweepConfigError` with one line, ``FILE: WHERE: PROBLEM``:
:func:`_one_line` writes pydantic's first error so (``MESSAGES`` words its error types; a
:func:`_problem` raised by a validator carries its own text). Shorthands (a name for a table,
one value for a list, ``seeds = {count, start}``) are expanded by ``mode="before"`` validators;
a key spelled ``<...>`` is an internal slot they fill, never written in a file nor a message.
Specs and data sources resolve as everywhere else (``impl.spec.load_spec``,
``impl.data.resolve_source``), relative to the sweep file's folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from descentcheck.impl.errors import DataError, HyperparameterError, SpecError, did_you_mean
from descentcheck.impl.io import read_document

from .errors import SweepConfigError

FORMAT_VERSION = 1
CHECKS = ("decrease_every_step", "inside_region", "final_loss", "diverged")
MAX_RANDOM_STEPS = 12
DEFAULT_RANDOM_ROWS = 16


def _problem(text: str, *at: str | int) -> PydanticCustomError:
    """A validation error whose message is ``text``, ``at`` keys below the current place."""
    return PydanticCustomError("sweep", "{text}", {"text": text, "at": at})


def _kind(v: Any) -> str:
    """A value as a message names it: ``a number (3)``, ``a table``, ``null``..."""
    if isinstance(v, bool):
        return f"a boolean ({str(v).lower()})"
    if isinstance(v, int | float | str):
        return f"{'a string' if isinstance(v, str) else 'a number'} ({v!r})"
    return "a table" if isinstance(v, Mapping) else "a list" if isinstance(v, list) else "null"


def _choice(v: Any, known: tuple[str, ...], what: str, *at: str | int) -> str:
    if not isinstance(v, str) or v not in known:
        hint = did_you_mean(v, known)
        raise _problem(f"unknown {what} {v!r} (known: {', '.join(known)}){hint}", *at)
    return v


def _keys(given: Iterable[Any], known: tuple[str, ...]) -> None:
    for k in given:
        if k not in known:
            hint = did_you_mean(k, known, f" (known: {', '.join(known)})")
            raise _problem(f"unknown key {k!r}{hint}")


def _one_of(what: str, known: tuple[str, ...]) -> AfterValidator:
    return AfterValidator(lambda v: _choice(v, known, what))


def _unique(items: tuple[Any, ...], problem: str = "the same {} appears twice") -> tuple:
    """``items``, each once; a repeat is ``problem`` (``{}`` the item) at its index."""
    for i, v in enumerate(items):
        if v in items[:i]:
            raise _problem(problem.format(v), i)
    return items


NonNeg = Annotated[StrictInt, Field(ge=0)]
Positive = Annotated[StrictInt, Field(ge=1)]
Number = Annotated[StrictFloat, Field(allow_inf_nan=False)]
OneOrMore = BeforeValidator(lambda v: v if isinstance(v, list | tuple) else [v])


class _Table(BaseModel):
    """A table of the file: unknown keys are named with the closest known one."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @classmethod
    def _file_keys(cls) -> tuple[str, ...]:
        names = [f.validation_alias or f.alias or n for n, f in cls.model_fields.items()]
        return tuple(n for n in names if not n.startswith("<"))

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            _keys([k for k in data if not str(k).startswith("<")], cls._file_keys())
        return data


@dataclass(frozen=True)
class Architecture:
    """A named spec dict (validated with ``impl.spec.parse_spec``)."""

    name: str
    spec: dict[str, Any]


def _architecture(entry: Any, info: ValidationInfo) -> Architecture:
    """One ``specs`` entry: a spec file or built-in example by name, an inline spec, or
    ``{name, spec}`` with either; unnamed inline specs get ``""`` (then ``inline{i}``)."""
    from descentcheck.impl.spec import load_spec

    name, spec = None, entry
    if isinstance(entry, Mapping) and "spec" in entry:
        _keys(entry, ("name", "spec"))
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
    out = tuple(replace(a, name=a.name or f"inline{i}") for i, a in enumerate(archs))
    _unique(tuple(a.name for a in out), "name {!r} is used twice (give one a name)")
    return out


def _exclusions(ops: tuple[str, ...]) -> tuple[str, ...]:
    """Known ops, sorted, each once, leaving a layer op to build with."""
    from descentcheck.theory.random_specs import ACTIVATIONS, LAYERS

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
    specs: Annotated[
        tuple[Annotated[Any, AfterValidator(_architecture)], ...], AfterValidator(_named)
    ] = ()
    random: Annotated[tuple[RandomDags, ...], OneOrMore] = ()

    @model_validator(mode="before")
    @classmethod
    def _just_specs(cls, v: Any) -> Any:
        return {"specs": v} if isinstance(v, list) else v

    @model_validator(mode="after")
    def _some(self) -> Architectures:
        if not self.specs and not self.random:
            raise _problem("no architectures (give specs or random)")
        return self


class DataEntry(_Table):
    """One data set. ``kind`` is ``"random"`` (drawn per case to fit the spec), ``"builtin"``
    (``source`` its name) or ``"file"`` (``path`` absolute)."""

    source: Annotated[StrictStr, Field(min_length=1)]
    kind: str = Field(validation_alias="<kind>")
    seed: NonNeg = 0
    subsample: Positive | None = None
    n: Positive | None = None
    path: str | None = Field(None, validation_alias="<path>")

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, v: Any, info: ValidationInfo) -> Any:
        from descentcheck.impl.data import resolve_source

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
    """One hyperparameter's values: explicit ``values``, or a range ``min..max`` (``num``
    points for a grid, drawn for a random search; geometric / log-uniform with ``log``)."""

    values: tuple[Any, ...] | None = Field(None, validation_alias="<values>")
    low: Number | None = Field(None, alias="min")
    high: Number | None = Field(None, alias="max")
    num: Positive | None = None
    log: StrictBool = False

    @model_validator(mode="after")
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


def _value(h: Any, x: Any, *at: str | int) -> Any:
    """One value of hyperparameter ``h``: one of its choices, or a number in its declared
    interval (the registry's check and wording, as ``train`` gives them)."""
    if h.choices:
        return _choice(x, h.choices, h.name, *at)
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise _problem(f"expected a number, got {_kind(x)}", *at)
    try:
        return h.check(x)
    except HyperparameterError as e:
        raise _problem(str(e), *at) from None


def _values(h: Any, v: Any) -> tuple[Any, ...]:
    """A list (or one value) of hyperparameter ``h``, each value once."""
    items, out = (v if isinstance(v, list) else [v]), []
    if not items:
        raise _problem("is empty", h.name)
    for i, x in enumerate(items):
        at = (h.name, i) if isinstance(v, list) else (h.name,)
        if (x := _value(h, x, *at)) in out:
            raise _problem(f"value {x} appears twice", *at)
        out.append(x)
    return tuple(out)


class OptimizerBlock(_Table):
    """An optimizer of the registry and its hyperparameters' axes, searched on a grid (the
    product of the axes) or at ``count`` random points drawn from ``seed``."""

    name: str
    search: Annotated[str, _one_of("search", ("grid", "random"))] = "grid"
    count: Positive | None = None
    seed: NonNeg = 0
    relative_to_L: StrictBool = False
    axes: dict[str, Axis] = Field(validation_alias="<axes>")

    @model_validator(mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        """Check the name and the hyperparameters it takes; gather them under ``<axes>``."""
        if not isinstance(v, Mapping) or "<axes>" in v:
            return v
        from descentcheck.registry import optimizers as registry

        if "name" not in v:
            raise _problem("missing key 'name'")
        name = _choice(v["name"], registry.names(), "optimizer", "name")
        declared = {h.name: h for h in registry.get(name).hyperparameters}
        _keys(v, (*cls._file_keys(), *declared))
        if missing := [p for p, h in declared.items() if h.required and p not in v]:
            raise _problem(f"optimizer {name} needs {missing[0]!r}")
        axes = {
            p: v[p] if isinstance(v[p], Mapping) else {"<values>": _values(h, v[p])}
            for p, h in declared.items()
            if p in v
        }
        return {**{k: x for k, x in v.items() if k not in declared}, "<axes>": axes}

    @model_validator(mode="after")
    def _searched(self) -> OptimizerBlock:
        from descentcheck.registry import optimizers as registry

        grid = self.search == "grid"
        declared = {h.name: h for h in registry.get(self.name).hyperparameters}
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
                    _value(declared[p], end, p, key)
        return self


class EstimateL(_Table):
    """How L_0 is estimated at w_0 (``theory.smoothness``)."""

    iters: Positive = 60
    seed: NonNeg = 0
    method: Annotated[str, _one_of("method", ("lanczos", "power"))] = "lanczos"


class SeedRange(_Table):
    count: Positive
    start: NonNeg = 0


def _seed_range(v: Any) -> Any:
    if not isinstance(v, Mapping):
        return v
    r = SeedRange.model_validate(v)
    return list(range(r.start, r.start + r.count))


def _version(v: int) -> int:
    if v != FORMAT_VERSION:
        raise _problem(f"this descentcheck reads sweep files of version {FORMAT_VERSION}, got {v}")
    return v


class SweepConfig(_Table):
    """A validated sweep file; ``architectures`` and ``random_dags`` are its two kinds of nets."""

    path: Path = Field(Path("<sweep>"), validation_alias="<path>")
    text: str = Field("", validation_alias="<text>")
    version: Annotated[StrictInt, AfterValidator(_version)] = FORMAT_VERSION
    name: Annotated[StrictStr, Field(min_length=1)]
    description: StrictStr = ""
    steps: Positive
    seeds: Annotated[
        tuple[NonNeg, ...],
        BeforeValidator(_seed_range),
        Field(min_length=1),
        AfterValidator(lambda s: _unique(s, "seed {} appears twice")),
    ] = (0,)
    checks: Annotated[
        tuple[Annotated[str, _one_of("check", CHECKS)], ...],
        Field(min_length=1),
        AfterValidator(lambda v: tuple(c for c in CHECKS if c in v)),  # canonical order, once
    ] = CHECKS
    table: Architectures = Field(alias="architectures")
    data: Annotated[
        tuple[DataEntry, ...],
        OneOrMore,
        Field(min_length=1),
        AfterValidator(lambda d: _unique(d, "the same data set appears twice")),
    ]
    optimizers: Annotated[tuple[OptimizerBlock, ...], OneOrMore, Field(min_length=1)]
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


def _one_line(path: Path, e: ValidationError) -> SweepConfigError:
    """pydantic's first error as ``FILE: WHERE: PROBLEM`` (``<...>`` slots left out)."""
    err = e.errors(include_url=False)[0]
    ctx = err.get("ctx") or {}
    loc = [p for p in (*err["loc"], *ctx.get("at", ())) if not str(p).startswith("<")]
    if err["type"] == "missing":
        loc, text = loc[:-1], f"missing key {loc[-1]!r}"
    elif err["type"] == "sweep":
        text = ctx["text"]
    else:
        v = err.get("input")
        template = MESSAGES.get(err["type"], "{msg}")
        text = template.format(**ctx, v=v, kind=_kind(v), msg=err["msg"])
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return SweepConfigError(f"{path}: {where or 'top level'}: {text}")


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file: JSON by its suffix or a leading ``{``, else TOML."""
    raw, text = read_document(path, "sweep file", SweepConfigError, toml=True)
    return parse_config(raw, path, text)


def parse_config(raw: Any, path: str | Path = "<sweep>", text: str = "") -> SweepConfig:
    """Validate an already-parsed sweep dict; relative paths resolve against ``path``'s folder."""
    p = Path(path)
    if not isinstance(raw, Mapping):
        raise SweepConfigError(f"{p}: top level: expected a table, got {_kind(raw)}")
    base = p.parent if p.name != "<sweep>" else Path.cwd()
    try:
        return SweepConfig.model_validate(
            {"name": p.stem, **raw, "<path>": p, "<text>": text}, context={"base": base}
        )
    except ValidationError as e:
        raise _one_line(p, e) from None
