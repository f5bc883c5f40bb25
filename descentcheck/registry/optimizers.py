"""The optimizer registry: each optimizer declared once, and the optimizer plugins.

Importable without numpy or SymPy: an entry holds declarations and *where* the code lives (a
``"module:attribute"`` string, imported on use), never the numeric code itself. Everything that
names optimizers or their hyperparameters reads from here: ``get_optimizer`` and ``OPTIMIZERS``
(``impl.optim``), ``train``'s keywords, the ``descentcheck train`` options, the sweep file's
optimizer blocks, counterexample replay, the report's trajectories, ``descentcheck.testing``,
theory's optimizer checks and the ledger claim ``update-equals-derived-rule``.

Reading the registry (:func:`registry`, :func:`names`, :func:`get`) loads the plugins once, on
the first read.

Plugin API
----------
A package adds an optimizer with an entry point in the group ``descentcheck.optimizers``
(``descentcheck.registry.OPTIMIZERS_GROUP``)::

    # the plugin package's pyproject.toml
    [project.entry-points."descentcheck.optimizers"]
    adam = "my_adam.plugin:ADAM"

The entry point names an :class:`OptimizerEntry` (or a zero-argument callable returning one).
Its fields, all in one place:

``name`` (str)
    The optimizer's name (``--optimizer NAME``, ``train(optimizer=NAME)``): letters, digits and
    ``_``, starting with a letter; not a name already registered.
``summary`` (str)
    One line: the update formula.
``hyperparameters`` (tuple of :class:`Hyperparameter`)
    Every setting, ``lr`` among them (every optimizer takes a learning rate). Each becomes a keyword
    of ``train`` and ``get_optimizer``, a key of a sweep file's optimizer block, and a
    ``descentcheck train`` option ``--NAME`` (``_`` written ``-``). A name another optimizer also
    uses (``momentum``, ``eps``) must have the same ``kind``; names the trainer or the CLI use
    themselves (``steps``, ``seed``, ``data``, ...) are refused. :class:`Hyperparameter` fields:
    ``name``, ``kind`` (``"float"`` or ``"choice"``), ``help`` (one non-empty line, required),
    ``default`` (:data:`REQUIRED` when it must be given), ``low``/``high`` with
    ``low_open``/``high_open`` (the closed or open interval a float lies in; ``high=None`` is
    unbounded), ``choices`` (the names a ``"choice"`` takes), ``label`` (the name in messages,
    default ``name``), ``noun`` (what ``needs ...`` messages call it), ``argument`` (the factory's
    keyword, default ``name``), ``step_size`` (True when it has the units of a step: a sweep's
    ``relative_to_L`` divides it by L_0), ``draw`` (``(low, high, log)``: the range property tests
    draw it from, inside the interval).
``factory`` (callable, or ``"module:attribute"``, resolved when first called: a string naming
a missing attribute is refused then, in one line, not at load)
    ``factory(**arguments) -> descentcheck.impl.optim.Optimizer``, called with every
    hyperparameter (defaults filled in, given values already checked against their declared
    intervals and choices, unless ``validates=True`` says the factory checks them itself, as
    the built-ins do) under its ``argument`` keyword. The :class:`~descentcheck.impl.optim.
    base.Optimizer` holds ``init(params) -> state`` and ``update(grads, state, params) ->
    (updates, new_state, StepInfo)`` over dicts ``NODE.PARAM -> float64 array``, pure (optax's
    convention); ``flat`` may be None: the trainer then calls ``update`` on dicts (its flat,
    in-place form is only a speed-up).
``derivation`` (callable, or ``"module:attribute"``)
    A function returning an :class:`UpdateRule`: the SymPy update of one entry (see there).
    Required: a plugin without one is refused with :class:`OptimizerPluginError`. Called with
    no arguments, unless its rule depends on ``"choice"`` hyperparameters: then it takes them
    as keywords (``def rule(mode="sign")``), and every check (theory's agreement and coverage,
    the ledger's ``update-equals-derived-rule``, ``verify``'s check before it starts) calls it
    for each setting it compares; ``derive`` shows the default setting's rule.
``region`` (str, callable, or None) / ``no_region`` (str or None)
    Exactly one of them: ``region`` names the exact one-step descent region in
    ``descentcheck.theory.descent.REGIONS`` (or is a zero-argument callable returning a
    ``theory.descent.Region``), ``no_region`` states why none exists. A named region is proved
    for one built-in's update (``theory.descent.PROVED_FOR``: ``gd`` for ``-lr g``,
    ``constant_momentum`` for momentum's buffer form, ...): theory checks that the plugin's
    derivation is that update, under the hyperparameter names the region uses
    (``theory.named_regions``). A callable's own region is the plugin's claim: theory checks
    its form only; the ledger and the sweep test it on runs. A ``Region`` (a
    dataclass) has ``name``; ``condition``, a SymPy strict inequality in the Symbols of
    ``theory.descent_proofs`` (``lr``, ``tau``, ``beta``, ``L``, ``rho_k``, ``s_p``, and for
    per-entry scalings ``p`` = g.Dg, ``q`` = |Dg|^2) or the plugin's own hyperparameters;
    ``latex``, ``mathml`` and ``words`` for the report (an empty ``latex`` or ``mathml`` is
    printed from ``condition``); and ``guaranteed``, the plain-float test of the same
    condition, which callers call by keyword with the names it declares (the
    hyperparameters, ``L``, and ``ratio`` for rho_k, given its worst case, inf, so a region
    with ``beta * ratio`` must treat ``beta = 0`` itself; a sweep case without one of them,
    such as per-step ``grad`` and ``scale``, gets no verdict); and ``applies_when`` (default
    ``""``: always), the words for a restriction the region needs, printed beside it by
    ``derive`` and the report (RMSProp's ``"momentum = 0"``). How hard the ledger presses a
    callable's region: ``registered-regions-give-descent`` draws a few plugin cases in the
    fast profile (a region several times too wide, tight only in a limit of the state, was
    falsified at ci but not in fast); judge a new region with ``--profile ci`` or higher.
``torch`` (str, optional)
    The torch equivalent, for documentation.

:class:`UpdateRule` (what ``derivation()`` returns), element by element, SymPy objects:
``step`` is ``dw_k`` of one entry; ``gradient`` the Symbol of that entry's ``g_k``;
``hyperparameters`` maps each hyperparameter name to its Symbol (a ``"choice"`` is left out);
``state`` maps each state Symbol ``s`` to its new value ``s_k`` written in the previous values
(inside ``state`` a state Symbol means ``s_(k-1)``; inside ``step`` it means ``s_k``, the value
just computed, the order of an update's code); ``initial`` the values ``s_(-1)`` (0 when not
given); ``step_index`` the Symbol of ``k`` (0 at the first update) when the rule uses it (bias
corrections); ``parameter`` the Symbol of the entry's value ``w_k`` (the iterate this update
is applied to: ``w_(k+1) = w_k + dw_k``) when the rule reads it, in ``step`` or ``state``
(weight decay: AdamW's ``- lr wd w_k``, or torch's SGD ``weight_decay`` as ``g_k + wd w_k``
inside the momentum buffer); ``proofs`` optional ``theory.zero.Identity`` objects. A plugin's
``step`` and ``state`` may use only these symbols, so the ledger's ``update-equals-derived-rule``
evaluates the rule in mpmath with its state unrolled from the gradients (and the iterates, for
a rule that reads ``parameter``), and compares it with every step the trainer applies. A rule
that reads ``parameter`` is not one of the updates a named region was proved for: give it a
region of its own, which must be one of E, the loss the runs record (where g = 0 away from
w = 0 any decay step raises E: ``lr < 2 / (L + wd)`` is a region of ``E + wd |w|^2 / 2``,
not of E), or ``no_region``.

Adam as a plugin (``my_adam/plugin.py``; the package depends on descentcheck and sympy)::

    import sympy as sp
    from descentcheck.impl.backend import namespace   # numpy, or CuPy on the device path
    from descentcheck.impl.optim.base import Optimizer, StepInfo
    from descentcheck.registry.optimizers import LR, Hyperparameter, OptimizerEntry, UpdateRule

    def make_adam(lr, beta1=0.9, beta2=0.999, eps=1e-8):
        def init(params):                     # state: step count, first and second moments
            m = {k: namespace(v).zeros_like(v) for k, v in params.items()}
            return 0, m, {k: namespace(v).zeros_like(v) for k, v in params.items()}
        def update(grads, state, params):     # pure: fresh arrays, the input state untouched
            t, m, v = state
            t += 1
            m = {k: beta1 * m[k] + (1 - beta1) * g for k, g in grads.items()}
            v = {k: beta2 * v[k] + (1 - beta2) * g * g for k, g in grads.items()}
            dw = {k: -lr * (m[k] / (1 - beta1**t))
                      / (namespace(v[k]).sqrt(v[k] / (1 - beta2**t)) + eps) for k in grads}
            return dw, (t, m, v), StepInfo(None)  # StepInfo.momentum: None (no coefficient)
        hp = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps}
        return Optimizer("adam", hp, init, update)   # (name, hyperparameters, init, update)

    def adam_rule():
        lr, b1, b2, eps, g, m, v, k = sp.symbols("lr beta1 beta2 eps g m v k", real=True)
        m_hat = m / (1 - b1 ** (k + 1))
        v_hat = v / (1 - b2 ** (k + 1))
        return UpdateRule(step=-lr * m_hat / (sp.sqrt(v_hat) + eps), gradient=g,
                          hyperparameters={"lr": lr, "beta1": b1, "beta2": b2, "eps": eps},
                          state={m: b1 * m + (1 - b1) * g, v: b2 * v + (1 - b2) * g**2},
                          step_index=k)

    def decay(name, default):
        return Hyperparameter(name, "float", f"{name} decay", default, high=1.0,
                              high_open=True, draw=(0.5, 0.99, False))

    ADAM = OptimizerEntry(
        name="adam", summary="Adam (Kingma & Ba 2015)",
        hyperparameters=(LR, decay("beta1", 0.9), decay("beta2", 0.999),
                         Hyperparameter("eps", "float", "added to sqrt(v_hat)", 1e-8,
                                        draw=(1e-8, 1e-3, True))),
        factory=make_adam, derivation=adam_rule,
        no_region="the step's direction depends on the whole gradient history")

Then ``descentcheck train SPEC --data DATA --optimizer adam --lr 0.01 --beta1 0.8 --out DIR``,
``dc.train(net, params, x, y, optimizer="adam", lr=0.01, beta1=0.8)``, a sweep block
``{name = "adam", lr = [0.01, 0.02]}`` and ``descentcheck verify --claim
update-equals-derived-rule`` all know it. (``eps`` is also RMSProp's: one ``--eps`` option
serves both, and both declare it a float.)

What is checked, and when: on the first read of the registry, each plugin's entry (a name, a
factory, a derivation, exactly one of region and no_region, a region name among
``theory.descent.REGION_NAMES``, ``lr`` declared, hyperparameter names new or of the same kind
as elsewhere); a failure refuses the plugin and every read raises until it is fixed or
uninstalled. The content is checked by :func:`coverage_problems` (the factory builds an
optimizer with ``init`` and ``update``; the derivation returns an :class:`UpdateRule` whose
``step`` uses only declared symbols and which has a symbol for each float hyperparameter; the
region exists, a named one's update is the one it was proved for, a callable's is a well-formed
``Region``: ``theory.named_regions``), which ``python -m descentcheck.theory`` runs with
``theory.optimizer_agreement.compare_registered`` (the dict-form updates on random gradients
against the rule unrolled in mpmath, within 1e-12 of the step, each option setting of
:func:`option_settings`), and by the ledger's ``update-equals-derived-rule`` (every step the
trainer applies, hyperparameters drawn from each ``draw`` range).

Every problem with a plugin raises :class:`OptimizerPluginError` (a ``DescentcheckError``) with
one line naming the entry point and what is wrong; the CLI prints it as ``error: ...``.
"""

