"""The ledger has teeth: with a bug planted in the trainer, claims that held are falsified."""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import strategies as st
from planting import mutated, plant

from descentcheck.impl.ops import merges
from descentcheck.impl.optim import Optimizer
from descentcheck.properties import BY_ID, get_profile
from descentcheck.properties.claim import Claim, Verdict
from descentcheck.properties.claims import skip
from descentcheck.properties.claims.apriori import apriori_claim
from descentcheck.properties.runner import run_claim

# planted bugs against the claims: minutes of claim runs, so `tox -e teeth` (and CI) runs them,
# not the default `tox`
pytestmark = pytest.mark.teeth


@pytest.fixture()
def profile(tmp_path):
    return replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)


def test_an_add_that_drops_the_skip_gradient_is_caught(monkeypatch, profile):
    """Backprop through add loses the gradient of its first input (a chain edge when the add
    merges a skip into a block). Only cases with an add merge can see it."""

    def backward(self, params, cache, gy):
        return [gy * 0.0] + [gy for _ in self.inputs[1:]], {}

    monkeypatch.setattr(merges.Add, "backward", backward)
    entry = run_claim(BY_ID["gradient-equals-oracle"], replace(profile, examples=150))
    assert entry["outcome"] == "falsified"
    assert "differs from the oracle" in entry["message"]


def _plant_reversed_tripled_adaptive(monkeypatch) -> None:
    """Adaptive momentum whose term alpha_k dw_{k-1} is reversed and three times as long (a
    fresh Optimizer: only the dict-form update, the planted bug in it)."""
    real = importlib.import_module("descentcheck.impl.optim.adaptive_momentum").adaptive_momentum

    def broken(lr, tau, group="array"):
        opt = real(lr, tau, group)

        def update(grads, prev, params):
            dw, _, info = opt.update(grads, prev, params)
            bad = {k: -(lr * g) - 3.0 * (dw[k] + lr * g) for k, g in grads.items()}
            return bad, bad, info

        return Optimizer(opt.name, opt.hyperparameters, opt.init, update)

    monkeypatch.setattr("descentcheck.impl.optim.adaptive_momentum", broken)


def test_adaptive_momentum_with_a_reversed_tripled_momentum_term_is_caught(monkeypatch, profile):
    """The momentum term alpha_k dw_{k-1} reversed and three times as long: |m| = 3 tau |g_k|
    breaks the |m| = tau |g_k| the region is derived from, and from the second step on the loss
    falls by less than theory guarantees (or rises)."""
    _plant_reversed_tripled_adaptive(monkeypatch)
    entry = run_claim(BY_ID["trainer-obeys-descent-lemma-adaptive-momentum"], profile)
    assert entry["outcome"] == "falsified"
    assert entry["counterexample"]["step"] >= 1  # momentum only acts from the second step on


def _mutant(monkeypatch, name, make):
    """Replace optimizer ``name`` in the trainer's registry by ``make(real)``."""
    real = getattr(importlib.import_module("descentcheck.impl.optim"), name)
    monkeypatch.setattr(f"descentcheck.impl.optim.{name}", make(real))


def _falsified_and_certified(entry):
    assert entry["outcome"] == "falsified", entry["message"]
    assert entry["counterexample"]["certified_increase"] is True


def test_apriori_gd_catches_a_step_eight_times_too_long(monkeypatch, profile):
    """The GD claim at c = 4 (lr = a / (2 L_0)) holds on the fast profile's cases; with every
    step eight times as long (up to 3.9 / L_0, past 2 / L_0) it is falsified."""
    claim = apriori_claim("gd", 4.0, "holds", "test")
    assert run_claim(claim, profile)["outcome"] == "held"
    _mutant(monkeypatch, "gd", lambda real: lambda lr: real(8.0 * lr))
    _falsified_and_certified(run_claim(claim, profile))


def test_the_registered_regions_claim_catches_a_widened_region_and_a_long_step(
    monkeypatch, profile
):
    """``registered-regions-give-descent`` holds on the fast profile's cases; gd's region
    widened to lr L < 6 in theory's table falsifies it, and so does the trainer taking gd steps
    eight times as long as the region was asked about (the update claims catch any length
    exactly; this one only where the longer step leaves the true region)."""
    from descentcheck.theory import descent

    claim = BY_ID["registered-regions-give-descent"]
    profile = replace(profile, examples=120)  # 30 cases, about half of them gd's
    assert run_claim(claim, profile)["outcome"] == "held"
    wide = replace(descent.REGIONS["gd"], guaranteed=lambda lr, L: 0.0 < lr * L < 6.0)
    with monkeypatch.context() as m:
        m.setitem(descent.REGIONS, "gd", wide)
        _falsified_and_certified(run_claim(claim, profile))
    _mutant(monkeypatch, "gd", lambda real: lambda lr: real(8.0 * lr))
    _falsified_and_certified(run_claim(claim, profile))


def test_the_registered_regions_claim_judges_only_steps_inside_the_region(monkeypatch, profile):
    """Its verdict rests on the gate: with every step judged (``judged`` ignored), steps that
    leave the region for their L_k rise, and the claim is falsified on the built-ins."""
    from descentcheck.properties import steps
    from descentcheck.properties.claims import registered_regions

    real = steps.judge_decreases

    def ungated(case, losses, history, certify=True, judged=None):
        return real(case, losses, history, certify, None)

    monkeypatch.setattr(registered_regions, "judge_decreases", ungated)
    entry = run_claim(BY_ID["registered-regions-give-descent"], replace(profile, examples=400))
    _falsified_and_certified(entry)


