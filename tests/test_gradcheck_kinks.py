"""The gradient checker at a kink: a relu input at exactly 0.

There relu's forward rule takes its ``x <= 0`` branch, backprop's ``relu'(0) = 0`` follows it, and
so does complex step (``where(Re x > 0, x, 0)`` at ``0 + ih`` is 0). Two faults of the checker were
seen here (held-out gradient-check adversary, stop 32):

- a false pass: complex step's error estimate, taken one ulp away, measured the kink's jump
  where the jitter crossed it, and a wrong ``relu'(0) = 1`` within 10 jumps passed;
- a false alarm: ``auto`` cross-checks complex step against two-sided Richardson, which averages
  a kink's slopes, rejected complex step, and failed a correct ``relu'(0) = 0`` against the average.

The cases are piecewise-linear functions ``f(x, b) = c . relu(A x + b) + s . x`` at ``x = 0`` with
a drawn subset of ``b`` exactly 0, every number drawn by Hypothesis. Each column of ``A`` has one
sign, so along every entry the relu inputs at 0 move the same way, and complex step's branch value
(all of them at 0, inactive) is one side's derivative; where they part (``A``'s columns of mixed
signs) it may be neither side's, and ``auto`` then does not rely on complex step.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from specs import RELU_LAYER

from descentcheck.impl import gradcheck
from descentcheck.impl.gradcheck import check_gradient, check_network_gradient
from descentcheck.impl.network import Network
from descentcheck.impl.ops import activations
from descentcheck.properties.profiles import (
    TEST_PROFILE_HEAVY,
    TEST_PROFILE_MEDIUM,
    hypothesis_settings,
)

Array = np.ndarray
HEAVY = hypothesis_settings(TEST_PROFILE_HEAVY)  # an example checks a network
MEDIUM = hypothesis_settings(TEST_PROFILE_MEDIUM)  # an example checks a small function


def _relu(z: Array) -> Array:
    return np.where(z.real > 0, z, 0.0)


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def away_from_zero(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.one_of(floats(-hi, -lo), floats(lo, hi))


class KinkCase:
    """``f(w) = c . relu(A x + b) + s . x`` with ``w = (x, b)``, at ``x = 0``."""

    def __init__(self, A: Array, b: Array, c: Array, s: Array) -> None:
        self.A, self.c, self.s = A, c, s
        self.w0 = np.concatenate([np.zeros(A.shape[1]), b])
        self.kinked = b == 0.0

    def f(self, w: Array) -> Any:
        d = self.A.shape[1]
        return self.c @ _relu(self.A @ w[:d] + w[d:]) + self.s @ w[:d]

    def grad(self, w: Array, at_zero: float = 0.0) -> Array:
        """The gradient with ``relu'(0) = at_zero``."""
        d = self.A.shape[1]
        z = self.A @ w[:d] + w[d:]
        slope = np.where(z > 0, 1.0, np.where(z == 0, at_zero, 0.0))
        return np.concatenate([self.A.T @ (self.c * slope) + self.s, self.c * slope])


@st.composite
def kink_cases(draw: st.DrawFn, one_sign_columns: bool = True) -> KinkCase:
    d, m = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    A = draw(arrays(np.float64, (m, d), elements=floats(0.25, 2.0)))
    if one_sign_columns:
        A = A * np.where(draw(arrays(np.bool_, d)), 1.0, -1.0)
    else:
        A = A * np.where(draw(arrays(np.bool_, (m, d))), 1.0, -1.0)
    kinked = draw(arrays(np.bool_, m))
    kinked[draw(st.integers(0, m - 1))] = True
    b = np.where(kinked, 0.0, draw(arrays(np.float64, m, elements=away_from_zero(0.1, 2.0))))
    c = draw(arrays(np.float64, m, elements=away_from_zero(0.25, 2.0)))
    s = draw(arrays(np.float64, d, elements=floats(-2.0, 2.0)))
    return KinkCase(A, b, c, s)


@pytest.mark.parametrize("method", ["auto", "complex_step"])
@MEDIUM
@given(case=kink_cases())
def test_a_correct_relu_gradient_passes_at_its_kinks(case: KinkCase, method: str) -> None:
    r = check_gradient(case.f, case.grad(case.w0), case.w0, method=method)
    assert r.ok, (r.message, r.note)
    assert r.method == "complex_step", r.note


@pytest.mark.parametrize("method", ["auto", "complex_step"])
@MEDIUM
@given(case=kink_cases())
def test_a_wrong_relu_derivative_at_zero_fails(case: KinkCase, method: str) -> None:
    """``relu'(0) = 1``: the kinked biases' entries are off by ``c_k``, at least 0.25; the error
    estimate there must not be the jump the jitter saw."""
    r = check_gradient(case.f, case.grad(case.w0, at_zero=1.0), case.w0, method=method)
    assert not r.ok, r.message
    d = case.A.shape[1]
    kinked_bias = d + np.flatnonzero(case.kinked)
    assert np.all(r.oracle_error.ravel()[kinked_bias] < 1e-12)


