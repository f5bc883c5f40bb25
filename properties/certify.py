"""Certified verdicts: ball arithmetic proves a step's inequality on the real network, or declines.

A float64 loss that went down by a few ulps may only have been rounded down. Here the loss is
re-evaluated at the *exact* float64 iterates (every float64 is an exact ball of radius 0) in
Arb ball arithmetic (python-flint's ``arb``; Johansson 2017, "Arb: efficient arbitrary-precision
midpoint-radius interval arithmetic", IEEE Trans. Computers 66(8)), at ``prec`` bits (default
128), straight from the spec's formulas (DESIGN.md), independently of the trainer's numpy code.
Every operation rounds its ball outward, so the result encloses the real-number loss:
``E(w) in [lo, hi]``. For a step k and a margin ``c >= 0`` (0 for "the loss fell"; the guaranteed
decrease ``c_k |g_k|^2`` for the descent-lemma claims) the step is **certified** iff::

    lo(E(w_k)) - hi(E(w_{k+1})) > c        (a decrease by more than c)

and an increase is certified iff ``lo(E(w_{k+1})) > hi(E(w_k))``. A step whose true change is
below the balls' radii (about 2^-128 |E| times the network's depth) is *uncertified*, with that
reason, never counted as a pass. At 128 bits a float64 step that changed E by more than a few
ulps is always decided. (mpmath's ``iv`` did the same ten times slower: 4.3 ms against 0.44 ms
per loss on the generated cases, measured; at ~13 losses per case it could not certify every
step of a ci run.)

Each function is written in a form where its argument appears once, so the enclosure is tight:
``tanh(x) = 1 - 2 / (exp(2x) + 1)``, ``sigmoid(x) = 1 / (1 + exp(-x))``,
``softplus(x) = log(1 + exp(x))``; Arb's exponent range is unbounded, so nothing overflows.
``relu`` is not certified (:func:`uncertifiable`): it is not smooth, so no claim here covers it
(the op registry states that exclusion; a plugin's activation brings its own interval rule).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from flint import arb, ctx

from descentcheck.impl import mp_network as mpn
from descentcheck.impl.network import Network
from descentcheck.registry import ops as registry

Array = np.ndarray
PREC = 128
# Larger networks are reported uncertified (their reason says so), not evaluated. Above the
# thorough profile's largest drawn net (896 parameters; 400 left 2% of the whole-run claims' runs
# to the float check there); Arb certifies a run of a 1000-parameter net on 16 rows in 0.06 s.
MAX_PARAMS = 1000
PROVED_FALSE = "the inequality is false on the real network (proved)"
NOT_REAL = "a parameter is inf or NaN (the run diverged): no real network to enclose there"


def _real(params: Mapping[str, Array]) -> bool:
    """Every parameter finite: only then is E(params) a real number Arb can enclose (an inf
    weight gave a "certified increase" to an infinite loss: held-out soundness review)."""
    return all(bool(np.isfinite(v).all()) for v in params.values())


def _not_real() -> Certificate:
    return Certificate(False, (np.nan, np.nan), (np.nan, np.nan), NOT_REAL)


@contextmanager
def _precision(prec: int) -> Iterator[None]:
    """Run with ``ctx.prec = prec`` (python-flint's context is global; restore it after)."""
    old = ctx.prec
    ctx.prec = prec
    try:
        yield
    finally:
        ctx.prec = old


_ball = np.frompyfunc(lambda v: arb(float(v)), 1, 1)


def _balls(a: Array) -> Array:
    """A float array as an object array of exact balls (radius 0)."""
    return np.asarray(_ball(np.asarray(a, dtype=np.float64).astype(object)), dtype=object)


def no_interval_rule(op: str, dim: int | None = None) -> str | None:
    """Why ``op`` has no interval rule (the op registry's stated reason, what in a plugin's rule
    has no Arb form at output width ``dim``, or that none was written), or None when it has one:
    an activation's in ``mp_network.arb_functions()``, every other op's and loss's the generic
    rules of ``mp_network`` evaluated on balls."""
    info = registry.get(op)
    if info is None:
        return f"op {op!r} is not registered"
    if "interval" in info.excluded:
        return info.excluded["interval"]
    if info.plugin is not None and (why := info.plugin.no_interval(dim)) is not None:
        return why
    if info.kind == "elementwise" or info.plugin is not None:
        found = op in mpn.arb_functions()
    else:
        found = op in (mpn.LOSS_RULES if info.kind == "loss" else mpn.NODE_RULES)
    return None if found else f"op {op!r} has no interval rule"


def uncertifiable(net: Network) -> str | None:
    """Why this network's loss is not certified here, or None: an op without an interval rule
    (``relu``: not smooth, outside every descent claim; the registry states each reason) or more
    than ``MAX_PARAMS`` parameters. A reason names a kind of net, not the net (no node name, no
    parameter count): a ledger counts each reason over its cases, and one key per count split
    one reason into dozens (a thorough run's measured table had 24 for "N parameters > 400")."""
    for name in net.spec.order:
        op = net.spec.nodes[name]["op"]
        why = no_interval_rule(op)
        if why is not None:
            return f"op {op!r} has no interval rule: {why}"
    why = no_interval_rule(net.spec.loss, net.spec.out_width)
    if why is not None:
        return f"loss {net.spec.loss!r} has no interval rule: {why}"
    if net.n_params > MAX_PARAMS:
        return f"more than {MAX_PARAMS} parameters"
    return None


# CPU seconds spent enclosing losses in this process (the runner reports each claim's share)
SPENT: dict[str, float] = {"seconds": 0.0}


def interval_loss(
    net: Network, params: Mapping[str, Array], x: Array, y: Array, prec: int = PREC
) -> arb:
    """A ball enclosing the exact loss E(params) on (x, y), ``y`` as ``check_targets`` returns
    it: ``mse`` ``1/(2n) sum |yhat - y|^2``; cross-entropy ``-1/n sum_ik y_ik (z_ik - log sum_m
    exp z_im)`` (DESIGN.md's losses). The evaluator is the independent one
    (``impl.mp_network.loss``, the one the forward-pass claim checks the float loss against) on
    Arb balls."""
    reason = uncertifiable(net)
    if reason is not None and "interval rule" in reason:
        raise ValueError(f"cannot enclose this loss: {reason}")
    t0 = time.process_time()
    with _precision(prec):
        p = {k: _balls(v) for k, v in params.items()}
        E = mpn.loss(net.spec.raw, p, _balls(x), _balls(y), mpn.arb_functions())
    SPENT["seconds"] += time.process_time() - t0
    if not isinstance(E, arb):  # never arb(E): a value without a radius is no enclosure
        raise ValueError(f"cannot enclose this loss: the rules gave a {type(E).__name__}")
    return E


@dataclass(frozen=True)
class Certificate:
    """The verdict on one step: both enclosures, whether they are ordered, and if not, why."""

    certified: bool
    before: tuple[float, float]
    after: tuple[float, float]
    reason: str = ""

    @property
    def margin(self) -> float:
        """``lo(before) - hi(after)`` (rounded to float for display): the certified decrease."""
        return self.before[0] - self.after[1]


def _bounds(v: arb) -> tuple[float, float]:
    # widen to floats outward so the displayed bounds still enclose the value
    lo, hi = float(v.lower()), float(v.upper())
    return float(np.nextafter(lo, -np.inf)), float(np.nextafter(hi, np.inf))


def decide(before: arb, after: arb, by: float = 0.0, prec: int = PREC) -> Certificate:
    """Certified iff ``before - after > by`` for every point of the two balls."""
    with _precision(prec):
        ok = bool((before - after) > arb(float(by)))
    reason = "" if ok else _why_not(before, after, by, prec)
    return Certificate(ok, _bounds(before), _bounds(after), reason)


def _why_not(before: arb, after: arb, by: float, prec: int) -> str:
    with _precision(prec):
        if bool((before - after) <= arb(float(by))):
            return PROVED_FALSE
        if not (before.is_finite() and after.is_finite()):
            return "a loss is not finite"
    return "the change is within the enclosures' width"


def certify_decrease(
    net: Network,
    w_before: Mapping[str, Array],
    w_after: Mapping[str, Array],
    x: Array,
    y: Array,
    prec: int = PREC,
    by: float = 0.0,
) -> Certificate:
    """Prove ``E(w_before) - E(w_after) > by`` (default: E fell) in ball arithmetic; never
    at a point with a non-finite parameter."""
    if not (_real(w_before) and _real(w_after)):
        return _not_real()
    before = interval_loss(net, w_before, x, y, prec)
    after = interval_loss(net, w_after, x, y, prec)
    return decide(before, after, by, prec)


def certify_increase(
    net: Network,
    w_before: Mapping[str, Array],
    w_after: Mapping[str, Array],
    x: Array,
    y: Array,
    prec: int = PREC,
) -> Certificate:
    """Prove ``E(w_after) > E(w_before)``: a counterexample's increase is no rounding artefact."""
    c = certify_decrease(net, w_after, w_before, x, y, prec)
    return Certificate(c.certified, c.after, c.before, c.reason)


class Enclosures:
    """The loss enclosures along one trajectory, each evaluated once (step k uses k and k+1)."""

    def __init__(
        self, net: Network, history: Sequence[Mapping[str, Array]], x: Array, y: Array
    ) -> None:
        self.net, self.history, self.x, self.y = net, history, x, y
        self.skip = uncertifiable(net)
        self._cache: dict[int, arb] = {}
        self._reals: dict[int, bool] = {}

    def _both_real(self, k: int) -> bool:
        for i in (k, k + 1):
            if i not in self._reals:
                self._reals[i] = _real(self.history[i])
        return self._reals[k] and self._reals[k + 1]

    def __getitem__(self, k: int) -> arb:
        if k not in self._cache:
            self._cache[k] = interval_loss(self.net, self.history[k], self.x, self.y)
        return self._cache[k]

    def same_point(self, k: int) -> bool:
        a, b = self.history[k], self.history[k + 1]
        return all(np.array_equal(a[n], b[n]) for n in a)

    def decrease(self, k: int, by: float = 0.0) -> Certificate:
        """Step k certified to decrease E by more than ``by``, or the reason it is not."""
        if self.skip is not None:
            return Certificate(False, (np.nan, np.nan), (np.nan, np.nan), self.skip)
        if not self._both_real(k):
            return _not_real()
        return decide(self[k], self[k + 1], by)

    def increase(self, k: int) -> Certificate:
        """Step k certified to increase E."""
        if self.skip is not None:
            return Certificate(False, (np.nan, np.nan), (np.nan, np.nan), self.skip)
        if not self._both_real(k):
            return _not_real()
        c = decide(self[k + 1], self[k])
        return Certificate(c.certified, c.after, c.before, c.reason)