def test_apriori_on_quadratics_catches_a_step_twice_too_long(monkeypatch, profile):
    """The quadratic claims hold with no safety factor (L_0 is the global L there); a GD step
    twice as long (up to 3.9 / L) and a reversed tripled adaptive momentum term rise."""
    gd = BY_ID["apriori-gd-c1-on-quadratics-decreases-every-step"]
    assert run_claim(gd, profile)["outcome"] == "held"
    _mutant(monkeypatch, "gd", lambda real: lambda lr: real(2.0 * lr))
    _falsified_and_certified(run_claim(gd, profile))


def test_apriori_adaptive_on_quadratics_catches_a_reversed_tripled_term(monkeypatch, profile):
    _plant_reversed_tripled_adaptive(monkeypatch)
    claim = BY_ID["apriori-adaptive-momentum-c1-on-quadratics-decreases-every-step"]
    _falsified_and_certified(run_claim(claim, profile))


def test_apriori_heavy_ball_catches_a_momentum_that_ignores_beta(monkeypatch, profile):
    """The buffer's coefficient fixed at 0.97 whatever beta was asked for. The ledger's heavy-ball
    claim is must-fail (and replays a recorded gradient-collapse case); its fresh draws alone
    are what the mutant must fail on."""
    _mutant(monkeypatch, "momentum", lambda real: lambda lr, beta: real(lr, 0.97))
    entry = run_claim(apriori_claim("momentum", 2.0, "holds", "test"), profile)
    _falsified_and_certified(entry)


def test_apriori_adaptive_catches_a_reversed_tripled_momentum_term(monkeypatch, profile):
    """The ledger's c = 4 claim is must-fail (a recorded case rises); its fresh draws, built
    alone as a claim expected to hold, are what the mutant must fail on."""
    _plant_reversed_tripled_adaptive(monkeypatch)
    claim = apriori_claim("adaptive_momentum", 4.0, "holds", "test")
    _falsified_and_certified(run_claim(claim, profile))


def test_apriori_nesterov_fails_with_a_safety_factor_below_one(profile):
    """A bad hyperparameter: L = L_0 / 4, so the effective lr reaches 4 * 2 / L_0."""
    claim = apriori_claim("nesterov", 0.25, "holds", "test")
    _falsified_and_certified(run_claim(claim, profile))


def test_the_skip_claims_can_hold(profile):
    """Their expected failure is not built in: with a learning rate far inside the sequential
    net's region (a = 0.05) the skip net descends too, and the claim holds."""
    for claim in (skip.GD_ADD, skip.ADAPTIVE_CONCAT):
        small = replace(
            claim,
            strategy=lambda p, c=claim: c.strategy(p).map(lambda d: {**d, "a": 0.05}),
            falsify_budget=False,
        )
        entry = run_claim(small, replace(profile, examples=12))
        assert entry["outcome"] == "held", (claim.id, entry["message"])
        assert entry["measured"]["steps_certified"] >= 12


def test_verify_errors_on_an_uncertified_increase(profile):
    """A falsifying loss record without a certified increase makes the claim an error."""
    ce = {"loss_before": 1.0, "loss_after": 1.0 + 1e-15, "certified_increase": False}
    fake = Claim(
        id="fake",
        statement="s",
        source="s",
        conditions=("c",),
        expect="fails",
        strategy=lambda p: st.integers(0, 3),
        check=lambda drawn, ctx: Verdict(False, counterexample=ce, message="rose"),
    )
    entry = run_claim(fake, profile)
    assert entry["outcome"] == "error"
    assert "not certified" in entry["message"] and "certify_increase" in entry["message"]
    assert not entry["meets_expectation"]


@pytest.mark.parametrize(
    ("where", "old", "new"),
    [
        # the near pairs' cotangents left in the expanded sums too: their terms counted twice
        ("_backward_matmul", "gz[pairs] = 0.0", "gz[pairs] = gz[pairs]"),
        # their direct terms never added to the centroids' and radii's sums
        ("_backward_matmul", "iadd(gd[units], near.gd)", "gd[units]"),
        ("_backward_matmul", "iadd(gsq[units], nsq)", "gsq[units]"),
        # nor subtracted from the input's
        ("_less_near", "isub(gx[rows], near.gx)", "gx[rows]"),
        # a unit's near pairs: only the last one's terms kept (the claim's few pairs a unit
        # take numpy's add.at; the rounds' line is tests/test_ops.py's)
        ("_in_order", "np.add.at(out.reshape(-1), flat, v.reshape(-1))", "out.flat[flat] = v"),
        # the squared terms without their second factor d
        ("_near_sums", "xp.concatenate([t, t * d], axis=1)", "xp.concatenate([t, t], axis=1)"),
    ],
)
def test_the_matmul_accuracy_claim_catches_a_wrong_near_pair_sum(
    monkeypatch, profile, where, old, new
):
    """The backward's pair-wise hand-back: the far pairs expanded (gz zeroed at the near ones),
    the near pairs' direct terms added by unit and by sample."""
    from descentcheck.impl.ops import gaussian

    owner = gaussian.Gaussian if where == "_backward_matmul" else gaussian
    plant(monkeypatch, owner, where, (old, new))
    entry = run_claim(BY_ID["distance-layer-matmul-accurate"], profile)
    assert not entry["meets_expectation"], entry


