"""The other costs a user meets: the theory suite, a gradient check, and CLI start-up.

* ``python -m descentcheck.theory`` in a fresh process: every SymPy derivation and proof plus the
  numeric agreement checks (SymPy import and derivation caches included, as a user runs it);
* ``descentcheck.impl.gradcheck.check_network_gradient`` on each small benchmark DAG (complex
  step, every parameter entry);
* a loss plugin's lambdified value and gradient (``LossPlugin.value_and_grad``);
* ``descentcheck --help`` and ``descentcheck train --help`` as subprocesses (goal: < 0.3 s, which
  needs SymPy and matplotlib imported lazily).

The ledger's own time (``verify --profile ci``, goal 150 s) is ``bench_properties.test_ledger_ci``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from nets import SMALL, problem


def _cli() -> list[str]:
    exe = shutil.which("descentcheck")
    return [exe] if exe else [sys.executable, "-m", "descentcheck"]


def test_theory_suite(benchmark):
    out: list[subprocess.CompletedProcess] = []

    def run() -> None:
        cmd = [sys.executable, "-m", "descentcheck.theory"]
        out.append(subprocess.run(cmd, capture_output=True, text=True))

    benchmark.group = "theory"
    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    summary = out[-1].stdout.strip().splitlines()[-1] if out[-1].stdout.strip() else ""
    m = re.search(r"(\d+) passed, (\d+) failed", summary)
    benchmark.extra_info.update(
        kind="theory",
        case="python -m descentcheck.theory",
        exit_status=out[-1].returncode,
        summary=summary,
        passed=int(m.group(1)) if m else None,
        failed=int(m.group(2)) if m else None,
    )


@pytest.mark.parametrize("case", list(SMALL))
def test_gradcheck(benchmark, case):
    from descentcheck.impl.gradcheck import check_network_gradient
    from descentcheck.impl.network import Network

    pb = problem(case)
    net = Network.from_spec(pb.spec)
    result = check_network_gradient(net, pb.params, pb.x, pb.y)
    assert result.ok
    benchmark.group = "gradcheck"
    benchmark.extra_info.update(kind="gradcheck", case=case, n_params=net.n_params)
    benchmark.pedantic(
        check_network_gradient,
        args=(net, pb.params, pb.x, pb.y),
        rounds=5,
        iterations=1,
        warmup_rounds=1,
    )


def _softmax_half_mse(yhat, y):
    """A plugin loss (a held-out author's): softmax, then half the squared error to the one-hot
    row; its derived dE/dyhat_k each repeat the softmax's exp sums."""
    import sympy as sp

    z = sp.Add(*[sp.exp(a) for a in yhat])
    return sp.Rational(1, 2) * sp.Add(*[(sp.exp(a) / z - t) ** 2 for a, t in zip(yhat, y)])


def test_plugin_loss_gradient(benchmark):
    """A loss plugin's lambdified value and gradient (``LossPlugin.value_and_grad``, the rules
    descentcheck derives) on 1797 x 10 outputs, as ``train`` and ``gradcheck`` call them: 11.8 ms
    per call on machine A before common subexpressions were evaluated once, 1.3 ms after
    (gradcheck of a digits net with it: 210 s before, 23 s after, 7 s with the built-in
    cross-entropy)."""
    import numpy as np

    from descentcheck.registry.op_plugins import LossPlugin, PluginLoss

    loss = PluginLoss(LossPlugin("softmax_half_mse", _softmax_half_mse, min_width=2), "bench")
    rng = np.random.default_rng(0)
    yhat = rng.standard_normal((1797, 10))
    y = np.eye(10)[rng.integers(0, 10, 1797)]
    loss.value_and_grad(yhat, y)  # lambdified once, outside the timing
    benchmark.group = "plugin loss"
    benchmark.extra_info.update(kind="plugin_loss", case="softmax_half_mse, 1797 x 10")
    benchmark.pedantic(loss.value_and_grad, args=(yhat, y), rounds=20, iterations=1)


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"]], ids=["help", "train-help"])
def test_cli_startup(benchmark, args):
    cmd = [*_cli(), *args]

    def run() -> None:
        subprocess.run(cmd, capture_output=True, check=True)

    benchmark.group = "cli"
    benchmark.extra_info.update(kind="cli", case="descentcheck " + " ".join(args), goal=0.3)
    benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=1)
