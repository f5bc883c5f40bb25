"""What training starts from: a dense layer's initial weights and the built-in data (holds).

Every other claim trains from an initialisation and on data, but none looked at either: a
held-out reviewer's bugs -- a Glorot bound of sqrt(6 / fan_in) for sqrt(6 / (fan_in + fan_out)),
and standardisation with the sample standard deviation (ddof 1) for the population one -- passed
the whole ledger. Two claims state the documented starting points:

* ``dense-init-glorot-uniform``: a dense layer's ``W`` (in, out) is drawn from U(-a, a),
  a = sqrt(6 / (in + out)) (README: "Glorot-uniform init"), and ``b`` is 0. Every entry must lie
  in [-a, a]; on layers of 256 entries or more the largest |W| must exceed 0.9 a (a uniform
  sample misses that with probability 0.9^256 < 2e-11), so a bound too small fails as well as
  one too large, and some entry must exceed a / 2 and some lie below -a / 2 (missed with
  probability 0.75^256 < 1e-31 each), so a one-sided draw fails. The default seed is 0:
  ``init()`` must give ``init(seed=0)``'s bits. The layer has a twin of its shape on the same
  input (their sum is the output), and the two must start from different weights: one
  ``default_rng(seed)`` serves the layers in turn (``Network.init``), and a generator started
  afresh per layer gave twins equal weights, which gradient descent keeps equal, so the net
  trains as if it had one branch (a held-out planted-bug audit: it passed the whole ledger).
* ``builtin-data-standardised``: every built-in data set's input columns have mean 0 (to
  16 n eps times the column's largest magnitude) and population standard deviation (ddof 0) 1 to
  1e-12, or are constant and exactly 0 (impl/data.py's conventions); class labels are int64 in
  0..K-1, each class present.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.data import BUILTIN_DATASETS, load_data
from descentcheck.impl.network import Network

from ..claim import Claim, Context, Verdict
from ..profiles import Profile

EPS = float(np.finfo(np.float64).eps)


@st.composite
def _layer(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    fan_in = draw(st.integers(1, 48), label="inputs")
    fan_out = draw(st.integers(1, 48), label="units")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    return {"fan_in": fan_in, "fan_out": fan_out, "seed": seed}


def _glorot_problems(name: str, W: np.ndarray, b: np.ndarray, a: float, shape: tuple) -> list:
    """What a layer's (W, b) shows against U(-a, a) and 0 (the module docstring's tests)."""
    top = float(np.max(np.abs(W)))
    problems = []
    if W.shape != shape or not top <= a:  # NaN entries too
        problems.append(f"{name}.W {W.shape} reaches {top!r} beyond a = {a!r}")
    if W.size >= 256 and top < 0.9 * a:
        problems.append(f"{name}.W's largest |entry| {top!r} < 0.9 a on {W.size} entries")
    if W.size >= 256 and not (np.min(W) < -0.5 * a and np.max(W) > 0.5 * a):
        problems.append(f"{name}.W's entries span [{np.min(W)!r}, {np.max(W)!r}], not both signs")
    if np.any(b != 0):
        problems.append(f"{name}.b is not 0")
    return problems


def _check_layer(drawn: dict[str, Any], ctx: Context) -> Verdict:
    fan_in, fan_out = drawn["fan_in"], drawn["fan_out"]
    spec = {
        "inputs": fan_in,
        "output": "s",
        "loss": "mse",
        "nodes": [
            {"name": "h", "op": "dense", "units": fan_out, "inputs": ["input"]},
            {"name": "twin", "op": "dense", "units": fan_out, "inputs": ["input"]},
            {"name": "s", "op": "add", "inputs": ["h", "twin"]},
        ],
    }
    net = Network.from_spec(spec)
    p = net.init(seed=drawn["seed"])
    a = float(np.sqrt(6.0 / (fan_in + fan_out)))
    problems = []
    for name in ("h", "twin"):
        problems += _glorot_problems(name, p[f"{name}.W"], p[f"{name}.b"], a, (fan_in, fan_out))
    # equal twins are a restarted generator's, not chance: U(-a, a) draws collide with
    # probability 0 (two entries, about 2^-53)
    twins = np.array_equal(p["h.W"], p["twin.W"])
    if twins:
        problems.append("the twin layers start from equal weights (one generator per layer?)")
    if not np.array_equal(net.init()["h.W"], net.init(seed=0)["h.W"]):
        problems.append("init() is not init(seed=0)")
    top = float(np.max(np.abs(p["h.W"])))
    large = p["h.W"].size >= 256
    measured = {
        "worst_max_over_bound": top / a,
        "least_max_over_bound_on_large_layers": top / a if large else float("nan"),
        "large_layers": float(large),
        "twins_equal": float(twins),
    }
    theory = {"worst_max_over_bound": 1.0}
    return Verdict(not problems, measured, theory, message="; ".join(problems))


def _data(profile: Profile) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"name": st.sampled_from(BUILTIN_DATASETS), "seed": st.integers(0, 2**32 - 1)}
    )


def _check_data(drawn: dict[str, Any], ctx: Context) -> Verdict:
    d = load_data(drawn["name"], seed=drawn["seed"])
    x = d.x
    n = x.shape[0]
    problems = []
    mean = x.mean(axis=0)
    std = x.std(axis=0)  # population (ddof 0), the documented convention
    constant = np.all(x == x[:1], axis=0)
    if np.any(x[:, constant] != 0):
        problems.append("a constant column is not exactly 0")
    scale = np.max(np.abs(x), axis=0, initial=0.0)
    worst_mean = float(np.max(np.abs(mean) / (16 * n * EPS * np.maximum(scale, 1.0)), initial=0))
    worst_std = float(np.max(np.abs(std[~constant] - 1.0), initial=0.0)) / 1e-12
    if not worst_mean <= 1.0:  # NaN too
        problems.append(f"column means {mean}")
    if not worst_std <= 1.0:
        problems.append(f"column standard deviations (ddof 0) {std}")
    if d.task == "classification":
        y = d.y
        k = d.n_classes or 0
        if y.dtype != np.int64 or set(np.unique(y).tolist()) != set(range(k)):
            problems.append(f"labels {np.unique(y)} are not int64 0..{k - 1}, each present")
    measured = {
        "worst_mean_over_tolerance": worst_mean,
        "worst_std_error_over_tolerance": worst_std,
        "constant_columns": float(constant.sum()),
    }
    theory = {"worst_mean_over_tolerance": 1.0, "worst_std_error_over_tolerance": 1.0}
    return Verdict(not problems, measured, theory, message="; ".join(problems)[:400])


DENSE_INIT = Claim(
    id="dense-init-glorot-uniform",
    statement=(
        "A dense layer initialises W from U(-a, a), a = sqrt(6 / (in + out)), and b to 0: every "
        "|W| <= a, and on 256 entries or more the largest |W| exceeds 0.9 a; two layers of one "
        "net start from different draws"
    ),
    source="README's spec section (dense: Glorot-uniform init; Glorot & Bengio 2010)",
    conditions=(
        "a dense layer of 1-48 inputs and 1-48 units, any seed, beside a twin of its shape on "
        "the same input (the net's output is their sum)",
    ),
    expect="holds",
    strategy=_layer,
    check=_check_layer,
    summary={
        "worst_max_over_bound": "max",
        "least_max_over_bound_on_large_layers": "min",
        "large_layers": "sum",
        "twins_equal": "sum",
    },
    cost=0.5,
)

BUILTIN_DATA = Claim(
    id="builtin-data-standardised",
    statement=(
        "Every built-in data set's inputs are standardised per column (mean 0, population "
        "standard deviation 1; a constant column exactly 0) and its class labels are int64 0..K-1"
    ),
    source="impl/data.py's conventions, as the README's data section states them",
    conditions=("each built-in (scikit-learn's bundled sets and the synthetic ones), any seed",),
    expect="holds",
    strategy=_data,
    check=_check_data,
    summary={
        "worst_mean_over_tolerance": "max",
        "worst_std_error_over_tolerance": "max",
        "constant_columns": "max",
    },
    cost=0.5,
    # 8 data sets, 5 of them the same for every seed: a quarter of the profile's cases still
    # loads each synthetic one under dozens of seeds and each bundled one a dozen times
    examples_scale=0.25,
)

CLAIMS = (DENSE_INIT, BUILTIN_DATA)