def test_the_loss_scaling_claim_catches_a_hand_back_that_reads_the_cotangents_size(
    monkeypatch, profile
):
    """The full mutation run's survivor, in today's code: the near pairs' direct terms taken
    from the input's gradient only where its rows are large (|gz| read for its size, as the
    old hand-back's ``> 1`` for ``> 0`` did), so the choice changes with the cotangent's scale
    and a scaled loss gradient no longer scales every entry exactly."""
    from descentcheck.impl.ops import gaussian

    plant(
        monkeypatch,
        gaussian,
        "_less_near",
        ("if near is not None:", "if near is not None and abs(gx).max() > 1.0:"),
    )
    entry = run_claim(BY_ID["backprop-exact-under-loss-scaling"], profile)
    assert entry["outcome"] == "falsified", entry
    assert entry["message"].startswith("with "), entry["message"]


def test_the_matmul_accuracy_claim_catches_a_pair_left_to_the_cancelling_sums(monkeypatch, profile):
    from descentcheck.impl.ops.gaussian import Gaussian

    plant(monkeypatch, Gaussian, "_z_matmul", ("if len(near):", "if False:"))
    entry = run_claim(BY_ID["distance-layer-matmul-accurate"], profile)
    assert entry["outcome"] == "falsified", entry
    assert entry["message"].startswith("z entry"), entry["message"]


@pytest.mark.parametrize("table", ["_TANH_P", "_TANH_Q"])
def test_the_activation_claim_catches_a_coefficient_of_the_large_array_tanh(
    monkeypatch, profile, table
):
    """The mutation run's survivor: one Cephes coefficient off by 1 (mutmut's number mutant),
    seen only by arrays of TANH_EXP_MIN_SIZE entries or more. Planted in numpy's chain, so the
    claim runs on it (numba's kernel, where installed, compiled the coefficients in; it gives
    the chain's bits: tests/test_fused.py)."""
    from descentcheck.impl.ops import activations, fused

    monkeypatch.setenv(fused.ENV, "numpy")
    monkeypatch.setattr(fused, "provider", lambda: "numpy")
    coefficients = getattr(activations, table)
    monkeypatch.setattr(activations, table, (*coefficients[:2], coefficients[2] + 1.0))
    entry = run_claim(BY_ID["activations-equal-formulas"], profile)
    assert entry["outcome"] == "falsified", entry
    assert "tanh" in entry["message"], entry["message"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("cls = _layer_class(plugin)", "cls = None"),  # the mutation run's survivor
        ("d = d * namespace(x).ones_like(x)", "d = d"),  # a constant f' left a scalar
    ],
)
def test_the_plugin_op_claim_catches_a_broken_plugin_layer(monkeypatch, profile, old, new):
    import inspect

    from descentcheck.impl.ops import plugin

    source = inspect.getsource(plugin)
    assert source.count(old) == 1
    namespace: dict = {"__name__": plugin.__name__, "__package__": plugin.__package__}
    exec(compile(source.replace(old, new), plugin.__file__, "exec"), namespace)
    monkeypatch.setattr(plugin, "make_plugin_activation", namespace["make_plugin_activation"])
    entry = run_claim(BY_ID["plugin-activation-equals-its-formula"], profile)
    assert not entry["meets_expectation"], entry


def test_the_init_radii_claim_catches_the_fallback_mutant(monkeypatch, profile):
    """The mutation run's survivor: the fallback scale 2/d for 2d (same at d = 1)."""
    from descentcheck.impl.ops.gaussian import Gaussian

    edit = ("max(float(np.mean(sqdist)), 2.0 * d)", "max(float(np.mean(sqdist)), 2.0 / d)")
    plant(monkeypatch, Gaussian, "init", edit)
    entry = run_claim(BY_ID["distance-init-radii-set-the-median"], profile)
    assert entry["outcome"] == "falsified", entry


def test_the_activation_claim_catches_relus_slope_at_zero(monkeypatch, profile):
    """The mutation run's survivor: relu's derivative (x >= 0) instead of (x > 0)."""
    from descentcheck.impl.ops import activations

    plant(monkeypatch, activations.Relu, "derivative", ("x.real > 0", "x.real >= 0"))
    entry = run_claim(BY_ID["activations-equal-formulas"], profile)
    assert entry["outcome"] == "falsified" and "relu" in entry["message"], entry


@pytest.mark.parametrize("cls", ["Identity", "Softplus"])
def test_the_activation_claim_catches_a_missing_function(monkeypatch, profile, cls):
    """The mutation run's survivors: identity's and softplus's fn = None (their layers' forward
    skips fn)."""
    from descentcheck.impl.ops import activations

    monkeypatch.setattr(getattr(activations, cls), "fn", None)
    entry = run_claim(BY_ID["activations-equal-formulas"], profile)
    assert not entry["meets_expectation"] and cls.lower() in entry["message"], entry


def test_the_defaults_claim_catches_a_drifted_factory_default(monkeypatch, profile):
    """The mutation run's survivor: RMSProp's momentum default 1.0 for 0.0."""
    rmsprop = importlib.import_module("descentcheck.impl.optim.rmsprop").rmsprop
    rho, eps, _ = rmsprop.__defaults__
    monkeypatch.setattr(rmsprop, "__defaults__", (rho, eps, 1.0))
    entry = run_claim(BY_ID["optimizer-factories-default-as-declared"], profile)
    assert entry["outcome"] == "falsified" and "momentum defaults to 1.0" in entry["message"]


