"""Trainer: trajectories, determinism, divergence, minibatches, the heavy-ball worst case."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from specs import DESIGN_EXAMPLE, RELU_LAYER

from descentcheck.impl.errors import HyperparameterError, ParamsError, SpecError
from descentcheck.impl.network import Network
from descentcheck.impl.optim.base import Optimizer, StepInfo
from descentcheck.impl.trainer import minibatches, train
from descentcheck.properties.profiles import hypothesis_settings
from descentcheck.properties.strategies import cases

LINEAR = {
    "inputs": 1,
    "output": "o",
    "loss": "mse",
    "nodes": [{"name": "o", "op": "dense", "units": 1, "inputs": ["input"]}],
}


def _heavy_ball_case():
    """E(w, b) = 1/2 (w + b)^2: x = 1, y = 0, n = 1. Hessian [[1, 1], [1, 1]], so L = 2."""
    net = Network.from_spec(LINEAR)
    params = {"o.W": np.array([[1.5]]), "o.b": np.array([0.5])}
    return net, params, np.array([[1.0]]), np.array([[0.0]])


def test_heavy_ball_worst_case_raises_the_loss_by_beta_squared():
    net, params, x, y = _heavy_ball_case()
    beta = 0.1
    t = train(net, params, x, y, optimizer="momentum", lr=0.5, momentum=beta, steps=3)
    E0 = t.losses[0]
    assert E0 == 2.0
    assert t.losses[1] == 0.0  # lr = 1/L lands on the minimum ...
    assert t.losses[2] == pytest.approx(beta**2 * E0, rel=1e-14)  # ... then momentum leaves it
    assert t.increases() == [1]


def test_a_step_whose_loss_became_nan_did_not_decrease():
    t = train(*_heavy_ball_case(), optimizer="gd", lr=0.25, steps=2)
    assert t.increases() == []
    t.losses = np.array([2.0, 1.0, np.nan])  # NaN compares false both ways: not a decrease
    assert t.increases() == [1]


@pytest.mark.parametrize("lr", [1e200, 1e-200])
def test_step_norms_past_the_square_range_are_recorded_not_overflowed(lr):
    """|dw| = lr |g|: its square overflows (or underflows) float64, the norm itself does not."""
    t = train(*_heavy_ball_case(), optimizer="gd", lr=lr, steps=1)
    assert 0 < t.step_norms[0] < np.inf
    assert t.step_norms[0] == pytest.approx(lr * t.grad_norms[0], rel=1e-15, abs=0)


def test_a_gradient_whose_squares_underflow_has_its_true_norm():
    """E = 1/2 (w + b)^2 at w = 1e-230, b = 0: g = (1e-230, 1e-230), |g| = sqrt(2) 1e-230, whose
    squares (1e-460) underflow to 0 in a plain dot product."""
    net, _, x, y = _heavy_ball_case()
    params = {"o.W": np.array([[1e-230]]), "o.b": np.array([0.0])}
    t = train(net, params, x, y, optimizer="gd", lr=0.1, steps=1)
    assert t.grad_norms[0] == pytest.approx(math.sqrt(2) * 1e-230, rel=1e-15, abs=0)


@given(
    # half the draws where the squares are subnormal but not all 0 (a sum in (0, 2^-1022)):
    # the case the dot got wrong; full 53-bit mantissas, whose squares round
    exponent=st.one_of(st.integers(-537, -511), st.integers(-1022, 1023)),
    mantissas=st.lists(st.integers(-(2**53) + 1, 2**53 - 1), min_size=1, max_size=40),
)
# norms at the top of the range, found in a stored example database: the exact norm
# (2^53 - 0.37) 2^971 rounds to inf, the oracle's 1 ulp below it gives the largest float; and
# (2^53 + 0.66) 2^971, past the largest float, where the oracle's ldexp raised OverflowError
@example(exponent=1023, mantissas=[370806979, 2**53 - 8])
@example(exponent=1023, mantissas=[373645689, 2**53 - 7])
@hypothesis_settings()
def test_norm_is_accurate_at_every_scale(exponent, mantissas):
    """The recorded norm is within the dot product's bound 2 (n + 2) u |v| of the exact one at
    every scale: the thorough profile found 3e-157 entries (squares subnormal, sum ~1e-313)
    recorded 2e-11 off, before the sum's range decided the scaled form. Where either side is
    inf, the exact norm must lie within that bound of the overflow threshold or past it."""
    from descentcheck.impl.trainer import _norm
    from descentcheck.properties.claims.observables import U, norm, norm_tolerance, scaled_norm

    v = np.array([math.ldexp(m, exponent - 52) for m in mantissas])
    with np.errstate(over="ignore"):  # as train runs it: a dot past the range is scaled
        got = _norm(v)
    want = norm(v)
    if math.isinf(got) or math.isinf(want):
        s, e = scaled_norm(v)  # the norm is s 2^e, compared below without overflowing
        threshold = math.ldexp(2.0 - 2.0**-53, 1023 - e)  # the overflow threshold / 2^e
        assert s * (1 + 2 * (len(v) + 2) * U) >= threshold, (got, want)
    else:
        assert abs(got - want) <= norm_tolerance(v) + 5e-324


def test_negative_seeds_are_named_not_numpy_errors():
    net, params, x, y = _heavy_ball_case()
    with pytest.raises(HyperparameterError, match="shuffle seed must be a non-negative integer"):
        train(net, params, x, y, optimizer="gd", lr=0.1, steps=1, batch_size=1, seed=-1)
    with pytest.raises(ParamsError, match="init seed must be a non-negative integer, got -1"):
        net.init(seed=-1)


def test_adaptive_momentum_does_not_rise_in_the_worst_case():
    net, params, x, y = _heavy_ball_case()
    t = train(net, params, x, y, optimizer="adaptive_momentum", lr=0.5, tau=0.1, steps=5)
    assert list(t.losses) == [2.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert t.momentum[1] == 0.0  # alpha_k = tau |g_k| / |dw_{k-1}| = 0 at the minimum


def _design_case(n=12):
    net = Network.from_spec(DESIGN_EXAMPLE)
    rng = np.random.default_rng(11)
    x, y = net.check_data(rng.standard_normal((n, 3)), rng.standard_normal((n, 2)))
    return net, net.init(seed=2, x=x), x, y


@pytest.mark.parametrize(
    ("opt", "kw"),
    [
        ("gd", {}),
        ("momentum", {"momentum": 0.5}),
        ("nesterov", {"momentum": 0.5}),
        ("adaptive_momentum", {"tau": 0.05}),
        ("rmsprop", {"momentum": 0.3}),
    ],
)
def test_same_inputs_same_bits_and_consistent_records(opt, kw):
    net, params, x, y = _design_case()
    a = train(net, params, x, y, optimizer=opt, lr=0.05, steps=20, batch_size=5, seed=3, **kw)
    b = train(net, params, x, y, optimizer=opt, lr=0.05, steps=20, batch_size=5, seed=3, **kw)
    assert a.losses.tobytes() == b.losses.tobytes()
    assert all(a.params[k].tobytes() == b.params[k].tobytes() for k in a.params)
    assert len(a.losses) == 21 and len(a.step_norms) == 20 and len(a.momentum) == 20
    # the recorded loss is the full-batch loss at each iterate
    full = train(
        net,
        params,
        x,
        y,
        optimizer=opt,
        lr=0.05,
        steps=20,
        batch_size=5,
        seed=3,
        keep_params=True,
        **kw,
    )
    for k, w in enumerate(full.params_history):
        assert full.losses[k] == net.loss(w, x, y)
        if k:
            step = np.sqrt(sum(np.sum((w[p] - full.params_history[k - 1][p]) ** 2) for p in w))
            assert full.step_norms[k - 1] == pytest.approx(step, rel=1e-12)
    assert not np.array_equal(params["h1.W"], a.params["h1.W"])  # params were not mutated...
    assert np.array_equal(params["h1.W"], net.init(seed=2, x=x)["h1.W"])  # ... in place


def test_full_batch_gradient_norms():
    net, params, x, y = _design_case()
    t = train(net, params, x, y, optimizer="gd", lr=0.1, steps=5, keep_params=True)
    assert len(t.grad_norms) == 6
    for k, w in enumerate(t.params_history):
        _, g = net.loss_and_grad(w, x, y)
        assert t.grad_norms[k] == pytest.approx(
            np.sqrt(sum(np.sum(v * v) for v in g.values())), rel=1e-13
        )


def test_minibatches_cover_each_epoch_and_depend_on_the_seed():
    it = minibatches(10, 3, seed=4)
    epoch = np.concatenate([next(it) for _ in range(4)])
    assert sorted(epoch) == list(range(10))
    assert [len(next(it)) for _ in range(4)] == [3, 3, 3, 1]
    a = np.concatenate([next(minibatches(10, 10, seed=s)) for s in (0, 1)])
    assert not np.array_equal(a[:10], a[10:])


def test_divergence_is_reported_not_raised():
    net, params, x, y = _heavy_ball_case()
    t = train(net, params, x, y, optimizer="gd", lr=5.0, steps=5000)
    assert t.status == "diverged" and t.diverged
    k = len(t.losses) - 1
    assert not np.isfinite(t.losses[-1]) and np.all(np.isfinite(t.losses[:-1]))
    assert t.message == f"loss became {t.losses[-1]} at step {k}"
    record = t.to_json()
    json.dumps(record, allow_nan=False)  # inf/NaN are written as strings
    assert record["status"] == "diverged" and record["final_loss"] in ("inf", "nan")


def _relu_case_with_a_zero_column():
    """dense -> relu -> dense on data whose column 1 is 0: h.W's row 1 has gradient 0 exactly."""
    net = Network.from_spec(RELU_LAYER)
    x = np.array([[0.5, 0.0, 1.0], [-1.0, 0.0, 0.25], [1.0, 0.0, -0.5], [0.25, 0.0, 0.75]])
    y = np.array([[0.5, -1.0], [1.0, 0.0], [0.0, 0.5], [-0.5, 1.0]])
    return net, net.init(seed=0, x=x), x, y


