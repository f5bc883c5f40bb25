"""Every op's backward rule against a complex-step oracle, on Hypothesis-drawn shapes and values.

For a layer f and a random cotangent u, the scalar s(theta) = <u, f(theta)> has gradient
``backward(u)``; the complex step Im s(theta + i h e_j) / h (h = 1e-30) gives each entry exactly
to rounding, so a relative 1e-12 tolerance can only be met by a correct rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from descentcheck.impl.ops import factory
from descentcheck.properties.profiles import TEST_PROFILE, TEST_PROFILE_MEDIUM, hypothesis_settings
from descentcheck.registry import ops as registry

OPS = {op: factory(op) for op in registry.layer_names()}  # every registered op's layer factory

H = 1e-30
# values below ~1e-270 would underflow the complex step's imaginary part (h = 1e-30)
floats = st.floats(-3.0, 3.0, allow_nan=False).map(lambda v: v if abs(v) > 1e-200 else 0.0)
radii_floats = st.floats(0.05, 2.0)


def _complex_step_grads(layer, params, xs, u):
    """d<u, y>/d(each input entry and each param entry) by complex step."""

    def s(params_c, xs_c):
        y, _ = layer.forward(params_c, xs_c)
        return (u * y).sum()

    def cast(d):
        return {k: v.astype(np.complex128) for k, v in d.items()}

    g_in = []
    for i, x in enumerate(xs):
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            xc = [v.astype(np.complex128) for v in xs]
            xc[i][idx] += 1j * H
            g[idx] = s(cast(params), xc).imag / H
        g_in.append(g)
    g_par = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            pc = cast(params)
            pc[k][idx] += 1j * H
            g[idx] = s(pc, [x.astype(np.complex128) for x in xs]).imag / H
        g_par[k] = g
    return g_in, g_par


def _close(a, b, what, floor=1e-300):
    """Max error relative to the largest oracle entry; ``floor`` bounds the scale from below by
    the size a single summed term can have, so a sum that cancels to ~0 is judged by the
    rounding error of its terms, not by its own tiny size."""
    scale = max(np.max(np.abs(b), initial=0.0), floor, 1e-300)
    err = np.max(np.abs(a - b), initial=0.0) / scale
    assert err <= 1e-12, f"{what}: relative error {err:.3g}"


def _term_scale(params, xs, u):
    big = max([np.max(np.abs(v), initial=0.0) for v in [*params.values(), *xs]], default=0.0)
    return float(np.max(np.abs(u), initial=0.0)) * (1.0 + big) ** 2


@st.composite
def layer_case(draw, op):
    n = draw(st.integers(1, 4))
    d = draw(st.integers(1, 4))
    units = draw(st.integers(1, 4))
    node = {"units": units}
    if op in ("gaussian", "gaussian_logits"):
        node["radius"] = draw(st.sampled_from(["per_connection", "per_unit"]))
    if op == "add":
        k = draw(st.integers(2, 3))
        widths = (d,) * k
    elif op == "concat":
        widths = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    else:
        widths = (d,)
    layer = OPS[op]("L", tuple(f"p{i}" for i in range(len(widths))), widths, node)
    xs = [draw(arrays(np.float64, (n, w), elements=floats)) for w in widths]
    params = {}
    for p, shape in layer.param_shapes.items():
        elements = radii_floats if p == "radii" else floats
        params[layer.keys[p]] = draw(arrays(np.float64, shape, elements=elements))
    u = draw(arrays(np.float64, (n, layer.out_width), elements=floats))
    return layer, params, xs, u


def _op_test(op):
    @hypothesis_settings(TEST_PROFILE_MEDIUM)
    @given(layer_case(op))
    def test(case):
        layer, params, xs, u = case
        _y, cache = layer.forward(params, xs)
        g_in, g_par = layer.backward(params, cache, u)
        o_in, o_par = _complex_step_grads(layer, params, xs, u)
        floor = _term_scale(params, xs, u)
        for i, (a, b) in enumerate(zip(g_in, o_in)):
            _close(a, b, f"{op} d/dx{i}", floor)
        assert set(g_par) == set(layer.param_shapes)
        for p in g_par:
            _close(g_par[p], o_par[layer.keys[p]], f"{op} d/d{p}", floor)

    test.__name__ = f"test_backward_matches_complex_step_{op}"
    return test


for _op in OPS:
    globals()[f"test_backward_matches_complex_step_{_op}"] = _op_test(_op)


def test_oracle_catches_a_wrong_backward_rule():
    """The check above has teeth: a dense layer whose dW is off by 1e-9 relative fails it."""
    layer = OPS["dense"]("L", ("p0",), (3,), {"units": 2})
    rng = np.random.default_rng(0)
    params = {"L.W": rng.standard_normal((3, 2)), "L.b": rng.standard_normal(2)}
    xs = [rng.standard_normal((4, 3))]
    u = rng.standard_normal((4, 2))
    _y, cache = layer.forward(params, xs)
    _, g = layer.backward(params, cache, u)
    _, o = _complex_step_grads(layer, params, xs, u)
    bad = g["W"].copy()
    bad[1, 1] *= 1 + 1e-9
    _close(g["W"], o["L.W"], "correct")
    try:
        _close(bad, o["L.W"], "perturbed")
    except AssertionError:
        return
    raise AssertionError("a gradient off by 1e-9 relative passed the check")


@pytest.mark.parametrize("offset", [1e4, -3e5])
def test_the_matmul_path_shifts_by_the_centroids_mean(offset):
    """Data and centroids far from the origin but within 1 of each other: shifted by the
    centroids' mean, the expanded terms stay at the spread's scale and only pairs nearer
    than the guard allows go to the direct formula. A wrong shift (1.5 times the mid-range, a
    mutation survivor: the guard kept the values accurate by handing nearly every pair back)
    makes every term huge."""
    from descentcheck.impl.ops.gaussian import Gaussian

    layer = Gaussian("g", ["x"], [3], 4, False, logits=True)
    grid = np.linspace(-1.0, 1.0, 5)
    x = np.stack(np.meshgrid(grid, grid, grid), axis=-1).reshape(-1, 3) + offset
    c = np.array([[0.3, -0.2, 0.1], [-0.7, 0.5, 0.9], [0.0, 0.0, -0.4], [0.6, 0.6, 0.6]]) + offset
    _, cache = layer._z_matmul(x, c, np.ones((4, 3)))
    flagged = 0 if cache[-1] is None else len(cache[-1][0])  # the near pairs' rows
    assert flagged <= 0.1 * x.shape[0] * c.shape[0], flagged


def test_a_distance_layer_after_another_hands_back_only_its_centroids_rows():
    """A distance layer's outputs at its start are near exp(-1/2) but 1 on each centroid's own
    row: one outlier per input. Shifted by the mid-range, the terms of 3166 of the second
    layer's 8192 pairs exceeded 8 times their squared distance and went to the direct formula
    (129,094 of 131,072 at 256 units on 512 rows: a step 25 times as long); shifted by the
    mean, only the pairs of a centroid with its own data row (distance 0) go."""
    from descentcheck.impl.ops.gaussian import Gaussian

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 128))
    first = Gaussian("g", ["x"], [128], 128, False, logits=False)
    p = first.init(rng, [x])
    h, _ = first.forward({first.keys[k]: v for k, v in p.items()}, [x])
    second = Gaussian("g2", ["g"], [128], 128, False, logits=True)
    c, r = second.init(rng, [h]).values()
    _, cache = second._z_matmul(h, c, r)
    handed = np.column_stack(cache[-1])  # the near pairs (row, unit)
    at_own_row = [np.array_equal(h[n], c[j]) for n, j in handed]
    assert len(handed) >= 128 and all(at_own_row), (len(handed), sum(at_own_row))


@hypothesis_settings(TEST_PROFILE)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 9), st.integers(1, 6)), elements=st.floats(-9, 9)),
    st.lists(st.floats(-1e300, 1e300, allow_subnormal=True), min_size=1, max_size=6),
)
def test_the_shift_is_a_shared_coordinates_value_exactly(c, shared):
    """Where every centroid has the same value in an input, the shift is that value (so c' = 0
    exactly there; their mean may round off it: 0.1 three times sums to 0.30000000000000004);
    elsewhere their mean, or their mid-range where the mean's sum overflows (centroids near
    1.5e308 in a tight cluster, where the mid-range keeps x' small)."""
    from descentcheck.impl.ops.gaussian import _shift

    big = 1.5e308 + 1e298 * c  # a cluster whose sum passes float64's range from two rows on
    k = min(len(shared), c.shape[1])
    c[:, :k] = shared[:k]
    mu = _shift(c)
    assert np.array_equal(mu[:k], shared[:k])
    _within_an_ulp_of_the_range(c, mu)
    mu = _shift(big)
    assert np.all(np.isfinite(mu))
    _within_an_ulp_of_the_range(big, mu)


