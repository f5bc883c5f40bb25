"""Softmax cross-entropy keeps its digits, confident rows included (expected to hold).

The trainer records losses near 0 and decides "the loss increased" on them, so their relative
accuracy is part of the reference: ``log`` of the rounded ``1 + r`` (r the other classes' share,
3e-12 on a confident row) kept ``eps / r`` of relative error, 3e-5 for a loss of 1e-13, and
``S p_k - y_k`` cancelled where ``p_k`` is near 1 (the thorough profile's find; impl/losses.py
now takes ``log1p(r)`` and ``(S - y_k) - S r / (1 + r)`` on such rows). The other claims read
the loss only to within a bound on the size of its terms (forward-equals-spec), or against the
trainer's own arithmetic, so none of them can tell.

Each case is 1 to 4 rows of 2 to 5 logits: each entry's gap below its row's largest is near
(the 1/16 grid of [0, 2]: near ties, rows that are not confident) or far (the 1/4 grid of
[5.5, 700]: ``1 - p_k`` down to e^-700), every logit shifted by one drawn constant, with one-hot
or soft targets (rows on the 1/4 grid of [0, 2], summing to anything). The reference is
mpmath at 360 digits (``1 - p_k`` near 1e-304 with 50 digits to spare). The bound is the
problem's own condition, 16 eps times the change relative perturbations of every logit and
target by eps would make:

* the value, ``E = -1/n sum_ij y_ij log p_ij``, a sum of non-negative terms: the targets move
  a term by ``y_ij |log p_ij| eps``, the logits by
  ``y_ij ((1 - p_j) |z_j| + sum_(m != j) p_m |z_m|) eps``; checked for the batch and for each
  row alone, since in a batch one unconfident row's terms make the bound too wide to see a
  confident row's lost digits, and by both paths: the loss itself (``loss(z, y)``, which
  ``Network.loss`` and a minibatch run's recorded losses take) and ``value_and_grad``;
* each gradient entry ``g_j = (S p_j - y_j) / n``: ``(p_j (S - y_j) + (1 - p_j) y_j) / n``
  for the targets, ``S p_j ((1 - p_j) |z_j| + sum_(m != j) p_m |z_m|) / n`` for the logits
  (the bound ``tests/test_network.py`` holds the soft-target gradient to).

On a confident one-hot row both shrink with ``1 - p_k``, so an absolute error of eps there (the
plain form's) is ``1 / (1 - p_k)`` times over. tests/test_properties_teeth.py plants the plain
form on confident rows (the losses' mutation run's survivor), the log of a rounded ``1 + r``,
and the largest entry's gradient left as ``S p_k - y_k``: each is falsified.
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..claim import Claim, Context, Verdict
from ..profiles import Profile

EPS = float(np.finfo(np.float64).eps)
SAFETY = 16.0
DIGITS = 360
TINY = float(np.finfo(np.float64).smallest_subnormal)


@st.composite
def _rows(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    n = draw(st.integers(1, 4), label="rows")
    m = draw(st.integers(2, 5), label="classes")
    near = st.integers(0, 32).map(lambda v: v / 16)
    far = st.integers(22, 2800).map(lambda v: v / 4)
    gaps = draw(hnp.arrays(np.float64, (n, m), elements=st.one_of(near, far)), label="gaps")
    top = draw(hnp.arrays(np.int64, n, elements=st.integers(0, m - 1)), label="largest")
    gaps[np.arange(n), top] = 0.0
    shift = draw(st.sampled_from((0.0, 1.0, -30.0, 300.0, -1024.0)), label="shift")
    if draw(st.booleans(), label="soft targets"):
        y = draw(
            hnp.arrays(np.float64, (n, m), elements=st.integers(0, 8).map(lambda v: v / 4)),
            label="target rows",
        )
    else:
        y = np.eye(m)[draw(hnp.arrays(np.int64, n, elements=st.integers(0, m - 1)), label="y")]
    return {"z": shift - gaps, "y": y}


def _reference(z: np.ndarray, y: np.ndarray) -> tuple[list[Any], list[list[Any]], list[list[Any]]]:
    """Each row's loss term ``-y_i . log p_i``, the gradient and the log-probabilities, in
    mpmath at :data:`DIGITS` digits."""
    n = len(z)
    terms, g, logp = [], [], []
    for zi, yi in zip(z.tolist(), y.tolist()):
        top = max(zi)
        lse = top + mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(v) - top) for v in zi))
        lp = [mpmath.mpf(v) - lse for v in zi]
        S = mpmath.fsum(yi)
        terms.append(-mpmath.fsum(t * q for t, q in zip(yi, lp)))
        g.append([(S * mpmath.exp(q) - t) / n for t, q in zip(yi, lp)])
        logp.append(lp)
    return terms, g, logp


def _bounds(z: np.ndarray, y: np.ndarray, logp: list[list[Any]]) -> tuple[np.ndarray, np.ndarray]:
    """:data:`SAFETY` eps times each row's loss term's and each gradient entry's condition
    (module docstring), from the reference's log-probabilities."""
    n = len(z)
    p = np.array([[float(mpmath.exp(q)) for q in row] for row in logp])
    # 1 - p from the digits, not from p rounded (1 - p_k is e^-700 on a confident row)
    q = np.array([[float(-mpmath.expm1(v)) for v in row] for row in logp])
    lp = np.array([[float(v) for v in row] for row in logp])
    az = np.abs(z)
    S = y.sum(axis=1, keepdims=True)
    by_z = q * az + ((p * az).sum(axis=1, keepdims=True) - p * az)
    rows = (y * (np.abs(lp) + by_z)).sum(axis=1)
    grad = (p * (S - y) + q * y + S * p * by_z) / n
    return SAFETY * EPS * rows, SAFETY * EPS * grad + TINY


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    from descentcheck.impl.losses import LOSSES

    loss = LOSSES["softmax_cross_entropy"]
    z, y = drawn["z"], drawn["y"]
    n = len(z)
    E, g = loss.value_and_grad(z.copy(), y)
    # each row alone too: in a batch, one unconfident row's terms make the value's bound too
    # wide to see a confident row's lost digits
    alone = [float(loss.value_and_grad(z[i : i + 1].copy(), y[i : i + 1])[0]) for i in range(n)]
    # and the loss alone, as Network.loss and the minibatch trainer's recorded losses take it:
    # a plain log-sum-exp there passed every claim (a held-out planted-bug audit)
    called = [float(loss(z[i : i + 1].copy(), y[i : i + 1])) for i in range(n)]
    with mpmath.workdps(DIGITS):
        terms, g_ref, logp = _reference(z, y)
        E_ref = mpmath.fsum(terms) / n
        values = [(float(E), E_ref, "the batch"), (float(loss(z.copy(), y)), E_ref, "loss(batch)")]
        values += [(v, t, f"row {i} alone") for i, (v, t) in enumerate(zip(alone, terms))]
        values += [(v, t, f"loss(row {i})") for i, (v, t) in enumerate(zip(called, terms))]
        value_err = [float(abs(mpmath.mpf(v) - ref)) for v, ref, _ in values]
        grad_err = np.array([[float(abs(mpmath.mpf(a) - b)) for a, b in zip(row, ref)]
                             for row, ref in zip(g.tolist(), g_ref)])  # fmt: skip
        one_minus_top = [float(-mpmath.expm1(max(row))) for row in logp]
        row_bounds, grad_bound = _bounds(z, y, logp)
    batch_bound = float(row_bounds.sum()) / n + TINY
    bounds = [batch_bound, batch_bound, *(row_bounds + TINY).tolist() * 2]
    over_values = [e / b for e, b in zip(value_err, bounds)]
    worst_value = max(over_values)
    over_grad = grad_err / grad_bound
    worst_grad = float(np.max(over_grad))
    confident = [q < 0.5 for q in one_minus_top]
    measured = {
        "value_error_over_bound": worst_value,
        "gradient_error_over_bound": worst_grad,
        "cases_tested": 1.0,
        "cases_with_a_confident_row": float(any(confident)),
        "cases_all_rows_unconfident": float(not any(confident)),
        "cases_with_1_minus_p_below_1e-12": float(min(one_minus_top) < 1e-12),
        "smallest_1_minus_p": min(one_minus_top),
    }
    ok = worst_value <= 1.0 and worst_grad <= 1.0
    msg = ""
    if not ok:
        v = int(np.argmax(over_values))
        got, ref, what = values[v]
        i, j = np.unravel_index(int(np.argmax(over_grad)), over_grad.shape)
        msg = (
            f"logits {z.tolist()}, targets {y.tolist()}: E of {what} {got!r} vs "
            f"{float(ref)!r} ({worst_value:.3g} x its bound); g[{i}, {j}] {g[i, j]!r} vs "
            f"{float(g_ref[i][j])!r} ({worst_grad:.3g} x its bound)"
        )
    theory = {"value_error_over_bound": 1.0, "gradient_error_over_bound": 1.0}
    return Verdict(ok, measured, theory, message=msg)


