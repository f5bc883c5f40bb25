"""The sweep file: TOML or JSON, validated by pydantic into a :class:`SweepConfig`.

A sweep is the product architectures x data x optimizer settings x seeds; each case trains one
network full batch for ``steps`` updates and evaluates the ``checks`` on the run. An example
(TOML; the same keys in JSON)::

    version = 1                      # optional: the sweep-file format
    name = "region map"              # optional label
    steps = 40                       # updates per case (an integer >= 1)
    seeds = [0, 1, 2]                # init seeds (net.init(seed, x)); or {count = 3, start = 0}
    checks = ["decrease_every_step", "inside_region", "final_loss", "diverged"]   # the default

    [architectures]
    specs = ["sine_skip", "nets/mine.json", {name = "tiny", spec = {inputs = 1, ...}}]
    random = {count = 20, seed = 0, max_steps = 4, max_params = 80, exclude_ops = ["relu"]}

    [[data]]                         # a table, a list of tables, or just a name: data = "sine"
    source = "random"                # "random", a built-in (sine, iris, ...) or an .npz path
    n = 16                           # rows (random data only; default 16)
    seed = 0                         # synthetic data and subsample seed (default 0)
    # subsample = 64                 # optional: that many rows, drawn without replacement

    [[optimizers]]
    name = "adaptive_momentum"
    relative_to_L = true             # lr and tau are given as multiples of 1/L_0 (lr·L, tau·L)
    lr = {min = 0.2, max = 2.4, num = 12}        # a grid range (num points, log = true for
    tau = [0.02, 0.1, 0.3]                       #   geometric); a list; or one number

    [[optimizers]]
    name = "momentum"
    search = "random"                # random search: count points, each value drawn from
    count = 16                       #   its range (uniform, or log-uniform with log = true)
    seed = 1                         #   or its list (a uniform choice)
    lr = {min = 1e-3, max = 1.0, log = true}
    momentum = {min = 0.0, max = 0.95}

    [estimate_L]                     # how L_0 is estimated at w_0 (theory.smoothness)
    iters = 60
    seed = 0
    method = "lanczos"

Architectures: ``specs`` entries are built-in example names (``impl.examples``), spec files
(``.json``, relative to the sweep file's folder), inline spec dicts, or ``{name, spec}`` tables
whose ``spec`` is any of those; ``random`` (a table or a list of tables) generates small DAGs
with skip connections from a seed (``theory.random_specs``): ``count`` of them, each with at most
``max_steps`` construction steps (2..12), optionally at most ``max_params`` parameters and none of
the ops in ``exclude_ops`` (drawn again until they fit). Random DAGs have 1-3 inputs, so they
need ``source = "random"`` data; an architecture is paired with every data set it fits (inputs
and outputs), and one that fits none, or a data set that fits no architecture, is an error.

Optimizers and their hyperparameters are those of the optimizer registry
(``descentcheck.registry.optimizers``, plugins included), named as ``descentcheck train`` takes
them: gd ``lr``; momentum, nesterov ``lr``, ``momentum``; adaptive_momentum ``lr``, ``tau``,
``group``; rmsprop ``lr``, ``rho``, ``eps``, ``momentum``. A block must give each required one.
``relative_to_L`` scales those with the units of a step size (``lr`` and ``tau``: declared
``step_size``) by 1/L_0 in each case.

Every problem raises :class:`SweepConfigError` with one line: ``FILE: WHERE: PROBLEM``. The
models below are strict (no string-to-number coercion, unknown keys refused with a suggestion);
pydantic's first error is turned into that line by :func:`_one_line`. A key spelled ``<...>``
is an internal slot for a shorthand (a list where a table may stand) and never appears in a
message.
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import SweepConfigError

FORMAT_VERSION = 1
CHECKS = ("decrease_every_step", "inside_region", "final_loss", "diverged")
MAX_RANDOM_STEPS = 12
DEFAULT_RANDOM_ROWS = 16

NonNeg = Annotated[StrictInt, Field(ge=0)]
Positive = Annotated[StrictInt, Field(ge=1)]
Number = Annotated[StrictFloat, Field(allow_inf_nan=False)]
Name = Annotated[StrictStr, Field(min_length=1)]


def _problem(text: str, *at: str | int) -> PydanticCustomError:
    """A validation error whose message is ``text``, ``at`` keys below the current place."""
    return PydanticCustomError("sweep", "{text}", {"text": text, "at": at})


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return f"a boolean ({str(v).lower()})"
    if isinstance(v, int | float | str):
        return f"{'a string' if isinstance(v, str) else 'a number'} ({v!r})"
    return "a table" if isinstance(v, Mapping) else "a list" if isinstance(v, list) else "null"


def _choice(v: Any, known: tuple[str, ...], what: str, *at: str | int) -> str:
    if not isinstance(v, str) or v not in known:
        close = difflib.get_close_matches(str(v), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _problem(f"unknown {what} {v!r} (known: {', '.join(known)}){hint}", *at)
    return v


def _keys(data: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for k in data:
        if k not in known:
            close = difflib.get_close_matches(str(k), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            raise _problem(f"unknown key {k!r}{hint}")


def _unique(values: tuple[Any, ...], what: str, *at: str) -> tuple[Any, ...]:
    for i, v in enumerate(values):
        if v in values[:i]:
            raise _problem(f"{what} {v} appears twice", *at, i)
    return values


def _listed(v: Any) -> Any:
    return v if isinstance(v, list | tuple) else [v]


class _Table(BaseModel):
    """A table of the file: typed strictly (no string-to-number coercion), frozen, and its
    unknown keys named with a suggestion. ``_internal`` fields are set by the reader only."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    _internal: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _file_keys(cls) -> tuple[str, ...]:
        fields = cls.model_fields.items()
        names = [f.validation_alias or f.alias or n for n, f in fields if n not in cls._internal]
        return tuple(n for n in names if not n.startswith("<"))

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            given = [k for k in data if k not in cls._internal and not str(k).startswith("<")]
            _keys(dict.fromkeys(given), cls._file_keys())
        return data


