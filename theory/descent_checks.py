"""The theory checks of the exact descent regions: SymPy's derivation, the SMT proofs, the
exact-rational witnesses, and the float API against all three.

Each returns a :class:`~.checks.CheckResult`; ``python -m descentcheck.theory`` prints them
(the SMT obligations one per line, with their result and time).
"""

from __future__ import annotations

import numpy as np

from .check_result import NUMERIC, PROVED, SMT, CheckResult


def check_descent() -> CheckResult:
    from . import descent
    from .descent_proofs import prove_all

    results = prove_all()
    items = [i for v in results.values() for i in v]
    bad = [str(i) for i in items if not i.holds]
    return CheckResult(
        "exact descent regions, derived (SymPy): worst case over L-smooth E and momentum direction",
        PROVED,
        not bad,
        f"{len(items)} facts: W = G^2((|1 - lr L| + sL)^2 - 1)/(2L), attained; region "
        "s < min(lr, 2/L - lr); GD 0 < lr < 2/L; Nesterov, RMSProp; 3x the Cauchy-Schwarz area",
        [*bad, *results, f"the paper's conditions: {descent.PAPER_CONDITIONS}"]
        + [str(i) for i in items],
    )


def check_descent_smt() -> CheckResult:
    """Every obligation of :mod:`.descent_smt`; ``unknown`` fails the check (never proved)."""
    from .descent_smt import PROVED as SMT_PROVED
    from .descent_smt import prove_all

    outcomes = prove_all()
    bad = [o for o in outcomes if o.result != SMT_PROVED]
    return CheckResult(
        "exact descent regions, proved over the reals (z3 nonlinear arithmetic)",
        SMT,
        not bad,
        f"{len(outcomes) - len(bad)} of {len(outcomes)} obligations proved"
        + (f"; NOT proved: {', '.join(o.name for o in bad)}" if bad else ""),
        [
            f"{o.result:8s} {o.name} ({o.seconds * 1000:.0f} ms): {o.statement}"
            + (f" -- {o.detail}" if o.detail else "")
            for o in outcomes
        ],
    )


def check_descent_witness() -> CheckResult:
    from .descent_witness import check_grid

    rep = check_grid()
    return CheckResult(
        "exact descent regions, attained: witnesses in exact rational arithmetic",
        PROVED,
        not rep.failures,
        f"{rep.points} grid points ({rep.inside} inside, {rep.outside} outside, boundary "
        "included): witness change == W exactly, < 0 iff inside; E* L-smooth; the Cauchy-Schwarz "
        "region inside the exact one",
        rep.failures[:20],
    )


def _float_vs_sympy(rng: np.random.Generator, points: int) -> list[str]:
    """The float API against the SymPy conditions at random points off the boundary."""
    import sympy as sp

    from . import descent
    from . import descent_proofs as dp

    regions = descent.REGIONS
    syms = (dp.L, dp.lr, dp.tau, dp.beta, dp.ratio)
    names = ("gd", "adaptive_momentum", "constant_momentum", "nesterov")
    compiled = {n: sp.lambdify(syms, regions[n].condition, "math") for n in names}
    bad: list[str] = []
    sides = {n: [0, 0] for n in names}  # points judged outside, inside
    for _ in range(points):
        L = float(rng.uniform(0.1, 10))
        lr, tau = float(rng.uniform(0, 3 / L)), float(rng.uniform(0, 1.5 / L))
        beta, ratio = float(rng.uniform(0, 1)), float(rng.uniform(0, 5 / L))
        lr_n = lr * (1 + beta)
        margin = {
            "gd": abs(lr - 2 / L),
            "adaptive_momentum": abs(tau - descent.max_tau(lr, L)),
            "constant_momentum": abs(beta * ratio - descent.max_tau(lr, L)),
            "nesterov": abs(beta * beta * ratio - descent.max_tau(lr_n, L)),
        }
        args = {
            "gd": (lr, L),
            "adaptive_momentum": (lr, tau, L),
            "constant_momentum": (lr, beta, L, ratio),
            "nesterov": (lr, beta, L, ratio),
        }
        for name in names:
            if margin[name] < 1e-9 / L:
                continue
            sym = bool(compiled[name](L, lr, tau, beta, ratio))
            sides[name][sym] += 1
            if sym != regions[name].guaranteed(*args[name]):
                bad.append(f"{name} at {args[name]}: sympy {sym}")
    return bad + _both_sides(sides, points)


