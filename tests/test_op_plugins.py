"""Op plugins through a faked entry point: a smooth activation added in a few lines is parsed,
trained, gradient-checked, derived, and covered by theory's checks and the certifier; a broken
plugin is refused with one line naming it and what is missing.

The activation is ``isru(x) = x / sqrt(1 + x^2)`` (the inverse square root unit), not softsign
``x / (1 + |x|)``: softsign is not twice differentiable at 0 (phi'' jumps from 2 to -2), which the
convergence theorem's assumptions exclude (the tests at the end install softsign itself, written
with ``sp.Abs``). isru is analytic on the real line (its singularities sit at +-i), with
sup|phi| = sup|phi'| = 1 and sup|phi''| = 48 sqrt(5) / 125 (at x = -+1/2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import sys
import types

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from descentcheck.cli import main
from descentcheck.properties.profiles import TEST_PROFILE_HEAVY, hypothesis_settings
from descentcheck.registry import OPS_GROUP
from descentcheck.registry import ops as registry
from descentcheck.registry.op_plugins import ElementwisePlugin, LossPlugin
from descentcheck.registry.plugins import PluginError


def _isru(x):
    import sympy as sp

    return x / sp.sqrt(1 + x**2)


def _logcosh(yhat, y):
    import sympy as sp

    return sp.Add(*[sp.log(sp.cosh(a - t)) for a, t in zip(yhat, y)])


ISRU = ElementwisePlugin(
    name="isru",
    sympy=_isru,
    formula="x / sqrt(1 + x^2)",
    expected_bounds=("1", "1", "48*sqrt(5)/125"),
)


def _install(monkeypatch, **plugins) -> None:
    """Fake entry points ``NAME = "fake_plugins:NAME"`` in the ops group, and re-read them."""
    module = types.ModuleType("fake_plugins")
    for name, obj in plugins.items():
        setattr(module, name, obj)
    monkeypatch.setitem(sys.modules, "fake_plugins", module)
    eps = [importlib.metadata.EntryPoint(n, f"fake_plugins:{n}", OPS_GROUP) for n in plugins]
    real = importlib.metadata.entry_points

    def fake(**kw):
        return eps if kw.get("group") == OPS_GROUP else real(**kw)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    registry.reset()


@contextlib.contextmanager
def installed(**plugins):
    """``plugins`` installed as :func:`_install` does for the ``with`` block; the registry is
    re-read after it."""
    with pytest.MonkeyPatch.context() as mp:
        _install(mp, **plugins)
        try:
            yield
        finally:
            registry.reset()


@pytest.fixture
def isru(monkeypatch):
    _install(monkeypatch, isru=ISRU)
    yield registry.get("isru")
    registry.reset()


SPEC = {
    "inputs": 3,
    "output": "out",
    "loss": "mse",
    "nodes": [
        {"name": "h", "op": "dense", "units": 4, "inputs": ["input"]},
        {"name": "a", "op": "isru", "inputs": ["h"]},
        {"name": "s", "op": "add", "inputs": ["a", "h"]},
        {"name": "out", "op": "dense", "units": 2, "inputs": ["s"]},
    ],
}


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, 3))
    return x, np.tanh(x[:, :2])


def test_the_plugin_is_registered_with_its_kind(isru):
    from descentcheck.theory import KNOWN_OPS

    assert isru.kind == "elementwise" and isru.smooth and isru.plugin is not None
    assert "isru" in registry.names("elementwise") and "isru" in KNOWN_OPS
    assert registry.get("isru") is isru  # loaded once


@hypothesis_settings(TEST_PROFILE_HEAVY)
@given(seed=st.integers(0, 2**32 - 1))
def test_network_trains_and_gradcheck_passes(seed):
    import descentcheck as dc
    from descentcheck.impl.gradcheck import check_network_gradient

    with installed(isru=ISRU):
        net = dc.Network.from_spec(SPEC)
        x, y = _data(seed)
        params = net.init(seed=seed % 1000, x=x)
        traj = dc.train(net, params, x, y, optimizer="gd", lr=0.05, steps=20)
        assert traj.losses[-1] < traj.losses[0]
        result = check_network_gradient(net, params, x, y)
        assert all(r.ok for r in result) if isinstance(result, list) else result.ok


def _gelu(x):
    import sympy as sp

    return x * (1 + sp.erf(x / sp.sqrt(2))) / 2


def test_a_rule_numpy_cannot_vectorize_takes_scipys_array_form(tmp_path):
    """A held-out plugin audit: GELU's erf form lambdified to math.erf, so ``train`` and
    ``gradcheck`` died with "only 0-dimensional arrays can be converted to Python scalars", and
    theory's grid check of its suprema with them; SciPy's erf takes arrays, complex ones too."""
    import mpmath

    import descentcheck as dc
    from descentcheck.impl.gradcheck import check_network_gradient
    from descentcheck.theory.checks import check_assumptions

    gelu = ElementwisePlugin("gelu", _gelu, interval_exclusion="erf has no Arb rule here")
    with installed(gelu=gelu):
        forward, slope = registry.get("gelu").plugin.numpy_rules
        x = np.array([-2.0, -0.5, 0.0, 1.5])
        exact = [float(v * (1 + mpmath.erf(v / mpmath.sqrt(2))) / 2) for v in x]
        assert np.allclose(forward(x), exact, rtol=1e-15, atol=0)
        h = 1e-20  # a complex step through the default derivative's erf
        assert np.allclose(np.imag(forward(x + 1j * h)) / h, slope(x), rtol=1e-14, atol=0)
        nodes = [{**n, "op": "gelu"} if n["op"] == "isru" else n for n in SPEC["nodes"]]
        net = dc.Network.from_spec({**SPEC, "nodes": nodes})
        xs, ys = _data(0)
        params = net.init(seed=0, x=xs)
        assert dc.train(net, params, xs, ys, optimizer="gd", lr=0.05, steps=5).status == (
            "completed"
        )
        assert all(r.ok for r in check_network_gradient(net, params, xs, ys))
        r = check_assumptions()  # it raised TypeError; now it names what SymPy cannot solve
        assert any(d.startswith("gelu: SymPy finds no closed form") for d in r.details), r.details


def test_derive_prints_its_latex_and_the_help_lists_it(isru):
    runner = CliRunner()
    r = runner.invoke(main, ["derive", "isru", "--format", "latex", "--dim", "2"])
    assert r.exit_code == 0, r.output
    assert "\\sqrt{x_{0}^{2} + 1}" in r.output
    payload = json.loads(runner.invoke(main, ["derive", "isru", "--format", "json"]).output)
    assert payload["op"] == "isru" and set(payload["grad"]) == {"x0", "x1", "x2"}
    assert "isru" in runner.invoke(main, ["derive", "--help"]).output


def test_theory_checks_include_it(isru):
    from descentcheck.theory import assumptions, coverage, numeric_agreement
    from descentcheck.theory.symbolic_agreement import agree_all

    assert coverage.gaps() == []
    ids = agree_all((1, 3))["isru"]
    assert ids and all(i.holds for i in ids)
    rng = np.random.default_rng(0)
    x = rng.uniform(-30, 30, (5, 3))
    assert numeric_agreement.compare_layer("isru", [x], {}, rng.normal(size=(5, 3))).ok
    b = assumptions.activation_bounds("isru")
    assert b.in_theorem and b.matches_expected and assumptions.numeric_sup_check(b) < 1e-6
    from descentcheck.theory.checks import check_numeric_agreement

    r = check_numeric_agreement(trials=1)
    assert r.ok and any("isru" in d for d in r.details), r.details
    from descentcheck.theory.plugin_rules import check_plugin_rules

    r = check_plugin_rules()
    assert r.ok and "isru" in r.summary, r.details


def test_verify_stats_show_the_share_of_nets_drawing_it(isru, tmp_path):
    """``verify --stats`` names each op's share of the generated nets: how a plugin author sees
    that the claims draw their op (here a claim over random DAGs, with isru installed)."""
    from dataclasses import replace

    from descentcheck.properties import BY_ID, build_ledger, format_stats, get_profile
    from descentcheck.properties.runner import run_claim

    profile = replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)
    entry = run_claim(BY_ID["gradient-equals-oracle"], profile)
    shares = build_ledger(profile, [entry], 1.0)["stats"]["all"]["op_shares"]
    assert 0.1 < shares["isru"] < 1.0 and 0 < shares["add"] <= 1.0, shares
    text = format_stats(build_ledger(profile, [entry], 1.0)["stats"])
    assert f"isru {shares['isru']:.0%}" in text.split("ops in all generated cases")[1], text


def _tanh_ball(v):
    return v.tanh()


def _mp_plus_ulp(t):
    import mpmath

    return t / mpmath.sqrt(1 + t * t) + mpmath.mpf("1e-30")


@pytest.mark.parametrize(
    "override,message",
    [
        ({"interval": _tanh_ball}, "interval rule at x = -2.5"),
        ({"mpmath": _mp_plus_ulp}, "mpmath rule at x"),
    ],
)
def test_a_wrong_evaluator_rule_is_caught(override, message):
    with installed(isru=dataclasses.replace(ISRU, **override)):
        from descentcheck.theory.plugin_rules import check_plugin_rules

        r = check_plugin_rules()
        assert not r.ok and any(message in d for d in r.details), r.details


def test_wrong_expected_bounds_are_caught():
    with installed(isru=ElementwisePlugin("isru", _isru, expected_bounds=("1", "1", "1"))):
        from descentcheck.theory import assumptions

        assert not assumptions.activation_bounds("isru").matches_expected


def test_the_certifier_encloses_its_loss(isru):
    import descentcheck as dc
    from descentcheck.properties.certify import certify_decrease, uncertifiable

    net = dc.Network.from_spec(SPEC)
    x, y = _data(0)
    w0 = net.init(seed=0, x=x)
    traj = dc.train(net, w0, x, y, optimizer="gd", lr=0.05, steps=1, keep_params=True)
    assert uncertifiable(net) is None
    assert certify_decrease(net, *traj.params_history[:2], x, y).certified


def test_cli_trains_a_spec_using_it(isru, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    x, y = _data(1)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    args = ["train", str(spec), "--data", str(tmp_path / "d.npz"), "--seed", "0"]
    args += ["--optimizer", "gd", "--lr", "0.05", "--steps", "5", "--out", str(tmp_path / "o")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    losses = [
        s["loss"] for s in json.loads((tmp_path / "o" / "trajectory.json").read_text())["steps"]
    ]
    assert losses[-1] < losses[0]


BROKEN = [
    (dict(name="nosym", kind="elementwise"), "op 'nosym' has no SymPy derivation"),
    (ElementwisePlugin("half", _isru, numpy_forward=np.tanh), "gives only one of numpy_forward"),
    (
        ElementwisePlugin("bare", _isru, numpy_forward=np.tanh, numpy_derivative=np.cosh),
        "without their SymPy transcription",
    ),
    (ElementwisePlugin("tanh", _isru), "name 'tanh' is already registered (builtin)"),
    # the rule left out of the constructor: the README's refusal (was a TypeError at import)
    (ElementwisePlugin(name="nosympy"), "op 'nosympy' has no SymPy derivation ('sympy'"),
    (LossPlugin(name="nosympy"), "loss 'nosympy' has no SymPy derivation ('sympy'"),
    (ElementwisePlugin("Bad-Name", _isru), "'name' must be lowercase"),
    # the name left out: the empty name's line (was the constructor's TypeError; held-out audit)
    (ElementwisePlugin(sympy=_isru), "'name' must be lowercase letters, digits and _, got ''"),
    (LossPlugin(sympy=_logcosh), "'name' must be lowercase letters, digits and _, got ''"),
    (dict(name="conv", kind="parametric", sympy=_isru), "'kind' must be one of elementwise, loss"),
    (
        ElementwisePlugin("both", _isru, interval=abs, interval_exclusion="why"),
        "both an interval rule and an exclusion",
    ),
    (dict(name="noloss", kind="loss"), "loss 'noloss' has no SymPy derivation"),
    (
        LossPlugin("raw", _logcosh, numpy_value_and_grad=lambda yhat, y: (0.0, yhat)),
        "numpy_value_and_grad without its SymPy transcription",
    ),
    (LossPlugin("wide", _logcosh, min_width=0), "'min_width' must be a positive integer"),
    (42, "is an int, not an ElementwisePlugin or a LossPlugin"),  # an entry point to no plugin
    (lambda: 42, "not an ElementwisePlugin or a LossPlugin"),  # a function giving none
    (lambda: 1 / 0, "cannot build its op: ZeroDivisionError"),
    (ElementwisePlugin("short", _isru, expected_bounds=("oo", "1/2")), "must be three numbers"),
    (ElementwisePlugin("nobool", _isru, expected_bounds=(1, True, 1)), "must be three numbers"),
]


@pytest.mark.parametrize("obj,message", BROKEN, ids=[m for _, m in BROKEN])
def test_a_broken_plugin_is_refused_in_one_line(obj, message):
    plugin = types.SimpleNamespace(**obj) if isinstance(obj, dict) else obj
    with installed(broken=plugin):
        with pytest.raises(PluginError) as e:
            registry.ops()
        text = str(e.value)
        assert "\n" not in text and "plugin 'broken' (fake_plugins:broken" in text
        assert message in text
        r = CliRunner().invoke(main, ["derive", "tanh"])
        assert r.exit_code == 2 and r.output.strip() == f"error: {text}"


def _isru_numpy(x):
    return x / np.sqrt(1 + x * x)


def _isru_transcribed(**numpy_rules):
    import sympy as sp

    return ElementwisePlugin(
        "isru",
        _isru,
        numpy_forward=numpy_rules.get("forward", _isru_numpy),
        numpy_derivative=numpy_rules.get("derivative", lambda x: (1 + x * x) ** -1.5),
        claimed_forward=_isru,
        claimed_derivative=lambda x: (1 + x**2) ** sp.Rational(-3, 2),
    )


def _sq_claimed(yhat, y):
    E = _logcosh(yhat, y)
    return E, {a: E.diff(a) for a in yhat}


def _logcosh_given(value_and_grad):
    return LossPlugin("logcosh", _logcosh, numpy_value_and_grad=value_and_grad, claimed=_sq_claimed)


def _per_row(yhat, y):
    r = yhat - y
    return np.log(np.cosh(r)).sum(axis=1), np.tanh(r) / len(r)


def _summed_gradient(yhat, y):
    r = yhat - y
    return np.log(np.cosh(r)).sum() / len(r), (np.tanh(r) / len(r)).sum(axis=1)


WRONG_RESULTS = [
    (
        {"isru": _isru_transcribed(forward=lambda x: _isru_numpy(x).sum(axis=-1))},
        "its numpy_forward returned shape (5,) for an input of shape (5, 4)",
    ),
    (
        {"isru": _isru_transcribed(derivative=lambda x: list(x))},
        "its numpy_derivative returned a list for an input of shape (5, 4)",
    ),
    (
        {"isru": ISRU, "logcosh": _logcosh_given(_per_row)},
        "its numpy_value_and_grad returned E of shape (5,): E is one number, the mean over "
        "the rows",
    ),
    (
        {"isru": ISRU, "logcosh": _logcosh_given(_summed_gradient)},
        "its numpy_value_and_grad returned dE/dyhat of shape (5,) for outputs of shape (5, 2)",
    ),
    (
        {"isru": ISRU, "logcosh": _logcosh_given(lambda yhat, y: 0.0)},
        "its numpy_value_and_grad must return (E, dE/dyhat), got a float",
    ),
    # a rule that raises was the trainer's traceback, naming no plugin (fifth audit's kind)
    (
        {"isru": _isru_transcribed(forward=lambda x: {}["scale"])},
        "its numpy_forward raised KeyError: 'scale'",
    ),
    (
        {"isru": _isru_transcribed(derivative=lambda x: float("x"))},
        "its numpy_derivative raised ValueError: could not convert string to float: 'x'",
    ),
    (
        {"isru": ISRU, "logcosh": _logcosh_given(lambda yhat, y: len(3))},
        "its numpy_value_and_grad raised TypeError: object of type 'int' has no len()",
    ),
]


@pytest.mark.parametrize("plugins,message", WRONG_RESULTS, ids=[m for _, m in WRONG_RESULTS])
def test_a_numeric_rule_of_the_wrong_shape_is_one_line(plugins, message):
    """A plugin's own numeric rule whose result has the wrong form was a traceback from a matrix
    product or an unpacking further on (third held-out plugin audit); it is now a PluginError
    naming the plugin and the rule. A constant slope (one number) stays allowed."""
    import descentcheck as dc

    loss = "logcosh" if "logcosh" in plugins else "mse"
    x, y = _data(0)
    with installed(**plugins):
        net = dc.Network.from_spec({**SPEC, "loss": loss})
        params = net.init(seed=0)
        with pytest.raises(PluginError) as e:
            net.loss_and_grad(params, x[:5], y[:5])
        assert str(e.value).endswith(message) and "\n" not in str(e.value), str(e.value)
        assert str(e.value).startswith("plugin ")
    constant = _isru_transcribed(derivative=lambda x: 0.5)
    with installed(isru=constant):
        net = dc.Network.from_spec(SPEC)
        net.loss_and_grad(net.init(seed=0), x[:5], y[:5])


def test_verify_sweep_and_report_stop_at_a_refused_op_plugin_in_one_line(monkeypatch, tmp_path):
    """The held-out run: with a refused op plugin, verify ran every claim and marked each one
    an error (exit 1); they now stop before starting, as the README says refused means."""
    _install(monkeypatch, broken=types.SimpleNamespace(name="nosym", kind="elementwise"))
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'steps = 2\narchitectures = ["sine_skip"]\ndata = "sine"\n'
        '[[optimizers]]\nname = "gd"\nlr = 0.1\n'
    )
    commands = (
        ["verify", "--profile", "fast", "--claim", "forward-equals-spec"],
        ["sweep", str(sweep), "--db", str(tmp_path / "s.sqlite")],
        ["report", "--out", str(tmp_path / "r"), "--profile", "smoke"],
    )
    try:
        for args in commands:
            r = CliRunner().invoke(main, args)
            assert r.exit_code == 2, (args, r.output)
            assert r.output.strip().splitlines() == [
                "error: plugin 'broken' (fake_plugins:broken): op 'nosym' has no SymPy derivation "
                "('sympy': phi(x) -> Expr)"
            ], (args, r.output)
        assert not (tmp_path / "s.sqlite").exists() and not (tmp_path / "r").exists()
    finally:
        registry.reset()


def test_a_name_two_plugins_take_names_the_plugin_that_took_it_first():
    """Entry points load in name order: the later one is refused, and the line names the one
    holding the name (the blind author's clash named only the plugin that was refused)."""
    with installed(a_first=ISRU, b_second=ElementwisePlugin("isru", _isru)):
        with pytest.raises(PluginError) as e:
            registry.ops()
        assert str(e.value) == (
            "plugin 'b_second' (fake_plugins:b_second): name 'isru' is already registered "
            "(plugin 'a_first' (fake_plugins:a_first))"
        )


def test_an_entry_point_may_name_a_function_that_builds_the_plugin():
    """As for optimizers and claims: a zero-argument callable is called for the plugin."""
    with installed(isru=lambda: ISRU):
        assert registry.get("isru").kind == "elementwise"


def test_an_entry_point_naming_the_rule_instead_of_the_plugin_says_so():
    """``isru = "pkg.mod:isru"`` (the SymPy rule, beside ``ISRU``) was called with no
    arguments: "cannot build its op: TypeError: isru() missing 1 required positional ..."."""
    with installed(isru=_isru):
        with pytest.raises(PluginError) as err:
            registry.ops()
    assert str(err.value).endswith(
        "is a function _isru(x), not the op or a function of no arguments that builds it (does "
        "the entry point name a rule instead of the plugin object?)"
    )


def test_a_plugin_that_fails_to_import_is_refused_in_one_line(monkeypatch):
    ep = importlib.metadata.EntryPoint("ghost", "no_such_module_xyz:op", OPS_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [ep])
    registry.reset()
    try:
        with pytest.raises(PluginError, match=r"plugin 'ghost' .*cannot load: ModuleNotFound"):
            registry.ops()
    finally:
        registry.reset()


# ---- a loss plugin ----------------------------------------------------------------------------
# log cosh(yhat - y): smooth (analytic near the real line, so the complex step applies), ~ d^2/2
# near 0 and ~ |d| far away; its derivative tanh(d) is bounded.

LOGCOSH = LossPlugin(name="logcosh", sympy=_logcosh, formula="sum_k log cosh(yhat_k - y_k)")


@pytest.fixture
def logcosh(monkeypatch):
    _install(monkeypatch, isru=ISRU, logcosh=LOGCOSH)
    yield registry.get("logcosh")
    registry.reset()


def test_a_loss_plugin_trains_gradchecks_and_is_proved(logcosh, tmp_path):
    import descentcheck as dc
    from descentcheck.impl.gradcheck import check_network_gradient
    from descentcheck.properties.certify import certify_decrease, uncertifiable
    from descentcheck.theory import coverage, numeric_agreement
    from descentcheck.theory.symbolic_agreement import agree_all

    assert logcosh.kind == "loss" and "logcosh" in dc.impl.losses.LOSSES
    net = dc.Network.from_spec({**SPEC, "loss": "logcosh"})
    x, y = _data(2)
    w0 = net.init(seed=0, x=x)
    traj = dc.train(net, w0, x, y, optimizer="gd", lr=0.1, steps=10, keep_params=True)
    assert traj.losses[-1] < traj.losses[0]
    result = check_network_gradient(net, w0, x, y)
    assert all(r.ok for r in result) if isinstance(result, list) else result.ok
    assert coverage.gaps() == []
    assert all(i.holds for i in agree_all((1, 2))["logcosh"])
    rng = np.random.default_rng(0)
    assert numeric_agreement.compare_loss("logcosh", rng.normal(size=(4, 3)), rng.random((4, 3))).ok
    assert uncertifiable(net) is None
    assert certify_decrease(net, *traj.params_history[:2], x, y).certified
    from descentcheck.theory.plugin_rules import plugin_rule_errors

    assert plugin_rule_errors() == []
    r = CliRunner().invoke(main, ["derive", "logcosh", "--format", "latex", "--dim", "2"])
    assert r.exit_code == 0 and "\\cosh" in r.output, r.output


def test_a_wrong_loss_rule_is_caught():
    # a plugin whose numpy gradient (and its faithful transcription) is d, not tanh(d)
    def claimed(yhat, y):
        return _logcosh(yhat, y), {a: a - t for a, t in zip(yhat, y)}

    def value_and_grad(yhat, y):
        d = yhat - y
        return float(np.log(np.cosh(d)).sum() / len(d)), d / len(d)

    bad = LossPlugin("logcosh", _logcosh, numpy_value_and_grad=value_and_grad, claimed=claimed)
    with installed(logcosh=bad):
        from descentcheck.theory import numeric_agreement
        from descentcheck.theory.symbolic_agreement import agree

        ids = agree("logcosh", 2)
        assert ids[0].holds and not any(i.holds for i in ids[1:])
        yhat, y = np.array([[0.5, 2.0]]), np.array([[0.0, 0.0]])
        assert not numeric_agreement.compare_loss("logcosh", yhat, y).ok


def _raises(x):
    return 1 / 0


def _numpy_on_a_symbol(x):
    return np.exp(x) / (1 + np.exp(x))  # numpy's exp cannot take a SymPy symbol


BAD_RULES = [
    (
        ElementwisePlugin("badphi", _raises),
        "rule 'sympy' raises ZeroDivisionError: division by zero (it is called with one SymPy "
        "symbol x)",
    ),
    (ElementwisePlugin("badphi", _numpy_on_a_symbol), "rule 'sympy' raises TypeError"),
    (ElementwisePlugin("badphi", lambda x: None), "rule 'sympy' gives NoneType, not a SymPy"),
]


@pytest.mark.parametrize("plugin,message", BAD_RULES, ids=[m for _, m in BAD_RULES])
def test_a_sympy_rule_that_fails_is_one_line_wherever_it_is_first_used(
    monkeypatch, tmp_path, plugin, message
):
    """Load imports nothing, so it cannot call the rule: its first use must refuse it in one
    line naming the plugin (train, gradcheck, derive), never a traceback."""
    _install(monkeypatch, broken=plugin)
    spec = tmp_path / "spec.json"
    nodes = [dict(n, op="badphi") if n.get("op") == "isru" else n for n in SPEC["nodes"]]
    spec.write_text(json.dumps({**SPEC, "nodes": nodes}))
    x, y = _data(1)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = ["--data", str(tmp_path / "d.npz"), "--seed", "0"]
    try:
        for args in (
            [
                "train",
                str(spec),
                *data,
                "--optimizer",
                "gd",
                "--lr",
                "0.05",
                "--out",
                str(tmp_path),
            ],
            ["gradcheck", str(spec), *data],
            ["derive", "badphi"],
            # before any claim runs (the blind author saw each claim drawing it an error)
            ["verify", "--profile", "fast", "--claim", "gradient-equals-oracle"],
        ):
            r = CliRunner().invoke(main, args)
            out = r.output.strip()
            assert r.exit_code == 2, out
            assert out.startswith("error: plugin 'broken' (fake_plugins:broken") and message in out
            assert "\n" not in out and "Traceback" not in out, out
    finally:
        registry.reset()


def test_verify_refuses_a_loss_whose_transcription_raises_before_it_starts():
    """A loss's given SymPy transcription is called once before verify runs anything."""

    def claimed(yhat, y):
        raise ValueError("boom")

    plugin = LossPlugin(
        "badloss", _logcosh, numpy_value_and_grad=lambda yhat, y: (0.0, yhat), claimed=claimed
    )
    with installed(broken=plugin):
        r = CliRunner().invoke(
            main, ["verify", "--profile", "fast", "--claim", "forward-equals-spec"]
        )
        assert r.exit_code == 2 and r.output.strip().splitlines() == [
            "error: plugin 'broken' (fake_plugins:broken): its SymPy rule 'claimed' raises "
            "ValueError: boom"
        ], r.output


def _swish(x):
    import sympy as sp

    return x / (1 + sp.exp(-x))


# sup |phi'| at the root of phi'' near 2.3994 (mpmath, 40 digits); sup |phi''| = 1/2 at 0
SWISH_SUPS = ("oo", "1.0998393201288669", "1/2")


def test_suprema_sympy_cannot_find_are_stated_and_grid_checked():
    """swish's critical points solve x + exp(x) + 1 = 0 (no closed form): its stated suprema
    stand, marked stated, and the grid check holds them to 1e-6; a wrong one is caught there."""
    from descentcheck.theory import assumptions
    from descentcheck.theory.checks import check_assumptions

    with installed(swish=ElementwisePlugin("swish", _swish, expected_bounds=SWISH_SUPS)):
        b = assumptions.activation_bounds("swish")
        assert b.stated == (True, True, True) and "x + exp(x) + 1" in b.unsolved
        assert b.in_theorem and b.matches_expected and "stated by the plugin" in b.note
        assert assumptions.numeric_sup_check(b) < 1e-6
        r = check_assumptions()
        # said in the summary theory always prints: the check stands under "proved"; a stated
        # oo is not checked, and is not said to be (it was listed among the grid-checked ones)
        stated = "stated by a plugin, checked on a grid only (not proved): swish (sup |phi'|, "
        unchecked = "; stated as oo by a plugin, not checked: swish (sup |phi|)"
        assert r.ok and stated + "sup |phi''|)" + unchecked in r.summary, r.summary
        assert "sup |phi'|, sup |phi''| stated by the plugin" in b.note, b.note
        assert "sup |phi| stated as oo, not checked" in b.note, b.note
    assert "stated" not in check_assumptions().summary  # the built-ins' are all proved
    wrong = ElementwisePlugin("swish", _swish, expected_bounds=("oo", "1.2", "1/2"))
    with installed(swish=wrong):
        r = check_assumptions()
        # which supremum, and both values (a held-out author could not tell which was off)
        said = "swish: the grid maximum of sup |phi'| is 1.09983932, the stated supremum 1.2 "
        assert not r.ok and any(d.startswith(said) for d in r.details), r.details


def test_wrong_bounds_before_stated_ones_are_both_reported():
    """A held-out plugin audit: a wrong expected_bounds (isru) rebound the list of stated
    suprema to its message, so a later op with stated ones (swish) crashed the check with
    AttributeError, or, last, the summary listed the message's letters."""
    from descentcheck.theory.checks import check_assumptions

    wrong = ElementwisePlugin("isru", _isru, expected_bounds=("1", "1", "1"))
    with installed(
        isru=wrong, swish=ElementwisePlugin("swish", _swish, expected_bounds=SWISH_SUPS)
    ):
        r = check_assumptions()
    said = "isru: sup |phi|, |phi'|, |phi''| are (1, 1, 48*sqrt(5)/125), expected (1, 1, 1)"
    assert not r.ok and said in r.details, r.details
    assert "not proved): swish (sup |phi'|, sup |phi''|)" in r.summary, r.summary


def test_suprema_sympy_cannot_find_without_stated_ones_fail_theory_not_the_report():
    """Without expected_bounds: reported outside the theorem, the theory check fails naming
    what SymPy could not solve, the other ops are still checked (isru's wrong bounds), and
    the report's assumptions table renders (it used to raise)."""
    from descentcheck.reports.derivations import _assumptions
    from descentcheck.reports.document import Section
    from descentcheck.theory import assumptions
    from descentcheck.theory.checks import check_assumptions

    bad_isru = ElementwisePlugin("isru", _isru, expected_bounds=("1", "1", "1"))
    with installed(swish=ElementwisePlugin("swish", _swish), isru=bad_isru):
        b = assumptions.activation_bounds("swish")
        assert not b.in_theorem and not b.matches_expected and None in b.sups
        r = check_assumptions()
        assert not r.ok
        assert any(d.startswith("swish: SymPy finds no closed form (sup |phi|") for d in r.details)
        assert any(d.startswith("isru: sup |phi|") for d in r.details), r.details
        data = _assumptions(Section("s", "S"))["activations"]
        assert data["swish"]["in_theorem"] is False and None in data["swish"]["sups"]


@pytest.mark.parametrize(
    "bounds,says",
    [
        (("oo", "one point one", "1/2"), "expected_bounds[1] = 'one point one' is not a number"),
        (("oo", "x", "1/2"), "expected_bounds[1] = 'x' is not a number"),
        (("oo", "-1", "1/2"), "expected_bounds[1] = '-1' is not a number >= 0"),
    ],
)
def test_stated_bounds_that_are_not_numbers_fail_theory_in_one_line(bounds, says):
    """Load checks the shape only (no SymPy there); theory reads each entry and fails that op
    in one line (the report used to crash on the first, and took 'x' as a supremum)."""
    from descentcheck.theory.checks import check_assumptions

    with installed(swish=ElementwisePlugin("swish", _swish, expected_bounds=bounds)):
        r = check_assumptions()
        assert not r.ok and any(says in d and "plugin 'swish'" in d for d in r.details), r.details


def test_a_smooth_op_with_an_unbounded_derivative_fails_theory():
    """smooth=True promises bounded phi', phi'' (the claims that assume C^2 draw the op): an
    infinite supremum, found (x^3) or stated ('oo' for swish, silencing SymPy's failure), fails
    theory; declared smooth=False it is reported outside the theorem and passes."""
    from descentcheck.theory.checks import check_assumptions

    def cube(x):
        return x**3

    stated_oo = ElementwisePlugin("swish", _swish, expected_bounds=("oo", "oo", "oo"))
    for plugin in (ElementwisePlugin("cube", cube), stated_oo):
        with installed(p=plugin):
            r = check_assumptions()
            assert not r.ok
            assert any(d.startswith(f"{plugin.name}: declared smooth, but") for d in r.details)
    with installed(p=ElementwisePlugin("cube", cube, smooth=False)):
        assert check_assumptions().ok


def test_theory_reports_a_plugins_one_line_error_without_traceback_lines(monkeypatch):
    """A check stopped by a plugin's one-line error shows that line alone; a crash of ours
    keeps the last traceback lines, which say where."""
    from descentcheck.theory import checks

    def check_plugin_fails():
        raise PluginError("plugin 'p' (m:P): its SymPy rule 'sympy' raises ZeroDivisionError")

    def ours_fails():
        raise ValueError("bug")

    monkeypatch.setattr(checks, "CHECKS", (check_plugin_fails, ours_fails))
    plugin, ours = checks.run_all()
    assert not plugin.ok and plugin.details == [] and "plugin 'p'" in plugin.summary
    assert plugin.name == "plugin fails" and ours.name == "ours fails"  # words, not code names
    assert not ours.ok and any("ValueError" in d for d in ours.details)


# ---- |x| in a rule: softsign as the plugin issue first named it --------------------------------


def _softsign(x):
    import sympy as sp

    return x / (1 + sp.Abs(x))


@pytest.mark.parametrize("smooth", [False, True])
def test_softsign_written_with_abs_trains_gradchecks_and_derives(smooth):
    """``sp.Abs`` of the (complex) rule symbol used to crash train and gradcheck with SymPy's
    PrintMethodNotImplementedError (its derivative is ``Derivative(re(x), x)``): |u| is now
    its continuation near the reals, exact on them, whose derivative sign(u) SymPy writes in
    closed form and the complex step sees through, at 0 too (softsign'(0) = 1)."""
    import descentcheck as dc
    from descentcheck.impl.gradcheck import check_network_gradient

    with installed(softsign=ElementwisePlugin("softsign", _softsign, smooth=smooth)):
        forward, slope = registry.get("softsign").plugin.numpy_rules
        huge = np.array([-1e300, 1e200])  # no x^2 in the forward rule to overflow
        assert np.array_equal(forward(huge), huge / (1 + np.abs(huge)))
        # the derivative as SymPy writes it, 1/(1+|x|) - x sign(x)/(1+|x|)^2, is evaluated as
        # written (it cancels for |x| >> 1, as the README says of lambdified rules)
        x = np.array([-3.0, -1e-300, 0.0, 0.5, 2.0])
        assert np.array_equal(forward(x), x / (1 + np.abs(x)))
        np.testing.assert_allclose(slope(x), 1 / (1 + np.abs(x)) ** 2, rtol=4e-16, atol=0)
        assert slope(np.zeros(1))[0] == 1.0
        step = 1e-30j  # the complex step through the forward rule gives the same slope
        np.testing.assert_allclose(forward(x + step).imag / 1e-30, slope(x), rtol=4e-16, atol=0)
        nodes = [dict(n, op="softsign") if n.get("op") == "isru" else n for n in SPEC["nodes"]]
        net = dc.Network.from_spec({**SPEC, "nodes": nodes})
        xs, ys = _data(3)
        params = net.init(seed=3, x=xs)
        assert dc.train(net, params, xs, ys, optimizer="gd", lr=0.05, steps=5).status == "completed"
        result = check_network_gradient(net, params, xs, ys)  # the complex step
        assert all(r.ok for r in result) if isinstance(result, list) else result.ok
        r = CliRunner().invoke(main, ["derive", "softsign", "--format", "sympy", "--dim", "1"])
        assert r.exit_code == 0 and "x0/(Abs(x0) + 1)" in r.output, r.output
        assert "# note: not differentiable where x_i = 0 (|u| and sign(u) in its rule)" in r.output


def test_softsign_declared_smooth_fails_theory_naming_abs():
    """softsign is not C^2 at 0: declared smooth (the default), theory's assumptions check
    fails and says why; declared smooth=False, it is outside the theorem, as relu."""
    from descentcheck.theory.checks import check_assumptions

    with installed(softsign=ElementwisePlugin("softsign", _softsign)):
        result = check_assumptions()
        assert not result.ok
        assert (
            "softsign: declared smooth, but phi'' jumps at x = 0 (its rule uses Abs): not "
            "twice differentiable; declare smooth=False"
        ) in result.details
    with installed(softsign=ElementwisePlugin("softsign", _softsign, smooth=False)):
        assert check_assumptions().ok


@pytest.mark.parametrize(
    "rule", [lambda x: x * __import__("sympy").re(x), lambda x: __import__("sympy").floor(x)]
)
def test_a_rule_sympy_cannot_differentiate_is_one_line(monkeypatch, tmp_path, rule):
    """re or floor of a complex symbol differentiate to an unevaluated Derivative: train,
    derive and verify (before it starts) are one line naming the plugin, not a SymPy printer
    traceback, a printed ``Derivative(...)`` or a claim erroring after a long run."""
    _install(monkeypatch, broken=ElementwisePlugin("rough", rule))
    nodes = [dict(n, op="rough") if n.get("op") == "isru" else n for n in SPEC["nodes"]]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**SPEC, "nodes": nodes}))
    x, y = _data(1)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    args = ["train", str(spec), "--data", str(tmp_path / "d.npz"), "--optimizer", "gd"]
    try:
        for command in (
            [*args, "--lr", "0.1", "--out", str(tmp_path / "o")],
            ["derive", "rough", "--format", "json"],
            ["verify", "--profile", "fast", "--claim", "registered-regions-give-descent"],
        ):
            r = CliRunner().invoke(main, command)
            out = r.output.strip()
            assert r.exit_code == 2 and "\n" not in out, (command, out)
            assert out.startswith(
                "error: plugin 'broken' (fake_plugins:broken): SymPy cannot differentiate its "
                "rule in closed form (it leaves Derivative("
            ), (command, out)
    finally:
        registry.reset()


