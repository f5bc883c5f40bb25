"""impl/ops/fused: numba's one-pass tails of large tanh and sigmoid layers give, bit for bit, what
the numpy chains they replace give (signed zeros, infinities, NaNs, subnormals and the tanh
form's 1/2 boundary included), for any inputs; a large layer and a whole network take them and
keep numpy's bits; small DAGs and the CLI never import numba; the setting is checked."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_vector_math import LARGE_NET

from descentcheck.impl.errors import BackendError
from descentcheck.impl.network import Network
from descentcheck.impl.ops import activations as act
from descentcheck.impl.ops import fused
from descentcheck.impl.ops import gaussian as gauss
from descentcheck.impl.ops import vector_math as vm
from descentcheck.properties.profiles import (
    TEST_PROFILE_MANY,
    TEST_PROFILE_SLOW,
    hypothesis_settings,
)

pytest.importorskip("numba", reason="numba (the numba extra; tox's default env installs it)")
# the drawn specials make numpy's chains warn (inf / inf, overflow of -2|x|): expected here
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")
K = fused._kernels()

HALF = np.nextafter(0.5, 0.0)
SPECIALS = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 0.5, -0.5, HALF, -HALF, 0.625, 5e-324]
SPECIALS += [-5e-324, 1e-300, 2.2250738585072014e-308, 19.0, -19.0, 400.0, -745.2, 1e308]
VALUES = st.one_of(
    st.sampled_from(SPECIALS),
    st.floats(-4.0, 4.0),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
)
SHAPES = hnp.array_shapes(min_dims=1, max_dims=2, max_side=24)
SETTINGS = hypothesis_settings(TEST_PROFILE_MANY)


def _pair(draw, shape=None):
    shape = draw(SHAPES) if shape is None else shape
    return draw(hnp.arrays(np.float64, shape, elements=VALUES)), shape


@st.composite
def two_arrays(draw):
    a, shape = _pair(draw)
    b, _ = _pair(draw, shape)
    return a, b


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    """Every entry's 64 bits equal (a NaN's sign and payload too)."""
    assert got.shape == want.shape and got.dtype == want.dtype == np.float64
    g, w = np.ascontiguousarray(got).view(np.int64), np.ascontiguousarray(want).view(np.int64)
    bad = np.flatnonzero(g.ravel() != w.ravel())
    assert not len(bad), f"{len(bad)} entries differ, first at {bad[0]}: {got.ravel()[bad[0]]!r}"


def _same_bits_but_nan_payloads(got: np.ndarray, want: np.ndarray) -> None:
    """Every entry's 64 bits equal, except that a NaN may be any NaN: where two NaNs meet (e and
    g in a slope times the gradient, v + dw), which one survives depends on the operand order of
    the machine instruction, and numpy's own choice changes with the position in the array (its
    scalar loop keeps dw's NaN in v + dw, its SIMD loop v's; found by Hypothesis at entry 8 of 9,
    the first after one SIMD block)."""
    nan = np.isnan(got)
    assert np.array_equal(nan, np.isnan(want)), "NaNs at other places"
    _same_bits(np.where(nan, 0.0, got), np.where(nan, 0.0, want))


def test_small_arrays_take_numpys_chain():
    """The references below call the chains on arrays under MIN_SIZE: that they stay numpy's."""
    assert fused.kernels(np.zeros(fused.MIN_SIZE - 1)) is None
    assert fused.kernels(np.zeros(fused.MIN_SIZE, np.complex128)) is None
    assert fused.kernels(np.zeros(fused.MIN_SIZE), np.zeros(3)) is None
    if fused.provider() == "numba":
        assert fused.kernels(np.zeros(fused.MIN_SIZE)) is K


@SETTINGS
@given(hnp.arrays(np.float64, SHAPES, elements=VALUES))
def test_tanh_from_is_the_one_exp_form_bit_for_bit(x):
    y, e = act._tanh_real(x)  # numpy's chain (a small array)
    _same_bits(fused.call(K.tanh_from, x, e), y)


@SETTINGS
@given(hnp.arrays(np.float64, SHAPES, elements=VALUES))
def test_the_exp_arguments_are_numpys_in_one_pass_bit_for_bit(x):
    """-|x| (sigmoid) and |x| * -2 (tanh), every bit, a NaN's sign and payload too."""
    e = np.abs(x)
    _same_bits(K.neg_abs(x), np.negative(e))
    _same_bits(K.neg_2abs(x), np.multiply(e, -2.0))


@SETTINGS
@given(two_arrays())
def test_tanh_grad_is_the_slope_times_the_gradient_bit_for_bit(eg):
    e, g = eg  # any e, not only exp(-2|x|): the two evaluate the same operations
    _same_bits_but_nan_payloads(K.tanh_grad(e, g), act.imul(act._tanh_slope(e.copy()), g))


