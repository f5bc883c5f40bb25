"""Tests of the gradient checker: it catches a one-entry error of 1e-7, never false-alarms on
correct gradients, picks (and reports) an oracle that works, and checks whole networks.

Measured accuracy on these functions (smooth, O(1)-scaled, points drawn by Hypothesis): complex
step and mpmath agree with the exact derivative to rounding (~1e-16 of max|g|; their error
estimates ~1e-15 and ~1e-24), so the check resolves ``rtol = 1e-8``. Richardson's own error is
~1e-13 of max|g| and its estimate ~1e-12, 2-10x above the true error; since an entry may differ
by ``10 * oracle_err``, Richardson still resolves 1e-7 on every entry above ~1e-4 of the largest,
as ``test_one_entry_off_by_1e7_is_caught`` (entries above 1e-2 of the largest) and
``test_richardson_error_estimate_is_small_and_honest`` pin down.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from specs import relu_net

from descentcheck.impl.gradcheck import (
    GradCheckResult,
    check_gradient,
    check_network_gradient,
    format_table,
)
from descentcheck.impl.network import Network
from descentcheck.impl.ops import sigmoid, softplus
from descentcheck.properties.profiles import (
    TEST_PROFILE_EXACT,
    TEST_PROFILE_HEAVY,
    hypothesis_settings,
)

Array = np.ndarray
Case = tuple[Callable[[Array], Any], Callable[[Array], Array], Array]

FAST = hypothesis_settings(TEST_PROFILE_HEAVY)
SLOW = hypothesis_settings(TEST_PROFILE_EXACT)


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Bounded floats; magnitudes below 1e-100 become 0. Complex step's imaginary parts,
    ``h f'`` with ``h = 1e-30``, underflow for gradients below ~1e-280: a documented limit of
    the oracle, not what these tests are about."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(
        lambda v: v if abs(v) >= 1e-100 else 0.0
    )


def away_from_zero(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.one_of(floats(-hi, -lo), floats(lo, hi))


def _sin(x: Array) -> Array:
    """``sin`` that also runs on object arrays of mpmath.mpf, so the mpmath oracle applies."""
    return np.frompyfunc(mpmath.sin, 1, 1)(x) if x.dtype == object else np.sin(x)


# ---- a family of (f, grad, x0) cases, every number drawn ------------------------------------


@st.composite
def sin_regularised(draw: st.DrawFn, n: int = 50) -> Case:
    """f = sum sin(x_i) x_i^2 + lam/2 |x|^2."""
    x = draw(arrays(np.float64, n, elements=floats(-3.0, 3.0)))
    lam = draw(floats(0.0, 2.0))

    def f(x):
        return np.sum(_sin(x) * x**2) + 0.5 * lam * np.sum(x * x)

    def g(x):
        return np.cos(x) * x**2 + 2.0 * x * np.sin(x) + lam * x

    return f, g, x


@st.composite
def log_sum_exp(draw: st.DrawFn) -> Case:
    """f = log sum exp(x), shifted by max Re x so it neither overflows nor breaks complex step."""
    x = draw(arrays(np.float64, 20, elements=floats(-30.0, 30.0)))

    def f(x):
        m = x.real.max()
        return m + np.log(np.sum(np.exp(x - m)))

    def g(x):
        e = np.exp(x - x.max())
        return e / e.sum()

    return f, g, x


@st.composite
def product(draw: st.DrawFn) -> Case:
    """f = prod x_i; df/dx_i = prod_{j != i} x_j (prefix times suffix products, no division)."""
    x = draw(arrays(np.float64, 8, elements=away_from_zero(0.5, 2.0)))

    def g(x):
        pre = np.concatenate(([1.0], np.cumprod(x[:-1])))
        suf = np.concatenate((np.cumprod(x[::-1][:-1])[::-1], [1.0]))
        return pre * suf

    return np.prod, g, x


@st.composite
def logistic_regularised(draw: st.DrawFn) -> Case:
    """f(w) = 1/n sum softplus(-y_i X_i w) + lam/2 |w|^2, labels y in {-1, 1}."""
    X = draw(arrays(np.float64, (12, 5), elements=floats(-2.0, 2.0)))
    y = np.where(draw(arrays(np.bool_, 12)), 1.0, -1.0)
    w = draw(arrays(np.float64, 5, elements=floats(-2.0, 2.0)))
    lam = draw(floats(0.0, 1.0))

    def f(w):
        return np.mean(softplus(-y * (X @ w))) + 0.5 * lam * np.sum(w * w)

    def g(w):
        return -X.T @ (y * sigmoid(-y * (X @ w))) / len(y) + lam * w

    return f, g, w


@st.composite
def matrix_least_squares(draw: st.DrawFn) -> Case:
    """f(W) = 1/2 |A W - B|^2 + lam/2 |W|^2 over a (3, 4) matrix: multi-index positions."""
    A = draw(arrays(np.float64, (6, 3), elements=floats(-2.0, 2.0)))
    B = draw(arrays(np.float64, (6, 4), elements=floats(-2.0, 2.0)))
    W = draw(arrays(np.float64, (3, 4), elements=floats(-2.0, 2.0)))
    lam = draw(floats(0.0, 1.0))

    def f(W):
        r = A @ W - B
        return 0.5 * np.sum(r * r) + 0.5 * lam * np.sum(W * W)

    def g(W):
        return A.T @ (A @ W - B) + lam * W

    return f, g, W


CASES = {
    "sin_regularised": (sin_regularised(), True),
    "log_sum_exp": (log_sum_exp(), False),
    "product": (product(), True),
    "logistic_regularised": (logistic_regularised(), False),
    "matrix_least_squares": (matrix_least_squares(), True),
}


def _methods(mp_ok: bool) -> list[str]:
    return ["auto", "complex_step", "richardson", *(["mpmath"] if mp_ok else [])]


# ---- no false alarms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "method"),
    [(name, m) for name, (_, mp_ok) in CASES.items() for m in _methods(mp_ok)],
)
def test_correct_gradient_passes(case: str, method: str) -> None:
    strategy, _ = CASES[case]

    @FAST if method != "mpmath" else SLOW
    @given(strategy)
    def run(c: Case) -> None:
        f, g, x0 = c
        r = check_gradient(f, g, x0, method=method)
        assert r.ok, r.message
        assert bool(r)
        # auto may pass over complex step where its h = 1e-30 is not small, e.g. x ~ 1e-30
        if method == "auto":
            assert r.method in ("complex_step", "mpmath", "richardson")
        else:
            assert r.method == method
        assert r.message.startswith("gradient ok: ")
        assert r.numeric.shape == x0.shape == r.analytic.shape

    run()


# ---- one entry off by 1e-7 in 50 ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["complex_step", "richardson", "mpmath", "auto"])
@SLOW
@given(case=sin_regularised(), pick=st.integers(0, 49), sign=st.sampled_from([-1.0, 1.0]))
def test_one_entry_off_by_1e7_is_caught(case: Case, pick: int, sign: float, method: str) -> None:
    f, g, x0 = case
    a = g(x0)
    assume(np.abs(a).max() > 1e-3)  # at x0 = 0 the gradient vanishes: nothing to perturb
    # an entry below atol_rel * max|g| is compared against that floor, where 1e-7 of it is
    # rounding; the claim is about entries that carry the gradient
    big = np.flatnonzero(np.abs(a) >= 1e-2 * np.abs(a).max())
    k = int(big[pick % len(big)])
    bad = a.copy()
    bad[k] *= 1.0 + sign * 1e-7
    good = check_gradient(f, a, x0, method=method)
    assert good.ok, good.message
    r = check_gradient(f, bad, x0, method=method)
    assert not r.ok
    assert r.worst_index == (k,)
    assert r.message.startswith(f"gradient mismatch at index ({k},): analytic ")
    # the worst entry's error; max_rel_error may sit elsewhere, on an entry ~0 that passes
    # because Richardson's error allows it
    assert re.search(r"rel\. error (9\.\de-08|1\.\de-07) ", r.message), r.message


@FAST
@given(sin_regularised())
def test_richardson_error_estimate_is_small_and_honest(case: Case) -> None:
    """Richardson's own error: never below the true error, and at most 1e-10 of max|g|."""
    f, g, x0 = case
    exact = g(x0)
    r = check_gradient(f, exact, x0, method="richardson")
    size = np.abs(exact).max()
    # the analytic formula is itself off by rounding (~1e-15 of its terms)
    assert np.all(np.abs(r.numeric - exact) <= r.oracle_error + 1e-14 * size)
    if size > 1e-3:  # "relative to max|g|" means nothing where the gradient vanishes
        assert r.oracle_error.max() <= 1e-10 * size


