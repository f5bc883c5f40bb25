"""Op plugins: a third-party package adds an activation or a loss, with every rule in one place.

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
``kind``             yes      ``"elementwise"`` (a loss: ``"loss"``, below)
``sympy``            yes      ``phi(x) -> sympy.Expr``: the forward rule on a SymPy symbol ``x``
                              (real or complex). Everything else defaults from it.
``formula``          no       one line for help and reports (default: ``str(phi(x))``)
``smooth``           no       True (default) when phi is C^2 with bounded phi', phi'' on the
                              reals: what the convergence theorem assumes; False keeps the op
                              out of the claims' generated DAGs (as relu)
``notes``            no       tuple of one-line notes ``derive`` prints
``numpy_forward``    no       ``f(x: ndarray) -> ndarray``; default ``lambdify(phi, "numpy")``
``numpy_derivative`` no       ``f'(x: ndarray) -> ndarray``; default ``lambdify(phi', "numpy")``.
                              Give both or neither. Both must accept complex arrays (the
                              complex-step gradient oracle): no ``abs``, no masks on the
                              imaginary part. Both also run on the device path (CuPy arrays):
                              take array functions from
                              ``descentcheck.impl.backend.namespace(x)``, not numpy (the
                              defaults do: they are lambdified onto ``x``'s namespace)
``claimed_forward``  if numpy ``x -> Expr``: the SymPy transcription of ``numpy_forward``
``claimed_derivative`` if numpy ``x -> Expr``: the transcription of ``numpy_derivative``; theory
                              proves both equal to ``phi`` and ``phi'`` (default: ``phi`` and
                              ``diff(phi)`` themselves, exactly what the defaults compute)
``mpmath``           no       ``f(mpf) -> mpf`` for the 50-digit evaluator; default
                              ``lambdify(phi, "mpmath")``
``interval``         no       ``f(arb) -> arb`` (python-flint balls) for the certifier; default
                              ``phi`` lambdified onto Arb alone (:mod:`.arb_rules`: exp, log,
                              sqrt, tanh, sinh, cosh, atan, sin, cos, pi, e, Max, Min, Abs,
                              sign; rationals as exact balls). A rule using anything else
                              (``erf``, a ``Piecewise``) has no default: give one, or state
                              ``interval_exclusion`` (theory's coverage check fails with
                              neither); the certifier then declines nets using the op, naming
                              why. Every result must be an
                              ``arb``; anything else stops the run with a one-line error. A
                              rule you give is trusted to enclose: ``python -m
                              descentcheck.theory`` samples it against phi (run it before
                              relying on certified verdicts of nets that use the op)
``interval_exclusion`` no     the reason there is no interval rule; then ``interval`` must be
                              None and the certifier declines networks using the op
``expected_bounds``  no       ``(sup|phi|, sup|phi'|, sup|phi''|)`` over the reals, as SymPy
                              numbers or strings ``sympify`` reads (``"48*sqrt(5)/125"``,
                              ``"oo"``); theory checks SymPy's suprema equal them
==================== ======== ===============================================================

A loss is a :class:`LossPlugin` (``kind = "loss"``), used as a spec's ``"loss"``::

    def _logcosh(yhat, y):               # tuples of SymPy symbols yhat0.., y0..
        import sympy as sp
        return sp.Add(*[sp.log(sp.cosh(a - t)) for a, t in zip(yhat, y)])

    logcosh = LossPlugin(name="logcosh", sympy=_logcosh)

==================== ======== ===============================================================
attribute            required meaning
==================== ======== ===============================================================
``name``, ``kind``   yes      as above; ``kind`` is ``"loss"``
``sympy``            yes      ``E(yhat, y) -> sympy.Expr``: the loss of ONE sample, from the
                              tuples of symbols ``yhat0..yhat{D-1}`` (the network output) and
                              ``y0..y{D-1}`` (its targets, one-hot rows for integer labels).
                              Over n samples the loss is the mean of the per-sample losses.
``min_width``        no       the least output width D it accepts (default 1)
``targets``          no       how it takes targets of shape (n,) (integer labels or numbers):
                              ``"labels"`` (default, as ``softmax_cross_entropy``): integer
                              labels in [0, D), read as one-hot rows; fractional ones refused.
                              ``"values"`` (a regression loss, as ``mse``): at D = 1 the numbers
                              of the one output (integers too), at D > 1 integer labels as
                              one-hot rows. (n, D) rows are taken as given either way
``formula``,         no       as above
``smooth``, ``notes``
``numpy_value_and_grad`` no   ``(yhat, y) -> (E, dE/dyhat)`` on (n, D) arrays, E the mean over
                              rows; default: ``E`` and ``dE/dyhat_k`` lambdified onto the
                              arrays' namespace, evaluated column by column, averaged (the
                              gradient divided by n). Runs on device arrays too (as above)
``claimed``          if numpy ``(yhat, y) -> (E, {yhat_k: dE/dyhat_k})``: the SymPy transcription
                              of ``numpy_value_and_grad`` for one sample
``mpmath``           no       ``(yhat, y) -> E`` on (n, D) object arrays of mpf (the mean over
                              rows; ``y`` one-hot rows for labels); default: ``E`` lambdified
                              onto mpmath, averaged (it also takes ``y`` of shape (n,), read
                              as ``targets`` says)
``interval``         no       the same on object arrays of ``arb`` balls; default: ``E``
                              lambdified onto Arb alone (as above), averaged
``interval_exclusion`` no     as above
==================== ======== ===============================================================

Where the defaults are sound: lambdify evaluates ``phi`` as written. In mpmath at 50 digits and on
Arb balls (rigorous outward rounding, and only Arb's functions: :mod:`.arb_rules`) that is always
sound. In float64 it is sound when the
written form neither overflows nor cancels on the inputs that matter (``x / sqrt(1 + x^2)`` is
fine for |x| < 1e154; ``log(1 + exp(x))`` overflows for x > 709: give ``numpy_forward`` and
``numpy_derivative`` in a stable form, with their transcriptions, as the built-in softplus does;
``log(1 + exp(-|x|))`` keeps a tiny ``exp``'s digits only as ``log1p``: written with ``log``,
theory's numeric agreement names its error, 1e-3 relative at x = -30).
A rule's ``|u|`` and ``sign(u)`` (``sp.Abs``, ``sp.sign``) are read as :func:`analytic` says:
the same on the reals, continued near them for the complex step, with torch's derivatives; a rule
SymPy can only differentiate as an unevaluated ``Derivative`` (``floor``, ``re`` of x) is refused
in one line when its numeric rules are built. Declared smooth, a rule whose phi, phi' or
phi'' jumps where an ``Abs``, ``sign``, ``Max``, ``Piecewise``... of it breaks (softsign's phi''
at 0) fails theory's assumptions check: it is not C^2 (a smooth function written with them, as
``max(x, 0) + log(1 + exp(-|x|))``, is not refused). A loss declared smooth is checked the same
way along lines ``yhat_k = x`` (the other outputs and targets held at a few values): Huber's
loss, whose E'' jumps at ``|r| = 1``, fails it; declare it ``smooth=False``.
What checks each rule: theory's coverage check (every rule present), its symbolic agreement
(the transcriptions equal SymPy's derivatives), its numeric agreement (the float rules against the
60-digit derivation), its plugin-rules check (a given ``mpmath`` rule equals phi, the
``interval`` ball contains it, at sample points) and, for an activation, its assumptions check
(the suprema, and ``expected_bounds``). Each loops over the op registry, so
``python -m descentcheck.theory`` covers every installed plugin.

Refused at load, with a one-line :class:`~descentcheck.registry.plugins.PluginError` naming the
entry point and what is missing: no ``sympy`` rule, an unknown ``kind``, a bad or taken name,
only one of the two numpy rules, numpy rules without their transcriptions (``claimed_*`` for an
activation, ``claimed`` for a loss), both an ``interval`` rule and an ``interval_exclusion``, a
``min_width`` that is not a positive integer, ``targets`` neither ``"labels"`` nor ``"values"``.
A rule the plugin gives that fails on device arrays with a ``TypeError`` (numpy called on them)
is reported as a one-line :class:`~descentcheck.registry.plugins.PluginError` naming the plugin
and the rule. Nothing here imports numpy or SymPy until a rule
is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cache, cached_property
from typing import Any

from descentcheck.errors import DescentcheckError, one_line

from .. import registry
from .arb_rules import NoArbForm, arb_lambdify, ball_checked
from .ops import OpInfo
from .plugins import PluginError, a_kind, built, load_group

Fn = Callable[..., Any]
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PLUGIN_KINDS = ("elementwise", "loss")


@dataclass(frozen=True)
class ElementwisePlugin:
    """An elementwise activation with all its rules (see the module docstring)."""

    # required, as sympy is: the default lets one left out be refused at load in the registry's
    # one line (an empty name's), not as the constructor's TypeError
    name: str = ""
    sympy: Fn | None = None  # required: None is refused at load, naming the rule
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


@dataclass(frozen=True)
class LossPlugin:
    """A loss with all its rules (see the module docstring).

    ``targets`` says how it takes targets of shape (n,): ``"labels"`` (the default, as
    ``softmax_cross_entropy``): integer class labels, one-hot rows, fractional ones refused;
    ``"values"`` (a regression loss, as ``mse``): at output width 1 the numbers themselves,
    integers too; at width > 1 integer labels again. (n, D) rows are taken as given either way.
    ``Network.check_targets``, the claims and the default evaluator rules all read it."""

    name: str = ""  # required: as ElementwisePlugin's
    sympy: Fn | None = None  # required: None is refused at load, naming the rule
    formula: str = ""
    smooth: bool = True
    notes: tuple[str, ...] = ()
    min_width: int = 1
    numpy_value_and_grad: Fn | None = None
    claimed: Fn | None = None
    mpmath: Fn | None = None
    interval: Fn | None = None
    interval_exclusion: str | None = None
    # "labels" by default: how every non-mse loss read flat integer targets before the field
    targets: str = "labels"
    kind: str = "loss"


#: how a loss takes targets of shape (n,): the values of ``LossPlugin.targets``
TARGET_FORMS = ("labels", "values")


def flat_targets_are_labels(targets: str, width: int) -> bool:
    """Whether targets of shape (n,) are integer labels (read as one-hot rows of ``width``) for
    a loss whose ``targets`` is ``"labels"`` or ``"values"`` at output width ``width``: always
    for ``"labels"``; for ``"values"`` only at ``width > 1`` (at width 1 they are the one
    output's numbers, integers included)."""
    return targets == "labels" or width > 1


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in fields(cls) if f.name not in ("name", "sympy")}