@MEDIUM
@given(case=kink_cases())
def test_every_kinked_bias_is_found_and_no_other_bias(case: KinkCase) -> None:
    cs = gradcheck._complex_step(case.f, case.w0, gradcheck.COMPLEX_STEP_H)
    found = gradcheck._at_kinks(
        case.f, case.w0, gradcheck.COMPLEX_STEP_H, cs.values, cs.spread, cs.jumps, everywhere=True
    )
    d = case.A.shape[1]
    assert found.kinks is not None and found.unconfirmed is not None
    assert np.array_equal(found.kinks[d:], case.kinked)
    assert not found.unconfirmed.any()


@MEDIUM
@given(case=kink_cases(one_sign_columns=False), at_zero=st.sampled_from([0.5, 1.0]))
def test_where_kinks_part_auto_passes_no_wrong_relu_derivative(
    case: KinkCase, at_zero: float
) -> None:
    """Where a column's relu inputs at 0 part (one rises, one falls), complex step's branch value
    may be neither one-sided derivative along that entry. That proves no bug here, but it is
    what a function breaking complex step at a kink gives (next test), so ``auto`` then takes
    another oracle, which averages a kink's slopes: it has no oracle at the kinks. Either way a
    wrong ``relu'(0)`` never passes, and a correct one passes or fails for want of an oracle."""
    wrong = check_gradient(case.f, case.grad(case.w0, at_zero=at_zero), case.w0)
    assert not wrong.ok, (wrong.message, wrong.note)
    right = check_gradient(case.f, case.grad(case.w0), case.w0)
    if right.method == "complex_step":
        assert right.ok, (right.message, right.note)
    else:
        assert "complex step was not confirmed at a kink" in right.note
        assert right.message.startswith("no oracle (complex step was not confirmed at a kink)")


@MEDIUM
@given(case=kink_cases(), at_zero=st.sampled_from([0.0, 1.0]))
def test_a_complex_comparison_at_a_kink_leaves_no_oracle_there(
    case: KinkCase, at_zero: float
) -> None:
    """Coded ``where(z > 0, z, 0)``, relu compares complex numbers, which numpy orders by real,
    then imaginary part: at ``0 + ih`` it takes the side the step points to, while the real
    forward's ``0 > 0`` takes the other. Complex step's value then changes with the sign of the
    step; ``auto`` has no oracle at such an entry, and neither ``relu'(0)`` passes (the held-out
    skeptic saw it pass ``relu'(0) = 1`` here, which matched one side). A named
    ``complex_step`` is not cross-checked: it trusts ``f`` to be analytic as coded, and passes
    ``relu'(0) = 1`` here where its jitter does not cross the kink."""
    d = case.A.shape[1]

    def f(w: Array) -> Any:
        z = case.A @ w[:d] + w[d:]
        return case.c @ np.where(z > 0, z, 0.0) + case.s @ w[:d]

    r = check_gradient(f, case.grad(case.w0, at_zero=at_zero), case.w0)
    assert not r.ok, (r.message, r.note)
    assert r.message.startswith("no oracle"), (r.message, r.note)


@MEDIUM
@given(
    slope=away_from_zero(0.5, 5.0),
    c=away_from_zero(0.5, 2.0),
    y0=floats(-2.0, 2.0),
    off=away_from_zero(0.5, 2.0),
)
@example(slope=-1.0, c=-2.0, y0=0.0, off=1.0)
def test_abs_beside_a_kink_passes_no_wrong_relu_derivative(
    slope: float, c: float, y0: float, off: float
) -> None:
    """``c relu(x) + slope |x - off| + y^2`` at ``x = 0``: complex step's ``abs`` drops the term
    (its imaginary part), whose slope ``-slope sign(off)`` may equal the kink's jump, so that
    complex step's value at the kink equals one side's (held-out skeptic: a wrong relu'(0)
    passed so). Complex step just off the kink does not equal either side: neither claim
    ``relu'(0) = 0`` nor 1 passes (no oracle at the kink). The pinned draw has ``c = 2 slope
    sign(off)``: the dropped term also makes complex step equal the two-sided average, so the
    cross-check agrees, and a jitter one way only (down) never crossed the kink; nothing looked
    at it, and complex step's wrong value failed both claims as a plain mismatch. The jitter
    the other way crosses it."""

    def f(w: Array) -> Any:
        return c * _relu(w[0]) + slope * np.abs(w[0] - off) + w[1] ** 2

    w0 = np.array([0.0, y0])
    for at_zero in (0.0, 1.0):
        claim = np.array([c * at_zero - slope * np.sign(off), 2.0 * y0])
        r = check_gradient(f, claim, w0)
        assert not r.ok and r.message.startswith("no oracle"), (r.message, r.note)


@MEDIUM
@given(slope=away_from_zero(0.5, 5.0), c=away_from_zero(0.5, 2.0), y0=floats(-2.0, 2.0))
def test_a_function_that_breaks_complex_step_at_a_kink_is_not_trusted(
    slope: float, c: float, y0: float
) -> None:
    """``f(x, y) = c relu(x) + slope Re(x) + y^2`` at ``x = 0``: complex step drops the ``Re``
    term, so at ``x`` it gives 0 where the branch's derivative is ``slope``. The one-sided
    derivatives are ``slope`` and ``slope + c``, and complex step just off the kink gives ``c``
    and 0: neither side is confirmed, and ``auto`` does not pass the claim of 0 that matches
    complex step at the kink (the skeptic's repro of a reverted fix, stop 32; its first try here
    asked only that complex step equal one side, which ``slope = -c`` met). One blind spot
    stays: ``slope = -c/2``, where the dropped term equals the two-sided average, so that where
    the jitter does not cross the kink the cross-check agrees and nothing is examined."""
    assume(abs(slope + c / 2) > 1e-6)

    def f(w: Array) -> Any:
        return c * _relu(w[0]) + slope * w[0].real + w[1] ** 2

    w0 = np.array([0.0, y0])
    r = check_gradient(f, np.array([0.0, 2.0 * y0]), w0)
    assert not r.ok
    assert r.method != "complex_step"
    assert "complex step was not confirmed at a kink at index (0,)" in r.note


def test_a_kink_beside_smooth_entries() -> None:
    """``|x_0| + sum sin(x_i)`` at ``x_0 = 0``, coded ``relu(x) + relu(-x)``: complex step's
    branch value 0 (both relus at 0, inactive) is neither side's slope (1 and -1), but complex
    step just off the kink equals each side's, so it is kept, as backprop's 0 is. With a term
    ``abs(x_0 - 1) / 2`` beside it, which complex step drops, it is not confirmed: auto falls back
    to Richardson (which reused one-sided evaluations that covered entry 0 alone and raised
    IndexError; held-out skeptic), has no oracle at entry 0, and still judges the others."""
    w0 = np.array([0.0, 0.3, 0.5, 0.7])
    claim = np.r_[0.0, np.cos(w0[1:])]

    def f(w: Array) -> Any:
        return _relu(w[0]) + _relu(-w[0]) + np.sum(np.sin(w[1:]))

    r = check_gradient(f, claim, w0)
    assert r.ok and r.method == "complex_step", (r.message, r.note)

    def g(w: Array) -> Any:
        return f(w) + np.abs(w[0] - 1.0) / 2

    r = check_gradient(g, claim - np.r_[0.5, 0, 0, 0], w0)
    assert not r.ok and r.method == "richardson" and r.worst_index == (0,)
    assert "no oracle at 1 entry at a kink" in r.note
    assert np.allclose(r.numeric.ravel()[1:], np.cos(w0[1:]), rtol=1e-10)
    assert np.isinf(r.oracle_error[0]) and np.all(r.oracle_error[1:] < 1e-10)


def test_auto_falling_back_to_mpmath_says_the_kink_once() -> None:
    """The same ``g`` written for mpmath too: auto's complex step is not confirmed, mpmath's
    one-sided differences find the kink as well, and the note said it twice, the second time
    pointing to "auto's complex step", which had just failed (stop 46's left-alone point)."""
    import mpmath

    def relu(v: Any) -> Any:
        return (v if v > 0 else mpmath.mpf(0)) if isinstance(v, mpmath.mpf) else _relu(v)

    def sin(v: Any) -> Any:
        return mpmath.sin(v) if isinstance(v, mpmath.mpf) else np.sin(v)

    def g(w: Array) -> Any:
        return relu(w[0]) + relu(-w[0]) + abs(w[0] - 1) / 2 + sum(sin(v) for v in w[1:])

    w0 = np.array([0.0, 0.3, 0.5])
    r = check_gradient(g, np.r_[-0.5, np.cos(w0[1:])], w0)
    assert not r.ok and r.method == "mpmath" and r.worst_index == (0,), r.message
    assert r.note == (
        "complex step was not confirmed at a kink at index (0,); no oracle at 1 entry at a "
        "kink: two-sided differences average its slopes and cannot tell the branch"
    ), r.note
    assert np.isinf(r.oracle_error[0]) and np.all(r.oracle_error[1:] < 1e-10)