from __future__ import annotations

import importlib
import inspect
import math
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from descentcheck.errors import (
    DescentcheckError,
    HyperparameterError,
    did_you_mean,
    one_line,
)

from . import OPTIMIZERS_GROUP
from .plugins import PluginError, a_kind, built, describe, entry_points, loaded


class OptimizerPluginError(PluginError):
    """An optimizer plugin cannot be registered (one line: which plugin, what is missing); a
    :class:`~descentcheck.registry.plugins.PluginError`, as every plugin's refusal is."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The ``default`` of a hyperparameter that must be given."""

#: keywords of ``train`` and options of ``descentcheck train`` that no hyperparameter may take
RESERVED = frozenset(
    "net params x y optimizer steps batch_size seed progress keep_params backend spec data init "
    "shuffle_seed out quiet help".split()
)


@dataclass(frozen=True)
class Hyperparameter:
    """One optimizer setting, declared once (see the module docstring for each field)."""

    name: str
    kind: str  # "float" or "choice"
    help: str
    default: Any = REQUIRED
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    label: str = ""
    noun: str = ""
    argument: str = ""
    step_size: bool = False
    draw: tuple[float, float, bool] | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def option(self) -> str:
        """The ``descentcheck train`` option."""
        return "--" + self.name.replace("_", "-")

    @property
    def keyword(self) -> str:
        """The factory's keyword."""
        return self.argument or self.name

    def interval(self) -> str:
        """``[0, 1)``-style text of the declared interval (floats)."""
        low = 0.0 if self.low is None else self.low
        return interval_text(low, self.low_open, self.high, self.high_open)

    def describe(self) -> str:
        """What it takes, for help texts: the interval or the choices, and the default."""
        what = [self.interval()] if self.kind == "float" else []
        return "; ".join(what + ([] if self.required else [f"default {self.default}"]))

    def check(self, value: Any) -> Any:
        """``value`` as the optimizer receives it (a float, or one of the choices), else a
        one-line :class:`HyperparameterError` (the wording of ``impl.optim.base.check_number``).
        """
        label = self.label or self.name
        if self.kind == "choice":
            if value not in self.choices:
                known = f"; known: {', '.join(self.choices)}"
                raise HyperparameterError(
                    f"unknown {label} {value!r}{known}{did_you_mean(value, self.choices)}"
                )
            return value
        low = 0.0 if self.low is None else self.low
        return check_number(
            label, value, low=low, low_open=self.low_open, high=self.high, high_open=self.high_open
        )