def test_complex_step_is_exact_to_rounding() -> None:
    x0 = np.linspace(-2.0, 2.0, 9)
    r = check_gradient(lambda x: np.sum(np.exp(x) * np.cos(x)), np.zeros(9), x0)
    exact = np.exp(x0) * (np.cos(x0) - np.sin(x0))
    assert r.method == "complex_step"
    np.testing.assert_allclose(r.numeric, exact, rtol=0, atol=1e-15 * np.abs(exact).max())


# ---- choosing the oracle ----------------------------------------------------------------------


@FAST
@given(x0=arrays(np.float64, 6, elements=away_from_zero(0.5, 3.0)), c=floats(0.5, 2.0))
def test_auto_falls_back_to_richardson_when_abs_breaks_complex_step(x0: Array, c: float) -> None:
    """np.abs drops the imaginary part; np.sin rules out mpmath: Richardson must be used."""

    def f(x):
        return np.sum(np.sin(x)) + c * np.sum(np.abs(x))

    r = check_gradient(f, np.cos(x0) + c * np.sign(x0), x0)
    assert r.ok, r.message
    assert r.method == "richardson"
    assert "complex step disagreed with Richardson" in r.note
    # the claim complex step alone would have confirmed is caught
    wrong = check_gradient(f, np.cos(x0), x0)
    assert not wrong.ok
    assert wrong.method == "richardson"
    assert wrong.message.endswith(")") and "richardson" in wrong.message


