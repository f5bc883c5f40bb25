"""The metamorphic rewrites on a hand-made spec with add, concat and a distance layer."""

from __future__ import annotations

import numpy as np
import pytest

from descentcheck.impl.network import Network
from descentcheck.properties.transforms import (
    add_zero_branch,
    permutable_nodes,
    permute_units,
    reorder_rename,
)

# DESIGN.md's example: a skip through add, a distance layer, a dense output
SPEC = {
    "inputs": 3,
    "output": "out",
    "loss": "mse",
    "nodes": [
        {"name": "h1", "op": "dense", "units": 6, "inputs": ["input"]},
        {"name": "a1", "op": "tanh", "inputs": ["h1"]},
        {"name": "h2", "op": "dense", "units": 6, "inputs": ["a1"]},
        {"name": "s", "op": "add", "inputs": ["h2", "a1"]},
        {"name": "c", "op": "concat", "inputs": ["s", "a1"]},
        {"name": "g", "op": "gaussian", "units": 4, "radius": "per_connection", "inputs": ["c"]},
        {"name": "out", "op": "dense", "units": 2, "inputs": ["g"]},
    ],
}


@pytest.fixture()
def problem():
    net = Network.from_spec(SPEC)
    x = np.linspace(-1, 1, 15).reshape(5, 3)
    y = np.cos(np.arange(10.0)).reshape(5, 2)
    return net, x, y, net.init(seed=3, x=x)


def test_permuting_a_unit_through_add_and_concat_keeps_the_loss(problem):
    net, x, y, params = problem
    perm = [5, 0, 3, 1, 4, 2]
    moved = permute_units(SPEC, params, "h1", perm)
    assert moved is not None
    assert not np.array_equal(moved["h1.W"], params["h1.W"])
    # h2's units must follow (they meet a1 at the add), g's columns too (it reads the concat)
    assert np.array_equal(moved["h2.W"][:, 0], params["h2.W"][perm, 5])
    assert np.array_equal(moved["g.centroids"][:, :6], params["g.centroids"][:, perm])
    assert net.loss(moved, x, y) == pytest.approx(net.loss(params, x, y), rel=1e-13)


def test_a_permutation_that_reaches_the_output_is_refused(problem):
    _, _, _, params = problem
    assert "out" not in permutable_nodes(SPEC)
    assert permute_units(SPEC, params, "out", [1, 0]) is None


def test_zero_branch_changes_nothing_bit_for_bit(problem):
    net, x, y, params = problem
    spec2, params2 = add_zero_branch(SPEC, params, "s", "h1", "per_unit", np.ones((6, 6)))
    net2 = Network.from_spec(spec2)
    assert len(spec2["nodes"]) == len(SPEC["nodes"]) + 2
    a = net.loss_and_grad(params, x, y)
    b = net2.loss_and_grad(params2, x, y)
    assert a[0] == b[0]
    for k in params:
        assert np.array_equal(a[1][k], b[1][k])
    zero = [k for k in params2 if k.startswith("zero_branch")]
    assert all(not np.any(b[1][k]) for k in zero)


def test_zero_branch_refuses_a_cycle(problem):
    _, _, _, params = problem
    with pytest.raises(ValueError, match="cycle"):
        add_zero_branch(SPEC, params, "a1", "g", "per_unit", np.ones((6, 4)))


def test_reorder_and_rename(problem):
    net, x, y, params = problem
    n = len(SPEC["nodes"])
    spec2, params2 = reorder_rename(SPEC, params, list(range(n))[::-1], [f"n{i}" for i in range(n)])
    assert spec2["nodes"][0]["name"] == f"n{n - 1}"
    assert net.loss(params, x, y) == Network.from_spec(spec2).loss(params2, x, y)
