"""Optimizers: pure updates over explicit state, the table's formulas, hyperparameter errors."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from descentcheck.impl.errors import HyperparameterError
from descentcheck.impl.optim import apply_updates, get_optimizer
from descentcheck.properties.profiles import hypothesis_settings

vec = arrays(np.float64, 4, elements=st.floats(-2, 2))
lrs = st.floats(1e-3, 1.0)
betas = st.floats(0.0, 0.99)


def _run(opt, grads_seq, w0):
    state = opt.init(w0)
    w = w0
    out = []
    for g in grads_seq:
        before = {k: v.copy() for k, v in w.items()}
        snapshot = state
        upd, state, info = opt.update(g, state, w)
        assert all(np.array_equal(before[k], w[k]) for k in w), "update mutated params"
        del snapshot
        w = apply_updates(w, upd)
        out.append((upd, info))
    return w, out


@hypothesis_settings()
@given(st.lists(vec, min_size=1, max_size=6), lrs, betas)
def test_momentum_is_the_tables_dw_form(gs, lr, beta):
    """w_K from torch's buffer form equals w_K from dw_k = -lr g_k + beta dw_{k-1}."""
    w0 = {"p": np.zeros(4)}
    wK, _ = _run(get_optimizer("momentum", lr, momentum=beta), [{"p": g} for g in gs], w0)
    dw = np.zeros(4)
    w = np.zeros(4)
    for g in gs:
        dw = -lr * g + beta * dw
        w = w + dw
    np.testing.assert_allclose(wK["p"], w, rtol=1e-12, atol=1e-14)


@hypothesis_settings()
@given(st.lists(vec, min_size=2, max_size=6), lrs, st.floats(0.01, 0.99))
def test_nesterov_is_torchs_form(gs, lr, beta):
    w0 = {"p": np.zeros(4)}
    wK, _ = _run(get_optimizer("nesterov", lr, momentum=beta), [{"p": g} for g in gs], w0)
    buf, w = None, np.zeros(4)
    for g in gs:
        buf = g.copy() if buf is None else beta * buf + g
        w = w - lr * (g + beta * buf)
    np.testing.assert_allclose(wK["p"], w, rtol=1e-12, atol=1e-14)


@hypothesis_settings()
@given(st.lists(vec, min_size=1, max_size=6), lrs, st.floats(0.0, 0.99), st.floats(0.0, 0.9))
def test_rmsprop_is_torchs_form(gs, lr, rho, beta):
    eps = 1e-8
    opt = get_optimizer("rmsprop", lr, rho=rho, eps=eps, momentum=beta)
    wK, _ = _run(opt, [{"p": g} for g in gs], {"p": np.zeros(4)})
    v, buf, w = np.zeros(4), np.zeros(4), np.zeros(4)
    for g in gs:
        v = rho * v + (1 - rho) * g * g
        step = g / (np.sqrt(v) + eps)
        buf = beta * buf + step if beta > 0 else step
        w = w - lr * buf
    np.testing.assert_allclose(wK["p"], w, rtol=1e-12, atol=1e-14)


@hypothesis_settings()
@given(
    st.floats(0.0, 1.0),
    st.sampled_from([-1.0, 1.0]),
    lrs,
    st.floats(0.5, 0.99),
    st.sampled_from([0.0, 0.9]),
)
def test_rmsprop_moves_an_entry_whose_square_alone_overflows(u, sign, lr, rho, beta):
    """1.35e154 <= |g| <= 1e154 / sqrt(1 - rho): g^2 overflows, but ((1 - rho) g) g (torch's
    addcmul order) does not. The step is -lr g / sqrt((1 - rho) g^2) at the first update (v was
    inf: the entry froze while the run said completed, trainer audit)."""
    low, high = 1.35e154, 1e154 / float(np.sqrt(1.0 - rho))
    g = np.array([sign * (low + u * (high - low)), 0.5])
    assert not np.isfinite(g[0] * g[0])
    opt = get_optimizer("rmsprop", lr, rho=rho, eps=1e-8, momentum=beta)
    expected = -lr * np.sign(g) / np.sqrt(1.0 - rho)
    dict_dw, _, _ = opt.update({"p": g.copy()}, opt.init({"p": np.zeros(2)}), {"p": np.zeros(2)})
    flat = opt.flat(None)
    flat_dw, _, _ = flat.update(g.copy(), flat.init(np.zeros(2)), np.zeros(2))
    for dw in (dict_dw["p"], flat_dw):
        np.testing.assert_allclose(dw[0], expected[0], rtol=1e-14)