CROSS_ENTROPY_DIGITS = Claim(
    id="softmax-cross-entropy-keeps-its-digits",
    statement=(
        "Softmax cross-entropy's value (of a batch and of each row alone, as the loss computes "
        "it and as value_and_grad does) and each entry of its gradient are within 16 eps of "
        "their condition (the change relative eps perturbations of the logits and targets "
        "make) of a 360-digit evaluation, confident rows (1 - p_k down to e^-700) included"
    ),
    source=(
        "DESIGN.md's softmax cross-entropy; the thorough profile's find (a soft row's gradient "
        "7e-7 off the complex step, a loss of 1e-13 with 3e-5 relative error); added after the "
        "losses' mutation run found the plain form on confident rows alive in the ledger"
    ),
    conditions=(
        "1 to 4 rows of 2 to 5 logits, each row's largest at a drawn place and every other "
        "entry a near gap (1/16 grid of [0, 2]) or a far one (1/4 grid of [5.5, 700]) below it; "
        "every logit shifted by one of 0, 1, -30, 300, -1024",
        "one-hot targets, or (half the cases) rows on the 1/4 grid of [0, 2] summing to anything",
        "the value of the batch and of each row alone, by loss(z, y) and by value_and_grad; "
        "the bound is 16 eps times the "
        "condition, plus the smallest subnormal",
    ),
    expect="holds",
    strategy=_rows,
    check=_check,
    summary={
        "value_error_over_bound": "max",
        "gradient_error_over_bound": "max",
        "cases_tested": "sum",
        "cases_with_a_confident_row": "sum",
        "cases_all_rows_unconfident": "sum",
        "cases_with_1_minus_p_below_1e-12": "sum",
        "smallest_1_minus_p": "min",
    },
    cost=0.3,
)

CLAIMS = (CROSS_ENTROPY_DIGITS,)
