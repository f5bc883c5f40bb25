"""A step the floats pass but ball arithmetic proves false is a certified violation, never an
uncertified pass (held-out soundness review): ``check_steps`` with a guarantee inside the float
tolerance above the observed decrease, ``judge_decreases`` with a float fall the balls disprove."""

from __future__ import annotations

import numpy as np

import descentcheck as dc
from descentcheck.properties.steps import check_steps, judge_decreases, resolution, rose_words
from descentcheck.properties.strategies import Case

SPEC = {
    "inputs": 2,
    "output": "out",
    "loss": "mse",
    "nodes": [
        {"name": "h", "op": "dense", "units": 3, "inputs": ["input"]},
        {"name": "a", "op": "tanh", "inputs": ["h"]},
        {"name": "out", "op": "dense", "units": 1, "inputs": ["a"]},
    ],
}
X = np.array([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0], [0.0, -0.5], [1.0, 1.0], [-2.0, 0.5]])
Y = np.array([0.25, -1.0, 0.5, 1.5, -0.5, 0.0])


def _run(steps: int = 2):
    net = dc.Network.from_spec(SPEC)
    x, yt = net.check_data(X, Y)
    w0 = net.init(seed=0, x=x)
    traj = dc.train(net, w0, x, yt, optimizer="gd", lr=0.05, steps=steps, keep_params=True)
    return Case(SPEC, net, x, Y, yt, w0, 0), traj


def test_a_float_pass_the_balls_disprove_beyond_tolerance_is_a_violation():
    """A trainer whose float loss is off by more than tol_k (here the losses it reports after
    the step are 2 tol_k too low) passes the float test; the balls, evaluating the real loss at
    its iterates, prove the decrease short of bound - tol_k: a certified violation."""
    case, traj = _run()
    L = np.array(traj.losses)
    true_drop = [float(L[k] - L[k + 1]) for k in range(2)]
    tol = [resolution(float(L[k]), float(L[k + 1])) for k in range(2)]
    reported = L.copy()
    reported[1:] -= 2 * tol[0]

    def above_the_true_drop(k, _L):
        return true_drop[k] + 1.5 * tol[k]

    tally = check_steps(
        case,
        reported,
        traj.grad_norms,
        traj.params_history,
        above_the_true_drop,
        lambda k, _L: True,
        None,
    )
    assert tally.violation == 0 and tally.details["certified_violation"] is True
    # an honest guarantee below the decrease stays a certified pass
    honest = check_steps(
        case,
        L,
        traj.grad_norms,
        traj.params_history,
        lambda k, _L: true_drop[k] / 2,
        lambda k, _L: True,
        None,
    )
    assert honest.violation is None and honest.certified == 2


def test_a_correct_step_short_of_the_bound_by_its_rounding_is_no_violation():
    """The review's false alarm: least squares with |w| ~ 1e3 and lr L ~ 1e-8, where the float
    iterates lose about 6e-5 of the guaranteed decrease to rounding; the balls prove the real
    decrease short of the bound, but not of bound - tol_k: an uncertified pass."""
    from descentcheck.theory.descent import gd_decrease_bound, gd_guaranteed

    spec = {
        "inputs": 3,
        "output": "out",
        "loss": "mse",
        "nodes": [{"name": "out", "op": "dense", "units": 1, "inputs": ["input"]}],
    }
    net = dc.Network.from_spec(spec)
    X = np.array([[0.5, -1.25, 2.0], [1.5, 0.25, -0.75], [-1.0, 2.0, 0.5], [0.25, 0.5, 1.0]])
    w_star = np.array([[1250.0], [-875.5], [640.25]])
    x, yt = net.check_data(X, (X @ w_star)[:, 0])
    w0 = {"out.W": w_star + np.array([[0.03125], [-0.0625], [0.015625]]), "out.b": np.zeros(1)}
    case = Case(spec, net, x, (X @ w_star)[:, 0], yt, w0, 0)
    false_alarms = 0
    for lr in (1e-11, 3e-11, 1e-10, 3e-10, 1e-9, 3e-9, 1e-8):
        traj = dc.train(net, w0, x, yt, optimizer="gd", lr=lr, steps=3, keep_params=True)
        t = check_steps(
            case,
            traj.losses,
            traj.grad_norms,
            traj.params_history,
            lambda k, L, t=traj, lr=lr: gd_decrease_bound(lr, L, float(t.grad_norms[k])),
            lambda k, L, lr=lr: gd_guaranteed(lr, L),
            None,
            lr=lr,
        )
        false_alarms += t.violation is not None
    assert false_alarms == 0