class _Plugin:
    """A validated plugin object, its attributes copied (absent ones at their defaults)."""

    template: type = ElementwisePlugin
    called_with = "one SymPy symbol x"
    """What the ``sympy`` rule is called with, named when it raises (a wrong signature's error
    alone, such as ``'tuple' - 'tuple'``, does not say what the rule was given)."""

    def __init__(self, obj: Any, who: str) -> None:
        self.who = who
        self.name: str = obj.name
        self.sympy: Fn = obj.sympy
        for f, default in _defaults(self.template).items():
            setattr(self, f, getattr(obj, f, default))

    def _expr(self, rule: str, *args: Any) -> Any:
        """What the plugin's SymPy rule ``rule`` gives on ``args``, checked to be a SymPy
        expression. Load cannot check this (it imports nothing), so the first use does: a rule
        that raises (``1/0``, ``np.exp`` of a symbol) or gives something else (None) is a
        one-line :class:`PluginError` naming the plugin, wherever it is first called."""
        try:
            e = getattr(self, rule)(*args)
        except Exception as err:  # the plugin's own code
            given = f" (it is called with {self.called_with})" if rule == "sympy" else ""
            raise PluginError(
                f"{self.who}: its SymPy rule '{rule}' raises {one_line(err)}{given}"
            ) from None
        return self._sympy_expr(rule, e)

    def _sympy_expr(self, rule: str, e: Any) -> Any:
        """``e`` as a SymPy expression, or a one-line :class:`PluginError` naming ``rule``."""
        import sympy as sp

        try:
            e = sp.sympify(e, strict=True)
        except sp.SympifyError:
            pass
        if not isinstance(e, sp.Expr):
            raise PluginError(
                f"{self.who}: its SymPy rule '{rule}' gives {type(e).__name__}, "
                "not a SymPy expression"
            )
        return e

    def _info(self, kind: Any, family: str, **kw: Any) -> OpInfo:
        excluded = {"interval": self.interval_exclusion} if self.interval_exclusion else {}
        return OpInfo(
            self.name,
            kind,
            family,
            self.formula or f"{self.name}(x)",
            smooth=bool(self.smooth),
            excluded=excluded,
            plugin=self,
            **kw,
        )