def test_derive_refuses_an_unevaluated_derivative_whatever_asks():
    """theory's own derivation (not only the plugin's check) refuses a rule whose derivative
    SymPy leaves unevaluated: nothing prints or checks a ``Derivative(...)``."""
    from descentcheck.theory import DeriveError, derive_text

    with installed(rough=ElementwisePlugin("rough", lambda x: __import__("sympy").floor(x))):
        with pytest.raises(DeriveError, match=r"^rough: SymPy cannot differentiate its rule in "):
            derive_text("rough", "json", 2)


def test_a_loss_sympy_cannot_differentiate_is_refused_before_verify_starts(monkeypatch):
    """A loss whose rule differentiates to an unevaluated Derivative is refused by the check
    verify runs before it starts."""

    def rough(yhat, y):
        import sympy as sp

        return sp.Add(*[sp.floor(a - t) for a, t in zip(yhat, y)])

    with installed(rough=LossPlugin("rough", rough, targets="values")):
        with pytest.raises(PluginError, match=r"it leaves Derivative\(floor"):
            registry.check_plugin_rules()


def _l1(yhat, y):
    import sympy as sp

    return sp.Add(*[sp.Abs(a - t) for a, t in zip(yhat, y)])


def test_an_l1_loss_written_with_abs_has_torchs_gradient_at_the_kink():
    """|yhat - y| as a loss plugin: its gradient is sign(yhat - y) / n, 0 where a prediction
    equals its target (torch's l1_loss), not the 0/0 of sqrt(u^2)'s derivative."""
    with installed(l1=LossPlugin("l1", _l1, targets="values", smooth=False)):
        loss = registry.get("l1").plugin
        yhat = np.array([[0.0, 2.0], [-1.5, 0.25]])
        y = np.array([[0.0, 1.0], [1.0, 0.25]])
        E, g = loss.value_and_grad(yhat, y)
        assert E == (0.0 + 1.0 + 2.5 + 0.0) / 2
        assert np.array_equal(g, np.array([[0.0, 1.0], [-1.0, 0.0]]) / 2)
        # the complex-step oracle agrees with the rule at the kinks too (|ih| continues as 0)
        for i, j in np.ndindex(yhat.shape):
            z = yhat.astype(complex)
            z[i, j] += 1e-30j
            assert loss.value_and_grad(z, y)[0].imag / 1e-30 == g[i, j]


def test_generated_dags_of_the_claims_draw_smooth_losses_only():
    """The L1 loss above (smooth=False) was drawn into apriori-adaptive-momentum-c4, which
    assumes an L-smooth E, and falsified it; the claims' DAGs now draw smooth losses only, as
    smooth activations only, while theory's agreement DAGs still draw every loss."""
    from descentcheck.impl.random_dag import DagShape
    from descentcheck.theory.random_specs import theory_shape

    with installed(l1=LossPlugin("l1", _l1, targets="values", smooth=False), logcosh=LOGCOSH):
        assert DagShape().losses == ("mse", "softmax_cross_entropy", "logcosh")
        assert theory_shape().losses == ("mse", "softmax_cross_entropy", "l1", "logcosh")


def test_a_rule_with_heaviside_trains_and_its_derivative_follows_sympys_h0():
    """x Heaviside(x) (relu written with SymPy's step) left a DiracDelta in its derivative,
    which numpy could not evaluate (a NameError traceback); H(u) is now (1 + sign u)/2, so the
    slope is H(x): 0, 1/2 at 0 (SymPy's H(0)), 1; the complex step agrees."""

    def rule(x):
        import sympy as sp

        return x * sp.Heaviside(x)

    with installed(step=ElementwisePlugin("steprelu", rule, smooth=False)):
        forward, slope = registry.get("steprelu").plugin.numpy_rules
        x = np.array([-1.0, 0.0, 2.0])
        assert np.array_equal(forward(x), np.array([0.0, 0.0, 2.0]))
        assert np.array_equal(slope(x), np.array([0.0, 0.5, 1.0]))
        assert np.array_equal(forward(x + 1e-30j).imag / 1e-30, slope(x))


