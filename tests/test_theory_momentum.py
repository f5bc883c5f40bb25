"""The momentum algebra: every identity proved, a wrong closed form refuted, and the trainer's
optimizers against the closed forms on Hypothesis-drawn gradient sequences."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from descentcheck.properties.profiles import TEST_PROFILE_SLOW, hypothesis_settings
from descentcheck.theory import momentum
from descentcheck.theory.momentum import IDENTITIES, _induction, beta, g, lr
from descentcheck.theory.zero import prove_equal


@pytest.mark.parametrize("name", list(IDENTITIES))
def test_identity_proved(name):
    ids = IDENTITIES[name](momentum.K_MAX)
    assert ids and all(i.holds for i in ids), [str(i) for i in ids if not i.holds]
    # printable, and each names what it proves
    assert all(str(i) and i.latex() for i in ids)


def test_symbolic_k_proofs_are_present():
    names = [i.name for i in momentum.unrolled_heavy_ball(2)]
    assert any("induction step" in n for n in names) and any("base case" in n for n in names)
    names = [i.name for i in momentum.rmsprop_second_moment(2)]
    assert any("induction step" in n for n in names)
    names = [i.name for i in momentum.nesterov_equals_lookahead(2)]
    assert any("step preserves" in n for n in names)


def test_wrong_closed_form_fails_the_induction():
    ids = _induction(
        "wrong",
        beta,
        lambda kk: -lr * g[kk],
        lambda ii, kk: beta ** (kk - ii + 1) * g[ii],  # one power of beta too many
        -lr,
    )
    assert not all(i.holds for i in ids)


def test_wrong_nesterov_relation_fails():
    w, theta, v = sp.symbols("w theta v", real=True)
    # claiming torch's iterate is theta (not theta + beta v) must fail
    assert not prove_equal("wrong", w, theta, substitutions={w: theta + beta * v}).holds


# entries below 1e-100 in size are flushed to 0: the optimizer's squared norms would underflow
# (|dw|^2 = 0 for a nonzero dw below ~1e-154 makes alpha_k = 0), an edge outside this check
grad_arrays = arrays(
    np.float64,
    3,
    elements=st.floats(-5, 5, allow_nan=False).map(lambda v: v if abs(v) > 1e-100 else 0.0),
)


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(
    seq=st.lists(grad_arrays, min_size=1, max_size=8),
    lr_=st.floats(1e-3, 1.0),
    beta_=st.floats(0.0, 0.99),
    tau=st.floats(0.0, 1.0),
    rho=st.floats(0.0, 0.99),
    name=st.sampled_from(["momentum", "nesterov", "rmsprop", "adaptive_momentum"]),
)
def test_trainer_optimizers_follow_the_closed_forms(seq, lr_, beta_, tau, rho, name):
    from descentcheck.theory.optimizer_agreement import compare_optimizer

    if name == "nesterov" and beta_ == 0:
        beta_ = 0.5  # torch's Nesterov needs a positive momentum
    grads = [{"w": gk} for gk in seq]
    c = compare_optimizer(name, grads, lr_, momentum=beta_, tau=tau, rho=rho)
    assert c.ok, c