def _within_an_ulp_of_the_range(c: np.ndarray, mu: np.ndarray) -> None:
    """A mean's rounding may pass the largest value by an ulp; a shift far outside the
    centroids' range (the mutation survivor's 1.5 times the mid-range) may not."""
    lo = np.nextafter(c.min(axis=0), -np.inf)
    hi = np.nextafter(c.max(axis=0), np.inf)
    assert np.all((lo <= mu) & (mu <= hi)), (c, mu)


@pytest.mark.parametrize("n", [5, 6])
def test_distance_init_draws_distinct_rows_when_there_are_enough(n):
    """Centroids are data rows drawn without replacement whenever n >= units (n == units
    included: a mutation survivor drew with replacement there)."""
    layer = OPS["gaussian"]("g", ("input",), (2,), {"units": 5, "radius": "per_unit"})
    x = np.arange(2.0 * n).reshape(n, 2)
    c = layer.init(np.random.default_rng(0), [x])["centroids"]
    assert len({tuple(row) for row in c}) == 5
    assert all(any(np.array_equal(row, xr) for xr in x) for row in c)


def test_distance_layer_is_finite_for_large_inputs_and_at_the_centroid():
    layer = OPS["gaussian"]("g", ("input",), (2,), {"units": 2})
    params = {"g.centroids": np.array([[0.0, 0.0], [1.0, 1.0]]), "g.radii": np.ones((2, 2))}
    x = np.array([[0.0, 0.0], [1e150, -1e150], [1.0, 1.0]])
    y, cache = layer.forward(params, [x])
    assert np.all(np.isfinite(y))
    assert y[0, 0] == 1.0 and y[2, 1] == 1.0  # at the centroid: exp(0), no NaN from a sqrt
    assert y[1, 0] == 0.0
    gx, gp = layer.backward(params, cache, np.ones_like(y))
    assert np.all(np.isfinite(gx[0][[0, 2]]))
    assert np.all(gp["centroids"][:, :] == gp["centroids"])  # no NaN


