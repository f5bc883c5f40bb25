"""The momentum algebra, proved in SymPy: each identity an :class:`~.zero.Identity`, printable.

Conventions (DESIGN.md, torch): ``g_k`` the gradient at the k-th iterate, ``dw_{-1} = 0``,
``buf_{-1} = 0``, ``v_{-1} = 0``.

1. Heavy ball unrolled (the tutorial's momentum ``dw_k = -lr g_k + beta dw_{k-1}``)::

       dw_k = -lr sum_{i=0}^{k} beta^(k-i) g_i

2. Classic form == torch's buffer form (``buf_k = beta buf_{k-1} + g_k``, ``w -= lr buf_k``):
   ``dw_k = -lr buf_k``.
3. Exponential-moving-average form with step eta (``m_k = beta m_{k-1} + (1 - beta) g_k``,
   ``w -= eta m_k``) == heavy ball with ``lr = eta (1 - beta)``: ``eta m_k = lr buf_k``.
4. torch's Nesterov (``buf_k = beta buf_{k-1} + g_k``, ``w_{k+1} = w_k - lr (g_k + beta buf_k)``,
   ``g_k`` the gradient at ``w_k``) == the look-ahead form of Sutskever et al. (2013)
   (``v_{k+1} = beta v_k - lr grad f(theta_k + beta v_k)``, ``theta_{k+1} = theta_k + v_{k+1}``,
   ``v_0 = 0``, ``theta_0 = w_0``): ``w_k = theta_k + beta v_k`` and ``v_k = -lr buf_{k-1}``.
   torch's iterate is the look-ahead point, so both take the gradient at the same points.
5. RMSProp's second moment (``v_k = rho v_{k-1} + (1 - rho) g_k^2``)::

       v_k = (1 - rho) sum_{i=0}^{k} rho^(k-i) g_i^2

Each is proved two ways. *For symbolic k*: identities 1 and 5 by induction, the base case and the
step ``a S_{k-1} + b_k == S_k`` as symbolic equalities over ``Sum`` objects with symbolic k (the
step peels the last term off, ``Sum_{0..k} = Sum_{0..k-1} + Sum_{k..k}``, itself proved by
SymPy); identities 2-4 as invariants preserved by one step of both recurrences from an arbitrary
state (with the base case at k = 0). *For concrete k*: both recurrences unrolled from the start,
``k = 0 .. K`` (default 6), each iterate compared symbolically in ``g_0 .. g_K`` and the
hyperparameters. For Nesterov the gradients are shared symbols only after the iterates were
proved equal at that step (the same point gives the same gradient), so the unrolled check holds
for every differentiable f.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import sympy as sp

from .zero import Identity, prove_equal

if TYPE_CHECKING:
    from descentcheck.registry.optimizers import UpdateRule

Expr = sp.Expr

lr, beta, eta, rho = sp.symbols("lr beta eta rho", real=True)
k, i = sp.symbols("k i", integer=True, nonnegative=True)
g = sp.IndexedBase("g", real=True)
K_MAX = 6


def _grads(K: int) -> list[sp.Symbol]:
    return [sp.Symbol(f"g{j}", real=True) for j in range(K + 1)]


def _induction(
    name: str,
    a: Expr,
    b: Callable[[Expr], Expr],
    term: Callable[[Expr, Expr], Expr],
    scale: Expr,
) -> list[Identity]:
    """Prove ``S_k = scale * Sum_{i=0}^{k} term(i, k)`` solves ``S_k = a S_{k-1} + b(k)``,
    ``S_{-1} = 0``, for symbolic k: base case, peeling identity, induction step."""

    def closed(kk: Expr, upper: Expr | None = None, lower: Expr = 0) -> Expr:
        return scale * sp.Sum(term(i, kk), (i, lower, kk if upper is None else upper))

    base = prove_equal(f"{name}: base case k = 0", b(sp.S.Zero), closed(sp.S.Zero).doit())
    peel = prove_equal(
        f"{name}: peel the last term",
        closed(k),
        closed(k, k - 1) + closed(k, k, k),
        condition="k >= 1",
    )
    last = prove_equal(f"{name}: the last term", closed(k, k, k).doit(), scale * term(k, k))
    step = prove_equal(
        f"{name}: induction step S_k = a S_(k-1) + b_k",
        a * closed(k - 1) + b(k),
        closed(k, k - 1) + scale * term(k, k),
        condition="S_(k-1) as claimed, k >= 1",
    )
    return [base, peel, last, step]


def unrolled_heavy_ball(K: int = K_MAX) -> list[Identity]:
    """Identity 1, for symbolic k and for k = 0..K."""
    out = _induction(
        "heavy ball unrolled",
        beta,
        lambda kk: -lr * g[kk],
        lambda ii, kk: beta ** (kk - ii) * g[ii],
        -lr,
    )
    gs = _grads(K)
    dw = sp.S.Zero
    for kk in range(K + 1):
        dw = -lr * gs[kk] + beta * dw
        closed = -lr * sp.Add(*[beta ** (kk - ii) * gs[ii] for ii in range(kk + 1)])
        out.append(prove_equal(f"heavy ball unrolled, k = {kk}", dw, closed))
    return out


def classic_equals_torch_buffer(K: int = K_MAX) -> list[Identity]:
    """Identity 2: ``dw_k = -lr buf_k``: invariant step, and unrolled for k = 0..K."""
    dw_prev, buf_prev, gk = sp.symbols("dw_prev buf_prev g_k", real=True)
    out = [
        prove_equal(
            "classic == torch buffer: step preserves dw = -lr buf",
            -lr * gk + beta * dw_prev,
            -lr * (beta * buf_prev + gk),
            condition="dw_(k-1) = -lr buf_(k-1) (true at k = 0: both are 0)",
            substitutions={dw_prev: -lr * buf_prev},
        )
    ]
    gs = _grads(K)
    dw = buf = sp.S.Zero
    for kk in range(K + 1):
        dw = -lr * gs[kk] + beta * dw
        buf = beta * buf + gs[kk]
        out.append(prove_equal(f"classic == torch buffer, k = {kk}", dw, -lr * buf))
    return out


def ema_equals_heavy_ball(K: int = K_MAX) -> list[Identity]:
    """Identity 3: the EMA form with step eta is heavy ball with ``lr = eta (1 - beta)``."""
    m_prev, buf_prev, gk = sp.symbols("m_prev buf_prev g_k", real=True)
    lr_ema = eta * (1 - beta)
    out = [
        prove_equal(
            "EMA == heavy ball: step preserves eta m = eta (1 - beta) buf",
            eta * (beta * m_prev + (1 - beta) * gk),
            lr_ema * (beta * buf_prev + gk),
            condition="m_(k-1) = (1 - beta) buf_(k-1) (true at k = 0: both are 0)",
            substitutions={m_prev: (1 - beta) * buf_prev},
        )
    ]
    gs = _grads(K)
    m = buf = sp.S.Zero
    for kk in range(K + 1):
        m = beta * m + (1 - beta) * gs[kk]
        buf = beta * buf + gs[kk]
        out.append(prove_equal(f"EMA step == heavy-ball step, k = {kk}", -eta * m, -lr_ema * buf))
    return out


def nesterov_equals_lookahead(K: int = K_MAX) -> list[Identity]:
    """Identity 4: torch's Nesterov iterate is the look-ahead point ``theta + beta v``."""
    w, theta, v, buf_prev, gk = sp.symbols("w theta v buf_prev g_k", real=True)
    # one step of each from states related by the invariant; g_k is the gradient at
    # w = theta + beta v, the same point for both
    buf_new = beta * buf_prev + gk
    w_new = w - lr * (gk + beta * buf_new)
    v_new = beta * v - lr * gk
    theta_new = theta + v_new
    # both invariants: v = -lr buf_(k-1) and w = theta + beta v = theta - beta lr buf_(k-1)
    inv = {w: theta - beta * lr * buf_prev, v: -lr * buf_prev}
    out = [
        prove_equal(
            "Nesterov: step preserves w = theta + beta v",
            w_new,
            theta_new + beta * v_new,
            condition="w_k = theta_k + beta v_k and v_k = -lr buf_(k-1) (at k = 0: w_0 = "
            "theta_0, v_0 = 0 = buf_(-1))",
            substitutions=inv,
        ),
        prove_equal(
            "Nesterov: step preserves v = -lr buf",
            v_new,
            -lr * buf_new,
            condition="v_k = -lr buf_(k-1)",
            substitutions={v: -lr * buf_prev},
        ),
    ]
    gs = _grads(K)
    w0 = sp.Symbol("w0", real=True)
    wt, bt = w0, sp.S.Zero  # torch
    th, vl = w0, sp.S.Zero  # look-ahead
    for kk in range(K + 1):
        # the gradient points must coincide before g_k may be shared
        out.append(prove_equal(f"Nesterov: same gradient point, k = {kk}", wt, th + beta * vl))
        bt = beta * bt + gs[kk]
        wt = wt - lr * (gs[kk] + beta * bt)
        vl = beta * vl - lr * gs[kk]
        th = th + vl
    return out