def test_a_non_finite_update_is_a_divergence_even_where_the_loss_stays_finite():
    """RMSProp at eps = 0 divides 0 by 0 where an input column is 0: NaN weights, which a relu
    maps to 0, so the loss stayed finite and the run said "completed" with NaN in its parameters
    (a held-out audit). The update's norm now stops it, naming the step, whether the update is
    made in place or every iterate is kept."""
    net, params, x, y = _relu_case_with_a_zero_column()
    for keep in (False, True):
        t = train(net, params, x, y, "rmsprop", lr=0.01, eps=0.0, steps=5, keep_params=keep)
        assert t.status == "diverged" and t.message == "update became non-finite at step 0"
        assert t.steps == 1 and np.isnan(t.step_norms[0]) and np.isfinite(t.losses).all()
        assert [s["step_norm"] for s in t.to_json()["steps"]] == ["nan"]
    fine = train(net, params, x, y, "rmsprop", lr=0.01, eps=1e-8, steps=5)
    assert fine.status == "completed" and np.isfinite(fine.step_norms).all()


def test_the_observables_claim_accepts_a_real_divergence_and_names_a_false_one():
    """``trajectory-records-equal-the-observables`` holds a diverged run to the record it
    stopped on, recomputed from the iterates: a real NaN update or inf loss passes, and a run
    whose records say "diverged" while every recomputed quantity is finite is named."""
    from types import SimpleNamespace

    from descentcheck.properties.claims.observables import divergence_misses

    net, params, x, y = _relu_case_with_a_zero_column()
    x, yt = net.check_data(x, y)
    case = SimpleNamespace(net=net, x=x, yt=yt)
    nan_step = train(net, params, x, yt, "rmsprop", lr=0.01, eps=0.0, steps=3, keep_params=True)
    assert divergence_misses(case, nan_step, "rmsprop") == []
    hb_net, hb_params, hb_x, hb_y = _heavy_ball_case()
    inf_loss = train(hb_net, hb_params, hb_x, hb_y, "gd", lr=5.0, steps=5000, keep_params=True)
    assert inf_loss.diverged and not np.isfinite(inf_loss.losses[-1])
    hb_case = SimpleNamespace(net=hb_net, x=hb_x, yt=hb_y)
    assert divergence_misses(hb_case, inf_loss, "gd") == []
    fine = train(net, params, x, yt, "rmsprop", lr=0.01, eps=1e-8, steps=3, keep_params=True)
    false = replace(fine, status="diverged", step_norms=np.r_[fine.step_norms[:1], np.nan])
    false = replace(false, losses=fine.losses[:2], params_history=fine.params_history[:3])
    (miss,) = divergence_misses(case, false, "rmsprop")
    assert miss.startswith("rmsprop step 1: diverged on step_norm nan; recomputed: ")
    quiet = replace(fine, status="diverged")  # every record finite
    assert divergence_misses(case, quiet, "rmsprop") == [
        "rmsprop: diverged at step 3 with its records finite (3 steps, final loss "
        f"{fine.losses[-1]:.6g})"
    ]


