"""PEPit's worst cases for one step of each optimizer and for a few heavy-ball runs from rest.

PEPit (Goujaud, Moucer, Glineur, Hendrickx, Taylor & Dieuleveut, "PEPit: computer-assisted
worst-case analyses of first-order optimization methods in Python", Math. Prog. Comp. 2024)
solves the performance-estimation SDP over every L-smooth function (``SmoothFunction``: not
necessarily convex) in any dimension. It is a test-time referee, like torch: descentcheck never
imports it at run time. Normalisation: ``|g_0|^2 = 1``, ``L = 1``, so the values are the
``W / |g|^2`` of :mod:`descentcheck.theory.descent` at ``L = 1``.

``python tests/pep_reference.py --write reports/pep_heavy_ball.json`` regenerates the multi-step
table the report shows; ``tests/test_pep.py`` checks the committed file against a fresh solve.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

METHODS = ("gd", "adaptive_momentum", "heavy_ball", "nesterov")
HB_POINTS = ((1.0, 0.5), (0.5, 0.3), (0.5, 0.9), (1.5, 0.1), (0.25, 0.5), (1.9, 0.05))
HB_STEPS = 3


def _solve(problem: Any) -> float:
    return float(problem.solve(verbose=0))


def one_step(method: str, lr: float, s: float) -> float:
    """sup over 1-smooth f and admissible momentum of ``f(x_1) - f(x_0)``, ``|g_0| = 1``.

    ``s`` is the method's own parameter: the momentum length over ``|g|`` for adaptive
    momentum; ``beta`` for heavy ball and Nesterov, whose previous vector is a free point of
    length ``|dw_{k-1}| = |g|`` (heavy ball) or ``lr |b_{k-1}| = |g|`` (Nesterov), i.e.
    ``rho_k = 1``. torch's Nesterov step is written out from its buffer, not in the rewritten
    shape, so PEPit also referees the rewriting."""
    from PEPit import PEP
    from PEPit.functions import SmoothFunction

    problem = PEP()
    f = problem.declare_function(SmoothFunction, L=1.0)
    x0 = problem.set_initial_point()
    prev = problem.set_initial_point()  # a free vector: m, dw_{k-1} or lr b_{k-1}
    g0, f0 = f.oracle(x0)
    problem.set_initial_condition(g0**2 == 1)
    if method == "gd":
        x1 = x0 - lr * g0
    elif method == "adaptive_momentum":
        problem.add_constraint(prev**2 == s**2 * g0**2)
        x1 = x0 - lr * g0 + prev
    elif method == "heavy_ball":
        problem.add_constraint(prev**2 == g0**2)
        x1 = x0 - lr * g0 + s * prev
    elif method == "nesterov":
        problem.add_constraint(prev**2 == g0**2)
        buf = s * (prev / lr) + g0  # b_k = beta b_{k-1} + g_k, with lr b_{k-1} = prev
        x1 = x0 - lr * (g0 + s * buf)
    else:
        raise ValueError(f"unknown method {method!r}")
    problem.set_performance_metric(f(x1) - f0)
    return _solve(problem)


def heavy_ball_from_rest(lr: float, beta: float, steps: int) -> float:
    """sup over 1-smooth f of ``f(x_K) - f(x_{K-1})`` for heavy ball from rest (dw_{-1} = 0),
    K = ``steps``, ``|g_0| = 1``."""
    from PEPit import PEP
    from PEPit.functions import SmoothFunction

    problem = PEP()
    f = problem.declare_function(SmoothFunction, L=1.0)
    x0 = problem.set_initial_point()
    g0, _ = f.oracle(x0)
    problem.set_initial_condition(g0**2 == 1)
    xs = [x0, x0 - lr * g0]
    for _ in range(steps - 1):
        xs.append(xs[-1] - lr * f.gradient(xs[-1]) + beta * (xs[-1] - xs[-2]))
    problem.set_performance_metric(f(xs[-1]) - f(xs[-2]))
    return _solve(problem)


def heavy_ball_table() -> dict[str, Any]:
    import cvxpy

    rows = [
        {
            "lr_L": lr,
            "beta": beta,
            "worst_step_change": [
                heavy_ball_from_rest(lr, beta, k) for k in range(1, 1 + HB_STEPS)
            ],
        }
        for lr, beta in HB_POINTS
    ]
    return {
        "what": "PEPit worst case of f(x_k) - f(x_{k-1}) over 1-smooth f (not convex), heavy "
        "ball from rest, |g_0|^2 = 1, for k = 1..3",
        "pepit": _pepit_version(),
        "cvxpy": cvxpy.__version__,
        "rows": rows,
    }


def _pepit_version() -> str:
    from importlib.metadata import version

    return version("pepit")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", metavar="JSON", required=True)
    path = ap.parse_args(argv).write
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(heavy_ball_table(), fh, indent=1)
        fh.write("\n")
    os.replace(tmp, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
