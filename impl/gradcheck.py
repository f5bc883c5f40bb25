"""Gradient checking against an oracle far more accurate than the claim being checked.

A claimed gradient ``a = grad(x0)`` of a scalar function ``f`` is compared entry by entry with an
oracle ``n ~ df/dx(x0)`` whose own error is far below the tolerance (``rtol = 1e-8``), so a failure
means the claim is wrong, not the check. Three oracles:

``complex_step`` (Squire & Trapp 1998, SIAM Rev. 40(1):110-112)::

    df/dx_i = Im f(x0 + i h e_i) / h,      h = 1e-30

No subtraction, hence no cancellation: exact to rounding (relative error ~1e-16) whenever ``f``
is complex-analytic in ``x_i`` as coded. Two more passes, at ``h/3`` from points one ulp away
in every entry either way (and where that moved a value, two more 2^10 and 2^11 ulps away, to
tell the drift ``f''`` times an ulp from a kink), measure what error there is: the
``h^2 f'''/6`` truncation (visible only where ``f'`` nearly vanishes) and the rounding noise of
the float64 program where a gradient entry is a cancelling sum (an entry 0 by symmetry comes out
as +-1e-17). Three evaluations per entry, five where the drift is told. Its imaginary parts
``h f'`` underflow for gradients below ~1e-280, so its error estimate is at least ``tiny / h``
(2.2e-278, ``tiny`` the least normal float64): an entry smaller than that is judged to that
resolution, not failed against an oracle that underflowed to 0.

``richardson``: central differences ``D(h) = (f(x+h e_i) - f(x-h e_i)) / (2h)``, whose error is a
series in ``h^2``, at absolute steps ``h_k = h0 / c^k`` (k = 0..11, h0 = 0.1, c = 1.6; steps
relative to ``|x_i|`` could not resolve a function varying on a scale of 1 far from the origin:
at ``|x| = 3e4`` the finest was 17, and the table agreed with itself on a wrong value -- a
held-out review saw correct gradients of ``sin`` and of a distance layer's centroids on data
offset by 1e4 failed; where a function varies on the scale of a huge ``|x|`` instead, absolute
steps lose accuracy to rounding, which the error estimate below reports),
extrapolated in a Neville table ``T[k][j] = T[k][j-1] + (T[k][j-1] - T[k-1][j-1]) / (c^(2j) - 1)``
(Ridders' method, Numerical Recipes 5.7). Each entry's error estimate is Ridders'
``max(|T[k][j] - T[k][j-1]|, |T[k][j] - T[k-1][j-1]|)`` (the difference between the last two
extrapolation levels) plus the rounding noise of ``D(h_k)`` times what extrapolation can amplify
it by; the rounding noise of ``f`` is measured (``f`` at four points one ulp from ``x0``), since
``eps |f|`` misses it when ``f`` is a sum of terms that cancel. The entry with the smallest
estimate is returned, its estimate raised to its distance from the runner-up (the least of ~66
noisy estimates is optimistic). The ratio is not 2 on purpose: near ``x = 0`` halving the step
scales the whole computation by powers of two, so every level rounds alike, successive levels
agree to the bit, and the estimate claims an accuracy the rounding denies. The two points are
mirrored exactly about ``x`` (:func:`_symmetric`: where ``x + h`` passes a power of two it rounds
to the coarser grid, and ``x - h`` takes the same step), and the divisor is the step actually
taken, ``(x+h) - (x-h)`` in floating point, not ``2h``. Measured on smooth O(1)
functions the error is ~1e-13 of max|g|, the estimate ~1e-12 and never below the true error; 24
evaluations per entry, plus 5.

``mpmath``: the central difference above at 50 significant digits with ``h = 1e-20``, on an object
array of ``mpmath.mpf``: truncation ~h^2 = 1e-40, rounding ~1e-50 / h = 1e-30, both estimated
(a second step ``2h``). Only for functions that run on ``mpf`` objects (arithmetic, ``abs``,
``**``; numpy's ``sin``/``exp`` do not). Four evaluations per entry.

``auto`` takes complex step if usable, else mpmath if usable (a network's: theory's evaluation
of its spec, :func:`check_network_gradient`), else Richardson. Complex step is
cross-validated against Richardson first (on the entry of largest magnitude and on one fixed
random direction); code that silently breaks it -- ``np.abs``, ``.real``, comparisons -- then
disagrees by far more than Richardson's error estimate, and auto falls back.

Kinks. At a relu input of exactly 0 (rows of zeros, biases at 0) the forward takes one branch,
backprop's ``relu'(0) = 0`` follows it and so does complex step, while two-sided differences
average the two slopes. An entry is found at a kink by one-sided Richardson (``(f(x + h e_i) -
f(x)) / h`` from each side, extrapolated in ``h``): its two sides differ. There complex step's
value stands, its error estimate taken without the jitter (which may cross the kink and measure
the jump), and the cross-check's probes leave the entry out. ``auto`` keeps complex step only
if at each kink it does not change with the sign of the step and, just off the kink on either
side, equals that side's one-sided derivative; otherwise it falls back, and the fallback, whose
differences cannot tell the branch, has no oracle at the kinks, complex step's and those its
own one-sided differences find, named once in the note (an infinite error estimate: the entry
is undecided, ``no oracle``). A named ``complex_step`` is not cross-checked. A named
``richardson`` or ``mpmath`` finds the kinks itself (Richardson: its one-sided estimates, from
the same evaluations, differ beyond their error estimates; mpmath: the gap between the one-sided
slopes is the same at h and 2h, a jump, where a smooth f gives f'' h, doubling) and has no
oracle there either, said in its note. :func:`_at_kinks` says what this cannot catch.

Comparison, per entry, with ``floor = atol_rel * max_j |n_j| + 1e-300`` (``max_j |n_j|`` over the
whole network's gradient in :func:`check_network_gradient`; ``atol_rel = 1e-6`` by default, so an
entry whose true value vanishes may carry ``rtol * atol_rel = 1e-14`` of the largest entry, ~45 eps:
backprop's rounding on such an entry is a few eps of the largest intermediate term, and those sit
at the scale of the largest gradient entry; a Gaussian-distance net with saturated softmax was
measured at 8 eps, over the former 1e-15)::

    rel_i = |a_i - n_i| / max(|a_i|, |n_i|, floor)
    pass_i  iff  |a_i - n_i| <= rtol * max(|a_i|, |n_i|, floor) + 10 * oracle_err_i

``oracle_err`` is the oracle's own error estimate: Richardson's is ~1e-12 of the gradient,
complex step's ~1e-15, mpmath's ~1e-24; these two matter only where the true gradient vanishes
(a claim of 0 against an oracle's 1e-60 must pass). A NaN or inf in the claimed gradient fails;
one in the oracle's leaves a finite claim *undecided* (``oracle failed at index I``: Richardson's
steps vanish beside ``|x| = 1e16``, whose ulp is 2, and its 0/0 blamed a right ``cos``). An
entry that passes only through ``10 * oracle_err`` (off by more than ``rtol * max(...)``) is
*undecided* where that error is Richardson's and beyond 1e-9 of the gradient's largest entry
(:func:`_resolvable`): the oracle's error, not the check, would pass it, so the check says
neither OK nor FAIL (``GradCheckResult.undecided``; a held-out audit's named Richardson passed
a gradient 20% off near a kink, and one 1e-6 off with targets scaled by 1e6, on its own error
estimate).
"""

from __future__ import annotations

import functools
import numbers
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DescentcheckError, GradcheckError
from .threads import one_blas_thread

if TYPE_CHECKING:
    from .network import Network