@SETTINGS
@given(hnp.arrays(np.float64, SHAPES, elements=VALUES))
def test_sigmoid_from_is_numpys_sigmoid_bit_for_bit(x):
    e, pos = act._exp_neg_abs(x)
    _same_bits(fused.call(K.sigmoid_from, x, e.copy()), act._sigmoid_from(e, pos))


@SETTINGS
@given(two_arrays())
def test_sigmoid_grad_is_the_bell_times_the_gradient_bit_for_bit(eg):
    e, g = eg
    _same_bits_but_nan_payloads(K.sigmoid_grad(e, g), act.imul(act._bell(e), g))


@SETTINGS
@given(hnp.arrays(np.float64, SHAPES, elements=VALUES))
def test_relu_is_the_masked_select_bit_for_bit(x):
    """+0 for -0, NaN and every x not > 0; without the "invalid" flag that a compiled comparison
    of a NaN raises (numpy's comparison raises none)."""
    with np.errstate(all="raise"):
        got = fused.call(K.relu, x)
    _same_bits(got, np.where(x > 0, x, 0.0))


@SETTINGS
@given(two_arrays())
def test_relu_grad_is_the_mask_times_the_gradient_bit_for_bit(xg):
    """relu'(x) = 1 where x > 0, else 0 (at 0 too), times g: one factor is never a NaN, so
    every bit is the chain's, g's NaN payloads and ``0 * inf``'s NaN included."""
    x, g = xg
    _same_bits(fused.call(K.relu_grad, x, g), act.imul((x > 0).astype(np.float64), g))


def _layer_values(layer, x: np.ndarray, gy: np.ndarray) -> list[np.ndarray]:
    y, cache = layer.forward({}, [x])
    (gx,), _ = layer.backward({}, cache, gy)
    return [y, gx]


def _numpy_chains(monkeypatch) -> None:
    monkeypatch.setenv(fused.ENV, "numpy")
    fused.provider.cache_clear()


@SETTINGS
@given(
    hnp.arrays(np.float64, (8, 16), elements=VALUES),
    hnp.arrays(np.float64, (8, 16), elements=st.floats(-1e3, 1e3)),
    st.sampled_from(["tanh", "sigmoid", "relu"]),
    st.booleans(),
)
def test_a_large_layer_takes_the_kernels_and_keeps_numpys_bits(block, gblock, op, simd):
    """A drawn block tiled to 64 x 80 (over MIN_SIZE); tanh both ways a machine evaluates it
    (numpy's SIMD tanh, or the one-exp form), its backward fused either way."""
    x, gy = np.resize(block, (64, 80)), np.resize(gblock, (64, 80))
    cls = {"tanh": act.Tanh, "sigmoid": act.Sigmoid, "relu": act.Relu}[op]
    layer = cls("a", ["x"], [80], 80, {})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(act, "NUMPY_TANH_IS_SIMD", simd)
        mp.delenv(fused.ENV, raising=False)
        fused.provider.cache_clear()
        calls: list[str] = []
        for name in (
            "neg_abs",
            "neg_2abs",
            "tanh_from",
            "tanh_grad",
            "sigmoid_from",
            "sigmoid_grad",
            "relu",
            "relu_grad",
        ):
            kernel = getattr(K, name)
            mp.setattr(K, name, lambda *a, k=kernel, n=name: calls.append(n) or k(*a))
        got = _layer_values(layer, x, gy)
        _numpy_chains(mp)
        want = _layer_values(layer, x, gy)
        fused.provider.cache_clear()
    tanh = ["neg_2abs", "tanh_grad"] if simd else ["neg_2abs", "tanh_from", "tanh_grad"]
    sigmoid = ["neg_abs", "sigmoid_from", "sigmoid_grad"]
    assert calls == {"tanh": tanh, "sigmoid": sigmoid, "relu": ["relu", "relu_grad"]}[op]
    for g, w in zip(got, want, strict=True):
        _same_bits(g, w)


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(
    hnp.arrays(np.float64, (64, 16), elements=st.floats(-30.0, 30.0)),
    hnp.arrays(np.float64, (64, 3), elements=st.floats(-3.0, 3.0)),
    st.integers(0, 999),
)
def test_a_network_gives_the_same_loss_and_gradient_with_and_without_the_kernels(x, y, seed):
    """test_vector_math's net of large layers on 64 rows: its tanh and sigmoid are 64 x 80,
    over MIN_SIZE (inputs up to 30 saturate units too)."""
    net = Network.from_spec(LARGE_NET)
    params = net.init(seed=seed, x=x)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(fused.ENV, raising=False)
        fused.provider.cache_clear()
        assert fused.kernels(np.zeros((64, 80))) is K
        E1, g1 = net.loss_and_grad(params, x, y)
        _numpy_chains(mp)
        E2, g2 = net.loss_and_grad(params, x, y)
        fused.provider.cache_clear()
    assert E1 == E2
    for k in g1:
        _same_bits(g1[k], g2[k])


