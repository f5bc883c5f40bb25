"""impl/ops/blas: which BLAS a large product takes, and that MKL's ``dgemm`` (the ``mkl`` extra,
chosen on Intel CPUs) gives numpy's product to rounding, in every memory layout the layers pass,
the same bits at every alignment, and a network's gradient within rounding of numpy's path.
MKL's path is forced (``DESCENTCHECK_BLAS=mkl``) so that these run on any CPU where the extra is
installed (tox's default env installs it)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentcheck.impl import threads
from descentcheck.impl.errors import BackendError
from descentcheck.impl.network import Network
from descentcheck.impl.ops import blas, dense, gaussian, mkl_runtime
from descentcheck.properties.profiles import TEST_PROFILE, hypothesis_settings

U = 2.0**-53
ETA = 2.0**-1074  # the least positive subnormal
# MKL's runtime comes with the mkl extra (tox's default env installs it); where it is loaded, it
# must be in CNR mode (vector_math sets it before its first exp): asserted, not skipped
needs_mkl = pytest.mark.skipif(
    mkl_runtime.runtime() is None,
    reason="MKL's runtime library (the mkl extra: mkl-service, mkl) is not installed",
)


@pytest.fixture
def fresh(monkeypatch):
    """The provider chosen anew in the test (and again after it)."""
    monkeypatch.delenv(blas.ENV, raising=False)
    blas.provider.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    blas.provider.cache_clear()


@pytest.fixture
def mkl(fresh):
    """MKL's products asked for (the tests taking it are marked ``needs_mkl``)."""
    fresh.setenv(blas.ENV, "mkl")
    assert blas.provider() == "mkl"
    return fresh


def test_amd_and_unknown_cpus_keep_numpys_products(fresh):
    for vendor in ("AuthenticAMD", ""):
        fresh.setattr(blas, "cpu_vendor", lambda v=vendor: v)
        blas.provider.cache_clear()
        assert blas.provider() == "numpy"
        assert not blas._may_take_mkl()


def test_intel_cpus_take_mkls_products_where_the_extra_is_installed(fresh):
    fresh.setattr(blas, "cpu_vendor", lambda: "GenuineIntel")
    if mkl_runtime.runtime() is None:
        assert blas.provider() == "numpy"
    else:
        assert blas.provider() == "mkl"
        assert blas._may_take_mkl()
    blas.provider.cache_clear()
    fresh.setenv(blas.ENV, "numpy")
    assert blas.provider() == "numpy"
    assert not blas._may_take_mkl()


def test_intel_without_the_extra_keeps_numpys_and_mkl_asked_for_is_one_line(fresh):
    fresh.setattr(blas, "cpu_vendor", lambda: "GenuineIntel")
    fresh.setattr(mkl_runtime, "runtime", lambda: None)
    assert blas.provider() == "numpy"
    blas.provider.cache_clear()
    fresh.setenv(blas.ENV, "mkl")
    with pytest.raises(BackendError) as e:
        blas.provider()
    assert str(e.value) == (
        "DESCENTCHECK_BLAS=mkl cannot be used: the mkl extra (mkl-service and MKL's runtime) is "
        "not installed"
    )


def test_without_reproducibility_mkl_is_not_used(fresh):
    """MKL that computed before CNR could be set might round a product differently run to run:
    numpy's products then, and ``mkl`` asked for says why."""
    loose = mkl_runtime.Runtime(None, "MKL", False, "MKL computed before descentcheck could ...")
    fresh.setattr(blas, "cpu_vendor", lambda: "GenuineIntel")
    fresh.setattr(mkl_runtime, "runtime", lambda: loose)
    assert blas.provider() == "numpy"
    blas.provider.cache_clear()
    fresh.setenv(blas.ENV, "mkl")
    with pytest.raises(BackendError, match="MKL computed before descentcheck could"):
        blas.provider()


def test_a_bad_setting_is_one_line_that_names_it(fresh):
    fresh.setenv(blas.ENV, "openblas")
    with pytest.raises(BackendError) as e:
        blas.provider()
    assert str(e.value) == "DESCENTCHECK_BLAS must be 'auto', 'numpy' or 'mkl', got 'openblas'"
    assert blas._may_take_mkl()  # bound to the dispatcher, whose first large product says it