def _both_sides(sides: dict[str, list[int]], points: int) -> list[str]:
    """A comparison that never met one side of a boundary would pass a region moved anywhere
    on the other (a held-out audit narrowed the sample to lr, tau < 0.5/L and a widened GD
    region passed): each side needs a twentieth of the points."""
    return [
        f"{name}: the sample met {out} points outside and {inside} inside; both sides needed"
        for name, (out, inside) in sides.items()
        if min(out, inside) < points / 20
    ]


def _witness_step(g: np.ndarray, lr: float, s: float, L: float) -> np.ndarray:
    """The worst step ``-lr g + m``, ``|m| = s |g|``, on the witness quadratic: m along g up to
    lr L = 1 (the step falls short), against it past (the step overshoots)."""
    return (-lr + (s if lr * L <= 1 else -s)) * g


def _worst_on_quadratics(rng: np.random.Generator, points: int) -> tuple[float, list[str]]:
    """Random L-smooth quadratics (curvatures in [-L, L]) and momentum vectors never beat the
    closed-form worst case; the witness reaches it (to rounding)."""
    from . import descent

    bad: list[str] = []
    worst_gap = 0.0
    sides = {"lr L <= 1 (the witness's sign)": [0, 0], "lr L < 2 (gd's edge)": [0, 0]}
    for _ in range(points):
        L = float(rng.uniform(0.1, 10))
        h = rng.uniform(-L, L, 5)
        g = rng.normal(size=5)
        m = rng.normal(size=5)
        lr, s = float(rng.uniform(0, 2.5 / L)), float(rng.uniform(0, 1.5 / L))
        gn = float(np.linalg.norm(g))
        m *= s * gn / float(np.linalg.norm(m))
        d = -lr * g + m
        change = float(g @ d + 0.5 * d @ (h * d))
        W = descent.momentum_step_worst_case(lr, s, L, gn)
        if change > W + 1e-12 * (abs(W) + gn * gn / L):
            bad.append(f"quadratic beat the worst case: {change} > {W}")
        sides["lr L <= 1 (the witness's sign)"][lr * L <= 1] += 1
        sides["lr L < 2 (gd's edge)"][lr * L < 2] += 1
        dw = _witness_step(g, lr, s, L)
        reached = float(g @ dw + 0.5 * L * dw @ dw)
        worst_gap = max(worst_gap, abs(reached - W) / (abs(W) + gn * gn / L))
    if worst_gap > 1e-13:
        bad.append(f"the witness misses the worst case by {worst_gap:.2e} (relative)")
    return worst_gap, bad + _both_sides(sides, points)


def _heavy_ball_through_trainer(rng: np.random.Generator) -> tuple[float, list[str]]:
    from descentcheck.impl.optim import get_optimizer

    from . import descent

    worst_gap = 0.0
    bad: list[str] = []
    for _ in range(50):
        L = float(rng.uniform(0.1, 10))
        beta = float(rng.uniform(0.05, 0.95))
        x0 = float(rng.uniform(-3, 3))
        opt = get_optimizer("momentum", lr=1 / L, momentum=beta)
        w = {"x": np.array([x0])}
        state = opt.init(w)
        fs = [L * x0**2 / 2]
        for _k in range(2):
            upd, state, _ = opt.update({"x": L * w["x"]}, state, w)
            w = {"x": w["x"] + upd["x"]}
            fs.append(float(L * w["x"][0] ** 2 / 2))
        rise, expected = fs[2] - fs[1], descent.heavy_ball_worst_case_rise(beta, fs[0])
        worst_gap = max(worst_gap, abs(rise - expected) / expected)
        if not rise > 0 or abs(rise - expected) > 1e-12 * expected:
            bad.append(f"worst case L={L}, beta={beta}: rise {rise}, expected {expected}")
    return worst_gap, bad