def test_the_setting_chooses_and_a_typo_is_refused(monkeypatch):
    try:
        monkeypatch.setenv(fused.ENV, "numpy")
        fused.provider.cache_clear()
        assert fused.provider() == "numpy" and fused.kernels(np.zeros(8192)) is None
        monkeypatch.setenv(fused.ENV, "Auto ")
        fused.provider.cache_clear()
        assert fused.provider() == "numba"
        monkeypatch.setitem(sys.modules, "numba", None)  # as where numba is not installed
        fused.provider.cache_clear()
        assert fused.provider() == "numpy"
        monkeypatch.setenv(fused.ENV, "fast")
        with pytest.raises(BackendError, match="^DESCENTCHECK_FUSED must be 'auto' or 'numpy', "):
            fused.setting()
    finally:
        monkeypatch.undo()
        fused.provider.cache_clear()


LAZY = """
import sys
import numpy as np
from descentcheck.cli import main
from descentcheck.impl.network import Network
net = Network.from_spec({"inputs": 3, "output": "a", "loss": "mse", "nodes": [
    {"name": "h", "op": "dense", "inputs": ["input"], "units": 4},
    {"name": "a", "op": "tanh", "inputs": ["h"]}]})
x = np.linspace(-2, 2, 30).reshape(10, 3)
net.loss_and_grad(net.init(seed=0, x=x), x, np.zeros((10, 4)))
print("numba" in sys.modules)
from descentcheck.impl.ops import activations
activations.Sigmoid("s", ["x"], [64], 64, {}).forward({}, [np.zeros((64, 64))])
print("numba" in sys.modules)
"""


def test_small_dags_and_the_cli_never_import_numba():
    env = {k: v for k, v in os.environ.items() if k != fused.ENV}
    r = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True"]


def test_kernels_that_cannot_load_leave_numpys_chains_with_one_warning(monkeypatch):
    """numba installed but unable to compile or cache here: the same bits, and a warning."""
    x = np.resize(np.linspace(-3.0, 3.0, 97), (64, 80))
    want = act.Tanh("a", ["x"], [80], 80, {}).forward({}, [x])[0]
    import descentcheck.impl.ops as ops

    monkeypatch.setitem(sys.modules, "descentcheck.impl.ops.fused_kernels", None)  # fails import
    monkeypatch.delattr(ops, "fused_kernels", raising=False)
    fused._kernels.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="^numba's kernels could not be loaded \\("):
            assert fused.kernels(x) is None
        got = act.Tanh("a", ["x"], [80], 80, {}).forward({}, [x])[0]
    finally:
        monkeypatch.undo()
        fused._kernels.cache_clear()
    _same_bits(got, want)
    assert fused.kernels(x) is K


# ---- the optimizers' one-pass steps (impl/optim: FlatOptimizer.step) ----------------------------


STEPS = {
    "gd": K.gd_step,
    "momentum": lambda g, buf, v, beta, neg_lr: K.momentum_step(g, buf, v, beta, neg_lr, False),
    "nesterov": lambda g, buf, v, beta, neg_lr: K.momentum_step(g, buf, v, beta, neg_lr, True),
}


def _numpy_step(name: str, g, buf, v, beta: float, lr: float):
    """The flat form's numpy update (``impl.optim``) and then ``v += dw``, on copies."""
    from descentcheck.impl.optim import get_optimizer

    g, v = g.copy(), v.copy()
    kw = {} if name == "gd" else {"momentum": beta}
    flat = get_optimizer(name, lr, **kw).flat(None)
    dw, buf, _ = flat.update(g, None if name == "gd" else buf.copy(), v)
    v += dw
    return dw, buf, v


@st.composite
def step_vectors(draw):
    """g, buf, v of one drawn length (specials included) and beta in (0, 1), lr > 0."""
    g, shape = _pair(draw, (draw(st.integers(1, 40), label="n"),))
    buf, _ = _pair(draw, shape)
    v, _ = _pair(draw, shape)
    beta = draw(st.floats(0.0, 1.0, exclude_min=True, exclude_max=True), label="beta")
    lr = draw(st.floats(1e-300, 1e3, exclude_min=True), label="lr")
    return g, buf, v, beta, lr


@SETTINGS
@given(st.sampled_from(sorted(STEPS)), step_vectors())
def test_an_optimizer_step_kernel_is_update_then_apply_bit_for_bit(name, vectors):
    """Each kernel's step dw (written into g), its buffer and v + dw equal numpy's flat update
    followed by ``v += dw`` in all 64 bits (a NaN's payload aside)."""
    g, buf, v, beta, lr = vectors
    want_dw, want_buf, want_v = _numpy_step(name, g, buf, v, beta, lr)
    g, buf, v = g.copy(), buf.copy(), v.copy()
    if name == "gd":
        STEPS[name](g, v, -lr)
    else:
        STEPS[name](g, buf, v, beta, -lr)
        _same_bits_but_nan_payloads(buf, want_buf)
    _same_bits_but_nan_payloads(g, want_dw)
    _same_bits_but_nan_payloads(v, want_v)


