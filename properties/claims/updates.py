"""The whole update: the trainer's step equals the SymPy-derived rule, entry by entry (holds).

Black box: :func:`~descentcheck.impl.trainer.train` runs K steps (``keep_params=True``, so the
in-place flat form of the optimizer is what runs, exactly as on the command line); the applied
step ``D_k = w_(k+1) - w_k`` (exact in mpmath) is compared with the update rule of
:func:`descentcheck.theory.momentum.step_rules`, evaluated in mpmath at 50 digits at the run's own
observables: the gradient ``g_k = grad E(w_k)`` (recomputed, the same bits), the previous
gradient and the previous *applied* step ``D_(k-1)`` (0 at k = 0), and for RMSProp, whose state
cannot be seen from outside, ``v`` and ``buf`` unrolled in mpmath from ``g_0 .. g_k``. Adaptive
momentum's groups are built here from the spec (array, unit, node, global), not from the
trainer's code.

Tolerance, from float64 rounding (u = 2^-53, rho_k = half an ulp of |w_k| entrywise: the most
``fl(w_k + dw)`` can lose, so also the most ``D_(k-1)`` differs from the step the optimizer
remembers), entry by entry, with magnitudes ``|.|`` of the rule's terms::

    gd          rho_(k+1) + 2u lr|g|
    momentum    rho_(k+1) + beta rho_k + 4u (lr|g| + beta (|D| + rho_k))
    nesterov    rho_(k+1) + beta rho_k
                + 6u (lr (1+beta)|g| + beta (|D| + rho_k + 2 lr|g_(k-1)|))
    adaptive    rho_(k+1) + 4/3 A (rho_k + |D| |rho_k|_G / |D|_G) + (n_G + 8) u A (|D| + rho_k)
                + 2u lr|g|,   A = tau |g|_G / |D|_G; a group with |D|_G <= 4 |rho_k|_G has no
                resolvable direction: its momentum term is only bounded, + tau |g|_G
    rmsprop     rho_(k+1) + (4k + 10) u lr M_k,   M_k = beta M_(k-1) + |g_k| / (sqrt(v_k) + eps)
                (beta = 0 without momentum)

(a term-by-term forward error bound of the trainer's operations, first order in u), times a
safety factor of 2. An entry is *sign-resolved* when the rule's value exceeds its tolerance: the
ledger counts them, and a case with none (E constant, all gradients 0) counts as vacuous, not
as tested. Mutants this kills are kept in ``tests/test_properties_updates.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from descentcheck.impl.network import Network
from descentcheck.impl.trainer import train
from descentcheck.registry.optimizers import ADAPTIVE_GROUPINGS as GROUPS
from descentcheck.registry.optimizers import names as optimizer_names
from descentcheck.theory.momentum import step_rules

from .. import registered_updates as registered
from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import Case, Limits, cases, log_uniform, unit_interval, whatever_the_op

DPS = 50
U = 2.0**-53
SAFETY = 2.0
SMALL = Limits(max_blocks=3, max_width=3, max_inputs=2, max_rows=4)


@cache
def _rules() -> dict[str, Any]:
    """The SymPy rules lambdified to mpmath (once per process)."""
    return {
        name: sp.lambdify(symbols, expr, modules="mpmath")
        for name, (expr, symbols, _proofs) in step_rules(prove=False).items()
    }


KINDS = ("gd", "momentum", "nesterov", "adaptive_momentum", "rmsprop")  # hand-derived bounds


@st.composite
def optimizer_draws(draw: st.DrawFn, kinds: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Every optimizer of ``kinds`` (default: every registered one, plugins included), each with
    its own drawn hyperparameters (:func:`hyperparameters_of`). Every case checks them all: a
    drawn kind (one of ``st.one_of``, ``st.sampled_from``, a byte modulo the count) left some
    optimizer out of whole 50-example runs (none of 50 drew adaptive momentum in one), and a
    held-out bug in it went unseen."""
    kinds = kinds or optimizer_names()
    return [draw(hyperparameters_of(kind), label=kind) for kind in kinds]