Array = np.ndarray
ScalarFun = Callable[[Array], Any]

METHODS = ("auto", "complex_step", "richardson", "mpmath")
COMPLEX_STEP_H = 1e-30
# the second, error-measuring step is h * this; a power of two would round exactly alike
COMPLEX_STEP_RATIO = 1.0 / 3.0
RICHARDSON_H0 = 0.1
RICHARDSON_LEVELS = 12
RICHARDSON_RATIO = 1.6  # not 2: see the module docstring
MPMATH_H = 1e-20
MPMATH_DPS = 50
# auto rejects complex step when it and Richardson disagree by this many error estimates
CROSSCHECK_FACTOR = 1e3
# an entry whose complex step a one-ulp jitter moves (beyond its drift) this many times more
# than a changed step alone does has a kink within an ulp of x0
KINK_FACTOR = 1e3
# ... examined only where the jitter moved it by more than this many eps of the largest entry
# (rounding noise of the largest entries reaches a few eps; a jump below this is within a few
# times the least tolerance, rtol * atol_rel = 45 eps of the largest entry)
JUMPY = 16.0
# ... and at a kink whatever the one-sided differences say if it moved by this much of it. Not
# less: rounding cells of a cancelling sum far from the origin move a value in steps that a
# changed step alone does not show (the naive variance mean(x^2) - mean(x)^2 at 1e6 stepped by
# 1e-8 of the largest entry: taken for a kink, its error estimate 0 failed a correct gradient;
# held-out skeptic, stop 34). So a smaller jump that one-sided differences do not see stays the
# entry's error estimate, and a claim wrong by less than 10 such jumps passes there (known):
# at most 1e-5 of the largest entry, whose 1e-6 is the tolerance's floor (atol_rel)
SIGNIFICANT = 1e-6
# complex step is compared with each side's one-sided derivative this far off a kink (relative
# to max(1, |x_i|)): past the kink; the f'' delta it moves by there is extrapolated out
KINK_DELTA = 2.0**-40
# the drift is measured from K and 2K ulps away (second order, one-sided): a kink's jump enters
# it divided by about K, so what the first difference holds beyond the drift is the jump to
# ~1/K, rounding noise is averaged, and the fourth derivative's (K ulp)^2 / 3 is still far
# below the drift
DRIFT_SCALE = 2.0**10
_EPS = float(np.finfo(np.float64).eps)
_TINY = 1e-300


def _signs(n: int) -> Array:
    """A fixed pattern of n signs: reproducible, and generic enough for a probe direction."""
    return np.random.default_rng(20_210_147).choice([-1.0, 1.0], size=n)


class _Unusable(Exception):
    """An oracle cannot evaluate this function; the message says why."""


@dataclass(frozen=True)
class _Oracle:
    values: Array  # flat, the oracle's df/dx
    errors: Array  # flat, its own error estimate (absolute)
    method: str
    note: str = ""
    # complex step (_at_kinks): the entries at a kink, those of them whose value equals neither
    # one-sided derivative, the jitter's error estimates before kinks were taken out and what
    # it moved each value by beyond its drift, and Richardson's evaluations along every entry
    # when it made them all
    kinks: Array | None = None
    unconfirmed: Array | None = None
    spread: Array | None = None
    jumps: Array | None = None
    steps: _Steps | None = None


@dataclass(frozen=True)
class GradCheckResult:
    """The outcome of one gradient check; truthy iff every entry passed.

    ``worst_index`` indexes ``x0``'s shape: the entry that fails by most (relative to what it is
    allowed) when the check fails, else the one of largest ``rel`` error. ``oracle_error`` is the
    oracle's own error estimate per entry (absolute; see the module docstring); ``note`` says why
    auto mode passed over an oracle, or is empty.
    """

    ok: bool
    max_rel_error: float
    worst_index: tuple[int, ...]
    method: str
    analytic: Array
    numeric: Array
    message: str
    oracle_error: Array
    note: str = ""
    undecided: str = ""
    """Why no entry failed and yet the check is not passed (``ok`` False; the CLI says
    UNDECIDED and exits with status 3): ``"oracle failed at index I"`` (the oracle's value is
    NaN or inf where the claim is finite, ``" and N more"`` where it failed at more entries),
    ``"no oracle at a kink"`` (differences cannot resolve one), or ``"oracle error"`` (within
    ``10 * oracle_err`` of the oracle, not within ``rtol``, where that error is Richardson's
    and large: :func:`_resolvable`). Empty when decided."""

    def __bool__(self) -> bool:
        return self.ok


# ---- evaluating f -------------------------------------------------------------------------------


def _scalar(value: Any) -> Any:
    """The single element of what ``fun`` returned (a number, a 0-d or 1-element array)."""
    if isinstance(value, np.ndarray) or np.ndim(value) > 0:
        arr = np.asarray(value)
        if arr.size != 1:
            raise GradcheckError(f"fun must return a scalar, got an array of shape {arr.shape}")
        return arr.reshape(()).item() if arr.dtype == object else arr.reshape(())[()]
    return value


def _real(value: Any) -> float:
    v = _scalar(value)
    return float(np.real(v)) if np.iscomplexobj(v) else float(v)


# ---- oracles ------------------------------------------------------------------------------------


def _jittered(x: Array) -> tuple[Array, Array, Array]:
    """``x`` one ulp away in every entry (displacement ``u``), and ``x + K u``, ``x + 2K u``
    (``K = DRIFT_SCALE``), all exact. The direction is a fixed sign pattern, except where
    ``2K`` ulps up in magnitude would pass a power of two (or the largest float): there it is
    toward 0, whose grids are as fine or finer. (A power of two passed rounds to the coarser
    grid above: a central difference over ``x +- K u`` told the drift wrong by 1/2K of itself
    there, near a minimum above 1e-6 of the largest entry, and a smooth entry was taken for a
    kink; held-out skeptic, stop 34.)"""
    up = _signs(x.size) > 0
    mantissa, exponent = np.frexp(np.abs(x))
    with np.errstate(over="ignore"):
        room = np.ldexp(1.0, exponent) - np.abs(x)  # to the next power of two above |x|
        crowded = ~np.isfinite(room) | (room <= 2.0 * DRIFT_SCALE * np.spacing(np.abs(x)))
    crowded &= mantissa != 0.5  # |x| a power of two: the grid above it is its own
    up = np.where(crowded & (x != 0.0), x < 0.0, up)
    one = np.where(up, np.nextafter(x, np.inf), np.nextafter(x, -np.inf))
    u = one - x
    return one, x + DRIFT_SCALE * u, x + 2.0 * DRIFT_SCALE * u


def _imaginary_parts(
    fun: ScalarFun,
    base: Array,
    step: float,
    shape: tuple[int, ...],
    entries: Array | None = None,
    shifts: Array | None = None,
) -> Array:
    """``Im f(base + i step e_i) / step`` for each i of ``entries`` (default all), entry i of
    ``base`` moved by ``shifts[r]`` first if given; :class:`_Unusable` if ``f`` cannot take a
    complex argument, or gives real values throughout (its imaginary part was dropped)."""
    flat = base.astype(np.complex128)
    entries = np.arange(flat.size) if entries is None else entries
    out = np.empty(len(entries))
    all_complex = True
    try:
        with warnings.catch_warnings():
            # a cast to float inside f drops the imaginary part: that must not pass silently
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            for r, i in enumerate(entries):
                xi = flat.copy()
                if shifts is not None:
                    xi[i] = base[i] + shifts[r]
                xi[i] += 1j * step
                v = _scalar(fun(xi.reshape(shape)))
                all_complex &= bool(np.iscomplexobj(v))
                out[r] = float(np.imag(v)) / step
    except Exception as exc:
        raise _Unusable(f"complex step: {type(exc).__name__}: {exc}") from exc
    if not all_complex and not np.any(out != 0.0):
        raise _Unusable("complex step: fun returned real values (the imaginary part was dropped)")
    return out


