"""Backprop through relu equals the complex-step oracle, kinks included (expected to hold).

relu is not smooth, so no descent claim draws it and :mod:`.gradients` leaves it out of its DAGs
(the op registry's smooth activations). This claim puts it back: knotty random DAGs whose
activations are relu two times in three, checked against the same oracle and tolerance as
``gradient-equals-oracle`` (:func:`.gradients._check`).

At a kink the two sides agree exactly, by convention rather than by calculus: the oracle's
forward takes each relu's branch where the real forward pass took it, ``where(x_real > 0, x, 0)``
(analytic in x once the branch is fixed), so at a relu input that is exactly 0 in the real pass
the complex step gives 0, and the backward rule's ``relu'(0) = 0`` is torch's subgradient. The
branch is fixed, not left to relu's own ``Re x > 0`` on the complex pass, because that pass's real
part need not be the real pass's to the bit: numpy's complex ``tanh`` rounds otherwise, so a
distance unit whose centroid is its input row (as init places it) had ``x - c = 0`` in the real
pass and an ulp in the complex one, and a relu two layers on took the other branch there (the
thorough profile found it: 2.8e-2 apart at a bias; ``relu_branches_taken_otherwise`` counts such
inputs). The oracle's relu is this ``where``, not the layer's forward rule. Kinks are common
in the draws: dense biases start at 0 and Hypothesis draws rows of zeros, so a first layer's
pre-activation is exactly 0 there; the ledger counts the cases with a relu input at exactly 0
(``cases_with_a_kink``). A ``relu'(0) = 1`` (``Re x >= 0``) is falsified on those. A relu that
writes its output into its input array (an in-place forward, "where ownership allows") is
falsified where another node reads that array too (``cases_with_a_shared_relu_input``), since
then the forward pass and backprop disagree on which value that node saw.
tests/test_properties_teeth.py plants both; gradient-equals-oracle sees neither.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from descentcheck.impl.ops.activations import Relu

from ..claim import Claim, Context, Verdict
from ..strategies import KNOTTY, Case
from .gradients import ATOL, GRADIENT_ORACLE, RTOL, Loss, complex_step_gradient, oracle_cases
from .gradients import _check as _oracle_check

#: relu two times in three; tanh keeps a smooth activation beside it (relu after tanh, tanh
#: after relu: both orders of a kink's gradient passing through another rule)
RELU_SHAPE: dict[str, Any] = {**KNOTTY, "activations": ("relu", "relu", "tanh")}


def _shared_relu_inputs(spec: dict[str, Any]) -> int:
    """relu nodes whose input is read by another node as well (a bare activation on a block's
    output or on the network input)."""
    readers: dict[str, int] = {}
    for node in spec["nodes"]:
        for name in node["inputs"]:
            readers[name] = readers.get(name, 0) + 1
    relus = [n["inputs"][0] for n in spec["nodes"] if n["op"] == "relu"]
    return sum(1 for x in relus if x == "input" or readers[x] > 1)


def relu_inputs(case: Case, params: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
    """The input array of every relu node on the case's data (at ``params``, by default the
    case's), in the network's order (copies: a relu in place must not change them after)."""
    seen: list[np.ndarray] = []

    def visit(layer: Any, xs: list[Any]) -> None:
        if isinstance(layer, Relu):
            seen.append(np.array(xs[0], copy=True))

    case.net.forward(params or case.params, case.x, visit)
    return seen


def along_branches(case: Case, taken: list[np.ndarray]) -> Loss:
    """The case's loss as a function of its parameters with relu k fixed to the branch
    ``taken[k]`` (True: x, False: 0): the complex step through it is the derivative along the
    real pass's branches (the module docstring says why)."""
    net = case.net

    def loss(params: dict[str, np.ndarray]) -> Any:
        branches = iter(taken)

        def visit(layer: Any, xs: list[Any]) -> Any:
            return np.where(next(branches), xs[0], 0.0) if isinstance(layer, Relu) else None

        return net.loss_fn(net.forward(params, case.x, visit), case.yt)

    return loss


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    case: Case = drawn["case"]
    inputs = relu_inputs(case)  # before the oracle's check: a relu in place must not hide here
    taken = [a > 0.0 for a in inputs]
    # the branches relu's own rule takes on the complex pass (no step yet): counted where they
    # differ from the real pass's, which the oracle follows
    complex_params = {k: v.astype(np.complex128) for k, v in case.params.items()}
    own = [a.real > 0.0 for a in relu_inputs(case, complex_params)]
    otherwise = sum(int(np.count_nonzero(a != b)) for a, b in zip(taken, own))
    verdict = _oracle_check(
        drawn, ctx, oracle_of=lambda c: complex_step_gradient(c, along_branches(c, taken))
    )
    kinks = sum(int(np.count_nonzero(a == 0.0)) for a in inputs)
    verdict.measured.update(
        relu_branches_taken_otherwise=float(otherwise),
        relu_nodes=float(len(inputs)),
        cases_with_relu=float(bool(inputs)),
        cases_with_a_kink=float(kinks > 0),
        relu_inputs_at_a_kink=float(kinks),
        cases_with_a_shared_relu_input=float(_shared_relu_inputs(case.spec) > 0),
    )
    return verdict


GRADIENT_ORACLE_RELU = Claim(
    id="gradient-equals-oracle-through-relu",
    statement=(
        "With relu in the DAG, the trainer's backprop gradient equals the complex-step derivative "
        "of the loss along the real forward pass's relu branches, kinks included (relu'(0) = 0, "
        "torch's subgradient, on both sides): "
        f"|g_backprop - g_oracle|_inf <= {RTOL:g} |g_oracle|_inf + {ATOL:g} (plus 10x the "
        "derivative's 4-ulp noise floor at ill-conditioned points)"
    ),
    source=(
        "the tutorial's backprop; relu's rule as DESIGN.md and torch define it; oracle: complex "
        "step, Squire & Trapp, SIAM Review 40(1), 1998; added because no claim drew relu (it is "
        "not smooth, so the descent claims and gradient-equals-oracle leave it out)"
    ),
    conditions=(
        "random knotty DAGs as gradient-equals-oracle draws them, activations relu (2 in 3) "
        "and tanh; dense and distance layers, both losses; parameters from net.init(seed, x), "
        "radii negated and data pulled tight as gradient-equals-oracle draws them",
        "relu inputs exactly at 0 (the kink) in a share of the cases, counted in the ledger",
        "tolerance and oracle as gradient-equals-oracle, the oracle's relu fixed to the branch "
        "the real forward pass took (x > 0), since the complex pass's real part may differ by "
        "an ulp (counted in the ledger)",
    ),
    expect="holds",
    strategy=lambda profile: oracle_cases(profile, RELU_SHAPE),
    check=_check,
    summary={
        **GRADIENT_ORACLE.summary,  # the knots' counts among them
        "relu_nodes": "sum",
        "cases_with_relu": "sum",
        "cases_with_a_kink": "sum",
        "relu_inputs_at_a_kink": "sum",
        "cases_with_a_shared_relu_input": "sum",
        "relu_branches_taken_otherwise": "sum",
    },
)

CLAIMS = (GRADIENT_ORACLE_RELU,)