@dataclass(frozen=True)
class Architecture:
    """A named spec dict (validated with ``impl.spec.parse_spec``)."""

    name: str
    spec: dict[str, Any]


def _read_spec(entry: str, base: Path) -> dict[str, Any]:
    from descentcheck.impl.examples import EXAMPLES

    file = base / entry
    if file.is_file():
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _problem(f"cannot read spec file {file}: {' '.join(str(e).split())}") from None
    if entry in EXAMPLES:
        return EXAMPLES[entry]
    close = difflib.get_close_matches(entry, list(EXAMPLES), n=1)
    raise _problem(
        f"{entry!r} is neither a spec file (looked in {base}) nor a built-in example "
        f"({', '.join(EXAMPLES)})" + (f"; did you mean {close[0]!r}?" if close else "")
    )


def _architecture(entry: Any, base: Path, i: int) -> Architecture:
    from descentcheck.impl.errors import SpecError
    from descentcheck.impl.spec import parse_spec

    name = None
    if isinstance(entry, Mapping) and "spec" in entry:
        _keys(entry, ("name", "spec"))
        name, entry = entry.get("name"), entry["spec"]
    if isinstance(entry, str):
        spec, name = _read_spec(entry, base), name or entry
    elif isinstance(entry, Mapping):
        spec, name = dict(entry), name or str(entry.get("name") or f"inline{i}")
    else:
        raise _problem(f"expected a spec name, a file path or a table, got {_kind(entry)}")
    try:
        spec = json.loads(json.dumps(spec, allow_nan=False))  # plain JSON types only
        parse_spec(spec)
    except SpecError as e:
        raise _problem(f"invalid spec: {e}") from None
    except (TypeError, ValueError) as e:
        raise _problem(f"spec is not plain JSON: {e}") from None
    return Architecture(str(name), spec)