@FAST
@given(
    offset=st.sampled_from([3e4, 1e6, -2.5e5]),
    x0=arrays(np.float64, 6, elements=away_from_zero(0.25, 1.0)),
)
def test_auto_keeps_complex_step_far_from_the_origin(offset: float, x0: Array) -> None:
    """A held-out review: at |x| = 3e4 Richardson's steps relative to |x| (the finest 17) could
    not resolve sin, agreed with themselves on a wrong value, and auto failed a correct gradient
    with Richardson. The cross-check now also tries absolute steps; a wrong claim still fails,
    and abs far out still breaks complex step."""
    x = x0 + offset
    ok = check_gradient(lambda v: np.sum(np.sin(v)), np.cos, x)
    assert ok.ok and ok.method == "complex_step", ok.message
    assert not check_gradient(lambda v: np.sum(np.sin(v)), lambda v: 1.001 * np.cos(v), x).ok

    def broken(v):
        return np.sum(np.sin(v)) + np.sum(np.abs(v - offset))

    r = check_gradient(broken, np.cos(x) + np.sign(x - offset), x)
    assert r.method != "complex_step" and "complex step disagreed" in r.note


def test_a_distance_layer_on_offset_data_passes_gradcheck() -> None:
    """The review's network: centroids are data rows near 1e4 (unstandardised features)."""
    spec = {
        "inputs": 2,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "g", "op": "gaussian", "units": 3, "inputs": ["input"]},
            {"name": "out", "op": "dense", "units": 1, "inputs": ["g"]},
        ],
    }
    net = Network.from_spec(spec)
    x = np.linspace(-1.0, 1.0, 40).reshape(20, 2) + 1e4
    y = np.sin(x[:, :1] - 1e4)
    result = check_network_gradient(net, net.init(seed=0, x=x), x, y)
    assert result.ok, result.table()
    assert {r.result.method for r in result} == {"complex_step"}


@FAST
@given(x0=arrays(np.float64, 6, elements=away_from_zero(0.5, 3.0)))
def test_auto_falls_back_to_mpmath_when_it_can(x0: Array) -> None:
    def f(x):
        return np.sum(x**2 + np.abs(x))

    r = check_gradient(f, 2.0 * x0 + np.sign(x0), x0)
    assert r.ok, r.message
    assert r.method == "mpmath"
    assert not check_gradient(f, 2.0 * x0, x0).ok


def test_named_method_that_cannot_run_raises() -> None:
    x0 = np.array([0.3, -1.2])
    with pytest.raises(ValueError, match="complex_step"):
        check_gradient(lambda x: float(np.sum(x)), np.ones(2), x0, method="complex_step")
    with pytest.raises(ValueError, match="mpmath"):
        check_gradient(lambda x: np.sum(np.sin(x)), np.cos(x0), x0, method="mpmath")


def test_named_complex_step_refuses_a_function_that_drops_the_imaginary_part() -> None:
    """``np.real`` inside f gives real values and an oracle of zeros: refused, not a pass of
    the claim 0 (a mutation survivor let it through)."""
    x0 = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="imaginary part was dropped"):
        check_gradient(lambda v: np.sum(np.real(v) ** 2), np.zeros(2), x0, method="complex_step")


def test_grad_scale_is_taken_and_checked() -> None:
    """``grad_scale`` replaces max|n| in the floor: a block whose gradient is rounding noise
    passes against the whole gradient's size and fails against its own."""
    x0 = np.array([0.3, -1.2])
    noise = np.array([1e-17, -1e-17])  # the claim; the true gradient of 1e-30 * |x|^2 is ~1e-30
    assert not check_gradient(lambda v: 1e-30 * np.sum(v * v), noise, x0).ok
    assert check_gradient(lambda v: 1e-30 * np.sum(v * v), noise, x0, grad_scale=1.0).ok
    with pytest.raises(ValueError, match="grad_scale must be finite and >= 0"):
        check_gradient(lambda v: np.sum(v * v), 2 * x0, x0, grad_scale=-1.0)


def test_a_one_element_array_is_a_scalar() -> None:
    x0 = np.array([0.3, -1.2])
    assert check_gradient(lambda v: np.array([np.sum(v**3)]), 3 * x0**2, x0).ok


def test_function_casting_to_float_is_not_complex_stepped() -> None:
    x0 = np.array([0.3, -1.2, 2.0])
    r = check_gradient(lambda x: np.sum(np.asarray(x, dtype=np.float64) ** 3), 3 * x0**2, x0)
    assert r.ok, r.message
    assert r.method == "richardson"
    assert "ComplexWarning" in r.note


# ---- reporting and input errors ---------------------------------------------------------------


def test_message_and_fields() -> None:
    x0 = np.arange(1.0, 7.0).reshape(2, 3)
    g = 2.0 * x0
    ok = check_gradient(lambda x: np.sum(x * x), g, x0)
    assert isinstance(ok, GradCheckResult)
    assert re.fullmatch(
        r"gradient ok: max rel\. error \S+ at index \(\d, \d\) \(complex_step\)", ok.message
    )
    bad = g.copy()
    bad[1, 2] *= 1 + 1e-6
    r = check_gradient(lambda x: np.sum(x * x), bad, x0)
    assert not r and r.worst_index == (1, 2)
    assert r.message == (
        f"gradient mismatch at index (1, 2): analytic {bad[1, 2]:.10e}, oracle "
        f"{1.2e1:.10e}, rel. error {r.max_rel_error:.1e} (complex_step)"
    )


def test_non_finite_entry_fails() -> None:
    x0 = np.array([1.0, 2.0, 3.0])
    claim = 2.0 * x0
    claim[1] = np.nan
    r = check_gradient(lambda x: np.sum(x * x), claim, x0)
    assert not r.ok and r.worst_index == (1,)
    assert r.max_rel_error == np.inf
    assert r.message.startswith("non-finite gradient entry at index (1,)")


def test_shape_mismatch_and_bad_arguments_raise() -> None:
    x0 = np.ones(4)
    with pytest.raises(ValueError, match=r"shape \(3,\), expected \(4,\)"):
        check_gradient(np.sum, np.ones(3), x0)
    with pytest.raises(ValueError, match="unknown method"):
        check_gradient(np.sum, np.ones(4), x0, method="forward")
    with pytest.raises(ValueError, match="named method"):
        check_gradient(np.sum, np.ones(4), x0, h=1e-3)
    with pytest.raises(ValueError, match="scalar"):
        check_gradient(lambda x: x, np.ones(4), x0)
    # a string compared with 0 was a TypeError naming neither argument
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0, got 'x'"):
        check_gradient(np.sum, np.ones(4), x0, rtol="x")
    # an infinite tolerance passed a gradient off by any amount: refused, as NaN is
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0, got inf"):
        check_gradient(np.sum, 1e9 * np.ones(4), x0, rtol=np.inf)
    with pytest.raises(ValueError, match="atol_rel must be a finite number >= 0, got nan"):
        check_gradient(np.sum, np.ones(4), x0, atol_rel=np.nan)
    with pytest.raises(ValueError, match="step h must be positive and finite, got '1e-3'"):
        check_gradient(np.sum, np.ones(4), x0, method="richardson", h="1e-3")
    with pytest.raises(ValueError, match="grad_scale must be finite and >= 0, got 'x'"):
        check_gradient(np.sum, np.ones(4), x0, grad_scale="x")
    with pytest.raises(ValueError, match="fun must be a callable scalar function, got NoneType"):
        check_gradient(None, np.ones(4), x0)  # it was "'NoneType' object is not callable"
    # a held-out audit's: "x0 contains NaN or inf", "gradient has shape ()", float()'s own
    # TypeError, and a complex x0 whose imaginary part was dropped with a warning, then passed
    with pytest.raises(ValueError, match="x0 must be real numbers .*, got None"):
        check_gradient(np.sum, np.ones(4), None)
    with pytest.raises(ValueError, match="x0 must be real numbers .*, got dtype complex128"):
        check_gradient(np.sum, np.ones(4), x0 + 1j)
    with pytest.raises(ValueError, match="grad must be the claimed gradient"):
        check_gradient(np.sum, None, x0)
    with pytest.raises(ValueError, match="fun must return a real number, got NoneType"):
        check_gradient(lambda x: None, np.ones(4), x0)