@st.composite
def hyperparameters_of(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """``kind``'s hyperparameters: lr log-uniform in [1e-3, 0.5] (RMSProp: a tenth), beta, tau,
    rho spread evenly over their ranges, eps log-uniform; a plugin's from its declared ranges.
    Adaptive momentum is then checked with every grouping and RMSProp with and without momentum
    (:func:`variants`): Hypothesis repeats a drawn prefix over runs of examples, so a drawn
    grouping covered only 2 of 4 groupings in some 400-example runs."""
    if kind not in KINDS:
        return draw(registered.hyperparameter_draws(kind), label="hyperparameters")
    hp: dict[str, Any] = {"optimizer": kind, "lr": draw(log_uniform(1e-3, 0.5), label="lr")}
    if kind in ("momentum", "nesterov", "rmsprop"):
        hp["momentum"] = draw(unit_interval(0.05, 0.95), label="beta")
    if kind == "adaptive_momentum":
        hp["tau"] = draw(unit_interval(0.01, 0.5), label="tau")
    if kind == "rmsprop":
        hp["lr"] /= 10
        hp["rho"] = draw(unit_interval(0.5, 0.999), label="rho")
        hp["eps"] = draw(log_uniform(1e-8, 1e-3), label="eps")
    return hp


def variants(hp: dict[str, Any]) -> list[dict[str, Any]]:
    """The settings checked for one draw: adaptive momentum with each grouping, RMSProp without
    and with torch's momentum option, any other optimizer as drawn."""
    if hp["optimizer"] not in KINDS:
        return registered.variants(hp)
    if hp["optimizer"] == "adaptive_momentum":
        return [{**hp, "group": g} for g in GROUPS]
    if hp["optimizer"] == "rmsprop":
        return [{k: v for k, v in hp.items() if k != "momentum"}, hp]
    return [hp]


def update_strategy(
    kinds: tuple[str, ...] | None = None,
) -> Callable[[Profile], st.SearchStrategy[dict[str, Any]]]:
    """The claim's strategy over the optimizer kinds ``kinds`` (a test narrows them)."""

    def strategy(profile: Profile) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                "hp": optimizer_draws(kinds),
                # two blocks or more, so skips can merge (at one, 0 of fast's 15 cases had a
                # merge and 5 were one dense layer), relu among the activations
                "case": cases(SMALL, min_blocks=2, shape_options=whatever_the_op()),
                # from 3: a state that goes wrong only when it is read twice (the step after
                # next) shows from the third step on; a held-out bug hid at 2
                "steps": st.integers(3, 4),
            }
        )

    return strategy


def reference_groups(net: Network, group: str) -> list[np.ndarray]:
    """Adaptive momentum's groups as index arrays into the flat parameter vector, built from
    the spec: ``array`` each parameter array; ``node`` each node's arrays; ``global`` all;
    ``unit`` each unit's incoming weights and bias (dense: column j of W and b[j]; distance
    layers: row j of the centroids and row j / entry j of the radii)."""
    spans = {k: (a, b, shape) for k, (a, b, shape) in net.layout.items()}
    if group == "global":
        return [np.arange(net.size)]
    if group == "array":
        return [np.arange(a, b) for a, b, _ in spans.values()]
    out = []
    for node in net.spec.order:
        keys = [k for k in spans if k.rsplit(".", 1)[0] == node]
        if not keys:
            continue
        if group == "node":
            out.append(np.concatenate([np.arange(*spans[k][:2]) for k in keys]))
            continue
        per_unit = []
        for k in keys:
            a, b, shape = spans[k]
            idx = np.arange(a, b).reshape(shape)
            per_unit.append(idx.T if k.endswith(".W") else idx.reshape(shape[0], -1))
        units = per_unit[0].shape[0]
        out.extend(np.concatenate([p[j].reshape(-1) for p in per_unit]) for j in range(units))
    return out


def half_ulp(v: np.ndarray) -> np.ndarray:
    """Half an ulp of each ``|v|`` (at least the smallest subnormal): the most rounding to
    float64 moves a value near ``v``."""
    return np.maximum(np.spacing(np.abs(v)) / 2, np.finfo(np.float64).smallest_subnormal)


def _mp(v: np.ndarray | list[mpmath.mpf]) -> list[mpmath.mpf]:
    return [mpmath.mpf(float(t)) for t in v]