class RandomDags(_Table):
    """A seeded generator of small random DAG specs with skip connections."""

    count: Positive
    seed: NonNeg = 0
    max_steps: Annotated[StrictInt, Field(ge=2, le=MAX_RANDOM_STEPS)] = 5
    max_params: Positive | None = None
    exclude_ops: tuple[str, ...] = ()

    @field_validator("exclude_ops")
    @classmethod
    def _ops(cls, ops: tuple[str, ...]) -> tuple[str, ...]:
        from descentcheck.theory.random_specs import ACTIVATIONS, LAYERS

        for i, o in enumerate(ops):
            _choice(o, (*ACTIVATIONS, *LAYERS), "op", i)
        if set(LAYERS) <= set(ops):
            raise _problem("excludes every layer op; nothing can be generated")
        return tuple(sorted(set(ops)))


class Architectures(_Table):
    specs: tuple[Any, ...] = ()
    random: tuple[RandomDags, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, v: Any) -> Any:
        v = {"specs": v} if isinstance(v, list) else v
        return {**v, "random": _listed(v["random"])} if isinstance(v, dict) and "random" in v else v

    @field_validator("specs")
    @classmethod
    def _specs(cls, entries: tuple[Any, ...], info: ValidationInfo) -> tuple[Architecture, ...]:
        out: list[Architecture] = []
        for i, e in enumerate(entries):
            try:
                out.append(_architecture(e, info.context["base"], i))
            except PydanticCustomError as err:  # place it at the entry
                raise _problem(err.context["text"], i, *err.context["at"]) from None
            if out[-1].name in [a.name for a in out[:-1]]:
                raise _problem(f"name {out[-1].name!r} is used twice (give one a name)", i)
        return tuple(out)

    @model_validator(mode="after")
    def _some(self) -> Architectures:
        if not self.specs and not self.random:
            raise _problem("no architectures (give specs or random)")
        return self


class DataEntry(_Table):
    """One data set. ``kind`` is ``"random"`` (drawn per case to fit the spec), ``"builtin"``
    (``source`` its name) or ``"file"`` (``path`` absolute)."""

    _internal = ("kind", "path")
    kind: str
    source: Name
    seed: NonNeg = 0
    subsample: Positive | None = None
    n: Positive | None = None
    path: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, v: Any, info: ValidationInfo) -> Any:
        from descentcheck.impl.data import BUILTIN_DATASETS

        v = {"source": v} if isinstance(v, str) else v
        if not isinstance(v, Mapping) or not isinstance(v.get("source"), str):
            return v  # left to the type checks
        _keys(v, cls._file_keys())
        key = v["source"].strip().lower().replace("-", "_")
        if key == "random":
            if "subsample" in v:
                raise _problem("random data take n (rows), not subsample", "subsample")
            return {**v, "kind": "random", "source": "random", "n": v.get("n", DEFAULT_RANDOM_ROWS)}
        if "n" in v:
            raise _problem("n (rows) is for random data; use subsample for a data set", "n")
        if key in BUILTIN_DATASETS:
            return {**v, "kind": "builtin", "source": key}
        base = info.context["base"]
        file = (base / v["source"]).resolve()
        if not file.is_file():
            close = difflib.get_close_matches(key, [*BUILTIN_DATASETS, "random"], n=1)
            raise _problem(
                f"{v['source']!r} is neither a data file (looked in {base}) nor 'random' nor a "
                f"built-in ({', '.join(BUILTIN_DATASETS)})"
                + (f"; did you mean {close[0]!r}?" if close else ""),
                "source",
            )
        return {**v, "kind": "file", "path": str(file)}