class PluginOp(_Plugin):
    """An activation plugin, normalised: every rule as a function (given, or derived from phi)."""

    def phi(self, x: Any) -> Any:
        """The SymPy forward rule at ``x``, its ``|u|``, ``sign(u)`` as :func:`analytic` reads
        them."""
        return analytic(self._expr("sympy", x))

    @cached_property
    def _x(self) -> Any:
        import sympy as sp

        return sp.Symbol("x")

    def _lambdified(self, derivative: bool, modules: Any) -> Fn:
        import sympy as sp

        e = self.phi(self._x)
        return sp.lambdify(self._x, self.diff(e, self._x) if derivative else e, modules)

    def diff(self, e: Any, x: Any) -> Any:
        """``de/dx`` in closed form, or a one-line :class:`PluginError` naming the plugin (a
        rule SymPy can only differentiate as ``Derivative(...)``, such as ``floor`` or ``re``
        of a complex symbol, has no numeric derivative to lambdify)."""
        return closed_derivative(e, x, self.who)

    @cached_property
    def numpy_rules(self) -> tuple[Fn, Fn]:
        """(forward, derivative) on arrays of any backend: the plugin's (a namespace leak on
        device arrays named in one line), or phi and phi' lambdified onto ``x``'s namespace."""
        if self.numpy_forward is not None:
            return (
                _checked_rule(self.numpy_forward, self.who, "numpy_forward", _elementwise),
                _checked_rule(self.numpy_derivative, self.who, "numpy_derivative", _slope),
            )
        e = self.phi(self._x)
        d = self.diff(e, self._x)
        try:
            return ArrayRule((self._x,), e).ready(), ArrayRule((self._x,), d).ready()
        except Exception as err:  # SymPy cannot print a function of the rule as numpy code
            raise PluginError(
                f"{self.who}: its SymPy rule cannot be written as numpy code ({one_line(err)})"
            ) from None

    def claimed_rules(self) -> tuple[Fn, Fn]:
        """(forward, derivative) as SymPy functions of x: what the numpy rules compute."""
        if self.claimed_forward is not None:
            return (
                lambda x: analytic(self._expr("claimed_forward", x)),
                lambda x: analytic(self._expr("claimed_derivative", x)),
            )
        return self.phi, lambda x: self.diff(self.phi(self._x), self._x).subs(self._x, x)

    @cached_property
    def mpmath_rule(self) -> Fn:
        """``f(mpf) -> mpf``."""
        return self.mpmath if self.mpmath is not None else self._lambdified(False, "mpmath")

    @cached_property
    def _interval(self) -> tuple[Fn | None, str | None]:
        if self.interval_exclusion is not None:
            return None, str(self.interval_exclusion)
        if self.interval is not None:
            return ball_checked(self.interval, self.who), None
        try:
            return arb_lambdify(self._x, self.phi(self._x), self.who), None
        except NoArbForm as e:
            return None, str(e)

    @property
    def interval_rule(self) -> Fn | None:
        """``f(arb) -> arb`` (:mod:`.arb_rules`: closed, every result a ball), or None when the
        plugin states an interval exclusion or its rule has no Arb form (:meth:`no_interval`)."""
        return self._interval[0]

    def no_interval(self, dim: int | None = None) -> str | None:
        """Why there is no interval rule (the stated exclusion, or what has no Arb form)."""
        return self._interval[1]

    def check_rules(self) -> None:
        """Call every SymPy rule the plugin gives once (a one-line :class:`PluginError` if one
        raises or gives no expression, or one SymPy cannot differentiate in closed form), so a
        command can refuse it before it starts."""
        self.diff(self.phi(self._x), self._x)
        if self.claimed_forward is not None:
            self._expr("claimed_forward", self._x)
            self._expr("claimed_derivative", self._x)
        if self.interval is not None and self.interval_exclusion is None:
            from flint import arb

            try:  # a float for a ball is refused now, not after a run's first certificates
                self.interval_rule(arb(0.5))
            except PluginError:
                raise
            except Exception as err:  # the plugin's own code
                raise PluginError(
                    f"{self.who}: its interval rule raises {one_line(err)} at the ball [0.5]"
                ) from None

    def info(self) -> OpInfo:
        """The registry entry."""
        return self._info("elementwise", "activation")