def _adaptive(
    hp: dict[str, Any],
    g: np.ndarray,
    D: list[mpmath.mpf],
    rho_k: np.ndarray,
    groups: list[np.ndarray],
    absg: np.ndarray,
    absD: np.ndarray,
) -> tuple[list[Any], np.ndarray]:
    """Rule values and tolerances for adaptive momentum (see the module docstring)."""
    f = _rules()["adaptive_momentum"]
    lr, tau = hp["lr"], hp["tau"]
    ref: list[Any] = [None] * len(g)
    tol = np.zeros(len(g))
    Gm, Dm = _mp(g), _mp(D)
    for idx in groups:
        G2 = mpmath.fsum(Gm[i] ** 2 for i in idx)
        D2 = mpmath.fsum(Dm[i] ** 2 for i in idx)
        dn, rn = float(mpmath.sqrt(D2)), float(np.linalg.norm(rho_k[idx]))
        A = tau * float(mpmath.sqrt(G2)) / dn if dn > 0 else 0.0
        resolved = dn > 4 * rn
        for i in idx:
            ref[i] = f(lr, tau, Gm[i], Dm[i], G2, D2 if resolved else mpmath.mpf(0))
            t = 2 * U * lr * absg[i]
            if resolved:
                t += 4 / 3 * A * (rho_k[i] + absD[i] * rn / dn)
                t += (len(idx) + 8) * U * A * (absD[i] + rho_k[i])
            else:
                t += tau * float(mpmath.sqrt(G2))
            tol[i] = t
    return ref, tol


def reference_steps(
    hp: dict[str, Any], W: list[np.ndarray], G: list[np.ndarray], groups: list[np.ndarray]
) -> list[tuple[list[Any], np.ndarray]]:
    """For each step k: (rule values in mpmath, tolerances without the final rho_(k+1))."""
    name = hp["optimizer"]
    if name not in KINDS:
        return registered.reference_steps(hp, W, G)
    rules = _rules()
    lr = hp["lr"]
    beta = hp.get("momentum", 0.0)
    n = len(W[0])
    v = [mpmath.mpf(0)] * n
    buf = [mpmath.mpf(0)] * n
    M = np.zeros(n)
    out = []
    for k in range(len(W) - 1):
        g = G[k]
        gp = G[k - 1] if k else np.zeros(n)
        D = (W[k] - W[k - 1]) if k else np.zeros(n)  # a float difference: only for magnitudes
        Dm = (
            [mpmath.mpf(float(a)) - mpmath.mpf(float(b)) for a, b in zip(W[k], W[k - 1])]
            if k
            else [mpmath.mpf(0)] * n
        )
        rho_k = half_ulp(W[k]) if k else np.zeros(n)
        absg, absD, absgp = np.abs(g), np.abs(D), np.abs(gp)
        if name == "gd":
            ref = [rules["gd"](lr, mpmath.mpf(float(t))) for t in g]
            tol = 2 * U * lr * absg
        elif name == "momentum":
            ref = [rules["momentum"](lr, beta, mpmath.mpf(float(t)), d) for t, d in zip(g, Dm)]
            tol = beta * rho_k + 4 * U * (lr * absg + beta * (absD + rho_k))
        elif name == "nesterov":
            f = rules["nesterov"]
            ref = [
                f(lr, beta, mpmath.mpf(float(a)), mpmath.mpf(float(b)), d)
                for a, b, d in zip(g, gp, Dm)
            ]
            tol = beta * rho_k + 6 * U * (
                lr * (1 + beta) * absg + beta * (absD + rho_k + 2 * lr * absgp)
            )
        elif name == "adaptive_momentum":
            ref, tol = _adaptive(hp, g, Dm, rho_k, groups, absg, absD)
        else:
            ref, v, buf, M = _rmsprop(hp, g, v, buf, M, k)
            tol = (4 * k + 10) * U * lr * M
        out.append((ref, np.asarray(tol, dtype=float)))
    return out


