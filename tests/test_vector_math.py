"""impl/ops/vector_math: which exp a large real array takes, and that MKL's (mkl_umath, the
``mkl`` extra) is as accurate as numpy's and leaves every layer's value and gradient within
rounding of numpy's path. The MKL tests force the choice a CPU without AVX-512 makes, so they
run on every machine where mkl_umath is installed (tox's default env installs it)."""

from __future__ import annotations

import contextlib
import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from descentcheck.impl.errors import BackendError
from descentcheck.impl.network import Network
from descentcheck.impl.ops import activations as act
from descentcheck.impl.ops import vector_math as vm
from descentcheck.properties.profiles import TEST_PROFILE, hypothesis_settings


def _choose_again() -> None:
    vm.provider.cache_clear()
    vm._large_exp.cache_clear()


@pytest.fixture
def fresh(monkeypatch):
    """The provider chosen anew in the test (and again after it, for the tests that follow)."""
    monkeypatch.delenv(vm.ENV, raising=False)
    _choose_again()
    yield monkeypatch
    monkeypatch.undo()
    _choose_again()


@contextlib.contextmanager
def _as_without_avx512():
    """This process as on a CPU without AVX-512 with mkl_umath installed: large arrays' exp is
    MKL's, and large tanh layers take the one-exp form (a context manager, not a fixture, so
    that a Hypothesis test enters it per example)."""
    mkl_umath = pytest.importorskip(
        "mkl_umath", reason="mkl_umath (the mkl extra) is not installed"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(vm.ENV, raising=False)
        mp.setattr(vm, "NUMPY_IS_SIMD", False)
        mp.setattr(act, "NUMPY_TANH_IS_SIMD", False)
        _choose_again()
        try:
            assert vm.provider() == "mkl_umath"
            yield mkl_umath
        finally:
            _choose_again()


@pytest.fixture
def mkl():
    with _as_without_avx512() as mkl_umath:
        yield mkl_umath


@contextlib.contextmanager
def _mkl_calls(mkl_umath):
    """The sizes of the arrays MKL's ``exp`` is called on, from here on (a spy: on an Intel CPU
    with AVX-512, MKL's ``exp`` and numpy's give the same bits, so bits cannot tell which ran;
    on AMD and AVX2 machines they differ in about one entry in 200)."""
    sizes: list[int] = []
    real = mkl_umath.exp

    def spy(x, out=None):
        sizes.append(np.size(x))
        return real(x, out=out)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mkl_umath, "exp", spy)
        vm._large_exp.cache_clear()  # the provider's exp wraps the spy
        try:
            yield sizes
        finally:
            vm._large_exp.cache_clear()


def test_provider_is_numpy_where_numpys_exp_is_simd_or_asked_for(fresh):
    fresh.setattr(vm, "NUMPY_IS_SIMD", True)
    assert vm.provider() == "numpy"
    _choose_again()
    fresh.setattr(vm, "NUMPY_IS_SIMD", False)
    fresh.setenv(vm.ENV, "numpy")
    assert vm.provider() == "numpy"
    assert vm._large_exp() is np.exp


def test_provider_is_numpy_without_mkl_umath(fresh):
    fresh.setattr(vm, "NUMPY_IS_SIMD", False)
    fresh.setitem(sys.modules, "mkl_umath", None)  # import fails as if not installed
    assert vm.provider() == "numpy"


def test_provider_is_numpy_without_mkl_service(fresh):
    """Without mkl-service MKL's vector math cannot be put on one thread: numpy's exp then."""
    pytest.importorskip("mkl_umath", reason="mkl_umath (the mkl extra) is not installed")
    fresh.setattr(vm, "NUMPY_IS_SIMD", False)
    fresh.setitem(sys.modules, "mkl", None)
    assert vm.provider() == "numpy"


