"""The CuPy backend on an NVIDIA GPU against the numpy backend on the CPU (``tox -e gpu``).

Every case of ``tests/backend_cases.py`` is trained on both from the same initial parameters; the
losses, gradient and step norms, momentum coefficients and final parameters must agree to 1e-10
relative (cuBLAS and CuPy's reductions add in other orders, so the bits differ); the cases are
checked to be well-conditioned enough for that bar to mean something (``tests/test_backend.py``).
Without CuPy or a GPU these tests skip and say which is missing.
"""

from __future__ import annotations

import numpy as np
import pytest
from backend_cases import CASES, ILL_CONDITIONED, Case, perturbed_run, relative_difference

from descentcheck.impl.backend import get_backend
from descentcheck.impl.errors import BackendError

pytestmark = pytest.mark.gpu
RTOL = 1e-10


@pytest.fixture(scope="module")
def gpu():
    try:
        return get_backend("cupy")
    except BackendError as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gpu_training_equals_cpu_training(gpu, case: Case, record_property):
    ref = case.run("numpy")
    run = case.run("cupy")
    assert run.backend == "cupy" and run.device == gpu.device
    assert run.status == ref.status == "completed"
    assert all(type(v) is np.ndarray for v in run.params.values())
    diff = relative_difference(ref, run)
    record_property("relative_difference", diff)
    record_property("device", gpu.device)
    assert diff <= RTOL, f"{case.id}: GPU and CPU differ by {diff:.3g} relative"


def test_an_ill_conditioned_run_differs_no_more_than_float64_fixes_it(gpu, record_property):
    """RMSProp at eps 1e-8 on the deep distance net amplifies rounding about 1e10-fold in 15
    steps; there the GPU must stay within the spread that a 1e-15 relative change of the start
    causes on the CPU (and its losses, which are far better conditioned, within 1e-8)."""
    ref = ILL_CONDITIONED.run("numpy")
    run = ILL_CONDITIONED.run("cupy")
    spread = relative_difference(ref, perturbed_run(ILL_CONDITIONED, 1e-15))
    diff = relative_difference(ref, run)
    record_property("relative_difference", diff)
    record_property("cpu_spread", spread)
    assert diff <= 10 * spread
    np.testing.assert_allclose(run.losses, ref.losses, rtol=1e-8)


def test_network_gradient_on_gpu_arrays_equals_cpu(gpu):
    case = next(c for c in CASES if c.takes_matmul_path())
    net, params, x, y = case.problem()
    yt = net.check_targets(y, len(x))
    E, g = net.loss_and_grad(params, x, yt)
    xp = gpu.xp
    Ed, gd = net.loss_and_grad({k: xp.asarray(v) for k, v in params.items()}, xp.asarray(x),
                               xp.asarray(yt))  # fmt: skip
    assert abs(Ed - E) <= RTOL * abs(E)
    for k, v in g.items():
        assert type(gd[k]) is gpu.array_type
        scale = float(np.max(np.abs(v)))
        assert float(np.max(np.abs(gpu.to_host(gd[k]) - v))) <= RTOL * scale, k


def test_recorded_cupy_api_matches_the_installed_cupy():
    """The stand-in's names and keywords (impl/cupy_api.json) are still CuPy's."""
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    from descentcheck.impl.device_standin import API

    for name in API["ufuncs"]:
        assert isinstance(getattr(cupy, name, None), cupy.ufunc), name
    import inspect

    for name, info in API["functions"].items():
        fn = getattr(cupy, name, None)
        assert callable(fn), name
        if info is None or info["var_kw"]:
            continue
        params = set(inspect.signature(fn).parameters)
        assert set(info["params"]) <= params, name