def _complex_step(fun: ScalarFun, x0: Array, h: float) -> _Oracle:
    """``Im f(x0 + i h e_i) / h`` for every i; :class:`_Unusable` if ``f`` cannot take it.

    Error estimate ``|D(x0 +- u, h/3) - D(x0, h)|``, the larger, with ``u`` one ulp of every entry,
    up or down by a fixed sign pattern (both ways: a kink at ``x0`` that ``u`` leaves on its side,
    ``-u`` crosses; one way only, a kink beside a near one went unseen in a relu net on rows of
    zeros, and auto failed the correct gradient; Hypothesis, stop 34). It measures the truncation
    ``h^2 f'''(x0) / 6`` (below rounding unless ``f'(x0)`` vanishes, where the oracle returns
    ~1e-60, not 0) and the rounding noise of the float64 program: where a gradient entry is a
    cancelling sum, e.g. 0 by symmetry, both the claim and the oracle come out as noise of order eps
    times the terms, which may exceed ``rtol * atol_rel * max|g|``. The jitter re-draws that noise;
    the non-power-of-two ratio makes the imaginary parts round differently. The jitter also moves
    the value by ``f'' u`` (``u`` the displacement, an ulp of each entry): the size of what rounding
    ``x`` and intermediates of its magnitude does to a float64 program's derivative (its backward
    error), so it stays in the estimate. At a large ``|x|`` it is far above eps of the gradient (``2
    ulp(1e4) = 4e-12`` against ``2e-5`` for ``(x - c)^2`` near ``c = 1e4``) and it is the only cover
    of a cancelling sum there: the naive variance ``mean(x^2) - mean(x)^2`` at 1e6 rounds its mean
    to cells wider than two ulps of ``x``, so its rounding error moves linearly with the jitter too,
    and backprop's differs from complex step's by ~3e-8 of the gradient (held-out skeptic, stop 34).
    Where the jitter crosses a kink (a relu input at exactly 0) it measures the jump instead, which
    would let a wrong claim within the jump pass: :func:`_at_kinks` takes the jump out. Kinks are
    told from the drift, linear in ``u``, by what the first differences hold beyond it, ``|D(x0 +-
    u) - D(x0) -+ (4 D(x0 + K u) - D(x0 + 2K u) - 3 D(x0)) / 2K|`` (the larger) with ``K =
    DRIFT_SCALE`` (two more evaluations, at ``h/3``, where the first difference exceeds ``JUMPY``
    eps of the largest entry): the first difference alone took every curved entry far from the
    origin for a kink (``auto`` failed correct gradients as ``no oracle``, and each such entry cost
    one-sided Richardson). Over ``K u`` a kink's jump is divided by about ``K``. A second difference
    over ``u`` and ``2u`` instead missed two kinks crossed at one ulp and at two with equal slopes
    (held-out skeptic, stop 34), and a first-order difference over ``K u`` kept ``K u^2 / 2`` times
    the third derivative of ``f``: 500 eps of ``sin``'s gradient at 1e8. Rounding cells are no
    drift: the variance's mean, moving to the next one, steps; ``SIGNIFICANT`` says how that is told
    from a kink."""
    x = x0.ravel()
    one, ahead, farther = _jittered(x)
    step = h * COMPLEX_STEP_RATIO
    values = _imaginary_parts(fun, x, h, x0.shape)
    moved = _imaginary_parts(fun, one, step, x0.shape) - values
    back = _imaginary_parts(fun, x - (one - x), step, x0.shape) - values
    spread = np.maximum(np.abs(moved), np.abs(back))
    jumps = spread.copy()
    drifting = np.flatnonzero(spread > JUMPY * _EPS * _max_abs(values))
    if drifting.size:
        at = values[drifting]
        by_k = _imaginary_parts(fun, ahead, step, x0.shape, drifting) - at
        by_2k = _imaginary_parts(fun, farther, step, x0.shape, drifting) - at
        drift = (4.0 * by_k - by_2k) / (2.0 * DRIFT_SCALE)  # second order, one-sided
        jumps[drifting] = np.maximum(
            np.abs(moved[drifting] - drift), np.abs(back[drifting] + drift)
        )
    return _at_kinks(fun, x0, h, values, spread, jumps)


def _at_kinks(
    fun: ScalarFun,
    x0: Array,
    h: float,
    values: Array,
    spread: Array,
    jumps: Array,
    everywhere: bool = False,
) -> _Oracle:
    """Complex step's oracle from its values, the jitter's error estimates ``spread`` and what
    the jitter moved each value by beyond its drift, ``jumps`` (:func:`_complex_step`), with the
    jumps over kinks taken out of the estimates where complex step is confirmed there.

    An entry is at a kink when its one-sided Richardson derivatives differ beyond their error
    estimates, or when the jitter moved its value ``KINK_FACTOR`` times more than a changed step
    alone does (``D(x0, h/3)``, no jitter) and by more than ``SIGNIFICANT`` of the largest entry
    (other kinks nearby can blur the one-sided differences). The entries examined are those the
    jitter moved so, or all of them if ``everywhere``.

    At a kink complex step follows the branch that the forward's comparisons take at ``x0``
    where they compare real parts (relu's ``Re x > 0``), as backprop does. It is confirmed there
    when (1) it does not change with the sign of the step (``D(x0, -h)``: numpy orders complex
    numbers by real, then imaginary part, so ``x > 0``, ``maximum`` or ``clip`` on ``0 + ih``
    take the side the step points to; such an entry has no oracle, an infinite error), and (2)
    complex step just off the kink on either side, at ``x0 +- delta e_i``, equals that side's
    one-sided Richardson derivative: the code is complex-analytic on both sides' branches, so
    ``abs`` or ``Re x`` dropping a term there is seen (``unconfirmed`` where not: ``auto`` then
    does not rely on complex step). At a kink whose first difference is ``KINK_FACTOR`` times
    ``|D(x0, h) - D(x0, h/3)|`` or more (a jitter crossed it), the error estimate becomes the
    latter, never larger than the jump, so a named ``complex_step`` only gets stricter. Not
    caught: code that breaks complex step at a kink that neither the jitter nor auto's probes
    come near (an ``abs`` kink closer to ``x0`` than Richardson's finest step:
    complex step drops its slope, two-sided differences average its slopes to the same 0)."""
    n, x = values.size, x0.ravel()
    kinks, unconfirmed, errors = np.zeros(n, bool), np.zeros(n, bool), spread.copy()
    jumpy = np.flatnonzero(jumps > JUMPY * _EPS * _max_abs(values))
    steady = np.full(n, np.inf)
    if jumpy.size:
        again = _imaginary_parts(fun, x, h * COMPLEX_STEP_RATIO, x0.shape, jumpy)
        steady[jumpy] = np.abs(values[jumpy] - again)
    crossed = jumps > KINK_FACTOR * steady
    suspects = np.arange(n) if everywhere else np.flatnonzero(crossed)
    steps, flipped = None, 0
    if suspects.size:
        steps = _steps(fun, x0, suspects, RICHARDSON_H0)
        (right, e_right), (left, e_left) = _extrapolated(steps, 1), _extrapolated(steps, -1)
        margin = CROSSCHECK_FACTOR * (e_right + e_left) + 1e-9 * (np.abs(right) + np.abs(left))
        split = np.abs(right - left) > margin  # NaN (no estimate): no kink
        split |= crossed[suspects] & (jumps[suspects] > SIGNIFICANT * _max_abs(values))
        at, right, left, margin = suspects[split], right[split], left[split], margin[split]
        kinks[at] = True
        if at.size:
            sides_ok = _sides_ok(fun, x0, h, at, right, left, margin)
            flips = np.abs(_imaginary_parts(fun, x, -h, x0.shape, at) - values[at]) > (
                KINK_FACTOR * np.where(np.isfinite(steady[at]), steady[at], 0.0)
                + JUMPY * _EPS * _max_abs(values)
            )
            unconfirmed[at] = ~sides_ok
            # a first difference may hold a jump that jumps did not show: checked at every kink
            bare = at[~np.isfinite(steady[at])]
            if bare.size:
                again = _imaginary_parts(fun, x, h * COMPLEX_STEP_RATIO, x0.shape, bare)
                steady[bare] = np.abs(values[bare] - again)
            over = at[spread[at] > KINK_FACTOR * steady[at]]
            errors[over] = steady[over]
            errors[at[flips]] = np.inf
            flipped = int(flips.sum())
    # below tiny the program's imaginary parts are subnormal or flushed: its resolution
    errors = np.maximum(errors, np.finfo(np.float64).tiny / h)
    note = "; ".join(
        text
        for text, count in (
            (f"{_entries(kinks)} at a kink (complex step takes the branch at x0)", 1),
            (f"{int(unconfirmed.sum())} of them not confirmed", unconfirmed.sum()),
            (f"{flipped} follow the sign of the step: no oracle there", flipped),
        )
        if count and kinks.any()
    )
    return _Oracle(values, errors, "complex_step", note, kinks, unconfirmed, spread, jumps, steps)