def _scaled_norm(v):
    """|v| without underflow (np.linalg.norm squares 1e-202 to 0, and took a previous step of
    that size for none, as the optimizer once did)."""
    m = float(np.max(np.abs(v), initial=0.0))
    return m * float(np.linalg.norm(v / m)) if m > 0 else 0.0


@hypothesis_settings()
@given(
    st.lists(st.tuples(vec, vec), min_size=1, max_size=6),
    lrs,
    st.floats(0.0, 1.0),
    st.sampled_from(["array", "node", "global"]),
)
def test_adaptive_momentum_term_has_length_tau_times_gradient(gs, lr, tau, group):
    """alpha_k dw_{k-1} has norm tau |g_k| in every group (0 after a zero step), so the step is
    at most (lr + tau)|g_k| long -- the property the descent bound rests on."""
    opt = get_optimizer("adaptive_momentum", lr, tau=tau, group=group)
    w = {"a.W": np.zeros(4), "a.b": np.zeros(4)}
    state = opt.init(w)
    prev = {k: np.zeros(4) for k in w}
    for ga, gb in gs:
        g = {"a.W": ga, "a.b": gb}
        upd, state, info = opt.update(g, state, w)
        groups = {
            "array": [["a.W"], ["a.b"]],
            "node": [["a.W", "a.b"]],
            "global": [["a.W", "a.b"]],
        }[group]
        for keys in groups:
            mom = np.concatenate([upd[k] + lr * g[k] for k in keys])
            gnorm = _scaled_norm(np.concatenate([g[k] for k in keys]))
            pnorm = _scaled_norm(np.concatenate([prev[k] for k in keys]))
            expected = tau * gnorm if pnorm > 0 else 0.0
            assert np.linalg.norm(mom) == pytest.approx(expected, rel=1e-9, abs=1e-12)
        total = np.linalg.norm(np.concatenate(list(upd.values())))
        gtot = np.linalg.norm(np.concatenate(list(g.values())))
        assert total <= (lr + tau) * gtot * (1 + 1e-12) + 1e-15
        prev = upd
        w = apply_updates(w, upd)


def test_rmsprops_defaults_are_torchs():
    """rho = 0.99 (torch's alpha), eps = 1e-8, no momentum, called directly as well."""
    from descentcheck.impl.optim.rmsprop import rmsprop

    assert rmsprop(0.1).hyperparameters == {"lr": 0.1, "rho": 0.99, "eps": 1e-8, "momentum": 0.0}


def test_adaptive_momentum_first_step_is_plain_gd():
    opt = get_optimizer("adaptive_momentum", 0.1, tau=0.5)
    w = {"p": np.ones(3)}
    upd, _, info = opt.update({"p": np.ones(3)}, opt.init(w), w)
    assert np.array_equal(upd["p"], -0.1 * np.ones(3)) and info.momentum == 0.0