def rmsprop_second_moment(K: int = K_MAX) -> list[Identity]:
    """Identity 5, for symbolic k and for k = 0..K."""
    out = _induction(
        "RMSProp second moment unrolled",
        rho,
        lambda kk: (1 - rho) * g[kk] ** 2,
        lambda ii, kk: rho ** (kk - ii) * g[ii] ** 2,
        1 - rho,
    )
    gs = _grads(K)
    v = sp.S.Zero
    for kk in range(K + 1):
        v = rho * v + (1 - rho) * gs[kk] ** 2
        closed = (1 - rho) * sp.Add(*[rho ** (kk - ii) * gs[ii] ** 2 for ii in range(kk + 1)])
        out.append(prove_equal(f"RMSProp second moment, k = {kk}", v, closed))
    return out


IDENTITIES: dict[str, Callable[[int], list[Identity]]] = {
    "heavy ball unrolled: dw_k = -lr sum_i beta^(k-i) g_i": unrolled_heavy_ball,
    "classic momentum == torch buffer form: dw_k = -lr buf_k": classic_equals_torch_buffer,
    "EMA form (step eta) == heavy ball with lr = eta (1 - beta)": ema_equals_heavy_ball,
    "torch Nesterov == look-ahead form: w_k = theta_k + beta v_k": nesterov_equals_lookahead,
    "RMSProp: v_k = (1 - rho) sum_i rho^(k-i) g_i^2": rmsprop_second_moment,
}