def test_trajectory_json_follows_the_contract():
    net, params, x, y = _design_case()
    t = train(net, params, x, y, optimizer="adaptive_momentum", lr=0.1, tau=0.05, steps=4)
    record = json.loads(json.dumps(t.to_json(), allow_nan=False))
    steps = record["steps"]
    assert [s["step"] for s in steps] == [0, 1, 2, 3, 4]
    assert set(steps[0]) >= {"step", "loss", "grad_norm", "step_norm", "momentum"}
    assert steps[0]["loss"] == t.losses[0] and record["final_loss"] == t.losses[-1]
    assert steps[0]["momentum"] == 0.0 and steps[2]["momentum"] > 0.0


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"optimizer": "gd", "lr": -0.1}, "learning rate"),
        ({"optimizer": "gd"}, "needs a learning rate"),
        ({"optimizer": "gd", "lr": 0.1, "steps": -1}, "steps must be"),
        ({"optimizer": "gd", "lr": 0.1, "batch_size": 0}, "batch size"),
        ({"optimizer": "gd", "lr": 0.1, "momentum": 0.5}, "optimizer gd takes no 'momentum'"),
        (
            {"optimizer": "momentum", "lr": 0.1},
            r"needs a momentum coefficient \(keyword momentum, option --momentum\)",
        ),
        ({"optimizer": "rmsprop", "lr": 0.1, "rho": 1.0}, r"rho must lie in \[0, 1\)"),
        ({"optimizer": "adam", "lr": 0.1}, "unknown optimizer 'adam'; known: gd, momentum"),
        # neither a name nor an Optimizer: it was an AttributeError deep in the run
        ({"optimizer": 3}, "optimizer must be a registered name or an Optimizer, got int"),
        ({"optimizer": "adaptive_momentum", "lr": 0.1, "tau": 0.1, "group": "x"}, "grouping"),
        # a held-out tester: keep_params="no" was truthy, and every iterate was kept
        ({"optimizer": "gd", "lr": 0.1, "keep_params": "no"}, "keep_params must be True or"),
        ({"optimizer": "gd", "lr": 0.1, "progress": 1}, "progress must be True or False, got 1"),
    ],
)
def test_bad_trainer_settings(kw, fragment):
    net, params, x, y = _design_case()
    with pytest.raises(HyperparameterError, match=fragment):
        train(net, params, x, y, **kw)