def _rmsprop(
    hp: dict[str, Any],
    g: np.ndarray,
    v: list[mpmath.mpf],
    buf: list[mpmath.mpf],
    M: np.ndarray,
    k: int,
) -> tuple[list[Any], list[mpmath.mpf], list[mpmath.mpf], np.ndarray]:
    """RMSProp's rule with its state unrolled in mpmath from the gradients (identity 5)."""
    lr, rho, eps, beta = hp["lr"], hp["rho"], hp["eps"], hp.get("momentum", 0.0)
    rules = _rules()
    gm = _mp(g)
    if beta:
        ref = [
            rules["rmsprop_momentum"](lr, rho, eps, beta, a, vv, bb)
            for a, vv, bb in zip(gm, v, buf)
        ]
    else:
        ref = [rules["rmsprop"](lr, rho, eps, a, vv) for a, vv in zip(gm, v)]
    v = [rho * vv + (1 - mpmath.mpf(rho)) * a * a for a, vv in zip(gm, v)]
    scaled = [a / (mpmath.sqrt(vv) + eps) for a, vv in zip(gm, v)]
    buf = [beta * bb + s for bb, s in zip(buf, scaled)] if beta else scaled
    M = beta * M + np.abs(np.array([float(s) for s in scaled]))
    return ref, v, buf, M


def label(hp: dict[str, Any]) -> str:
    """A run's name in measured keys (``runs_NAME``): a plugin with its choices
    (``clipgd_value``), adaptive momentum with its grouping, RMSProp with momentum apart."""
    from descentcheck.registry.optimizers import get

    if get(hp["optimizer"]).origin != "builtin":  # the optimizer and its choices
        choices = [v for k, v in hp.items() if k != "optimizer" and isinstance(v, str)]
        return "_".join([hp["optimizer"], *choices])
    if hp["optimizer"] == "adaptive_momentum":
        return f"adaptive_{hp['group']}"
    if hp["optimizer"] == "rmsprop" and hp.get("momentum"):
        return "rmsprop_momentum"
    return hp["optimizer"]


def _check_one(case: Case, hp: dict[str, Any], K: int) -> dict[str, Any]:
    """Train one setting and compare every applied step with the rule; the numbers."""
    net = case.net
    traj = train(net, case.params, case.x, case.yt, steps=K, keep_params=True, **hp)
    # a diverged run is checked up to the iterate where its loss left the floats: every step
    # it took is a step of the rule
    W = [net.flatten(p) for p in traj.params_history]
    K = len(W) - 1
    with np.errstate(all="ignore"):
        G = [net.flatten(net.loss_and_grad(p, case.x, case.yt)[1]) for p in traj.params_history[:K]]
    groups = reference_groups(net, hp.get("group", "array"))
    worst, where, resolved, entries = 0.0, None, 0, 0
    with mpmath.workdps(DPS):
        for k, (ref, tol) in enumerate(reference_steps(hp, W, G, groups)):
            tol = SAFETY * (half_ulp(W[k + 1]) + tol)
            for i, r in enumerate(ref):
                ratio = _ratio(float(W[k][i]), float(W[k + 1][i]), r, tol[i])
                resolved += float(abs(r)) > tol[i]
                entries += 1
                if ratio > worst:
                    worst, where = ratio, (k, i, float(W[k + 1][i] - W[k][i]), float(r))
    diverged = traj.status != "completed"
    return {
        "worst": worst,
        "where": where,
        "resolved": resolved,
        "entries": entries,
        "diverged": diverged,
    }