def prove_all(K: int = K_MAX) -> dict[str, list[Identity]]:
    """Every momentum identity, for symbolic k where stated and for k = 0..K."""
    return {name: fn(K) for name, fn in IDENTITIES.items()}


# ---- one-step updates in observable quantities (the ledger's whole-update claims) -----------
#
# Each optimizer's step dw_k written in what a run shows from outside: the gradient g_k at w_k,
# the previous gradient g_(k-1) and the previous step dw_(k-1) = w_k - w_(k-1) (all 0 at k = 0),
# and, where the state cannot be seen from outside (RMSProp), the state itself. Entry by entry
# (adaptive momentum's group norms enter as the symbols G2 = sum_G g^2, D2 = sum_G dw_(k-1)^2).

gk, gp, dprev, tau, eps_, vprev, bprev, G2, D2 = sp.symbols(
    "g_k g_prev dw_prev tau eps v_prev buf_prev G2 D2", real=True
)


def _nesterov_observable(prove: bool = True) -> tuple[Expr, list[Identity]]:
    """Derive torch's Nesterov step from the look-ahead form (identity 4) by eliminating the
    velocity: with ``w_k = theta_k + beta v_k``, ``v_(k+1) = beta v_k - lr g_k``::

        dw_(k-1) = beta v_k - lr g_(k-1)   =>   v_k = (dw_(k-1) + lr g_(k-1)) / beta
        dw_k = (1 + beta) v_(k+1) - beta v_k = beta dw_(k-1) - lr (1 + beta) g_k + lr beta g_(k-1)

    and prove it equal to torch's buffer form from the invariant
    ``dw_(k-1) = -lr (g_(k-1) + beta buf_(k-1))``."""
    vk, vkm1 = sp.symbols("v_k v_km1", real=True)
    v_next = beta * vk - lr * gk
    dw_prev_expr = (1 + beta) * vk - beta * vkm1  # w_k - w_(k-1) in look-ahead terms
    vkm1_sol = sp.solve(sp.Eq(vk, beta * vkm1 - lr * gp), vkm1)[0]
    vk_sol = sp.solve(sp.Eq(dprev, dw_prev_expr.subs(vkm1, vkm1_sol)), vk)[0]
    step = sp.expand(((1 + beta) * v_next - beta * vk).subs(vk, vk_sol))
    if not prove:
        return step, []
    torch_buf = beta * bprev + gk
    proofs = [
        prove_equal(
            "Nesterov step in observables == torch buffer form",
            step,
            -lr * (gk + beta * torch_buf),
            condition="dw_(k-1) = -lr (g_(k-1) + beta buf_(k-1)) (k = 0: all three are 0)",
            substitutions={dprev: -lr * (gp + beta * bprev)},
        )
    ]
    return step, proofs