def _bound_in_subprocess(env: dict[str, str]) -> str:
    code = (
        "from descentcheck.impl.ops import blas, dense, gaussian\n"
        "assert dense.matmul is gaussian.matmul is blas.matmul\n"
        "print(blas.matmul.__name__)"
    )
    full = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_the_layers_product_is_numpys_where_mkl_cannot_be_chosen():
    """Bound once at import: numpy's product itself where MKL cannot be chosen (no size test on
    a small DAG's products), the dispatcher where it can."""
    assert _bound_in_subprocess({blas.ENV: "numpy"}) == blas.numpy_matmul.__name__
    assert _bound_in_subprocess({blas.ENV: "mkl"}) == "_dispatching_matmul"


LAYOUTS = ("C", "F", "sliced", "strided", "windows")


def _laid_out(a: np.ndarray, layout: str) -> np.ndarray:
    """``a``'s values in another memory layout: C order, Fortran order (a transposed view), a
    view into a wider array (leading dimension above its width), every second column (no unit
    stride: numpy's business), or overlapping rows (``sliding_window_view``, row stride 8 bytes:
    no leading dimension MKL accepts) of a's first ``m + k - 1`` values."""
    m, k = a.shape
    if layout == "windows":
        return np.lib.stride_tricks.sliding_window_view(a.ravel()[: m + k - 1].copy(), k)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "sliced":
        wide = np.zeros((m, k + 3))
        wide[:, 1 : k + 1] = a
        return wide[:, 1 : k + 1]
    if layout == "strided":
        wide = np.zeros((m, 2 * k))
        wide[:, ::2] = a
        return wide[:, ::2]
    return np.ascontiguousarray(a)


FINITE = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def _operands(draw, elements=FINITE):
    m, k, n = (draw(st.integers(1, 40)) for _ in range(3))
    return draw(hnp.arrays(np.float64, (m, k), elements=elements)), draw(
        hnp.arrays(np.float64, (k, n), elements=elements)
    )


@needs_mkl
@pytest.mark.parametrize("layout_b", LAYOUTS)
@pytest.mark.parametrize("layout_a", LAYOUTS)
@hypothesis_settings(TEST_PROFILE)
@given(operands=_operands())
def test_mkls_product_is_numpys_to_rounding_in_every_layout(layout_a, layout_b, operands):
    """|MKL - numpy| <= 2 (gamma_k (|A| |B|) + k eta) entrywise (each within gamma_k = k u / (1 -
    k u) of the exact product, Higham 2002, eq. 3.13, plus underflow's k eta); a wrong transpose flag or leading dimension is off
    by the values' size. Without unit stride, or with overlapping rows, MKL declines (None) and
    numpy multiplies; every layout pair is tried (Hypothesis draws shapes and values)."""
    assert mkl_runtime.runtime().reproducible, mkl_runtime.runtime().why
    a, b = _laid_out(operands[0], layout_a), _laid_out(operands[1], layout_b)
    got = blas.mkl_product(a, b)
    exotic = {layout_a, layout_b} & {"strided", "windows"}
    if got is None:
        assert exotic
        return
    k = a.shape[1]
    gamma = k * U / (1 - k * U)
    # + k eta: a product that underflows rounds to a multiple of the least subnormal eta, not
    # relative to itself (Higham 2002, sec. 2.1); Hypothesis found MKL 3 eta, numpy 2 eta, for
    # 5e-324 * 1 + 5e-324 * 1.5
    bound = 2 * (gamma * (np.abs(a) @ np.abs(b)) + k * ETA)
    assert got.flags.c_contiguous and got.shape == (a.shape[0], b.shape[1])
    assert np.all(np.abs(got - a @ b) <= bound)


BLASABLE = ("C", "F", "sliced")  # unit stride along one axis: ``@`` hands these to BLAS