def test_design_call_and_optimizer_objects():
    """DESIGN.md's call works as written; an Optimizer object carries its own settings, so an
    option beside it is an error rather than ignored."""
    import descentcheck as dc
    from descentcheck.impl.optim import get_optimizer

    net, params, x, y = _design_case()
    traj = dc.train(net, params, x, y, optimizer="momentum", lr=0.05, momentum=0.5, steps=20)
    assert traj.hyperparameters == {"lr": 0.05, "momentum": 0.5} and traj.steps == 20
    opt = get_optimizer("momentum", 0.05, momentum=0.5)
    same = train(net, params, x, y, optimizer=opt, steps=20)
    assert np.array_equal(same.losses, traj.losses)
    with pytest.raises(HyperparameterError, match="carries its own settings; got 'lr'"):
        train(net, params, x, y, optimizer=opt, lr=0.1)


def test_a_spec_trains_as_its_network(tmp_path):
    """A held-out tester: ``dc.train(spec_dict, ...)`` was "'dict' object has no attribute
    'check_data'", where ``check_network_gradient`` and ``reference_trajectory`` take a spec. A
    spec dict or file trains to the same bits as its Network; what is no spec is one line."""
    import descentcheck as dc

    net, params, x, y = _design_case()
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(DESIGN_EXAMPLE))
    want = dc.train(net, params, x, y, optimizer="gd", lr=0.1, steps=2).losses
    for spec in (DESIGN_EXAMPLE, path, str(path)):
        got = dc.train(spec, params, x, y, optimizer="gd", lr=0.1, steps=2).losses
        assert np.array_equal(got, want), spec
    with pytest.raises(SpecError, match="a spec is an object, .* got NoneType$"):
        dc.train(None, params, x, y, optimizer="gd", lr=0.1, steps=2)


