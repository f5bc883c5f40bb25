"""The sweep file: TOML or JSON, read and validated into a :class:`SweepConfig`.

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

Optimizer hyperparameters (names as ``descentcheck train`` takes them): gd ``lr``; momentum,
nesterov ``lr``, ``momentum``; adaptive_momentum ``lr``, ``tau``, ``group``; rmsprop ``lr``,
``rho``, ``eps``, ``momentum``. ``relative_to_L`` scales ``lr`` and ``tau`` (the only ones with the
units of a step size) by 1/L_0 in each case.

Every problem raises :class:`SweepConfigError` with one line: ``FILE: WHERE: PROBLEM``.
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SweepConfigError

FORMAT_VERSION = 1
CHECKS = ("decrease_every_step", "inside_region", "final_loss", "diverged")
OPTIMIZER_PARAMS: dict[str, tuple[str, ...]] = {
    "gd": ("lr",),
    "momentum": ("lr", "momentum"),
    "nesterov": ("lr", "momentum"),
    "adaptive_momentum": ("lr", "tau", "group"),
    "rmsprop": ("lr", "rho", "eps", "momentum"),
}
REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {
    "gd": ("lr",),
    "momentum": ("lr", "momentum"),
    "nesterov": ("lr", "momentum"),
    "adaptive_momentum": ("lr", "tau"),
    "rmsprop": ("lr",),
}
STRING_PARAMS = frozenset({"group"})
SCALED_PARAMS = ("lr", "tau")  # the ones relative_to_L divides by L_0
MAX_RANDOM_STEPS = 12
DEFAULT_RANDOM_ROWS = 16
_TOP_KEYS = (
    "version",
    "name",
    "description",
    "steps",
    "seeds",
    "checks",
    "architectures",
    "data",
    "optimizers",
    "estimate_L",
)


@dataclass(frozen=True)
class Architecture:
    """A named spec dict (validated with ``impl.spec.parse_spec``)."""

    name: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class RandomDags:
    """A seeded generator of small random DAG specs with skip connections."""

    count: int
    seed: int
    max_steps: int = 5
    max_params: int | None = None
    exclude_ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataEntry:
    """One data set. ``kind`` is ``"random"`` (drawn per case to fit the spec), ``"builtin"``
    (``source`` its name) or ``"file"`` (``path`` absolute)."""

    kind: str
    source: str
    seed: int = 0
    subsample: int | None = None
    n: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class Axis:
    """One hyperparameter's values: explicit ``values``, or a range ``low..high`` (``num``
    points for a grid, drawn for a random search; geometric / log-uniform with ``log``)."""

    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    num: int | None = None
    log: bool = False


@dataclass(frozen=True)
class OptimizerBlock:
    name: str
    search: str  # "grid" | "random"
    axes: dict[str, Axis]
    relative_to_L: bool = False
    count: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class SweepConfig:
    path: Path
    text: str
    name: str
    steps: int
    seeds: tuple[int, ...]
    checks: tuple[str, ...]
    architectures: tuple[Architecture, ...]
    random_dags: tuple[RandomDags, ...]
    data: tuple[DataEntry, ...]
    optimizers: tuple[OptimizerBlock, ...]
    estimate_L: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        """The validated config as plain JSON (stored in the database's ``meta``)."""

        def axis(a: Axis) -> Any:
            if a.values is not None:
                return list(a.values)
            return {"min": a.low, "max": a.high, "num": a.num, "log": a.log}

        return {
            "name": self.name,
            "description": self.description,
            "steps": self.steps,
            "seeds": list(self.seeds),
            "checks": list(self.checks),
            "architectures": [a.name for a in self.architectures],
            "random_dags": [
                vars(r) | {"exclude_ops": list(r.exclude_ops)} for r in self.random_dags
            ],
            "data": [vars(d) for d in self.data],
            "optimizers": [
                {
                    "name": o.name,
                    "search": o.search,
                    "count": o.count,
                    "seed": o.seed,
                    "relative_to_L": o.relative_to_L,
                    "hyperparameters": {k: axis(v) for k, v in o.axes.items()},
                }
                for o in self.optimizers
            ],
            "estimate_L": dict(self.estimate_L),
        }


# ---- reading -------------------------------------------------------------------------------


class _Reader:
    """Validation helpers that know the file name, for one-line ``FILE: WHERE: PROBLEM``."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, problem: str) -> SweepConfigError:
        return SweepConfigError(
            f"{self.path}: {where}: {problem}" if where else f"{self.path}: {problem}"
        )

    def keys(
        self, table: Any, where: str, known: Sequence[str], required: Sequence[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(table, Mapping):
            raise self.fail(where or "top level", f"expected a table, got {_kind(table)}")
        for k in table:
            if k not in known:
                close = difflib.get_close_matches(str(k), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
                raise self.fail(where or "top level", f"unknown key {k!r}{hint}")
        for k in required:
            if k not in table:
                raise self.fail(where or "top level", f"missing key {k!r}")
        return dict(table)

    def integer(self, v: Any, where: str, low: int | None = None, high: int | None = None) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(where, f"expected an integer, got {_kind(v)}")
        if low is not None and v < low:
            raise self.fail(where, f"must be >= {low}, got {v}")
        if high is not None and v > high:
            raise self.fail(where, f"must be <= {high}, got {v}")
        return v

    def number(self, v: Any, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(where, f"expected a number, got {_kind(v)}")
        if not math.isfinite(v):
            raise self.fail(where, f"must be finite, got {v}")
        return float(v)

    def string(self, v: Any, where: str) -> str:
        if not isinstance(v, str) or not v:
            raise self.fail(where, f"expected a non-empty string, got {_kind(v)}")
        return v

    def boolean(self, v: Any, where: str) -> bool:
        if not isinstance(v, bool):
            raise self.fail(where, f"expected true or false, got {_kind(v)}")
        return v

    def choice(self, v: Any, where: str, known: Sequence[str], what: str) -> str:
        if not isinstance(v, str) or v not in known:
            close = difflib.get_close_matches(str(v), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.fail(where, f"unknown {what} {v!r} (known: {', '.join(known)}){hint}")
        return v

    def listing(self, v: Any, where: str, nonempty: bool = True) -> list[Any]:
        if not isinstance(v, list):
            raise self.fail(where, f"expected a list, got {_kind(v)}")
        if nonempty and not v:
            raise self.fail(where, "is empty")
        return v


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return f"a boolean ({str(v).lower()})"
    if isinstance(v, (int, float)):
        return f"a number ({v!r})"
    if isinstance(v, str):
        return f"a string ({v!r})"
    if isinstance(v, Mapping):
        return "a table"
    if isinstance(v, list):
        return "a list"
    return type(v).__name__


def _parse_text(path: Path, text: str) -> Any:
    as_json = path.suffix.lower() == ".json" or (
        path.suffix.lower() != ".toml" and text.lstrip().startswith("{")
    )
    if as_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise SweepConfigError(
                f"{path}: malformed JSON: {e.msg} at line {e.lineno} column {e.colno}"
            ) from None
    try:
        return tomllib.loads(text)
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
    r = _Reader(p)
    top = r.keys(raw, "", _TOP_KEYS, required=("steps", "architectures", "data", "optimizers"))
    if "version" in top and r.integer(top["version"], "version") != FORMAT_VERSION:
        raise r.fail(
            "version",
            f"this descentcheck reads sweep files of version {FORMAT_VERSION}, "
            f"got {top['version']}",
        )
    name = r.string(top["name"], "name") if "name" in top else p.stem
    description = str(top.get("description", ""))
    steps = r.integer(top["steps"], "steps", low=1)
    seeds = _seeds(r, top.get("seeds", [0]))
    checks = _checks(r, top.get("checks", list(CHECKS)))
    base = p.parent if p.name != "<sweep>" else Path.cwd()
    architectures, random_dags = _architectures(r, top["architectures"], base)
    data = _data(r, top["data"], base)
    optimizers = _optimizers(r, top["optimizers"])
    estimate = _estimate_L(r, top.get("estimate_L", {}))
    return SweepConfig(
        path=p,
        text=text,
        name=name,
        description=description,
        steps=steps,
        seeds=seeds,
        checks=checks,
        architectures=architectures,
        random_dags=random_dags,
        data=data,
        optimizers=optimizers,
        estimate_L=estimate,
    )


def _seeds(r: _Reader, v: Any) -> tuple[int, ...]:
    if isinstance(v, Mapping):
        t = r.keys(v, "seeds", ("count", "start"), required=("count",))
        count = r.integer(t["count"], "seeds.count", low=1)
        start = r.integer(t.get("start", 0), "seeds.start", low=0)
        return tuple(range(start, start + count))
    seeds = [r.integer(s, f"seeds[{i}]", low=0) for i, s in enumerate(r.listing(v, "seeds"))]
    for i, s in enumerate(seeds):
        if s in seeds[:i]:
            raise r.fail(f"seeds[{i}]", f"seed {s} appears twice")
    return tuple(seeds)


def _checks(r: _Reader, v: Any) -> tuple[str, ...]:
    names = [
        r.choice(c, f"checks[{i}]", CHECKS, "check") for i, c in enumerate(r.listing(v, "checks"))
    ]
    return tuple(c for c in CHECKS if c in names)  # canonical order, no duplicates


# ---- architectures -------------------------------------------------------------------------


def _architectures(
    r: _Reader, v: Any, base: Path
) -> tuple[tuple[Architecture, ...], tuple[RandomDags, ...]]:
    if isinstance(v, list):
        v = {"specs": v}
    t = r.keys(v, "architectures", ("specs", "random"))
    specs: list[Architecture] = []
    for i, entry in enumerate(r.listing(t.get("specs", []), "architectures.specs", nonempty=False)):
        specs.append(_architecture(r, entry, f"architectures.specs[{i}]", base, i))
    names = [a.name for a in specs]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise r.fail(f"architectures.specs[{i}]", f"name {n!r} is used twice (give one a name)")
    rnd = t.get("random", [])
    rnd_list = rnd if isinstance(rnd, list) else [rnd]
    randoms = tuple(
        _random_dags(r, e, f"architectures.random[{i}]") for i, e in enumerate(rnd_list)
    )
    if not specs and not randoms:
        raise r.fail("architectures", "no architectures (give specs or random)")
    return tuple(specs), randoms


def _architecture(r: _Reader, entry: Any, where: str, base: Path, i: int) -> Architecture:
    from descentcheck.impl.errors import SpecError
    from descentcheck.impl.examples import EXAMPLES
    from descentcheck.impl.spec import parse_spec

    name: str | None = None
    if isinstance(entry, Mapping) and "spec" in entry:
        t = r.keys(entry, where, ("name", "spec"), required=("spec",))
        name = r.string(t["name"], f"{where}.name") if "name" in t else None
        entry = t["spec"]
    if isinstance(entry, str):
        file = base / entry
        if file.is_file():
            try:
                spec = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as e:
                raise r.fail(where, f"cannot read spec file {file}: {e}") from None
            except json.JSONDecodeError as e:
                raise r.fail(
                    where, f"spec file {file}: malformed JSON: {e.msg} at line {e.lineno}"
                ) from None
        elif entry in EXAMPLES:
            spec = EXAMPLES[entry]
        else:
            close = difflib.get_close_matches(entry, list(EXAMPLES), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise r.fail(
                where,
                f"{entry!r} is neither a spec file (looked in {base}) nor a built-in example "
                f"({', '.join(EXAMPLES)}){hint}",
            )
        name = name or entry
    elif isinstance(entry, Mapping):
        spec = dict(entry)
        name = name or str(spec.get("name") or f"inline{i}")
    else:
        raise r.fail(where, f"expected a spec name, a file path or a table, got {_kind(entry)}")
    try:
        spec = json.loads(json.dumps(spec, allow_nan=False))  # plain JSON types only
        parse_spec(spec)
    except SpecError as e:
        raise r.fail(where, f"invalid spec: {e}") from None
    except (TypeError, ValueError) as e:
        raise r.fail(where, f"spec is not plain JSON: {e}") from None
    return Architecture(name, spec)


def _random_dags(r: _Reader, v: Any, where: str) -> RandomDags:
    from descentcheck.theory.random_specs import ACTIVATIONS, LAYERS

    t = r.keys(
        v, where, ("count", "seed", "max_steps", "max_params", "exclude_ops"), required=("count",)
    )
    count = r.integer(t["count"], f"{where}.count", low=1)
    seed = r.integer(t.get("seed", 0), f"{where}.seed", low=0)
    max_steps = r.integer(t.get("max_steps", 5), f"{where}.max_steps", low=2, high=MAX_RANDOM_STEPS)
    max_params = (
        r.integer(t["max_params"], f"{where}.max_params", low=1) if "max_params" in t else None
    )
    ops = (*ACTIVATIONS, *LAYERS)
    exclude = tuple(
        r.choice(o, f"{where}.exclude_ops[{i}]", ops, "op")
        for i, o in enumerate(
            r.listing(t.get("exclude_ops", []), f"{where}.exclude_ops", nonempty=False)
        )
    )
    if set(LAYERS) <= set(exclude):
        raise r.fail(f"{where}.exclude_ops", "excludes every layer op; nothing can be generated")
    return RandomDags(count, seed, max_steps, max_params, tuple(sorted(set(exclude))))


# ---- data ----------------------------------------------------------------------------------


def _data(r: _Reader, v: Any, base: Path) -> tuple[DataEntry, ...]:
    entries = v if isinstance(v, list) else [v]
    if not entries:
        raise r.fail("data", "is empty")
    out = tuple(_data_entry(r, e, f"data[{i}]", base) for i, e in enumerate(entries))
    for i, d in enumerate(out):
        if d in out[:i]:
            raise r.fail(f"data[{i}]", "the same data set appears twice")
    return out


def _data_entry(r: _Reader, v: Any, where: str, base: Path) -> DataEntry:
    from descentcheck.impl.data import BUILTIN_DATASETS

    if isinstance(v, str):
        v = {"source": v}
    t = r.keys(v, where, ("source", "seed", "subsample", "n"), required=("source",))
    source = r.string(t["source"], f"{where}.source")
    seed = r.integer(t.get("seed", 0), f"{where}.seed", low=0)
    subsample = r.integer(t["subsample"], f"{where}.subsample", low=1) if "subsample" in t else None
    key = source.strip().lower().replace("-", "_")
    if key == "random":
        if subsample is not None:
            raise r.fail(f"{where}.subsample", "random data take n (rows), not subsample")
        n = r.integer(t.get("n", DEFAULT_RANDOM_ROWS), f"{where}.n", low=1)
        return DataEntry("random", "random", seed, None, n)
    if "n" in t:
        raise r.fail(f"{where}.n", "n (rows) is for random data; use subsample for a data set")
    if key in BUILTIN_DATASETS:
        return DataEntry("builtin", key, seed, subsample)
    file = (base / source).resolve()
    if not file.is_file():
        close = difflib.get_close_matches(key, [*BUILTIN_DATASETS, "random"], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise r.fail(
            f"{where}.source",
            f"{source!r} is neither a data file (looked in {base}) nor 'random' nor a built-in "
            f"({', '.join(BUILTIN_DATASETS)}){hint}",
        )
    return DataEntry("file", source, seed, subsample, path=str(file))


# ---- optimizers ----------------------------------------------------------------------------


def _optimizers(r: _Reader, v: Any) -> tuple[OptimizerBlock, ...]:
    blocks = v if isinstance(v, list) else [v]
    if not blocks:
        raise r.fail("optimizers", "is empty")
    return tuple(_optimizer(r, b, f"optimizers[{i}]") for i, b in enumerate(blocks))


def _optimizer(r: _Reader, v: Any, where: str) -> OptimizerBlock:
    if not isinstance(v, Mapping):
        raise r.fail(where, f"expected a table, got {_kind(v)}")
    if "name" not in v:
        raise r.fail(where, "missing key 'name'")
    name = r.choice(v["name"], f"{where}.name", list(OPTIMIZER_PARAMS), "optimizer")
    params = OPTIMIZER_PARAMS[name]
    t = r.keys(v, where, ("name", "search", "count", "seed", "relative_to_L", *params))
    search = r.choice(t.get("search", "grid"), f"{where}.search", ("grid", "random"), "search")
    count: int | None = None
    if search == "random":
        if "count" not in t:
            raise r.fail(where, "a random search needs count (how many points to draw)")
        count = r.integer(t["count"], f"{where}.count", low=1)
    elif "count" in t or "seed" in t:
        raise r.fail(where, "count and seed are for search = 'random'")
    seed = r.integer(t.get("seed", 0), f"{where}.seed", low=0)
    relative = r.boolean(t.get("relative_to_L", False), f"{where}.relative_to_L")
    for p in REQUIRED_PARAMS[name]:
        if p not in t:
            raise r.fail(where, f"optimizer {name} needs {p!r}")
    axes = {p: _axis(r, t[p], f"{where}.{p}", p, search) for p in params if p in t}
    return OptimizerBlock(name, search, axes, relative, count, seed)


def _axis(r: _Reader, v: Any, where: str, param: str, search: str) -> Axis:
    if param in STRING_PARAMS:
        from descentcheck.impl.optim import GROUPINGS

        vals = v if isinstance(v, list) else [v]
        return Axis(
            values=tuple(r.choice(g, where, GROUPINGS, param) for g in r.listing(vals, where))
        )
    if isinstance(v, Mapping):
        keys = ("min", "max", "log") + (("num",) if search == "grid" else ())
        t = r.keys(v, where, keys, required=("min", "max"))
        low, high = r.number(t["min"], f"{where}.min"), r.number(t["max"], f"{where}.max")
        log = r.boolean(t.get("log", False), f"{where}.log")
        if low > high:
            raise r.fail(where, f"bad range: min {low} > max {high}")
        if low < 0:
            raise r.fail(where, f"bad range: min {low} < 0 (hyperparameters are non-negative)")
        if log and low <= 0:
            raise r.fail(where, f"bad range: log = true needs min > 0, got {low}")
        if search == "grid":
            if "num" not in t:
                raise r.fail(where, "a grid range needs num (how many points), or use a list")
            num = r.integer(t["num"], f"{where}.num", low=1)
            if num > 1 and low == high:
                raise r.fail(where, f"bad range: {num} points between equal min and max")
            return Axis(low=low, high=high, num=num, log=log)
        return Axis(low=low, high=high, log=log)
    vals = v if isinstance(v, list) else [v]
    nums = [
        r.number(x, f"{where}[{i}]" if isinstance(v, list) else where)
        for i, x in enumerate(r.listing(vals, where))
    ]
    for i, x in enumerate(nums):
        if x < 0:
            raise r.fail(
                f"{where}[{i}]" if isinstance(v, list) else where, f"must be >= 0, got {x}"
            )
        if x in nums[:i]:
            raise r.fail(f"{where}[{i}]", f"value {x} appears twice")
    return Axis(values=tuple(nums))


def _estimate_L(r: _Reader, v: Any) -> dict[str, Any]:
    t = r.keys(v, "estimate_L", ("iters", "seed", "method"))
    return {
        "iters": r.integer(t.get("iters", 60), "estimate_L.iters", low=1),
        "seed": r.integer(t.get("seed", 0), "estimate_L.seed", low=0),
        "method": r.choice(
            t.get("method", "lanczos"), "estimate_L.method", ("lanczos", "power"), "method"
        ),
    }