@SETTINGS
@given(st.sampled_from(sorted(STEPS)), step_vectors())
def test_a_large_flat_step_takes_the_kernel_once_a_layer_loaded_it(name, vectors):
    """Drawn vectors tiled to 5000 entries (over MIN_SIZE): ``FlatOptimizer.step`` calls its
    kernel when the kernels are loaded (from the second step: the first makes the buffer) and
    gives the bits of update-then-apply; where no large layer loaded them, it never loads numba
    for the optimizer's sake."""
    from descentcheck.impl.optim import get_optimizer

    g, buf, v, beta, lr = (np.resize(a, 5000) if isinstance(a, np.ndarray) else a for a in vectors)
    opt = get_optimizer(name, lr, **({} if name == "gd" else {"momentum": beta}))
    calls: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        kernel = "gd_step" if name == "gd" else "momentum_step"
        real = getattr(K, kernel)
        mp.setattr(K, kernel, lambda *a: calls.append(name) or real(*a))
        a, b = opt.flat(None), opt.flat(None)
        sa, sb = a.init(v), b.init(v)
        va, vb = v.copy(), v.copy()
        for gk in (g, buf):  # two steps
            dwa, sa, ca = a.step(gk.copy(), sa, va)
            dwb, sb, cb = b.update(gk.copy(), sb, vb)
            vb += dwb
            _same_bits_but_nan_payloads(dwa, dwb)
            _same_bits_but_nan_payloads(va, vb)
            assert ca == cb
        assert calls == [name] * (2 if name == "gd" else 1)
        mp.setattr(fused._kernels, "cache_info", lambda: type("I", (), {"currsize": 0})())
        assert fused.loaded_kernels(g, v) is None


# ---- the Gaussian layer's matmul evaluation (impl/ops/gaussian.py) --------------------------------


@st.composite
def same_shape(draw, count: int, shape=None):
    """``count`` drawn 2-D arrays of one shape (specials included)."""
    first, shape = _pair(draw, shape or draw(hnp.array_shapes(min_dims=2, max_dims=2, max_side=9)))
    return [first] + [_pair(draw, shape)[0] for _ in range(count - 1)]


def _column(draw, width: int) -> np.ndarray:
    return _pair(draw, (width,))[0]


@SETTINGS
@given(st.data())
def test_the_gaussian_shift_is_the_difference_and_its_square_bit_for_bit(data):
    (x,) = data.draw(same_shape(1))
    mu = _column(data.draw, x.shape[1])
    xs, xx = np.empty_like(x), np.empty_like(x)
    K.gaussian_shift(x, mu, xs, xx)
    want = x - mu
    _same_bits_but_nan_payloads(xs, want)
    _same_bits_but_nan_payloads(xx, want * want)


@SETTINGS
@given(st.data())
def test_the_gaussian_centring_is_its_three_numpy_calls_bit_for_bit(data):
    c, r = data.draw(same_shape(2))
    mu = _column(data.draw, c.shape[1])
    got = [np.empty_like(c) for _ in range(3)]
    K.gaussian_centre(c, mu, r, *got)
    cs, r2 = c - mu, r * r
    for g, w in zip(got, (cs, r2, r2 * cs), strict=True):
        _same_bits_but_nan_payloads(g, w)


@SETTINGS
@given(st.data())
def test_the_gaussian_excess_is_z_and_the_places_of_a_positive_e_bit_for_bit(data):
    """z = p - (th / 2 + s/2) bit for bit, and the flat places, in row order, where ``e = z *
    RHO + (th / 2 + s/2)`` (its two roundings, no fused multiply-add) is positive: numpy's
    chain's ``flatnonzero(e > 0)``; th left as it was."""
    p, th = data.draw(same_shape(2))
    s_half = _column(data.draw, p.shape[1])
    t = th * 0.5
    t += s_half
    z = p - t
    e = z * gauss.RHO
    e += t
    want = np.flatnonzero(e > 0.0)
    event(
        f"places with e > 0: {'none' if not len(want) else 'all' if len(want) == e.size else 'some'}"
    )
    got, th_given, at = p.copy(), th.copy(), np.full(p.size, -1, np.intp)
    count = K.gaussian_excess(got, th_given, s_half, at)
    _same_bits_but_nan_payloads(got, z)
    assert at[:count].tolist() == want.tolist()
    _same_bits(th_given, th)