def test_a_smooth_rule_written_with_abs_and_max_is_not_called_a_kink():
    """softplus as max(x, 0) + log(1 + exp(-|x|)) is C^infinity: the kink check evaluates
    phi, phi', phi'' either side of x = 0 and finds no jump, so it is not refused as softsign
    is (SymPy finds no closed-form suprema for it: the bounds are stated)."""
    from descentcheck.theory.assumptions import activation_bounds, numeric_sup_gaps

    def rule(x):
        import sympy as sp

        return sp.Max(x, 0) + sp.log(1 + sp.exp(-sp.Abs(x)))

    plugin = ElementwisePlugin("maxsoftplus", rule, expected_bounds=("oo", "1", "1/4"))
    with installed(msp=plugin):
        note = activation_bounds("maxsoftplus").note
        assert "declared smooth, but" not in note and "jumps" not in note, note
        # phi'' holds DiracDelta(x) times a factor 0 at x = 0: the grid check read it as a
        # name numpy lacks (a NameError that stopped theory; third held-out plugin audit)
        gaps = numeric_sup_gaps(activation_bounds("maxsoftplus"))
        assert [name for name, *_ in gaps] == ["sup |phi'|", "sup |phi''|"]
        assert max(gap for *_, gap in gaps) < 1e-6, gaps