def test_grad_may_be_a_callable_and_x0_a_scalar() -> None:
    r = check_gradient(lambda x: x**3, lambda x: 3 * x**2, 1.5)
    assert r.ok and r.worst_index == ()


# ---- networks ---------------------------------------------------------------------------------

SPEC = {
    "inputs": 3,
    "output": "out",
    "loss": "softmax_cross_entropy",
    "nodes": [
        {"name": "h1", "op": "dense", "units": 5, "inputs": ["input"]},
        {"name": "a1", "op": "tanh", "inputs": ["h1"]},
        {"name": "h2", "op": "dense", "units": 5, "inputs": ["a1"]},
        {"name": "s", "op": "add", "inputs": ["h2", "a1"]},
        {"name": "g1", "op": "gaussian", "units": 4, "radius": "per_unit", "inputs": ["s"]},
        {"name": "g2", "op": "gaussian", "units": 4, "radius": "per_connection", "inputs": ["s"]},
        {"name": "m", "op": "add", "inputs": ["g1", "g2"]},
        {
            "name": "out",
            "op": "gaussian_logits",
            "units": 3,
            "radius": "per_connection",
            "inputs": ["m"],
        },
    ],
}
UPSTREAM_OF_G1 = {"h1.W", "h1.b", "h2.W", "h2.b"}


@pytest.fixture
def net() -> Network:
    return Network.from_spec(SPEC)


@st.composite
def net_data(draw: st.DrawFn) -> tuple[Array, Array, int]:
    x = draw(arrays(np.float64, (7, 3), elements=floats(-2.0, 2.0)))
    y = np.array(draw(st.lists(st.integers(0, 2), min_size=7, max_size=7)))
    return x, y, draw(st.integers(0, 2**31 - 1))


def test_network_gradient_ok_for_every_param(net: Network) -> None:
    @SLOW
    @given(net_data())
    def run(data: tuple[Array, Array, int]) -> None:
        x, y, seed = data
        params = net.init(seed=seed, x=x)
        r = check_network_gradient(net, params, x, y)
        assert r.ok, r.table()
        assert [row.name for row in r] == net.param_names
        assert {row.result.method for row in r} == {"complex_step"}

    run()


def _data(net: Network) -> tuple[dict[str, Array], Array, Array]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 3))
    return net.init(seed=3, x=x), x, rng.integers(0, 3, size=8)


def _layer(net: Network, name: str) -> Any:
    return next(layer for layer in net.layers if layer.name == name)


def test_broken_parameter_gradient_is_caught(net: Network, monkeypatch) -> None:
    params, x, y = _data(net)
    layer = _layer(net, "g1")
    backward = layer.backward

    def broken(params, cache, gy):
        gxs, gp = backward(params, cache, gy)
        radii = gp["radii"].copy()
        radii[2] *= 1 + 1e-6
        return gxs, {**gp, "radii": radii}

    monkeypatch.setattr(layer, "backward", broken)
    r = check_network_gradient(net, params, x, y)
    assert not r.ok
    assert [row.name for row in r if not row.ok] == ["g1.radii"]
    row = next(row for row in r if row.name == "g1.radii")
    assert row.result.worst_index == (2,)
    table = r.table()
    assert re.search(r"^g1\.radii\s+4\s+complex_step\s+\S+\s+\(2,\)\s+FAIL$", table, re.M)
    assert table == format_table(r.rows)


