"""Network: whole-DAG gradients, fan-out accumulation, targets, parameters and initialisation."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from specs import CONCAT_DISTANCE_CLASSIFIER, DESIGN_EXAMPLE, RELU_MULTI_SKIP

from descentcheck.impl.errors import DataError, ParamsError
from descentcheck.impl.gradcheck import check_network_gradient
from descentcheck.impl.network import Network
from descentcheck.properties.profiles import TEST_PROFILE_SLOW, hypothesis_settings

SPECS = {"design": DESIGN_EXAMPLE, "concat": CONCAT_DISTANCE_CLASSIFIER, "relu": RELU_MULTI_SKIP}


def _data(spec, draw_x, draw_y):
    net = Network.from_spec(spec)
    return net, net.check_data(draw_x, draw_y)


@st.composite
def network_case(draw):
    name = draw(st.sampled_from(sorted(SPECS)))
    net = Network.from_spec(SPECS[name])
    n = draw(st.integers(1, 6))
    x = draw(arrays(np.float64, (n, net.spec.inputs), elements=st.floats(-2, 2)))
    if net.spec.loss == "mse":
        y = draw(arrays(np.float64, (n, net.spec.out_width), elements=st.floats(-2, 2)))
    else:
        y = draw(arrays(np.int64, (n,), elements=st.integers(0, net.spec.out_width - 1)))
    seed = draw(st.integers(0, 2**16))
    return net, x, y, seed


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(network_case())
def test_whole_network_gradient_matches_complex_step(case):
    net, x, y, seed = case
    x, y = net.check_data(x, y)
    params = net.init(seed=seed, x=x)
    rows = check_network_gradient(net, params, x, y, method="complex_step")
    bad = [r for r in rows if not r.ok]
    assert not bad, bad[0]


def test_fan_out_gradients_accumulate():
    """a1 feeds both h2 and the add: its gradient is the sum over both paths. Cutting the skip
    (a second copy of the net with the add's a1 input replaced by a zero-valued constant path)
    must change the gradient of h1 by exactly the skip's contribution."""
    net = Network.from_spec(DESIGN_EXAMPLE)
    rng = np.random.default_rng(3)
    x, y = net.check_data(rng.standard_normal((7, 3)), rng.standard_normal((7, 2)))
    params = net.init(seed=1, x=x)
    rows = check_network_gradient(net, params, x, y, method="complex_step")
    assert all(r.ok for r in rows)
    # a node listed twice in one add gets both contributions
    doubled = copy.deepcopy(DESIGN_EXAMPLE)
    next(n for n in doubled["nodes"] if n["name"] == "s")["inputs"] = ["h2", "a1", "a1"]
    net2 = Network.from_spec(doubled)
    rows2 = check_network_gradient(net2, params, x, y, method="complex_step")
    assert all(r.ok for r in rows2)


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(network_case())
def test_forward_visit_sees_every_layer_and_may_stand_in_for_one(case):
    """``forward(params, x, visit)``: ``visit`` sees each layer in order with its input values;
    returning None keeps the same bits, and a value stands for that layer's output."""
    net, x, y, seed = case
    x, _ = net.check_data(x, y)
    params = net.init(seed=seed, x=x)
    seen: list[str] = []

    def watch(layer, xs):
        assert len(xs) == len(layer.inputs) and all(len(v) == len(x) for v in xs)
        seen.append(layer.name)

    assert net.forward(params, x, watch).tobytes() == net.forward(params, x).tobytes()
    assert seen == list(net.spec.order)
    # the output node's value replaced: what forward returns is the stand-in itself
    out = net.spec.output
    stand_in = np.full((len(x), net.spec.out_width), 7.0)
    got = net.forward(params, x, lambda layer, xs: stand_in if layer.name == out else None)
    assert got is stand_in


def test_integer_labels_equal_one_hot():
    net = Network.from_spec(CONCAT_DISTANCE_CLASSIFIER)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4))
    labels = np.array([0, 2, 1, 1, 0])
    params = net.init(seed=0, x=x)
    _, y1 = net.check_data(x, labels)
    _, y2 = net.check_data(x, np.eye(3)[labels])
    assert np.array_equal(y1, y2)
    assert net.loss_and_grad(params, x, y1)[0] == net.loss_and_grad(params, x, y2)[0]