def _ones_of_three(grads, state, params):
    return {k: np.ones(3) for k in grads}, state, StepInfo(None)


def _flat_of_one(layout):
    """gd's flat form whose update and step give a step of one entry, which numpy broadcast
    over the whole iterate: the run went on."""
    from descentcheck.impl.optim import get_optimizer

    form = get_optimizer("gd", 0.1).flat(layout)
    one = lambda g, state, w: (np.ones(1), state, None)  # noqa: E731
    return replace(form, update=one, step=one)


@pytest.mark.parametrize(
    ("update", "flat", "says"),
    [
        (_ones_of_three, None, r"its update returned an update of shape \(3,\) for 'h1\.W'"),
        (lambda g, s, w: "x", None, "its update must return .*, got a str"),
        (lambda g, s, w: None, None, "its update must return .*, got a NoneType"),
        (lambda g, s, w: ("x", s, StepInfo(None)), None, "returned a str for the updates"),
        (_ones_of_three, _flat_of_one, r"flat (step|update) returned a step of shape \(1,\)"),
    ],
    ids=["shape", "str", "none", "str-updates", "flat-one-entry"],
)
@pytest.mark.parametrize("keep", [False, True])
def test_a_hand_built_optimizers_wrong_result_is_one_line(update, flat, says, keep):
    """A held-out tester: an ``Optimizer`` handed to ``train`` whose update gave the wrong
    shapes was numpy's broadcast error, one giving "x" or None a TypeError, and a flat step of
    one entry was broadcast and the run went on. The registry's check of a plugin's results
    now names them, as ``optimizer 'bad': ...``."""
    net, params, x, y = _design_case()
    bad = Optimizer("bad", {"lr": 0.1}, lambda w: None, update, flat=flat)
    with pytest.raises(HyperparameterError, match=f"^optimizer 'bad': .*{says}") as caught:
        train(net, params, x, y, bad, steps=2, keep_params=keep)
    assert "\n" not in str(caught.value)


def test_an_option_the_optimizer_does_not_take_is_named_before_the_missing_lr() -> None:
    """A blind author passed the factory's keyword (learning_rate=0.3) for lr and was told
    "needs a learning rate (keyword lr, option --lr)": the unknown option is named first."""
    import descentcheck as dc

    net = dc.Network.from_spec("sine_skip")
    x, y = np.zeros((4, 1)), np.zeros((4, 1))
    params = net.init(seed=0, x=x)
    with pytest.raises(
        HyperparameterError,
        match=r"^optimizer momentum takes no 'learning_rate' \(it takes lr, momentum\)$",
    ):
        dc.train(net, params, x, y, "momentum", learning_rate=0.3)
    with pytest.raises(HyperparameterError, match=r"^optimizer momentum needs a learning rate"):
        dc.train(net, params, x, y, "momentum")