def test_the_dict_form_claim_catches_a_coefficient_reported_for_no_parameters(monkeypatch, profile):
    """The mutation run's survivor: adaptive momentum's dict form reporting 1.0, not 0.0, as the
    coefficient of a network without parameters (the flat form reports 0.0)."""
    module = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")
    plant(monkeypatch, module, "adaptive_momentum", ("if alpha else 0.0", "if alpha else 1.0"))
    # the registry builds optimizers from the package's attribute
    package = importlib.import_module("descentcheck.impl.optim")
    monkeypatch.setattr(package, "adaptive_momentum", module.adaptive_momentum)
    entry = run_claim(BY_ID["optimizer-dict-form-equals-flat-form"], profile)
    assert entry["outcome"] == "falsified" and "coefficient" in entry["message"], entry


def test_the_matmul_claim_catches_a_wrong_mixed_real_complex_difference(monkeypatch, profile):
    """The mutation run's survivor: isub's fallback (a real out, a complex other: the matmul
    path's near-pair hand-back under the complex step) adding instead of subtracting."""
    base = importlib.import_module("descentcheck.impl.ops.base")
    gaussian = importlib.import_module("descentcheck.impl.ops.gaussian")
    bad = mutated(base.isub, [("    return out - other", "    return out + other")])
    monkeypatch.setattr(gaussian, "isub", bad)
    entry = run_claim(BY_ID["distance-layer-matmul-equals-direct"], profile)
    assert entry["outcome"] == "falsified" and "w + i h u" in entry["message"], entry


def test_the_init_claim_catches_a_fan_in_glorot_bound(monkeypatch, profile):
    """A held-out reviewer's bug: the Glorot bound sqrt(6 / fan_in)."""
    from descentcheck.impl.ops.dense import Dense

    plant(
        monkeypatch, Dense, "init", ("np.sqrt(6.0 / (fan_in + fan_out))", "np.sqrt(6.0 / fan_in)")
    )
    entry = run_claim(BY_ID["dense-init-glorot-uniform"], profile)
    assert entry["outcome"] == "falsified", entry


def test_the_data_claim_catches_the_sample_standard_deviation(monkeypatch, profile):
    """A held-out reviewer's bug: standardisation with ddof = 1."""
    data = importlib.import_module("descentcheck.impl.data")
    plant(monkeypatch, data, "standardize", ("centred.std(axis=0)", "centred.std(axis=0, ddof=1)"))
    entry = run_claim(BY_ID["builtin-data-standardised"], profile)
    assert entry["outcome"] == "falsified", entry


def test_the_update_claim_catches_a_state_wrong_only_from_the_third_step(monkeypatch, profile):
    """A held-out reviewer's bug: adaptive momentum remembers -lr g_k as dw_k (not the whole
    step), which shows only when the remembered step is read again, from the third step."""
    module = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")
    old = (
        "        prev += xp.multiply(g, -lr, out=g)\n"
        "        return prev, prev, max(alpha.tolist(), default=0.0)\n"
    )
    new = (
        "        xp.multiply(g, -lr, out=g)\n"
        "        step = prev + g\n"
        "        prev[...] = g\n"
        "        return step, prev, max(alpha.tolist(), default=0.0)\n"
    )
    plant(monkeypatch, module, "_flat_form", (old, new))  # the factory's flat form reads it
    entry = run_claim(BY_ID["update-equals-derived-rule"], profile)
    assert entry["outcome"] == "falsified", entry


@pytest.mark.parametrize(
    ("owner", "name", "old", "new"),
    [
        # hyperparameters of the wrong type (text float() reads, a boolean) taken as numbers
        ("descentcheck.registry.optimizers", "check_number", "bool) or not", "bool) and not"),
        # integer targets of a one-output mse net read as labels
        ("Network", "check_targets", "(m > 1 or", "(m >= 1 or"),
        # fractional targets of shape (n,) read as labels where rows are due
        ("Network", "check_targets", '"iub" and (m > 1', '"iub" or (m > 1'),
    ],
)
def test_the_refusal_claim_catches_the_mutation_runs_input_survivors(
    monkeypatch, profile, owner, name, old, new
):
    from descentcheck.impl.network import Network

    target = Network if owner == "Network" else importlib.import_module(owner)
    plant(monkeypatch, target, name, (old, new))
    if name == "check_number":  # imported by name: every module that holds it gets the mutant
        for module in list(sys.modules.values()):
            if getattr(module, "check_number", None) is not None and module is not target:
                if module.__name__.startswith("descentcheck"):
                    monkeypatch.setattr(module, "check_number", target.check_number)
    entry = run_claim(BY_ID["trainer-refuses-bad-input"], profile)
    assert entry["outcome"] == "falsified", entry