def test_sigmoid_and_softplus_do_not_overflow():
    for op in ("sigmoid", "softplus"):
        layer = OPS[op]("a", ("input",), (1,), {})
        x = np.array([[-1000.0], [0.0], [1000.0]])
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y, cache = layer.forward({}, [x])
            (g,), _ = layer.backward({}, cache, np.ones_like(y))
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(g))
    sig = OPS["sigmoid"]("a", ("input",), (1,), {}).forward({}, [np.array([[-1000.0], [1000.0]])])
    assert sig[0][0, 0] == 0.0 and sig[0][1, 0] == 1.0


@hypothesis_settings(TEST_PROFILE)
@given(st.floats(-300.0, 300.0, allow_nan=False), st.sampled_from(["sigmoid", "tanh"]))
def test_saturated_activation_derivatives_keep_relative_accuracy(x, op):
    """y (1 - y) and 1 - y^2 lose every digit once y rounds to +-1; the trainer's forms do not."""
    import mpmath

    layer = OPS[op]("a", ("input",), (1,), {})
    y, cache = layer.forward({}, [np.array([[x]])])
    (g,), _ = layer.backward({}, cache, np.ones((1, 1)))
    with mpmath.workdps(60):
        t = mpmath.mpf(x)
        exact = mpmath.sech(t) ** 2 if op == "tanh" else mpmath.exp(-t) / (1 + mpmath.exp(-t)) ** 2
        if exact < mpmath.mpf(2) ** -1000:  # the true value underflows float64 anyway
            return
        rel = abs((mpmath.mpf(float(g[0, 0])) - exact) / exact)
    assert rel < 8 * 2.0**-52, (x, float(rel))


TANH_FORMS = ("layer", "_tanh_real", "_tanh_simd")