def _bounds_vs_witness(rng: np.random.Generator, points: int) -> list[str]:
    """Each named optimizer's decrease bound against the decrease its worst step makes on the
    witness ``E = g.(x - w) + L |x - w|^2 / 2`` (the momentum term along the worst direction),
    and its sign against the optimizer's verdict: the float API's bounds and RMSProp's region
    reached no theory check (a held-out audit halved GD's bound and widened RMSProp's region;
    only a test saw either)."""
    from . import descent as d

    bad: list[str] = []
    for _ in range(points):
        L, G = float(rng.uniform(0.1, 10)), float(rng.uniform(0.1, 3))
        g = rng.normal(size=4)
        g *= G / float(np.linalg.norm(g))
        lr, tau = float(rng.uniform(0, 3 / L)), float(rng.uniform(0, 1.5 / L))
        beta, ratio = float(rng.uniform(0, 1)), float(rng.uniform(0, 2 / L))
        named = {  # (effective lr, s, bound, verdict)
            "gd": (lr, 0.0, d.gd_decrease_bound(lr, L, G), d.gd_guaranteed(lr, L)),
            "adaptive_momentum": (
                lr,
                tau,
                d.adaptive_decrease_bound(lr, tau, L, G),
                d.adaptive_guaranteed(lr, tau, L),
            ),
            "momentum": (
                lr,
                beta * ratio,
                d.constant_momentum_decrease_bound(lr, beta, L, ratio, G),
                d.constant_momentum_guaranteed(lr, beta, L, ratio),
            ),
            "nesterov": (
                lr * (1 + beta),
                beta * beta * ratio,
                d.nesterov_decrease_bound(lr, beta, L, ratio, G),
                d.nesterov_guaranteed(lr, beta, L, ratio),
            ),
        }
        for name, (eff, s, bound, verdict) in named.items():
            bad += _against_witness(name, g, _witness_step(g, eff, s, L), L, bound, verdict)
        scale = rng.uniform(0.2, 3, 4)
        momentum = float(rng.uniform(0, 0.9)) if rng.uniform() < 0.5 else 0.0
        prev = float(rng.uniform(0, 2 * lr * G))
        u = g - L * lr * scale * g  # the worst direction of torch's momentum term
        m = momentum * prev * u / float(np.linalg.norm(u))
        bound = d.rmsprop_decrease_bound(lr, L, g, scale, momentum, prev)
        verdict = d.rmsprop_guaranteed(lr, L, g, scale, momentum, prev)
        bad += _against_witness("rmsprop", g, -lr * scale * g + m, L, bound, verdict)
    return bad


def _against_witness(
    name: str, g: np.ndarray, step: np.ndarray, L: float, bound: float, verdict: bool
) -> list[str]:
    witness = -float(g @ step + 0.5 * L * step @ step)
    scale = abs(witness) + float(g @ g) / L
    if abs(bound - witness) > 1e-9 * scale:
        return [f"{name}: decrease bound {bound!r}, the witness decreases by {witness!r}"]
    if abs(bound) > 1e-9 * scale and (bound > 0) != verdict:
        return [f"{name}: decrease bound {bound!r} beside the verdict {verdict}"]
    return []


def check_descent_numeric(seed: int = 0, points: int = 2000) -> CheckResult:
    """The float functions agree with the SymPy conditions; random quadratics never beat the
    worst case and the witness reaches it; the trainer reproduces the heavy-ball worst case."""
    rng = np.random.default_rng(seed)
    bad = _float_vs_sympy(rng, points)
    quad_gap, quad_bad = _worst_on_quadratics(rng, points)
    hb_gap, hb_bad = _heavy_ball_through_trainer(rng)
    bound_bad = _bounds_vs_witness(rng, points // 4)
    return CheckResult(
        "descent regions, numerically: float API == SymPy condition; worst case on quadratics; "
        "named bounds == the witness's decrease; heavy ball via trainer",
        NUMERIC,
        not (bad or quad_bad or hb_bad or bound_bad),
        f"{points} random points (away from the boundary); {points} random L-smooth quadratics "
        f"never beat W, the witness reaches it to {quad_gap:.1e}; at {points // 4} points the "
        "decrease bounds of gd, adaptive momentum, heavy ball, Nesterov and RMSProp equal the "
        "witness's decrease, their signs the verdicts; heavy ball through impl.optim.momentum "
        f"at lr = 1/L rises by beta^2 (f(x0) - f*) to {hb_gap:.1e}",
        [*bad, *quad_bad, *bound_bad, *hb_bad][:20],
    )


__all__ = [
    "check_descent",
    "check_descent_numeric",
    "check_descent_smt",
    "check_descent_witness",
]
