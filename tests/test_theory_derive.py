"""derive_text: the JSON contract, closed forms written independently here, errors, formats."""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from descentcheck.properties.profiles import TEST_PROFILE_SLOW, hypothesis_settings
from descentcheck.registry import ops as registry
from descentcheck.theory import FORMATS, KNOWN_OPS, DeriveError, derive, derive_text
from descentcheck.theory.units import min_dim

DIMS = st.integers(1, 4)
vals = st.floats(-2.0, 2.0, allow_nan=False)
radii = st.floats(-2.0, 2.0, allow_nan=False)


def _payload(op: str, dim: int) -> dict:
    return json.loads(derive_text(op, "json", dim))


@functools.cache
def _compiled(op: str, dim: int) -> tuple[list[str], object, dict[str, object]]:
    """The JSON's expressions read back as a reader would (sympify), compiled once."""
    payload = _payload(op, dim)
    syms = [sp.Symbol(s) for s in payload["symbols"]]

    def fn(text: str):
        return sp.lambdify(syms, sp.sympify(text), "mpmath")

    return payload["symbols"], fn(payload["output"]), {k: fn(v) for k, v in payload["grad"].items()}


def _evaluate(op: str, dim: int, values: dict[str, float]) -> tuple[float, dict[str, float]]:
    """Evaluate the JSON's output and gradients at ``values``."""
    names, out, grads = _compiled(op, dim)
    args = [values[s] for s in names]
    return float(out(*args)), {k: float(g(*args)) for k, g in grads.items()}


def _m(e) -> sp.Matrix:
    return sp.Matrix(e) if isinstance(e, sp.MatrixBase) else sp.Matrix([e])


def _close(a: float, b: float, scale: float = 0.0) -> bool:
    return abs(a - b) <= 1e-12 * max(abs(a), abs(b), scale, 1e-300)


@pytest.mark.parametrize("op", KNOWN_OPS)
def test_json_contract_keys_symbols_and_round_trip(op):
    for dim in range(min_dim(op), 5):
        p = _payload(op, dim)
        assert list(p) == ["op", "symbols", "output", "grad"]
        assert p["op"] == op
        syms = p["symbols"]
        if registry.variant(op)[0].kind == "loss":
            assert syms == [f"yhat{i}" for i in range(dim)] + [f"y{i}" for i in range(dim)]
            assert list(p["grad"]) == [f"yhat{i}" for i in range(dim)]
        else:
            assert syms[:dim] == [f"x{i}" for i in range(dim)]
            params = syms[dim:]
            if op == "dense":
                assert params == [f"w{i}" for i in range(dim)] + ["b"]
            elif op.endswith("per_unit"):
                assert params == [f"c{i}" for i in range(dim)] + ["r"]
            elif op.startswith("gaussian"):
                assert params == [f"c{i}" for i in range(dim)] + [f"r{i}" for i in range(dim)]
            else:
                assert params == []
            assert sorted(p["grad"]) == sorted(syms)
        # every expression reads back through sympify to the very same expression
        d = derive(op, dim)
        assert _m(sp.sympify(p["output"])) == _m(d.output)
        for s, g in d.grad.items():
            assert _m(sp.sympify(p["grad"][s.name])) == _m(g)
        allowed = {sp.Symbol(s) for s in syms}
        for text in [p["output"], *p["grad"].values()]:
            assert sp.sympify(text).free_symbols <= allowed


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(dim=DIMS, data=st.data())
def test_gaussian_unit_against_closed_form(dim, data):
    x = [data.draw(vals) for _ in range(dim)]
    c = [data.draw(vals) for _ in range(dim)]
    r = [data.draw(radii) for _ in range(dim)]
    for logits in (False, True):
        op = "gaussian_logits" if logits else "gaussian"
        values = {**{f"x{i}": x[i] for i in range(dim)}, **{f"c{i}": c[i] for i in range(dim)}}
        values |= {f"r{i}": r[i] for i in range(dim)}
        out, grad = _evaluate(op, dim, values)
        z = -0.5 * sum(r[i] ** 2 * (x[i] - c[i]) ** 2 for i in range(dim))
        y = z if logits else math.exp(z)
        gz = 1.0 if logits else y  # d y / d z
        assert _close(out, y, abs(z) * (1 if logits else y))
        for i in range(dim):
            u = x[i] - c[i]
            assert _close(grad[f"c{i}"], gz * r[i] ** 2 * u)
            assert _close(grad[f"x{i}"], -gz * r[i] ** 2 * u)
            assert _close(grad[f"r{i}"], -gz * r[i] * u**2)


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(dim=DIMS, data=st.data())
def test_gaussian_per_unit_against_closed_form(dim, data):
    x = [data.draw(vals) for _ in range(dim)]
    c = [data.draw(vals) for _ in range(dim)]
    r = data.draw(radii)
    values = {**{f"x{i}": x[i] for i in range(dim)}, **{f"c{i}": c[i] for i in range(dim)}, "r": r}
    out, grad = _evaluate("gaussian_per_unit", dim, values)
    d2 = sum((x[i] - c[i]) ** 2 for i in range(dim))
    y = math.exp(-0.5 * r**2 * d2)
    assert _close(out, y)
    assert _close(grad["r"], -r * d2 * y)
    for i in range(dim):
        assert _close(grad[f"c{i}"], r**2 * (x[i] - c[i]) * y)


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(dim=DIMS, data=st.data())
def test_dense_unit_against_closed_form(dim, data):
    x = [data.draw(vals) for _ in range(dim)]
    w = [data.draw(vals) for _ in range(dim)]
    b = data.draw(vals)
    values = {**{f"x{i}": x[i] for i in range(dim)}, **{f"w{i}": w[i] for i in range(dim)}, "b": b}
    out, grad = _evaluate("dense", dim, values)
    scale = sum(abs(a * v) for a, v in zip(w, x)) + abs(b)
    assert _close(out, sum(a * v for a, v in zip(w, x)) + b, scale)
    assert grad["b"] == 1.0
    for i in range(dim):
        assert _close(grad[f"w{i}"], x[i])
        assert _close(grad[f"x{i}"], w[i])