@pytest.mark.parametrize(
    ("name", "kwargs", "fragment"),
    [
        ("gd", {"lr": -0.1}, "learning rate must lie in (0, inf)"),
        ("gd", {"lr": 0.0}, "learning rate must lie in (0"),
        # each factory checks its own lr (the registry leaves it to them): mutation survivors
        ("momentum", {"lr": 0.0, "momentum": 0.5}, "learning rate must lie in (0"),
        ("nesterov", {"lr": 0.0, "momentum": 0.5}, "learning rate must lie in (0"),
        ("rmsprop", {"lr": 0.0}, "learning rate must lie in (0"),
        ("adaptive_momentum", {"lr": 0.0, "tau": 0.1}, "learning rate must lie in (0"),
        ("rmsprop", {"lr": 0.1, "momentum": 1.0}, "momentum must lie in [0, 1)"),
        ("rmsprop", {"lr": 0.1, "momentum": 1.5}, "momentum must lie in [0, 1)"),
        ("gd", {"lr": float("nan")}, "learning rate must be finite"),
        # a JSON file's 400-digit integer: float() raised OverflowError
        ("gd", {"lr": 10**400}, "learning rate must be finite, got an integer of 1329 bits"),
        # any Real passes the type check: a huge Fraction's message read int.bit_length and
        # raised AttributeError (a held-out mypy triage)
        ("gd", {"lr": Fraction(10**400)}, "learning rate must be finite, got a number beyond"),
        ("momentum", {"lr": 0.1, "momentum": -(10**400)}, "momentum must be finite"),
        ("momentum", {"lr": 0.1}, "needs a momentum coefficient"),
        ("momentum", {"lr": 0.1, "momentum": 1.0}, "momentum must lie in [0, 1)"),
        ("momentum", {"lr": 0.1, "momentum": -0.5}, "momentum must lie in [0, 1)"),
        ("nesterov", {"lr": 0.1, "momentum": 0.0}, "momentum must lie in (0, 1)"),
        ("adaptive_momentum", {"lr": 0.1}, "needs tau"),
        ("adaptive_momentum", {"lr": 0.1, "tau": -1.0}, "tau must lie in [0"),
        (
            "adaptive_momentum",
            {"lr": 0.1, "tau": 0.1, "group": "neuron"},
            "unknown momentum grouping",
        ),
        ("rmsprop", {"lr": 0.1, "rho": 1.0}, "rho must lie in [0, 1)"),
        ("rmsprop", {"lr": 0.1, "eps": -1e-8}, "eps must lie in [0"),
        ("gd", {"lr": 0.1, "momentum": 0.5}, "gd takes no 'momentum'"),
        ("adam", {"lr": 0.1}, "unknown optimizer 'adam'"),
    ],
)
def test_bad_hyperparameters_are_named(name, kwargs, fragment):
    with pytest.raises(HyperparameterError) as info:
        get_optimizer(name, **kwargs)
    assert fragment in str(info.value)


def test_unit_grouping_is_wu_et_al_per_unit():
    """group="unit": each unit's incoming weights and bias share one coefficient
    alpha_j = tau |g_j| / |dw_j| (dense: column j of W with b[j]; distance layers: row j of the
    centroids with row j of the radii); the dict and flat forms give the same bits."""
    from descentcheck.impl.optim.base import Layout

    rng = np.random.default_rng(3)
    p = {
        "h.W": rng.normal(size=(3, 2)),
        "h.b": rng.normal(size=2),
        "g.centroids": rng.normal(size=(2, 3)),
        "g.radii": rng.normal(size=(2, 3)),
    }
    opt = get_optimizer("adaptive_momentum", 0.1, tau=0.3, group="unit")
    layout = Layout.of(p)
    flat = opt.flat(layout)
    state, fstate = opt.init(p), flat.init(layout.flatten(p))
    prev = None
    for _ in range(3):
        g = {k: rng.normal(size=v.shape) for k, v in p.items()}
        upd, state, _ = opt.update(g, state, p)
        dw, fstate, _ = flat.update(layout.flatten(g), fstate, None)
        assert np.array_equal(layout.flatten(upd), dw)
        if prev is not None:
            for j in range(2):
                gu = np.concatenate([g["h.W"][:, j], [g["h.b"][j]]])
                du = np.concatenate([prev["h.W"][:, j], [prev["h.b"][j]]])
                alpha = 0.3 * np.linalg.norm(gu) / np.linalg.norm(du)
                want = -0.1 * g["h.W"][:, j] + alpha * prev["h.W"][:, j]
                np.testing.assert_allclose(upd["h.W"][:, j], want, rtol=1e-13)
                gc = np.concatenate([g["g.centroids"][j], g["g.radii"][j]])
                dc = np.concatenate([prev["g.centroids"][j], prev["g.radii"][j]])
                a2 = 0.3 * np.linalg.norm(gc) / np.linalg.norm(dc)
                want = -0.1 * g["g.centroids"][j] + a2 * prev["g.centroids"][j]
                np.testing.assert_allclose(upd["g.centroids"][j], want, rtol=1e-13)
        prev = upd


# ---- the dict form and the trainer's flat, in-place form agree bit for bit ----------------------

from descentcheck.impl.optim.base import Layout  # noqa: E402
from descentcheck.properties.registered_updates import hyperparameter_draws  # noqa: E402
from descentcheck.registry.optimizers import BUILTINS, option_settings  # noqa: E402