def interval_text(low: float, low_open: bool, high: float | None, high_open: bool) -> str:
    """``[0, 1)``-style text of an interval (``high`` None: no upper end, ``inf)``: values are
    finite)."""
    if high is None:
        return f"{'(' if low_open else '['}{low:g}, inf)"
    return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_number(
    name: str,
    value: Any,
    *,
    low: float = 0.0,
    low_open: bool = False,
    high: float | None = None,
    high_open: bool = False,
) -> float:
    """A finite float in the stated interval, else a one-line HyperparameterError.

    The one range check: the registry's (:meth:`Hyperparameter.check`) and each optimizer
    factory's own (``impl.optim.base.check_number`` is this function)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise HyperparameterError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int past float64's range (JSON has them), or a huge Fraction
        size = f"an integer of {value.bit_length()} bits" if isinstance(value, int) else "a number"
        raise HyperparameterError(
            f"{name} must be finite, got {size} beyond float64's range"
        ) from None
    if not math.isfinite(v):
        raise HyperparameterError(f"{name} must be finite, got {v}")
    bad_lo = v <= low if low_open else v < low
    bad_hi = high is not None and (v >= high if high_open else v > high)
    if bad_lo or bad_hi:
        interval = interval_text(low, low_open, high, high_open)
        raise HyperparameterError(f"{name} must lie in {interval}, got {v:g}")
    return v


@dataclass(frozen=True)
class UpdateRule:
    """One entry's update ``dw_k`` in SymPy (see the module docstring)."""

    step: Any
    gradient: Any
    hyperparameters: Mapping[str, Any]
    state: Mapping[Any, Any] = field(default_factory=dict)
    initial: Mapping[Any, Any] = field(default_factory=dict)
    step_index: Any = None
    observables: Mapping[Any, str] = field(default_factory=dict)
    """Further symbols a built-in's ``step`` uses, which its own ledger check supplies (the
    previous gradient, the previous applied step, group norms); a plugin leaves it empty."""
    proofs: tuple[Any, ...] = ()
    parameter: Any = None
    """The Symbol of the entry's value ``w_k``, the iterate the update is applied to, for a rule
    that reads it (weight decay); None when it does not."""