@hypothesis_settings(TEST_PROFILE_SLOW)
@given(dim=st.integers(2, 4), data=st.data())
def test_losses_against_closed_forms(dim, data):
    yhat = [data.draw(st.floats(-10, 10)) for _ in range(dim)]
    y = [data.draw(st.floats(0, 1)) for _ in range(dim)]
    values = {**{f"yhat{i}": yhat[i] for i in range(dim)}, **{f"y{i}": y[i] for i in range(dim)}}
    out, grad = _evaluate("mse", dim, values)
    assert _close(
        out,
        0.5 * sum((a - t) ** 2 for a, t in zip(yhat, y)),
        sum(a * a + t * t for a, t in zip(yhat, y)),
    )
    for k in range(dim):
        assert _close(grad[f"yhat{k}"], yhat[k] - y[k], abs(yhat[k]) + abs(y[k]))
    out, grad = _evaluate("softmax_cross_entropy", dim, values)
    m = max(yhat)
    lse = m + math.log(sum(math.exp(a - m) for a in yhat))
    p = [math.exp(a - lse) for a in yhat]
    ce = -sum(t * (a - lse) for a, t in zip(yhat, y))
    assert _close(out, ce, sum(t * (abs(a) + abs(lse)) for a, t in zip(yhat, y)))
    for k in range(dim):
        # general labels: softmax * sum(y) - y (no normalisation assumed)
        assert _close(grad[f"yhat{k}"], p[k] * sum(y) - y[k], p[k] * sum(y) + y[k])


def test_relu_is_piecewise_with_zero_derivative_at_zero():
    p = _payload("relu", 1)
    g = sp.sympify(p["grad"]["x0"])
    x0 = sp.Symbol("x0")
    assert g.subs(x0, 0)[0] == 0 and g.subs(x0, 1)[0] == 1 and g.subs(x0, -1)[0] == 0
    text = derive_text("relu", "sympy", 1)
    assert "not differentiable at 0" in text and "torch" in text