def test_a_steep_smooth_function_coded_with_maximum_passes_no_wrong_claim() -> None:
    """A softplus of sharpness 5e6 written ``maximum(x, 0) + log1p(exp(-b|x|)) / b``: smooth, but
    on a scale below Richardson's finest step, so it looks like a kink, and ``maximum``/``abs``
    break complex step there. Its slope at 0 is 1/2; the claim 1 (one side's) must not pass
    (held-out skeptic: it did). There is no oracle at that entry, so 1/2 fails too."""
    b = 5e6

    def f(x: Array) -> Any:
        return np.sum(np.maximum(x, 0) + np.log1p(np.exp(-b * np.abs(x))) / b + 0.3 * x**2)

    x0 = np.array([0.0, 0.7])
    assert not check_gradient(f, np.array([1.0, 0.42]), x0)
    assert not check_gradient(f, np.array([0.5, 0.42]), x0)


@pytest.mark.parametrize("method", ["auto", "complex_step"])
@MEDIUM
@given(c=arrays(np.float64, 3, elements=away_from_zero(0.5, 2.0)), off=floats(0.5, 5.0))
def test_a_jump_of_the_jitter_that_one_sided_differences_cannot_see_is_no_error_estimate(
    c: Array, off: float, method: str
) -> None:
    """``sum c_k (relu(x_k) - relu(-x_k))`` at 0 is ``c . x``, smooth, so the one-sided
    differences agree; but both relus sit at 0, backprop and complex step take the branch where
    both are inactive (0), and the jitter, crossing one of them, moves complex step by ``c_k``.
    That jump must not become the error estimate (as it did where one-sided differences saw no
    kink: a claim wrong by up to ``10 |c_k|`` passed; held-out skeptic, and in a relu net where
    a second layer's inputs at 0 blurred the one-sided differences)."""

    def f(x: Array) -> Any:
        return c @ (_relu(x) - _relu(-x))

    x0 = np.zeros(3)
    assert check_gradient(f, np.zeros(3), x0, method=method)
    assert not check_gradient(f, np.r_[off * c[0], 0.0, 0.0], x0, method=method)


def test_auto_examines_every_entry_only_when_a_probe_crosses_a_kink() -> None:
    """``sum |x_i| x_i`` away from 0 with ``np.abs``: complex step drops the ``abs``, the
    cross-check disagrees, but one-sided differences along its probes see no kink, so auto
    falls back without one-sided Richardson along every entry (24 evaluations each)."""
    n, calls = 20, [0]
    x0 = np.linspace(0.5, 2.0, n)

    def f(x: Array) -> Any:
        calls[0] += 1
        return np.sum(np.abs(x) * x)

    r = check_gradient(f, 2 * x0, x0)
    assert r.ok and r.method in ("mpmath", "richardson")
    # complex step 2n, mpmath 4n, two cross-check probes and their one-sided look ~110; one-sided
    # Richardson along every entry would add 24n
    assert calls[0] < 10 * n + 200, calls[0]


@MEDIUM
@given(
    x0=arrays(np.float64, 5, elements=st.one_of(st.just(-0.0), floats(-3.0, 3.0))),
    entries=st.lists(st.integers(0, 4), min_size=1, max_size=5),
)
def test_richardson_along_coordinates_is_richardson_along_their_unit_vectors(
    x0: Array, entries: list[int]
) -> None:
    """The evaluations along coordinate ``e_i`` given as an entry (no n x n identity: a
    70,000-entry array asked for 36.5 GiB, held-out skeptic) are those along the unit vector,
    bit for bit, a -0.0 in ``x0`` included."""

    def f(x: Array) -> Any:
        return np.sum(np.sin(x * np.arange(1, 6)) / (1.0 + x * x)) + np.copysign(1.0, x).sum()

    by_entry = gradcheck._steps(f, x0, np.array(entries), gradcheck.RICHARDSON_H0)
    by_vector = gradcheck._steps(f, x0, np.eye(5)[entries], gradcheck.RICHARDSON_H0)
    for name in ("fp", "fm", "width", "up", "down"):
        assert np.array_equal(getattr(by_entry, name), getattr(by_vector, name)), name