@pytest.mark.parametrize(
    ("where", "name", "old", "new", "claim"),
    [
        # a distance layer initialised without data
        (
            "Gaussian",
            "init",
            "med = np.full(units, 2.0 * d)",
            "med = None",
            "distance-init-radii-set-the-median",
        ),
        # the data-driven radii's fallback threshold: at it, doubled, and 1e-8 / d for 1e-8 d
        # (the full mutation run's open survivors: no drawn median came near it)
        *(
            (
                "Gaussian",
                "init",
                "med > 1e-8 * d, med",
                f"{bad}, med",
                "distance-init-radii-set-the-median",
            )
            for bad in ("med >= 1e-8 * d", "med > 2e-8 * d", "med > 1e-8 / d")
        ),
        # the matmul backward's mixed-kind branch adding t (a real cotangent on a complex input:
        # the full mutation run's open survivor, reached by the layer-level check only)
        (
            "Gaussian",
            "_sums_matmul",
            "else G1 - t",
            "else G1 + t",
            "distance-layer-matmul-equals-direct",
        ),
        # full-run survivors: a one-sided draw U(a, a), and init's default seed 1
        ("Dense", "init", "rng.uniform(-a, a,", "rng.uniform(+a, a,", "dense-init-glorot-uniform"),
        ("Network", "init", "seed: int = 0", "seed: int = 1", "dense-init-glorot-uniform"),
        # the Glorot bound of sqrt(7 / (in + out))
        (
            "Dense",
            "init",
            "np.sqrt(6.0 / (fan_in + fan_out))",
            "np.sqrt(7.0 / (fan_in + fan_out))",
            "dense-init-glorot-uniform",
        ),
        # backprop stopping at a layer's first input that is the network input
        (
            "Network",
            "loss_and_grad",
            "if s == 0:\n                continue",  # the method's source, dedented by 4
            "if s == 0:\n                break",
            "gradient-equals-oracle",
        ),
        # a node's owned gradient sum subtracting its third and later contributions
        ("Network", "loss_and_grad", "acc += gx", "acc -= gx", "gradient-equals-oracle"),
        # dE/dr from |r| (init's radii are all positive: passed before radii were negated)
        (
            "Gaussian",
            "_backward_direct",
            "gr = xp.multiply(-r, ",
            "gr = xp.multiply(-abs(r), ",
            "gradient-equals-oracle",
        ),
        # the backward's r^2 clamped at 1e6 (radii over 1e3 came only from tight data)
        (
            "Gaussian",
            "_backward_direct",
            "r2 = self._r2(r)",
            "r2 = np.minimum(self._r2(r), 1e6)",
            "gradient-equals-oracle",
        ),
    ],
)
def test_the_claims_catch_the_mutation_runs_other_survivors(
    monkeypatch, profile, where, name, old, new, claim
):
    from descentcheck.impl.network import Network
    from descentcheck.impl.ops.dense import Dense
    from descentcheck.impl.ops.gaussian import Gaussian

    owner = {"Gaussian": Gaussian, "Dense": Dense, "Network": Network}[where]
    plant(monkeypatch, owner, name, (old, new))
    entry = run_claim(BY_ID[claim], profile)
    assert not entry["meets_expectation"], entry


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # a 0-d array's unit index set to None
        ("unit = np.zeros(size, dtype=np.intp)", "unit = None"),
        # an array with an empty first axis taken as one with units (0 // 0)
        ("elif len(shape) >= 1 and shape[0] > 0:", "elif len(shape) >= 1 and shape[0] >= 0:"),
    ],
)
def test_the_drawn_state_claim_catches_a_lost_scalar_unit(monkeypatch, profile, old, new):
    """The "unit" grouping of a 0-d or empty parameter array (no op has one; the dict API takes
    any): two survivors of the mutation runs."""
    module = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")
    plant(monkeypatch, module, "unit_index", (old, new))
    entry = run_claim(BY_ID["adaptive-update-from-drawn-state-equals-rule"], profile)
    assert not entry["meets_expectation"], entry


def test_the_drawn_state_claim_catches_an_empty_array_summed(monkeypatch, profile):
    """An empty parameter array taken as non-empty by the per-array sums (``reduceat`` then
    reads past the end): the mutation run's survivor, unreachable from a network."""
    module = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")
    plant(monkeypatch, module, "sumsq_per_array", ("nonempty = sizes > 0", "nonempty = sizes >= 0"))
    entry = run_claim(BY_ID["adaptive-update-from-drawn-state-equals-rule"], profile)
    assert not entry["meets_expectation"], entry


@pytest.mark.parametrize("new", ["(m > 2 or self", "(m > 1 and self"])
def test_the_loss_claim_catches_mse_labels_read_as_values(monkeypatch, profile, new):
    """Integer labels for an mse net with two outputs read as values, not one-hot rows (two
    survivors of the full mutation run: no claim gave an mse net with out > 1 labels)."""
    from descentcheck.impl.network import Network

    plant(monkeypatch, Network, "check_targets", ("(m > 1 or self", new))
    entry = run_claim(BY_ID["backprop-returns-the-loss"], profile)
    assert entry["outcome"] == "falsified", entry


FACTORIES = "optimizer-factories-default-as-declared"