def step_rules(prove: bool = True) -> dict[str, tuple[Expr, tuple[sp.Symbol, ...], list[Identity]]]:
    """Each update rule as ``(dw_k entry, its symbols in call order, proofs)``:

    * ``gd``: ``-lr g_k``;
    * ``momentum``: ``-lr g_k + beta dw_(k-1)`` (DESIGN.md's form; identity 2 proves torch's
      buffer form equal to it);
    * ``nesterov``: derived by :func:`_nesterov_observable`;
    * ``adaptive_momentum``: ``-lr g_k + alpha dw_(k-1)``, ``alpha = tau sqrt(G2) / sqrt(D2)``
      (0 when D2 = 0), G2 and D2 the squared norms of g_k and dw_(k-1) over the entry's group;
      the momentum term has length ``tau |g_G|`` over the group (proved here);
    * ``rmsprop``: ``-lr g_k / (sqrt(v_k) + eps)``, ``v_k = rho v_(k-1) + (1 - rho) g_k^2``;
    * ``rmsprop_momentum``: ``-lr (beta buf_(k-1) + g_k / (sqrt(v_k) + eps))``.

    ``prove=False`` derives without proving (the ledger's claim evaluates the rules; the proofs
    run in the theory checks and tests).
    """
    v_k = rho * vprev + (1 - rho) * gk**2
    scaled = gk / (sp.sqrt(v_k) + eps_)
    alpha = sp.Piecewise((tau * sp.sqrt(G2) / sp.sqrt(D2), D2 > 0), (0, True))
    nest, nest_proofs = _nesterov_observable(prove)
    dvec = sp.symbols("d0:3", real=True)  # a 3-entry group: the momentum term's length
    d2 = sum(d * d for d in dvec)
    length = sp.sqrt(sum((tau * sp.sqrt(G2) / sp.sqrt(d2) * d) ** 2 for d in dvec))
    adaptive_proofs = (
        [
            prove_equal(
                "adaptive momentum: |alpha dw_(k-1)|_G = tau |g_k|_G",
                sp.simplify(length**2),
                tau**2 * G2,
                condition="dw_(k-1) != 0 over the group",
            )
        ]
        if prove
        else []
    )
    return {
        "gd": (-lr * gk, (lr, gk), []),
        "momentum": (-lr * gk + beta * dprev, (lr, beta, gk, dprev), []),
        "nesterov": (nest, (lr, beta, gk, gp, dprev), nest_proofs),
        "adaptive_momentum": (
            -lr * gk + alpha * dprev,
            (lr, tau, gk, dprev, G2, D2),
            adaptive_proofs,
        ),
        "rmsprop": (-lr * scaled, (lr, rho, eps_, gk, vprev), []),
        "rmsprop_momentum": (
            -lr * (beta * bprev + scaled),
            (lr, rho, eps_, beta, gk, vprev, bprev),
            [],
        ),
    }