@MEDIUM
@given(
    up=away_from_zero(0.5, 3.0),
    down=away_from_zero(0.5, 3.0),
    x0=st.one_of(st.just(0.0), away_from_zero(0.5, 2.0)),
)
@example(up=-2.0, down=-1.0, x0=1.5631075896942914)
def test_one_sided_richardson_sees_each_side_of_a_kink(up: float, down: float, x0: float) -> None:
    """``f(x) = up relu(x) - down relu(-x) + sin(x)``: from the right ``up + cos x``, from the left
    ``down + cos x`` at 0 (and either one elsewhere), each within ten of its own error estimates
    (what a check allows it). Not within one: at ``x = 0`` with ``up = -1`` the right side's
    ``-x + sin x`` cancels to ``-x^3/6``, and the noise model (eps times ``|f|``, and f's rounding
    noise one ulp from 0) saw 2.7e-16 where the error was 5.0e-16."""

    def f(x: Array) -> Any:
        return np.sum(up * _relu(x) - down * _relu(-x) + np.sin(x))

    at = np.array([x0])
    steps = gradcheck._steps(f, at, np.eye(1), gradcheck.RICHARDSON_H0)
    (right, e_right), (left, e_left) = (gradcheck._extrapolated(steps, s) for s in (1, -1))
    base = up if x0 > 0 else down if x0 < 0 else None
    want_right = np.cos(x0) + (up if base is None else base)
    want_left = np.cos(x0) + (down if base is None else base)
    # far below any jump a kink test must see; one-sided extrapolation is a series in h, and at
    # x0 = 1.5631075896942914 (up = -2) the right side's error and estimate were both 3.6e-8
    assert abs(right[0] - want_right) <= 10 * e_right[0] and e_right[0] < 1e-7
    assert abs(left[0] - want_left) <= 10 * e_left[0] and e_left[0] < 1e-7


# ---- networks: a relu layer whose inputs are 0 on rows of zeros (biases start at 0) -------------

SPEC: dict[str, Any] = RELU_LAYER


@st.composite
def zero_row_data(draw: st.DrawFn) -> tuple[Array, Array, int]:
    x = draw(arrays(np.float64, (6, 3), elements=away_from_zero(0.1, 2.0)))
    zero = draw(arrays(np.bool_, 6))
    zero[draw(st.integers(0, 5))] = True
    y = draw(arrays(np.float64, (6, 2), elements=away_from_zero(0.1, 2.0)))
    return np.where(zero[:, None], 0.0, x), y, draw(st.integers(0, 2**31 - 1))


def _relu_derivative_one_at_zero(self: Any, x: Array) -> Array:
    return (x.real >= 0).astype(np.float64)


def _check_relu_net(
    net: Network, params: dict[str, Array], x: Array, y: Array, broken: bool
) -> None:
    """The correct gradient passes with complex step throughout; relu'(0) = 1 fails on h.b."""
    r = check_network_gradient(net, params, x, y)
    if broken:
        assert not next(row for row in r if row.name == "h.b").ok, r.table()
    else:
        assert r.ok, r.table()
        assert {row.result.method for row in r} == {"complex_step"}


@pytest.mark.parametrize("broken", [False, True])
def test_a_relu_net_on_rows_of_zeros(broken: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first layer's relu inputs are exactly 0 on the rows of zeros (its biases start at
    0): the check passes backprop's ``relu'(0) = 0`` with complex step and fails ``relu'(0) = 1``
    (it failed the correct one against two-sided Richardson before)."""
    net = Network.from_spec(SPEC)
    if broken:
        monkeypatch.setattr(activations.Relu, "derivative", _relu_derivative_one_at_zero)

    @HEAVY
    @given(zero_row_data())
    def run(data: tuple[Array, Array, int]) -> None:
        x, y, seed = data
        params = net.init(seed=seed, x=x)
        assert np.all(params["h.b"] == 0.0)
        _check_relu_net(net, params, x, y, broken)

    run()


def test_the_kink_note_counts_the_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pinned case (f2 of the adversary's repro): both biases at a kink, each found."""
    B = np.array([[1.0, -1.0], [2.0, 0.5]])
    X = np.zeros((3, 2))

    def f(b: Array) -> Any:
        return np.sum(_relu(X @ B + b) * np.array([1.0, -3.0]))

    good: Callable[[Array], Array] = lambda b: np.zeros(2)  # noqa: E731
    r = check_gradient(f, good, np.zeros(2))
    assert r.ok and r.method == "complex_step"
    assert r.note == "2 entries at a kink (complex step takes the branch at x0)"
    assert not check_gradient(f, np.array([0.0, -9.0]), np.zeros(2), method="complex_step")


@pytest.mark.parametrize("method", ["richardson", "mpmath"])
@MEDIUM
@given(case=kink_cases())
def test_a_named_differences_method_has_no_oracle_at_a_kink(case: KinkCase, method: str) -> None:
    """Named, ``richardson`` and ``mpmath`` compared a correct relu'(0) = 0 with the average of
    the kink's slopes and blamed backprop (a held-out audit: h.b 4.3e-01 FAIL, no note). Their
    own one-sided differences find each kinked bias, and no other bias: no oracle there, said."""
    r = check_gradient(case.f, case.grad(case.w0), case.w0, method=method)
    d = case.A.shape[1]
    assert np.array_equal(np.isinf(r.oracle_error.ravel()[d:]), case.kinked), r.oracle_error
    assert not r.ok and " at a kink: two-sided differences average" in r.note, r.note
    assert "no oracle (a kink, where differences average its slopes)" in r.message, r.message


