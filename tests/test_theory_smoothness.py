"""estimate_L against quadratics whose Hessian is assembled explicitly (networks linear in their
parameters, with skip connections), Hessian-vector products exact, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import descentcheck as dc
from descentcheck.properties.profiles import TEST_PROFILE_SLOW, hypothesis_settings
from descentcheck.theory.checks import LINEAR_SPECS, linear_net_hessian
from descentcheck.theory.smoothness import HessianOperator, estimate_L, hessian_matrix

floats = st.floats(-3, 3, allow_nan=False)


def _case(data, spec):
    net = dc.Network.from_spec(spec)
    n = data.draw(st.integers(1, 8))
    x = data.draw(arrays(np.float64, (n, spec["inputs"]), elements=floats))
    y = data.draw(arrays(np.float64, (n, net.spec.out_width), elements=floats))
    params = {
        k: data.draw(arrays(np.float64, s, elements=floats)) for k, s in net.param_shapes.items()
    }
    return net, params, x, y


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(data=st.data(), which=st.integers(0, len(LINEAR_SPECS) - 1))
def test_estimate_matches_the_exact_eigenvalue_of_a_quadratic(data, which):
    net, params, x, y = _case(data, LINEAR_SPECS[which])
    H = linear_net_hessian(net, x)  # assembled from forward passes: J^T J / n
    exact = float(np.max(np.abs(np.linalg.eigvalsh(H))))
    # the complex-step Hessian equals the explicit one to rounding
    H_cs = hessian_matrix(net, params, x, y)
    assert np.max(np.abs(H_cs - H)) <= 1e-12 * max(np.max(np.abs(H)), 1e-300)
    est = estimate_L(net, params, x, y, iters=net.n_params, seed=0)
    assert abs(est - exact) <= 1e-10 * max(exact, 1e-300) + 1e-300
    # power iteration never overestimates |lambda|_max (|H v| <= |lambda|_max |v|)
    power = estimate_L(net, params, x, y, iters=50, seed=1, method="power")
    assert power <= exact * (1 + 1e-10) + 1e-300


def test_known_L_of_a_single_dense_layer():
    # E = 1/(2n) |X W + b - Y|^2: Hessian blocks [X 1]^T [X 1] / n, one per output unit
    net = dc.Network.from_spec(LINEAR_SPECS[0])
    x = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    A = np.hstack([x, np.ones((4, 1))])
    exact = float(np.linalg.eigvalsh(A.T @ A / 4).max())
    params = net.init(seed=0)
    assert estimate_L(net, params, x, np.zeros((4, 2)), iters=20) == pytest.approx(exact, rel=1e-12)


def test_deterministic_and_converges_on_a_nonlinear_network():
    spec = {
        "inputs": 2,
        "output": "o",
        "loss": "softmax_cross_entropy",
        "nodes": [
            {"name": "h", "op": "dense", "units": 3, "inputs": ["input"]},
            {"name": "t", "op": "tanh", "inputs": ["h"]},
            {"name": "s", "op": "concat", "inputs": ["t", "input"]},
            {"name": "o", "op": "gaussian_logits", "units": 3, "inputs": ["s"]},
        ],
    }
    net = dc.Network.from_spec(spec)
    x = np.linspace(-1, 1, 12).reshape(6, 2)
    y = np.array([0, 1, 2, 0, 1, 2])
    params = net.init(seed=3, x=x)
    a = estimate_L(net, params, x, y, iters=30, seed=5)
    assert a == estimate_L(net, params, x, y, iters=30, seed=5)
    H = hessian_matrix(net, params, x, y)
    assert np.max(np.abs(H - H.T)) <= 1e-12 * np.max(np.abs(H))
    exact = float(np.max(np.abs(np.linalg.eigvalsh((H + H.T) / 2))))
    assert a == pytest.approx(exact, rel=1e-9)
    op = HessianOperator(net, params, x, y)
    v = np.ones(op.size)
    assert np.allclose(op(v), H @ v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("kw", "msg"), [({"method": "qr"}, "unknown method"), ({"iters": 0}, "iters")]
)
def test_bad_arguments(kw, msg):
    net = dc.Network.from_spec(LINEAR_SPECS[0])
    x, y = np.ones((2, 3)), np.ones((2, 2))
    with pytest.raises(ValueError, match=msg):
        estimate_L(net, net.init(seed=0), x, y, **kw)