# ---- the registry's derivations (``descentcheck.registry.optimizers``) ------------------------
#
# Each built-in optimizer's update of one entry as an elementwise recurrence (an UpdateRule:
# state symbols mean s_(k-1) inside ``state``, s_k inside ``step``), proved equal to its
# observable form in :func:`step_rules` under the invariant that links the two (the previous
# applied step in terms of the previous state). Adaptive momentum's coefficient needs its group's
# norms, so its rule is the observable form itself.

buf_, v_ = sp.symbols("buf v", real=True)


def _rule(name: str, step: Expr, hps: dict, state: dict, link: dict | None = None) -> UpdateRule:
    from descentcheck.registry.optimizers import UpdateRule

    observable = step_rules(prove=False)[name][0]
    # the recurrence's step with its new state written in the previous state (b_prev, v_prev)
    new = {s: e.subs({buf_: bprev, v_: vprev}, simultaneous=True) for s, e in state.items()}
    unrolled = step.subs(new, simultaneous=True)
    proof = prove_equal(
        f"{name}: the registry's recurrence == the observable step",
        unrolled,
        observable,
        condition="dw_(k-1) = the previous step of the same recurrence",
        substitutions=link or {},
    )
    return UpdateRule(step, gk, hps, state, step_index=None, proofs=(proof,))


def gd_rule() -> UpdateRule:
    """``dw_k = -lr g_k``."""
    return _rule("gd", -lr * gk, {"lr": lr}, {})


def momentum_rule() -> UpdateRule:
    """torch's buffer: ``buf_k = beta buf_(k-1) + g_k``, ``dw_k = -lr buf_k``."""
    state = {buf_: beta * buf_ + gk}
    link = {dprev: -lr * bprev}
    return _rule("momentum", -lr * buf_, {"lr": lr, "momentum": beta}, state, link)


def nesterov_rule() -> UpdateRule:
    """``buf_k = beta buf_(k-1) + g_k``, ``dw_k = -lr (g_k + beta buf_k)``."""
    state = {buf_: beta * buf_ + gk}
    link = {dprev: -lr * (gp + beta * bprev)}
    step = -lr * (gk + beta * buf_)
    return _rule("nesterov", step, {"lr": lr, "momentum": beta}, state, link)


def rmsprop_rule() -> UpdateRule:
    """``v_k = rho v_(k-1) + (1 - rho) g_k^2``, ``buf_k = beta buf_(k-1) + g_k / (sqrt(v_k) +
    eps)`` (beta = 0: no momentum), ``dw_k = -lr buf_k``."""
    v_new = rho * v_ + (1 - rho) * gk**2
    state = {v_: v_new, buf_: beta * buf_ + gk / (sp.sqrt(v_new) + eps_)}
    hps = {"lr": lr, "rho": rho, "eps": eps_, "momentum": beta}
    return _rule("rmsprop_momentum", -lr * buf_, hps, state)


def adaptive_momentum_rule() -> UpdateRule:
    """The observable form of :func:`step_rules` (its group norms G2, D2 are observables)."""
    from descentcheck.registry.optimizers import UpdateRule

    expr, _symbols, proofs = step_rules(prove=True)["adaptive_momentum"]
    observables = {
        dprev: "the previous applied step dw_(k-1) (0 at k = 0)",
        G2: "the sum of g_k^2 over the entry's group",
        D2: "the sum of dw_(k-1)^2 over the entry's group",
    }
    hps = {"lr": lr, "tau": tau}
    return UpdateRule(expr, gk, hps, observables=observables, proofs=tuple(proofs))