def test_a_named_differences_method_finds_no_kink_where_f_is_smooth() -> None:
    """The gap between one-sided slopes is f'' h there, not a jump: a steep smooth f passes."""

    def f(x: Array) -> Any:
        return 1e6 * np.sum(x**2) + np.sum(x**3)

    x0 = np.array([0.0, 1e-3, -2.0])
    for method in ("richardson", "mpmath"):
        r = check_gradient(f, 2e6 * x0 + 3 * x0**2, x0, method=method)
        assert r.ok and not r.note and np.all(np.isfinite(r.oracle_error)), (method, r.note)


# ---- far from the origin: the jitter's drift is no kink (held-out skeptic, stop 33) ------------


@MEDIUM
@given(
    c=st.one_of(floats(1e2, 1e6), floats(1e6, 1e8)),
    d=floats(1e-6, 1.0),
    n=st.integers(1, 4),
    s=floats(0.5, 1e3),
    off=floats(1e-7, 1e-3),
)
def test_a_smooth_function_far_from_the_origin_is_no_kink(
    c: float, d: float, n: int, s: float, off: float
) -> None:
    """``s sum (x - c)^2 + sum sin(x - c)`` at ``x = c + d (1..n)``: an ulp ``u`` of ``|x| ~ c``
    moves a gradient of ``2 s d`` by ``2 s u``, far beyond eps of it, linearly in the jitter
    (``sin`` adds curvature: told over ``K u`` one way only, its drift at 1e8 was off by 500
    eps). It is not a kink (it was taken for one, ``auto`` failed the correct gradient as ``no oracle``, and every
    entry cost one-sided Richardson's 24 evaluations). It stays the error estimate (the size of
    rounding's effect on a program's derivative there), bounded by the drift: a claim wrong by
    more than 10 such estimates fails."""
    calls = [0]

    def f(x: Array) -> Any:
        calls[0] += 1
        return s * np.sum((x - c) ** 2) + np.sum(np.sin(x - c))

    x0 = c + d * np.arange(1.0, n + 1)
    grad = 2.0 * s * (x0 - c) + np.cos(x0 - c)
    for method in ("auto", "complex_step"):
        r = check_gradient(f, grad, x0, method=method)
        assert r.ok and r.method == "complex_step" and not r.note, (method, r.message, r.note)
    calls[0] = 0
    r = check_gradient(f, grad, x0, method="complex_step")
    assert calls[0] <= 5 * n + 1, calls[0]  # f(x0) validated; x0, an ulp either way, 2^10, 2^11
    drift = (2.0 * s + 1.0) * np.spacing(x0)
    rounding = 4.0 * np.finfo(float).eps * np.max(np.abs(grad))  # of D at x0 and one ulp off
    assert np.all(r.oracle_error <= drift + rounding), (r.oracle_error, drift)
    wrong = grad.copy()
    wrong[-1] += off * grad[-1] + 20.0 * drift[-1]
    assert not check_gradient(f, wrong, x0, method="complex_step")


def _check_a_kink_beside_curvature(c: float, s: float, method: str) -> None:
    """``relu(x - c) + s (x - c)^2`` at ``x = c``: ``relu'(0) = 0`` passes with complex step, 1
    fails."""

    def f(x: Array) -> Any:
        return np.sum(_relu(x - c)) + s * np.sum((x - c) ** 2)

    x0 = np.array([c])
    r = check_gradient(f, np.zeros(1), x0, method=method)
    assert r.ok and r.method == "complex_step", (r.message, r.note)
    assert not check_gradient(f, np.ones(1), x0, method=method)


@pytest.mark.parametrize("method", ["auto", "complex_step"])
@MEDIUM
@given(c=floats(1e2, 1e6), s=floats(1e3, 1e5))
def test_a_kink_beside_steep_curvature_far_from_the_origin(c: float, s: float, method: str) -> None:
    """``relu(x - c) + s (x - c)^2`` at its kink ``x = c``: complex step just off the kink has
    moved by ``2 s delta`` (``delta ~ 1e-12 c``), beyond one-sided Richardson's margin; it is
    extrapolated back to the kink before the comparison (without that, a correct ``relu'(0) = 0``
    failed as ``no oracle``). A wrong ``relu'(0) = 1`` still fails."""
    _check_a_kink_beside_curvature(c, s, method)


