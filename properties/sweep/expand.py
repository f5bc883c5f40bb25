"""A validated sweep expanded into its deterministic, ordered list of cases.

Order: architectures (``specs`` in file order, then each random generator's DAGs), then data
sets (file order; only the pairs that fit), then optimizer blocks (file order), then their
hyperparameter points (:mod:`.space`), then seeds. A case is a self-contained JSON object (the
worker needs nothing else, but a data file, found by its SHA-256)::

    {"format": "descentcheck.sweep-case/1",
     "architecture": {"name": "sine_skip", "spec": {...the whole spec...}},
     "data": {"kind": "builtin", "name": "sine", "seed": 0, "subsample": 64}
           | {"kind": "random", "n": 16, "seed": 0}
           | {"kind": "file", "name": "my.npz", "sha256": "...", "seed": 0, "subsample": null},
     "optimizer": "adaptive_momentum",
     "hyperparameters": {"lr": 1.2, "tau": 0.1},     # as written (times 1/L_0 if relative)
     "relative_to_L": true,
     "init_seed": 0, "steps": 40,
     "checks": ["decrease_every_step", "inside_region", "final_loss", "diverged"],
     "estimate_L": {"iters": 60, "method": "lanczos", "seed": 0}}   # only when L_0 is needed

Its key is the SHA-256 of its canonical JSON (:mod:`.canonical`); the sweep's config hash is the
hash of the sorted keys. Random DAG number ``j`` of a generator with seed ``s`` is theory's
family (``theory.random_specs.random_spec``: the one generator, ``impl.random_dag``, with one
block per construction step, so at most ``max_steps`` blocks) drawn from
``numpy.random.default_rng([s, j, attempt])``, ``attempt`` counting redraws for ``max_params``
and ``exclude_ops``: so DAG ``j`` does not depend on ``count``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .canonical import canonical_json, case_key, config_hash
from .config import Architecture, DataEntry, OptimizerBlock, RandomDags, SweepConfig
from .errors import SweepConfigError
from .space import corner_points, points

CASE_FORMAT = "descentcheck.sweep-case/1"
MAX_REDRAWS = 1000
MAX_CASES = 1_000_000  # each case is a row of a few kB: beyond this, split the sweep


@dataclass(frozen=True)
class Case:
    """One case: its position in the sweep, key, JSON object and canonical text."""

    index: int
    key: str
    case: dict[str, Any]
    text: str


@dataclass(frozen=True)
class Plan:
    """The expanded sweep. ``files`` maps a data file's SHA-256 to its path (for workers)."""

    config: SweepConfig
    cases: tuple[Case, ...]
    config_hash: str
    files: dict[str, str]
    unfit_pairs: int  # architecture x data pairs left out because the data do not fit


def random_architectures(
    gen: RandomDags, where: str = "architectures.random"
) -> list[Architecture]:
    """The generator's ``count`` DAG specs (see the module docstring)."""
    from descentcheck.impl.network import Network
    from descentcheck.impl.random_dag import SeededDraws
    from descentcheck.theory.random_specs import random_spec

    out = []
    for j in range(gen.count):
        for attempt in range(MAX_REDRAWS):
            spec = random_spec(SeededDraws([gen.seed, j, attempt]), max_steps=gen.max_steps)
            if any(node["op"] in gen.exclude_ops for node in spec["nodes"]):
                continue
            if gen.max_params is not None and Network.from_spec(spec).n_params > gen.max_params:
                continue
            break
        else:
            raise SweepConfigError(
                f"{where}: no DAG within the bounds after {MAX_REDRAWS} draws (DAG {j}); "
                "raise max_params or exclude fewer ops"
            )
        out.append(Architecture(f"random-s{gen.seed}-{j}", spec))
    return out


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _data_json(entry: DataEntry, files: dict[str, str]) -> dict[str, Any]:
    if entry.kind == "random":
        return {"kind": "random", "n": entry.n, "seed": entry.seed}
    if entry.kind == "builtin":
        return {
            "kind": "builtin",
            "name": entry.source,
            "seed": entry.seed,
            "subsample": entry.subsample,
        }
    assert entry.path is not None
    digest = _sha256_file(entry.path)
    files[digest] = entry.path
    return {
        "kind": "file",
        "name": Path(entry.path).name,
        "sha256": digest,
        "seed": entry.seed,
        "subsample": entry.subsample,
    }


def _fits(config: SweepConfig, archs: list[Architecture]) -> list[list[bool]]:
    """``fit[i][j]``: architecture i fits data set j (inputs and targets), checked on the data."""
    from descentcheck.impl.data import load_data
    from descentcheck.impl.errors import DataError
    from descentcheck.impl.network import Network

    nets = [Network.from_spec(a.spec) for a in archs]
    fit = [[True] * len(config.data) for _ in archs]
    for j, entry in enumerate(config.data):
        if entry.kind == "random":
            continue
        where = f"{config.path}: data[{j}]"
        try:
            ds = load_data(entry.path if entry.kind == "file" else entry.source, seed=entry.seed)
        except DataError as e:
            raise SweepConfigError(f"{where}: {e}") from None
        if entry.subsample is not None and entry.subsample > ds.n:
            raise SweepConfigError(
                f"{where}.subsample: {entry.subsample} rows asked, {entry.source} has {ds.n}"
            )
        for i, net in enumerate(nets):
            try:
                net.check_data(ds.x, ds.y)
            except DataError:
                fit[i][j] = False
        if not any(fit[i][j] for i in range(len(archs))):
            raise SweepConfigError(
                f"{where}: {entry.source} ({ds.inputs} inputs, {ds.outputs} outputs) fits none "
                "of the architectures"
            )
    for i, a in enumerate(archs):
        if not any(fit[i]):
            raise SweepConfigError(
                f"{config.path}: architecture {a.name!r} ({nets[i].spec.inputs} inputs, "
                f"{nets[i].spec.out_width} outputs) fits none of the data sets"
                + ("; random DAGs need data = 'random'" if a.name.startswith("random-") else "")
            )
    return fit


