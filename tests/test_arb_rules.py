"""A plugin's default interval rule is closed over Arb (``registry.arb_rules``): no 53-bit mpmath
constant or function slips into a certified verdict, ``Max``/``Min`` enclose across their kink,
and a rule with no Arb form is declined with its reason (held-out soundness review)."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from flint import arb, ctx
from test_op_plugins import installed

import descentcheck as dc
from descentcheck.properties.certify import (
    certify_decrease,
    certify_increase,
    interval_loss,
    no_interval_rule,
    uncertifiable,
)
from descentcheck.registry import ops as registry
from descentcheck.registry.op_plugins import ElementwisePlugin, LossPlugin
from descentcheck.registry.plugins import PluginError


def _patan(x):
    import sympy as sp

    return 2 / sp.pi * sp.atan(sp.pi * x / 2)


def _erf(x):
    import sympy as sp

    return sp.erf(x)


def _smooth_softplus(x):
    import sympy as sp

    return sp.Max(x, 0) + sp.log(1 + sp.exp(-sp.Abs(x)))


def _ramp(x):
    import sympy as sp

    return sp.Piecewise((x**3, x > 0), (0, True))


def _mpf_ball(v):
    return mpmath.mpf(float(v.mid()))


def _erf_loss(yhat, y):
    import sympy as sp

    return sp.Add(*[sp.erf(a - t) ** 2 for a, t in zip(yhat, y)])


def _net(op: str, loss: str = "mse"):
    return dc.Network.from_spec(
        {
            "inputs": 1,
            "output": "out",
            "loss": loss,
            "nodes": [
                {"name": "h", "op": "dense", "units": 1, "inputs": ["input"]},
                {"name": "a", "op": op, "inputs": ["h"]},
                {"name": "out", "op": "dense", "units": 1, "inputs": ["a"]},
            ],
        }
    )


def _params(w: float, v: float) -> dict[str, np.ndarray]:
    return {
        "h.W": np.array([[w]]),
        "h.b": np.array([0.0]),
        "out.W": np.array([[v]]),
        "out.b": np.array([0.0]),
    }


@pytest.fixture
def prec128():
    old, ctx.prec = ctx.prec, 128
    yield
    ctx.prec = old


def test_pi_in_a_rule_is_a_ball_at_the_calls_precision(prec128):
    with installed(patan=ElementwisePlugin("patan", _patan)):
        ball = registry.get("patan").plugin.interval_rule(arb(0.3))
        independent = 2 / arb.pi() * (arb.pi() * arb(0.3) / 2).atan()
        assert isinstance(ball, arb) and ball.rad() < 1e-35
        assert ball.overlaps(independent)  # a 53-bit pi gave a ball 1.4e-18 away


def test_a_certified_verdict_is_not_faked_by_53_bit_pi():
    """The review's pair: E(B) - E(A) = -8.8e-19 on the real network; with mpmath's 53-bit pi
    inside the rule, the certifier called it a certified increase."""
    A = _params(0.35668335954258135, 1.0)
    B = _params(1.4708278463687552, 0.43938227733083857)
    with installed(patan=ElementwisePlugin("patan", _patan)):
        net = _net("patan")
        x, y = net.check_data(np.array([[1.0]]), np.array([0.0]))
        with mpmath.workdps(60):

            def f(t):
                return 2 / mpmath.pi * mpmath.atan(mpmath.pi * mpmath.mpf(t) / 2)

            def E(p):
                return (mpmath.mpf(p["out.W"][0, 0]) * f(p["h.W"][0, 0])) ** 2 / 2

            assert E(B) < E(A)
        assert not certify_increase(net, A, B, x, y).certified
        assert certify_decrease(net, A, B, x, y).certified


def _min_ramp(x):
    import sympy as sp

    return sp.Min(x, 0) + x


@pytest.mark.parametrize("phi", [_smooth_softplus, _min_ramp], ids=["max", "min"])
def test_max_and_min_enclose_across_their_kink(prec128, phi):
    with installed(kinked=ElementwisePlugin("kinked", phi, smooth=False)):
        rule = registry.get("kinked").plugin.interval_rule
        straddling = rule(arb(1e-21, 2e-21))  # [-1e-21, 3e-21]
        for t in (-1e-21, -2e-22, 0.0, 1e-21, 2.5e-21, 3e-21):
            assert straddling.contains(rule(arb(t))), t


def test_a_rule_without_an_arb_form_is_declined_with_its_reason():
    with installed(erfact=ElementwisePlugin("erfact", _erf), ramp=ElementwisePlugin("ramp", _ramp)):
        for op, word in (("erfact", "erf has no Arb form"), ("ramp", "Piecewise")):
            assert registry.get(op).plugin.interval_rule is None
            why = uncertifiable(_net(op))
            assert why is not None and word in why, why
            net = _net(op)
            with pytest.raises(ValueError, match=word):
                interval_loss(net, _params(0.5, 1.0), np.ones((2, 1)), np.ones((2, 1)))


def test_a_loss_without_an_arb_form_is_declined_at_its_width():
    with installed(erfloss=LossPlugin("erfloss", _erf_loss, targets="values")):
        why = no_interval_rule("erfloss", 1)
        assert why is not None and "erf has no Arb form" in why
        assert "erf" in uncertifiable(_net("tanh", loss="erfloss"))


def test_a_given_interval_rule_must_return_a_ball():
    with installed(half=ElementwisePlugin("half", _patan, interval=_mpf_ball)):
        net = _net("half")
        x, y = net.check_data(np.array([[1.0]]), np.array([0.0]))
        with pytest.raises(PluginError, match="returned a mpf, not an Arb ball"):
            interval_loss(net, _params(0.5, 1.0), x, y)
        # verify's check before it starts calls the rule once: refused there, not mid-run
        with pytest.raises(PluginError, match="returned a mpf, not an Arb ball"):
            registry.check_plugin_rules()


def test_an_interval_rule_that_raises_is_refused_before_a_run_starts():
    def broken(v):
        raise ZeroDivisionError("no")

    with installed(half=ElementwisePlugin("half", _patan, interval=broken)):
        with pytest.raises(PluginError, match=r"its interval rule raises ZeroDivisionError"):
            registry.check_plugin_rules()
    with installed(half=ElementwisePlugin("half", _patan, interval=lambda v: v.atan())):
        registry.check_plugin_rules()  # a ball for a ball passes


def _step_up(x):
    import sympy as sp

    return x + sp.Heaviside(x, 0)


def _own_tanh(x):
    from flint import arb
    from sympy.utilities.lambdify import implemented_function

    return implemented_function("tanh", lambda v: arb(float(v.mid().tanh())))(x)


def _remainder(x):
    return x % 3


def _complex_constant(x):
    import sympy as sp

    return sp.I * x**2 + x


def _gelu_tanh(x):
    import sympy as sp

    inner = sp.sqrt(2 / sp.pi) * (x + sp.Rational(44715, 10**6) * x**3)
    return x * (1 + sp.tanh(inner)) / 2


@pytest.mark.parametrize(
    ("rule", "word"),
    [
        (_step_up, "a conditional"),  # printed `0 if x <= 0 else 1`: a certified fake decrease
        (_own_tanh, "tanh (a function with its own numeric implementation)"),
        (_remainder, "a remainder"),
        (_complex_constant, "a complex constant"),
    ],
)
def test_what_a_ball_cannot_take_is_refused_by_reading_the_rule(rule, word):
    """Held-out review of the closed rule: conditionals without a Piecewise, a function with
    its own implementation under an allowed name, % and complex constants slipped through."""
    with installed(bad=ElementwisePlugin("bad", rule, smooth=False)):
        plugin = registry.get("bad").plugin
        assert plugin.interval_rule is None and word in plugin.no_interval()


def test_constants_inside_functions_are_balls(prec128):
    """sqrt(2) prints its 2 bare: the rule called 2.sqrt() and crashed every certification."""
    import mpmath

    with installed(gelu=ElementwisePlugin("gelu", _gelu_tanh)):
        ball = registry.get("gelu").plugin.interval_rule(arb(0.3))
        with mpmath.workdps(60):
            t = mpmath.mpf(0.3)
            inner = mpmath.sqrt(2 / mpmath.pi) * (t + mpmath.mpf(44715) / 10**6 * t**3)
            true = t * (1 + mpmath.tanh(inner)) / 2
        assert ball.rad() < 1e-35 and ball.overlaps(arb(mpmath.nstr(true, 50), 1e-45))