def _tanh_error_eps(x: float, form: str = "layer") -> float:
    """|tanh(x) as ``form`` computes it - tanh(x)| / |tanh(x)|, in eps, against mpmath: the
    Tanh layer (this machine's large-array form), or either large-array form itself."""
    import mpmath

    from descentcheck.impl.ops import activations as act

    row = np.full((1, act.TANH_EXP_MIN_SIZE), x)  # as large as the large-array forms start at
    if form == "layer":
        layer = OPS["tanh"]("a", ("input",), (act.TANH_EXP_MIN_SIZE,), {})
        y = layer.forward({}, [row])[0][0, -1]
    else:
        y = getattr(act, form)(row)[0][0, -1]
    with mpmath.workdps(40):
        exact = mpmath.tanh(mpmath.mpf(x))
        return 0.0 if exact == 0 else float(abs((mpmath.mpf(float(y)) - exact) / exact)) / 2.0**-52


TANH_POINTS = st.one_of(
    st.floats(-1.0, 1.0),
    st.floats(-40.0, 40.0),
    st.floats(0.49, 0.51),
    st.floats(allow_nan=False),
)


@hypothesis_settings(TEST_PROFILE)
@given(TANH_POINTS, st.sampled_from(TANH_FORMS))
def test_tanh_real_path_within_2_eps(x, form):
    """The real path (exp(-2|x|) form from |x| = 1/2, Cephes' rational below) measured 1.34 eps
    at worst over 7e6 points against extended precision; numpy's AVX-512 tanh (the SIMD form)
    0.79 eps over 45,000; the claims allow 4."""
    assert _tanh_error_eps(x, form) <= 2.0, (x, form)


def test_the_tanh_flag_reads_avx512_and_is_false_where_numpy_does_not_say(monkeypatch):
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as umath

    from descentcheck.impl.ops import activations as act
    from descentcheck.impl.ops import vector_math

    assert act.NUMPY_TANH_IS_SIMD is vector_math.NUMPY_IS_SIMD
    for features, want in (
        ({"AVX512_SKX": True}, True),
        ({"AVX512_SKX": False, "AVX2": True}, False),
    ):
        monkeypatch.setattr(umath, "__cpu_features__", features)
        assert vector_math._numpy_is_simd() is want
    monkeypatch.delattr(umath, "__cpu_features__")
    assert vector_math._numpy_is_simd() is False