@SETTINGS
@given(st.data())
def test_the_column_stats_are_numpys_maxima_minima_and_sums(data):
    """Each column's max and min (a NaN wins; which zero max keeps of -0 and +0 may differ) and
    numpy's ``add.reduce(c, axis=0)`` bit for bit (the rows added in order) for a C-ordered c of
    two columns or more (the shift's use; numpy sums one column pairwise: Hypothesis found 8
    equal rows of one column summed otherwise)."""
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12))
    (c,) = data.draw(same_shape(1, (shape[0], max(shape[1], 2))))
    hi, lo, s = np.empty((3, c.shape[1]))
    K.column_stats(c, hi, lo, s)
    with np.errstate(all="ignore"):
        want = np.add.reduce(c, axis=0)
    event(f"rows: {min(c.shape[0], 4)}{'+' if c.shape[0] > 4 else ''}")
    _same_bits_but_nan_payloads(s, want)
    assert np.array_equal(hi, c.max(axis=0), equal_nan=True)
    assert np.array_equal(lo, c.min(axis=0), equal_nan=True)


@SETTINGS
@given(st.data(), st.booleans(), st.sampled_from([(64, 72), (4096, 1)]), st.sampled_from("CF"))
def test_the_shift_is_the_same_with_and_without_the_kernels(data, shared, shape, order):
    """:func:`gauss._shift` of a layer's centroids (4096 entries or more: the kernels' size) has
    numpy's chain's bits, a column all centroids share (a zero of either sign too) included; and
    4096 units on one input, or column-ordered centroids, which numpy sums column by column
    pairwise (the kernel must not take them)."""
    block = data.draw(same_shape(1, (8, 8)))[0]
    # rows of drawn scales: columns of unlike sizes, whose sums depend on their order
    scale = data.draw(hnp.arrays(np.float64, 64, elements=st.floats(1e-3, 1e3)))
    c = np.resize(block, shape) * np.resize(scale, shape[0])[:, None]
    if shared:  # columns shared by every centroid: +0, -0, zeros of both signs, a drawn value
        width = shape[1]
        cols = data.draw(st.lists(st.integers(0, width - 1), min_size=1, max_size=6, unique=True))
        for j in cols:
            kind = data.draw(st.sampled_from(["zeros", "+0", "-0", "drawn"]))
            event(f"a shared column: {kind}")
            if kind == "zeros":
                signs = data.draw(hnp.arrays(np.bool_, shape[0]))
                signs[0] = not signs[-1]  # both zeros, in drawn places
                c[:, j] = np.where(signs, -0.0, 0.0)
            else:
                c[:, j] = {"+0": 0.0, "-0": -0.0, "drawn": float(block[0, 0])}[kind]
    c = np.asarray(c, order=order)
    event(f"centroids {shape[0]} x {shape[1]}, {order}-ordered")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(fused.ENV, raising=False)
        fused.provider.cache_clear()
        got = gauss._shift(c)
        _numpy_chains(mp)
        want = gauss._shift(c)
        fused.provider.cache_clear()
    _same_bits_but_nan_payloads(got, want)