def test_a_float_fall_the_balls_disprove_is_a_certified_violation():
    case, traj = _run(steps=1)
    history = traj.params_history
    e0, e1 = traj.losses
    assert e1 < e0
    # the same two points in reverse: the real loss rises, while the losses handed in say it fell
    reversed_history = [history[1], history[0]]
    tally = judge_decreases(case, np.array([e0, e1]), reversed_history)
    assert tally.violation == 0
    assert tally.details["certified_violation"] and tally.details["float_decrease_disproved"]
    assert "the real one did not" in rose_words(tally.details, e0, e1)
    # the true order is a certified decrease
    assert judge_decreases(case, np.array([e0, e1]), history).violation is None


def _bias_only_case() -> Case:
    """A bias-only mse net on dyadic data (x = 0): L = 1, and its losses are exact in float64."""
    spec = {
        "inputs": 1,
        "output": "out",
        "loss": "mse",
        "nodes": [{"name": "out", "op": "dense", "units": 1, "inputs": ["input"]}],
    }
    net = dc.Network.from_spec(spec)
    y = np.array([0.5, -0.25, 1.0, 0.75])
    x, yt = net.check_data(np.zeros((4, 1)), y)
    return Case(spec, net, x, y, yt, {"out.W": np.zeros((1, 1)), "out.b": np.array([2.0])}, 0)


def test_a_decrease_within_one_ulp_of_the_float_bound_is_not_certified():
    """The float bound stands for theory's exact c_k |g_k|^2 rounded to nearest, which may lie
    above it: a real decrease one ulp above the float bound (here exactly the bound's next
    float) is not certified to exceed the exact bound (a held-out review: it was), while half
    of it is. A bias-only mse step on dyadic data: the two losses and their difference are
    exact in float64."""
    import math
    from fractions import Fraction

    case = _bias_only_case()
    traj = dc.train(
        case.net, case.params, case.x, case.yt, optimizer="gd", lr=0.25, steps=1, keep_params=True
    )
    e0, e1 = (float(e) for e in traj.losses)
    drop = e0 - e1
    assert Fraction(e0) - Fraction(e1) == Fraction(drop) > 0  # the real decrease, exactly

    def tally(bound: float):
        return check_steps(
            case,
            traj.losses,
            traj.grad_norms,
            traj.params_history,
            lambda k, _L: bound,
            lambda k, _L: True,
            None,
        )

    close = tally(math.nextafter(drop, -math.inf))
    assert (close.tested, close.certified, close.violation) == (1, 0, None)
    far = tally(drop / 2)
    assert (far.tested, far.certified, far.violation) == (1, 1, None)


def test_the_skip_claims_premise_needs_every_sequential_step_shown_to_decrease():
    """The skip claims' premise, "the sequential run decreases at every step", is not met by a
    run whose later steps change the loss by less than the float resolution (unresolved, not
    shown to decrease; a held-out review: such a premise was accepted). A bias-only mse net with
    lr = 1/L_0 reaches its minimum in one step and stays there."""
    import pytest
    from hypothesis.errors import UnsatisfiedAssumption

    from descentcheck.properties.claim import Context
    from descentcheck.properties.claims.skip import pair_check
    from descentcheck.properties.profiles import get_profile

    case = _bias_only_case()
    drawn = {"seq": case, "skip": case, "source": 0, "target": 1}
    with pytest.raises(UnsatisfiedAssumption):
        pair_check(
            drawn, Context(get_profile("fast")), lambda d, L0: {"optimizer": "gd", "lr": 1 / L0}
        )