def test_the_tanh_layer_takes_the_form_the_machine_flag_names(monkeypatch):
    """Large real x: ``_tanh_simd`` where numpy's tanh is a SIMD loop, ``_tanh_real`` elsewhere,
    bit for bit (value and the cached exp(-2|x|)); the flag is the CPU's AVX-512 (SKX)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__

    from descentcheck.impl.ops import activations as act

    assert act.NUMPY_TANH_IS_SIMD == bool(__cpu_features__.get("AVX512_SKX"))
    x = np.linspace(-30.0, 30.0, act.TANH_EXP_MIN_SIZE).reshape(64, -1)
    layer = OPS["tanh"]("a", ("input",), (x.shape[1],), {})
    for simd, form in ((True, act._tanh_simd), (False, act._tanh_real)):
        monkeypatch.setattr(act, "NUMPY_TANH_IS_SIMD", simd)
        y, (e,) = layer.forward({}, [x])
        want_y, want_e = form(x)
        assert np.array_equal(y, want_y) and np.array_equal(e, want_e), simd
        assert np.array_equal(act.tanh(x), want_y), simd
    assert not np.array_equal(act._tanh_simd(x)[0], act._tanh_real(x)[0])  # two forms indeed


@pytest.mark.parametrize("simd", [True, False])
def test_a_large_tanh_layers_slope_is_finite_far_out(monkeypatch, simd):
    """Both large forms cache ``exp(-2|x|)``; the slope ``4e / (1 + e)^2`` reads the same for
    ``e`` and ``1/e``, so a form caching ``exp(+2|x|)`` passed every O(1) input (a mutation
    survivor) while its ``exp`` overflows past |x| ~ 355 and the slope is NaN."""
    from descentcheck.impl.ops import activations as act

    monkeypatch.setattr(act, "NUMPY_TANH_IS_SIMD", simd)
    x = np.tile([400.0, -400.0, 1e300, -0.3, 0.3, 0.0, 30.0, -710.0], act.TANH_EXP_MIN_SIZE // 8)
    x = x.reshape(2, -1)
    layer = OPS["tanh"]("a", ("input",), (x.shape[1],), {})
    with np.errstate(over="raise", invalid="raise"):
        y, cache = layer.forward({}, [x])
        (slope,), _ = layer.backward({}, cache, np.ones_like(x))
    with np.errstate(over="ignore"):
        want = 1.0 / np.cosh(x) ** 2  # sech^2, 0 where cosh overflows (the true value underflows)
    assert np.all(np.isfinite(slope))
    np.testing.assert_allclose(slope, want, rtol=1e-15, atol=0.0)


@hypothesis_settings(TEST_PROFILE)
@given(
    arrays(
        np.float64,
        st.integers(1, 12),
        elements=st.one_of(st.floats(-40.0, 40.0), st.floats(allow_nan=True, allow_infinity=True)),
    )
)
def test_a_small_tanh_layers_slope_is_the_large_forms_bit_for_bit(x):
    """Below the large-array size, tanh's backward makes ``exp(-2|x|)`` from ``|x| * -2`` (three
    array calls): the bits of ``exp(-|x + x|)`` (-0.0, overflow to inf and NaN included), so a
    small layer's slope is the one the large forms' cached ``exp(-2|x|)`` gives."""
    from descentcheck.impl.ops import activations as act

    x = x.reshape(1, -1)
    layer = OPS["tanh"]("a", ("input",), (x.shape[1],), {})
    with np.errstate(over="ignore", invalid="ignore"):  # |x| near the largest float: 2|x| = inf
        _, cache = layer.forward({}, [x])
        assert cache is x  # the small path: backward recomputes the exp
        (slope,), _ = layer.backward({}, cache, np.ones_like(x))
        e, _ = act._exp_neg_abs(x + x)
        assert np.array_equal(slope, act._tanh_slope(e), equal_nan=True)
        assert np.array_equal(act._exp_neg_2abs(x), act._tanh_real(x)[1], equal_nan=True)


@hypothesis_settings(TEST_PROFILE)
@given(
    arrays(
        np.float64,
        st.integers(1, 12),
        elements=st.one_of(
            st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan]), st.floats(-800.0, 800.0)
        ),
    )
)
def test_a_small_sigmoid_layer_is_the_masked_form_bit_for_bit(x):
    """A small real sigmoid layer takes ``max(e, sign x) / (e + 1)``: the bits of
    ``where(x >= 0, 1, e) / (1 + e)`` (``_sigmoid_from`` with the mask, the chain numba's kernel
    follows for large arrays), at -0.0, inf and NaN too."""
    from descentcheck.impl.ops import activations as act

    x = x.reshape(1, -1)
    layer = OPS["sigmoid"]("a", ("input",), (x.shape[1],), {})
    with np.errstate(over="ignore", invalid="ignore"):
        y, e = layer.forward({}, [x])
        want_e, pos = act._exp_neg_abs(x)
        assert np.array_equal(e, want_e, equal_nan=True)
        assert np.array_equal(y, act._sigmoid_from(want_e, pos), equal_nan=True)


RELU_VALUES = st.one_of(
    st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 5e-324, -5e-324]),
    st.floats(-4.0, 4.0),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
)


@hypothesis_settings(TEST_PROFILE)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 70)), elements=RELU_VALUES),
    st.integers(0, 3),
    st.integers(1, 3),
)
def test_relus_fmax_form_is_the_masked_select_bit_for_bit(x, offset, step):
    """A real relu is ``fmax(x, 0) + 0``: the bits of ``where(x > 0, x, 0)`` (+0 for -0, NaN
    and every x not > 0), in numpy's SIMD blocks and their remainders (up to 70 columns, some
    arrays strided views); its flags are where's (none, NaNs included); a complex x takes the
    masked select, by its real part. The layer's forward and its derivative (``x > 0``) agree."""
    from descentcheck.impl.ops import activations as act

    v = x[:, offset::step]
    if not v.size:
        v = x
    with np.errstate(all="raise"):
        got = act.relu(v)
    want = np.where(v > 0, v, 0.0)
    assert np.array_equal(got.view(np.int64), want.view(np.int64)), (v, got)
    layer = OPS["relu"]("a", ("input",), (v.shape[1],), {})
    y, cache = layer.forward({}, [v])
    assert np.array_equal(y.view(np.int64), want.view(np.int64))
    (slope,), _ = layer.backward({}, cache, np.ones_like(v))
    assert np.array_equal(slope, (v > 0).astype(np.float64))
    z = v + 1j * np.ones_like(v)
    assert np.array_equal(act.relu(z), np.where(z.real > 0, z, 0.0), equal_nan=True)