@st.composite
def _near_pairs(draw, n: int, u: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (row, unit) pairs in row-major order, as the forward finds them; often many
    per unit and per row (the sums' rounds)."""
    cells = draw(st.lists(st.integers(0, n * u - 1), min_size=1, max_size=n * u, unique=True))
    return np.divmod(np.sort(np.array(cells, dtype=np.int64)), u)


@SETTINGS
@given(st.data(), st.integers(1, 12), st.integers(1, 5), st.integers(1, 9), st.booleans())
def test_the_near_pairs_sums_are_numpys_chain_and_in_the_pairs_order(data, n, u, d, per_unit):
    """``gaussian_near`` against the layer's numpy chain (``_near_sums`` on arrays too small for
    the kernels), bit for bit; and both against the sums written out, pair after pair from -0
    (the order the rounds of ``_in_order`` keep)."""
    x, c = _distinct(data.draw, (n, d)), _distinct(data.draw, (u, d))
    r2 = _distinct(data.draw, (u, 1 if per_unit else d))
    rows, cols = data.draw(_near_pairs(n, u))
    g = _distinct(data.draw, (len(rows),))
    near = gauss._near_sums(x, c, r2, (rows, cols), g)
    event(f"a unit with several near pairs: {len(near.units) < len(rows)}")
    event(f"a sample with several near pairs: {len(near.samples) < len(rows)}")
    got = K.gaussian_near(x, c, r2, rows, cols, g)
    assert np.array_equal(got[0], near.unit_at) and np.array_equal(got[1], near.sample_at)
    at, at_rows = near.unit_at[cols], near.sample_at[rows]
    got = got[2:]
    want = [np.full_like(a, -0.0) for a in got]
    with np.errstate(all="ignore"):
        for k, (i, j) in enumerate(zip(rows, cols, strict=True)):
            t = (x[i] - c[j]) * g[k]
            want[0][at[k]] += t
            want[1][at[k]] += t * (x[i] - c[j])
            want[2][at_rows[k]] += t * r2[j]
    assert near.units.tolist() == sorted(set(cols.tolist()))
    assert near.samples.tolist() == sorted(set(rows.tolist()))
    for chain, kernel, w in zip((near.gd, near.sq, near.gx), got, want, strict=True):
        _same_bits_but_nan_payloads(chain, w)
        _same_bits_but_nan_payloads(kernel, w)


@SETTINGS
@given(st.data())
def test_the_gaussian_gradients_are_the_sums_and_their_scaling_bit_for_bit(data):
    """``gaussian_grads`` is the numpy chain of the per-connection centroid and radius gradients
    (the two sums, the near pairs' sums added to the units that have them, then their scaling),
    into other arrays and in place into g1 and g2."""
    g1, g2, cs, r2, r = data.draw(same_shape(5))
    u, d = g1.shape
    s = _column(data.draw, u)
    units = np.array(sorted(data.draw(st.sets(st.integers(0, u - 1)))), dtype=np.int64)
    at = np.full(u, -1)
    at[units] = np.arange(len(units))
    ngd, nsq = _distinct(data.draw, (len(units), d)), _distinct(data.draw, (len(units), d))
    gd = g1 - cs * s[:, None]
    gsq = g2 - (g1 + gd) * cs
    gd[units] += ngd
    gsq[units] += nsq
    gc_want, gr_want = gd * r2, -(gsq * r)
    gc, gr = np.empty_like(g1), np.empty_like(g1)  # into other arrays, the inputs kept
    K.gaussian_grads(g1, g2, s, cs, r2, r, gc, gr, at, ngd, nsq)
    _same_bits_but_nan_payloads(gc, gc_want)
    _same_bits_but_nan_payloads(gr, gr_want)
    a, b = g1.copy(), g2.copy()
    K.gaussian_grads(a, b, s, cs, r2, r, a, b, at, ngd, nsq)  # in place
    _same_bits_but_nan_payloads(a, gc_want)
    _same_bits_but_nan_payloads(b, gr_want)


def _near_rows(draw, rows: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Some rows, each row's place among them or -1, and a drawn (len, d) array of their sums."""
    which = np.array(sorted(draw(st.sets(st.integers(0, rows - 1)))), dtype=np.int64)
    at = np.full(rows, -1)
    at[which] = np.arange(len(which))
    return which, at, _distinct(draw, (len(which), d))


@SETTINGS
@given(st.data())
def test_the_product_difference_bit_for_bit(data):
    gd, gsq, r = data.draw(same_shape(3))
    which, at, n = _near_rows(data.draw, *gd.shape)
    want = gd - gsq * r
    want[which] -= n
    got = gd.copy()
    K.subtract_product(got, gsq, r, at, n)
    _same_bits_but_nan_payloads(got, want)


ROW_WIDTHS = st.one_of(st.integers(1, 20), st.integers(120, 140), st.integers(250, 300))
"""Row widths for numpy's pairwise sum: one running sum (under 8), eight (8-128, with and
without a tail), and halves once (129-256) or twice (over 256)."""


def _distinct(draw, shape: tuple[int, ...]) -> np.ndarray:
    """Every entry drawn on its own (no fill value: a sum's order shows only where its terms
    differ), finite, but for one drawn special value at a drawn place, or none."""
    a = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e3, 1e3), fill=st.nothing()))
    if a.size and draw(st.booleans()):
        a[tuple(draw(st.integers(0, k - 1)) for k in shape)] = draw(st.sampled_from(SPECIALS))
    return a


@SETTINGS
@given(st.data(), ROW_WIDTHS, st.integers(1, 3))
def test_the_per_unit_shift_is_the_difference_and_numpys_row_sums_bit_for_bit(data, d, n):
    x, mu = _distinct(data.draw, (n, d)), _distinct(data.draw, (d,))
    xs, q = np.empty_like(x), np.empty(n)
    K.gaussian_shift_sums(x, mu, xs, q)
    want = x - mu
    _same_bits_but_nan_payloads(xs, want)
    _same_bits_but_nan_payloads(q, np.add.reduce(want * want, axis=1))
    a, v = _distinct(data.draw, (n, d)), _distinct(data.draw, (n,))
    which, at, near = _near_rows(data.draw, n, d)
    want = a - v[:, None] * xs
    want[which] -= near
    got = a.copy()
    K.subtract_row_product(got, v, xs, at, near)
    _same_bits_but_nan_payloads(got, want)


@SETTINGS
@given(st.data(), ROW_WIDTHS, st.integers(1, 4), st.booleans())
def test_the_pairs_direct_z_is_numpys_row_sums_bit_for_bit(data, d, k, per_unit):
    """The handed-back pairs' ``z``: each pair's terms ``r2 (x - c)^2`` summed as numpy sums a
    row, against the layer's numpy chain (``_pair_z`` on arrays too small for the kernels)."""
    x, c = _distinct(data.draw, (2, d)), _distinct(data.draw, (2, d))
    r = _distinct(data.draw, (2, 1 if per_unit else d))
    r2 = r * r
    pairs = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=k, max_size=k)
    rows, cols = np.array(data.draw(pairs), dtype=np.int64).reshape(k, 2).T.copy()
    got = np.empty(k)
    K.gaussian_pairs(x, c, r2, rows, cols, got)
    _same_bits_but_nan_payloads(got, gauss._pair_z(x, c, r2, rows, cols))


