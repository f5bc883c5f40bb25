"""The op registry: every op of architecture spec v1 and every loss, declared once.

Importable without numpy or SymPy: an :class:`OpInfo` declares what each consumer needs to know
about an op (the spec parser, the strategies, theory's tables, the certifier, the reports, the
CLI help); the numeric and symbolic rules themselves live in their tables, one per rule (see
:data:`RULES`), and the coverage check (``descentcheck.theory.coverage``) proves every registered
op has each rule or an exclusion stated here.

Fields of :class:`OpInfo`:

``name``       the ``"op"`` of a spec node (or the spec's ``"loss"``)
``kind``       ``parametric`` (has parameters), ``elementwise`` (one input, same width, no
               parameters), ``merge`` (several inputs, no parameters) or ``loss``
``family``     the reports' grouping: ``dense``, ``distance``, ``activation``, ``merge``, ``loss``
``keys``       the node keys beyond ``name``, ``op``, ``inputs`` (:class:`SpecKey`: type, default,
               choices, required)
``arity``      ``(least, most)`` inputs, ``most`` None for no limit (losses: ``(1, 1)``)
``width``      the output-width rule: ``units`` (the node's ``units``), ``input`` (its one
               input's), ``equal`` (all inputs equal, that width), ``sum`` (the inputs' sum);
               None for a loss
``params``     parameter names, each stored as ``NODE.PARAM``
``smooth``     C^2 with bounded phi' and phi'' where it matters: what the convergence theorem and
               the descent claims assume; relu is not
``variants``   the one-unit derivations theory writes (``descentcheck derive`` names) with the
               node settings each stands for: ``gaussian`` and ``gaussian_per_unit``
``min_dim``    the least number of inputs D of a one-unit derivation (add: 2; losses: their
               least output width)
``min_width``  losses: the least output width the spec may feed them
``formula``    one line of text (help, reports)
``excluded``   rule -> the stated reason an op has no such rule (relu: no interval rule)
``plugin``     the plugin object that supplied the op (None for the built-in ones)

The registry is read through :func:`ops`, :func:`get` and the helpers below; the first read
loads the plugins of the entry-point group ``descentcheck.ops`` once
(:mod:`descentcheck.registry.op_plugins` documents the plugin object). :func:`reset` forgets
them (tests that fake entry points).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

Kind = Literal["parametric", "elementwise", "merge", "loss"]
KINDS: tuple[str, ...] = get_args(Kind)  # one list: what the type says is what is checked

#: every rule an op needs, and where its table lives
RULES: Mapping[str, str] = MappingProxyType(
    {
        "numpy": "the trainer's layer or loss (descentcheck.impl.ops.factory / impl.losses.LOSSES)",
        "sympy": "the SymPy forward rule of one unit (descentcheck.theory.units)",
        "claimed": "the trainer's rules transcribed into SymPy (descentcheck.theory.claimed)",
        "mpmath": "the 50-digit evaluator's rule (descentcheck.impl.mp_network)",
        "interval": "the Arb ball rule the certifier uses (impl.mp_network.arb_functions, "
        "read by descentcheck.properties.certify)",
    }
)


@dataclass(frozen=True)
class SpecKey:
    """A node key: its JSON type (``int`` or ``str``), default, allowed values, and whether a
    node must give it. ``int`` keys are positive integers."""

    name: str
    type: Literal["int", "str"]
    default: Any = None
    choices: tuple[Any, ...] = ()
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class Variant:
    """One one-unit derivation of an op: its ``derive`` name and the node settings it is."""

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpInfo:
    """One op or loss, as every consumer needs to know it (see the module docstring)."""

    name: str
    kind: Kind
    family: str
    formula: str
    keys: tuple[SpecKey, ...] = ()
    arity: tuple[int, int | None] = (1, 1)
    width: str | None = "input"
    params: tuple[str, ...] = ()
    smooth: bool = True
    variants: tuple[Variant, ...] = ()
    min_dim: int = 1
    min_width: int = 1
    excluded: Mapping[str, str] = field(default_factory=dict)
    plugin: Any = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:  # every consumer branches on it: another kind reaches none
            raise ValueError(f"op {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if not self.variants:
            object.__setattr__(self, "variants", (Variant(self.name),))

    @property
    def key_names(self) -> frozenset[str]:
        return frozenset(k.name for k in self.keys)


UNITS = SpecKey("units", "int", required=True, help="number of units (output width)")
RADIUS = SpecKey(
    "radius",
    "str",
    default="per_connection",
    choices=("per_connection", "per_unit"),
    help="one radius per connection (units, in) or per unit (units,)",
)
RELU_NOT_SMOOTH = (
    "relu is not smooth (not differentiable at 0: one-sided derivatives 0 and 1), so it is "
    "outside every descent claim and nothing needs its loss certified"
)


def _distance(name: str, formula: str) -> OpInfo:
    return OpInfo(
        name,
        "parametric",
        "distance",
        formula,
        keys=(UNITS, RADIUS),
        width="units",
        params=("centroids", "radii"),
        variants=(
            Variant(name, {"radius": "per_connection"}),
            Variant(f"{name}_per_unit", {"radius": "per_unit"}),
        ),
    )


def _activation(name: str, formula: str, **kw: Any) -> OpInfo:
    return OpInfo(name, "elementwise", "activation", formula, **kw)


BUILTIN: tuple[OpInfo, ...] = (
    OpInfo(
        "dense",
        "parametric",
        "dense",
        "y = x @ W + b",
        keys=(UNITS,),
        width="units",
        params=("W", "b"),
    ),
    _distance("gaussian", "y_j = exp(-1/2 sum_i r_ji^2 (x_i - c_ji)^2)"),
    _distance("gaussian_logits", "z_j = -1/2 sum_i r_ji^2 (x_i - c_ji)^2"),
    _activation("sigmoid", "1 / (1 + exp(-x))"),
    _activation("tanh", "tanh(x)"),
    _activation("softplus", "log(1 + exp(x))"),
    _activation("relu", "max(x, 0)", smooth=False, excluded={"interval": RELU_NOT_SMOOTH}),
    _activation("identity", "x"),
    OpInfo(
        "add", "merge", "merge", "y = x_1 + ... + x_m", arity=(2, None), width="equal", min_dim=2
    ),
    OpInfo("concat", "merge", "merge", "y = [x_1, ..., x_m]", arity=(1, None), width="sum"),
    OpInfo("mse", "loss", "loss", "E = 1/(2n) sum_i ||yhat_i - y_i||^2", width=None),
    OpInfo(
        "softmax_cross_entropy",
        "loss",
        "loss",
        "E = -1/n sum_i sum_k y_ik log softmax(yhat_i)_k",
        width=None,
        min_dim=2,
        min_width=2,
    ),
)

_loaded: tuple[OpInfo, ...] | None = None


def ops() -> tuple[OpInfo, ...]:
    """Every op and loss: the built-in ones, then the plugins' (loaded on the first call)."""
    global _loaded
    if _loaded is None:
        from .op_plugins import load_plugins

        _loaded = (*BUILTIN, *load_plugins({o.name for o in BUILTIN}))
    return _loaded