@hypothesis_settings(TEST_PROFILE)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 70)), elements=RELU_VALUES))
def test_softplus_positive_part_is_the_masked_select_bit_for_bit(x):
    """softplus adds ``fmax(x, 0)`` for where's ``where(x >= 0, x, 0)``: the same bits (they
    differ only at x = -0, where log1p(1) absorbs the zero's sign); the layer's forward too. A
    complex step at Re x = 0 keeps the mask's branch: softplus'(0) = 1/2, not -1/2."""
    from descentcheck.impl.ops import activations as act

    with np.errstate(all="ignore"):
        e, pos = act._exp_neg_abs(x)
        want = np.log1p(e) + np.where(pos, x, 0.0)
        got = act.softplus(x)
        y, _ = OPS["softplus"]("a", ("input",), (x.shape[1],), {}).forward({}, [x])
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
    assert np.array_equal(y.view(np.int64), want.view(np.int64))
    step = act.softplus(np.array([0.0, -0.0]) + 1j * H).imag / H
    assert np.array_equal(step, [0.5, 0.5])


@pytest.mark.parametrize("special", [-0.0, 0.0, np.nan, -np.nan, -np.inf, -5e-324])
def test_relu_gives_plus_zero_in_numpys_simd_blocks_and_its_scalar_tail_alike(special):
    """numpy's fmax keeps -0 of ``fmax(-0, 0)`` in its scalar loop (an array's last ``n mod 8``
    entries here) and +0 in its SIMD blocks: every length 1-40 at three alignments, so each
    entry of a block and of a tail is tried; relu's + 0 makes both +0 (a drawn array rarely puts
    a -0 in the tail)."""
    from descentcheck.impl.ops import activations as act

    for n in range(1, 41):
        for offset in range(3):
            v = np.full(n + offset, special)[offset:]
            got = act.relu(v)
            assert got.tobytes() == np.zeros(n).tobytes(), (special, n, offset, got)


def test_tanh_accuracy_test_catches_the_exp_form_near_zero(monkeypatch):
    """(1 - e) / (1 + e) cancels for small |x|: using it everywhere fails the test. numpy's
    chain is the one planted in (numba's kernel compiled its threshold in, and gives the chain's
    bits: tests/test_fused.py)."""
    import descentcheck.impl.ops.activations as act
    from descentcheck.impl.ops import fused

    monkeypatch.setattr(act, "_TANH_SMALL", 0.0)
    monkeypatch.setenv(fused.ENV, "numpy")
    fused.provider.cache_clear()
    # the same search, derandomized and on the planted form only: the random one (a third of
    # its draws on this form) missed the plant once in a full run
    body = test_tanh_real_path_within_2_eps.hypothesis.inner_test
    search = hypothesis_settings(TEST_PROFILE, derandomize=True, database=None)(
        given(TANH_POINTS, st.just("_tanh_real"))(body)
    )
    try:
        with pytest.raises(AssertionError):
            search()
    finally:
        monkeypatch.undo()
        fused.provider.cache_clear()


@hypothesis_settings(TEST_PROFILE)
@given(st.integers(1, 30), st.integers(1, 6), st.integers(1, 4), st.data())
def test_the_near_pairs_group_sums_add_each_groups_rows_in_order(p, groups, width, data):
    """``gaussian._in_order`` by numpy's ``add.at`` and by rounds of distinct scatters (a
    device's way, and numpy's where groups are long): the same bits, each group's rows added
    one by one in order from -0, signed zeros, infinities and NaN included (NaN's payload
    aside)."""
    from descentcheck.impl.ops.gaussian import _in_order

    values = st.one_of(
        st.floats(-1e3, 1e3), st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308])
    )
    v = data.draw(arrays(np.float64, (p, width), elements=values))
    drawn = data.draw(st.lists(st.integers(0, groups - 1), min_size=p, max_size=p))
    keys, at = np.unique(drawn, return_inverse=True)  # every group has a row, as the callers'
    groups = len(keys)
    event(f"a group of several rows: {groups < p}")
    want = np.full((groups, width), -0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(p):
            want[at[k]] = want[at[k]] + v[k]
        got = [_in_order(v, at, groups, add_at=how) for how in (True, False, None)]
    nan = np.isnan(want)  # which NaN's payload survives two NaNs is the CPU's, not the order's
    for g in got:
        assert np.array_equal(np.isnan(g), nan), (g, want)
        assert np.array_equal(g[~nan].view(np.int64), want[~nan].view(np.int64)), (g, want)
