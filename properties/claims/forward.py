"""The forward pass: the trainer's float64 loss equals an independent 50-digit evaluation (holds).

The gradient claim's oracle differentiates the trainer's own forward pass, so a wrong forward
rule (a sign, a missing square) would pass it. Here ``Network.loss`` is compared with
:func:`descentcheck.impl.mp_network.loss_with_error_bound`: the spec read again from
DESIGN.md's definitions and evaluated in mpmath at 50 digits (the same evaluator the theory
checks use, and that takes python-flint balls for interval certification), together with a
first-order bound on the float64 rounding of the same formulas (its rules are in that module).
The claim: ``|E_float - E_mp| <= 2 * bound``.

The DAGs are knotty (:data:`~descentcheck.properties.strategies.KNOTTY`: three-input adds, fan-out,
a parent read twice; sometimes a concat of one input), and half the cross-entropy cases have
general (n, m) target rows (non-negative, rows summing to anything: the loss's general form). The
evaluator is handed the targets as the spec reads them, built here from the drawn ``y`` (one-hot
rows for labels, a column for the numbers of one output, the rows themselves otherwise), not the
trainer's ``check_targets`` output, so a trainer that rewrote the rows (normalised them, say) is
seen.

Parameters are the initialisation from a drawn seed *plus* a drawn offset on the 1/16 grid of
[-1/2, 1/2] for every entry, so that biases (0 at initialisation) and centroids away from the
data are exercised: a wrong sign on a bias is invisible at b = 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentcheck.impl.losses import flat_targets_are_labels
from descentcheck.impl.mp_network import loss_with_error_bound

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import KNOT_KEYS, KNOTTY, cases, grid_floats, knots, sometimes_a_lone_concat
from .updates import SMALL

SAFETY = 2.0
EPS = float(np.finfo(np.float64).eps)


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    case = draw(cases(SMALL, soft_targets=True, shape_options=KNOTTY), label="case")
    case = sometimes_a_lone_concat(draw, case)
    offsets = {
        k: draw(hnp.arrays(np.float64, v.shape, elements=grid_floats(0.5)), label=k)
        for k, v in case.params.items()
    }
    return {"case": case, "params": {k: case.params[k] + offsets[k] for k in case.params}}


def spec_targets(spec: dict[str, Any], y: np.ndarray) -> np.ndarray:
    """The targets as DESIGN.md's loss reads them, (n, m) rows: integer labels as one-hot rows
    of the output width, the numbers of one output as a column, (n, m) rows as given. Which
    (n,) targets are labels is the loss's declared ``targets`` (mse and plugin losses too, read
    by ``impl.losses.flat_targets_are_labels``), the rows built here all the same."""
    if np.ndim(y) != 1:
        return np.asarray(y, dtype=np.float64)
    m = next(n for n in spec["nodes"] if n["name"] == spec["output"])["units"]
    if flat_targets_are_labels(spec["loss"], m):
        return np.eye(m)[np.asarray(y, dtype=np.int64)]
    return np.asarray(y, dtype=np.float64)[:, None]


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    case, params = drawn["case"], drawn["params"]
    E = float(case.net.loss(params, case.x, case.yt))
    E_mp, bound = loss_with_error_bound(case.spec, params, case.x, spec_targets(case.spec, case.y))
    shares = knots(case.spec, case.y)
    if not np.isfinite(E) or not np.isfinite(bound):
        return Verdict(True, {"cases_overflowed": 1.0, **shares})
    err = abs(float(E - E_mp)) if E_mp is not None else float("inf")
    allowed = SAFETY * bound + np.finfo(np.float64).smallest_subnormal
    ratio = err / allowed
    scale = abs(float(E_mp))
    measured = {
        "error_over_allowed": ratio,
        "rel_error_in_eps": err / (scale * EPS) if scale > 0 else 0.0,
        "bound_in_eps": bound / (scale * EPS) if scale > 0 else 0.0,
        "cases_tested": 1.0,
        **shares,
    }
    ok = err <= allowed
    msg = "" if ok else f"float loss {E!r} vs 50-digit {float(E_mp)!r} ({ratio:.3g} x allowed)"
    return Verdict(ok, measured, {"error_over_allowed": 1.0}, message=msg)


FORWARD_EQUALS_SPEC = Claim(
    id="forward-equals-spec",
    statement=(
        "The trainer's float64 loss E(w) equals the spec's loss evaluated independently in "
        "mpmath at 50 digits, within twice a first-order float64 rounding bound of the same "
        "formulas, on random DAGs with skips"
    ),
    source=(
        "DESIGN.md's op and loss definitions (spec v1); evaluator "
        "descentcheck.impl.mp_network, written from them and sharing no code with the trainer"
    ),
    conditions=(
        "small random knotty DAGs (three-input adds, fan-out, concat(a, a) and add(a, a)) with "
        "dense and distance layers, smooth activations, every installed loss",
        "a plugin loss's bound is its gradient times the output's error bound plus a "
        "first-order model of its own float rule's rounding, 8 (ops + 1) u times its largest "
        "term per sample (impl.mp_network._plugin_loss_error): a model, not a proof",
        "cross-entropy targets: integer labels, or (half the cases) (n, m) rows on the 1/4 grid "
        "of [0, 2] (rows need not sum to 1); the evaluator reads the drawn targets, not the "
        "trainer's",
        "parameters: initialisation from a drawn seed plus a drawn offset in [-1/2, 1/2] per "
        "entry (biases nonzero)",
        "a case whose float loss or bound overflows is counted, not tested",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={
        "error_over_allowed": "max",
        "rel_error_in_eps": "max",
        "bound_in_eps": "max",
        "cases_tested": "sum",
        "cases_overflowed": "sum",
        **dict.fromkeys(KNOT_KEYS, "sum"),
    },
    cost=0.5,
)

CLAIMS = (FORWARD_EQUALS_SPEC,)