_THREADS_SCRIPT = """
import hashlib, sys
import descentcheck as dc
net = dc.Network.from_spec("digits_distance")
ds = dc.load_data("digits")
x, y = net.check_data(ds.x, ds.y)
p = net.init(seed=0, x=ds.x)
tr = dc.train(net, p, x, y, "rmsprop", lr=0.01, steps=3)
h = hashlib.sha256(b"".join(tr.params[k].tobytes() for k in sorted(tr.params)))
h.update(tr.losses.tobytes())
print(h.hexdigest())
"""


@pytest.mark.skipif(
    (__import__("os").cpu_count() or 1) < 2, reason="one core: BLAS runs one thread either way"
)
def test_the_same_bits_on_one_and_two_blas_threads():
    """A held-out audit: OpenBLAS splits a product over its threads and rounds otherwise, so
    digits_distance's RMSProp run ended at 0.16392 on two threads and 0.16238 on one (init too:
    a distance layer's centroids come through the dense layers' products). train, init and the
    gradient check now run BLAS on one thread."""
    import os
    import subprocess
    import sys

    digests = set()
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        out = subprocess.run(
            [sys.executable, "-c", _THREADS_SCRIPT], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1, digests


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float64).tobytes()


@given(case=cases())
@hypothesis_settings()
def test_loss_and_grad_writes_each_gradient_into_the_array_it_is_given(case):
    """Every parameter of a drawn DAG belongs to a layer that writes its gradient into the
    trainer's views (``Layer.writes_grads``), with the bits it returns otherwise."""
    net = case.net
    E, want = net.loss_and_grad(case.params, case.x, case.yt)
    out = net.unflatten(np.full(net.size, np.nan))
    E2, got = net.loss_and_grad(case.params, case.x, case.yt, out=out)
    assert _bits(np.float64(E2)) == _bits(np.float64(E))
    for k, g in want.items():
        assert got[k] is out[k], k
        assert _bits(got[k]) == _bits(g), k


@given(
    case=cases(),
    opt=st.sampled_from(("gd", "momentum", "nesterov", "adaptive_momentum", "rmsprop")),
    lr=st.floats(1e-3, 0.5),
    coef=st.floats(0.01, 0.9),
    steps=st.integers(1, 3),
    lone=st.integers(0, 10**6),
)
@hypothesis_settings()
def test_gradients_written_in_place_train_as_the_gathered_ones(case, opt, lr, coef, steps, lone):
    """``train``'s trajectory is the same, bit for bit, when every layer returns its own
    gradient arrays (the trainer then copies each into its flat vector) and when one drawn
    layer does so while the others write in place: the copies land where the views are."""
    net = case.net
    writers = [layer for layer, _, _ in net._schedule if layer.writes_grads and layer.param_shapes]
    assert writers  # every drawn DAG has a dense or distance layer

    def run(returning):
        with pytest.MonkeyPatch.context() as mp:
            for layer in returning:
                mp.setattr(layer, "writes_grads", False, raising=False)
            kw = {"adaptive_momentum": {"tau": coef}, "gd": {}}.get(opt, {"momentum": coef})
            return train(net, case.params, case.x, case.yt, opt, lr=lr, steps=steps, **kw)

    ways = [run(()), run(writers), run([writers[lone % len(writers)]])]
    for t in ways[1:]:
        assert _bits(t.losses) == _bits(ways[0].losses)
        assert _bits(t.grad_norms) == _bits(ways[0].grad_norms)
        for k, w in ways[0].params.items():
            assert _bits(t.params[k]) == _bits(w), k