def test_a_nan_backprop_gradient_says_so_in_the_table(net: Network, monkeypatch) -> None:
    """A blind tester's L1 loss gave NaN gradients at a perfect fit, and the table said only
    ``max rel. error inf ... FAIL``: the row now says which side was not finite."""
    params, x, y = _data(net)
    layer = _layer(net, "g1")
    backward = layer.backward

    def nan_radii(params, cache, gy):
        gxs, gp = backward(params, cache, gy)
        return gxs, {**gp, "radii": np.full_like(gp["radii"], np.nan)}

    monkeypatch.setattr(layer, "backward", nan_radii)
    table = check_network_gradient(net, params, x, y).table()
    assert re.search(r"^g1\.radii\s.*\sFAIL \(backprop not finite\)$", table, re.M), table
    assert "OK (" not in table and table.count("not finite") == 1


def test_broken_input_gradient_is_caught_upstream(net: Network, monkeypatch) -> None:
    """dE/d(input) of g1 scaled by 1 + 1e-6: g1's own parameters stay right, those feeding it
    through the skip connection do not."""
    params, x, y = _data(net)
    layer = _layer(net, "g1")
    backward = layer.backward

    def broken(params, cache, gy):
        gxs, gp = backward(params, cache, gy)
        return [gxs[0] * (1 + 1e-6)], gp

    monkeypatch.setattr(layer, "backward", broken)
    r = check_network_gradient(net, params, x, y)
    failing = {row.name for row in r if not row.ok}
    assert failing and failing <= UPSTREAM_OF_G1


def test_network_richardson_agrees(net: Network) -> None:
    params, x, y = _data(net)
    r = check_network_gradient(net, params, x, y, method="richardson")
    assert r.ok, r.table()
    assert {row.result.method for row in r} == {"richardson"}


TANH_SKIP = {
    "inputs": 2,
    "output": "out",
    "loss": "mse",
    "nodes": [
        {"name": "h", "op": "dense", "units": 3, "inputs": ["input"]},
        {"name": "a", "op": "tanh", "inputs": ["h"]},
        {"name": "s", "op": "sigmoid", "inputs": ["a"]},
        {"name": "cat", "op": "concat", "inputs": ["s", "input"]},
        {"name": "g", "op": "gaussian", "units": 2, "inputs": ["cat"]},
        {"name": "skip", "op": "concat", "inputs": ["g", "a"]},
        {"name": "out", "op": "dense", "units": 1, "inputs": ["skip"]},
    ],
}


def test_the_mpmath_oracle_checks_a_network_with_tanh(monkeypatch) -> None:
    """The mpmath oracle differentiates theory's mpmath evaluation of the spec: the numpy rules
    (tanh from exp of a float array) cannot take mpf arrays, and the CLI crashed on them."""
    net = Network.from_spec(TANH_SKIP)
    x = np.linspace(-1, 1, 8).reshape(4, 2)
    y = np.linspace(0, 1, 4)
    params = net.init(seed=0, x=x)
    r = check_network_gradient(net, params, x, y, method="mpmath")
    assert r.ok, r.table()
    assert {row.result.method for row in r} == {"mpmath"}
    layer = _layer(net, "h")
    backward = layer.backward

    def broken(params, cache, gy):
        gxs, gp = backward(params, cache, gy)
        return gxs, {**gp, "b": gp["b"] * (1 + 1e-6)}

    monkeypatch.setattr(layer, "backward", broken)
    r = check_network_gradient(net, params, x, y, method="mpmath")
    assert [row.name for row in r if not row.ok] == ["h.b"], r.table()


def test_the_complex_step_judges_gradients_below_its_resolution_to_that_resolution() -> None:
    """Hypothesis found a net whose data (y ~ 2e-294) give a bias gradient of -2.06e-294, where
    ``h f'`` underflows and the complex step returned 0: a correct gradient failed. The
    oracle's error is now at least tiny / h (2.2e-278); a gradient above that is still judged
    to rtol, so a wrong one there still fails."""
    tiny = np.finfo(np.float64).tiny

    def f(x: Array) -> Any:
        return (x[0] - 2.06e-294) ** 2 / 2

    x0 = np.array([0.0])
    r = check_gradient(f, np.array([-2.06e-294]), x0, method="complex_step")
    assert r.ok and r.numeric[0] == 0.0 and r.oracle_error[0] == tiny / 1e-30
    big = np.array([1e-250])  # above the resolution: judged as ever

    def g(x: Array) -> Any:
        return (x[0] - big[0]) ** 2 / 2

    assert check_gradient(g, -big, x0, method="complex_step").ok
    assert not check_gradient(g, -big * (1 + 1e-6), x0, method="complex_step").ok