def test_softmax_ce_states_simplification_and_condition():
    for fmt in ("latex", "sympy"):
        text = derive_text("softmax_cross_entropy", fmt, 3)
        assert "sum" in text.lower() and "= 1" in text
    assert "-- proved" in derive_text("softmax_cross_entropy", "sympy", 3)
    assert "NOT proved" not in derive_text("softmax_cross_entropy", "sympy", 3)


@pytest.mark.parametrize("op", KNOWN_OPS)
def test_every_format_renders_and_mathml_is_well_formed(op):
    dim = min_dim(op) + 1
    for fmt in FORMATS:
        assert derive_text(op, fmt, dim).strip()
    root = ET.fromstring("<root>" + derive_text(op, "mathml", dim) + "</root>")
    assert r"\begin{align*}" in derive_text(op, "latex", dim)
    identifiers = [e.text or "" for e in root.iter("{http://www.w3.org/1998/Math/MathML}mi")]
    assert not [t for t in identifiers if t.isdigit()], "a number written as an identifier"


@pytest.mark.parametrize(
    ("op", "fmt", "dim"),
    [
        ("conv2d", "json", 3),
        ("", "json", 3),
        ("dense", "json", 0),
        ("dense", "json", 33),
        ("dense", "json", -1),
        ("dense", "json", True),
        ("dense", "json", 2.0),
        ("dense", "json", "3"),
        ("add", "json", 1),
        ("softmax_cross_entropy", "json", 1),
        ("dense", "yaml", 3),
    ],
)
def test_bad_requests_raise_one_line_derive_error(op, fmt, dim):
    with pytest.raises(DeriveError) as info:
        derive_text(op, fmt, dim)
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in msg
    # each names what is wrong and what it takes (the ops, the formats, or dim's range)
    known = ("known ops: dense", "known formats: latex", f"dim for {op} must be an integer from")
    assert any(k in msg for k in known), msg


def test_numpy_integer_dim_is_accepted():
    import numpy as np

    assert derive_text("dense", "json", np.int64(2)) == derive_text("dense", "json", 2)