@given(case=cases(), h=st.floats(1e-30, 1e-8), stepped=st.integers(1, 2**16 - 1))
@hypothesis_settings()
def test_complex_gradients_are_handed_back_not_written_into_real_views(case, h, stepped):
    """Under the complex-step oracle (some drawn parameters w + ih, the others real: centroids
    stepped alone make a distance layer's gz complex while its radii stay real) every layer hands
    back its complex gradient with the bits it gives without views, and leaves the real views as
    they were: a complex product written into a float64 view is refused by numpy."""
    net = case.net
    keys = list(case.params)
    on = {k for i, k in enumerate(keys) if stepped >> (i % 16) & 1} or {keys[0]}
    params = {k: v + 1j * h if k in on else v for k, v in case.params.items()}
    E, want = net.loss_and_grad(params, case.x, case.yt)
    out = net.unflatten(np.full(net.size, np.nan))
    E2, got = net.loss_and_grad(params, case.x, case.yt, out=out)
    assert _bits(np.array([E2]).view(np.float64)) == _bits(np.array([E]).view(np.float64))
    for k, g in want.items():
        assert got[k].dtype == np.complex128 and got[k] is not out[k], k
        assert _bits(got[k].view(np.float64)) == _bits(g.view(np.float64)), k
        assert np.isnan(out[k]).all(), k


def test_a_non_finite_gradient_ends_the_run_at_its_step(monkeypatch):
    """A gradient that turns NaN while the loss stays finite (the dense layer's backward planted
    to hand back NaN from its third call on) ends the run at that step: status diverged, the
    message names the gradient and the step, and no update follows it. The trainer's one-file
    mutation run found no claim or test that saw a run go on past it."""
    from descentcheck.impl.ops.dense import Dense

    net, params, x, y = _heavy_ball_case()
    real, calls = Dense.backward, []

    def backward(self, params, cache, gy, out=None):
        calls.append(1)
        gx, grads = real(self, params, cache, gy)  # its own arrays: the trainer copies them
        return gx, {k: v * np.nan for k, v in grads.items()} if len(calls) >= 3 else grads

    monkeypatch.setattr(Dense, "backward", backward)
    t = train(net, params, x, y, optimizer="gd", lr=0.1, steps=5)
    assert t.status == "diverged"
    assert t.message == "gradient became non-finite at step 2"
    assert len(t.losses) == len(t.grad_norms) == 3 and len(t.step_norms) == 2
    assert np.isfinite(t.losses).all() and math.isnan(t.grad_norms[2])


def test_train_defaults_and_boolean_settings(capsys):
    """``train``'s defaults (gd, 100 steps, shuffle seed 0, no progress bar, no iterates kept, as
    its signature says), and booleans or fractions refused where a count or a seed is due
    (``True`` is an int to Python): the trainer's one-file mutation run (both halves) left
    defaults of 101 steps, seed 1, another optimizer, a bar and kept iterates, and an accepted
    ``steps=True``, ``steps=1.5``, ``seed=True`` or ``batch_size=True`` alive."""
    net, params, x, y = _heavy_ball_case()
    t = train(net, params, x, y, lr=0.01)
    assert t.optimizer == "gd" and t.params_history is None
    assert len(t.losses) == 101 and t.seed == 0 and t.status == "completed"
    assert t.message == f"100 steps, final loss {t.losses[-1]:.6g}"
    assert capsys.readouterr().err == ""
    before = time.perf_counter()
    t = train(net, params, x, y, optimizer="gd", lr=0.01, steps=0)  # E(w_0) and g_0 only
    assert 0.0 <= t.wall_time <= time.perf_counter() - before
    assert t.status == "completed" and t.message == f"0 steps, final loss {t.losses[0]:.6g}"
    assert len(t.losses) == len(t.grad_norms) == 1 and len(t.step_norms) == 0
    for steps in (True, 1.5, "3"):
        with pytest.raises(HyperparameterError, match="steps must be a non-negative integer"):
            train(net, params, x, y, optimizer="gd", lr=0.1, steps=steps)
    with pytest.raises(HyperparameterError, match="shuffle seed must be a non-negative integer"):
        train(net, params, x, y, optimizer="gd", lr=0.1, steps=1, batch_size=1, seed=True)
    with pytest.raises(HyperparameterError, match="batch size must be a positive integer"):
        train(net, params, x, y, optimizer="gd", lr=0.1, steps=1, batch_size=True)