@pytest.mark.parametrize("layout_b", LAYOUTS)
@pytest.mark.parametrize("layout_a", LAYOUTS)
@hypothesis_settings(TEST_PROFILE)
@given(operands=_operands(st.floats()), gram=st.booleans(), complex_a=st.booleans())
def test_numpys_product_through_dot_is_matmuls_where_matmul_calls_blas(
    layout_a, layout_b, operands, gram, complex_a
):
    """``numpy_matmul`` (np.dot for 2-D float64 operands) and ``matmul_into`` give ``@``'s bits
    wherever ``@`` calls BLAS (NaN and inf included; a C- or Fortran-ordered array times its own
    transpose takes ``syrk`` in both), and ``@`` itself for a complex operand (np.dot takes
    another routine for one row there). Where ``@`` runs its own loop (an operand without unit
    stride) or ``syrk`` on a sliced array, np.dot multiplies a contiguous copy by ``gemm``: the
    same product to rounding, the bound of the MKL test above (where that bound is finite)."""
    a, b = _laid_out(operands[0], layout_a), _laid_out(operands[1], layout_b)
    if gram:
        b = a.T
    if complex_a:
        a = a + 1j * a[::-1]
    with np.errstate(all="ignore"):  # inf - inf, overflow: the values Hypothesis draws
        want = a @ b
        got = blas.numpy_matmul(a, b)
        out = np.empty_like(want)
        assert blas.matmul_into(a, b, out) is out
        assert got.dtype == want.dtype and np.array_equal(out, got, equal_nan=True)
        blas_both = {layout_a, layout_b} <= set(BLASABLE) and not (gram and layout_a == "sliced")
        if complex_a or blas_both:
            assert np.array_equal(got, want, equal_nan=True)
        else:  # where the bound itself is finite (no inf or NaN, no overflow in the sums)
            k = a.shape[1]
            bound = 2 * (k * U / (1 - k * U) * (np.abs(a) @ np.abs(b)) + k * ETA)
            held = (np.abs(got - want) <= bound) | (got == want) | ~np.isfinite(bound)
            assert np.all(held)


@hypothesis_settings(TEST_PROFILE)
@given(
    a=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=64),
        elements=st.floats(-1e6, 1e6, allow_subnormal=True),
    ),
    offsets=st.lists(st.integers(0, 7), min_size=2, max_size=4, unique=True),
)
def test_column_sums_are_the_sum_to_rounding_wherever_the_arrays_lie(a, offsets):
    """A dense layer's bias gradient: ``column_sums`` (ones @ a, one gemv) is ``add.reduce``'s
    sum within (n - 1) u of the sum of magnitudes, and gives the same bits with the array,
    the ones and the result at every 8-byte offset (the kernel's order follows the shape
    only). A column summed into its neighbour's place, or a row left out, fails it."""
    n, m = a.shape
    want = np.add.reduce(a, axis=0)
    bound = (n - 1) * U * np.add.reduce(np.abs(a), axis=0) + n * ETA
    results = []
    for k in offsets:
        raw = np.zeros(n * m + 8)
        moved = raw[k : k + n * m].reshape(n, m)
        moved[...] = a
        out = np.zeros(m + 8)[k : k + m]
        assert blas.column_sums(moved, out=out) is out
        results.append(out.copy())
    got = blas.column_sums(a)
    assert all(np.array_equal(r, got) for r in results)
    assert np.all(np.abs(got - want) <= 2 * bound)


@needs_mkl
def test_the_same_product_has_the_same_bits_at_every_alignment(mkl):
    """CNR on one thread: numpy aligns to 16 bytes, MKL's kernels to 64; the bits must not
    follow (documented for CNR mode, strict or not; checked here)."""
    assert mkl_runtime.runtime().reproducible
    lib = mkl_runtime.runtime().lib
    assert lib.MKL_CBWR_Get(mkl_runtime.CBWR_ALL) == mkl_runtime.CBWR_AUTO
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((257, 129)), rng.standard_normal((129, 131))

    def at(x: np.ndarray, offset: int) -> np.ndarray:
        raw = np.empty(x.nbytes + 128, np.uint8)
        start = (-raw.ctypes.data) % 64 + offset
        v = raw[start : start + x.nbytes].view(np.float64).reshape(x.shape)
        v[...] = x
        return v

    ref = blas.mkl_product(at(a, 0), at(b, 0))
    for oa in range(0, 64, 8):
        for ob in (0, 8, 40):
            assert np.array_equal(blas.mkl_product(at(a, oa), at(b, ob)), ref)


