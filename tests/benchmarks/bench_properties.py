"""Property throughput: generated cases per second for the main descent claim.

The claim is ``adaptive-momentum-descent`` (``descentcheck.properties.claims.descent.ADAPTIVE``),
run by ``descentcheck.properties.runner.run_property_claim`` exactly as ``verify`` runs it, on the
``ci`` profile with a fixed Hypothesis seed, a fresh example database per round, one process, and
interval certification off (a separate, deliberately slow check): each case draws a random DAG,
data and hyperparameters, estimates L by power iteration (complex-step Hessian-vector products),
trains with adaptive momentum and checks every step against its local L_k.

Where that API is missing (the properties package changed), a proxy is timed instead and the
JSON says so: build a random small DAG spec, initialise it, train 20 full-batch steps.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace

import numpy as np

CASES = 40


def _claim_runner():
    try:
        from descentcheck.properties.claims.descent import ADAPTIVE
        from descentcheck.properties.profiles import get_profile
        from descentcheck.properties.runner import run_property_claim
    except (ImportError, AttributeError):
        return None
    base = replace(get_profile("ci"), examples=CASES, certify_cases=0, seed=0, jobs=1)

    def run() -> int:
        with tempfile.TemporaryDirectory() as db:
            result = run_property_claim(ADAPTIVE, replace(base, database=db))
        assert result["outcome"] == "held", result["message"]
        return int(result["examples"])

    return run


def _random_spec(rng: np.random.Generator) -> dict:
    """A small random DAG: 1-4 blocks (dense or gaussian, then tanh/sigmoid/softplus), each
    reading the previous block and maybe an earlier one through add (equal widths) or concat."""
    width = int(rng.integers(2, 6))
    nodes, outs = [], ["input"]
    for i in range(int(rng.integers(1, 5))):
        src = outs[-1]
        if len(outs) > 1 and rng.random() < 0.5:
            nodes.append({"name": f"m{i}", "op": "concat", "inputs": [outs[-1], outs[-2]]})
            src = f"m{i}"
        op = "dense" if rng.random() < 0.6 else "gaussian"
        nodes.append({"name": f"l{i}", "op": op, "units": width, "inputs": [src]})
        act = str(rng.choice(["tanh", "sigmoid", "softplus"]))
        nodes.append({"name": f"a{i}", "op": act, "inputs": [f"l{i}"]})
        outs.append(f"a{i}")
    nodes.append({"name": "out", "op": "dense", "units": 2, "inputs": [outs[-1]]})
    return {"inputs": 3, "output": "out", "loss": "mse", "nodes": nodes}


def _proxy_runner():
    from descentcheck.impl.network import Network
    from descentcheck.impl.trainer import train

    def run() -> int:
        rng = np.random.default_rng(0)
        for seed in range(CASES):
            net = Network.from_spec(_random_spec(rng))
            x, y = net.check_data(rng.standard_normal((8, 3)), rng.standard_normal((8, 2)))
            params = net.init(seed=seed, x=x)
            train(net, params, x, y, "adaptive_momentum", lr=0.05, tau=0.01, steps=20)
        return CASES

    return run


def test_property_throughput(benchmark):
    run = _claim_runner()
    what = "adaptive-momentum-descent claim (ci profile, certification off)"
    if run is None:
        run = _proxy_runner()
        what = "proxy: random small DAG spec + init + 20 full-batch adaptive-momentum steps"
    counts: list[int] = []
    benchmark.group = "throughput"
    benchmark.pedantic(lambda: counts.append(run()), rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(kind="throughput", case="property", measured=what, cases=counts[-1])