@pytest.mark.parametrize(
    ("module", "function", "old", "new", "claim", "says"),
    [
        # a factory's own range check naming its setting wrongly (the claim checked that the
        # factory refuses, not what it says)
        ("optim.rmsprop", "rmsprop", '"eps", eps', '"XXepsXX", eps', FACTORIES, "XX"),
        (
            "optim.adaptive_momentum",
            "adaptive_momentum",
            '"tau", tau',
            '"XXtauXX", tau',
            FACTORIES,
            "XX",
        ),
        # the flat form's reduceat shortcut taken with an empty parameter among the arrays (no
        # claim ran the flat form over an empty array)
        (
            "optim.adaptive_momentum",
            "_flat_form",
            "len(starts) and sizes.all()",
            "len(starts) or sizes.all()",
            "adaptive-update-from-drawn-state-equals-rule",
            "flat form",
        ),
        # adaptive momentum's coefficient underflowing to 0 taken as it is: a gradient of
        # 2^-1000 under a previous step of 2^500 lost its momentum term (found by the
        # drawn-state claim once it drew scales)
        (
            "optim.adaptive_momentum",
            "_factors",
            "over = np.isinf(alpha) | (np.abs(alpha) < _NORMAL)",
            "over = np.isinf(alpha)",
            "adaptive-update-from-drawn-state-equals-rule",
            "vs rule",
        ),
        # tau = 1.0 taken for tau = 0.0 in that guard (the second adaptive_momentum.py run's
        # survivor: the claim drew tau from st.floats, which never gave the range's end 1.0)
        (
            "optim.adaptive_momentum",
            "_factors",
            "if tau == 0.0 or not over.any():",
            "if tau == 1.0 or not over.any():",
            "adaptive-update-from-drawn-state-equals-rule",
            "vs rule",
        ),
        # the scale rescue's mask inverted (the adaptive run's survivor, alive in the ledger
        # until the drawn-state claim drew scales): groups out of range keep their raw sums
        (
            "optim.adaptive_momentum",
            "_rescued",
            "bad = ~((g2 >= _LOW)",
            "bad = ((g2 >= _LOW)",
            "adaptive-update-from-drawn-state-equals-rule",
            "vs rule",
        ),
        # log-softmax shifted by +z_k instead of -z_k: no longer the same function once the
        # row's largest term is the 1 that log1p adds
        (
            "losses",
            "_log_softmax_parts",
            "logp = z - z[rows, k][:, None]",
            "logp = z + z[rows, k][:, None]",
            "softmax-cross-entropy-shift-invariant",
            "shift",
        ),
        # the SIMD tanh form (numpy's tanh beside exp(-2|x|)), checked on every machine whichever
        # form the layer takes: its exp a number off (the slope) and its tanh another function
        (
            "ops.activations",
            "_tanh_simd",
            "e *= -2.0",
            "e *= -3.0",
            "activations-equal-formulas",
            "slope",
        ),
        (
            "ops.activations",
            "_tanh_simd",
            "return np.tanh(x)",
            "return np.sinh(x)",
            "activations-equal-formulas",
            "tanh (",
        ),
        # exp(-|x|)'s continuation with its sign mask None: sigmoid and softplus take exp(x)
        # on both sides, the same functions until Re x passes exp's range
        (
            "ops.activations",
            "_exp_neg_abs",
            "pos = x.real >= 0",
            "pos = None",
            "activations-equal-formulas",
            "750",
        ),
        # large-array tanh from exp(+2|x|): the same magnitude (the sign comes from x) until
        # 2|x| passes exp's range
        (
            "ops.activations",
            "_tanh_real",
            "multiply(a, -2.0)",
            "multiply(a, +2.0)",
            "activations-equal-formulas",
            "750",
        ),
    ],
)
def test_the_claims_catch_the_full_runs_function_survivors(
    monkeypatch, profile, module, function, old, new, claim, says
):
    """Survivors of the full mutation run in module-level functions, planted as mutmut made
    them; ``says`` is what the claim's message must show (the case that exposes the bug). On
    numpy's chains: the mutation env has no numba, and where numba is installed its kernels
    replace some planted lines (tanh's large form failed to be caught in an env with it)."""
    from descentcheck.impl.ops import fused

    monkeypatch.setattr(fused, "provider", lambda: "numpy")
    owner = importlib.import_module(f"descentcheck.impl.{module}")
    original = getattr(owner, function)
    plant(monkeypatch, owner, function, (old, new))
    package = importlib.import_module("descentcheck.impl.optim")
    if getattr(package, function, None) is original:  # the registry resolves factories there
        monkeypatch.setattr(package, function, getattr(owner, function))
    entry = run_claim(BY_ID[claim], profile)
    assert entry["outcome"] == "falsified", entry
    assert says in entry["message"], entry["message"]


@pytest.mark.parametrize(
    ("function", "old", "new"),
    [
        # the plain form on confident rows: the losses' mutation run's survivor (``not``
        # dropped), alive in the ledger until this claim
        ("_log_softmax_parts", "if not bool(s.real.min()", "if bool(s.real.min()"),
        # log of the rounded 1 + r: eps / r of relative error on a confident row (the old form)
        ("_log_softmax_parts", "logp -= xp.log1p(r)", "logp -= xp.log(1.0 + r)"),
        # the gradient at the largest logit left as S p_k - y_k, which cancels where p_k ~ 1
        ("value_and_grad", "if confident is not None:", "if False:"),
    ],
)
def test_the_digits_claim_catches_confident_rows_losing_theirs(
    monkeypatch, profile, function, old, new
):
    """Each of the confident rows' three accurate steps undone: the value or a gradient entry
    falls out of its conditioning bound, which no other claim reads to that accuracy."""
    from descentcheck.impl import losses

    owner = losses.SoftmaxCrossEntropy if function == "value_and_grad" else losses
    plant(monkeypatch, owner, function, (old, new))
    entry = run_claim(BY_ID["softmax-cross-entropy-keeps-its-digits"], profile)
    assert entry["outcome"] == "falsified", entry
    assert "x its bound" in entry["message"], entry["message"]