def test_a_network_check_reports_its_progress_per_array() -> None:
    """A held-out new user waited minutes on digits_skip with no output: the CLI now shows a bar
    fed by this callback, one call per parameter array with its size."""
    net = Network.from_spec("sine_skip")
    x = np.linspace(-1.0, 1.0, 12)[:, None]
    y = np.sin(x)
    params = net.init(seed=0, x=x)
    seen: list[tuple[str, int]] = []
    check_network_gradient(net, params, x, y, progress=lambda name, n: seen.append((name, n)))
    assert seen == [(n, params[n].size) for n in net.param_names]


@pytest.mark.parametrize("scale", [1e25, 1e100])
def test_auto_keeps_the_complex_step_where_richardson_cannot_evaluate(scale) -> None:
    """A held-out audit: at x0 ~ 1e25 Richardson's steps vanish beside x0 and it returned NaN;
    auto took that for a disagreement, dropped the (exact) complex step and fell back to mpmath,
    whose error estimate exceeded the gradient, and a sign-flipped gradient passed. A cross-check
    that cannot be made is no disagreement: auto keeps the complex step, says it is unchecked."""
    x0 = np.linspace(-1.0, 1.0, 5) * scale

    def f(v: Array) -> Any:
        return np.sum(v**2)

    wrong = check_gradient(f, lambda v: -2 * v, x0)
    assert not wrong.ok and wrong.message.startswith("gradient mismatch"), wrong.message
    right = check_gradient(f, lambda v: 2 * v, x0)
    assert right.ok and right.method == "complex_step", right.message
    assert right.note.startswith("complex step not cross-checked"), right.note


def test_auto_passes_a_gradient_whose_differences_leave_the_domain() -> None:
    """-sum(log p) at p = [1e-3, 0.5]: Richardson steps below 0 (NaN), mpmath cannot run
    np.log; the correct gradient failed as "non-finite" under auto, and a wrong one still fails."""
    p0 = np.array([1e-3, 0.5])

    def f(p: Array) -> Any:
        return -np.sum(np.log(p))

    assert check_gradient(f, lambda p: -1 / p, p0).ok
    assert not check_gradient(f, lambda p: 1 / p, p0).ok


def test_the_network_check_is_exported_and_takes_a_spec() -> None:
    """A held-out audit: ``dc.check_network_gradient`` was an AttributeError, and a spec dict
    "'dict' object has no attribute 'check_params'"; now it is exported and takes what
    ``Network.from_spec`` takes, with the same table as for the network."""
    import descentcheck as dc

    net = Network.from_spec("sine_skip")
    x = np.linspace(-1.0, 1.0, 12).reshape(12, 1)
    y = np.sin(x)
    params = net.init(seed=0, x=x)
    by_name = dc.check_network_gradient("sine_skip", params, x, y)
    by_spec = dc.check_network_gradient(net.spec.raw, params, x, y)
    assert by_name.ok and by_spec.ok
    assert by_name.table() == by_spec.table() == check_network_gradient(net, params, x, y).table()


def test_a_network_loss_that_overflows_is_one_line_without_warnings() -> None:
    """A held-out tester: weights of 1e200 printed five RuntimeWarnings and raised a plain
    ``ValueError``, where every other bad input is a ``DescentcheckError`` and the CLI says it
    in one line. Now the API raises that class, naming the loss, with no warning."""
    import warnings

    import descentcheck as dc

    net = Network.from_spec("sine_skip")
    x = np.linspace(-1.0, 1.0, 6).reshape(6, 1)
    huge = {k: v * 1e200 for k, v in net.init(seed=0, x=x).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning is a second message
        with pytest.raises(dc.DescentcheckError, match=r"^the loss is inf at these ") as caught:
            dc.check_network_gradient(net, huge, x, np.sin(x))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"method": "foo"}, "unknown method 'foo'"),
        ({"rtol": -1.0}, "rtol must be a finite number >= 0"),
        ({"rtol": float("inf")}, "rtol must be a finite number >= 0"),
    ],
)
def test_a_network_check_asked_wrongly_is_a_descentcheck_error(kw, says) -> None:
    """A held-out tester: ``check_network_gradient(method="foo")`` and a bad rtol raised a
    plain ``ValueError`` from ``check_gradient``, where its other bad inputs are a
    ``DescentcheckError``; both are now :class:`GradcheckError` (a ``ValueError`` still, as
    ``check_gradient`` documents)."""
    import descentcheck as dc

    net = Network.from_spec("sine_skip")
    x = np.linspace(-1.0, 1.0, 6).reshape(6, 1)
    with pytest.raises(dc.DescentcheckError, match=says) as caught:
        dc.check_network_gradient(net, net.init(seed=0, x=x), x, np.sin(x), **kw)
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)


