"""The interval certifier: it encloses the loss, certifies real decreases, and rejects fake ones."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from specs import hidden_net

from descentcheck.impl.network import Network
from descentcheck.impl.trainer import train
from descentcheck.properties import cases, certify_decrease, certify_increase, interval_loss
from descentcheck.properties.certify import PROVED_FALSE, Enclosures
from descentcheck.properties.profiles import (
    TEST_PROFILE_HEAVY,
    TEST_PROFILE_MEDIUM,
    hypothesis_settings,
)

LINEAR = {
    "inputs": 3,
    "output": "out",
    "loss": "mse",
    "nodes": [{"name": "out", "op": "dense", "units": 2, "inputs": ["input"]}],
}


def _linear_problem():
    net = Network.from_spec(LINEAR)
    grid = np.arange(-16, 17) / 8.0
    x = np.array([[grid[(5 * i + 3 * j) % 33] for j in range(3)] for i in range(8)])
    y = np.array([[grid[(7 * i + j) % 33] / 2 for j in range(2)] for i in range(8)])
    params = {"out.W": np.array([[0.3, -0.7], [1.1, 0.2], [-0.4, 0.9]]), "out.b": np.zeros(2)}
    return net, x, y, params


@hypothesis_settings(TEST_PROFILE_MEDIUM)
@given(cases())
def test_interval_encloses_the_float_loss(case):
    with np.errstate(all="ignore"):
        E = float(case.net.loss(case.params, case.x, case.yt))
    if not np.isfinite(E):
        return
    enclosure = interval_loss(case.net, case.params, case.x, case.yt)
    lo, hi = float(enclosure.lower()), float(enclosure.upper())
    slack = 1e-12 * abs(E) + 1e-300
    assert lo - slack <= E <= hi + slack


def test_a_real_gradient_step_is_certified():
    net, x, y, params = _linear_problem()
    traj = train(net, params, x, y, "gd", lr=0.05, steps=1, keep_params=True)
    w0, w1 = traj.params_history
    cert = certify_decrease(net, w0, w1, x, y)
    assert cert.certified and cert.margin > 0
    assert not certify_increase(net, w0, w1, x, y).certified


def test_no_change_is_not_a_decrease():
    net, x, y, params = _linear_problem()
    cert = certify_decrease(net, params, {k: v.copy() for k, v in params.items()}, x, y)
    assert not cert.certified


def test_a_fake_decrease_is_rejected():
    """At the least-squares optimum of a linear model the true loss barely changes under moves
    of a few ulps, while float64 evaluation noise is ~eps E: many moves *look* like decreases.
    Among those that 200-bit intervals prove to be increases, none may be certified as a
    decrease; and whatever is certified at 53 bits must be a decrease at 200 bits too."""
    net = Network.from_spec(LINEAR)
    i = np.arange(40.0)  # non-dyadic data, so that float64 rounding is visible in E
    x = np.stack([np.sin(i) * 3, np.cos(1.7 * i) * 2, np.sin(0.3 * i + 1)], axis=1)
    y = np.stack([np.cos(2.3 * i) * 5 + 1, np.sin(0.77 * i) * 4], axis=1)
    X1 = np.hstack([x, np.ones((len(x), 1))])
    theta = np.linalg.lstsq(X1, y, rcond=None)[0]
    params = {"out.W": theta[:3], "out.b": theta[3]}
    E0 = float(net.loss(params, x, y))
    fakes = 0
    for k in range(1, 120):
        signs = {
            key: ((np.arange(v.size).reshape(v.shape) * k) % 3) - 1.0 for key, v in params.items()
        }
        moved = {key: v + signs[key] * k * np.spacing(np.abs(v)) for key, v in params.items()}
        if not float(net.loss(moved, x, y)) < E0:  # float64 must say it went down
            continue
        cert = certify_decrease(net, params, moved, x, y)
        if certify_increase(net, params, moved, x, y, prec=200).certified:
            fakes += 1
            assert not cert.certified, k
        if cert.certified:
            assert certify_decrease(net, params, moved, x, y, prec=200).certified, k
    assert fakes >= 10, "too few rounding-level fake decreases were found to test against"


@given(st.floats(0.01, 0.5))
@hypothesis_settings(TEST_PROFILE_HEAVY)
def test_decreases_far_above_rounding_are_certified(lr):
    net, x, y, params = _linear_problem()
    traj = train(net, params, x, y, "gd", lr=lr, steps=3, keep_params=True)
    h = traj.params_history
    for k in range(3):
        if traj.losses[k] - traj.losses[k + 1] > 1e-10 * traj.losses[k]:
            assert certify_decrease(net, h[k], h[k + 1], x, y).certified


def test_relu_is_reported_uncertifiable_with_its_reason():
    net = Network.from_spec(hidden_net(2, "relu", name="r"))
    _, x, y, _ = _linear_problem()
    traj = train(net, net.init(seed=0, x=x), x, y, "gd", lr=0.05, steps=1, keep_params=True)
    cert = Enclosures(net, traj.params_history, x, y).decrease(0)
    assert not cert.certified
    assert "relu" in cert.reason and "not smooth" in cert.reason


@given(st.floats(0.01, 0.5), st.floats(0.0, 1.0))
@hypothesis_settings(TEST_PROFILE_HEAVY)
def test_a_guaranteed_margin_is_certified_only_when_met(lr, share):
    """``decrease(k, by=c)`` proves E_k - E_k+1 > c: true for c below the real decrease (here a
    share of the float decrease, minus rounding), proved false well above it."""
    net, x, y, params = _linear_problem()
    traj = train(net, params, x, y, "gd", lr=lr, steps=1, keep_params=True)
    balls = Enclosures(net, traj.params_history, x, y)
    drop = float(traj.losses[0] - traj.losses[1])
    assert balls.decrease(0, by=share * drop * (1 - 1e-9)).certified
    above = balls.decrease(0, by=drop * (1.5 + share))
    assert not above.certified and above.reason == PROVED_FALSE


def test_a_point_with_an_infinite_weight_is_never_certified():
    """An inf weight gave a "certified increase" to an infinite loss, at a point that is no
    real network (held-out soundness review): such a step is uncertified, with that reason."""
    from descentcheck.properties.certify import NOT_REAL

    net, x, y, params = _linear_problem()
    blown = {**params, "out.W": params["out.W"] * np.array([[1.0, np.inf], [1.0, 1.0], [1.0, 1.0]])}
    for cert in (
        certify_increase(net, params, blown, x, y),
        certify_decrease(net, blown, params, x, y),
        Enclosures(net, [params, blown], x, y).increase(0),
        Enclosures(net, [blown, params], x, y).decrease(0),
    ):
        assert not cert.certified and cert.reason == NOT_REAL
    assert certify_increase(net, params, {**params, "out.b": np.ones(2)}, x, y).certified


@given(
    st.floats(-4, 4),
    st.floats(-4, 4),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
)
@hypothesis_settings(TEST_PROFILE_MEDIUM)
def test_decide_certifies_on_the_whole_balls_not_their_centres(mb, ma, rb, ra, by):
    """``decide`` certifies ``before - after > by`` for every point of both balls: never when
    the balls' ends do not bear it out, always when they do with room to spare (arb may round
    a radius up by a relative 2^-30). A decision on the centres alone (a mutation audit's
    survivor: no test made a radius matter) certifies overlapping balls."""
    from flint import arb

    from descentcheck.properties.certify import decide

    cert = decide(arb(mb, rb), arb(ma, ra), by)
    margin = (Fraction(mb) - Fraction(rb)) - (Fraction(ma) + Fraction(ra)) - Fraction(by)
    if cert.certified:
        assert margin > 0, (mb, ma, rb, ra, by)
    elif margin > Fraction(1, 10**6):
        raise AssertionError(f"not certified with margin {float(margin)}: {cert.reason}")


def test_decide_on_overlapping_and_separated_balls():
    """The audit's example: 1 +/- 0.01 holds 0.99 < 0.995, so no decrease to 0.995 is proved;
    1 +/- 0.001 is above it everywhere."""
    from flint import arb

    from descentcheck.properties.certify import decide

    assert not decide(arb("1 +/- 0.01"), arb("0.995")).certified
    assert decide(arb("1 +/- 0.001"), arb("0.995")).certified


@hypothesis_settings(TEST_PROFILE_MEDIUM)
@given(
    st.lists(st.integers(167, 300), min_size=2, max_size=2, unique=True),
    st.lists(st.sampled_from(["a", "r1", "act", "hidden"]), min_size=2, max_size=2, unique=True),
)
def test_a_reason_names_the_kind_of_net_so_the_ledger_counts_it_once(widths, names):
    """The ledger counts each uncertified reason over its cases: a reason that carried the net's
    parameter count (or a node's name) split one reason into a key per net, 24 of them in one
    claim's measured table at thorough."""
    from descentcheck.properties.certify import MAX_PARAMS, uncertifiable

    big = [Network.from_spec(hidden_net(w, "tanh")) for w in widths]
    assert all(n.n_params > MAX_PARAMS for n in big)
    assert {uncertifiable(n) for n in big} == {f"more than {MAX_PARAMS} parameters"}
    relu = {uncertifiable(Network.from_spec(hidden_net(3, "relu", name=name))) for name in names}
    assert len(relu) == 1 and "relu" in relu.pop()


def test_a_whole_run_of_a_net_as_large_as_thorough_draws_is_certified():
    """The thorough profile draws nets of up to ~900 parameters; with the cap at 400, 75 of its
    3,749 whole-run cases were left to the float check. A 902-parameter net's run is decided in
    Arb balls by both whole-run claims."""
    from types import SimpleNamespace

    from descentcheck.properties.claims.convergence import certify_path
    from descentcheck.properties.claims.weak_convergence import certify_gradient_sum

    net = Network.from_spec(hidden_net(150, "tanh"))
    assert net.n_params == 902
    x, y = net.check_data(
        np.linspace(-1, 1, 48).reshape(16, 3), np.cos(np.arange(32.0)).reshape(16, 2)
    )
    traj = train(
        net,
        net.init(seed=0, x=x),
        x,
        y,
        "adaptive_momentum",
        lr=0.1,
        tau=0.0,
        steps=8,
        keep_params=True,
    )
    run = {"case": SimpleNamespace(net=net, x=x, yt=y), "traj": traj, "K": 8, "L": 8.0}
    run["hp"] = {"lr": 0.1, "tau": 0.0}
    assert certify_path(run) == ("certified", -1, "")
    assert certify_gradient_sum(run) == ("certified", -1, "")