class PluginLoss(_Plugin):
    """A loss plugin, normalised: every rule as a function (given, or derived from E)."""

    template = LossPlugin
    called_with = "two tuples of SymPy symbols, yhat0..yhat{D-1} and y0..y{D-1}"

    @staticmethod
    def symbols(dim: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """``(yhat0..yhat{D-1}, y0..y{D-1})`` as SymPy symbols."""
        import sympy as sp

        return sp.symbols(f"yhat0:{dim}"), sp.symbols(f"y0:{dim}")

    def expression(self, yhat: tuple[Any, ...], y: tuple[Any, ...]) -> Any:
        """The per-sample loss E(yhat, y), its ``|u|``, ``sign(u)`` as :func:`analytic` reads
        them."""
        return analytic(self._expr("sympy", tuple(yhat), tuple(y)))

    def _lambdified(self, dim: int, numbers: str, grad: bool) -> Any:
        return _lambdified_loss(self, dim, numbers, grad)

    def value_and_grad(self, yhat: Any, y: Any) -> tuple[Any, Any]:
        """``(E, dE/dyhat)`` over (n, D) arrays of any backend: the plugin's (a namespace leak
        on device arrays named in one line), or the mean of E lambdified onto their namespace."""
        if self.numpy_value_and_grad is not None:
            return self._given_value_and_grad(yhat, y)
        from descentcheck.impl.backend import namespace

        n, dim = yhat.shape
        cols = (*yhat.T, *y.T)
        value = (self._lambdified(dim, "numpy", False)(*cols) + 0 * yhat[:, 0]).sum() / n
        grads = [g(*cols) + 0 * yhat[:, 0] for g in self._lambdified(dim, "numpy", True)]
        return value, namespace(yhat).stack(grads, axis=1) / n

    @cached_property
    def _given_value_and_grad(self) -> Fn:
        return _checked_rule(
            self.numpy_value_and_grad, self.who, "numpy_value_and_grad", _value_and_grad
        )

    def claimed_rule(self, yhat: tuple[Any, ...], y: tuple[Any, ...]) -> tuple[Any, dict]:
        """(E, {yhat_k: dE/dyhat_k}) for one sample: the plugin's transcription, or E's diff."""
        if self.claimed is not None:
            E, grads = self.claimed(yhat, y)
            return analytic(E), {k: analytic(g) for k, g in dict(grads).items()}
        E = self.expression(yhat, y)
        return E, {a: closed_derivative(E, a, self.who) for a in yhat}

    def check_rules(self) -> None:
        """Call the SymPy rule (and a given transcription) once at the least output width, as
        :meth:`PluginOp.check_rules` does."""
        yhat, y = self.symbols(max(1, int(self.min_width)))
        E = self.expression(yhat, y)
        for a in yhat:
            closed_derivative(E, a, self.who)
        if self.claimed is not None:
            try:
                E, grads = self.claimed(yhat, y)
                grads = dict(grads).values()
            except Exception as err:  # the plugin's own code
                raise PluginError(
                    f"{self.who}: its SymPy rule 'claimed' raises {one_line(err)}"
                ) from None
            for e in (E, *grads):
                self._sympy_expr("claimed", e)

    def prepare(self, dim: int) -> None:
        """Lambdify the default numpy rules for output width ``dim`` now (the network does at
        construction), not inside the first training step."""
        if self.numpy_value_and_grad is None:
            self._lambdified(dim, "numpy", False).ready()
            for g in self._lambdified(dim, "numpy", True):
                g.ready()

    def target_rows(self, y: Any, dim: int) -> Any:
        """``y`` as rows of ``dim`` targets: (n, D) rows as given; (n,) targets as
        :attr:`targets` reads them (:func:`flat_targets_are_labels`): labels as one-hot rows of
        0 and 1, the numbers of one output as one-entry rows. Any number type (mpf, arb)."""
        import numpy as np

        if np.ndim(y) != 1:
            return y
        if flat_targets_are_labels(self.targets, dim):
            return [[1 if t == k else 0 for k in range(dim)] for t in y]
        return [[t] for t in y]

    def _mean_rule(self, numbers: str) -> Fn:
        def rule(yhat: Any, y: Any) -> Any:
            n, dim = yhat.shape
            f = self._lambdified(dim, numbers, False)
            rows = self.target_rows(y, dim)  # a caller may hand labels (n,), not (n, D) rows
            return sum(f(*yhat[i], *rows[i]) for i in range(n)) / n

        return rule

    @cached_property
    def mpmath_rule(self) -> Fn:
        """``(yhat, y) -> E`` on object arrays of mpf."""
        return self.mpmath if self.mpmath is not None else self._mean_rule("mpmath")

    @cached_property
    def interval_rule(self) -> Fn | None:
        """``(yhat, y) -> E`` on object arrays of arb (every result a ball), or None (a stated
        exclusion). The default is lambdified per width D, closed (:mod:`.arb_rules`); a width
        whose rule has no Arb form is named by :meth:`no_interval`."""
        if self.interval_exclusion is not None:
            return None
        if self.interval is not None:
            return ball_checked(self.interval, self.who)
        return ball_checked(self._mean_rule("arb"), self.who)

    def no_interval(self, dim: int | None = None) -> str | None:
        """Why there is no interval rule at output width ``dim`` (default: the least)."""
        if self.interval_exclusion is not None:
            return str(self.interval_exclusion)
        if self.interval is not None:
            return None
        try:
            _lambdified_loss(self, dim or int(self.min_width), "arb", False)
        except NoArbForm as e:
            return str(e)
        return None

    def info(self) -> OpInfo:
        """The registry entry."""
        least = int(self.min_width)
        return self._info("loss", "loss", width=None, min_dim=least, min_width=least)


@cache
def _lambdified_loss(plugin: PluginLoss, dim: int, numbers: str, grad: bool) -> Any:
    """E (or the tuple of dE/dyhat_k) of one sample lambdified for ``numbers`` (``numpy``: onto
    the namespace of the arrays at each call, see :class:`ArrayRule`; ``mpmath`` or ``arb``);
    cached per (plugin, D, numbers)."""
    import sympy as sp

    yhat, y = plugin.symbols(dim)
    E = plugin.expression(yhat, y)
    grads = [closed_derivative(E, a, plugin.who) for a in yhat] if grad else []
    if numbers == "numpy":
        args = (*yhat, *y)
        return tuple(ArrayRule(args, g) for g in grads) if grad else ArrayRule(args, E)
    if numbers == "arb":
        args = (*yhat, *y)
        return (
            tuple(arb_lambdify(args, g, plugin.who) for g in grads)
            if grad
            else (arb_lambdify(args, E, plugin.who))
        )
    if grad:
        return tuple(sp.lambdify((*yhat, *y), g, numbers) for g in grads)
    return sp.lambdify((*yhat, *y), E, numbers)


def analytic(e: Any) -> Any:
    """``e`` with every ``|u|`` and ``sign(u)`` of a ``u`` not known to be real written as
    ``abs_c`` and ``sign_re`` (``Heaviside(u)`` as ``(1 + sign_re(u)) / 2``): on the reals the
    same functions, and for a complex ``u`` near the real line the continuation
    ``u sign(Re u)`` (0 at ``Re u = 0``, where ``abs`` has its kink), which SymPy differentiates
    in closed form and the complex-step oracle sees through (``abs`` of a complex number drops
    its imaginary part, and SymPy's derivative of ``Abs`` of a complex symbol is
    ``Derivative(re(x), x)``, which nothing can evaluate). Their derivatives are torch's:
    ``d|u| = sign(u) du`` with ``sign(0) = 0``, and ``d sign(u) = 0``. Of a real symbol they
    stay SymPy's ``Abs`` and ``sign`` (what theory's suprema read)."""
    import sympy as sp

    if not isinstance(e, sp.Basic) or not e.has(sp.Abs, sp.sign, sp.Heaviside):
        return e
    abs_c, sign_re = _kink_functions()

    def step(u: Any, *at_zero: Any) -> Any:  # H(u) = (1 + sign u) / 2: H(0) = 1/2, SymPy's
        half = (1 + sign_re(u)) / 2
        return half if not at_zero or at_zero[0] == sp.S.Half else sp.Heaviside(u, *at_zero)

    return e.replace(sp.Abs, abs_c).replace(sp.sign, sign_re).replace(sp.Heaviside, step)


def _abs_value(u: Any) -> Any:
    """``|u|`` for real numbers and arrays (numpy, CuPy, mpmath, Arb), ``u sign(Re u)`` for
    complex ones: exact (a product by -1, 0 or 1), and 0 where ``Re u = 0``, so the complex
    step's derivative at the kink is ``sign(0) = 0``, the value the rules use (torch's)."""
    complex_array = getattr(getattr(u, "dtype", None), "kind", "") == "c"
    if complex_array or isinstance(u, complex) or type(u).__name__ == "mpc":
        return u * _sign_value(u)
    return abs(u)


def _sign_value(u: Any) -> Any:
    """``sign(Re u)``: -1, 0 or 1 (an Arb ball: the ball of the signs it contains)."""
    import mpmath

    from descentcheck.impl.backend import namespace

    if hasattr(u, "sgn"):  # an Arb ball
        return u.sgn()
    if hasattr(u, "dtype"):
        return namespace(u).sign(u.real)
    if type(u).__name__ in ("mpf", "mpc"):
        return mpmath.sign(u.real)
    re = u.real if isinstance(u, complex) else u
    return float((re > 0) - (re < 0))


def _mathml_row(printer: Any, name: str | None, left: str, arg: Any, right: str) -> Any:
    """``<mrow>[<mi>name</mi>]<mo>left</mo>arg<mo>right</mo></mrow>`` in SymPy's MathML DOM."""
    dom = printer.dom
    row = dom.createElement("mrow")
    for tag, text in (("mi", name), ("mo", left), (None, arg), ("mo", right)):
        if tag is None:
            row.appendChild(printer._print(text))
        elif text is not None:
            node = dom.createElement(tag)
            node.appendChild(dom.createTextNode(text))
            row.appendChild(node)
    return row


@cache
def _kink_functions() -> tuple[Any, Any]:
    """The SymPy functions ``abs_c`` and ``sign_re`` (built once SymPy is imported). Each is
    SymPy's own (``Abs``, ``sign``) of a real argument, prints as it (LaTeX, MathML, ``str``),
    and evaluates by its ``_imp_``, which lambdify calls by the class name."""
    import sympy as sp

    class Kink(sp.Function):
        nargs = 1
        real_form: Any = None  # SymPy's function, for a real argument
        word: str | None = None  # the name printed before the brackets
        brackets = ("(", ")")

        @classmethod
        def eval(cls, u: Any) -> Any:
            return cls.real_form(u) if u.is_extended_real else None

        def _latex(self, printer: Any) -> str:
            name = rf"\operatorname{{{self.word}}}" if self.word else ""
            left, right = self.brackets
            return rf"{name}\left{left}{printer._print(self.args[0])}\right{right}"

        def _sympystr(self, printer: Any) -> str:
            return f"{self.real_form.__name__}({printer._print(self.args[0])})"

        def _mathml_presentation(self, printer: Any) -> Any:
            return _mathml_row(
                printer, self.word, *self.brackets[:1], self.args[0], self.brackets[1]
            )

    class sign_re(Kink):
        """sign(Re u); its derivative is 0 (the jump at 0 is the op's kink)."""

        real_form, word, _imp_ = sp.sign, "sign", staticmethod(_sign_value)

        def fdiff(self, argindex: int = 1) -> Any:
            return sp.S.Zero

    class abs_c(Kink):
        """|u| on the reals, u sign(Re u) near them; its derivative is sign_re(u)."""

        real_form, brackets, _imp_ = sp.Abs, ("|", "|"), staticmethod(_abs_value)

        def fdiff(self, argindex: int = 1) -> Any:
            return sign_re(self.args[0])

    return abs_c, sign_re


def left_unevaluated(d: Any) -> str | None:
    """The shortest unevaluated ``Derivative(...)`` in the derivative ``d`` (what SymPy could not
    differentiate, ``Derivative(floor(x), x)``), or None."""
    import sympy as sp

    return min(map(str, d.atoms(sp.Derivative)), key=len) if d.has(sp.Derivative) else None


def closed_derivative(e: Any, x: Any, who: str) -> Any:
    """``de/dx``, or a one-line :class:`PluginError` naming ``who`` when SymPy leaves an
    unevaluated ``Derivative`` in it."""
    import sympy as sp

    # a jump's DiracDelta is 0 off the jump, and 0 at it by the rules' convention (sign(0) = 0)
    d = sp.diff(e, x).replace(sp.DiracDelta, lambda *a: sp.S.Zero)
    if (left := left_unevaluated(d)) is not None:
        raise PluginError(
            f"{who}: SymPy cannot differentiate its rule in closed form (it leaves {left}); "
            "write it with functions analytic near the real line (|u| and sign(u) may appear)"
        )
    return d


class ArrayRule:
    """A SymPy expression lambdified onto the namespace of the arrays it is called with
    (``descentcheck.impl.backend.namespace`` of its first argument: numpy, CuPy or the device
    stand-in), so a default rule runs on the device path as the built-in ops do; lambdified
    once per namespace. SymPy's numpy printer writes bare names (``sqrt``, ``exp``, ``pi``),
    which the namespace's own functions replace; a name it lacks falls back to numpy's."""

    def __init__(self, args: tuple[Any, ...], expr: Any) -> None:
        self.args = args
        self.expr = expr
        # id(namespace) -> (namespace, function): the namespace kept alive, so its id is not
        # reused (the stand-in's namespace is a SimpleNamespace, which cannot be hashed)
        self._by_namespace: dict[int, tuple[Any, Fn]] = {}

    def __call__(self, *a: Any) -> Any:
        from descentcheck.impl.backend import namespace

        xp = namespace(a[0])
        return self.ready(xp)._by_namespace[id(xp)][1](*a)

    def ready(self, xp: Any = None) -> ArrayRule:
        """Lambdified for ``xp`` (numpy by default) now, so that the first training step does
        not pay for it (a run's ``wall_time`` would count it)."""
        if xp is None:
            import numpy as xp
        if id(xp) not in self._by_namespace:
            self._by_namespace[id(xp)] = (xp, self._lambdify(xp))
        return self

    def _lambdify(self, xp: Any) -> Fn:
        import numpy as np
        import sympy as sp

        # cse: a derived gradient repeats its subexpressions (a softmax's exp sums in each
        # dE/dyhat_k); evaluated once each, a loss plugin's 10-class gradient ran 8x faster
        if xp is np:
            return numpy_lambdify(self.args, self.expr)
        names = {k: v for k, v in vars(xp).items() if not k.startswith("_")}
        return sp.lambdify(self.args, self.expr, [names, "numpy"], cse=True)


def numpy_lambdify(args: Any, expr: Any) -> Fn:
    """``expr`` as a function of numpy arrays. numpy has no erf, gamma...: for them SymPy writes
    Python's math functions, which take no arrays; SciPy's (scikit-learn's dependency) do, and
    take complex ones for the complex step."""
    import sympy as sp

    f = sp.lambdify(args, expr, "numpy", cse=True)
    if _scalars_only(f, len(args) if isinstance(args, tuple | list) else 1):
        f = sp.lambdify(args, expr, ["scipy", "numpy"], cse=True)
    return f


def _scalars_only(f: Fn, arity: int) -> bool:
    """Whether ``f`` refuses arrays (a function of Python's math module in it)."""
    import numpy as np

    try:
        with np.errstate(all="ignore"):
            f(*[np.array([0.5, 0.25])] * arity)
    except TypeError:
        return True
    except Exception:  # any other failure is the rule's own, met where it runs
        return False
    return False


def _shape(v: Any) -> Any:
    return getattr(v, "shape", None if not isinstance(v, int | float | complex) else ())


def _what(v: Any) -> str:
    """``shape (3,)`` for an array or a number, else its kind (``a list``)."""
    return f"shape {_shape(v)}" if _shape(v) is not None else a_kind(v)


def _elementwise(out: Any, x: Any, *_: Any) -> str | None:
    """What is wrong with a ``numpy_forward``'s result on ``x``, or None."""
    if _shape(out) != x.shape:
        return f"returned {_what(out)} for an input of shape {x.shape}"
    return None


def _slope(out: Any, x: Any, *_: Any) -> str | None:
    """A ``numpy_derivative`` may return one number (a constant slope) or x's shape."""
    return None if _shape(out) == () else _elementwise(out, x)


def _value_and_grad(out: Any, yhat: Any, *_: Any) -> str | None:
    if not (isinstance(out, tuple | list) and len(out) == 2):
        return f"must return (E, dE/dyhat), got {a_kind(out)}"
    if _shape(out[0]) != ():
        return f"returned E of {_what(out[0])}: E is one number, the mean over the rows"
    if _shape(out[1]) != yhat.shape:
        return f"returned dE/dyhat of {_what(out[1])} for outputs of shape {yhat.shape}"
    return None


def _checked_rule(rule: Fn, who: str, what: str, wrong: Callable[..., str | None]) -> Fn:
    """A rule the plugin gives, whose ``TypeError`` on device arrays (numpy called on them, or
    a numpy array mixed in) becomes a one-line PluginError naming the plugin and the rule; so
    does a result ``wrong(result, *arguments)`` finds fault with (a shape that broke a matrix
    product or an unpacking further on, with a traceback: third held-out plugin audit)."""

    def guarded(*a: Any) -> Any:
        out = _called(*a)
        problem = wrong(out, *a)
        if problem:
            raise PluginError(f"{who}: its {what} {problem}")
        return out

    def _called(*a: Any) -> Any:
        try:
            return rule(*a)
        except DescentcheckError:
            raise
        except TypeError as e:
            import numpy as np

            from descentcheck.impl.backend import namespace

            if namespace(a[0]) is np:
                raise PluginError(f"{who}: its {what} raised {one_line(e)}") from None
            raise PluginError(
                f"{who}: its {what} failed on a device array ({one_line(e)}); a plugin's "
                "rules run on the device path too: take array functions from "
                "descentcheck.impl.backend.namespace(a), not numpy"
            ) from None
        except Exception as e:  # a traceback from the trainer's step, not naming the plugin
            raise PluginError(f"{who}: its {what} raised {one_line(e)}") from None

    return guarded


def _missing(obj: Any, name: str, kind: str) -> str | None:
    """What an object of ``kind`` lacks or gets wrong, or None."""
    attrs = _defaults(LossPlugin) | _defaults(ElementwisePlugin)
    has = {f: getattr(obj, f, None) is not None for f in attrs}
    if kind == "elementwise":
        bounds = getattr(obj, "expected_bounds", None)
        if bounds is not None and (
            not isinstance(bounds, tuple | list)
            or len(bounds) != 3
            or any(isinstance(b, bool) or not isinstance(b, int | float | str) for b in bounds)
        ):
            return (
                f"op {name!r}: 'expected_bounds' must be three numbers or strings "
                f"(sup|phi|, sup|phi'|, sup|phi''|), got {bounds!r}"
            )
        if has["numpy_forward"] != has["numpy_derivative"]:
            return f"op {name!r} gives only one of numpy_forward, numpy_derivative"
        if has["numpy_forward"] and not (has["claimed_forward"] and has["claimed_derivative"]):
            return (
                f"op {name!r} gives numpy rules without their SymPy transcription "
                "(claimed_forward, claimed_derivative)"
            )
    else:
        if has["numpy_value_and_grad"] and not has["claimed"]:
            return (
                f"loss {name!r} gives numpy_value_and_grad without its SymPy transcription "
                "(claimed)"
            )
        least = getattr(obj, "min_width", 1)
        if isinstance(least, bool) or not isinstance(least, int) or least < 1:
            return f"loss {name!r}: 'min_width' must be a positive integer, got {least!r}"
        targets = getattr(obj, "targets", "labels")
        if targets not in TARGET_FORMS:
            return f"loss {name!r}: 'targets' must be 'labels' or 'values', got {targets!r}"
    if has["interval"] and has["interval_exclusion"]:
        return f"{kind} {name!r} gives both an interval rule and an exclusion"
    return None


def validate(obj: Any, who: str) -> PluginOp | PluginLoss:
    """Check a loaded plugin object (or what a zero-argument callable the entry point names
    returns, as for optimizers and claims); raise a one-line PluginError naming what is missing."""
    obj = built(obj, who, "op", lambda o: hasattr(o, "name"))
    if not hasattr(obj, "name") or not hasattr(obj, "kind"):
        raise PluginError(
            f"{who}: is {a_kind(obj)}, not an ElementwisePlugin or a LossPlugin "
            "(descentcheck.registry.op_plugins)"
        )
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not NAME.match(name):
        raise PluginError(f"{who}: 'name' must be lowercase letters, digits and _, got {name!r}")
    kind = getattr(obj, "kind", None)
    if kind not in PLUGIN_KINDS:
        raise PluginError(f"{who}: 'kind' must be one of {', '.join(PLUGIN_KINDS)}, got {kind!r}")
    what = "op" if kind == "elementwise" else "loss"
    if not callable(getattr(obj, "sympy", None)):
        rule = "phi(x) -> Expr" if kind == "elementwise" else "E(yhat, y) -> Expr"
        raise PluginError(f"{who}: {what} {name!r} has no SymPy derivation ('sympy': {rule})")
    problem = _missing(obj, name, kind)
    if problem is not None:
        raise PluginError(f"{who}: {problem}")
    if kind == "elementwise":
        return PluginOp(obj, who)
    return PluginLoss(obj, who)


def load_plugins(taken: set[str]) -> list[OpInfo]:
    """Registry entries of every plugin in ``descentcheck.ops``; a name taken twice is refused."""
    infos: list[OpInfo] = []
    holders = dict.fromkeys(taken, "builtin")  # as the optimizer registry names its origins
    for p in load_group(registry.OPS_GROUP, validate):
        if p.name in holders:
            raise PluginError(f"{p.who}: name {p.name!r} is already registered ({holders[p.name]})")
        holders[p.name] = p.who
        infos.append(p.info())
    return infos