# GNU OpenMP loaded before MKL's Intel OpenMP, as `import torch` first does; then the layers'
# in-place exp (e = exp(e, out=e)) and a large network's loss, on MKL's path against numpy's
GOMP_FIRST = """
import ctypes, ctypes.util, os, sys
ctypes.CDLL(ctypes.util.find_library("gomp"), mode=ctypes.RTLD_GLOBAL)
import numpy as np
sys.path.insert(0, sys.argv[1])
from descentcheck.impl.ops import activations as act, vector_math as vm
import test_vector_math as t

act.NUMPY_TANH_IS_SIMD = vm.NUMPY_IS_SIMD = False
assert vm.provider() == "mkl_umath", vm.provider()
x = -np.abs(np.random.default_rng(0).standard_normal(1 << 16))
e = x.copy()
e = vm.exp(e, out=e)
mkl_loss = t._loss_and_grad()[0]
os.environ[vm.ENV] = "numpy"  # numpy's exp, the same tanh form: only exp differs
t._choose_again()
print(float(np.max(np.abs(e - np.exp(x)))), mkl_loss, t._loss_and_grad()[0])
"""


@pytest.mark.skipif(
    not ctypes.util.find_library("gomp"),
    reason="no libgomp.so.1 on this machine to load before MKL's OpenMP",
)
@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="one CPU: MKL runs one thread, no race to show"
)
def test_mkls_exp_is_right_with_gnu_openmp_loaded_first():
    """MKL's threads, with libgomp's omp_get_thread_num, each took the whole array: in place, an
    entry could be exponentiated twice (an error of e - 1 at 0; a network's loss 1.79 instead of
    3.01). descentcheck calls MKL's exp on one thread (vector_math._on_one_thread)."""
    pytest.importorskip("mkl_umath", reason="mkl_umath (the mkl extra) is not installed")
    pytest.importorskip("mkl", reason="mkl-service (the mkl extra) is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    here = str(Path(__file__).resolve().parent)
    out = subprocess.run(
        [sys.executable, "-c", GOMP_FIRST, here], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    err, mkl_loss, numpy_loss = map(float, out.stdout.split())
    assert err <= 2.3e-16
    assert mkl_loss == pytest.approx(numpy_loss, rel=1e-12)


def test_a_bad_setting_is_one_line_that_names_it(fresh):
    fresh.setenv(vm.ENV, "fast")
    with pytest.raises(BackendError) as e:
        vm.provider()
    assert str(e.value) == "DESCENTCHECK_VECTOR_MATH must be 'auto' or 'numpy', got 'fast'"


def test_only_large_real_float64_numpy_arrays_take_mkls_exp(mkl):
    """MKL's exp on a large array, numpy's on one entry short of it, on float32 and on complex
    (the complex-step oracle): by a spy on MKL's calls, and bit for bit."""
    large = np.linspace(-30.0, 30.0, vm.MIN_SIZE)
    small = large[1:]
    with _mkl_calls(mkl) as sizes:
        assert np.array_equal(vm.exp(large), mkl.exp(large))
        assert sizes == [vm.MIN_SIZE, vm.MIN_SIZE]  # vm.exp's and the test's own
        assert np.array_equal(vm.exp(small), np.exp(small))
        as32 = large.astype(np.float32)
        assert np.array_equal(vm.exp(as32), np.exp(as32))
        z = large + 1e-20j
        assert np.array_equal(vm.exp(z), np.exp(z))
        assert len(sizes) == 2  # none of the three took MKL's
        out = np.empty_like(large)
        assert vm.exp(large, out=out) is out and np.array_equal(out, np.asarray(mkl.exp(large)))
        assert len(sizes) == 4


@hypothesis_settings(TEST_PROFILE)
@given(
    st.lists(
        st.one_of(
            st.floats(-745.2, 709.78),
            st.floats(-40.0, 40.0),
            st.floats(-1e-6, 1e-6),
            st.floats(700.0, 709.78),  # the largest results, below overflow
            st.floats(-745.2, -700.0),  # subnormal and underflowing results
        ),
        min_size=1,
        max_size=8,
    )
)
def test_mkls_exp_is_within_one_ulp_of_exp(xs):
    """VML's high-accuracy exp measured 0.52 ulp at worst; numpy's scalar libm exp is within 1
    ulp too. Judged at 40 digits, subnormal results by their absolute spacing."""
    import mpmath

    x = np.resize(np.asarray(xs, dtype=np.float64), vm.MIN_SIZE)
    with _as_without_avx512():
        y = vm.exp(x)
    with mpmath.workdps(40):
        for xi, yi in zip(xs, y, strict=False):
            exact = mpmath.exp(mpmath.mpf(xi))
            ulp = np.spacing(np.float64(float(exact)))
            assert abs(mpmath.mpf(float(yi)) - exact) <= ulp, (xi, float(yi))


def test_mkls_exp_keeps_numpys_special_values(mkl):
    x = np.resize([-np.inf, np.inf, np.nan, 709.79, -740.0, -746.0, 0.0, -0.0], vm.MIN_SIZE)
    with np.errstate(over="ignore"):
        assert np.array_equal(vm.exp(x), np.exp(x), equal_nan=True)


LARGE_NET = {
    "name": "large_layers",
    "inputs": 16,
    "output": "out",
    "loss": "mse",
    "nodes": [
        {"name": "h", "op": "dense", "inputs": ["input"], "units": 80},
        {"name": "t", "op": "tanh", "inputs": ["h"]},
        {"name": "s", "op": "sigmoid", "inputs": ["h"]},
        {"name": "p", "op": "softplus", "inputs": ["t"]},
        {"name": "m", "op": "add", "inputs": ["s", "p"]},
        {"name": "g", "op": "gaussian", "inputs": ["m"], "units": 64},
        {"name": "out", "op": "dense", "inputs": ["g"], "units": 3},
    ],
}


def _loss_and_grad():
    net = Network.from_spec(LARGE_NET)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(512, 16)), rng.normal(size=(512, 3))
    params = net.init(seed=3, x=x)
    return net.loss_and_grad(params, x, y)


def test_a_network_on_mkls_exp_agrees_with_numpys_to_rounding(fresh):
    """Every large layer that calls exp (tanh's one-exp form, sigmoid, softplus, the Gaussian
    layer: 512 x 80 and 512 x 64 arrays) gives the loss and every gradient entry within 1e-12
    relative of numpy's path, with MKL's exp called on every one of them."""
    pytest.importorskip("mkl_umath", reason="mkl_umath (the mkl extra) is not installed")
    fresh.setattr(act, "NUMPY_TANH_IS_SIMD", False)  # one form on both sides: only exp differs
    fresh.setenv(vm.ENV, "numpy")
    fresh.setattr(vm, "NUMPY_IS_SIMD", False)
    loss0, grad0 = _loss_and_grad()
    fresh.delenv(vm.ENV)
    _choose_again()
    assert vm.provider() == "mkl_umath"
    import mkl_umath

    with _mkl_calls(mkl_umath) as sizes:
        loss1, grad1 = _loss_and_grad()
    assert len(sizes) >= 4 and min(sizes) >= vm.MIN_SIZE  # tanh, sigmoid, softplus, gaussian
    assert loss1 == pytest.approx(loss0, rel=1e-12)
    for k, g in grad0.items():
        scale = np.max(np.abs(g))
        assert np.max(np.abs(grad1[k] - g)) <= 1e-12 * scale, k
    again = _loss_and_grad()
    assert again[0] == loss1 and all(np.array_equal(again[1][k], grad1[k]) for k in grad1)


def test_the_cupy_stand_in_takes_the_numpy_backends_exp(mkl):
    """The stand-in promises the numpy backend's bits; with MKL's exp on the host path, its own
    exp must be MKL's too (on an AVX2 machine the device-path tests and claim caught this)."""
    from descentcheck.impl.device_standin import xp

    large = np.linspace(-30.0, 30.0, vm.MIN_SIZE)
    with _mkl_calls(mkl) as sizes:
        on_device = xp.exp(xp.asarray(large))
        assert sizes == [vm.MIN_SIZE]
        assert np.array_equal(xp.asnumpy(on_device), vm.exp(large))
        small = large[: vm.MIN_SIZE // 2]
        assert np.array_equal(xp.asnumpy(xp.exp(xp.asarray(small))), np.exp(small))
        assert len(sizes) == 2