PAST_UNDERFLOW = st.one_of(
    st.floats(-700.0, 0.0),
    st.floats(-710.0, -690.0),  # around the stand-in's threshold and underflow's
    st.floats(-746.0, -700.0),  # subnormal results, and 0 from -745.13 on
    st.floats(-745.2, -744.9),  # the least subnormal and 0
    st.floats(-1e300, -746.0),  # 0
    st.sampled_from([-np.inf, np.nan, -746.0, -745.1332191019412, -708.3964185322641, -700.0]),
)


@SETTINGS
@given(
    st.lists(PAST_UNDERFLOW, min_size=1, max_size=40),
    st.sampled_from([(64, 64), (1, 4099), (64, 520), (129, 300)]),
)
def test_exp_past_underflow_gives_exps_bits(values, shape):
    """A distance layer's ``exp``: entries far past underflow take the kernels' pass (a stand-in
    through numpy's ``exp``, 0 below -746, numpy's ``exp`` on the rest alone), with the whole
    array's ``exp`` bits, NaN and -inf included; the kernels run wherever numpy's ``exp`` is its
    AVX-512 loop and an entry lies below the threshold."""
    x = np.resize(np.array(values), shape)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(fused.ENV, raising=False)
        fused.provider.cache_clear()
        calls: list[int] = []
        kernel = K.exp_stand_in
        mp.setattr(K, "exp_stand_in", lambda *a: calls.append(1) or kernel(*a))
        got = vm.exp_past_underflow(x)
        fused.provider.cache_clear()
    with np.errstate(under="ignore"):
        _same_bits(got, vm.exp(x))
    below = bool(np.any(x < vm.SLOW_BELOW))
    event(f"entries below the threshold: {below}")
    band = (x >= vm.ZERO_BELOW) & (x < vm.SLOW_BELOW)
    event(f"entries exp takes alone (in [-746, -700)): {bool(band.any())}")
    event(f"entries set to 0 (below -746): {bool(np.any(x < vm.ZERO_BELOW))}")
    assert bool(calls) == (below and vm.NUMPY_IS_SIMD and vm.provider() == "numpy")


GAUSS_KERNELS = (
    "column_stats",
    "gaussian_near",
    "gaussian_pairs",
    "gaussian_shift",
    "gaussian_shift_sums",
    "gaussian_centre",
    "gaussian_excess",
    "gaussian_grads",
    "subtract_product",
    "subtract_row_product",
)


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(
    hnp.arrays(np.float64, (8, 16), elements=st.floats(-4.0, 4.0)),
    hnp.arrays(np.float64, (8, 16), elements=st.floats(-1e3, 1e3)),
    st.one_of(  # a few centroids on data rows, or all
        st.lists(st.integers(0, 63), min_size=0, max_size=6, unique=True),
        st.just(list(range(64))),
    ),
    st.floats(0.05, 3.0),
    st.booleans(),
    st.booleans(),
)
def test_a_large_gaussian_layer_takes_the_kernels_and_keeps_numpys_bits(
    block, gblock, at_rows, scale, per_unit, logits
):
    """A 64 x 80 input (a drawn block tiled), 64 units (n units in = 327,680: the matmul
    evaluation), each radius kind, with and without exp; the drawn ``at_rows`` put centroids on
    data rows, whose pairs the direct formula takes (their z, and their sums in the backward).
    Forward and backward give numpy's bits, and each kernel the layer may take was called."""
    x = np.resize(block, (64, 80))
    gy = np.resize(gblock, (64, 64))
    layer = gauss.Gaussian("g", ["x"], [80], 64, per_unit, logits)
    c = np.resize(block[::-1] * 0.5, (64, 80))
    c[: len(at_rows)] = x[at_rows]
    r = np.full((64,) if per_unit else (64, 80), scale)
    params = {layer.keys["centroids"]: c, layer.keys["radii"]: r}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(fused.ENV, raising=False)
        fused.provider.cache_clear()
        calls: set[str] = set()
        for name in GAUSS_KERNELS:
            kernel = getattr(K, name)
            mp.setattr(K, name, lambda *a, k=kernel, n=name: calls.add(n) or k(*a))
        got = _gaussian_values(layer, params, x, gy)
        _numpy_chains(mp)
        want = _gaussian_values(layer, params, x, gy)
        fused.provider.cache_clear()
    # per-unit radii form no x'^2 array (only its row sums), so neither its shift nor its sums
    per_connection = {
        "gaussian_shift",
        "gaussian_centre",
        "gaussian_grads",
        "subtract_product",
    }
    per_unit_only = {"gaussian_shift_sums", "subtract_row_product"}
    near = layer.forward(params, [x])[1][0][-1] is not None  # some pair handed back
    event(f"near pairs: {near}")
    handed = {"gaussian_near", "gaussian_pairs"}
    skipped = (per_connection if per_unit else per_unit_only) | (set() if near else handed)
    assert calls == set(GAUSS_KERNELS) - skipped
    # a centroid on a data row is handed back when its terms r^2 (x'^2 + c'^2) are not all 0
    # (x' = x - mu, mu the layer's shift; an all-zero block gives e = 0, nothing to hand)
    mu = gauss._shift(c)
    if at_rows and np.any(np.abs(x[at_rows] - mu) > 1e-100):
        assert near, "a centroid on a data row is handed to the direct formula"
    for g, w in zip(got, want, strict=True):
        _same_bits(g, w)