def _sides_ok(
    fun: ScalarFun, x0: Array, h: float, at: Array, right: Array, left: Array, margin: Array
) -> Array:
    """Whether complex step just off each kink of ``at``, ``KINK_DELTA`` (relative to
    ``max(1, |x_i|)``) to either side, equals that side's one-sided derivative."""
    delta = KINK_DELTA * np.maximum(1.0, np.abs(x0.ravel()[at]))
    return (np.abs(_off_kink(fun, x0, h, at, delta) - right) <= margin) & (
        np.abs(_off_kink(fun, x0, h, at, -delta) - left) <= margin
    )


def _off_kink(fun: ScalarFun, x0: Array, h: float, at: Array, delta: Array) -> Array:
    """Complex step just off a kink, extrapolated back to it along its side:
    ``2 D(x0 + delta e_i) - D(x0 + 2 delta e_i)``, where ``f''`` has moved ``D(x0 + delta e_i)``
    by ``f'' delta`` (1e-3 of a gradient of 2e-5 for a quadratic at 1e4) and the extrapolation
    leaves ``f''' delta^2``. With the steps really taken, ``d1`` and ``d2`` (``x0 + delta``
    rounds where it passes a power of two, and the line through ``2 D(d1) - D(d2)`` missed 0;
    held-out skeptic, stop 34), it is the line through both at 0."""
    x = x0.ravel()
    d1, d2 = (x[at] + delta) - x[at], (x[at] + 2.0 * delta) - x[at]
    near = _imaginary_parts(fun, x, h, x0.shape, at, d1)
    far = _imaginary_parts(fun, x, h, x0.shape, at, d2)
    return (d2 * near - d1 * far) / (d2 - d1)


def _mpmath(fun: ScalarFun, x0: Array, h: float) -> _Oracle:
    """Central differences ``D(h)`` at ``MPMATH_DPS`` digits on object arrays of ``mpmath.mpf``.

    Error estimate: truncation ``|D(h) - D(2h)| / 3`` (the h^2 term) plus rounding
    ``1e5 * 10^-dps * max|f| / h``; both ~1e-30 of the gradient or less, they matter only where
    ``f'(x0)`` vanishes."""
    try:
        import mpmath
    except ImportError as exc:  # pragma: no cover - mpmath is a dependency
        raise _Unusable("mpmath: not installed") from exc

    def f(xs: Array) -> Any:
        v = _scalar(fun(xs.reshape(x0.shape)))
        if not isinstance(v, mpmath.mpf):
            # anything else means f left high precision somewhere (e.g. np.asarray(x, float))
            raise TypeError(f"fun returned {type(v).__name__}, not mpmath.mpf")
        return v

    out = np.empty(x0.size)
    err = np.empty(x0.size)
    kinks = np.zeros(x0.size, dtype=bool)
    try:
        with mpmath.workdps(MPMATH_DPS):
            step = mpmath.mpf(h)
            base = np.array([mpmath.mpf(float(v)) for v in x0.ravel()], dtype=object)
            f0 = f(base.copy())
            rounding = mpmath.mpf(10) ** (5 - MPMATH_DPS) / step
            for i in range(base.size):
                d, gaps, fmax = [], [], abs(f0)
                for s in (step, 2 * step):
                    xp, xm = base.copy(), base.copy()
                    xp[i] += s
                    xm[i] -= s
                    fp, fm = f(xp), f(xm)
                    d.append((fp - fm) / (2 * s))
                    gaps.append(abs(fp - 2 * f0 + fm) / s)  # right minus left one-sided slope
                    fmax = max(fmax, abs(fp), abs(fm))
                out[i] = float(d[0])
                err[i] = float(abs(d[0] - d[1]) / 3 + rounding * fmax)
                # the gap is f'' s where f is smooth (doubling with the step), a kink's jump
                # where it is not (the same at both steps); above the digits' rounding
                kinks[i] = gaps[0] > 1e6 * rounding * fmax and gaps[1] < 1.5 * gaps[0]
    except Exception as exc:
        raise _Unusable(f"mpmath: {type(exc).__name__}: {exc}") from exc
    return _no_oracle_at_kinks(_Oracle(out, err, "mpmath"), kinks)


def _rounding_noise(fun: ScalarFun, x0: Array) -> float:
    """How much float64 rounding moves ``f`` near ``x0``: the largest change of ``f`` when every
    entry of ``x0`` moves by one ulp (four fixed sign patterns), at least ``eps |f(x0)|``.

    ``eps |f|`` alone underestimates it when ``f`` is a sum of terms that cancel."""
    x = x0.ravel()
    f0 = _real(fun(x0.copy()))
    worst = _EPS * abs(f0)
    for seed in range(4):
        up = np.random.default_rng(seed).random(x.size) < 0.5
        xj = np.where(up, np.nextafter(x, np.inf), np.nextafter(x, -np.inf))
        worst = max(worst, abs(_real(fun(xj.reshape(x0.shape))) - f0))
    return worst


@dataclass(frozen=True)
class _Steps:
    """Richardson's evaluations: ``f(x0 +- h_k v)`` for each level k (rows) and direction v
    (columns), and the steps really taken (for a coordinate direction ``(x0 + h v) - (x0 - h v)``
    in floating point, and each half of it; else ``2h`` and ``h``)."""

    f0: float
    fp: Array
    fm: Array
    width: Array
    up: Array
    down: Array
    noise_f: float  # f's rounding noise near x0 (_rounding_noise)


def _symmetric(x: Array, t: Array) -> tuple[Array, Array]:
    """``x + t`` and ``x - t`` (``t >= 0``, entry by entry) as floats equally far from ``x``: the
    one away from 0 rounds (to the coarser grid where it passes a power of two) and the other
    mirrors it, on a grid as fine or finer (exact), so a difference over them is centred on
    ``x``. Rounded apart, the centre moved by half an ulp there, ``f''`` times it outweighed a
    gradient near a minimum, and one-sided differences saw a kink (held-out skeptic, stop 34).
    Where the mirror passes 0 it may round: there both are rounded as they come."""
    d = np.abs(np.where(x >= 0, x + t, x - t) - x)
    hi, lo = x + d, x - d
    exact = (hi - x == d) & (x - lo == d)
    return np.where(exact, hi, x + t), np.where(exact, lo, x - t)