def test_a_progress_bar_only_when_asked_or_on_a_terminal(capsys):
    """``progress=True`` draws tqdm's bar (to stderr, named by the optimizer) wherever it runs;
    ``None`` draws one only on a terminal, and pytest's captured stderr is not one."""
    net, params, x, y = _heavy_ball_case()
    train(net, params, x, y, optimizer="gd", lr=0.01, steps=3, progress=True)
    err = capsys.readouterr().err
    assert "train gd:" in err and "0/3" in err and "step/s" in err, err
    assert not err.endswith("\n"), "the bar is cleared when the run ends, not left on screen"
    train(net, params, x, y, optimizer="gd", lr=0.01, steps=3, progress=None)
    train(net, params, x, y, optimizer="gd", lr=0.01, steps=3, progress=False)
    assert capsys.readouterr().err == ""


def test_a_zero_gradient_is_a_norm_of_zero_not_a_divergence():
    """At an exact minimum (w + b = 0, so E = 0 and g = 0) the run completes with gradient norms
    of 0: the norm's scaled branch returns max |g_i| = 0 before dividing by it (``m == 0.0 and``
    for ``or``, a mutant, made it 0 / 0, a NaN norm, and a "diverged" run)."""
    net, _, x, y = _heavy_ball_case()
    params = {"o.W": np.array([[1.0]]), "o.b": np.array([-1.0])}
    for opt, kw in (("gd", {}), ("momentum", {"momentum": 0.5})):
        t = train(net, params, x, y, optimizer=opt, lr=0.1, steps=3, **kw)
        assert t.status == "completed", t.message
        assert t.grad_norms.tolist() == [0.0] * 4 and t.step_norms.tolist() == [0.0] * 3


def test_a_batch_of_every_row_is_full_batch():
    """``batch_size`` >= n is full batch: no permutation (the same bits as no batch size), and
    the trajectory records ``batch_size`` None; n - 1 is a minibatch run."""
    net, params, x, y = _design_case()
    n = len(x)
    full = train(net, params, x, y, optimizer="gd", lr=0.05, steps=4)
    for b in (n, n + 1):
        t = train(net, params, x, y, optimizer="gd", lr=0.05, steps=4, batch_size=b)
        assert t.batch_size is None and np.array_equal(t.losses, full.losses)
        assert np.array_equal(t.grad_norms, full.grad_norms)
    assert (
        train(net, params, x, y, optimizer="gd", lr=0.05, steps=4, batch_size=n - 1).batch_size
        == n - 1
    )


def test_a_dict_form_optimizer_may_keep_the_gradients_it_is_given():
    """An optimizer without a flat form may keep the arrays ``update`` is handed (here the last
    gradient, averaged with the next one), so the trainer hands it fresh arrays each step, never
    views of its gradient vector that the next step overwrites (views for dict forms too, a
    mutant, passed the ledger, whose optimizers all have flat forms)."""
    net, params, x, y = _design_case()
    lr = 0.05

    def update(grads, prev, w):
        prev = grads if prev is None else prev
        return {k: -lr * (prev[k] + grads[k]) / 2 for k in grads}, grads, StepInfo(None)

    t = train(
        net, params, x, y, optimizer=Optimizer("kept", {"lr": lr}, lambda w: None, update), steps=4
    )
    w, prev, losses = dict(params), None, []  # the same rule by hand, each gradient fresh
    for _ in range(5):
        E, g = net.loss_and_grad(w, x, y)
        losses.append(E)
        dw, prev, _ = update(g, prev, w)
        w = {k: w[k] + dw[k] for k in w}
    assert t.status == "completed" and np.array_equal(t.losses, losses)