# every built-in (each has a flat form) under every option setting: each grouping of adaptive
# momentum, RMSProp with and without momentum
SETTINGS = [(e.name, s) for e in BUILTINS for s in option_settings(e)]
SHAPES = {"h.W": 2, "h.b": 1, "g.centroids": 2, "g.radii": 1}  # dense and distance layers


@st.composite
def _params(draw):
    """Parameter shapes of a dense layer (in, units) and a distance layer (units, in), some
    arrays possibly empty, and K gradients with entries from a wide range of magnitudes."""
    n_in, units, cents = (draw(st.integers(0, 3), label=k) for k in ("in", "units", "cents"))
    shapes = {"h.W": (n_in, units), "h.b": (units,), "g.centroids": (cents, 2), "g.radii": (cents,)}
    finite = st.floats(-1e6, 1e6, allow_subnormal=False)
    grads = draw(
        st.lists(
            st.fixed_dictionaries(
                {k: arrays(np.float64, s, elements=finite) for k, s in shapes.items()}
            ),
            min_size=1,
            max_size=5,
        ),
        label="gradients",
    )
    return shapes, grads


def _compare_forms(opt, shapes, grads) -> None:
    """Run the dict and the flat form side by side on ``grads``: every update and momentum
    coefficient equal to the bit."""
    params = {k: np.zeros(s) for k, s in shapes.items()}
    layout = Layout.of(params)
    flat = opt.flat(layout)
    state, fstate = opt.init(params), flat.init(layout.flatten(params))
    w = layout.flatten(params)
    # the step form (update and apply in place, where the optimizer has one) beside them
    stepped = opt.flat(layout) if flat.step is not None else None
    sstate = stepped.init(layout.flatten(params)) if stepped is not None else None
    v = layout.flatten(params)
    for g in grads:
        g = {k: g[k] for k in shapes}  # the trainer's order (the dict form sums in g's order)
        upd, state, info = opt.update(g, state, params)
        dw, fstate, coef = flat.update(layout.flatten(g), fstate, w)  # g: a fresh copy
        np.testing.assert_array_equal(layout.flatten(upd), dw, strict=True)
        assert coef == info.momentum, (coef, info.momentum)
        if stepped is not None:
            want = v + dw
            dv, sstate, scoef = stepped.step(layout.flatten(g), sstate, v)
            np.testing.assert_array_equal(dv, dw, strict=True)
            np.testing.assert_array_equal(v, want, strict=True)
            assert scoef == coef


@pytest.mark.parametrize(("name", "setting"), SETTINGS, ids=[f"{n}-{s}" for n, s in SETTINGS])
def test_flat_form_equals_dict_form_bit_for_bit(name, setting):
    @hypothesis_settings()
    @given(hp=hyperparameter_draws(name), case=_params())
    def check(hp, case):
        hp = {**hp, **{k: v for k, v in setting.items() if v is not None}}
        _compare_forms(get_optimizer(**{"name": hp.pop("optimizer"), **hp}), *case)

    check()


def test_flat_form_check_catches_a_one_ulp_difference():
    """The comparison fails on a flat form whose step is one ulp longer than the dict form's."""
    from dataclasses import replace

    from descentcheck.impl.optim.base import FlatOptimizer

    real = get_optimizer("gd", 0.1)
    mutant = replace(
        real,
        flat=lambda layout: FlatOptimizer(
            lambda w: (), lambda g, s, w: (g * -0.1 * (1 + 2**-52), s, None)
        ),
    )
    shapes, grads = {"p": (2,)}, [{"p": np.array([1.0, -3.0])}]
    _compare_forms(real, shapes, grads)
    with pytest.raises(AssertionError):
        _compare_forms(mutant, shapes, grads)