def _steps(
    fun: ScalarFun, x0: Array, directions: Array, h0: float, levels: int = RICHARDSON_LEVELS
) -> _Steps:
    """The evaluations along each row of ``directions``, or along each coordinate ``e_i`` for
    a 1-d integer array of entries ``i`` (no n x n identity for a large ``x0``)."""
    x = x0.ravel()
    shape = (levels, len(directions))
    fp, fm, width, up, down = (np.empty(shape) for _ in range(5))
    with np.errstate(all="ignore"):
        for k in range(levels):
            t = h0 / RICHARDSON_RATIO**k
            for r, v in enumerate(directions):
                if directions.ndim == 1:
                    i = int(v)
                    xp, xm = x + 0.0, x - 0.0  # as x +- t e_i (+ 0.0 turns -0.0 into 0.0)
                    xp[i], xm[i] = _symmetric(x[i], t)
                    width[k, r], up[k, r], down[k, r] = xp[i] - xm[i], xp[i] - x[i], x[i] - xm[i]
                else:
                    hi, lo = _symmetric(x, t * np.abs(v))
                    xp = np.where(v > 0, hi, np.where(v < 0, lo, x + 0.0))  # as x + t v
                    xm = np.where(v > 0, lo, np.where(v < 0, hi, x - 0.0))
                    nz = np.flatnonzero(v)
                    if len(nz) == 1:  # divide by the step really taken (exact in fp)
                        i = nz[0]
                        width[k, r] = (xp[i] - xm[i]) / v[i]
                        up[k, r], down[k, r] = (xp[i] - x[i]) / v[i], (x[i] - xm[i]) / v[i]
                    else:
                        width[k, r], up[k, r], down[k, r] = 2.0 * t, t, t
                fp[k, r] = _real(fun(xp.reshape(x0.shape)))
                fm[k, r] = _real(fun(xm.reshape(x0.shape)))
    return _Steps(_real(fun(x0.copy())), fp, fm, width, up, down, _rounding_noise(fun, x0))


def _richardson_along(
    fun: ScalarFun, x0: Array, directions: Array, h0: float, levels: int = RICHARDSON_LEVELS
) -> tuple[Array, Array]:
    """Derivatives of ``t -> f(x0 + t v)`` at 0 for each row ``v`` of ``directions``.

    Returns (estimates, absolute error estimates); see the module docstring for the table."""
    return _extrapolated(_steps(fun, x0, directions, h0, levels), side=0)


def _extrapolated(s: _Steps, side: int) -> tuple[Array, Array]:
    """Ridders' table over the levels of ``s``: central differences (``side = 0``, error a
    series in ``h^2``), or one-sided from the right (``+1``: ``(f(x0 + h v) - f(x0)) / h``) or
    the left (``-1``), whose error is a series in ``h``, extrapolated as such."""
    levels, m = s.fp.shape
    c2 = RICHARDSON_RATIO ** (1 if side else 2)
    hi = s.fp if side >= 0 else np.full_like(s.fm, s.f0)
    lo = s.fm if side <= 0 else np.full_like(s.fp, s.f0)
    width = s.width if side == 0 else s.up if side > 0 else s.down
    with np.errstate(all="ignore"):
        D = (hi - lo) / width
        noise = 2.0 * np.maximum(s.noise_f, _EPS * np.maximum(np.abs(hi), np.abs(lo))) / width
        values, errors = [], []
        prev = [D[0]]
        for k in range(1, levels):
            row = [D[k]]
            gain = 1.0  # how much extrapolation to order j can amplify the noise of D
            for j in range(1, k + 1):
                w = 1.0 / (c2**j - 1.0)
                gain *= 1.0 + 2.0 * w
                t_kj = row[j - 1] + (row[j - 1] - prev[j - 1]) * w
                err = np.maximum(np.abs(t_kj - row[j - 1]), np.abs(t_kj - prev[j - 1]))
                values.append(t_kj)
                errors.append(err + gain * noise[k] + _EPS * np.abs(t_kj))
                row.append(t_kj)
            prev = row
        T = np.array(values)
        E = np.where(np.isnan(np.array(errors)), np.inf, np.array(errors))
        order = np.argsort(E, axis=0)
        cols = np.arange(m)
        best, best_err = T[order[0], cols], E[order[0], cols]
        # the smallest of ~66 noisy estimates is optimistic: the runner-up's distance guards it
        best_err = np.maximum(best_err, np.abs(best - T[order[1], cols]))
        # coarse levels can agree spuriously (a feature narrower than the step, seen
        # symmetrically from both sides); the finest level is the one in the h -> 0 regime, and
        # where the two disagree beyond both error estimates it is the one to believe
        last = slice(len(T) - (levels - 1), len(T))
        f_at = np.argmin(E[last], axis=0)
        fine, fine_err = T[last][f_at, cols], E[last][f_at, cols]
        split = np.abs(best - fine) > best_err + fine_err
        best = np.where(split, fine, best)
        best_err = np.where(split, fine_err, best_err)
    # no finite error estimate: no estimate at all, so the entry fails as non-finite
    best = np.where(np.isfinite(best_err), best, np.nan)
    return best, best_err


def _richardson(fun: ScalarFun, x0: Array, h0: float) -> _Oracle:
    """Central Richardson; at a kink (its one-sided derivatives, from the same evaluations,
    differ beyond their estimates) no oracle: the average of its slopes is neither branch."""
    steps = _steps(fun, x0, np.arange(x0.size), h0)
    est, err = _extrapolated(steps, side=0)
    (right, e_right), (left, e_left) = _extrapolated(steps, 1), _extrapolated(steps, -1)
    margin = CROSSCHECK_FACTOR * (e_right + e_left) + 1e-9 * (np.abs(right) + np.abs(left))
    return _no_oracle_at_kinks(_Oracle(est, err, "richardson"), np.abs(right - left) > margin)


def _no_oracle_at_kinks(oracle: _Oracle, kinks: Array) -> _Oracle:
    """A differences oracle with no oracle (an infinite error) at ``kinks``, said in its note:
    a named ``richardson`` or ``mpmath`` blamed a correct relu'(0) = 0 for missing the average
    of the kink's slopes (held-out audit)."""
    if not kinks.any():
        return oracle
    note = f"no oracle at {_entries(kinks)} at a kink: {_AVERAGED} (auto's complex step can)"
    errors = np.where(kinks, np.inf, oracle.errors)
    return _Oracle(oracle.values, errors, oracle.method, note, kinks)


_AVERAGED = "two-sided differences average its slopes and cannot tell the branch"


def _entries(mask: Array) -> str:
    n = int(mask.sum())
    return f"{n} {'entry' if n == 1 else 'entries'}"


UNCHECKED = "complex step not cross-checked: Richardson's probes gave NaN or inf"