def _gaussian_values(layer, params, x, gy) -> list[np.ndarray]:
    """Forward and backward; backward again into views of a NaN-filled flat vector (as the
    trainer hands them over): the same bits there, checked against the first."""
    y, cache = layer.forward(params, [x])
    (gx,), grads = layer.backward(params, cache, gy)
    flat = np.full(sum(a.size for a in params.values()) + 1, np.nan)
    at = np.cumsum([1] + [a.size for a in params.values()])  # offset 1: views off alignment
    out = {k: flat[a:b].reshape(v.shape) for (k, v), a, b in zip(params.items(), at, at[1:])}
    _, cache = layer.forward(params, [x])
    _, into = layer.backward(params, cache, gy, out=out)
    for p, g in grads.items():
        assert into[p] is out[layer.keys[p]]
        _same_bits(into[p], g)
    return [y, gx, grads["centroids"], grads["radii"]]


@SETTINGS
@given(st.data(), ROW_WIDTHS, st.integers(1, 3))
def test_the_row_reductions_are_numpys(data, k, n):
    """The row maxima's shift and argmax and the row sums of softmax cross-entropy, as numpy
    gives them: the sums bit for bit, the argmax exactly, the shift entry by entry but for the
    sign of a zero (``0 - 0`` where numpy's maximum of equal zeros is the other zero)."""
    if data.draw(st.booleans()):
        z = _distinct(data.draw, (n, k))
    else:  # ties, signed zeros, infinities and NaNs in one row
        few = st.sampled_from([0.0, -0.0, -1.0, 2.0, np.inf, -np.inf, np.nan])
        z = data.draw(hnp.arrays(np.float64, (n, k), elements=few))
    if data.draw(st.booleans()):  # a row of one value: all -0 sums to +0 in numpy
        z[data.draw(st.integers(0, n - 1))] = data.draw(st.sampled_from([-0.0, 0.0, np.nan]))
    got = np.empty_like(z)
    K.shift_by_row_max(z, got)
    want = z - z.max(axis=1, keepdims=True)
    assert np.array_equal(got, want, equal_nan=True)
    sums = np.empty(n)
    K.row_sums(z, sums)
    _same_bits_but_nan_payloads(sums, np.add.reduce(z, axis=1))  # a zero's sign too
    at = np.empty(n, np.intp)
    K.row_argmax(z, at)
    assert np.array_equal(at, z.argmax(axis=1))


@SETTINGS
@given(
    hnp.arrays(np.float64, (8, 10), elements=VALUES),
    st.lists(st.integers(0, 9), min_size=8, max_size=8),
    st.floats(0.0, 1.0),
    st.booleans(),
)
def test_softmax_cross_entropy_keeps_numpys_bits_with_the_kernels(block, labels, soft, confident):
    """512 rows of 10 logits (a drawn block tiled; ``confident`` shifts one logit a row by 8, so
    that the rows take the accurate form for a largest probability over 1/2), one-hot or soft
    targets: value and gradient with the row kernels are those of numpy's reductions, bit for bit
    (a zero's sign in the shifted logits never reaches them), and ``__call__`` is the value."""
    from descentcheck.impl.losses import SoftmaxCrossEntropy

    z = np.resize(block, (512, 10))
    if confident:
        z[np.arange(512), np.resize(labels, 512)] += 8.0
    y = np.eye(10)[np.resize(labels, 512)] * (1.0 - soft) + soft / 10.0
    loss = SoftmaxCrossEntropy()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(fused.ENV, raising=False)
        fused.provider.cache_clear()
        calls: set[str] = set()
        for name in ("shift_by_row_max", "row_sums", "row_argmax"):
            kernel = getattr(K, name)
            mp.setattr(K, name, lambda *a, k=kernel, n=name: calls.add(n) or k(*a))
        E1, g1 = loss.value_and_grad(z, y)
        value = loss(z, y)
        _numpy_chains(mp)
        E2, g2 = loss.value_and_grad(z, y)
        fused.provider.cache_clear()
    assert {"shift_by_row_max", "row_sums"} <= calls
    _same_bits_but_nan_payloads(np.array([E1, value]), np.array([E2, E2]))
    _same_bits_but_nan_payloads(g1, g2)