@dataclass(frozen=True)
class OptimizerEntry:
    """One optimizer, declared once (see the module docstring for each field)."""

    name: str = ""  # required: the default only gets one left out the registry's refusal
    # defaults only so that a plugin leaving one out gets the registry's one-line refusal
    # naming it, not a TypeError from the constructor
    summary: str = ""
    hyperparameters: tuple[Hyperparameter, ...] = ()
    factory: Callable[..., Any] | str | None = None
    derivation: Callable[[], UpdateRule] | str | None = None
    region: str | Callable[[], Any] | None = None
    no_region: str | None = None
    torch: str = ""
    origin: str = "builtin"  # "builtin", or the plugin's entry point as plugins.describe words it
    validates: bool = False
    """True when the factory checks its own arguments against the declared intervals (the
    built-ins, through ``impl.optim.base.check_number``): the registry then leaves the check to
    it, so a mistake in the factory's check is seen through ``train`` (a test keeps the two in
    agreement). False: the registry checks each value before calling the factory."""

    def hyperparameter(self, name: str) -> Hyperparameter:
        return next(h for h in self.hyperparameters if h.name == name)

    @property
    def hyperparameter_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hyperparameters)

    def make(self, **given: Any) -> Any:
        """The optimizer built from ``given`` (names as declared; None means not given):
        unknown options, missing required ones and values outside their intervals are one-line
        :class:`HyperparameterError` s."""
        given = {k: v for k, v in given.items() if v is not None}
        extra = sorted(set(given) - set(self.hyperparameter_names))
        if extra:  # the closest name, else all of them (torch's alpha for rho finds none)
            names = self.hyperparameter_names
            takes = f" (it takes {', '.join(names)})" if names else " (it takes none)"
            near = did_you_mean(extra[0], names, takes)
            raise HyperparameterError(f"optimizer {self.name} takes no {extra[0]!r}{near}")
        args = {}
        for h in self.hyperparameters:
            if h.name not in given and h.required:
                noun = h.noun or h.name
                raise HyperparameterError(
                    f"optimizer {self.name} needs {noun} (keyword {h.name}, option {h.option})"
                )
            value = given.get(h.name, h.default)
            args[h.keyword] = value if self.validates or h.name not in given else h.check(value)
        try:
            made = resolve(self.factory)(**args)
        except HyperparameterError:
            raise
        except Exception as e:  # a plugin's own failure: one line naming it, not a traceback
            if self.origin == "builtin":
                raise  # ours: a bug, with its traceback
            raise OptimizerPluginError(
                f"{self.origin}: its factory failed on {args}: {one_line(e)}"
            ) from None
        return made if self.origin == "builtin" else _checked(made, self.origin)

    def choice_default(self, name: str) -> str:
        """The value a ``"choice"`` hyperparameter takes when none is given."""
        h = self.hyperparameter(name)
        return h.choices[0] if h.required else h.default

    def derivation_choices(self) -> tuple[str, ...]:
        """The ``"choice"`` hyperparameters the derivation takes as keywords (its rule depends
        on them); () when it takes none (one rule for every setting)."""
        if self.derivation is None:
            return ()
        choices = tuple(h.name for h in self.hyperparameters if h.kind == "choice")
        keywords, any_keyword = self.derivation_keywords()
        return choices if any_keyword else tuple(c for c in choices if c in keywords)

    def derivation_keywords(self) -> tuple[tuple[str, ...], bool]:
        """The derivation's named parameters, and whether it takes ``**kwargs``; ``((),
        False)`` without a signature to read (it is called without arguments)."""
        try:
            params = inspect.signature(resolve(self.derivation)).parameters
        except (TypeError, ValueError):
            return (), False
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        keywords = tuple(n for n, p in params.items() if p.kind in named)
        return keywords, any(p.kind is p.VAR_KEYWORD for p in params.values())

    def build_derivation(self, **setting: Any) -> UpdateRule:
        """The SymPy update rule (imports SymPy) for ``setting``: a derivation that takes
        keywords named after choice hyperparameters (``def rule(mode="sign")``) is called with
        their values in ``setting`` (others ignored; one not given: :meth:`choice_default`)."""
        if self.derivation is None:
            raise OptimizerPluginError(f"optimizer {self.name}: no SymPy derivation")
        wanted = self.derivation_choices()
        return resolve(self.derivation)(
            **{c: setting.get(c, self.choice_default(c)) for c in wanted}
        )

    def derivation_settings(self) -> list[dict[str, str]]:
        """Each combination of the choices the derivation depends on (``[{}]``: none): the
        settings a check of the derivation covers."""
        settings: list[dict[str, str]] = [{}]
        for c in self.derivation_choices():
            options = self.hyperparameter(c).choices
            settings = [{**s, c: v} for s in settings for v in options]
        return settings


def _checked(opt: Any, origin: str) -> Any:
    """A plugin's optimizer whose every result is checked, of its dict-form ``update`` and of its
    flat form's ``update`` and ``step``: a wrong one is one line naming the plugin, not a
    traceback from the trainer's unpacking or sums further on (a short tuple, a parameter left
    out, an update of another shape: third held-out plugin audit), nor a step of one entry that
    numpy broadcast over every parameter and the run went on (fourth). A factory that gives
    anything but an ``Optimizer``, and a rule that raises, are one line too (a fifth audit: a
    dict from the factory and a KeyError from ``update`` were tracebacks from the trainer)."""
    from descentcheck.impl.optim.base import Optimizer

    if not isinstance(opt, Optimizer):
        raise OptimizerPluginError(
            f"{origin}: its factory gave {a_kind(opt)}, not an Optimizer "
            "(descentcheck.impl.optim.base.Optimizer)"
        )
    init, update, flat = opt.init, opt.update, opt.flat
    update = _raising(update, f"{origin}: its update")

    def checked(grads: Mapping[str, Any], state: Any, params: Mapping[str, Any]) -> Any:
        out = update(grads, state, params)
        problem = update_problem(out, grads)
        if problem:
            raise OptimizerPluginError(f"{origin}: its update {problem}")
        return out

    def checked_flat(layout: Any) -> Any:
        form = _raising(flat, f"{origin}: its flat form")(layout)
        step = None if form.step is None else _flat_checked(form.step, f"{origin}: its flat step")
        return replace(
            form,
            init=_raising(form.init, f"{origin}: its flat init"),
            update=_flat_checked(form.update, f"{origin}: its flat update"),
            step=step,
        )

    return replace(
        opt,
        init=_raising(init, f"{origin}: its init"),
        update=checked,
        flat=None if flat is None else checked_flat,
    )


def _raising(rule: Callable[..., Any], who: str) -> Callable[..., Any]:
    """``rule``, with what it raises (but descentcheck's own errors) as one line naming it."""

    def call(*args: Any) -> Any:
        try:
            return rule(*args)
        except DescentcheckError:
            raise
        except Exception as e:
            from descentcheck.impl.device_standin import DeviceLeak

            if isinstance(e, DeviceLeak):  # the device claim names it as a leak
                raise
            raise OptimizerPluginError(f"{who} raised {one_line(e)}") from None

    return call


def _flat_checked(rule: Callable[..., Any], who: str) -> Callable[..., Any]:
    """A flat form's ``update`` or ``step`` whose result must be ``(dw, state, momentum)`` with
    ``dw`` of the gradient vector's shape."""

    rule = _raising(rule, who)

    def checked(g: Any, state: Any, w: Any) -> Any:
        shape = g.shape  # before the rule, which may write into g
        out = rule(g, state, w)
        problem = flat_problem(out, shape)
        if problem:
            raise OptimizerPluginError(f"{who} {problem}")
        return out

    return checked