def _crosscheck(fun: ScalarFun, x0: Array, cs: _Oracle) -> tuple[str, Array | None]:
    """Empty if complex step agrees with Richardson on the largest entry and on one fixed
    random direction, else why not; and those two probe directions. Agreement: within
    ``CROSSCHECK_FACTOR`` Richardson error estimates plus 1e-9 of the magnitudes involved. Code
    that breaks complex step (``abs``, ``.real``) disagrees by a finite amount. Both probes leave
    out the entries at a kink (two-sided differences average a kink's slopes, where complex
    step takes the branch at ``x0``); an ``unconfirmed`` value there is a disagreement."""
    x = x0.ravel()
    kinks = np.zeros(x.size, dtype=bool) if cs.kinks is None else cs.kinks
    if cs.unconfirmed is not None and cs.unconfirmed.any():
        at = tuple(int(i) for i in np.unravel_index(int(np.argmax(cs.unconfirmed)), x0.shape))
        return f"complex step was not confirmed at a kink at index {at}", None
    if kinks.all():  # each value matched a one-sided derivative: nothing left to probe
        return "", None
    j = int(np.argmax(np.where(kinks, -1.0, np.abs(cs.values))))
    directions = np.zeros((2, x.size))
    directions[0, j] = 1.0
    directions[1] = np.where(kinks, 0.0, _signs(x.size))  # Richardson's absolute steps
    est, err = _richardson_along(fun, x0, directions, RICHARDSON_H0)
    if not (np.isfinite(est).all() and np.isfinite(err).all()):
        # steps outside fun's domain, or beyond float64 at a huge x0: no evidence either way
        # (it was "disagreed ... vs nan", and auto dropped a correct complex step)
        return UNCHECKED, directions
    claims = directions @ cs.values
    size = np.array([abs(claims[0]), np.abs(directions[1] * cs.values).sum()])
    bad = ~(np.abs(claims - est) <= CROSSCHECK_FACTOR * err + 1e-9 * size)
    if not bad.any():
        return "", directions
    if bad[0]:
        c, r, e = cs.values[j], est[0], err[0]
        at = tuple(int(i) for i in np.unravel_index(j, x0.shape))
        why = (
            f"complex step disagreed with Richardson at index {at}: {c:.10e} vs {r:.10e} +- {e:.1e}"
        )
    else:
        why = (
            "complex step disagreed with Richardson along a random direction: "
            f"{claims[1]:.10e} vs {est[1]:.10e} +- {err[1]:.1e}"
        )
    return why, directions


def _kinked(fun: ScalarFun, x0: Array, directions: Array) -> bool:
    """Whether ``f`` has a kink at ``x0`` along one of ``directions`` (its one-sided Richardson
    derivatives differ beyond their error estimates)."""
    steps = _steps(fun, x0, directions, RICHARDSON_H0)
    (right, e_right), (left, e_left) = _extrapolated(steps, 1), _extrapolated(steps, -1)
    margin = CROSSCHECK_FACTOR * (e_right + e_left) + 1e-9 * (np.abs(right) + np.abs(left))
    return bool(np.any(np.abs(right - left) > margin))


def _checked_complex_step(fun: ScalarFun, x0: Array) -> tuple[_Oracle, str]:
    """Complex step and why :func:`_crosscheck` rejects it (empty if it does not). A
    disagreement may be a kink that the jitter did not cross and so did not flag, which the
    probes crossed and two-sided differences averaged: if one-sided differences along a probe
    show a kink, every entry is examined (one-sided Richardson along each; a central Richardson
    fallback reuses those evaluations) and the check repeated with the probes off the kinks."""
    cs = _complex_step(fun, x0, COMPLEX_STEP_H)
    why, probes = _crosscheck(fun, x0, cs)
    known = cs.spread is not None and cs.jumps is not None
    if why and probes is not None and known and _kinked(fun, x0, probes):
        cs = _at_kinks(fun, x0, COMPLEX_STEP_H, cs.values, cs.spread, cs.jumps, everywhere=True)
        if cs.kinks is not None and cs.kinks.any():
            why, _ = _crosscheck(fun, x0, cs)
    return cs, why


def _oracle(fun: ScalarFun, x0: Array, method: str, h: float | None) -> _Oracle:
    if method == "complex_step":
        return _complex_step(fun, x0, COMPLEX_STEP_H if h is None else h)
    if method == "mpmath":
        return _mpmath(fun, x0, MPMATH_H if h is None else h)
    if method == "richardson":
        return _richardson(fun, x0, RICHARDSON_H0 if h is None else h)
    notes: list[str] = []
    cs = None
    try:
        cs, why = _checked_complex_step(fun, x0)
    except _Unusable as exc:
        notes.append(str(exc))
    else:
        if not why:
            return cs
        notes.append(why)
    try:
        fallback = _mpmath(fun, x0, MPMATH_H)
    except _Unusable as exc:
        notes.append(str(exc))
        if cs is not None and why == UNCHECKED:  # nothing better than the unchecked value
            return _Oracle(cs.values, cs.errors, cs.method, "; ".join(notes), cs.kinks)
        steps = cs.steps if cs is not None else None
        if steps is None or steps.fp.shape[1] != x0.size:  # it covers only some entries
            steps = _steps(fun, x0, np.arange(x0.size), RICHARDSON_H0)
        fallback = _Oracle(*_extrapolated(steps, side=0), "richardson")
    # the kinks complex step found and those the fallback's own one-sided differences found,
    # said once (a named method's note points to auto's complex step, which failed here)
    if cs is not None and why == UNCHECKED and _blind(fallback):
        notes.append("mpmath's error estimate is as large as the gradient")
        return _Oracle(cs.values, cs.errors, cs.method, "; ".join(notes), cs.kinks)
    kinks = np.zeros(x0.size, dtype=bool)
    for found in (None if cs is None else cs.kinks, fallback.kinks):
        if found is not None:
            kinks |= found
    if fallback.note and fallback.kinks is None:
        notes.append(fallback.note)
    if kinks.any():
        notes.append(f"no oracle at {_entries(kinks)} at a kink: {_AVERAGED}")
    errors = np.where(kinks, np.inf, fallback.errors)
    return _Oracle(fallback.values, errors, fallback.method, "; ".join(notes))


def _blind(oracle: _Oracle) -> bool:
    """Whether the oracle's error estimate reaches its own largest value (or is not finite)."""
    top = _max_abs(oracle.values)
    worst = float(np.max(oracle.errors, initial=0.0))
    return not (np.isfinite(worst) and 10.0 * worst < top)


# ---- the check ----------------------------------------------------------------------------------


def check_gradient(
    fun: ScalarFun,
    grad: Array | Callable[[Array], Array],
    x0: Array,
    *,
    method: str = "auto",
    rtol: float = 1e-8,
    atol_rel: float = 1e-6,
    h: float | None = None,
    grad_scale: float | None = None,
) -> GradCheckResult:
    """Check a claimed gradient of the scalar function ``fun`` at ``x0`` against an oracle.

    ``grad`` is the claimed gradient (an array of ``x0``'s shape) or a callable returning it.
    ``method`` is ``"auto"``, ``"complex_step"``, ``"richardson"`` or ``"mpmath"`` (module
    docstring); ``h`` overrides the named method's step (Richardson: its largest relative step
    ``h0``) and needs a named method. ``grad_scale`` replaces ``max_j |n_j|`` in the floor: a
    check of one block of a larger gradient passes the whole gradient's size, so a block that is
    0 by symmetry (its entries pure rounding noise) is not judged against its own noise. A named
    method that cannot evaluate ``fun`` raises :class:`GradcheckError` (a ``ValueError`` and a
    ``DescentcheckError``: one line), as do bad arguments, a gradient of the wrong shape and a
    non-finite ``fun(x0)``.
    """
    if grad_scale is not None and not (
        isinstance(grad_scale, numbers.Real) and np.isfinite(grad_scale) and grad_scale >= 0
    ):
        raise GradcheckError(f"grad_scale must be finite and >= 0, got {grad_scale!r}")
    x0, analytic = _validate(fun, grad, x0, method, rtol, atol_rel, h)
    return _compare(analytic, _run_oracle(fun, x0, method, h), rtol, atol_rel, grad_scale)


