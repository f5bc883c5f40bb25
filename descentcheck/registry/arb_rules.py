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
rigorous). A conditional (``Piecewise``, and ``Heaviside(x, 0)``, ``KroneckerDelta``, ``sinc``,
each printed as Python's ``... if ... else ...``) picks a branch by a comparison that is False on
a ball straddling its edge, so the rule's source is read and any conditional, comparison, ``%``,
``//`` or complex constant refused; so is a function with its own numeric implementation
(``implemented_function``), which lambdify would call under an allowed name. Every
result must be an ``arb``: a plugin's own ``interval`` rule that returns anything else is
stopped by a one-line :class:`~descentcheck.registry.plugins.PluginError`.
"""

from __future__ import annotations

import ast
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


def _ball(v: Any) -> Any:
    """``v`` as a ball: an ``arb`` as it is; an int (``sqrt(2)`` prints its 2 bare) exactly."""
    from flint import arb

    return v if isinstance(v, arb) else arb(v)


def _arb_max(*values: Any) -> Any:
    """A ball enclosing max(values): the larger where the order is decided, else the union."""
    best, *rest = map(_ball, values)
    for b in rest:
        best = best if best >= b else b if b >= best else best.union(b)
    return best


def _arb_min(*values: Any) -> Any:
    """min(values) = -max(-values) (negating a ball is exact)."""
    return -_arb_max(*(-_ball(v) for v in values))


def namespace() -> dict[str, Fn]:
    """The names a rule's code reads, less ``pi`` and ``e`` (set at each call)."""

    def method(m: str) -> Fn:
        return lambda v: getattr(_ball(v), m)()

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


#: what a rule's code may not hold: a conditional or comparison picks a branch by a test a
#: ball straddling its edge fails (Piecewise, and Heaviside(x, 0), KroneckerDelta, sinc print as
#: ``a if x <= 0 else b``); ``%`` and ``//`` have no ball form; a complex constant (``I``) none
_NOT_ON_BALLS = {
    ast.IfExp: "a conditional (a Piecewise, Heaviside, KroneckerDelta, sinc ...)",
    ast.Compare: "a comparison",
    ast.BoolOp: "a logical operator",
    ast.Mod: "a remainder (Mod)",
    ast.FloorDiv: "an integer division",
}


def _code_problem(source: str) -> str | None:
    """What in a lambdified rule's source has no rigorous ball form, or None."""
    for node in ast.walk(ast.parse(source)):
        for kind, words in _NOT_ON_BALLS.items():
            if isinstance(node, kind):
                return words
        if isinstance(node, ast.Constant) and isinstance(node.value, complex):
            return "a complex constant"
    return None


def _foreign_functions(expr: Any) -> list[str]:
    """Functions of ``expr`` that carry their own numeric implementation (SymPy's
    ``implemented_function``, a plugin's class with ``_imp_``): lambdify would call it in place
    of Arb's, under a name the whitelist allows. Only the kink functions ``abs_c`` and
    ``sign_re`` (rigorous on balls) are the project's own."""
    import sympy as sp

    from .op_plugins import _kink_functions

    ours = set(_kink_functions())
    return sorted(
        {
            type(f).__name__
            for f in expr.atoms(sp.Function)
            if getattr(type(f), "_imp_", None) is not None and type(f) not in ours
        }
    )


def arb_lambdify(args: Any, expr: Any, who: str) -> Fn:
    """``expr`` as a function of ``args`` on Arb balls, closed (module docstring); raises
    :class:`NoArbForm` naming what has no Arb form here."""
    import inspect

    import sympy as sp

    def refuse(what: str) -> NoArbForm:
        return NoArbForm(
            f"{who}: no default interval rule: {what} has no Arb form here (give an interval "
            "rule, or an interval_exclusion)"
        )

    if foreign := _foreign_functions(expr):
        raise refuse(f"{', '.join(foreign)} (a function with its own numeric implementation)")
    f = sp.lambdify(args, expr, [namespace(), "mpmath"])
    if unknown := sorted(set(f.__code__.co_names) - NAMES):
        raise refuse(", ".join(unknown))
    if problem := _code_problem(inspect.getsource(f)):
        raise refuse(problem)
    scope = f.__globals__

    def rule(*a: Any) -> Any:
        from flint import arb

        scope["pi"], scope["e"] = arb.pi(), arb.const_e()  # at the caller's precision
        try:
            return f(*a)
        except (TypeError, AttributeError) as err:  # one line, not a claim's crash
            raise PluginError(f"{who}: its interval rule failed on a ball: {err}") from None

    return ball_checked(rule, who)
