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


def test_a_float_pass_within_tolerance_that_the_balls_disprove_is_a_violation():
    case, traj = _run()
    L = traj.losses

    def just_above_observed(k, _L):  # a guarantee the floats cannot tell from the decrease
        return float(L[k] - L[k + 1]) + 0.5 * resolution(float(L[k]), float(L[k + 1]))

    tally = check_steps(
        case, L, traj.grad_norms, traj.params_history, just_above_observed, lambda k, _L: True, None
    )
    assert tally.violation == 0 and tally.details["certified_violation"] is True
    # an honest guarantee below the decrease stays a certified pass
    honest = check_steps(
        case,
        L,
        traj.grad_norms,
        traj.params_history,
        lambda k, _L: float(L[k] - L[k + 1]) / 2,
        lambda k, _L: True,
        None,
    )
    assert honest.violation is None and honest.certified == 2


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