def test_the_matmul_claim_catches_the_mixed_kind_product(monkeypatch, profile):
    """imul's fallback for a real array times a complex one dividing instead (a survivor of the
    full mutation run: only a distance layer's backward at a complex input with a real
    cotangent, which the claim's layer-level check now makes, mixes the kinds that way)."""
    from descentcheck.impl.ops import base, gaussian

    bad = mutated(base.imul, [("    return out * other", "    return out / other")])
    monkeypatch.setattr(gaussian, "imul", bad)  # imported by name there
    entry = run_claim(BY_ID["distance-layer-matmul-equals-direct"], profile)
    assert entry["outcome"] == "falsified", entry


def test_the_loss_claim_catches_labels_left_unconverted(monkeypatch, profile):
    """loss_and_grad turning the targets into one-hot rows only when they already have the
    outputs' shape (the full mutation run's survivor: no claim passed labels)."""
    from descentcheck.impl.network import Network

    old, new = "if y.shape != yhat.shape:", "if y.shape == yhat.shape:"
    plant(monkeypatch, Network, "loss_and_grad", (old, new))
    entry = run_claim(BY_ID["backprop-returns-the-loss"], profile)
    assert entry["outcome"] == "falsified", entry
    assert entry["message"].startswith("targets ("), entry["message"]


def test_the_activation_claim_catches_a_large_complex_tanh_on_the_real_path(monkeypatch, profile):
    """tanh's complex test inverted: a complex array past the large-array size would take the
    real-only exp(-2|x|) form (the full mutation run's survivor: the complex step ran on small
    arrays only)."""
    act = importlib.import_module("descentcheck.impl.ops.activations")
    # numpy's SIMD tanh takes complex x too, so the mutant does harm only beside the real-only form
    monkeypatch.setattr(act, "NUMPY_TANH_IS_SIMD", False)
    broken = mutated(act.tanh, [('x.dtype.kind == "c"', 'x.dtype.kind == "XXcXX"')])
    monkeypatch.setattr(act, "tanh", broken)
    monkeypatch.setattr(act, "_TANH", broken)  # as mutating the module's tanh in place would
    monkeypatch.setattr(act.Tanh, "fn", staticmethod(broken))
    entry = run_claim(BY_ID["activations-equal-formulas"], profile)
    assert not entry["meets_expectation"], entry


def test_the_drawn_state_claim_catches_wrong_sums_beside_an_empty_array(monkeypatch, profile):
    """With an empty array among them, the other arrays' sums off by one: the full mutation run's
    survivor (there set to None, NaN), reached now that each case steps an empty parameter
    too. Sums that are NaN, 0 or inf no longer matter: the coefficient of such a group is
    recomputed from scaled norms (``_rescued``), so the mutant plants a finite wrong sum (not a
    scaled one, which the ratio of two sums would cancel)."""
    module = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")
    old = "out[nonempty] = np.add.reduceat(sq, starts[nonempty])"
    new = "out[nonempty] = np.add.reduceat(sq, starts[nonempty]) + 1.0"
    plant(monkeypatch, module, "sumsq_per_array", (old, new))
    entry = run_claim(BY_ID["adaptive-update-from-drawn-state-equals-rule"], profile)
    assert not entry["meets_expectation"], entry


def test_the_refusal_claim_catches_a_wrong_row_in_the_nan_message(monkeypatch, profile):
    """The NaN-in-inputs message naming the column as the row (the full mutation run's
    survivor: the refusal claim checked the error class and its one line, not its row)."""
    from descentcheck.impl.network import Network

    old = "row = int(np.argwhere(bad)[0][0])"
    plant(monkeypatch, Network, "check_inputs", (old, old.replace("[0][0]", "[0][1]")))
    entry = run_claim(BY_ID["trainer-refuses-bad-input"], profile)
    assert entry["outcome"] == "falsified", entry
    assert "names the wrong row" in entry["message"]


def test_the_dict_form_claim_catches_apply_updates_subtracting(monkeypatch, profile):
    """apply_updates computing w - dw (the full mutation run's survivor: no claim applied a
    dict-form step through the public helper)."""
    base = importlib.import_module("descentcheck.impl.optim.base")
    broken = mutated(base.apply_updates, [("params[k] + updates[k]", "params[k] - updates[k]")])
    # imported by name: the claim module holds the mutant as a mutated file would give it
    monkeypatch.setattr("descentcheck.properties.claims.dict_form.apply_updates", broken)
    entry = run_claim(BY_ID["optimizer-dict-form-equals-flat-form"], profile)
    assert entry["outcome"] == "falsified", entry


def test_the_activation_claim_catches_tanhs_layer_sending_complex_arrays_to_the_real_form(
    monkeypatch, profile
):
    """Tanh's forward with its complex test inverted (the full mutation run's survivor: the
    complex step ran on small arrays only)."""
    act = importlib.import_module("descentcheck.impl.ops.activations")
    monkeypatch.setattr(act, "NUMPY_TANH_IS_SIMD", False)  # as in the test above
    old = 'fn is not _TANH or x.dtype.kind == "c"'
    plant(monkeypatch, act.Tanh, "forward", (old, old.replace("==", "!=")))
    entry = run_claim(BY_ID["activations-equal-formulas"], profile)
    assert not entry["meets_expectation"], entry