@MEDIUM
@given(
    x=arrays(
        np.float64,
        st.integers(1, 8),
        elements=st.one_of(
            st.sampled_from(
                [0.0, -0.0, 1.0, 2.0, -4.0, 1.0 - 2.0**-53, 2.0 - 2.0**-52, 1.7976931348623157e308]
            ),
            st.builds(  # odd ulps below a power of two
                lambda p, k, sign: sign * (2.0**p - (2 * k + 1) * 2.0 ** (p - 53)),
                st.integers(-1000, 1000),
                st.integers(0, 3000),
                st.sampled_from([-1.0, 1.0]),
            ),
            floats(-1e308, 1e308),
        ),
    )
)
def test_the_far_jitters_are_exactly_drift_scale_times_the_first(x: Array) -> None:
    """The drift is told from ``x + K u`` and ``x + 2K u`` (``K = DRIFT_SCALE``): exact only if
    both displacements are, so an entry that would pass a power of two (or the largest float)
    going up in magnitude goes toward 0 (held-out skeptic, stop 34: odd ulps below a power of two
    rounded, and a smooth entry near a minimum was taken for a kink)."""
    one, ahead, farther = gradcheck._jittered(x)
    u = one - x
    assert np.all(one != x) and np.all(np.isfinite(farther))
    assert np.array_equal(ahead - x, gradcheck.DRIFT_SCALE * u)
    assert np.array_equal(farther - x, 2.0 * gradcheck.DRIFT_SCALE * u)


@pytest.mark.parametrize("method", ["auto", "complex_step"])
@pytest.mark.parametrize(
    "row",
    [
        [1000000.0061392966, 1000000.0060277684, 999999.9823228142, 1000000.003470301],
        [999999.9982197498, 1000000.0063195715, 1000000.0125975516, 1000000.0179117551],
        [1000000.0079591342, 999999.994098506, 1000000.0057991493, 1000000.0054234426],
    ],
)
def test_rounding_cells_of_a_cancelling_sum_are_no_kink(row: list[float], method: str) -> None:
    """The naive variance ``mean(x^2) - mean(x)^2`` on data at 1e6 (held-out skeptic, stop 34):
    its mean rounds to cells wider than two ulps of ``x``, so the jitter moves an entry in a
    step (1e-8 of the largest) that a changed step alone does not show, and one-sided
    differences, as noisy, split. Taken for a kink, its error estimate became 0 and the exact
    gradient failed (by 3e-8: complex step's own rounding). The rows are draws it failed."""
    x0 = np.array(row)
    mean = sum(Fraction(v) for v in row) / len(row)
    exact = np.array([float(2 * (Fraction(v) - mean) / len(row)) for v in row])

    def f(x: Array) -> Any:
        return np.mean(x**2) - np.mean(x) ** 2

    r = check_gradient(f, exact, x0, method=method)
    assert r.ok and r.method == "complex_step" and not r.note, (r.message, r.note)


@pytest.mark.parametrize("method", ["auto", "complex_step"])
@MEDIUM
@given(y=floats(-2.0, 2.0), a=away_from_zero(0.25, 2.0), at_zero=st.sampled_from([0.5, 1.0]))
def test_two_kinks_crossed_one_ulp_apart_with_equal_slopes(
    y: float, a: float, at_zero: float, method: str
) -> None:
    """``y + a relu(x) + 2a relu(x / 2)`` at ``x = 0``: half an ulp of 0 rounds to 0, so the
    jitter crosses the first relu at one ulp and the second at two, each adding ``a``. A second
    difference over one and two ulps saw a straight line, took the jump for drift, kept it as
    the error estimate, and a wrong ``relu'(0)`` passed under both methods (held-out skeptic,
    stop 34). The drift between 2^10 ulps either way divides the jumps by 2^11."""

    def f(w: Array) -> Any:
        return w[0] + a * _relu(w[1]) + 2.0 * a * _relu(0.5 * w[1])

    w0 = np.array([y, 0.0])
    assert check_gradient(f, np.array([1.0, 0.0]), w0, method=method)
    assert not check_gradient(f, np.array([1.0, 2.0 * a * at_zero]), w0, method=method)


@pytest.mark.parametrize("method", ["auto", "complex_step"])
@MEDIUM
@given(t=floats(0.5, 100.0), a=away_from_zero(0.25, 2.0))
def test_a_second_threshold_one_ulp_above_a_kink(t: float, a: float, method: str) -> None:
    """``y + a relu(w - t) + a relu(w - t')`` at ``w = t``, ``t'`` the next float above ``t``
    (``w`` is jittered up): the same two equal steps, at one ulp and two."""
    t_next = float(np.nextafter(t, np.inf))

    def f(w: Array) -> Any:
        return w[0] + a * _relu(w[1] - t) + a * _relu(w[1] - t_next)

    w0 = np.array([0.3, t])
    assert gradcheck._signs(2)[1] > 0  # w is jittered up, across both thresholds
    assert check_gradient(f, np.array([1.0, 0.0]), w0, method=method)
    assert not check_gradient(f, np.array([1.0, a]), w0, method=method)
    assert not check_gradient(f, np.array([1.0, 2.0 * a]), w0, method=method)