def test_import_does_not_load_sympy():
    code = (
        "import sys; import descentcheck, descentcheck.theory, descentcheck.theory.descent; "
        "from descentcheck.theory import DeriveError, KNOWN_OPS; "
        "assert 'sympy' not in sys.modules and 'mpmath' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_derivation_is_sympy_diff_of_the_output():
    # an independent re-derivation from the printed output: d output / d s == grad[s]
    for op in ("gaussian", "gaussian_logits_per_unit", "dense", "softmax_cross_entropy", "tanh"):
        p = _payload(op, 3)
        out = sp.sympify(p["output"])
        for s, g in p["grad"].items():
            diff = sp.Matrix([out]).diff(sp.Symbol(s)) - sp.Matrix([sp.sympify(g)])
            assert sp.simplify(diff) == sp.zeros(*diff.shape)


# ---- an optimizer's update rule ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["gd", "momentum", "nesterov", "adaptive_momentum", "rmsprop"])
def test_derive_an_optimizer_prints_its_rule_and_region(name):
    """``derive OPTIMIZER``: the JSON reads back (sympify) to the registry's own rule and region,
    and the other formats render it."""
    from descentcheck.registry import optimizers
    from descentcheck.registry.optimizers import region_of

    entry = optimizers.get(name)
    rule, region = entry.build_derivation(), region_of(entry)
    payload = json.loads(derive_text(name, "json"))
    assert payload["optimizer"] == name

    def same(text: str, expr) -> bool:  # read back with expr's symbols (their assumptions)
        names = {s.name: s for s in sp.sympify(expr).free_symbols}
        return sp.simplify(sp.sympify(text, locals=names) - expr) == 0

    assert same(payload["step"], rule.step)
    state = {str(s): v for s, v in rule.state.items()}
    assert set(payload["state"]) == set(state)
    assert all(same(v, state[s]) for s, v in payload["state"].items())
    assert payload["region"]["name"] == region.name
    names = {s.name: s for s in region.condition.free_symbols}
    assert sp.sympify(payload["region"]["condition"], locals=names) == region.condition
    assert payload["no_region"] is None
    for fmt in FORMATS:
        assert region.name in derive_text(name, fmt)
    ET.fromstring(f"<r>{derive_text(name, 'mathml')}</r>")  # well-formed


def test_relus_mathml_is_a_brace_over_its_cases():
    """SymPy's presentation printer wrote relu as the call piecewise((x0, x0 > 0), (0, True)),
    where the LaTeX shows cases (a held-out review); it is now a brace, "for" and "otherwise"."""
    text = derive_text("relu", "mathml", 2)
    ET.fromstring(f"<r>{text}</r>")
    assert "piecewise" not in text and "<mi>True</mi>" not in text
    assert text.count("<mtext>otherwise</mtext>") >= 2 and "<mo>{</mo>" in text


def test_rmsprops_region_is_printed_for_momentum_zero_only():
    """RMSProp's rule carries torch's momentum buffer, but its region lr < 2p/(Lq) is the
    momentum-free one (a held-out review: with momentum 0.9 a point inside it rises): every
    format says so, and a region without a restriction says nothing."""
    when = "momentum = 0, lr > 0"
    assert json.loads(derive_text("rmsprop", "json"))["region"]["applies_when"] == when
    assert f"region ({when}): lr < 2*p/(L*q)" in derive_text("rmsprop", "sympy")
    assert r"\text{region (momentum = 0, $\eta$ > 0): }" in derive_text("rmsprop", "latex")
    assert f"region ({when})" in derive_text("rmsprop", "mathml")
    assert json.loads(derive_text("momentum", "json"))["region"]["applies_when"] is None
    assert "region: beta*rho_k < Min(lr, -lr + 2/L)" in derive_text("momentum", "sympy")
    from descentcheck.theory.descent import rmsprop_guaranteed

    # the review's point: inside lr < 2p/(Lq) (0.5 < 2), yet with momentum 0.9 not guaranteed
    assert rmsprop_guaranteed(0.5, 1.0, [1.0, 1.0], [1.0, 1.0])
    assert not rmsprop_guaranteed(0.5, 1.0, [1.0, 1.0], [1.0, 1.0], 0.9, 1.0)


def test_a_region_true_at_lr_zero_says_it_needs_lr_above_zero():
    """A zero step decreases nothing, and every float verdict says False at lr = 0; a shown
    condition that reads true there (gd's lr < 2/L, RMSProp's, the papers' tau = s lr form)
    states lr > 0 beside it (theory review: the JSON condition said "guaranteed" at lr = 0)."""
    from descentcheck.theory import descent
    from descentcheck.theory import descent_proofs as dp
    from descentcheck.theory.descent import REGIONS

    benign = {dp.L: 1, dp.tau: 0, dp.beta: 0, dp.ratio: 0, dp.s_paper: 0, dp.p: 1, dp.q: 1}
    open_at_zero = {
        name for name, r in REGIONS.items() if bool(r.condition.subs({dp.lr: 0}).subs(benign))
    }
    assert open_at_zero == {"gd", "adaptive_momentum_tau_proportional", "rmsprop"}
    for name in open_at_zero:
        assert "lr > 0" in REGIONS[name].applies_when, name
    assert not descent.gd_guaranteed(0.0, 1.0)
    assert not descent.rmsprop_guaranteed(0.0, 1.0, [1.0], [1.0])
    assert "region (lr > 0): lr < 2/L" in derive_text("gd", "sympy")


@pytest.mark.parametrize("name", ["gd", "momentum", "nesterov", "adaptive_momentum", "rmsprop"])
def test_an_optimizers_json_reads_back_with_its_symbols_list(name):
    """A reader has only the JSON: sympify with ``locals`` from its ``symbols`` gives back the
    rule and region (plain sympify reads ``beta`` as SymPy's beta function: theory review)."""
    from descentcheck.registry import optimizers
    from descentcheck.registry.optimizers import region_of

    payload = json.loads(derive_text(name, "json"))
    names = {n: sp.Symbol(n) for n in payload["symbols"]}
    read = [sp.sympify(payload["step"], locals=names)]
    read += [sp.sympify(v, locals=names) for v in payload["state"].values()]
    read += [sp.sympify(payload["region"]["condition"], locals=names)]
    entry = optimizers.get(name)
    free = set().union(*(e.free_symbols for e in read))
    assert {s.name for s in free} == set(payload["symbols"])
    expected = sp.sympify(entry.build_derivation().step)
    assert (
        sp.simplify(read[0] - expected.xreplace({s: names[s.name] for s in expected.free_symbols}))
        == 0
    )
    assert str(read[-1]) == str(region_of(entry).condition)


def test_an_optimizers_mathml_writes_lr_and_eps_as_its_region_does():
    """The MathML update wrote ``lr`` and ``eps`` while its region (and the LaTeX) wrote eta and
    epsilon (theory review)."""
    text = derive_text("rmsprop", "mathml")
    assert "<mi>lr</mi>" not in text and "<mi>eps</mi>" not in text
    assert text.count("<mi>&#951;</mi>") >= 2 and "<mi>&#949;</mi>" in text


def test_derive_an_optimizer_shows_which_step_each_state_is():
    """In the rule a state symbol means s_(k-1) inside the state update and s_k inside the step;
    the text says so with indices (torch's heavy ball: buf_k = beta buf_(k-1) + g_k)."""
    text = derive_text("momentum", "sympy")
    assert "buf_k = beta*buf_(k-1) + g_k" in text
    assert "dw_k = -buf_k*lr" in text


def test_an_unknown_name_lists_ops_and_optimizers():
    with pytest.raises(DeriveError, match=r"unknown op 'adamw'; known ops: .*; optimizers: gd"):
        derive_text("adamw", "json")


def test_the_round_trip_check_fails_on_a_json_that_reads_back_otherwise(monkeypatch):
    """theory's derivations check compares what the JSON reads back to with the derivation
    (up to expansion): a JSON whose output is off by a factor fails it, naming op and D."""
    from descentcheck.theory import checks, render

    real = render.derive_text

    def doubled(op, fmt, dim):
        text = real(op, fmt, dim)
        if fmt != "json" or op != "tanh":
            return text
        payload = json.loads(text)
        payload["output"] = f"2*({payload['output']})"
        return json.dumps(payload)

    monkeypatch.setattr(render, "derive_text", doubled)
    result = checks.check_derivations()
    assert not result.ok and "tanh D=1: output does not round-trip" in result.details
    assert all(line.startswith("tanh ") for line in result.details)


def test_adaptive_momentums_region_says_where_it_is_exact():
    """At k = 0 (dw_{-1} = 0) alpha_0 = 0 and the step is gradient descent's, so a point outside
    tau < min(lr, 2/L - lr) but inside 0 < lr < 2/L decreases every L-smooth E: the region's
    "iff" holds from k = 1 on, in every group whose previous step is nonzero, and derive says so
    (held-out audit: it printed the region with no restriction and called it exact)."""
    import numpy as np

    from descentcheck.impl.optim import get_optimizer
    from descentcheck.theory import descent

    lr, tau, L = 1.5, 0.6, 1.0  # tau L = 0.6 > 2 - lr L = 0.5: outside the stated region
    assert not descent.adaptive_guaranteed(lr, tau, L) and descent.gd_guaranteed(lr, L)
    opt = get_optimizer("adaptive_momentum", lr=lr, tau=tau)
    w = {"a": np.array([1.0, -2.0])}
    step, _, info = opt.update(w, opt.init(w), w)
    assert np.array_equal(step["a"], -lr * w["a"]) and info.momentum == 0.0  # gd's step
    region = json.loads(derive_text("adaptive_momentum", "json"))["region"]
    assert "k >= 1" in region["applies_when"]
    assert (
        "sufficient, not exact" in region["words"]
        and "its direction free" in region["applies_when"]
    )
    assert "Along one run dw_{k-1} comes from the same E's history" in region["words"]
    assert "region (k >= 1, " in derive_text("adaptive_momentum", "sympy")
    assert r"\text{region (k >= 1, " in derive_text("adaptive_momentum", "latex")
    assert "k >= 1" in descent.REGIONS["adaptive_momentum_tau_proportional"].applies_when
