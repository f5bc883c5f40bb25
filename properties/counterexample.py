"""Counterexamples: serialised so that ``descentcheck train`` replays them bit for bit.

A counterexample in the ledger (DESIGN.md, ``verify --json``) is::

    {"spec": {...spec v1...},
     "data": {"x": [[...]], "y": [...]},            # y: float rows (mse) or int labels
     "params": {"NODE.PARAM": [[...]], ...},        # the initial parameters w_0, as lists
     "hyperparameters": {"optimizer": "momentum", "lr": ..., "momentum": ..., "steps": K,
                         "batch_size": null|N, "shuffle_seed": S, ...},
     "step": k,                                     # E(w_{k+1}) > E(w_k) here
     "loss_before": E(w_k), "loss_after": E(w_{k+1}), "increase": ...,
     "certified_increase": true|false|null}         # proved in interval arithmetic?

Floats go through JSON as Python's shortest round-tripping repr, so lists give back the same
float64 bits. :func:`write_replay` writes ``spec.json``, ``data.npz`` and ``params.npz`` and the
exact command; :func:`replay` runs the same training in-process.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from descentcheck.impl.data import check_arrays
from descentcheck.impl.errors import DescentcheckError
from descentcheck.impl.io import atomic_write_files, file_in_the_way, npz_bytes
from descentcheck.impl.network import Network
from descentcheck.impl.trainer import train
from descentcheck.impl.trajectory import Trajectory

Array = np.ndarray

# the trainer's own settings -> CLI options of ``descentcheck train`` (the optimizer's come from
# the optimizer registry, :func:`_options`)
_RUN_OPTIONS = {"steps": "--steps", "batch_size": "--batch-size", "shuffle_seed": "--shuffle-seed"}


def _options(optimizer: str) -> dict[str, str]:
    """Hyperparameter key -> CLI option, for ``optimizer``'s hyperparameters and the run's."""
    from descentcheck.registry.optimizers import get

    return {**{h.name: h.option for h in get(optimizer).hyperparameters}, **_RUN_OPTIONS}


def make_counterexample(
    spec: Mapping[str, Any],
    x: Array,
    y: Array,
    params: Mapping[str, Array],
    hyperparameters: Mapping[str, Any],
    step: int,
    losses: Array,
    **extra: Any,
) -> dict[str, Any]:
    """The ledger record of a loss increase at ``step`` (see the module docstring).

    ``y`` is the targets as a data file stores them, which ``train`` reads: a generated case's
    ``y`` (class labels or float targets, as drawn); its ``yt`` (the loss's form: one-hot rows)
    replays the same run. ``hyperparameters`` holds ``optimizer`` and the options of ``train``
    (``steps`` included); ``losses`` the trajectory, ``losses[step + 1] > losses[step]``."""
    y = np.asarray(y)
    return {
        "spec": json.loads(json.dumps(spec)),
        "data": {"x": np.asarray(x, dtype=np.float64).tolist(), "y": y.tolist()},
        "params": {k: np.asarray(v, dtype=np.float64).tolist() for k, v in params.items()},
        "hyperparameters": dict(hyperparameters),
        "step": int(step),
        "loss_before": float(losses[step]),
        "loss_after": float(losses[step + 1]),
        "increase": float(losses[step + 1] - losses[step]),
        **extra,
    }


def arrays(counterexample: Mapping[str, Any]) -> tuple[Array, Array, dict[str, Array]]:
    """x, y and the initial parameters of a counterexample, as float64 / int64 arrays."""
    data = counterexample["data"]
    x = np.asarray(data["x"], dtype=np.float64)
    y_list = data["y"]
    y = np.asarray(y_list)
    y = y.astype(np.int64) if y.dtype.kind in "iub" else y.astype(np.float64)
    params = {k: np.asarray(v, dtype=np.float64) for k, v in counterexample["params"].items()}
    return x, y, params


def train_kwargs(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """``descentcheck.impl.trainer.train`` keyword arguments for the hyperparameters."""
    hp = dict(hyperparameters)
    kw: dict[str, Any] = {"optimizer": hp.pop("optimizer"), "steps": hp.pop("steps")}
    kw["seed"] = hp.pop("shuffle_seed", 0)
    kw.update(hp)
    return kw


class CounterexampleError(DescentcheckError):
    """A counterexample that is not a run ``descentcheck train`` can replay."""


def _checked_kwargs(hp: Any) -> dict[str, Any]:
    """``train``'s keywords for a counterexample's hyperparameters: a table naming a registered
    optimizer and the steps, with only settings ``descentcheck train`` has options for (the
    printed replay command carries no others)."""
    from descentcheck.impl.errors import HyperparameterError
    from descentcheck.impl.validated import kind_of

    if not isinstance(hp, Mapping):
        raise CounterexampleError(
            f"not a run to replay: its hyperparameters must be a table, got {kind_of(hp)}"
        )
    try:
        known = _options(hp["optimizer"])
        kw = train_kwargs(hp)
    except KeyError as e:
        raise CounterexampleError(f"not a run to replay: its hyperparameters lack {e}") from None
    except HyperparameterError as e:
        raise CounterexampleError(f"not a run to replay: {e}") from None
    if extra := [k for k in hp if k != "optimizer" and k not in known]:
        raise CounterexampleError(
            f"not a run to replay: {extra[0]!r} is not a setting of a {hp['optimizer']} run "
            f"(known: {', '.join(known)})"
        )
    return kw


def _finite_number(v: Any) -> bool:
    """A finite int or float (an int past float64's range, as JSON can hold, is not: math.isfinite
    raised OverflowError on it, a traceback from a hand-edited ledger)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _shown(v: Any) -> str:
    """``repr(v)``, but an integer past float64's range by its size (one short line)."""
    if isinstance(v, int) and not isinstance(v, bool) and not _finite_number(v):
        return f"(an integer of {v.bit_length()} bits)"
    return repr(v)


def _shows_its_rise(ce: Mapping[str, Any]) -> None:
    """A counterexample that says ``certified_increase`` records a rise: finite losses with
    ``loss_after > loss_before`` and ``increase`` their difference (a hand-edited ledger's
    fall of 0.5 was reported as "the loss rose ..., certified in Arb ball arithmetic")."""
    if not ce.get("certified_increase"):
        return
    before, after = ce.get("loss_before"), ce.get("loss_after")
    numbers = all(_finite_number(v) for v in (before, after))
    if not numbers or not after > before:
        raise CounterexampleError(
            f"it says certified_increase, but its loss_after {_shown(after)} is not a finite "
            f"number above its loss_before {_shown(before)}"
        )
    if "increase" in ce and ce["increase"] != float(after - before):
        raise CounterexampleError(
            f"its increase {ce['increase']!r} is not loss_after - loss_before "
            f"({float(after - before)!r})"
        )


#: what a run to replay holds (a ledger's counterexample or a sweep case's run record)
RUN_KEYS = ("spec", "data", "params", "hyperparameters")


def _is_a_run_record(counterexample: Any) -> None:
    """A table holding every key of :data:`RUN_KEYS`: ``write_replay({})`` raised KeyError
    'hyperparameters' and ``write_replay(None)`` a TypeError (a held-out tester)."""
    from descentcheck.impl.validated import kind_of

    if not isinstance(counterexample, Mapping):
        raise CounterexampleError(
            f"not a run to replay: a counterexample must be a table, got {kind_of(counterexample)}"
        )
    if missing := [k for k in RUN_KEYS if k not in counterexample]:
        raise CounterexampleError(
            f"not a run to replay: it has no {missing[0]!r} (a run has {', '.join(RUN_KEYS[:-1])} "
            f"and {RUN_KEYS[-1]})"
        )


def check_counterexample(counterexample: Mapping[str, Any]) -> None:
    """Raise :class:`CounterexampleError` (one line) unless the counterexample is a run that
    ``train`` accepts: a valid spec, data and initial parameters that fit it, a known optimizer
    with hyperparameters in their ranges, a positive number of steps. Checked by building the
    network and training it for zero steps (one forward pass), so nothing is written for a run
    that cannot be replayed."""
    from descentcheck.impl.validated import kind_of

    _is_a_run_record(counterexample)
    kw = _checked_kwargs(counterexample["hyperparameters"])
    data, params = counterexample.get("data"), counterexample.get("params")
    for key, v, want in (("data", data, "a table of x and y"), ("params", params, "a table")):
        if not isinstance(v, Mapping):  # not "'int' object has no attribute 'items'"
            raise CounterexampleError(
                f"not a run to replay: its {key} must be {want}, got {kind_of(v)}"
            )
    if missing := [k for k in ("x", "y") if k not in data]:
        raise CounterexampleError(f"not a run to replay: its data lack {missing[0]!r}")
    try:
        x, y, params = arrays(counterexample)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
        raise CounterexampleError(
            f"not a run to replay: its data and parameters must be arrays of numbers "
            f"({' '.join(str(e).split())})"
        ) from None
    steps = kw.pop("steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise CounterexampleError(
            f"not a run to replay: steps must be a positive integer, got {steps!r}"
        )
    step = counterexample.get("step")  # the rising step, which the report marks on the run
    if "step" in counterexample and (
        isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < steps
    ):
        raise CounterexampleError(
            f"not a run to replay: its step (the rise) must be an integer in [0, {steps}), "
            f"got {step!r}"
        )
    _shows_its_rise(counterexample)
    try:
        net = Network.from_spec(counterexample["spec"])
        train(net, params, x, y, **kw, steps=0, progress=False)
    except DescentcheckError as e:
        raise CounterexampleError(f"not a run to replay: {e}") from None


def replay(counterexample: Mapping[str, Any]) -> Trajectory:
    """Train again from the serialised inputs (in-process); the trajectory shows the increase."""
    net = Network.from_spec(counterexample["spec"])
    x, y, params = arrays(counterexample)
    return train(net, params, x, y, **train_kwargs(counterexample["hyperparameters"]))


def uses_plugin(spec: Mapping[str, Any], optimizer: str) -> bool:
    """Whether a run of ``spec`` with ``optimizer`` needs an installed plugin (an op, a loss or
    the optimizer that is not built in)."""
    from descentcheck.registry import ops
    from descentcheck.registry import optimizers as optimizer_registry

    names = [n.get("op") for n in spec.get("nodes", ()) if isinstance(n, Mapping)]
    infos = [ops.get(str(name)) for name in (*names, spec.get("loss"))]
    if any(info is not None and info.plugin is not None for info in infos):
        return True
    return optimizer in optimizer_registry.names() and (
        optimizer_registry.get(optimizer).origin != "builtin"
    )


def program(spec: Mapping[str, Any], optimizer: str) -> list[str]:
    """How a printed command starts: ``descentcheck``, or ``python -m descentcheck`` for a run
    that needs a plugin (in a virtual environment that reaches descentcheck through
    ``--system-site-packages``, the ``descentcheck`` script on the PATH is the base
    interpreter's and does not see the plugin; the environment's ``python`` does)."""
    return ["python", "-m", "descentcheck"] if uses_plugin(spec, optimizer) else ["descentcheck"]


def replay_args(counterexample: Mapping[str, Any], directory: str | Path) -> list[str]:
    """The ``descentcheck train`` argument list that replays it from files in ``directory``
    (``python -m descentcheck train`` when it needs a plugin: :func:`program`)."""
    d = Path(directory)
    hp = dict(counterexample["hyperparameters"])
    args = [
        *program(counterexample["spec"], str(hp["optimizer"])),
        "train",
        str(d / "spec.json"),
        "--data",
        str(d / "data.npz"),
        "--init",
        str(d / "params.npz"),
        "--optimizer",
        str(hp.pop("optimizer")),
    ]
    for key, option in _options(str(args[-1])).items():
        v = hp.get(key)
        if v is None:
            continue
        args += [option, repr(float(v)) if isinstance(v, float) else str(v)]
    return [*args, "--out", str(d / "replay")]


def write_replay(counterexample: Mapping[str, Any], directory: str | Path) -> str:
    """Write ``spec.json``, ``data.npz`` (x, y) and ``params.npz`` into ``directory``, print the
    exact ``descentcheck train`` command that replays the counterexample, and return it. A
    counterexample that is no run (:func:`check_counterexample`), or a ``directory`` a file
    keeps from being made, writes nothing."""
    check_counterexample(counterexample)
    d = Path(directory)
    if (bad := file_in_the_way(d)) is not None:  # as replay says it, not mkdir's FileExistsError
        raise CounterexampleError(f"cannot write the replay into {directory}: {bad}")
    d.mkdir(parents=True, exist_ok=True)
    x, y, params = arrays(counterexample)
    check_arrays(x, y, where=f"data for {d / 'data.npz'}")  # as save_data checks them
    # one group: a failure (a full disk) or Ctrl-C leaves the folder's earlier three files, never
    # one new file beside two old ones it does not fit
    atomic_write_files(
        {
            d / "spec.json": (json.dumps(counterexample["spec"], indent=1) + "\n").encode(),
            d / "data.npz": npz_bytes({"x": np.asarray(x), "y": np.asarray(y)}),
            d / "params.npz": npz_bytes(params),
        }
    )
    command = shlex.join(replay_args(counterexample, d))
    print(command)
    return command


def describe_draw(value: Any) -> Any:
    """A plain-JSON form of a drawn value, for the ledger's ``falsifying_draw`` (a falsified
    claim whose check built no counterexample): a generated case as its spec, data and parameter
    seed (``net.init(param_seed, x)`` gives its parameters back), arrays as lists, numbers and
    strings as they are, anything else as its ``repr``."""
    from .strategies import Case

    if isinstance(value, Case):
        x, y, seed = np.asarray(value.x).tolist(), np.asarray(value.y).tolist(), value.param_seed
        return {"spec": value.spec, "x": x, "y": y, "param_seed": seed}
    if isinstance(value, Mapping):
        return {str(k): describe_draw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [describe_draw(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