@pytest.mark.parametrize("broken", [False, True])
def test_a_kink_the_jitter_leaves_beside_a_near_kink(
    broken: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A draw of the rows-of-zeros property (Hypothesis, stop 34): ``h.b[2]``'s relu inputs are 0
    on the rows of zeros and 7.4e-4 on row 4, within Richardson's steps. A jitter one way only
    moved ``h.b[2]`` down, off the kink's active side; one-sided differences, blurred by the
    near kink, saw no split; the cross-check disagreed, and auto failed the correct gradient
    with no oracle at the kinks. The jitter the other way crosses it."""
    net = Network.from_spec(SPEC)
    if broken:
        monkeypatch.setattr(activations.Relu, "derivative", _relu_derivative_one_at_zero)
    x = np.zeros((6, 3))
    x[4] = 0.25
    y = -np.ones((6, 2))
    y[4, 0] = 1.0
    params = net.init(seed=221, x=x)
    assert 0.0 < (x[4] @ params["h.W"])[2] < 1e-3 and np.all(params["h.b"] == 0.0)
    _check_relu_net(net, params, x, y, broken)


# ---- just below a power of two (held-out skeptic, stop 34) -------------------------------------


def _below_power_of_two(p: int, k: int) -> float:
    """``2^p`` less ``k`` of the ulps just below it."""
    return 2.0**p - k * np.spacing(2.0 ** (p - 1))


@pytest.mark.parametrize("method", ["auto", "complex_step"])
@MEDIUM
@given(
    p=st.integers(1, 24),
    k=st.integers(0, 500).map(lambda i: 2 * i + 1),
    n=st.integers(1, 6),
    d=st.integers(1, 1000),
)
def test_a_minimum_just_below_a_power_of_two(p: int, k: int, n: int, d: int, method: str) -> None:
    """``(w - c)^2 / 2`` with ``w`` an odd number of ulps below ``2^p``, ``c`` a few ulps lower:
    near the minimum the gradient is no larger than ``f''`` times an ulp. Steps that pass the
    power of two round to the coarser grid: Richardson's differences were centred half an ulp
    off, one-sided ones split by about the drift, a told drift was off by 1/2K of itself, and
    a smooth entry was taken for a kink (auto: no oracle; up to 1636 evaluations for 40)."""
    w = np.array([_below_power_of_two(p, k + 2 * j) for j in range(n)])
    c = w - d * np.spacing(w)

    def f(x: Array) -> Any:
        return 0.5 * np.sum((x - c) ** 2)

    r = check_gradient(f, w - c, w, method=method)
    assert r.ok and r.method == "complex_step" and not r.note, (r.message, r.note)


@pytest.mark.parametrize("method", ["auto", "complex_step"])
@MEDIUM
@given(p=st.integers(1, 24), k=st.integers(0, 500).map(lambda i: 2 * i + 1), s=floats(1e2, 1e5))
def test_a_kink_just_below_a_power_of_two(p: int, k: int, s: float, method: str) -> None:
    """``relu(x - c) + s (x - c)^2`` at its kink ``x = c`` just below ``2^p``: complex step just
    off it on the upper side steps past the power of two and rounds; it is extrapolated back
    along the step really taken."""
    _check_a_kink_beside_curvature(_below_power_of_two(p, k), s, method)


def test_kinks_near_the_point_leave_auto_a_right_oracle() -> None:
    """A held-out audit's relu net (dense, relu, an add skip from the input, dense; mse) on
    data along a curve through the origin: many relu inputs within 0.1 of their kink, the
    nearest 1.8e-5 from it. Richardson's first step (0.1) crosses them, so it disagreed with a
    right complex step on ``h2.b``, and ``auto``'s mpmath fallback, which ran the layers' numpy
    rules on mpf objects and could not, fell to that Richardson: a correct gradient failed at
    4.3e-02. The fallback now evaluates the spec at 50 digits (``impl.mp_network``)."""
    data = np.load(Path(__file__).parent / "data" / "relu_near_kinks.npz")
    spec = {
        "inputs": 6,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "h2", "op": "dense", "units": 6, "inputs": ["input"]},
            {"name": "b", "op": "relu", "inputs": ["h2"]},
            {"name": "s", "op": "add", "inputs": ["b", "input"]},
            {"name": "out", "op": "dense", "units": 1, "inputs": ["s"]},
        ],
    }
    params = {k.removeprefix("param:"): v for k, v in data.items() if k.startswith("param:")}
    result = check_network_gradient(Network.from_spec(spec), params, data["x"], data["y"])
    rows = {row.name: row for row in result}
    assert rows["h2.b"].result.method == "mpmath"
    assert "disagreed with Richardson" in rows["h2.b"].result.note
    assert result.ok, result.table()