@pytest.mark.parametrize(
    ("module", "name", "old", "new"),
    [
        ("adaptive_momentum", "adaptive_momentum", "lr, low_open=True)", "lr, low_open=False)"),
        ("momentum", "nesterov", "lr, low_open=True)", "lr, low_open=False)"),
        ("rmsprop", "rmsprop", "momentum, high=1.0, high_open=True)", "momentum, high=1.0)"),
    ],
)
def test_the_defaults_claim_catches_a_factorys_own_range_loosened(
    monkeypatch, profile, module, name, old, new
):
    """Three survivors of the full mutation run: a built-in factory's own range check
    loosened, which the registry's check (first on every path) hid from every claim."""
    source = importlib.import_module(f"descentcheck.impl.optim.{module}")
    # the registry resolves factories from the package's attributes
    monkeypatch.setattr(
        f"descentcheck.impl.optim.{name}", mutated(getattr(source, name), [(old, new)])
    )
    entry = run_claim(BY_ID["optimizer-factories-default-as-declared"], profile)
    assert entry["outcome"] == "falsified", entry
    assert "on its own" in entry["message"]


def test_the_activation_claim_catches_an_activation_without_its_layer_class(monkeypatch, profile):
    """relu's entry renamed in ACTIVATIONS (the full mutation run's survivor: the claim skipped
    a formula whose layer class it could not find, and the DAGs draw smooth activations only)."""
    claim_module = importlib.import_module("descentcheck.properties.claims.activations")
    renamed = {("XXreluXX" if k == "relu" else k): v for k, v in claim_module.ACTIVATIONS.items()}
    monkeypatch.setattr(claim_module, "ACTIVATIONS", renamed)  # the same dict as impl's
    entry = run_claim(BY_ID["activations-equal-formulas"], profile)
    assert entry["outcome"] == "falsified", entry


def test_the_init_radii_claim_catches_centroids_lost_without_data(monkeypatch, profile):
    """The no-data initialisation's centroids set to None (the full mutation run's survivor:
    the claim read only the radii there)."""
    from descentcheck.impl.ops.gaussian import Gaussian

    old = "c = rng.standard_normal((units, d))"
    plant(monkeypatch, Gaussian, "init", (old, "c = None"))
    entry = run_claim(BY_ID["distance-init-radii-set-the-median"], profile)
    assert entry["outcome"] == "falsified", entry


@pytest.mark.parametrize(
    "mutant",
    [
        # relu'(0) = 1 (Re x >= 0): the complex step says 0 at a kink
        "slope_one_at_the_kink",
        # relu written into its input array: a merge's value read by another node is changed
        "in_place",
    ],
)
def test_the_relu_claim_catches_what_no_other_claim_draws(monkeypatch, profile, mutant):
    """Both mutants live in relu's rules, which the smooth DAGs of gradient-equals-oracle never
    reach (shown here too): only gradient-equals-oracle-through-relu draws relu in a network."""
    from descentcheck.impl.ops.activations import Relu

    if mutant == "slope_one_at_the_kink":
        monkeypatch.setattr(Relu, "derivative", lambda self, x: (x.real >= 0).astype(np.float64))
    else:

        def forward(self, params, xs):
            x = xs[0]
            x[~(x.real > 0)] = 0.0  # real and complex alike: the oracle runs it too
            return x, x

        monkeypatch.setattr(Relu, "forward", forward)
    # the in-place relu needs a relu on a value another node reads, and not every such case
    # shows it: once radii were negated and data pulled tight too (the draws moved), 150 fast
    # examples (14 such cases) no longer found it; 400 do
    entry = run_claim(BY_ID["gradient-equals-oracle-through-relu"], replace(profile, examples=400))
    assert entry["outcome"] == "falsified", entry
    assert "differs from the oracle" in entry["message"]
    smooth = run_claim(BY_ID["gradient-equals-oracle"], profile)
    assert smooth["outcome"] == "held" and smooth["measured"]["parameters_checked"] > 0


def test_the_distance_claim_catches_an_rmsprop_that_is_momentum(monkeypatch, profile):
    """The distance-nets claim with its learning-rate grid and 80 fresh seeds: an "RMSProp" that
    is heavy ball (beta 0.9) wins none of the pairs against momentum."""
    from descentcheck.properties.claims import distance

    monkeypatch.setitem(distance.OPTIMIZERS, "rmsprop", {"optimizer": "momentum", "momentum": 0.9})
    entry = run_claim(BY_ID["distance-nets-rmsprop-beats-sgd-and-momentum"], profile)
    assert entry["outcome"] == "falsified", entry["measured"]


@pytest.mark.parametrize(
    "claim",
    [
        "trainer-obeys-descent-lemma-gd",
        "trainer-obeys-descent-lemma-adaptive-momentum",
        "registered-regions-give-descent",
    ],
)
def test_the_descent_claims_see_a_wrong_gradient(monkeypatch, profile, claim):
    """A ledger audit flipped the sign of the distance layer's radius gradient: every descent
    claim held, since each step's L_k took its slope from that gradient and so placed every
    rising step outside its region. With the slope from the forward pass (properties.curvature)
    they are falsified."""
    from descentcheck.impl.ops.gaussian import Gaussian

    plant(
        monkeypatch, Gaussian, "_backward_direct", ("gr = xp.multiply(-r, ", "gr = xp.multiply(r, ")
    )
    entry = run_claim(BY_ID[claim], profile)
    assert entry["outcome"] == "falsified", entry["message"]