@needs_mkl
def test_mkl_runs_one_thread_and_restores_the_callers_setting(mkl):
    lib = mkl_runtime.runtime().lib
    before = lib.MKL_Set_Num_Threads_Local(3)
    try:
        a = np.ones((300, 300))
        assert np.array_equal(blas.mkl_product(a, a), np.full((300, 300), 300.0))
        assert lib.MKL_Set_Num_Threads_Local(3) == 3  # what the product found, it left
    finally:
        lib.MKL_Set_Num_Threads_Local(before)


LARGE_NET = {
    "inputs": 96,
    "nodes": [
        {"name": "h", "op": "dense", "units": 128, "inputs": ["input"]},
        {"name": "t", "op": "tanh", "inputs": ["h"]},
        {"name": "g", "op": "gaussian", "units": 64, "inputs": ["t"]},
        {"name": "k", "op": "gaussian_logits", "units": 48, "inputs": ["t"], "radius": "per_unit"},
        {"name": "c", "op": "concat", "inputs": ["g", "k", "t"]},
        {"name": "out", "op": "dense", "units": 3, "inputs": ["c"]},
    ],
    "output": "out",
    "loss": "mse",
}


def _problem():
    net = Network.from_spec(LARGE_NET)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(512, 96)), rng.normal(size=(512, 3))
    return net, net.init(seed=3, x=x), x, y