def test_cross_entropy_never_overflows():
    spec = {
        "inputs": 1,
        "output": "o",
        "loss": "softmax_cross_entropy",
        "nodes": [{"name": "o", "op": "dense", "units": 3, "inputs": ["input"]}],
    }
    net = Network.from_spec(spec)
    params = {"o.W": np.array([[1e4, -1e4, 0.0]]), "o.b": np.zeros(3)}
    x, y = net.check_data(np.array([[1.0], [-1.0]]), np.array([1, 0]))
    with np.errstate(over="raise", invalid="raise"):
        E, g = net.loss_and_grad(params, x, y)
    assert np.isfinite(E) and E == pytest.approx(2e4)
    assert all(np.all(np.isfinite(v)) for v in g.values())


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(
    logits=arrays(np.float64, (4, 3), elements=st.integers(-64, 64).map(lambda v: v / 2)),
    shift=st.sampled_from([0.0, 30.0, -700.0, 1e4]),
    soft=arrays(np.float64, (4, 3), elements=st.integers(0, 8).map(lambda v: v / 4)),
    # logits within +-1/8 in half the draws: no row confident, the plain path (1% of draws took
    # it with logits within +-32, measured)
    narrow=st.booleans(),
)
def test_cross_entropy_gradient_on_soft_targets_and_large_logits(logits, shift, soft, narrow):
    """The loss's own gradient against complex step, on target rows that need not sum to 1
    (dE/dyhat = (S p - y) / n, S the row's sum) and logits shifted far out (a stable path's
    bug only for large logits, or one that drops S, passed test_ops and test_network before:
    the held-out gradcheck review)."""
    from descentcheck.impl.gradcheck import check_gradient
    from descentcheck.impl.losses import LOSSES

    loss = LOSSES["softmax_cross_entropy"]
    yhat = logits / 256 + shift if narrow else logits + shift
    _, g = loss.value_and_grad(yhat.copy(), soft)
    r = check_gradient(lambda z: loss(z, soft), g, yhat, method="complex_step")
    # the entry g_j = (S p_j - y_j) / n moves by eps_y (p_j (S - y_j) + (1 - p_j) y_j) / n under
    # relative changes eps_y of the targets and by eps_z S p_j ((1 - p_j) |z_j| + sum_m!=j p_m
    # |z_m|) / n of the logits: an error within 16 eps of that is the data's own rounding (two
    # tied logits under soft targets (1/4, 0, 1/4) give S p_0 - y_0 = 1e-12 out of terms of 1/4,
    # and a forward error of 1e-5 relative). The thorough profile's find, a soft row (1/4, 0, 0)
    # on logits (0, -26.5, -30) 7e-7 off, was 1e8 times its bound of 4e-27.
    p = np.exp(yhat - yhat.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    S = soft.sum(axis=1, keepdims=True)
    by_y = p * (S - soft) + (1 - p) * soft
    az = np.abs(yhat)
    by_z = S * p * ((1 - p) * az + ((p * az).sum(axis=1, keepdims=True) - p * az))
    eps = np.finfo(np.float64).eps
    bound = 16 * eps * (by_y + by_z) / len(yhat) + 1e-300
    err = np.abs(r.analytic - r.numeric)
    assert np.all(err <= bound + 2 * r.oracle_error), (err / bound).max()


@hypothesis_settings()
@given(
    gaps=arrays(np.float64, (3, 2), elements=st.integers(22, 2800).map(lambda v: v / 4)),
    soft=st.sampled_from([None, 0.25, 2.0]),
)
def test_cross_entropy_of_confident_rows_keeps_its_digits(gaps, soft):
    """Rows whose other logits lie 5.5-700 below the largest (p_k within 2^-8 of 1, down to
    e^-700): the value within 8 eps relative of 360-digit mpmath, each gradient entry within
    8 eps (1 + |z_j - z_k|) (exp's own condition number at z_j - z_k). log of the rounded 1 + r
    kept eps / r of error (3e-5 at r = 3e-12) and S p_k - y_k cancelled: the thorough
    profile's find, a soft row's gradient 7e-7 off the complex step's."""
    import mpmath

    from descentcheck.impl.losses import LOSSES

    z = np.concatenate([np.zeros((3, 1)), -gaps], axis=1)  # the largest logit first
    y = np.zeros((3, 3))
    y[:, 0] = 1.0 if soft is None else soft
    E, g = LOSSES["softmax_cross_entropy"].value_and_grad(z.copy(), y)
    with mpmath.workdps(360):  # 1 - p_k down to e^-700 ~ 1e-304, with 50 digits to spare
        E_ref, g_ref = mpmath.mpf(0), []
        for i in range(3):
            den = mpmath.fsum(mpmath.exp(mpmath.mpf(v)) for v in z[i])
            p = [mpmath.exp(mpmath.mpf(v)) / den for v in z[i]]
            S = mpmath.fsum(mpmath.mpf(v) for v in y[i])
            E_ref -= mpmath.fsum(mpmath.mpf(y[i, j]) * mpmath.log(p[j]) for j in range(3)) / 3
            g_ref.append([(S * p[j] - mpmath.mpf(y[i, j])) / 3 for j in range(3)])
        eps = np.finfo(np.float64).eps
        assert abs(mpmath.mpf(E) - E_ref) <= 8 * eps * abs(E_ref)
        for i, j in np.ndindex(3, 3):
            bound = 8 * eps * (1 + abs(z[i, j])) * abs(g_ref[i][j])
            assert abs(mpmath.mpf(g[i, j]) - g_ref[i][j]) <= bound, (i, j)


@hypothesis_settings()
@given(
    rows=st.integers(1, 200),
    size=st.floats(1e153, 1.8e154),
    half=st.floats(1e300, 1.79e308),
    label=st.integers(0, 1),
)
def test_a_finite_mean_loss_is_not_an_overflow(rows, size, half, label):
    """The sum of the rows' terms overflows while their mean is finite (trainer audit: both
    losses came back inf, a run "diverged" at step 0), and a logit gap beyond the float range
    gave 0 * -inf = NaN for a zero target: the mean is taken again without overflow, and the
    value and loss_and_grad agree with the exact mean; a zero loss is +0, not -0."""
    from descentcheck.impl.losses import LOSSES

    mse, ce = LOSSES["mse"], LOSSES["softmax_cross_entropy"]
    d = np.full((rows, 1), size)  # d * d overflows from 1.34e154, the sum from fewer rows
    exact = size * (size / 2)
    for value in (mse(d, np.zeros_like(d)), mse.value_and_grad(d.copy(), np.zeros_like(d))[0]):
        assert value == pytest.approx(exact, rel=1e-14)
    z = np.tile([half, -half], (rows, 1))  # the gap 2 half: beyond floats from 0.9e308
    y = np.zeros((rows, 2))
    y[:, label] = 1.0
    E, g = ce.value_and_grad(z.copy(), y)
    assert ce(z, y) == E
    if label == 0:  # the target at the largest logit: loss 0 (+0), gradient 0
        assert E == 0.0 and np.copysign(1.0, E) == 1.0
        assert np.all(g == 0.0)
    else:  # each row's loss is the gap: finite below the float range, inf beyond
        assert E == pytest.approx(2 * half, rel=1e-14)  # inf == approx(inf) where beyond
        assert np.all(np.isfinite(g))


@pytest.mark.parametrize(
    ("x", "y", "fragment"),
    [
        (np.ones((3, 2)), np.ones((3, 2)), "expected (n, 3)"),
        (np.array([[np.nan, 1, 1]]), np.ones((1, 2)), "NaN or inf (row 0)"),
        (np.ones((3, 3)), np.ones((2, 2)), "2 rows but inputs x have 3"),
        (np.ones((3, 3)), np.ones((3, 5)), "targets y have shape"),
        # a ledger's counterexample with y = null became a 0-d array: len() raised TypeError
        (np.ones((3, 3)), np.array(1.0), "targets y are one number, expected (3, 2) rows"),
        (np.ones((2, 3)), np.array([[0.0, np.inf], [1, 1]]), "targets y contain NaN or inf"),
        (np.ones((0, 3)), np.ones((0, 2)), "empty"),
        # lists numpy cannot stack raised numpy's ValueError ("inhomogeneous shape")
        ([[1.0, 2.0, 3.0], [1.0]], np.ones((2, 2)), "inputs x are not a rectangular array"),
        (np.ones((2, 3)), [[1.0, 0.0], [1.0]], "targets y are not a rectangular array"),
        # a held-out tester's masked entries were trained on, their values read as data
        (
            np.ma.masked_array(np.ones((2, 3)), mask=[[0, 1, 0], [0, 0, 1]]),
            np.ones((2, 2)),
            "inputs x are a masked array with 2 masked entries",
        ),
    ],
)
def test_bad_data_is_named(x, y, fragment):
    net = Network.from_spec(DESIGN_EXAMPLE)
    with pytest.raises(DataError, match=None) as info:
        net.check_data(x, y)
    assert fragment in str(info.value)


def test_labels_out_of_range():
    net = Network.from_spec(CONCAT_DISTANCE_CLASSIFIER)
    with pytest.raises(DataError, match=r"lie in \[0, 3\)"):
        net.check_data(np.ones((2, 4)), np.array([0, 3]))
    # a held-out tester's uint64 label 2^63 was shown wrapped, as -9223372036854775808
    with pytest.raises(DataError, match=r"lie in \[0, 3\).*got \[0, 9223372036854775808\]"):
        net.check_data(np.ones((2, 4)), np.array([2**63, 0], dtype=np.uint64))


def test_negative_cross_entropy_targets_are_refused():
    """A held-out audit trained y = -one_hot to a loss of -4834: a negative weight rewards a
    wrong class without bound. Rows of other non-negative weights stay allowed (the claims
    draw them on [0, 2])."""
    net = Network.from_spec(CONCAT_DISTANCE_CLASSIFIER)
    with pytest.raises(DataError, match=r"must be >= 0 .* row 1 is \[0.0, 1.0, -0.5\]"):
        # the negative weight off the diagonal: its column (2) is no row (the mutation run's
        # argwhere(...)[0][1] named row 1 too while the negative sat in column 1)
        net.check_data(np.ones((2, 4)), np.array([[1.0, 0, 0], [0, 1, -0.5]]))
    _, y = net.check_data(np.ones((2, 4)), np.array([[0.0, 0, 2], [0.5, 0.5, 0]]))
    assert y.min() == 0.0


@pytest.mark.parametrize("seed", [True, False, 1.5, "3", -1, None])
def test_the_init_seed_is_a_non_negative_integer(seed):
    """A boolean seed was refused only while ``or`` joined the checks (the mutation run's
    ``and`` let True through and made "3" a raw TypeError)."""
    net = Network.from_spec(DESIGN_EXAMPLE)
    with pytest.raises(ParamsError) as e:
        net.init(seed=seed)
    assert str(e.value) == f"the init seed must be a non-negative integer, got {seed!r}"


def test_bad_params_are_named():
    net = Network.from_spec(DESIGN_EXAMPLE)
    params = net.init(seed=0)
    with pytest.raises(ParamsError, match="'h1.W' is missing"):
        net.check_params({k: v for k, v in params.items() if k != "h1.W"})
    with pytest.raises(ParamsError, match="unexpected parameter 'zz.W'"):
        net.check_params({**params, "zz.W": np.ones(1)})
    with pytest.raises(ParamsError, match=r"'g.radii' has shape \(4,\), expected \(4, 6\)"):
        net.check_params({**params, "g.radii": np.ones(4)})
    with pytest.raises(ParamsError, match="NaN or inf"):
        net.check_params({**params, "out.b": np.array([np.nan, 0.0])})
    # these raised numpy's ValueError and a TypeError (``k in None``); a string of the right
    # letters was "parameter 'h1.W' is missing"
    with pytest.raises(ParamsError, match="'h1.W' is not a rectangular array"):
        net.check_params({**params, "h1.W": [[1.0, 2.0], [3.0]]})
    for not_a_mapping in (None, "h1.W", list(params.values())):
        with pytest.raises(ParamsError, match="parameters must be a mapping NAME.PARAM -> array"):
            net.check_params(not_a_mapping)

    class RequiresGrad:  # as a torch tensor that requires grad refuses numpy conversion
        def __array__(self, *args, **kwargs):
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")

    # a held-out audit: torch's RuntimeError came out of reference_trajectory as it was
    said = (
        "parameter 'h1.W' is not readable as an array (RuntimeError: Can't call numpy() on "
        "Tensor that requires grad.); convert it to a numpy array first"
    )
    with pytest.raises(ParamsError, match=re.escape(said)):
        net.check_params({**params, "h1.W": RequiresGrad()})


def test_init_is_deterministic_and_glorot():
    net = Network.from_spec(DESIGN_EXAMPLE)
    a, b = net.init(seed=5), net.init(seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    limit = np.sqrt(6 / (3 + 6))
    assert np.all(np.abs(a["h1.W"]) <= limit) and np.all(a["h1.b"] == 0)
    assert np.abs(a["h1.W"]).max() > 0.5 * limit


@pytest.mark.parametrize("radius", ["per_connection", "per_unit"])
def test_distance_init_gives_activations_neither_zero_nor_one(radius):
    """The initialisation the distance-network paper asks for: at init, the median activation
    of every distance unit over the data is exp(-1/2), and most activations lie well inside
    (0, 1), on real data (digits) and through a deep stack of distance layers."""
    from descentcheck.impl.data import load_data

    ds = load_data("digits")
    nodes = [{"name": "g0", "op": "gaussian", "units": 16, "radius": radius, "inputs": ["input"]}]
    for i in range(1, 5):
        nodes.append(
            {
                "name": f"g{i}",
                "op": "gaussian",
                "units": 16,
                "radius": radius,
                "inputs": [f"g{i - 1}"],
            }
        )
    nodes.append({"name": "out", "op": "gaussian_logits", "units": 10, "inputs": ["g4"]})
    spec = {"inputs": 64, "output": "out", "loss": "softmax_cross_entropy", "nodes": nodes}
    net = Network.from_spec(spec)
    x = ds.x[:400]
    params = net.init(seed=0, x=x)
    values = {"input": x}
    for layer in net.layers:
        values[layer.name] = layer.forward(params, [values[p] for p in layer.inputs])[0]
    for i in range(5):
        a = values[f"g{i}"]
        assert np.allclose(np.median(a, axis=0), np.exp(-0.5), rtol=0.05), i
        inside = np.mean((a > 0.05) & (a < 0.95))
        assert inside > 0.5, (i, inside)
    # without data, activations of standardised inputs are still in range
    params0 = net.init(seed=0)
    a0 = net.layers[0].forward(params0, [x])[0]
    assert 0.01 < np.median(a0) < 0.99


_ONE_DENSE = {
    "inputs": 1,
    "output": "out",
    "loss": "mse",
    "nodes": [{"name": "out", "op": "dense", "units": 1, "inputs": ["input"]}],
}


@pytest.mark.parametrize(
    ("value", "dtype", "kept"),
    [
        (np.longdouble(1) + np.longdouble(2.0**-60), np.longdouble, False),  # extra digits
        (2**53 + 1, np.int64, False),
        (2**64 - 1, np.uint64, False),
        (1.5, np.longdouble, True),  # a float64 number held in a float128
        (2**53, np.int64, True),
        (0.1, np.float32, True),
        (-7, np.int32, True),
    ],
)
def test_a_cast_to_float64_that_changes_a_value_is_refused(value, dtype, kept):
    """float128 or int64 numbers that float64 cannot hold were rounded without a word, while a
    complex array was refused (trainer audit): params, inputs, targets and data files now refuse
    them in one line naming the dtype and the first such value; exact casts go through."""
    from descentcheck.impl.data import check_arrays

    net = Network.from_spec(_ONE_DENSE)
    a = np.array([[value]], dtype=dtype)
    if np.dtype(dtype).kind == "f" and not kept:
        assert a[0, 0] != np.float64(a[0, 0])  # this platform's long double has the digits
    checks = (
        (lambda: net.check_params({"out.W": a, "out.b": np.zeros(1)})["out.W"], ParamsError),
        (lambda: net.check_inputs(a), DataError),
        (lambda: net.check_data(np.zeros((1, 1)), a)[1], DataError),
        (lambda: check_arrays(a, np.zeros((1, 1)))[0], DataError),
        (lambda: check_arrays(np.zeros((1, 1)), a)[1], DataError),
    )
    for check, error in checks:
        if kept:
            out = check()
            assert out.dtype == np.float64 and out[0, 0] == a[0, 0]
        else:
            with pytest.raises(error, match=rf"dtype {np.dtype(dtype)}, and 1 of its values"):
                check()