def _validate(
    fun: ScalarFun,
    grad: Array | Callable[[Array], Array],
    x0: Array,
    method: str,
    rtol: float,
    atol_rel: float,
    h: float | None,
) -> tuple[Array, Array]:
    """Check the arguments; return ``x0`` and the claimed gradient as float64 arrays."""
    if not callable(fun):
        raise GradcheckError(f"fun must be a callable scalar function, got {type(fun).__name__}")
    if method not in METHODS:
        raise GradcheckError(f"unknown method {method!r}, expected one of {', '.join(METHODS)}")
    if h is not None and method == "auto":
        raise GradcheckError("a step h needs a named method (the methods' steps differ by 1e29)")
    if h is not None and not (isinstance(h, numbers.Real) and np.isfinite(h) and h > 0):
        raise GradcheckError(f"step h must be positive and finite, got {h!r}")
    for name, t in (("rtol", rtol), ("atol_rel", atol_rel)):
        # an infinite tolerance passes every gradient: a check that cannot fail
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 <= t < np.inf:
            raise GradcheckError(f"{name} must be a finite number >= 0, got {t!r}")
    # None read as NaN ("x0 contains NaN or inf"), and a complex x0 lost its imaginary part
    # with only a warning, then passed (a held-out audit)
    raw = np.asarray(x0) if x0 is not None else None
    if raw is None or raw.dtype.kind not in "fiub":
        got = "None" if raw is None else f"dtype {raw.dtype}"
        raise GradcheckError(f"x0 must be real numbers (an array or a number), got {got}")
    x0 = np.array(raw, dtype=np.float64)
    if x0.size == 0:
        raise GradcheckError("x0 is empty: there is no gradient to check")
    if not np.all(np.isfinite(x0)):
        raise GradcheckError("x0 contains NaN or inf")
    if grad is None:
        raise GradcheckError(
            "grad must be the claimed gradient (an array of x0's shape) or a callable"
        )
    g = np.asarray(grad(x0.copy()) if callable(grad) else grad)
    if g.shape != x0.shape:
        raise GradcheckError(f"gradient has shape {g.shape}, expected {x0.shape} (the shape of x0)")
    if g.dtype.kind not in "fiub":
        raise GradcheckError(f"gradient has dtype {g.dtype}, expected real numbers")
    value = fun(x0.copy())
    try:
        f0 = _real(value)
    except TypeError:  # float(None): "float() argument must be ... not 'NoneType'"
        raise GradcheckError(
            f"fun must return a real number, got {type(value).__name__} from fun(x0)"
        ) from None
    if not np.isfinite(f0):
        raise GradcheckError(
            f"the function (the loss, for a network) is {f0} at these values: nothing to "
            "differentiate"
        )
    return x0, g.astype(np.float64)


def _run_oracle(fun: ScalarFun, x0: Array, method: str, h: float | None) -> _Oracle:
    try:
        return _oracle(fun, x0, method, h)
    except _Unusable as exc:
        raise GradcheckError(f"method {method!r} cannot evaluate fun: {exc}") from exc


def _max_abs(values: Array) -> float:
    finite = values[np.isfinite(values)]
    return float(np.max(np.abs(finite))) if finite.size else 0.0


def _resolvable(oracle: _Oracle, a: Array, n: Array, e: Array, size: float) -> Array:
    """Where Richardson's error, not the check, would decide an entry: an error estimate beyond
    1e-9 of the gradient's largest entry (a thousand times its usual 1e-12: its fixed steps
    crossed a kink, or left the data's scale), at an entry that does not vanish to within it
    (0 against 1e-22, both zero to the oracle, passes). Complex step's and mpmath's estimates
    are kept as the tolerance's part they were (complex step's rounding noise on a cancelling
    sum reaches 4e-8 of an entry there, where backprop is as good as the oracle can tell)."""
    if oracle.method != "richardson":
        return np.zeros(e.shape, dtype=bool)
    with np.errstate(all="ignore"):
        vanishes = (np.abs(n) <= 10.0 * e) & (np.abs(a) <= 10.0 * e)
        return (e > 1e-9 * size) & ~vanishes


def _compare(
    analytic: Array, oracle: _Oracle, rtol: float, atol_rel: float, grad_scale: float | None
) -> GradCheckResult:
    a, n, e = analytic.ravel(), oracle.values, oracle.errors
    finite = np.isfinite(a) & np.isfinite(n) & np.isfinite(e)
    diff = np.abs(a - n)
    size = _max_abs(n) if grad_scale is None else grad_scale
    floor = atol_rel * size + _TINY
    scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    with np.errstate(all="ignore"):
        rel = np.where(finite, diff / scale, np.inf)
        allowed = rtol * scale + 10.0 * e
        ratio = np.where(finite, diff / allowed, np.inf)
    passed = finite & (diff <= allowed)
    # passed on the oracle's error alone: off by more than rtol allows, so not passed; not
    # failed either (a held-out audit's Richardson passed a gradient 20% off near a kink)
    with np.errstate(all="ignore"):
        unsure = passed & (diff > rtol * scale) & _resolvable(oracle, a, n, e, size)
    # no oracle at an entry: a kink differences cannot resolve (an infinite error estimate), or
    # an oracle that failed (a NaN or inf value: differences at |x| = 1e16 take no step, 0/0).
    # Neither is a failure of backprop; a NaN or inf backprop entry is
    failed = np.isfinite(a) & ~np.isfinite(n)
    blind = (np.isfinite(a) & np.isfinite(n) & ~np.isfinite(e)) | failed
    ok = bool(passed.all()) and not unsure.any()
    undecided = ""
    if not ok and bool((passed | blind).all()):
        undecided = (
            "oracle failed"
            if failed.any()
            else "no oracle at a kink"
            if blind.any()
            else "oracle error"
        )
    with np.errstate(all="ignore"):
        if undecided == "oracle error":
            k = int(np.argmax(np.where(unsure, diff / (rtol * scale), -np.inf)))
        elif undecided == "oracle failed":
            k = int(np.argmax(failed))
        else:  # a failure is named at an entry that failed, not at one without an oracle
            k = int(np.argmax(rel) if ok else np.argmax(np.where(failed, -np.inf, ratio)))
    index = tuple(int(i) for i in np.unravel_index(k, analytic.shape))
    if undecided == "oracle failed":
        more = int(failed.sum()) - 1
        undecided = f"oracle failed at index {index}" + (f" and {more} more" if more else "")
    entry = (float(a[k]), float(n[k]), float(e[k]), float(rel[k]), float(scale[k]))
    message = _message(entry, index, rtol, oracle.method, ok, undecided, int(unsure.sum()))
    return GradCheckResult(
        ok=ok,
        max_rel_error=float(np.max(rel)),
        worst_index=index,
        method=oracle.method,
        analytic=analytic,
        numeric=n.reshape(analytic.shape),
        message=message,
        oracle_error=e.reshape(analytic.shape),
        note=oracle.note,
        undecided=undecided,
    )


def _message(
    entry: tuple[float, float, float, float, float],
    index: tuple[int, ...],
    rtol: float,
    method: str,
    ok: bool,
    undecided: str,
    unsure: int,
) -> str:
    """The result's one line, about the entry ``index`` (``entry``: its analytic value, the
    oracle's value and error estimate, its rel. error and the scale rtol applies to): why it
    passed, is undecided (at ``unsure`` entries, for the oracle's error) or failed."""
    a, n, e, rel, scale = entry
    tag = method
    if method == "richardson" or 10.0 * e > rtol * scale:
        # say so whenever the oracle's own error, not rtol, decided the entry
        tag = f"{method}, oracle error {e:.1e}"
    if ok:
        return f"gradient ok: max rel. error {rel:.1e} at index {index} ({tag})"
    values = f"analytic {a:.10e}, oracle {n:.10e}"
    if undecided == "oracle error":
        return (
            f"undecided at {unsure} entries, worst index {index}: {values}, rel. error "
            f"{rel:.1e} > rtol {rtol:.1e}, within the oracle's own error ({tag}): this oracle "
            "cannot tell"
        )
    if undecided.startswith("oracle failed"):
        return (
            f"undecided: the oracle failed at index {index}: {values} ({tag}); the claimed "
            "gradient is finite, and an oracle that is not cannot judge it"
        )
    kink = (
        "complex step was not confirmed at a kink"
        if method == "complex_step"
        else "a kink, where differences average its slopes"
    )
    what = (
        "gradient mismatch"
        if np.isfinite(a) and np.isfinite(n) and np.isfinite(e)
        else f"no oracle ({kink})"
        if np.isfinite(a) and np.isfinite(n)
        else "non-finite gradient entry"
    )
    return f"{what} at index {index}: {values}, rel. error {rel:.1e} ({tag})"


# ---- networks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamCheck:
    """One parameter array's check: ``NODE.PARAM``, its shape, and the result."""

    name: str
    shape: tuple[int, ...]
    result: GradCheckResult

    @property
    def ok(self) -> bool:
        return self.result.ok


@dataclass(frozen=True)
class NetworkGradCheck:
    """Checks of every parameter array of a network; truthy iff all passed."""

    rows: tuple[ParamCheck, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def __bool__(self) -> bool:
        return self.ok

    def __iter__(self) -> Iterator[ParamCheck]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def table(self) -> str:
        return format_table(self.rows)


def check_network_gradient(
    net: Network | str | os.PathLike | Mapping[str, Any],
    params: Mapping[str, Array],
    x: Array,
    y: Array,
    *,
    method: str = "auto",
    rtol: float = 1e-8,
    atol_rel: float = 1e-6,
    progress: Callable[[str, int], Any] | None = None,
) -> NetworkGradCheck:
    """Check ``net.loss_and_grad`` on every parameter array against an oracle; ``progress(name,
    size)`` is called as each array is done (a large net takes minutes: two evaluations of the
    loss per entry, more where the oracle falls back).

    For parameter ``name`` the function is ``w -> net.loss({**params, name: w}, x, y)``; the
    other parameters stay float64 (numpy promotes them when ``w`` is complex: every forward
    rule is complex-analytic, see ``ops.base``). Each array is checked as by
    :func:`check_gradient` with ``grad_scale`` the largest oracle entry over all arrays. The
    ``mpmath`` oracle, named or as ``auto``'s fallback, differentiates theory's independent
    mpmath evaluation of the spec (at float64 points both are E to within rounding; its claim is
    the same E's gradient), about 20 times a float evaluation's cost. ``net`` may also be
    anything :meth:`Network.from_spec` reads (a spec dict, file or example name). A loss that
    is not finite at ``params`` is a one-line :class:`DescentcheckError` (there is nothing to
    differentiate), without numpy's overflow warnings."""
    from .network import Network

    if not isinstance(net, Network):  # a spec dict was "'dict' object has no attribute ..."
        net = Network.from_spec(net)
    with one_blas_thread():  # the same table on every core count (impl.threads)
        return _check_network(net, params, x, y, method, rtol, atol_rel, progress)


def _check_network(
    net: Network,
    params: Mapping[str, Array],
    x: Array,
    y: Array,
    method: str,
    rtol: float,
    atol_rel: float,
    progress: Callable[[str, int], Any] | None,
) -> NetworkGradCheck:
    p = net.check_params(params)
    xs, ys = net.check_data(x, y)
    # an overflowing loss is refused below, a gradient's shows as its row's FAIL: neither is
    # worth numpy's warnings (five of them for weights of 1e200)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        E, grads = net.loss_and_grad(p, xs, ys)
    if not np.isfinite(E):  # it was check_gradient's ValueError, where the CLI said it in one line
        raise DescentcheckError(
            f"the loss is {float(E)} at these parameters and data: there is no gradient to check"
        )
    checked = []
    for name in net.param_names:
        # auto's fallback too: the layers' numpy rules cannot run on mpf, so without theory's
        # evaluator auto fell back to Richardson, whose steps cross a kink nearby (a held-out
        # relu net 2.6e-4 from one failed a right gradient: 4.3e-02 against 6e-16)
        mp_fun = _mpmath_loss(net, p, xs, ys, name) if method in ("auto", "mpmath") else None

        def fun(w: Array, name: str = name, mp: Any = mp_fun) -> Any:
            if mp is not None and w.dtype == object:
                return mp()(w)
            return net.loss({**p, name: w}, xs, ys)

        w0, claim = _validate(fun, grads[name], p[name], method, rtol, atol_rel, None)
        checked.append((name, claim, _run_oracle(fun, w0, method, None)))
        if progress is not None:
            progress(name, int(np.size(p[name])))
    # one floor for the whole gradient: a parameter array whose gradient is 0 by symmetry holds
    # only rounding noise, and must not be measured against its own noise
    size = max((_max_abs(oracle.values) for _, _, oracle in checked), default=0.0)
    rows = [
        ParamCheck(name, claim.shape, _compare(claim, oracle, rtol, atol_rel, size))
        for name, claim, oracle in checked
    ]
    return NetworkGradCheck(tuple(rows))


def _mpmath_loss(
    net: Network, params: Mapping[str, Array], x: Array, y: Array, name: str
) -> Callable[[], Callable[[Array], Any]]:
    """A maker of ``w -> E`` on object arrays of mpf, parameter ``name`` set to ``w``, built on
    its first call: the independent evaluator of the spec (``impl.mp_network``, written from
    DESIGN.md's definitions, plugins' ``mpmath`` rules included). The layers' numpy rules take
    float and complex arrays, not mpf."""
    from descentcheck.impl import mp_network

    @functools.cache
    def loss() -> Callable[[Array], Any]:  # converted on first use: auto rarely needs it
        fixed = {k: mp_network.to_mp(v) for k, v in params.items() if k != name}
        X, Y = mp_network.to_mp(x), mp_network.to_mp(y)
        return lambda w: mp_network.loss(net.spec.raw, {**fixed, name: w}, X, Y)

    return loss


def _nonfinite(r: GradCheckResult) -> str:
    """Why a failed row failed, when it is not a size: a NaN or inf backprop gradient or
    oracle value (``max rel. error inf`` alone does not say which side)."""
    sides = [
        side
        for side, values in (("backprop", r.analytic), ("oracle", r.numeric))
        if not np.all(np.isfinite(values))
    ]
    return f" ({' and '.join(sides)} not finite)" if sides else ""


def format_table(rows: Iterable[ParamCheck]) -> str:
    """A plain-text table: parameter, shape, method, max rel. error, worst index, OK/FAIL."""
    head = ("parameter", "shape", "method", "max rel. error", "worst index", "result")
    body = [
        (
            r.name,
            "x".join(str(s) for s in r.shape) or "scalar",
            r.result.method,
            f"{r.result.max_rel_error:.1e}",
            str(r.result.worst_index),
            "OK"
            if r.ok
            else f"UNDECIDED ({r.result.undecided})"
            if r.result.undecided
            else "FAIL" + _nonfinite(r.result),
        )
        for r in rows
    ]
    widths = [max(len(row[c]) for row in (head, *body)) for c in range(len(head))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (head, *body)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