@hypothesis_settings()
@given(
    st.lists(st.floats(-1.0, 1.0).filter(lambda v: abs(v) > 1e-3), min_size=2, max_size=4),
    st.lists(st.floats(-1.0, 1.0).filter(lambda v: abs(v) > 1e-3), min_size=2, max_size=4),
    st.integers(-1000, 960),
    st.integers(-1000, 960),
    st.sampled_from(["array", "unit", "node", "global"]),
)
def test_adaptive_momentum_at_any_scale_is_its_formula(g, d, a, b, group):
    """dw = -lr g + tau |g| d / |d| at scales where sums of squares under- or overflow: a
    held-out review saw a previous step of ~1e-170 dropped (alpha = 0) and gradients of 1e160
    give NaN. Against 60-digit mpmath; the dict and the flat form give the same bits. Scales
    2^1900 apart included, where alpha = tau |g| / |d| itself over- or underflows (the
    drawn-state claim found a term of 2^-1000 lost under alpha = 2^-1500 = 0)."""
    import mpmath

    from descentcheck.impl.optim.base import Layout

    n = min(len(g), len(d))
    gv = np.ldexp(np.array(g[:n]), a)
    dv = np.ldexp(np.array(d[:n]), b)
    lr, tau = 0.5, 0.25
    opt = get_optimizer("adaptive_momentum", lr=lr, tau=tau, group=group)
    p = {"x.W": np.zeros((1, n))}
    dw, _, _ = opt.update({"x.W": gv[None, :]}, {"x.W": dv[None, :]}, p)
    flat = opt.flat(Layout.of(p))
    fd, _, _ = flat.update(gv.copy(), dv.copy(), None)
    assert np.array_equal(dw["x.W"].ravel(), fd)
    with mpmath.workdps(60):
        G = [mpmath.mpf(float(v)) for v in gv]
        D = [mpmath.mpf(float(v)) for v in dv]
        # groups: every grouping but "unit" puts this one array in one group; "unit": each column
        cols = [[i] for i in range(n)] if group == "unit" else [list(range(n))]
        want = [-lr * G[i] for i in range(n)]
        for c in cols:
            ng = mpmath.sqrt(mpmath.fsum(G[i] ** 2 for i in c))
            nd = mpmath.sqrt(mpmath.fsum(D[i] ** 2 for i in c))
            for i in c:
                want[i] += tau * ng * D[i] / nd
        size = lr * max(abs(v) for v in G) + tau * mpmath.sqrt(mpmath.fsum(v**2 for v in G))
        err = max(abs(mpmath.mpf(float(fd[i])) - want[i]) for i in range(n))
        assert err <= 1e-14 * size, (err, size)


@hypothesis_settings()
@given(
    st.integers(1020, 1074),
    st.integers(0, 3),
    st.floats(0.5, 4.0),
    st.floats(0.25, 4.0),
    st.sampled_from(["array", "unit", "node", "global"]),
)
def test_adaptive_momentum_after_a_subnormal_step_keeps_a_finite_term(e, at, g1, tau, group):
    """A previous step of one entry 2^-e (e >= 1020: its square underflows, its coefficient
    ``tau ||g|| / 2^-e`` overflows) under a gradient of ~1: the momentum term still has length
    ``tau ||g_G||`` and points along the previous step, the coefficient reported is the
    overflowed one, and the flat form gives the dict form's bits. (Hypothesis found the NaN this
    guards: inf * 0 in the previous step's zero entries.)"""
    tiny = np.zeros((2, 2))
    tiny.flat[at] = 2.0**-e
    shapes = {"h.W": (2, 2), "h.b": (2,), "g.centroids": (2, 2), "g.radii": (2,)}
    first = {k: np.zeros(s) for k, s in shapes.items()}
    first["h.W"] = tiny  # lr = 1: the first step is -tiny
    second = {k: np.full(s, g1) for k, s in shapes.items()}
    opt = get_optimizer("adaptive_momentum", 1.0, tau=tau, group=group)
    params = {k: np.zeros(s) for k, s in shapes.items()}
    upd, state, _ = opt.update(first, opt.init(params), params)
    upd, state, info = opt.update(second, state, params)
    term = upd["h.W"] + second["h.W"]  # alpha dw_{k-1} in h.W's group
    assert np.all(np.isfinite(term)), term
    group_of_h = {"array": ["h.W"], "unit": None, "node": ["h.W", "h.b"], "global": list(shapes)}
    keys = group_of_h[group]
    if keys is not None:
        want = tau * np.linalg.norm(np.concatenate([second[k].ravel() for k in keys]))
    else:  # per unit: the unit holding the tiny entry (column at % 2 of W, and its bias)
        j = at % 2
        want = tau * np.linalg.norm(np.append(second["h.W"][:, j], second["h.b"][j]))
    assert np.linalg.norm(term) == pytest.approx(want, rel=1e-14)
    assert term.flat[at] < 0 and np.count_nonzero(term) == 1  # along -tiny
    assert info.momentum == np.inf or info.momentum > 1e300
    _compare_forms(opt, shapes, [first, second])