def flat_problem(out: Any, shape: tuple[int, ...]) -> str | None:
    """What is wrong with a flat form's ``update`` or ``step`` result for a gradient vector of
    ``shape``, or None: the check of :func:`_checked`, which the trainer also makes on the first
    result of an ``Optimizer`` it is handed directly."""
    if not (isinstance(out, tuple) and len(out) == 3):
        return f"must return (dw, state, momentum), got {a_kind(out)}"
    got = getattr(out[0], "shape", None)
    if got != shape:
        what = f"a step of shape {got}" if got is not None else a_kind(out[0])
        return f"returned {what} for a gradient vector of shape {shape}"
    return None


def update_problem(out: Any, grads: Mapping[str, Any]) -> str | None:
    """What is wrong with ``update``'s result for gradients ``grads``, or None: the check of
    :func:`_checked`, which the trainer also makes on the first result of an ``Optimizer`` it
    is handed directly."""
    if not (isinstance(out, tuple) and len(out) == 3):
        return f"must return (updates, state, StepInfo), got {a_kind(out)}" + (
            f" of {len(out)}" if isinstance(out, tuple) else ""
        )
    updates, _, info = out
    if not isinstance(updates, Mapping):
        return f"returned {a_kind(updates)} for the updates, not a dict NAME.PARAM -> array"
    if set(updates) != set(grads):
        missing, extra = sorted(set(grads) - set(updates)), sorted(set(updates) - set(grads))
        return (
            f"left out {missing[0]!r}" if missing else f"returned an update for {extra[0]!r}"
        ) + " (one update per parameter, keyed as the gradients are)"
    for k, g in grads.items():
        shape = getattr(updates[k], "shape", None)
        if shape != g.shape:
            return f"returned an update of shape {shape} for {k!r}, a parameter of shape {g.shape}"
    if not hasattr(info, "momentum"):
        return f"returned {a_kind(info)} where a StepInfo(momentum) is due"
    return None


def check_plugin_derivations() -> None:
    """Build every plugin optimizer's SymPy derivation once (:func:`checked_derivation`), so a
    broken one is a one-line :class:`OptimizerPluginError` now, not in the middle of a run."""
    for entry in registry().values():
        if entry.origin != "builtin":
            checked_derivation(entry)


def checked_derivation(entry: OptimizerEntry, **setting: Any) -> UpdateRule:
    """``entry``'s SymPy derivation for ``setting`` (:meth:`OptimizerEntry.build_derivation`),
    every setting it depends on checked: a one-line :class:`OptimizerPluginError` naming the
    plugin when one raises, gives no :class:`UpdateRule` of SymPy expressions, or uses symbols
    it does not declare (``python -m descentcheck.theory`` checks the rule against the update
    pair; this is what ``verify`` and ``derive`` check before they use it)."""
    import sympy as sp

    for other in entry.derivation_settings():
        where = "".join(f" for {c}={v!r}" for c, v in other.items())
        try:
            rule = entry.build_derivation(**other)
        except Exception as e:  # the plugin's own code
            raise OptimizerPluginError(
                f"{entry.origin}: its SymPy derivation{where} raises {one_line(e)}"
            ) from None
        if not isinstance(rule, UpdateRule) or not isinstance(rule.step, sp.Expr):
            what = a_kind(rule) if not isinstance(rule, UpdateRule) else "a step not in SymPy"
            raise OptimizerPluginError(
                f"{entry.origin}: its SymPy derivation{where} gives {what}, not an UpdateRule"
            )
        problems = rule_problems(entry, rule)
        if problems:
            raise OptimizerPluginError(f"{entry.origin}: {problems[0]}{where}")
    return entry.build_derivation(**setting)