@needs_mkl
def test_a_network_on_mkls_products_agrees_with_numpys_to_rounding(mkl):
    """Every large product of a dense and both distance layers' forward and backward rules
    (their matmul path) takes MKL's dgemm inside ``one_blas_thread``, and the loss and every
    gradient entry stay within 1e-12 relative of numpy's path; outside it (a user's own call)
    and for the net's small products, numpy's."""
    calls = []

    def counting(a, b, out=None):
        calls.append(a.shape[0] * a.shape[1] * b.shape[1])
        return real(a, b, out)

    real = blas.mkl_product
    mkl.setattr(blas, "mkl_product", counting)
    for module in (dense, gaussian):
        mkl.setattr(module, "matmul", blas._dispatching_matmul)
    mkl.setattr(blas, "_MAY_TAKE_MKL", True)  # matmul_into's dispatch, bound at import too
    net, params, x, y = _problem()
    calls.clear()  # init with data computes inside one_blas_thread too
    net.loss_and_grad(params, x, y)
    assert calls == []
    with threads.one_blas_thread():
        assert threads.active()
        loss, grads = net.loss_and_grad(params, x, y)
        n_calls = len(calls)
        out = net.unflatten(np.full(net.size, np.nan))  # as the trainer hands its views over
        _, into = net.loss_and_grad(params, x, y, out=out)
    # h: x @ W and x.T @ gy (no input gradient); g: two products forward, four back; k (per
    # unit): one forward, two back (its x'^2 sums, gz.T @ q, a matrix-vector product: numpy's);
    # out (512 x 240 x 3) is small
    assert n_calls == 11 and min(calls) >= blas.MIN_WORK
    assert len(calls) == 22  # h's dE/dW written into its view by MKL too
    for key, g in grads.items():
        assert into[key] is out[key] and np.array_equal(into[key], g), key
    ref_loss, ref_grads = _numpys(net, params, x, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for key, g in ref_grads.items():
        scale = np.max(np.abs(g))
        assert np.max(np.abs(grads[key] - g)) <= 1e-12 * scale, key


def _numpys(net, params, x, y):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(blas.ENV, "numpy")
        blas.provider.cache_clear()
        try:
            with threads.one_blas_thread():
                return net.loss_and_grad(params, x, y)
        finally:
            blas.provider.cache_clear()


@needs_mkl
def test_complex_and_one_dimensional_products_stay_numpys(mkl):
    """The complex-step oracle's products and a per-unit layer's matrix-vector product."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((512, 64)) + 1e-20j * rng.standard_normal((512, 64))
    b = rng.standard_normal((64, 64))
    v = rng.standard_normal(64)
    with threads.one_blas_thread():
        assert np.array_equal(blas._dispatching_matmul(a, b), a @ b)
        real = a.real.copy()
        assert np.array_equal(blas._dispatching_matmul(real, v), real @ v)


# MKL's vector math computing first (a CPU without AVX-512, mkl_umath installed) must not leave
# the products without CNR: vector_math sets it before its first exp
VML_FIRST = """
import numpy as np
from descentcheck.impl.ops import blas, vector_math as vm
vm.NUMPY_IS_SIMD = False
assert vm.provider() == "mkl_umath", vm.provider()
vm.exp(np.zeros(1 << 16))
print(blas.provider())
"""


def test_mkls_exp_first_still_leaves_the_products_reproducible():
    pytest.importorskip("mkl_umath", reason="mkl_umath (the mkl extra) is not installed")
    env = {**os.environ, blas.ENV: "mkl"}
    env.pop("DESCENTCHECK_VECTOR_MATH", None)
    out = subprocess.run([sys.executable, "-c", VML_FIRST], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "mkl"


@needs_mkl
def test_mkl_keeps_numpys_infinities_and_nans(mkl):
    """A diverging run's inf and NaN reach the loss as numpy's products give them: inf * 0 is NaN
    (a BLAS that skipped zero entries, as the reference BLAS does, would hide it), NaN spreads."""
    a, b = np.ones((300, 300)), np.ones((300, 300))
    a[0, 0], b[0, :], a[1, 1] = np.inf, 0.0, np.nan
    a[2, 2], b[2, 5] = np.inf, 2.0
    with np.errstate(invalid="ignore"):
        got, ref = blas.mkl_product(a, b), a @ b
    assert np.array_equal(np.isnan(got), np.isnan(ref)) and np.isnan(got[0]).all()
    assert np.array_equal(np.isinf(got), np.isinf(ref)) and got[2, 5] == np.inf


class _FakeMkl:
    """A stand-in for libmkl_rt: MKL_CBWR_Get answers ``mode`` whatever was set (as MKL does
    after its first computation, when the mode can no longer change)."""

    def __init__(self, mode: int) -> None:
        self.mode = mode

    def MKL_Get_Version_String(self, buf, size) -> None:
        buf.value = b"fake MKL"

    def MKL_CBWR_Set(self, mode: int) -> int:
        return -3  # MKL_CBWR_ERR_MODE_CHANGE_FAILURE

    def MKL_CBWR_Get(self, which: int) -> int:
        return self.mode


@pytest.mark.parametrize(
    ("mode", "reproducible"),
    [
        (mkl_runtime.CBWR_AUTO, True),
        (mkl_runtime.CBWR_AUTO | mkl_runtime.CBWR_STRICT, True),  # MKL_CBWR=AUTO,STRICT first
        (1, False),  # MKL_CBWR_BRANCH_OFF: MKL computed first, without CNR
        (3, False),  # MKL_CBWR_COMPATIBLE: another branch, whose bits are not AUTO's
        (4 | mkl_runtime.CBWR_STRICT, False),  # another branch (SSE2), strict or not
    ],
)
def test_mkl_is_taken_in_cnrs_auto_branch_strict_or_not(monkeypatch, mode, reproducible):
    """Run-to-run reproducible on one thread: CNR's AUTO branch, with or without STRICT; any
    other mode (something computed with MKL before descentcheck could set it) is refused."""
    monkeypatch.setattr(mkl_runtime, "_load", lambda: _FakeMkl(mode))
    rt = mkl_runtime.runtime.__wrapped__()
    assert rt.reproducible is reproducible
    if reproducible:
        assert rt.why == ""
    else:
        assert "set MKL_CBWR=AUTO" in rt.why and f"mode {mode}" in rt.why