def _check_point(block: OptimizerBlock, point: dict[str, Any], where: str) -> None:
    from descentcheck.impl.errors import HyperparameterError
    from descentcheck.impl.optim import get_optimizer

    try:
        get_optimizer(block.name, **point)
    except HyperparameterError as e:
        raise SweepConfigError(f"{where}: {e}") from None


def _n_points(block: OptimizerBlock) -> int:
    if block.search == "random":
        assert block.count is not None
        return block.count
    sizes = (len(a.values) if a.values is not None else a.num or 1 for a in block.axes.values())
    return math.prod(sizes)


def _check_size(config: SweepConfig) -> None:
    """Refuse, before anything is drawn or expanded, a sweep of more than ``MAX_CASES`` cases
    (a grid's ``num = 100000000`` would otherwise exhaust the memory without a word)."""
    nets = len(config.architectures) + sum(g.count for g in config.random_dags)
    per_net = len(config.data) * sum(_n_points(b) for b in config.optimizers) * len(config.seeds)
    if nets * per_net > MAX_CASES:
        grid = any(b.search == "grid" for b in config.optimizers)
        # the advice where the size comes from: random DAGs' counts, or the optimizers' grids
        many_nets = nets > per_net
        advice = (
            ", or lower architectures.random's count"
            if many_nets and config.random_dags
            else ", or use search = 'random' with a count"
            if grid
            else ", or lower a count"
        )
        raise SweepConfigError(
            f"{config.path}: the sweep would have up to {nets * per_net:,} cases ({nets} "
            f"architecture{'s' if nets > 1 else ''} x {per_net:,} data, hyperparameter and seed "
            f"combinations), more than {MAX_CASES:,} in one database: split it" + advice
        )


def _case_objects(config: SweepConfig, files: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """The case objects in order, and the number of architecture x data pairs that do not fit."""
    _check_size(config)
    archs = list(config.architectures)
    for k, gen in enumerate(config.random_dags):
        archs += random_architectures(gen, f"{config.path}: architectures.random[{k}]")
    fit = _fits(config, archs)
    data = [_data_json(d, files) for d in config.data]
    pts = []
    for b, block in enumerate(config.optimizers):
        ps = points(block)
        for p in corner_points(block) + ps:
            _check_point(block, p, f"{config.path}: optimizers[{b}]")
        pts.append(ps)
    out: list[dict[str, Any]] = []
    for i, arch in enumerate(archs):
        for j, d in enumerate(data):
            if not fit[i][j]:
                continue
            for block, ps in zip(config.optimizers, pts):
                need_L = "inside_region" in config.checks or block.relative_to_L
                for p in ps:
                    for seed in config.seeds:
                        case: dict[str, Any] = {
                            "format": CASE_FORMAT,
                            "architecture": {"name": arch.name, "spec": arch.spec},
                            "data": d,
                            "optimizer": block.name,
                            "hyperparameters": p,
                            "relative_to_L": block.relative_to_L,
                            "init_seed": seed,
                            "steps": config.steps,
                            "checks": list(config.checks),
                        }
                        if need_L:
                            case["estimate_L"] = dict(config.estimate_L)
                        out.append(case)
    return out, sum(not f for row in fit for f in row)


def describe(case: dict[str, Any]) -> str:
    """A short human label: architecture, data, optimizer and hyperparameters, seed."""
    hp = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in case["hyperparameters"].items()
    )
    rel = " (x 1/L)" if case.get("relative_to_L") else ""
    d = case["data"]
    data = d.get("name", d["kind"])
    arch, opt, seed = case["architecture"]["name"], case["optimizer"], case["init_seed"]
    return f"{arch} on {data}, {opt}({hp}){rel}, seed {seed}"


def expand(config: SweepConfig) -> Plan:
    """Expand ``config`` into its :class:`Plan`. Raises :class:`SweepConfigError` for data that
    fit nothing, out-of-range hyperparameters, or a case that appears twice."""
    files: dict[str, str] = {}
    objects, unfit = _case_objects(config, files)
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for case in objects:
        text = canonical_json(case)
        key = case_key(case)
        if key in seen:
            raise SweepConfigError(
                f"{config.path}: case {describe(case)} appears twice (positions {seen[key]} and "
                f"{len(cases)}): the same architecture, data or optimizer block is listed twice"
                + (
                    ", or a random search drew the same point twice (its lists allow fewer "
                    "distinct points than its count)"
                    if any(b.search == "random" for b in config.optimizers)
                    else ""
                )
            )
        seen[key] = len(cases)
        cases.append(Case(len(cases), key, case, text))
    return Plan(config, tuple(cases), config_hash(seen), files, unfit)