def test_rules_written_with_max_or_heaviside_round_trip_through_json():
    """A derivative of Max holds Heaviside steps, which the JSON reads back (analytic) as
    (1 + sign u)/2: the derivations check compared that with the raw Heaviside and failed
    every such plugin (leaky relu as Max(x, x/10), x Heaviside(x); third held-out plugin
    audit). Both sides are now read alike."""
    from descentcheck.theory.checks import check_derivations

    def leaky(x):
        import sympy as sp

        return sp.Max(x, x / 10)

    def step(x):
        import sympy as sp

        return x * sp.Heaviside(x)

    plugins = {
        "leaky": ElementwisePlugin("leaky", leaky, smooth=False),
        "steprelu": ElementwisePlugin("steprelu", step, smooth=False),
    }
    with installed(**plugins):
        r = check_derivations()
        assert r.ok, r.details


def _leaky(x):
    import sympy as sp

    return sp.Max(x, x / 10)


#: the claims whose DAGs draw every installed op (``strategies.whatever_the_op``), kinked too
WHATEVER_THE_OP = (
    "trajectory-records-equal-the-observables",
    "update-equals-derived-rule",
    "device-path-equals-numpy-path",
)


def test_the_claims_that_hold_whatever_the_op_draw_installed_kinked_activations(tmp_path):
    """An activation or loss declared smooth=False is outside the convergence theorem, so the
    claims' default DAGs never draw it; the claims that must hold whatever the op draw it, the
    activation beside relu (an installed softsign, leaky relu or L1 loss was drawn by no claim at
    all), and hold with it. With none installed their options are the built-ins' alone."""
    from dataclasses import replace

    from descentcheck.impl.random_dag import DagShape
    from descentcheck.properties import BY_ID, build_ledger, get_profile
    from descentcheck.properties.runner import run_claim
    from descentcheck.properties.strategies import whatever_the_op

    builtin = whatever_the_op()
    assert builtin == {"activations": ("sigmoid", "tanh", "softplus", "identity", "relu", "relu")}
    activations = {
        "softsign": ElementwisePlugin("softsign", _softsign, smooth=False),
        "leaky": ElementwisePlugin("leaky", _leaky, smooth=False),
    }
    l1 = LossPlugin("l1", _l1, targets="values", smooth=False)
    with installed(**activations, l1=l1):
        drawn = whatever_the_op()
        assert drawn["activations"][:6] == builtin["activations"]
        assert sorted(drawn["activations"][6:]) == ["leaky", "softsign"], drawn
        assert drawn["losses"] == ("mse", "softmax_cross_entropy", "l1"), drawn
        shape = DagShape()
        assert not {"softsign", "leaky"} & set(shape.activations) and "l1" not in shape.losses
        profile = replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)
        drew = {}
        for claim in WHATEVER_THE_OP:
            entry = run_claim(BY_ID[claim], profile)
            assert entry["outcome"] == "held", (claim, entry)
            stats = build_ledger(profile, [entry], 1.0)["stats"]["all"]
            shares = {**stats["op_shares"], **stats["loss_shares"]}
            drew[claim] = {op for op in (*activations, "l1") if shares.get(op, 0) > 0}
        # 10-25 cases a claim at fast: each claim drew one of them at least, the three all
        assert all(drew.values()) and set().union(*drew.values()) == {*activations, "l1"}, drew