def _ratio(w0: float, w1: float, r: Any, tol: float) -> float:
    """|applied - rule| over its tolerance; an infinite w1 is right only where w0 + rule itself
    overflows, with its sign; a NaN is a miss."""
    if not np.isfinite(w1):
        exact = mpmath.mpf(w0) + r
        ok = np.isinf(w1) and abs(exact) > np.finfo(np.float64).max and (exact > 0) == (w1 > 0)
        return 0.0 if ok else float("inf")
    ratio = float(abs(mpmath.mpf(w1) - mpmath.mpf(w0) - r)) / tol
    return ratio if ratio == ratio else float("inf")


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    case, K = drawn["case"], drawn["steps"]
    measured: dict[str, float] = {"worst_error_over_tolerance": 0.0}
    for hp in (v for drawn_hp in drawn["hp"] for v in variants(drawn_hp)):
        r = _check_one(case, hp, K)
        if r["diverged"]:
            measured["runs_diverged"] = measured.get("runs_diverged", 0.0) + 1
        measured[f"runs_{label(hp)}"] = 1.0
        tested = float(r["resolved"] > 0 or r["worst"] > 1.0)  # a miss found is a test
        measured["runs_tested"] = measured.get("runs_tested", 0.0) + tested
        measured["runs_vacuous"] = measured.get("runs_vacuous", 0.0) + 1 - tested
        measured["entries_checked"] = measured.get("entries_checked", 0.0) + r["entries"]
        measured["entries_sign_resolved"] = (
            measured.get("entries_sign_resolved", 0.0) + r["resolved"]
        )
        measured["worst_error_over_tolerance"] = max(
            measured["worst_error_over_tolerance"], r["worst"]
        )
        if r["worst"] > 1.0:
            k, i, a, ref = r["where"]
            # the setting that ran (a choice may differ from the draw, which variants expand)
            setting = ", ".join(f"{n}={v!r}" for n, v in hp.items() if n != "optimizer")
            msg = (
                f"{label(hp)} ({setting}) step {k}, entry {i}: applied {a:.17g}, rule "
                f"{ref:.17g} ({r['worst']:.3g} x tolerance)"
            )
            return Verdict(False, measured, {"worst_error_over_tolerance": 1.0}, message=msg)
    return Verdict(True, measured, {"worst_error_over_tolerance": 1.0})


_SUMMARY: dict[str, Any] = {
    "worst_error_over_tolerance": "max",
    "entries_checked": "sum",
    "entries_sign_resolved": "sum",
    "runs_vacuous": "sum",
    "runs_tested": "sum",
    "runs_diverged": "sum",
    **{
        f"runs_{k}": "sum"
        for k in (
            "gd",
            "momentum",
            "nesterov",
            *(f"adaptive_{g}" for g in GROUPS),
            "rmsprop",
            "rmsprop_momentum",
        )
    },
}

UPDATE_EQUALS_RULE = Claim(
    id="update-equals-derived-rule",
    statement=(
        "Every step the trainer applies, w_(k+1) - w_k, equals the SymPy-derived update of its "
        "optimizer (gd; heavy ball -lr g_k + beta dw_(k-1); Nesterov beta dw_(k-1) - lr (1+beta) "
        "g_k + lr beta g_(k-1); adaptive momentum -lr g_k + alpha_G dw_(k-1), alpha_G = tau "
        "|g_k|_G / |dw_(k-1)|_G per array, unit, node or globally; RMSProp with and without "
        "momentum; a plugin optimizer: its registered UpdateRule) evaluated in mpmath at 50 "
        "digits, entry by entry within a float64 rounding bound"
    ),
    source=(
        "DESIGN.md's optimizer table and torch's SGD/RMSprop forms; Nesterov's observable form "
        "and the adaptive rule's |alpha dw|_G = tau |g|_G derived and proved in "
        "descentcheck.theory.momentum (this suite's derivation); adaptive momentum's definition "
        "as in Wu et al. 2008 / arXiv 1705.07404 (abstract: adaptive momentum on DAGs)"
    ),
    conditions=(
        "small random DAGs of two or three blocks with add/concat skips, dense and distance "
        "layers, smooth activations, relu and any installed activation declared smooth=False, "
        "both losses and any installed one declared smooth=False; parameters from a drawn "
        "seed; 3 or 4 full-batch steps",
        "lr log-uniform in [1e-3, 0.5] (RMSProp: a tenth), beta in [0.05, 0.95], tau in "
        "[0.01, 0.5], rho in [0.5, 0.999], eps log-uniform in [1e-8, 1e-3]",
        "each drawn case is checked with every registered optimizer, adaptive momentum with "
        "all four groupings, RMSProp without and with momentum",
        "tolerance: a first-order forward error bound of the trainer's float64 operations plus "
        "half an ulp of the iterates, times 2 (module docstring); a diverged run is counted, "
        "not tested; a run with no sign-resolved entry is counted as vacuous",
    ),
    expect="holds",
    strategy=update_strategy(),
    check=_check,
    summary=_SUMMARY,
    cost=1.5,
    # each case checks every optimizer and option (9 runs): 0.3 of the profile's cases is
    # still 2.7 times the runs a one-optimizer case gave, every optimizer in each
    examples_scale=0.3,
)

CLAIMS = (UPDATE_EQUALS_RULE,)
