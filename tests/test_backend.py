"""The array-namespace code path, checked without a GPU through a strict stand-in for CuPy.

``descentcheck.impl.device_standin`` keeps numpy arrays behind CuPy's rules (no numpy array mixed in, no
implicit conversion, no ``where=``/``order=``, only CuPy's names) and refuses numpy functions on
its arrays; training on it must give the numpy run's bits, since the arithmetic is numpy's. The
GPU itself is compared with the CPU in ``tests/test_gpu.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from backend_cases import CASES, ILL_CONDITIONED, Case, perturbed_run, relative_difference
from click.testing import CliRunner
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from descentcheck.cli import main
from descentcheck.impl import device_standin
from descentcheck.impl.backend import BACKENDS, get_backend, namespace, to_host
from descentcheck.impl.device_standin import DeviceArray, DeviceLeak, xp
from descentcheck.impl.errors import BackendError, DataError
from descentcheck.impl.optim import get_optimizer
from descentcheck.properties.profiles import TEST_PROFILE, hypothesis_settings
from descentcheck.properties.strategies import cases
from descentcheck.registry.optimizers import names as optimizer_names

device_standin.register()

OPTIONS = {
    "gd": {},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.5},
    "adaptive_momentum": {"tau": 0.1},
    "rmsprop": {"momentum": 0.3},
}


def _cupy_usable() -> bool:
    try:
        get_backend("cupy")
    except BackendError:
        return False
    return True


# ---- backends and their errors ---------------------------------------------------------------


def test_namespace_is_numpy_for_numpy_arrays_and_scalars():
    assert namespace(np.zeros(2)) is np
    assert namespace(np.float64(1.0)) is np
    assert namespace(2.0) is np
    assert namespace(xp.zeros(2)) is xp
    assert get_backend().name == "numpy" and get_backend().device.startswith("CPU")
    assert BACKENDS == ("numpy", "cupy")


def test_unknown_backend_is_a_one_line_error():
    with pytest.raises(BackendError, match=r"^unknown backend 'tpu'; known: numpy, cupy") as e:
        get_backend("tpu")
    assert "\n" not in str(e.value)


@pytest.mark.skipif(_cupy_usable(), reason="CuPy and a GPU are here: tests/test_gpu.py uses them")
def test_cupy_backend_says_why_it_cannot_run_here():
    with pytest.raises(BackendError, match=r"^backend 'cupy' (needs CuPy|cannot use a CUDA GPU)"):
        get_backend("cupy")


def _train_cli(out, backend: str):
    return CliRunner().invoke(
        main,
        ["train", "sine_skip", "--data", "sine", "--optimizer", "gd", "--lr", "0.1",
         "--steps", "3", "--backend", backend, "--out", str(out)],
    )  # fmt: skip


@pytest.mark.skipif(_cupy_usable(), reason="CuPy and a GPU are here: tests/test_gpu.py uses them")
def test_cli_reports_an_unusable_backend_in_one_line(tmp_path):
    r = _train_cli(tmp_path / "run", "cupy")
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: backend 'cupy'") and r.output.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_cli_trains_on_a_named_backend(tmp_path):
    r = _train_cli(tmp_path / "run", "numpy")
    assert r.exit_code == 0, r.output
    traj = (tmp_path / "run" / "trajectory.json").read_text()
    assert '"backend": "numpy"' in traj and '"device": "CPU' in traj


# ---- the stand-in refuses what CuPy refuses -------------------------------------------------

LEAKS = {
    "numpy array into a device function": lambda d: xp.exp(np.ones(3)),
    "numpy array mixed into an operator": lambda d: d + np.ones(3),
    "numpy ufunc on a device array": lambda d: np.exp(d),
    "numpy function on a device array": lambda d: np.concatenate([d, d]),
    "implicit conversion to numpy": lambda d: np.asarray(d),
    "ufunc where=": lambda d: xp.divide(d, d, where=d > 0),
    "ufunc order=": lambda d: xp.multiply(d, 2.0, order="C"),
    "reduce initial=": lambda d: xp.add.reduce(d, initial=0.0),
    "maximum.reduce (CuPy: add and multiply only)": lambda d: xp.maximum.reduce(d),
    "add.reduceat (CuPy's is a running-sum difference)": lambda d: xp.add.reduceat(d, [0, 2]),
    "numpy index array": lambda d: d[np.array([0])],
    "function CuPy does not have": lambda d: xp.spacing(d),
}


@pytest.mark.parametrize("leak", LEAKS.values(), ids=LEAKS.keys())
def test_the_stand_in_refuses_what_cupy_refuses(leak):
    with pytest.raises((DeviceLeak, AttributeError, NotImplementedError)):
        leak(xp.asarray(np.arange(3.0)))


def test_the_stand_in_allows_transfers_and_host_values():
    host = np.arange(3.0)
    d = xp.asarray(host)
    host[0] = 7.0  # the device copy does not alias host memory
    assert float(xp.add.reduce(d, axis=None)) == 3.0
    assert isinstance(xp.add.reduce(d, axis=None), DeviceArray)  # 0-d, as CuPy's reductions
    assert d.tolist() == [0.0, 1.0, 2.0] and bool((d > 1.0).any())
    assert type(to_host(d)) is np.ndarray and to_host(d).tolist() == [0.0, 1.0, 2.0]


# ---- the device path gives the numpy path's bits ----------------------------------------------


def test_the_cases_reach_the_matmul_evaluation_and_its_near_pairs():
    matmul = [c for c in CASES if c.takes_matmul_path()]
    assert len(matmul) >= 3
    net, params, x, _ = matmul[0].problem()
    cache = net.layers[0].forward(params, [x])[1][0]
    assert cache[0] == "matmul" and cache[-1] is not None  # some pairs were recomputed directly


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_gpu_cases_are_well_conditioned(case: Case):
    """A 1e-15 relative change of the start moves the run by at most 1e-11: the GPU tests'
    1e-10 is within reach of arithmetic that rounds differently (and it would not be for the
    ill-conditioned RMSProp run, shown below)."""
    assert relative_difference(case.run("numpy"), perturbed_run(case, 1e-15)) <= 1e-11


def test_the_ill_conditioned_run_is_ill_conditioned():
    assert relative_difference(ILL_CONDITIONED.run("numpy"), perturbed_run(ILL_CONDITIONED)) > 1e-8


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_training_on_the_device_path_equals_numpy_bit_for_bit(case: Case):
    """Bit for bit, but for adaptive momentum: off numpy its per-array norms are separate
    reductions, not one ``numpy.add.reduceat`` (see ``optim.adaptive_momentum``)."""
    ref = case.run("numpy")
    dev = case.run("device_standin")
    assert (dev.backend, dev.device) == ("device_standin", "CPU stand-in for CuPy")
    assert dev.status == ref.status == "completed"
    assert all(type(v) is np.ndarray for v in dev.params.values())  # back on the host
    if case.optimizer == "adaptive_momentum":
        assert relative_difference(ref, dev) <= 1e-13
        return
    np.testing.assert_array_equal(dev.losses, ref.losses)
    np.testing.assert_array_equal(dev.grad_norms, ref.grad_norms)
    np.testing.assert_array_equal(dev.step_norms, ref.step_norms)
    assert dev.momentum == ref.momentum
    for k, v in ref.params.items():
        np.testing.assert_array_equal(dev.params[k], v, err_msg=k)


def test_keep_params_history_comes_back_to_the_host():
    case = CASES[0]
    net, params, x, y = case.problem()
    from descentcheck.impl.trainer import train

    t = train(net, params, x, y, "gd", lr=0.1, steps=3, keep_params=True, backend="device_standin")
    ref = train(net, params, x, y, "gd", lr=0.1, steps=3, keep_params=True)
    assert len(t.params_history) == 4
    for a, b in zip(t.params_history, ref.params_history):
        for k in a:
            assert type(a[k]) is np.ndarray
            np.testing.assert_array_equal(a[k], b[k])


@hypothesis_settings(TEST_PROFILE, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), opt=st.sampled_from(optimizer_names()))
def test_network_and_optimizers_on_device_arrays_equal_numpy(case, opt):
    """Random DAGs: loss, gradient and three dict-form optimizer updates, on device arrays."""
    on = lambda tree: {k: xp.asarray(v) for k, v in tree.items()}  # noqa: E731
    net = case.net
    E, g = net.loss_and_grad(case.params, case.x, case.yt)
    Ed, gd = net.loss_and_grad(on(case.params), xp.asarray(case.x), xp.asarray(case.yt))
    assert type(Ed) is float and Ed == E
    assert float(net.loss(on(case.params), xp.asarray(case.x), xp.asarray(case.yt))) == E
    for k in g:
        assert type(gd[k]) is DeviceArray
        np.testing.assert_array_equal(xp.asnumpy(gd[k]), g[k])
    optimizer = get_optimizer(opt, 0.05, **OPTIONS[opt])
    exact = opt != "adaptive_momentum"  # its norms: see the test above
    w, wd = dict(case.params), on(case.params)
    s, sd = optimizer.init(w), optimizer.init(wd)
    for _ in range(3):
        _, g = net.loss_and_grad(w, case.x, case.yt)
        _, gd = net.loss_and_grad(wd, xp.asarray(case.x), xp.asarray(case.yt))
        u, s, info = optimizer.update(g, s, w)
        ud, sd, info_d = optimizer.update(gd, sd, wd)
        if exact:
            assert info == info_d
        else:
            # a run that diverges (a steep distance-logits chain) has NaN on both sides
            assert info.momentum == pytest.approx(info_d.momentum, rel=1e-13, abs=0, nan_ok=True)
        w = {k: w[k] + u[k] for k in w}
        wd = {k: wd[k] + ud[k] for k in wd}
    for k in w:
        if exact:
            np.testing.assert_array_equal(xp.asnumpy(wd[k]), w[k])
        else:
            np.testing.assert_allclose(xp.asnumpy(wd[k]), w[k], rtol=1e-12, atol=1e-15)


def test_the_cli_offers_the_built_in_backends():
    from descentcheck.cli import BACKEND_NAMES

    assert BACKEND_NAMES == BACKENDS


def test_device_resident_inputs_are_checked_on_the_host_and_train():
    case = CASES[2]  # iris: integer labels
    net, params, x, y = case.problem()
    ref = case.run("numpy")
    on = {k: xp.asarray(v) for k, v in params.items()}
    from descentcheck.impl.trainer import train

    t = train(net, on, xp.asarray(x), xp.asarray(y), case.optimizer, steps=case.steps,
              seed=5, backend="device_standin", **case.options)  # fmt: skip
    np.testing.assert_array_equal(t.losses, ref.losses)
    E, _ = net.loss_and_grad(params, x, y)  # labels, one-hot inside
    Ed, _ = net.loss_and_grad(on, xp.asarray(x), xp.asarray(y))
    assert Ed == E
    bad = xp.asarray(np.where(np.arange(len(x))[:, None] == 3, np.nan, x))
    with pytest.raises(DataError, match=r"inputs x contain NaN or inf \(row 3\)"):
        train(net, on, bad, xp.asarray(y), "gd", lr=0.1, steps=1, backend="device_standin")


def test_the_numpy_path_never_imports_cupy():
    """Meaningful where CuPy is installed (tox -e gpu): CPU runs do not pay for its import."""
    import subprocess
    import sys

    code = (
        "import sys, descentcheck as dc; net = dc.Network.from_spec('sine_skip'); "
        "ds = dc.load_data('sine'); p = net.init(seed=0, x=ds.x); "
        "dc.train(net, p, ds.x, ds.y, 'gd', lr=0.1, steps=2); print('cupy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout
