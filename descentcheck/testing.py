"""The reference trainer in a user's own test suite: check another framework's training loop.

::

    from descentcheck.testing import assert_trajectory_close, reference_trajectory

    ref = reference_trajectory(spec, params, x, y, optimizer="momentum", lr=0.1, momentum=0.5,
                               steps=50)
    mine = my_framework_train(spec, params, x, y, ...)     # see "What a candidate may be"
    assert_trajectory_close(ref, mine, rtol=1e-9)

:func:`reference_trajectory` trains with descentcheck's float64 numpy trainer (``train``) and
keeps every iterate. :func:`assert_trajectory_close` walks the steps k = 0, 1, ... and at each
compares, in this order, the loss E(w_k), the gradient norm ||g_k|| and every parameter array of
w_k, wherever both sides recorded them; the first value outside the tolerance raises
:class:`TrajectoryMismatch` (an ``AssertionError``, so pytest reports it as a failed test) whose
one-line message names the step, the quantity (``loss``, ``grad_norm``, or ``parameter NAME[i,
j]``) and both values.

Tolerances (numpy's ``allclose`` convention, the reference as the scale): a loss or gradient
norm at step k matches when ``|cand - ref| <= atol + rtol * max_{j <= k} |ref_j|``, relative to
the largest value of its series so far, and a parameter entry when ``|cand - ref| <= atol +
rtol * max|ref array|``, relative to the largest entry of its array: a late, small value (a
converged gradient norm near 3e-8, a loss fitted to 1e-16) is a sum whose terms keep the size
of the early ones, and rounds as they do (against ``|ref|`` alone a correct float64 torch
trainer failed at step 51 by 2e-16), as single entries pass through zero. Equal infinities
match, and NaN matches NaN. ``rtol`` and ``atol`` are numbers, or mappings with any of the keys
``"loss"``, ``"grad_norm"``, ``"params"`` (a missing key takes the default).

What a candidate may be (``reference`` too):

* a :class:`~descentcheck.impl.trajectory.Trajectory` (every iterate compared when it kept
  them, ``keep_params=True``; otherwise its final parameters, as w_K);
* a mapping ``{"losses": [E_0, ..., E_K], "grad_norms": [...], "params": ...}``: ``losses``
  required; ``grad_norms`` optional (``grad_norms[k]`` the norm of the gradient update k used);
  ``params`` optional, either a sequence of per-step dicts ``NAME.PARAM -> array`` (w_0, w_1,
  ...) or one such dict, the final parameters w_K;
* a sequence of per-step records ``[{"loss": E_k, "grad_norm": ..., "params": {...}}, ...]``
  (record k describes w_k: ``loss`` required, the others optional), which is what a training
  loop appending one dict per step produces; a mapping with such a list under ``"steps"`` (the
  ``trajectory.json`` that ``descentcheck train`` writes) is read the same way (beside
  ``losses`` it is refused, as one of the two would go unread);
* the path of such a ``trajectory.json``, or of the run folder that holds one; the
  ``params.npz`` beside it (``descentcheck train``'s final parameters) is compared as w_K when
  the run completed.

Arrays may be anything ``numpy.asarray`` reads (convert GPU tensors to host arrays first);
numbers may be the strings ``"inf"``, ``"-inf"``, ``"nan"`` of ``trajectory.json``. Both sides
must record the same number of losses; gradient norms and parameters are compared at the steps
both recorded. A candidate in none of these shapes raises ``TypeError`` or ``ValueError`` with
one line saying what is wrong; so does a key one edit from a known one (``grad_norm`` in the
mapping form, ``grad_norms`` in a record), since its quantity would silently go uncompared.
Other extra keys (metadata) are ignored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from descentcheck.impl.trajectory import NON_FINITE, TRAJECTORY_FORMAT, Trajectory

QUANTITIES = ("loss", "grad_norm", "params")
DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 0.0

__all__ = ["TrajectoryMismatch", "assert_trajectory_close", "reference_trajectory"]


class TrajectoryMismatch(AssertionError):
    """Two trajectories differ: ``step`` and ``quantity`` name the first value that does, and
    ``reference`` and ``candidate`` hold the two values."""

    def __init__(
        self, message: str, step: int, quantity: str, reference: Any, candidate: Any
    ) -> None:
        super().__init__(message)
        self.step = step
        self.quantity = quantity
        self.reference = reference
        self.candidate = candidate


def reference_trajectory(
    spec: Any,
    params: Mapping[str, Any],
    x: Any,
    y: Any,
    optimizer: str = "gd",
    *,
    steps: int = 100,
    batch_size: int | None = None,
    seed: int = 0,
    **hyperparameters: Any,
) -> Trajectory:
    """descentcheck's float64 run of ``optimizer`` from ``params``, keeping every iterate.

    Args:
        spec: an architecture: a spec dict, a spec file's path, a built-in example's name, or a
            :class:`~descentcheck.impl.network.Network`.
        params: the initial parameters, ``NAME.PARAM -> array`` (not modified).
        x, y: the data, as ``Network.check_data`` takes them (integer labels are one-hot
            encoded for a loss taking labels: ``softmax_cross_entropy``, or a plugin loss with
            ``targets="labels"``).
        optimizer: a registered optimizer's name (``descentcheck.registry.optimizers.names()``:
            the built-ins and any plugin's).
        steps, batch_size, seed: as for ``descentcheck.train`` (full batch by default).
        **hyperparameters: the optimizer's, as its registry entry declares them, e.g.
            ``lr=0.1, momentum=0.5``; one it does not take is a ``HyperparameterError``.

    Returns:
        The :class:`Trajectory`: ``losses`` E(w_0..w_K), ``grad_norms``, and
        ``params_history`` w_0..w_K.
    """
    from descentcheck.impl.errors import HyperparameterError
    from descentcheck.impl.network import Network
    from descentcheck.impl.trainer import train

    # train's own options that a reference fixes: given here, train saw them twice
    fixed = sorted(set(hyperparameters) & {"keep_params", "progress", "backend"})
    if fixed:
        raise HyperparameterError(
            f"reference_trajectory takes no {fixed[0]!r}: a reference keeps every iterate, "
            "computes on the CPU in float64 and shows no bar"
        )
    net = spec if isinstance(spec, Network) else Network.from_spec(spec)
    if not isinstance(params, Mapping):
        raise TypeError(f"params: expected a mapping NAME.PARAM -> array, got {params!r:.40}")
    xs, ys = net.check_data(np.asarray(x), np.asarray(y))
    start = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    return train(
        net,
        start,
        xs,
        ys,
        optimizer=optimizer,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        keep_params=True,
        **hyperparameters,
    )


# ---- reading either side ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """One side, normalised: losses, gradient norms (or None), parameters by step."""

    losses: np.ndarray
    grad_norms: np.ndarray | None
    params: dict[int, dict[str, np.ndarray]]


def _real_number(v: Any) -> float:
    """``float(v)`` for a real number, or for ``"inf"``, ``"-inf"``, ``"nan"`` (how
    ``trajectory.json`` writes them); another string, a bool or a complex number is refused (a
    held-out user's ``"0.5"`` and ``True`` were taken for numbers, a complex one lost its
    imaginary part with only a warning)."""
    if isinstance(v, str) and v in NON_FINITE:
        return float(v)
    if isinstance(v, str | bytes | bool | np.bool_ | complex) or np.iscomplexobj(v):
        raise ValueError(f"{v!r} is not a real number")
    return float(v)


def _unreadable(what: str, e: Exception) -> ValueError:
    """A value another framework would not hand over as numbers, named in one line (a torch
    tensor that requires grad raises torch's own ``RuntimeError`` inside numpy)."""
    from descentcheck.messages import one_line

    return ValueError(
        f"{what}: not readable as numbers ({one_line(e)}); hand plain "
        "values, e.g. a torch tensor's .detach().numpy() or .item()"
    )


def _floats(values: Any, what: str) -> np.ndarray:
    if isinstance(values, Mapping | Set):  # iterating one gives its keys, or no order at all
        raise TypeError(
            f"{what}: expected a sequence of numbers in step order, got a "
            f"{type(values).__name__} (a list or an array: E_0, E_1, ...)"
        )
    try:
        return np.array([_real_number(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}: expected a sequence of numbers ({e})") from None
    except Exception as e:  # a framework's refusal to convert (torch's RuntimeError)
        raise _unreadable(what, e) from None


def _param_dict(p: Any, what: str) -> dict[str, np.ndarray]:
    if not isinstance(p, Mapping):
        raise TypeError(f"{what}: expected a dict NAME.PARAM -> array, got {type(p).__name__}")
    out = {}
    for k, v in p.items():
        try:
            a = np.asarray(v)
        except Exception as e:  # a framework's refusal to convert (torch's RuntimeError)
            raise _unreadable(f"{what}: {k}", e) from None
        if a.dtype.kind not in "fiu":  # complex, bool, strings, objects
            raise ValueError(f"{what}: {k} is not a real float array (dtype {a.dtype})")
        out[str(k)] = a.astype(np.float64)
    return out


def _no_near_misses(keys: Any, known: tuple[str, ...], what: str) -> None:
    """A key one edit from a known one (``grad_norm`` for ``grad_norms``) would be ignored and
    its quantity never compared: refused, named. Other extra keys (metadata) are left alone."""
    from descentcheck.impl.errors import did_you_mean

    for key in keys:
        hint = did_you_mean(key, known) if key not in known else ""
        if hint:
            raise ValueError(
                f"{what}: unknown key {key!r}{hint} (it would not be compared; known: "
                f"{', '.join(known)})"
            )


MAPPING_KEYS = ("losses", "grad_norms", "params", "steps")
RECORD_KEYS = ("loss", "grad_norm", "params", "step", "step_norm", "momentum")


def _from_records(records: Sequence[Any], what: str) -> _Run:
    if not all(isinstance(r, Mapping) for r in records):
        raise TypeError(f"{what}: every per-step record must be a dict with a 'loss'")
    for k, r in enumerate(records):
        _no_near_misses(r, RECORD_KEYS, f"{what} step record {k}")
        # trajectory.json's records carry their index: one out of place is not step k
        if "step" in r and not (isinstance(r["step"], int | np.integer) and r["step"] == k):
            raise ValueError(f"{what}: step record {k} says 'step': {r['step']!r}")
    if not all("loss" in r for r in records):
        k = next(i for i, r in enumerate(records) if "loss" not in r)
        raise ValueError(f"{what}: step record {k} has no 'loss'")
    losses = _floats([r["loss"] for r in records], f"{what} losses")
    norms = [r.get("grad_norm") for r in records]
    n = next((i for i, v in enumerate(norms) if v is None), len(norms))
    grad_norms = _floats(norms[:n], f"{what} grad_norm") if n else None
    params = {
        k: _param_dict(r["params"], f"{what} step {k} params")
        for k, r in enumerate(records)
        if r.get("params") is not None
    }
    return _Run(losses, grad_norms, params)


def _from_mapping(m: Mapping[str, Any], what: str) -> _Run:
    steps = m.get("steps")
    records = isinstance(steps, Sequence) and any(isinstance(r, Mapping) for r in steps)
    if records and "losses" in m:  # one would be read and the other never compared
        raise ValueError(
            f"{what}: a mapping with both 'losses' and 'steps' of per-step records; give one"
        )
    if isinstance(steps, Sequence) and "losses" not in m:
        return _from_records(steps, what)
    _no_near_misses(m, MAPPING_KEYS, what)
    if "losses" not in m:
        raise ValueError(f"{what}: a mapping needs 'losses' (or 'steps', per-step records)")
    losses = _floats(m["losses"], f"{what} losses")
    grads = m.get("grad_norms")
    grad_norms = _floats(grads, f"{what} grad_norms") if grads is not None else None
    p = m.get("params")
    if p is None:
        params: dict[int, dict[str, np.ndarray]] = {}
    elif isinstance(p, Mapping):
        params = {len(losses) - 1: _param_dict(p, f"{what} params")}
    elif isinstance(p, Iterable) and not isinstance(p, str | bytes):
        params = {k: _param_dict(v, f"{what} params[{k}]") for k, v in enumerate(p)}
    else:  # enumerate's "'int' object is not iterable" named neither the side nor the key
        raise TypeError(
            f"{what} params: expected a dict NAME.PARAM -> array (w_K) or a list of them (w_0, "
            f"w_1, ...), got {type(p).__name__}"
        )
    return _Run(losses, grad_norms, params)


def _from_file(path: str | os.PathLike, what: str) -> Any:
    """The document of a ``trajectory.json``, or of the one in a run folder."""
    from descentcheck.impl.io import exists, read_document

    p = Path(path)
    if exists(p) and p.is_dir():
        p = p / "trajectory.json"
    doc = read_document(p, f"{what}: trajectory file", ValueError)[0]
    if isinstance(doc, Mapping):
        _whole_document(doc, f"{what}: {p}")
    return doc


def _whole_document(doc: Mapping[str, Any], where: str) -> None:
    """Refuse a ``trajectory.json`` of another format version, or a completed run's file that
    holds fewer or more step records than its ``n_steps`` + 1 (a held-out tester's file cut to
    3 of 6 records was reported as a parameter mismatch at step 2)."""
    fmt = doc.get("format", TRAJECTORY_FORMAT)
    if fmt != TRAJECTORY_FORMAT:
        raise ValueError(
            f"{where}: format {fmt!r} is not one this descentcheck reads ({TRAJECTORY_FORMAT})"
        )
    n, steps = doc.get("n_steps"), doc.get("steps")
    completed = doc.get("status") == "completed" and isinstance(n, int) and isinstance(steps, list)
    if completed and len(steps) != n + 1:
        raise ValueError(
            f"{where}: a completed run of {n} steps holds {len(steps)} step records, not {n + 1} "
            "(a truncated or edited file?)"
        )


def _final_params(path: str | os.PathLike, doc: Any, run: _Run, what: str) -> _Run:
    """``run`` with the ``params.npz`` that ``descentcheck train`` writes beside its
    ``trajectory.json`` as w_K, for a completed run that records no parameters (a run folder's
    parameters went uncompared: a held-out audit added 1 to every entry and it passed). A
    diverged run's file holds the iterate after its last recorded loss, so it is left out."""
    from descentcheck.impl.io import exists, load_npz

    p = Path(path)
    npz = (p if exists(p) and p.is_dir() else p.parent) / "params.npz"
    completed = isinstance(doc, Mapping) and doc.get("status") == "completed"
    if run.params or not completed:
        return run
    if not exists(npz):
        if doc.get("params_sha256") is None:  # written by another tool, or before the digest
            return run
        raise ValueError(  # its w_K would go uncompared (a held-out tester deleted it)
            f"{what}: {npz} is missing, and its trajectory.json records the params.npz that "
            "descentcheck train wrote beside it"
        )
    _same_run(npz, doc, what)
    try:
        arrays = load_npz(npz, "params")
    except Exception as e:  # descentcheck's one-line ParamsError: a ValueError for this API
        raise ValueError(f"{what}: {e}") from None
    last = {len(run.losses) - 1: _param_dict(arrays, f"{what} {npz}")}
    return _Run(run.losses, run.grad_norms, last)


def _same_run(npz: Path, doc: Mapping[str, Any], what: str) -> None:
    """Refuse a ``params.npz`` that is not the one its ``trajectory.json`` was written with
    (``params_sha256``, which ``descentcheck train`` records: a kill -9 between the pair's two
    renames can leave a new file beside an old one)."""
    import hashlib

    recorded = doc.get("params_sha256")
    if recorded is None:  # a run folder from before the digest, or written by another tool
        return
    try:
        digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    except OSError as e:
        raise ValueError(f"{what}: {npz} cannot be read ({e.strerror})") from None
    if digest != recorded:
        raise ValueError(
            f"{what}: {npz} is not the params.npz its trajectory.json was written with "
            "(params_sha256 differs: a run stopped between writing the two?)"
        )


def _consistent(run: _Run, what: str) -> _Run:
    """``run``, unless it records gradient norms or parameters for steps it has no loss for:
    those would never be compared (a held-out audit's 5 gradient norms beside 2 losses)."""
    n = len(run.losses)
    if run.grad_norms is not None and len(run.grad_norms) > n:
        raise ValueError(
            f"{what}: {len(run.grad_norms)} gradient norms for {n} losses (at most one per loss)"
        )
    if run.params and max(run.params) >= n:
        raise ValueError(
            f"{what}: parameters for {max(run.params) + 1} steps (w_0, w_1, ...) for {n} losses"
        )
    return run


def _read(side: Any, what: str) -> _Run:
    if isinstance(side, str | os.PathLike):
        doc = _from_file(side, what)
        return _final_params(side, doc, _read(doc, what), what)
    if isinstance(side, Trajectory):
        # a run ended by a non-finite update keeps that iterate (w_{k+1}, NaN) with no loss:
        # the iterates are those with a loss, and a diverged run's final one is not compared
        hist, n = side.params_history, len(side.losses)
        if hist is not None:
            params = dict(enumerate(hist[:n]))
        else:
            params = {n - 1: dict(side.params)} if side.status == "completed" else {}
        params = {k: _param_dict(v, what) for k, v in params.items()}
        return _Run(_floats(side.losses, what), _floats(side.grad_norms, what), params)
    if isinstance(side, Mapping):
        if "format" in side:  # a trajectory.json loaded by the caller: the file's own checks
            _whole_document(side, what)
        return _from_mapping(side, what)
    if isinstance(side, Sequence) and not isinstance(side, str | bytes):
        return _from_records(side, what)
    raise TypeError(
        f"{what}: expected a Trajectory, a mapping with 'losses' or a list of per-step records, "
        f"got {type(side).__name__}"
    )


# ---- comparing --------------------------------------------------------------------------------


def _tolerance(value: float | Mapping[str, float], default: float, name: str) -> dict[str, float]:
    given = dict(value) if isinstance(value, Mapping) else dict.fromkeys(QUANTITIES, value)
    unknown = sorted(set(given) - set(QUANTITIES))
    if unknown:
        from descentcheck.impl.errors import did_you_mean

        known = f" (one of {', '.join(QUANTITIES)})"
        raise ValueError(
            f"{name}: unknown quantity {unknown[0]!r}{known}{did_you_mean(unknown[0], QUANTITIES)}"
        )
    for q, v in given.items():  # True would pass for 1 and "1e-2" for a number
        if isinstance(v, bool) or not isinstance(v, int | float | np.floating | np.integer):
            raise TypeError(f"{name} for {q} must be a number, got {v!r}")
    out = {q: float(given.get(q, default)) for q in QUANTITIES}
    bad = [q for q, v in out.items() if not (v >= 0 and math.isfinite(v))]
    if bad:
        raise ValueError(f"{name} for {bad[0]} must be a finite number >= 0, got {out[bad[0]]}")
    return out


def _bad(ref: np.ndarray, cand: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Entries that differ beyond ``allowed`` (equal values, infinities and NaNs match)."""
    with np.errstate(invalid="ignore"):
        near = np.isfinite(ref) & np.isfinite(cand) & (np.abs(cand - ref) <= allowed)
        close = (ref == cand) | near | (np.isnan(ref) & np.isnan(cand))
    return ~close


def _fail(step: int, quantity: str, ref: float, cand: float, allowed: float, rule: str) -> NoReturn:
    __tracebackhide__ = True  # pytest shows the caller's line, not these frames
    agree = f"steps 0-{step - 1} agree" if step > 1 else ("step 0 agrees" if step else "")
    if math.isfinite(ref) and math.isfinite(cand):
        why = f"|diff| {abs(cand - ref):.3g} > {allowed:.3g} = {rule}"
    else:
        why = "a non-finite value matches only itself"
    raise TrajectoryMismatch(
        f"trajectories differ at step {step}, {quantity}: candidate {cand!r} vs reference "
        f"{ref!r} ({why})" + (f"; {agree}" if agree else ""),
        step,
        quantity,
        ref,
        cand,
    )


def _check_scalar(
    k: int, q: str, ref: float, cand: float, rtol: dict, atol: dict, top: float
) -> None:
    """``top``: the largest finite |reference| of ``q`` at steps 0..k (see the module docstring)."""
    __tracebackhide__ = True
    allowed = atol[q] + rtol[q] * top
    if _bad(np.float64(ref), np.float64(cand), np.float64(allowed)):
        _fail(k, q, ref, cand, allowed, f"atol + rtol·max|reference so far| for {q}")


def _check_params(k: int, ref: dict, cand: dict, rtol: dict, atol: dict) -> None:
    __tracebackhide__ = True
    if sorted(ref) != sorted(cand):
        missing = sorted(set(ref) - set(cand))
        extra = sorted(set(cand) - set(ref))
        what = " and ".join(
            part
            for part in (missing and f"missing {missing}", extra and f"unexpected {extra}")
            if part
        )
        raise TrajectoryMismatch(
            f"trajectories differ at step {k}, parameter names: the candidate has {what}",
            k,
            "parameter names",
            sorted(ref),
            sorted(cand),
        )
    for name in sorted(ref):
        r, c = ref[name], cand[name]
        if r.shape != c.shape:
            raise TrajectoryMismatch(
                f"trajectories differ at step {k}, parameter {name}: shape {c.shape} in the "
                f"candidate, {r.shape} in the reference",
                k,
                f"parameter {name}",
                r.shape,
                c.shape,
            )
        finite = np.abs(r[np.isfinite(r)])
        allowed = atol["params"] + rtol["params"] * float(finite.max(initial=0.0))
        bad = np.flatnonzero(_bad(r, c, np.float64(allowed)))
        if bad.size:
            i = np.unravel_index(int(bad[0]), r.shape)
            where = f"[{', '.join(str(int(j)) for j in i)}]" if r.ndim else ""
            rule = f"atol + rtol·max|{name}| for params"
            _fail(k, f"parameter {name}{where}", float(r[i]), float(c[i]), allowed, rule)


def assert_trajectory_close(
    reference: Any,
    candidate: Any,
    rtol: float | Mapping[str, float] = DEFAULT_RTOL,
    atol: float | Mapping[str, float] = DEFAULT_ATOL,
) -> None:
    """Raise :class:`TrajectoryMismatch` at the first step and quantity where ``candidate``
    leaves ``reference``'s tolerance; see the module docstring for the accepted shapes and the
    tolerance rule.

    Raises:
        TrajectoryMismatch: the first difference (losses, gradient norms, parameters per step),
            or a different number of steps.
        TypeError, ValueError: a side in none of the accepted shapes, or a bad tolerance.
    """
    __tracebackhide__ = True  # a failing test's report ends at its own assert_trajectory_close
    rt = _tolerance(rtol, DEFAULT_RTOL, "rtol")
    at = _tolerance(atol, DEFAULT_ATOL, "atol")
    ref = _consistent(_read(reference, "reference"), "reference")
    cand = _consistent(_read(candidate, "candidate"), "candidate")
    common = min(len(ref.losses), len(cand.losses))
    top = {"loss": 0.0, "grad_norm": 0.0}  # the largest finite |reference| so far

    def scalar(k: int, q: str, r: float, c: float) -> None:
        __tracebackhide__ = True
        if math.isfinite(r):
            top[q] = max(top[q], abs(r))
        _check_scalar(k, q, r, c, rt, at, top[q])

    for k in range(common):
        scalar(k, "loss", float(ref.losses[k]), float(cand.losses[k]))
        if ref.grad_norms is not None and cand.grad_norms is not None:
            if k < min(len(ref.grad_norms), len(cand.grad_norms)):
                scalar(k, "grad_norm", float(ref.grad_norms[k]), float(cand.grad_norms[k]))
        if k in ref.params and k in cand.params:
            _check_params(k, ref.params[k], cand.params[k], rt, at)
    if len(ref.losses) != len(cand.losses):
        raise TrajectoryMismatch(
            f"trajectories differ at step {common}, number of steps: the candidate records "
            f"{len(cand.losses)} losses, the reference {len(ref.losses)} (the first {common} "
            "agree)",
            common,
            "number of steps",
            len(ref.losses),
            len(cand.losses),
        )