def check_plugin_rules() -> None:
    """Call every plugin op's and loss's SymPy rules once (imports SymPy when there are
    plugins): one that raises or gives no expression is a one-line ``PluginError`` now, not
    at its first use inside a long run."""
    for info in ops():
        if info.plugin is not None:
            info.plugin.check_rules()


def reset() -> None:
    """Forget the loaded plugins; the next read loads the entry points again."""
    global _loaded
    _loaded = None


def get(name: str) -> OpInfo | None:
    """The op or loss called ``name``, or None."""
    return next((o for o in ops() if o.name == name), None)


def names(*kinds: str) -> tuple[str, ...]:
    """Names of the registered ops of the given kinds (every kind when none is given)."""
    return tuple(o.name for o in ops() if not kinds or o.kind in kinds)


def layer_names() -> tuple[str, ...]:
    """Every op a spec node may use (all but the losses)."""
    return names("parametric", "elementwise", "merge")


def loss_names() -> tuple[str, ...]:
    return names("loss")


def derive_names(*kinds: str) -> tuple[str, ...]:
    """Every one-unit derivation name (``descentcheck derive OP``), in registry order."""
    return tuple(v.name for o in ops() if not kinds or o.kind in kinds for v in o.variants)


def variant(name: str) -> tuple[OpInfo, Mapping[str, Any]] | None:
    """The op a derivation name belongs to and the node settings it stands for, or None."""
    for o in ops():
        for v in o.variants:
            if v.name == name:
                return o, v.settings
    return None


def smooth_names(*kinds: str) -> tuple[str, ...]:
    """Names of the smooth ops of the given kinds."""
    return tuple(o.name for o in ops() if o.smooth and (not kinds or o.kind in kinds))


__all__ = [
    "BUILTIN",
    "KINDS",
    "RULES",
    "OpInfo",
    "SpecKey",
    "Variant",
    "derive_names",
    "get",
    "layer_names",
    "loss_names",
    "names",
    "ops",
    "reset",
    "smooth_names",
    "variant",
]