def test_the_device_path_claim_catches_a_kinked_plugins_numpy_only_rule(tmp_path):
    """What drawing kinked ops buys: a leaky relu declared smooth=False whose own numpy rule
    calls numpy on device arrays. The device-path claim now draws it and is falsified; before,
    no claim drew it and the ledger passed."""
    from dataclasses import replace

    import sympy as sp

    from descentcheck.properties import BY_ID, get_profile
    from descentcheck.properties.runner import run_claim

    leaky = ElementwisePlugin(
        "npleaky",
        _leaky,
        smooth=False,
        numpy_forward=lambda x: np.maximum(x, x / 10),  # np.*, not namespace(x)
        numpy_derivative=lambda x: np.where(x > 0, 1.0, 0.1),
        claimed_forward=lambda x: sp.Max(x, x / 10),
        claimed_derivative=lambda x: sp.Piecewise((1, x > 0), (sp.Rational(1, 10), True)),
    )
    with installed(npleaky=leaky):
        profile = replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)
        entry = run_claim(BY_ID["device-path-equals-numpy-path"], profile)
    assert entry["outcome"] == "falsified", entry
    assert "plugin 'npleaky'" in entry["message"] and "device array" in entry["message"], entry


def _tanh_lin(x):
    import sympy as sp

    return sp.tanh(x) + x / 10


