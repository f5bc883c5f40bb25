"""Op plugins: a third-party package adds an elementwise activation, with every rule in one place.

Write the plugin object, name it as an entry point of the group ``descentcheck.ops``, install the
package; every part of descentcheck then knows the op (spec files, ``train``, ``gradcheck``,
``derive``, theory's checks, the certifier)::

    # my_package/ops.py
    from descentcheck.registry.op_plugins import ElementwisePlugin

    def _isru(x):                        # x is a SymPy symbol; import SymPy inside
        import sympy as sp
        return x / sp.sqrt(1 + x**2)

    isru = ElementwisePlugin(name="isru", sympy=_isru, formula="x / sqrt(1 + x^2)")

    # pyproject.toml
    [project.entry-points."descentcheck.ops"]
    isru = "my_package.ops:isru"

The plugin object (an :class:`ElementwisePlugin`, or any object with the same attributes) has:

==================== ======== ===============================================================
attribute            required meaning
==================== ======== ===============================================================
``name``             yes      the op name in specs: lowercase letters, digits, ``_``; not a
                              built-in op's or another plugin's
``kind``             yes      ``"elementwise"`` (only kind plugins add today)
``sympy``            yes      ``phi(x) -> sympy.Expr``: the forward rule on a SymPy symbol ``x``
                              (real or complex). Everything else defaults from it.
``formula``          no       one line for help and reports (default: ``str(phi(x))``)
``smooth``           no       True (default) when phi is C^2 with bounded phi', phi'' on the
                              reals: what the convergence theorem assumes; False keeps the op
                              out of the claims that assume it
``notes``            no       tuple of one-line notes ``derive`` prints
``numpy_forward``    no       ``f(x: ndarray) -> ndarray``; default ``lambdify(phi, "numpy")``
``numpy_derivative`` no       ``f'(x: ndarray) -> ndarray``; default ``lambdify(phi', "numpy")``.
                              Give both or neither. Both must accept complex arrays (the
                              complex-step gradient oracle): no ``abs``, no masks on the
                              imaginary part.
``claimed_forward``  if numpy ``x -> Expr``: the SymPy transcription of ``numpy_forward``
``claimed_derivative`` if numpy ``x -> Expr``: the transcription of ``numpy_derivative``; theory
                              proves both equal to ``phi`` and ``phi'`` (default: ``phi`` and
                              ``diff(phi)`` themselves, exactly what the defaults compute)
``mpmath``           no       ``f(mpf) -> mpf`` for the 50-digit evaluator; default
                              ``lambdify(phi, "mpmath")``
``interval``         no       ``f(arb) -> arb`` (python-flint balls) for the certifier; default
                              ``phi`` lambdified onto Arb (exp, log, sqrt, tanh, sinh, cosh,
                              atan, sin, cos; rationals as exact balls)
``interval_exclusion`` no     the reason there is no interval rule; then ``interval`` must be
                              None and the certifier declines networks using the op
``expected_bounds``  no       ``(sup|phi|, sup|phi'|, sup|phi''|)`` as SymPy numbers (``oo``
                              allowed); theory checks SymPy's suprema equal them
==================== ======== ===============================================================

Where the defaults are sound: lambdify evaluates ``phi`` as written. In mpmath at 50 digits and on
Arb balls (rigorous outward rounding) that is always sound. In float64 it is sound when the
written form neither overflows nor cancels on the inputs that matter (``x / sqrt(1 + x^2)`` is
fine for |x| < 1e154; ``log(1 + exp(x))`` overflows for x > 709: give ``numpy_forward`` and
``numpy_derivative`` in a stable form, with their transcriptions, as the built-in softplus does).
Theory's numeric agreement check compares the float rules with the 60-digit derivation.

Refused at load, with a one-line :class:`~descentcheck.registry.plugins.PluginError` naming the
entry point and what is missing: no ``sympy`` rule, an unknown ``kind``, a bad or taken name,
only one of the two numpy rules, numpy rules without their transcriptions, both an ``interval``
rule and an ``interval_exclusion``. Nothing here imports numpy or SymPy until a rule is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .. import registry
from .ops import OpInfo
from .plugins import PluginError, load_group

Fn = Callable[[Any], Any]
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PLUGIN_KINDS = ("elementwise",)


@dataclass(frozen=True)
class ElementwisePlugin:
    """An elementwise activation with all its rules (see the module docstring)."""

    name: str
    sympy: Fn
    formula: str = ""
    smooth: bool = True
    notes: tuple[str, ...] = ()
    numpy_forward: Fn | None = None
    numpy_derivative: Fn | None = None
    claimed_forward: Fn | None = None
    claimed_derivative: Fn | None = None
    mpmath: Fn | None = None
    interval: Fn | None = None
    interval_exclusion: str | None = None
    expected_bounds: tuple[Any, Any, Any] | None = None
    kind: str = "elementwise"


_FIELDS = tuple(ElementwisePlugin.__dataclass_fields__)


class PluginOp:
    """A validated plugin, normalised: every rule as a function (given, or derived from phi)."""

    def __init__(self, obj: Any, who: str):
        self.who = who
        for f in _FIELDS:
            setattr(self, f, getattr(obj, f, ElementwisePlugin.__dataclass_fields__[f].default))

    def phi(self, x: Any) -> Any:
        """The SymPy forward rule at ``x``."""
        return self.sympy(x)

    @cached_property
    def _x(self) -> Any:
        import sympy as sp

        return sp.Symbol("x")

    def _lambdified(self, derivative: bool, modules: Any) -> Fn:
        import sympy as sp

        e = self.phi(self._x)
        return sp.lambdify(self._x, sp.diff(e, self._x) if derivative else e, modules)

    @cached_property
    def numpy_rules(self) -> tuple[Fn, Fn]:
        """(forward, derivative) on arrays: the plugin's, or phi and phi' lambdified."""
        if self.numpy_forward is not None:
            return self.numpy_forward, self.numpy_derivative  # type: ignore[return-value]
        return self._lambdified(False, "numpy"), self._lambdified(True, "numpy")

    def claimed_rules(self) -> tuple[Fn, Fn]:
        """(forward, derivative) as SymPy functions of x: what the numpy rules compute."""
        if self.claimed_forward is not None:
            return self.claimed_forward, self.claimed_derivative  # type: ignore[return-value]
        import sympy as sp

        return self.phi, lambda x: sp.diff(self.phi(self._x), self._x).subs(self._x, x)

    @cached_property
    def mpmath_rule(self) -> Fn:
        return self.mpmath if self.mpmath is not None else self._lambdified(False, "mpmath")

    @cached_property
    def interval_rule(self) -> Fn | None:
        """``f(arb) -> arb``, or None when the plugin states an interval exclusion."""
        if self.interval_exclusion is not None:
            return None
        if self.interval is not None:
            return self.interval
        return self._lambdified(False, [_arb_namespace(), "mpmath"])

    def info(self) -> OpInfo:
        """The registry entry."""
        excluded = {"interval": self.interval_exclusion} if self.interval_exclusion else {}
        return OpInfo(
            self.name,
            "elementwise",
            "activation",
            self.formula or f"{self.name}(x)",
            smooth=bool(self.smooth),
            excluded=excluded,
            plugin=self,
        )


def _arb_mpf(a: Any) -> Any:
    """mpmath's printed constants (``mpf(1)``, ``mpf((sign, man, exp, bc))``) as Arb balls."""
    from flint import arb

    if isinstance(a, tuple):
        sign, man, exp, _ = a
        v = arb(man) * arb(2) ** exp
        return -v if sign else v
    return arb(a)