def resolve(ref: Any) -> Any:
    """A ``"module:attribute"`` reference imported, or the object itself."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


# ---- the built-in optimizers ----------------------------------------------------------------

LR = Hyperparameter(
    "lr",
    "float",
    "learning rate",
    low_open=True,
    label="learning rate",
    noun="a learning rate",
    step_size=True,
    draw=(1e-3, 0.5, True),
)
#: adaptive momentum's groupings of the parameters (``impl.optim.adaptive_momentum``)
ADAPTIVE_GROUPINGS = ("array", "unit", "node", "global")
_BETA = dict(high=1.0, high_open=True, label="momentum", noun="a momentum coefficient")
_THEORY = "descentcheck.theory.momentum"
_OPTIM = "descentcheck.impl.optim"  # the package's attributes: a test's monkeypatch reaches them

BUILTINS: tuple[OptimizerEntry, ...] = (
    OptimizerEntry(
        "gd",
        "w_(k+1) = w_k - lr g_k",
        (LR,),
        f"{_OPTIM}:gd",
        f"{_THEORY}:gd_rule",
        region="gd",
        torch="torch.optim.SGD(lr)",
        validates=True,
    ),
    OptimizerEntry(
        "momentum",
        "heavy ball: dw_k = -lr g_k + beta dw_(k-1) (torch's buffer form)",
        (
            LR,
            Hyperparameter(
                "momentum",
                "float",
                "momentum beta",
                argument="beta",
                draw=(0.05, 0.95, False),
                **_BETA,
            ),
        ),
        f"{_OPTIM}:momentum",
        f"{_THEORY}:momentum_rule",
        region="constant_momentum",
        torch="torch.optim.SGD(lr, momentum=beta)",
        validates=True,
    ),
    OptimizerEntry(
        "nesterov",
        "torch's Nesterov: buf_k = beta buf_(k-1) + g_k, dw_k = -lr (g_k + beta buf_k)",
        (
            LR,
            Hyperparameter(
                "momentum",
                "float",
                "momentum beta",
                argument="beta",
                low_open=True,
                draw=(0.05, 0.95, False),
                **_BETA,
            ),
        ),
        f"{_OPTIM}:nesterov",
        f"{_THEORY}:nesterov_rule",
        region="nesterov",
        torch="torch.optim.SGD(lr, momentum=beta, nesterov=True)",
        validates=True,
    ),
    OptimizerEntry(
        "adaptive_momentum",
        "dw_k = -lr g_k + alpha_k dw_(k-1), alpha_k = tau |g_k| / |dw_(k-1)| per group",
        (
            LR,
            Hyperparameter(
                "tau",
                "float",
                "alpha_k = tau |g_k| / |dw_{k-1}|",
                noun="tau",
                step_size=True,
                draw=(0.01, 0.5, False),
            ),
            Hyperparameter(
                "group",
                "choice",
                "norms per parameter array (default), per unit (its incoming weights and bias), "
                "per node, or global",
                default="array",
                choices=ADAPTIVE_GROUPINGS,
                label="momentum grouping",
            ),
        ),
        f"{_OPTIM}:adaptive_momentum",
        f"{_THEORY}:adaptive_momentum_rule",
        region="adaptive_momentum",
        validates=True,
    ),
    OptimizerEntry(
        "rmsprop",
        "v_k = rho v_(k-1) + (1 - rho) g_k^2, w_(k+1) = w_k - lr g_k / (sqrt(v_k) + eps)",
        (
            LR,
            Hyperparameter(
                "rho",
                "float",
                "decay (torch's alpha)",
                0.99,
                high=1.0,
                high_open=True,
                draw=(0.5, 0.999, False),
            ),
            Hyperparameter("eps", "float", "added to sqrt(v_k)", 1e-8, draw=(1e-8, 1e-3, True)),
            Hyperparameter(
                "momentum", "float", "momentum beta", 0.0, draw=(0.05, 0.95, False), **_BETA
            ),
        ),
        f"{_OPTIM}:rmsprop",
        f"{_THEORY}:rmsprop_rule",
        region="rmsprop",
        torch="torch.optim.RMSprop(lr, alpha=rho, eps, momentum)",
        validates=True,
    ),
)


# ---- reading, and loading the plugins once ---------------------------------------------------

_entries: dict[str, OptimizerEntry] = {e.name: e for e in BUILTINS}
_loaded = False


def registry() -> Mapping[str, OptimizerEntry]:
    """Every registered optimizer by name, built-ins first (loads the plugins on first read)."""
    global _loaded
    if not _loaded:
        found = dict(_entries)
        for entry in _plugin_entries():
            _check_plugin(entry, found)
            found[entry.name] = entry
        _entries.update(found)
        _loaded = True
    return dict(_entries)


def names() -> tuple[str, ...]:
    return tuple(registry())


def get(name: str) -> OptimizerEntry:
    """The entry of ``name``; an unknown name is a one-line HyperparameterError."""
    entries = registry()
    if not isinstance(name, str) or name not in entries:
        from .plugins import stray_groups

        known = f"; known: {', '.join(entries)}"
        raise HyperparameterError(f"unknown optimizer {name!r}{known}{stray_groups()}")
    return entries[name]


def options() -> dict[str, Hyperparameter]:
    """Every hyperparameter name across the registry (its first declaration) — the CLI's
    options."""
    out: dict[str, Hyperparameter] = {}
    for e in registry().values():
        for h in e.hyperparameters:
            out.setdefault(h.name, h)
    return out


def users(hyperparameter: str) -> tuple[str, ...]:
    """The optimizers that take ``hyperparameter``."""
    return tuple(n for n, e in registry().items() if hyperparameter in e.hyperparameter_names)


def option_settings(entry: OptimizerEntry) -> list[dict[str, Any]]:
    """The settings every check of ``entry`` covers: each choice of each ``"choice"``
    hyperparameter, and each optional float whose default is 0 (an option switched off) both
    off (0.0) and on (None: drawn from its range). Each dict maps those names to their value,
    or to None where the check draws it; names not in the dict are drawn too."""
    settings: list[dict[str, Any]] = [{}]
    for h in entry.hyperparameters:
        if h.kind == "choice":
            settings = [{**s, h.name: c} for s in settings for c in h.choices]
        elif not h.required and h.default == 0:
            settings = [{**s, h.name: v} for s in settings for v in (0.0, None)]
    return settings


def _plugin_entries() -> list[OptimizerEntry]:
    out = []
    for ep in entry_points(OPTIMIZERS_GROUP):  # sorted by name: install order does not matter
        origin = where = describe(ep)  # as ops and claims name their plugins
        obj = loaded(ep, where, OptimizerPluginError)
        is_entry = lambda o: isinstance(o, OptimizerEntry)  # noqa: E731 (already built)
        obj = built(obj, where, "optimizer", is_entry, OptimizerPluginError)
        if not isinstance(obj, OptimizerEntry):
            raise OptimizerPluginError(
                f"{where}: is {a_kind(obj)}, not a descentcheck.registry.optimizers.OptimizerEntry"
            )
        out.append(_with_origin(obj, origin))
    return out


def _with_origin(entry: OptimizerEntry, origin: str) -> OptimizerEntry:
    values = {f.name: getattr(entry, f.name) for f in fields(entry)}
    return OptimizerEntry(**{**values, "origin": origin})


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _check_plugin(entry: OptimizerEntry, known: Mapping[str, OptimizerEntry]) -> None:
    """Refuse an entry that does not bring everything (one line, naming the plugin)."""
    where = entry.origin

    def refuse(what: str) -> None:
        raise OptimizerPluginError(f"{where}: {what}")

    if not isinstance(entry.name, str) or not _NAME.match(entry.name):
        refuse(f"name {entry.name!r} is not a name (letters, digits, _)")
    if entry.name in known:
        refuse(f"name {entry.name!r} is already registered ({known[entry.name].origin})")
    if not isinstance(entry.summary, str) or not entry.summary.strip():
        refuse(f"optimizer {entry.name} has no summary (one line: its update formula)")
    if entry.derivation is None or not (callable(entry.derivation) or ":" in entry.derivation):
        refuse(f"optimizer {entry.name} has no SymPy derivation (derivation)")
    if entry.factory is None or not (callable(entry.factory) or ":" in str(entry.factory)):
        refuse(f"optimizer {entry.name} has no init/update factory (factory)")
    if (entry.region is None) == (entry.no_region is None):
        refuse(
            f"optimizer {entry.name} needs exactly one of region (its exact descent region) "
            "and no_region (why none exists)"
        )
    if entry.region is not None and not callable(entry.region):
        # the names are known without SymPy: a typo is refused here, not by a KeyError later
        from .region_names import REGION_NAMES

        if not isinstance(entry.region, str) or entry.region not in REGION_NAMES:
            refuse(_unknown_region(entry))
    _check_hyperparameters(entry, known, refuse)


def _unknown_region(entry: OptimizerEntry) -> str:
    from .region_names import REGION_NAMES

    return (
        f"optimizer {entry.name}: region {entry.region!r} is not one of "
        f"theory.descent.REGIONS (known: {', '.join(REGION_NAMES)}) nor a callable returning a "
        "theory.descent.Region"
    )


def _check_hyperparameters(
    entry: OptimizerEntry, known: Mapping[str, OptimizerEntry], refuse: Callable[[str], None]
) -> None:
    hps = entry.hyperparameters
    if not isinstance(hps, tuple) or not all(isinstance(h, Hyperparameter) for h in hps):
        refuse(f"optimizer {entry.name}: hyperparameters must be a tuple of Hyperparameter")
    seen = [h.name for h in hps]
    if "lr" not in seen:
        refuse(f"optimizer {entry.name} declares no 'lr' (every optimizer takes a learning rate)")
    for i, h in enumerate(hps):
        if not _NAME.match(h.name) or h.name in seen[:i]:
            refuse(f"optimizer {entry.name}: hyperparameter {h.name!r} is not a new name")
        if h.name in RESERVED:
            refuse(f"optimizer {entry.name}: hyperparameter {h.name!r} is a trainer option")
        if not isinstance(h.help, str) or not h.help.strip() or "\n" in h.help:
            # it is the option's line in train --help and the sweep's key description
            refuse(
                f"optimizer {entry.name}: hyperparameter {h.name!r}: help must be one "
                "non-empty line (train --help prints it)"
            )
        if h.kind not in ("float", "choice"):
            refuse(
                f"optimizer {entry.name}: hyperparameter {h.name!r}: kind {h.kind!r} is "
                "neither 'float' (a number in [low, high]) nor 'choice' (one of its choices)"
            )
        if (h.kind == "choice") != bool(h.choices):
            refuse(
                f"optimizer {entry.name}: hyperparameter {h.name!r}: "
                + (
                    "a 'choice' needs choices=(...), the names it takes"
                    if h.kind == "choice"
                    else "choices are for kind 'choice', not 'float'"
                )
            )
        for problem in _declaration_problems(h):
            refuse(f"optimizer {entry.name}: hyperparameter {h.name!r}: {problem}")
        for other in known.values():
            if h.name in other.hyperparameter_names:
                if other.hyperparameter(h.name).kind != h.kind:
                    refuse(
                        f"optimizer {entry.name}: hyperparameter {h.name!r} is a "
                        f"{other.hyperparameter(h.name).kind} in {other.name}, a {h.kind} here"
                    )


def _interval_problem(h: Hyperparameter) -> str | None:
    """A float's declared interval that takes no value, or whose ends are not numbers (a NaN
    end compares false, so it would let every value through)."""
    for end, v in (("low", h.low), ("high", h.high)):
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v)
        ):
            return f"{end} = {v!r} is not a number"
    low = 0.0 if h.low is None else h.low
    if h.high is not None and (low > h.high or (low == h.high and (h.low_open or h.high_open))):
        return f"its interval {h.interval()} is empty"
    return None


def _declaration_problems(h: Hyperparameter) -> list[str]:
    """What ``h`` declares against itself: an interval that takes no value, a default it would
    refuse as a value, a ``draw`` range outside its interval (property tests and theory would
    draw values ``train`` refuses)."""
    if h.kind == "float" and (problem := _interval_problem(h)) is not None:
        return [problem]
    out = []
    if not h.required:
        try:
            h.check(h.default)
        except HyperparameterError as e:
            out.append(f"its default is not a value it takes ({e})")
    if h.draw is not None:
        try:
            low, high, log = h.draw
            if not low <= high:
                raise HyperparameterError(f"({low}, {high}, log={log}) is not a range")
            if log and low <= 0:  # the audit's (0.0, 0.9, True) did not say why
                raise HyperparameterError(f"a log-uniform draw needs low > 0, got low = {low}")
            h.check(low), h.check(high)
        except (TypeError, ValueError, HyperparameterError) as e:
            out.append(f"draw = {h.draw!r} is not (low, high, log) inside its interval ({e})")
    return out[:1]


def pair_problem(entry: OptimizerEntry) -> str | None:
    """Why ``entry``'s factory gives no ``init``/``update`` pair at its example settings, or
    None when it does (reported, not raised: coverage lists every gap)."""
    try:
        opt = entry.make(**{h.name: _example(h) for h in entry.hyperparameters})
    except Exception as e:
        return f"optimizer {entry.name}: its update pair cannot be built ({e})"
    if not (callable(getattr(opt, "init", None)) and callable(getattr(opt, "update", None))):
        return f"optimizer {entry.name}: its factory gives no init/update pair"
    return None


def _stray_keywords(entry: OptimizerEntry) -> list[str]:
    """A keyword of the derivation that names none of the choice hyperparameters: it never
    gets a value, so the rule stands for every setting (a misspelt ``mode`` goes unnoticed)."""
    try:
        keywords, _ = entry.derivation_keywords()
    except (ImportError, AttributeError):
        return []  # an unresolvable reference, reported as such by the derivation's check
    choices = [h.name for h in entry.hyperparameters if h.kind == "choice"]
    stray = [n for n in keywords if n not in choices]
    if not stray:
        return []
    known = f"its choices: {', '.join(choices)}" if choices else "it declares no choice"
    return [
        f"optimizer {entry.name}: its derivation takes {stray[0]!r}, which names no choice "
        f"hyperparameter ({known}): it is never given a value, so one rule stands for every "
        "setting"
    ]


def coverage_problems(entry: OptimizerEntry) -> list[str]:
    """What ``entry`` lacks, one line each naming the optimizer (empty: complete). Imports the
    code it names, and SymPy: the update pair, the SymPy derivation (an :class:`UpdateRule`
    whose symbols are declared) and the region or a stated reason."""
    import sympy as sp

    name = entry.name
    out: list[str] = [p] if (p := pair_problem(entry)) is not None else []
    out += _stray_keywords(entry)
    where = ""
    try:
        for setting in entry.derivation_settings():
            where = "".join(f" for {c}={v!r}" for c, v in setting.items())
            rule = entry.build_derivation(**setting)
            if not isinstance(rule, UpdateRule) or not isinstance(rule.step, sp.Expr):
                out.append(
                    f"optimizer {name}: its derivation{where} returns no UpdateRule of SymPy exprs"
                )
                break
            out += rule_problems(entry, rule)
    except Exception as e:
        out.append(f"optimizer {name}: no SymPy derivation{where} ({type(e).__name__}: {e})")
    if (entry.region is None) == (entry.no_region is None):
        out.append(f"optimizer {name}: neither a descent region nor a reason why none exists")
    elif entry.region is not None:
        try:
            region_of(entry)
        except Exception as e:
            out.append(f"optimizer {name}: its descent region {entry.region!r} is missing ({e})")
        else:
            # a region is proved for one update: a named one must be that update
            from descentcheck.theory.named_regions import region_problems

            try:
                out += region_problems(entry)
            except Exception as e:  # a plugin's derivation or region raising: one line
                out.append(f"optimizer {name}: its region cannot be checked ({one_line(e)})")
    elif not str(entry.no_region).strip():
        out.append(f"optimizer {name}: its reason for having no descent region is empty")
    return out


def rule_problems(entry: OptimizerEntry, rule: UpdateRule) -> list[str]:
    """What is wrong with one setting's :class:`UpdateRule` of ``entry`` (a hyperparameter
    without its symbol, a symbol nobody declares, an initial state that is not known before
    the first step), one line each."""
    floats = {h.name for h in entry.hyperparameters if h.kind == "float"}
    missing = sorted(floats - set(rule.hyperparameters))
    out = [f"optimizer {entry.name}: its derivation has no symbol for {m!r}" for m in missing]
    allowed = {rule.gradient, *rule.hyperparameters.values(), *rule.state, *rule.observables}
    allowed |= {s for s in (rule.step_index, rule.parameter) if s is not None}
    used = set().union(*(_free(e) for e in (rule.step, *rule.state.values())))
    stray = sorted(str(s) for s in used - allowed if str(s) not in missing)  # named above
    if stray:
        out.append(f"optimizer {entry.name}: its derivation uses undeclared symbols {stray}")
    for state, value in rule.initial.items():
        # an initial state is known before the first step: hyperparameters and numbers only
        loose = getattr(value, "free_symbols", set()) - set(rule.hyperparameters.values())
        if loose:
            names = sorted(str(s) for s in loose)
            out.append(
                f"optimizer {entry.name}: the initial value of state {state} uses {names}, "
                "which are not hyperparameters"
            )
    return out


def _free(e: Any) -> set[Any]:
    """The free symbols of a rule's expression (a number written as a plain int or float has
    none)."""
    return set(getattr(e, "free_symbols", ()))


def _example(h: Hyperparameter) -> Any:
    if h.kind == "choice":
        return h.default if not h.required else h.choices[0]
    if h.draw is not None:
        return h.draw[0]
    return None if not h.required else example_value(h)


def example_value(h: Hyperparameter) -> Any:
    """A value of ``h`` to evaluate with when nothing is drawn: its default, else (required)
    its first choice, or a number inside its interval (``low + 1/2``, or the interval's middle
    when that is past ``high``)."""
    if not h.required:
        return h.default
    if h.kind == "choice":
        return h.choices[0]
    low = h.low or 0.0
    return low + 0.5 if h.high is None or low + 0.5 < h.high else (low + h.high) / 2


def _printed(region: Any) -> Any:
    """A plugin's ``Region`` with an empty ``latex`` or ``mathml`` printed from its SymPy
    ``condition`` (the README's example leaves ``mathml=""``: derive printed a blank line)."""
    import dataclasses

    condition = getattr(region, "condition", None)
    if not dataclasses.is_dataclass(region) or condition is None:
        return region  # not a Region: theory's form check names what is wrong
    if getattr(region, "latex", "x") and getattr(region, "mathml", "x"):
        return region
    import sympy as sp

    from descentcheck.theory.mathml import math_block, presentation
    from descentcheck.theory.render_update import greek_mathml, latex_names

    names = latex_names(condition.free_symbols)  # lr as eta, as the rule above it is printed
    return dataclasses.replace(
        region,
        latex=region.latex or sp.latex(condition, symbol_names=names),
        mathml=region.mathml or math_block(presentation(greek_mathml(condition))),
    )


def region_of(entry: OptimizerEntry) -> Any:
    """The exact descent region (a ``theory.descent.Region``), or None with ``no_region``."""
    if entry.region is None:
        return None
    if callable(entry.region):
        return _printed(entry.region())
    from descentcheck.theory.descent import REGIONS

    if entry.region not in REGIONS:  # a built-in's typo or a region removed from theory
        raise OptimizerPluginError(_unknown_region(entry))
    return REGIONS[entry.region]


def takes_ratio(region: Any) -> bool:
    """Whether ``region``'s float test takes the per-step ratio rho_k (``guaranteed(ratio=)``):
    no a-priori verdict but at its worst case, and ``registered-regions-give-descent`` does
    not run it."""
    return "ratio" in inspect.signature(region.guaranteed).parameters


__all__ = [
    "ADAPTIVE_GROUPINGS",
    "BUILTINS",
    "LR",
    "REQUIRED",
    "Hyperparameter",
    "OptimizerEntry",
    "OptimizerPluginError",
    "UpdateRule",
    "coverage_problems",
    "flat_problem",
    "get",
    "names",
    "option_settings",
    "options",
    "region_of",
    "registry",
    "resolve",
    "update_problem",
    "users",
]