def test_theory_names_an_own_numpy_rule_that_calls_numpy_on_device_arrays():
    """A blind author's numpy_forward called np.tanh: it passed theory and trained, and only
    the ledger's device-path claim caught it. Theory's plugin-rules check now runs a plugin's
    own numpy rules on the strict CuPy stand-in; the namespace's tanh passes."""
    from descentcheck.impl.backend import namespace
    from descentcheck.theory.plugin_rules import check_plugin_rules

    def transcription(x):
        import sympy as sp

        return sp.tanh(x) + x / 10, 1 - sp.tanh(x) ** 2 + sp.Rational(1, 10)

    def plugin(tanh):
        return ElementwisePlugin(
            "tanhlin",
            _tanh_lin,
            numpy_forward=lambda x: tanh(x) + x / 10,
            numpy_derivative=lambda x: 1 - tanh(x) ** 2 + 0.1,
            claimed_forward=lambda x: transcription(x)[0],
            claimed_derivative=lambda x: transcription(x)[1],
        )

    with installed(tl=plugin(np.tanh)):
        r = check_plugin_rules()
        assert not r.ok and any(
            "its numpy_forward failed on a device array" in d for d in r.details
        ), r.details
    with installed(tl=plugin(lambda x: namespace(x).tanh(x))):
        assert check_plugin_rules().ok