def _sines(v: Array) -> Any:
    return np.sum(np.sin(v))


@pytest.mark.parametrize("method", ["auto", "richardson"])
def test_an_oracle_that_fails_leaves_a_right_gradient_undecided(method) -> None:
    """A held-out tester: at 1e16 (ulp 2) every difference step vanishes and Richardson's 0/0
    is NaN; the check said "non-finite gradient entry" of a right ``cos``, a FAIL. The oracle
    failed, not the gradient: undecided, naming the entry."""
    r = check_gradient(_sines, np.cos, np.array([1e16, 2.0]), method=method)
    assert not r.ok and r.undecided == "oracle failed at index (0,)", r.message
    assert r.message.startswith("undecided: the oracle failed at index (0,): analytic ")
    # a NaN claim is no oracle's failure: where the oracle failed too, it fails
    r = check_gradient(_sines, np.array([np.nan, np.cos(2.0)]), np.array([1e16, 2.0]))
    assert not r.ok and not r.undecided, r.message
    assert r.message.startswith("non-finite gradient entry at index (0,)"), r.message


def _half_power(v: Array) -> Any:
    """``v0^1.5 + sin(v1)``: NaN left of v0 = 0, where its derivative is 0."""
    with np.errstate(invalid="ignore"):
        return v[0] * np.sqrt(v[0]) + np.sin(v[1])


@pytest.mark.parametrize(
    ("claim", "says", "index"),
    [
        ([0.0, np.cos(2.0)], "undecided: the oracle failed", (0,)),
        ([0.0, np.nan], "non-finite gradient entry", (1,)),
        ([0.0, 1.0], "gradient mismatch", (1,)),
    ],
    ids=["right", "nan-elsewhere", "wrong-elsewhere"],
)
def test_a_failing_oracle_does_not_hide_a_wrong_gradient(claim, says, index) -> None:
    """Richardson's step left of 0 is NaN at entry 0. A right claim is undecided there; a NaN
    or wrong claim elsewhere still fails, and the entry named is the claim's (argmax picked the
    oracle's NaN, blaming a right entry)."""
    r = check_gradient(_half_power, np.array(claim), np.array([0.0, 2.0]), method="richardson")
    assert not r.ok and r.worst_index == index, r.message
    assert r.message.startswith(f"{says} at index {index}"), r.message
    assert bool(r.undecided) == says.startswith("undecided"), r.undecided


# ---- undecided: the oracle's own error, not the check, would decide ---------------------------

KINKED = relu_net(4)


def _kinked_bias_check(scale: float, method: str):
    """A relu net on data of size 1e-3: Richardson's fixed steps (0.1) cross the kinks, and its
    error estimate is 8e-3 of a 0.1 gradient (a held-out audit's case)."""
    net = Network.from_spec(KINKED)
    rng = np.random.default_rng(0)  # the audit's data, as it drew them
    x, y = net.check_data(rng.normal(size=(10, 2)) * 1e-3, rng.normal(size=10))
    p = net.init(seed=0, x=x)
    _, g = net.loss_and_grad(p, x, y)
    return check_gradient(
        lambda b: net.loss({**p, "h.b": b}, x, y),
        lambda b: g["h.b"] * scale,
        np.array(p["h.b"]),
        method=method,
    )


@pytest.mark.parametrize("scale", [1.0, 1.2])
def test_a_check_richardsons_error_would_decide_is_undecided(scale: float) -> None:
    """Named Richardson passed a gradient 20% off ("gradient ok: max rel. error 3.3e-01 ...
    (richardson, oracle error 8.4e-03)"): its own error estimate, not rtol, decided. Such a
    check is undecided, neither OK nor FAIL, for the right gradient and the wrong one alike;
    auto's complex step decides both."""
    r = _kinked_bias_check(scale, "richardson")
    assert not r.ok and r.undecided, r.message
    assert r.message.startswith("undecided at ") and "this oracle cannot tell" in r.message
    auto = _kinked_bias_check(scale, "auto")
    assert auto.ok is (scale == 1.0) and not auto.undecided, auto.message