class Axis(_Table):
    """One hyperparameter's values: explicit ``values``, or a range ``low..high`` (``num``
    points for a grid, drawn for a random search; geometric / log-uniform with ``log``)."""

    values: tuple[Any, ...] | None = Field(None, validation_alias="<values>")
    low: Number | None = Field(None, alias="min")
    high: Number | None = Field(None, alias="max")
    num: Positive | None = None
    log: StrictBool = False

    @model_validator(mode="after")
    def _range(self) -> Axis:
        if self.values is not None:
            return self
        low, high = self.low, self.high
        if low is None or high is None:
            raise _problem(f"missing key {'min' if low is None else 'max'!r}")
        if low > high:
            raise _problem(f"bad range: min {low} > max {high}")
        if low < 0:
            raise _problem(f"bad range: min {low} < 0 (hyperparameters are non-negative)")
        if self.log and low <= 0:
            raise _problem(f"bad range: log = true needs min > 0, got {low}")
        if self.num is not None and self.num > 1 and low == high:
            raise _problem(f"bad range: {self.num} points between equal min and max")
        return self


def _values(param: str, v: Any, choices: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """A list (or one value) of ``param``: ``choices`` by name, numbers as finite floats >= 0."""
    items = _listed(v)
    if not items:
        raise _problem("is empty", param)
    out = []
    for i, x in enumerate(items):
        at = (param, i) if isinstance(v, list) else (param,)
        if choices:
            out.append(_choice(x, choices, param, *at))
        elif isinstance(x, bool) or not isinstance(x, int | float):
            raise _problem(f"expected a number, got {_kind(x)}", *at)
        elif not (math.isfinite(x) and x >= 0):
            raise _problem(f"must be {'>= 0' if math.isfinite(x) else 'finite'}, got {x}", *at)
        else:
            out.append(float(x))
    return _unique(tuple(out), "value", param) if not choices else tuple(out)


class OptimizerBlock(_Table):
    name: str
    search: Annotated[str, AfterValidator(lambda v: _choice(v, ("grid", "random"), "search"))]
    axes: dict[str, Axis] = Field(validation_alias="<axes>")
    relative_to_L: StrictBool = False
    count: Positive | None = None
    seed: NonNeg = 0

    @model_validator(mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        """Check the name and which hyperparameters it takes; gather them under ``<axes>``."""
        if not isinstance(v, Mapping) or "<axes>" in v:
            return v
        if "name" not in v:
            raise _problem("missing key 'name'")
        from descentcheck.registry import optimizers as registry

        name = _choice(v["name"], registry.names(), "optimizer", "name")
        declared = {h.name: h for h in registry.get(name).hyperparameters}
        params = tuple(declared)
        _keys(v, ("name", "search", "count", "seed", "relative_to_L", *params))
        for p, h in declared.items():
            if h.required and p not in v:
                raise _problem(f"optimizer {name} needs {p!r}")
        axes = {
            p: v[p]
            if isinstance(v[p], Mapping)
            else {"<values>": _values(p, v[p], declared[p].choices)}
            for p in params
            if p in v
        }
        search = v.get("search", "grid")
        if search == "random" and "count" not in v:
            raise _problem("a random search needs count (how many points to draw)")
        if search == "grid" and ("count" in v or "seed" in v):
            raise _problem("count and seed are for search = 'random'")
        for p, a in axes.items():
            if search == "grid" and {"min", "max"} <= set(a) and "num" not in a:
                raise _problem("a grid range needs num (how many points), or use a list", p)
            if search == "random" and "num" in a:
                raise _problem("unknown key 'num' (known: min, max, log)", p)
        rest = {k: x for k, x in v.items() if k not in params}
        return {**rest, "search": search, "<axes>": axes}


class EstimateL(_Table):
    """How L_0 is estimated at w_0 (``theory.smoothness``)."""

    iters: Positive = 60
    seed: NonNeg = 0
    method: Annotated[str, AfterValidator(lambda v: _choice(v, ("lanczos", "power"), "method"))] = (
        "lanczos"
    )


class SeedRange(_Table):
    count: Positive
    start: NonNeg = 0


def _check(v: str) -> str:
    return _choice(v, CHECKS, "check")


class SweepConfig(_Table):
    """A validated sweep file; ``architectures`` and ``random_dags`` are its two kinds of nets."""

    _internal = ("path", "text")
    path: Path = Path("<sweep>")
    text: str = ""
    version: StrictInt = FORMAT_VERSION
    name: Name
    description: StrictStr = ""
    steps: Positive
    seeds: Annotated[tuple[NonNeg, ...], Field(min_length=1)] = (0,)
    checks: Annotated[tuple[Annotated[str, AfterValidator(_check)], ...], Field(min_length=1)] = (
        CHECKS
    )
    table: Architectures = Field(alias="architectures")
    data: Annotated[tuple[DataEntry, ...], Field(min_length=1)]
    optimizers: Annotated[tuple[OptimizerBlock, ...], Field(min_length=1)]
    estimate_L: EstimateL = EstimateL()

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != FORMAT_VERSION:
            raise _problem(
                f"this descentcheck reads sweep files of version {FORMAT_VERSION}, got {v}"
            )
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_range(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            r = SeedRange.model_validate(v)
            return list(range(r.start, r.start + r.count))
        return v

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        return _unique(v, "seed")

    @field_validator("checks")
    @classmethod
    def _canonical(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(c for c in CHECKS if c in v)  # canonical order, no duplicates

    @field_validator("data", "optimizers", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return _listed(v)

    @field_validator("data")
    @classmethod
    def _distinct_data(cls, v: tuple[DataEntry, ...]) -> tuple[DataEntry, ...]:
        for i, d in enumerate(v):
            if d in v[:i]:
                raise _problem("the same data set appears twice", i)
        return v

    @property
    def architectures(self) -> tuple[Architecture, ...]:
        return self.table.specs

    @property
    def random_dags(self) -> tuple[RandomDags, ...]:
        return self.table.random

    def to_json(self) -> dict[str, Any]:
        """The validated config as plain JSON (stored in the database's ``meta``)."""
        return self.model_dump(mode="json", by_alias=True, exclude={"path", "text"})


# ---- reading -------------------------------------------------------------------------------

MESSAGES = {
    "greater_than_equal": "must be >= {ge}, got {v}",
    "less_than_equal": "must be <= {le}, got {v}",
    "int_type": "expected an integer, got {kind}",
    "float_type": "expected a number, got {kind}",
    "finite_number": "must be finite, got {v}",
    "bool_type": "expected true or false, got {kind}",
    "string_type": "expected a string, got {kind}",
    "string_too_short": "expected a non-empty string, got {kind}",
    "tuple_type": "expected a list, got {kind}",
    "too_short": "is empty",
    "model_type": "expected a table, got {kind}",
    "model_attributes_type": "expected a table, got {kind}",
    "dict_type": "expected a table, got {kind}",
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


def _parse_text(path: Path, text: str) -> Any:
    as_json = path.suffix.lower() == ".json" or (
        path.suffix.lower() != ".toml" and text.lstrip().startswith("{")
    )
    try:
        return json.loads(text) if as_json else tomllib.loads(text)
    except json.JSONDecodeError as e:
        msg = f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}"
        raise SweepConfigError(f"{path}: {msg}") from None
    except tomllib.TOMLDecodeError as e:
        raise SweepConfigError(f"{path}: malformed TOML: {' '.join(str(e).split())}") from None


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file (TOML, or JSON by suffix or a leading ``{``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepConfigError(f"sweep file not found: {p}") from None
    except IsADirectoryError:
        raise SweepConfigError(f"sweep file {p} is a directory") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SweepConfigError(f"cannot read sweep file {p}: {' '.join(str(e).split())}") from None
    return parse_config(_parse_text(p, text), p, text)


def parse_config(raw: Any, path: str | Path = "<sweep>", text: str = "") -> SweepConfig:
    """Validate an already-parsed sweep dict; relative paths resolve against ``path``'s folder."""
    p = Path(path)
    if not isinstance(raw, Mapping):
        raise SweepConfigError(f"{p}: top level: expected a table, got {_kind(raw)}")
    base = p.parent if p.name != "<sweep>" else Path.cwd()
    try:
        return SweepConfig.model_validate(
            {"name": p.stem, **raw, "path": p, "text": text}, context={"base": base}
        )
    except ValidationError as e:
        raise _one_line(p, e) from None