def test_theory_reports_a_refused_plugin_once():
    """A plugin refused when the registries load (two expected_bounds) stops every check that
    reads them; theory printed the same line under nine check names: now it is one result."""
    from descentcheck.theory.checks import run_all

    bad = ElementwisePlugin("swish", _swish, expected_bounds=("oo", "1/2"))
    with installed(swish=bad):
        results = run_all()
    assert [r.name for r in results] == ["plugins load"] and not results[0].ok
    assert results[0].kind == "not run"  # not a numeric check that failed
    assert "'expected_bounds' must be three numbers or strings" in results[0].summary


def test_a_run_with_a_plugin_op_or_loss_is_replayed_by_the_environments_python():
    """A printed replay command for a spec using a plugin op or loss starts with
    ``python -m descentcheck`` (the ``descentcheck`` script on the PATH may not see the plugin);
    the same spec with built-in ops only keeps ``descentcheck``."""
    from descentcheck.properties.counterexample import program

    builtin = {
        **SPEC,
        "nodes": [dict(n, op="tanh") if n["op"] == "isru" else n for n in SPEC["nodes"]],
    }
    with installed(isru=ISRU, l1=LossPlugin("l1", _l1, targets="values", smooth=False)):
        assert program(SPEC, "gd") == ["python", "-m", "descentcheck"]
        assert program({**builtin, "loss": "l1"}, "gd") == ["python", "-m", "descentcheck"]
        assert program(builtin, "gd") == ["descentcheck"]
