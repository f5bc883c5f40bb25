"""A plugin's SymPy rule as an interval rule on Arb balls (python-flint's ``arb``), closed.

The certifier's verdicts are sound only if every value it computes is a ball that encloses the
real one. ``lambdify`` would quietly take any name it cannot find in a namespace from mpmath,
which computes at 53 bits and returns no radius: ``2/pi atan(pi x/2)`` took mpmath's ``pi``,
``erf`` mpmath's ``erf``, and a certified "rise" came out where the loss fell (held-out
soundness review). So a rule here is lambdified with mpmath's printer (numbers as exact
``mpf`` tuples, read back as exact balls) and then refused unless every global name its code
reads is one of :data:`NAMES`: Arb's own functions, ``pi`` and ``e`` as balls at the precision
of the call, rigorous ``max``/``min`` (the union of the arguments' balls where the order is not
decided), and the kink functions ``abs_c`` and ``sign_re`` (Arb's ``abs`` and ``sgn``, both
rigorous). A conditional (``Piecewise``, printed as Python's ``... if ... else ...``) picks a
branch by a comparison that is False on a ball straddling its edge, so it is refused too. Every
result must be an ``arb``: a plugin's own ``interval`` rule that returns anything else is
stopped by a one-line :class:`~descentcheck.registry.plugins.PluginError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .plugins import PluginError

Fn = Callable[..., Any]

#: Arb's methods a rule may call by SymPy's name for them
METHODS = ("exp", "log", "sqrt", "tanh", "sinh", "cosh", "atan", "sin", "cos")
#: every global name a lambdified rule may read
NAMES = frozenset({*METHODS, "mpf", "pi", "e", "max", "min", "abs_c", "sign_re"})


class NoArbForm(PluginError):
    """A rule that cannot be evaluated on Arb balls alone (the certifier declines its nets)."""


def _arb_mpf(a: Any) -> Any:
    """mpmath's printed constants (``mpf(1)``, ``mpf((sign, man, exp, bc))``) as exact balls."""
    from flint import arb

    if isinstance(a, tuple):
        sign, man, exp, _ = a
        v = arb(man) * arb(2) ** exp
        return -v if sign else v
    return arb(a)


def _balls(values: tuple[Any, ...]) -> list[Any]:
    from flint import arb

    return [v if isinstance(v, arb) else arb(v) for v in values]


def _arb_max(*values: Any) -> Any:
    """A ball enclosing max(values): the larger where the order is decided, else the union."""
    best, *rest = _balls(values)
    for b in rest:
        best = best if best >= b else b if b >= best else best.union(b)
    return best


def _arb_min(*values: Any) -> Any:
    """A ball enclosing min(values) (as :func:`_arb_max`)."""
    best, *rest = _balls(values)
    for b in rest:
        best = best if best <= b else b if b <= best else best.union(b)
    return best


def namespace() -> dict[str, Fn]:
    """The names a rule's code reads, less ``pi`` and ``e`` (set at each call)."""

    def method(m: str) -> Fn:
        return lambda v: getattr(v, m)()

    return {
        "mpf": _arb_mpf,
        "max": _arb_max,
        "min": _arb_min,
        **{n: method(n) for n in METHODS},
    }


def ball_checked(rule: Fn, who: str) -> Fn:
    """``rule`` whose every result must be an ``arb`` (a one-line error names the plugin)."""
    from flint import arb

    def checked(*a: Any) -> Any:
        v = rule(*a)
        if not isinstance(v, arb):
            raise PluginError(
                f"{who}: its interval rule returned a {type(v).__name__}, not an Arb ball "
                "(python-flint arb): a value without a radius cannot certify anything"
            )
        return v

    return checked


def arb_lambdify(args: Any, expr: Any, who: str) -> Fn:
    """``expr`` as a function of ``args`` on Arb balls, closed (module docstring); raises
    :class:`NoArbForm` naming what has no Arb form here."""
    import sympy as sp

    if expr.has(sp.Piecewise):
        raise NoArbForm(
            f"{who}: no default interval rule: a Piecewise picks its branch by a comparison a "
            "ball cannot decide (give an interval rule)"
        )
    f = sp.lambdify(args, expr, [namespace(), "mpmath"])
    unknown = sorted(set(f.__code__.co_names) - NAMES)
    if unknown:
        raise NoArbForm(
            f"{who}: no default interval rule: {', '.join(unknown)} has no Arb form here "
            "(give an interval rule, or an interval_exclusion)"
        )
    scope = f.__globals__

    def rule(*a: Any) -> Any:
        from flint import arb

        scope["pi"], scope["e"] = arb.pi(), arb.const_e()  # at the caller's precision
        return f(*a)

    return ball_checked(rule, who)
