"""A plugin's own mpmath and interval rules agree with its SymPy rule, at fixed sample points.

The coverage check proves each rule is present; the symbolic and numeric agreement checks prove
the numpy rules (through their transcriptions, and against the 60-digit derivation). What is left
is the two rules a plugin may hand-write for the evaluators: its ``mpmath`` rule (the 50-digit
network evaluator) and its ``interval`` rule (the certifier, whose verdicts are only sound if the
ball contains the true value). For every plugin op and loss, at the points of :data:`SAMPLES`:

* ``|mpmath_rule(t) - phi(t)| <= 1e-40 (1 + |phi(t)|)``, ``phi(t)`` from SymPy at 60 digits;
* the ball ``interval_rule(arb(t))`` (at 128 bits) contains ``phi(t)`` up to 1e-30 relative.

A plugin's own numpy rules are also run on device arrays (the strict CuPy stand-in): one that
calls numpy on them is named. A loss is evaluated on the rows of :data:`LOSS_ROWS` (outputs
and targets, width D = 2 or its ``min_width``), against the mean of its SymPy per-sample loss.
Built-in ops are not sampled here: their evaluators are checked on whole networks
(``network_agreement``) and by the certifier's
tests.
"""

from __future__ import annotations

from typing import Any

from descentcheck.registry import ops as registry

from .check_result import NUMERIC, CheckResult

SAMPLES = (-2.5, -0.75, 0.0, 0.3125, 1.75)
LOSS_ROWS = ((0.5, -1.25, 0.0), (2.0, 0.25, 0.75))  # yhat rows; y = yhat - 0.5 * (k + 1)
DPS = 60
PREC = 128


def _exact(expr: Any, symbols: tuple, values: tuple[float, ...]) -> Any:
    """``expr`` at the exact binary values, evaluated by SymPy to :data:`DPS` digits, as mpf."""
    import mpmath
    import sympy as sp

    subs = {s: sp.Rational(v) for s, v in zip(symbols, values)}
    return mpmath.mpf(str(sp.N(expr.subs(subs), DPS)))


def _compare(who: str, at: str, exact: Any, mp: Any, ball: Any) -> list[str]:
    import mpmath

    out = []
    with mpmath.workdps(DPS):
        tol = 1 + abs(exact)
        if abs(mp - exact) > mpmath.mpf("1e-40") * tol:
            out.append(f"{who}: mpmath rule at {at} is {mp}, its SymPy rule {exact}")
        if ball is not None:
            lo = mpmath.mpf(ball.lower().str(50, radius=False))
            hi = mpmath.mpf(ball.upper().str(50, radius=False))
            slack = mpmath.mpf("1e-30") * tol
            if not lo - slack <= exact <= hi + slack:
                out.append(
                    f"{who}: interval rule at {at} gives [{mpmath.nstr(lo, 17)}, "
                    f"{mpmath.nstr(hi, 17)}], which does not contain {mpmath.nstr(exact, 17)}"
                )
    return out


def _activation_errors(p: Any) -> list[str]:
    import mpmath
    import sympy as sp
    from flint import arb, ctx

    x = sp.Symbol("x")
    phi = sp.sympify(p.phi(x))
    out = []
    for t in SAMPLES:
        with mpmath.workdps(DPS):
            exact = _exact(phi, (x,), (t,))
            mp = p.mpmath_rule(mpmath.mpf(t))
        old, ctx.prec = ctx.prec, PREC
        try:
            ball = None if p.interval_rule is None else p.interval_rule(arb(t))
        finally:
            ctx.prec = old
        out += _compare(p.who, f"x = {t}", exact, mp, ball)
    return out


def _loss_errors(p: Any, min_width: int) -> list[str]:
    import mpmath
    import numpy as np
    import sympy as sp
    from flint import arb, ctx

    dim = max(2, min_width)
    yhat = np.array([[r[k % 3] for k in range(dim)] for r in LOSS_ROWS], dtype=np.float64)
    y = yhat - 0.5 * (np.arange(dim) + 1)
    ys, ts = p.symbols(dim)
    E = sp.sympify(p.expression(ys, ts))
    with mpmath.workdps(DPS):
        exact = sum(_exact(E, (*ys, *ts), (*a, *b)) for a, b in zip(yhat, y)) / len(yhat)
        mp = p.mpmath_rule(_objects(yhat, mpmath.mpf), _objects(y, mpmath.mpf))
    old, ctx.prec = ctx.prec, PREC
    try:
        rule = p.interval_rule
        ball = None if rule is None else rule(_objects(yhat, arb), _objects(y, arb))
    finally:
        ctx.prec = old
    return _compare(p.who, f"the rows {yhat.tolist()}", exact, mp, ball)


def _objects(a: Any, number: Any) -> Any:
    import numpy as np

    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        out[idx] = number(float(a[idx]))
    return out


def _device_errors(p: Any, kind: str, min_width: int) -> list[str]:
    """A plugin's own numpy rules run on the strict CPU stand-in for CuPy's arrays
    (:mod:`descentcheck.impl.device_standin`): one that calls numpy on them (``np.tanh(x)``)
    would fail ``train --backend cupy``; only the ledger's device-path claim saw it before.
    The rules derived from phi are lambdified onto the arrays' namespace and are left out."""
    import numpy as np

    from descentcheck.impl import device_standin
    from descentcheck.registry.plugins import PluginError

    device_standin.register()
    dev = device_standin.xp.asarray
    try:
        if kind == "loss" and p.numpy_value_and_grad is not None:
            dim = max(2, min_width)
            rows = np.array([[r[k % 3] for k in range(dim)] for r in LOSS_ROWS])
            p.value_and_grad(dev(rows), dev(rows - 0.5 * (np.arange(dim) + 1)))
        elif kind != "loss" and p.numpy_forward is not None:
            forward, derivative = p.numpy_rules
            x = dev(np.array(SAMPLES))
            forward(x), derivative(x)
    except PluginError as e:  # the rule's TypeError on a device array, named by the registry
        return [str(e)]
    return []


def plugin_rule_errors() -> list[str]:
    """One line per plugin rule that disagrees with the plugin's SymPy rule, or fails to run."""
    out: list[str] = []
    for info in registry.ops():
        p = info.plugin
        if p is None:
            continue
        try:
            out += _loss_errors(p, info.min_width) if info.kind == "loss" else _activation_errors(p)
            out += _device_errors(p, info.kind, info.min_width)
        except Exception as e:  # a plugin's rule that cannot even run is a failed check
            out.append(f"{p.who}: a rule fails to evaluate: {type(e).__name__}: {e}")
    return out


def check_plugin_rules() -> CheckResult:
    plugins = [o.name for o in registry.ops() if o.plugin is not None]
    bad = plugin_rule_errors()
    return CheckResult(
        "plugins' mpmath and interval rules agree with their SymPy rules",
        NUMERIC,
        not bad,
        f"{len(plugins)} plugin ops and losses ({', '.join(plugins) or 'none installed'}) at "
        f"{len(SAMPLES)} points each (losses: {len(LOSS_ROWS)} rows)",
        bad,
    )