def _arb_namespace() -> dict[str, Fn]:
    def method(m: str) -> Fn:
        return lambda v: getattr(v, m)()

    names = ("exp", "log", "sqrt", "tanh", "sinh", "cosh", "atan", "sin", "cos")
    return {"mpf": _arb_mpf, **{n: method(n) for n in names}}


def validate(obj: Any, who: str) -> PluginOp:
    """Check a loaded plugin object; raise a one-line PluginError naming what is missing."""
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not NAME.match(name):
        raise PluginError(f"{who}: 'name' must be lowercase letters, digits and _, got {name!r}")
    kind = getattr(obj, "kind", None)
    if kind not in PLUGIN_KINDS:
        raise PluginError(f"{who}: 'kind' must be one of {', '.join(PLUGIN_KINDS)}, got {kind!r}")
    if not callable(getattr(obj, "sympy", None)):
        raise PluginError(f"{who}: op {name!r} has no SymPy derivation ('sympy': phi(x) -> Expr)")
    has = {f: getattr(obj, f, None) is not None for f in _FIELDS}
    if has["numpy_forward"] != has["numpy_derivative"]:
        raise PluginError(f"{who}: op {name!r} gives only one of numpy_forward, numpy_derivative")
    if has["numpy_forward"] and not (has["claimed_forward"] and has["claimed_derivative"]):
        raise PluginError(
            f"{who}: op {name!r} gives numpy rules without their SymPy transcription "
            "(claimed_forward, claimed_derivative)"
        )
    if has["interval"] and has["interval_exclusion"]:
        raise PluginError(f"{who}: op {name!r} gives both an interval rule and an exclusion")
    return PluginOp(obj, who)


def load_plugins(taken: set[str]) -> list[OpInfo]:
    """Registry entries of every plugin in ``descentcheck.ops``; a name taken twice is refused."""
    infos: list[OpInfo] = []
    seen = set(taken)
    for p in load_group(registry.OPS_GROUP, validate):
        if p.name in seen:
            raise PluginError(f"{p.who}: op name {p.name!r} is already registered")
        seen.add(p.name)
        infos.append(p.info())
    return infos
