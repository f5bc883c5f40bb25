"""The mutation score (issue 12 item 7): the committed results file, its report section, and
the filter that decides which mutants the run tries."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from descentcheck.reports.mutants_section import (
    COUNT_KEYS,
    MUTANTS_FILE,
    MutantsFileError,
    load_mutants,
    mutants_section,
    score,
    validate,
)

sys.path.insert(0, str(Path(__file__).resolve().parent / "mutation"))

from filters import filter_reason, sampled


@pytest.fixture(scope="module")
def results() -> dict:
    return load_mutants()


def test_the_results_name_the_commit_and_a_reproducible_sample(results: dict) -> None:
    assert len(results["commit"]) == 40 and int(results["commit"], 16) >= 0
    assert 0 < float(results["sample"]["rate"]) <= 1 and isinstance(results["sample"]["seed"], int)
    assert results["counts"]["tried"] > 0


def test_every_survivor_is_triaged_with_a_reason(results: dict) -> None:
    survivors = [m for m in results["mutants"] if m["status"] == "survived"]
    for m in survivors:
        t = m["triage"]
        assert t["kind"] in ("equivalent", "gap"), m["id"]
        assert len(t["reason"].split()) >= 5, f"{m['id']}: a reason says why"
        if t["kind"] == "gap" and t.get("claim"):
            assert t.get("rerun", "").startswith("killed by"), f"{m['id']}: rerun on the mutant"


def test_removed_code_is_gone(results: dict) -> None:
    """A gap closed by removing dead code: the mutated line is no longer in its file."""
    root = Path(__file__).resolve().parent.parent
    for m in results["mutants"]:
        if (m.get("triage") or {}).get("removed"):
            assert m["original"].strip() not in (root / m["file"]).read_text("utf-8"), m["id"]


def test_gap_claims_are_in_the_ledger(results: dict) -> None:
    from descentcheck.properties import BY_ID

    for m in results["mutants"]:
        claim = (m.get("triage") or {}).get("claim")
        if claim:
            assert claim in BY_ID, f"{m['id']}: claim {claim} is not registered"


def test_the_counts_add_up(results: dict) -> None:
    c = results["counts"]
    assert c["generated"] == c["filtered"] + c["not_sampled"] + c["tried"]
    assert c["tried"] == c["killed"] + c["timeout"] + c["survived"]
    assert c["survived"] == c["equivalent"] + c["gap"]
    assert 0.0 <= score(c) <= 1.0


def test_the_section_renders_the_score_and_every_survivor(results: dict) -> None:
    from descentcheck.reports.html import render_html
    from descentcheck.reports.markdown import render_markdown

    sec = mutants_section()
    md = render_markdown("T", [], [sec])
    page = render_html("T", [], [sec])
    assert "Mutation score" in md and 'id="mutants"' in page
    assert f"{results['counts']['tried']}" in md
    for m in results["mutants"]:
        if m["status"] == "survived":
            assert f"{m['file']}:{m['line']}" in md
    # a gap closed by removing its code says so in its row (a held-out reader saw 29 "gap"
    # rows beside a callout counting 2 open gaps, the 27 removals shown nowhere)
    removed = [m for m in results["mutants"] if (m.get("triage") or {}).get("removed")]
    assert removed and all(f"Closed: {m['triage']['removed']}" in md for m in removed)


def _one_line_error(data: object) -> str:
    with pytest.raises(MutantsFileError) as e:
        validate(data)
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


def test_a_corrupt_results_file_is_refused_in_one_line(results: dict, tmp_path: Path) -> None:
    bad = tmp_path / "mutants.json"
    bad.write_text("{not json", "utf-8")
    with pytest.raises(MutantsFileError, match="unreadable") as e:
        load_mutants(bad)
    assert "\n" not in str(e.value)
    assert "not a descentcheck.mutants" in _one_line_error({"format": "other"})
    miscount = copy.deepcopy(results)
    miscount["counts"]["killed"] += 1
    assert "killed" in _one_line_error(miscount)
    missing = copy.deepcopy(results)
    del missing["counts"][COUNT_KEYS[0]]
    assert "counts" in _one_line_error(missing)
    untriaged = copy.deepcopy(results)
    untriaged["mutants"].append(
        {"file": "impl/x.py", "line": 1, "original": "a", "mutated": "b", "status": "survived"}
    )
    assert "not triaged" in _one_line_error(untriaged)
    no_reason = copy.deepcopy(untriaged)
    no_reason["mutants"][-1]["triage"] = {"kind": "equivalent", "reason": " "}
    assert "no triage reason" in _one_line_error(no_reason)


def test_the_committed_file_is_package_data() -> None:
    assert MUTANTS_FILE.name == "mutants.json" and MUTANTS_FILE.is_file()
    json.loads(MUTANTS_FILE.read_text("utf-8"))


SOURCE = '''from __future__ import annotations
Array = list


def f(x: Array, n: int) -> Array:
    """Doubles."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [2 * v for v in x]
'''


@pytest.mark.parametrize(
    ("old", "new", "filtered"),
    [
        ('"""Doubles."""', '"""XXDoubles.XX"""', True),
        ("got {n}", "XXgot {n}XX", True),
        ("n: int", "n: float", True),
        ("Array = list", "Array = None", True),
        ("2 * v", "3 * v", False),  # the arithmetic: tried
        ("n < 0", "n <= 0", False),  # the check: tried
        ("raise ValueError", "raise TypeError", False),  # what is raised: tried
    ],
)
def test_the_filter_skips_only_text_and_annotations(old: str, new: str, filtered: bool) -> None:
    mutated = SOURCE.replace(old, new)
    assert mutated != SOURCE
    assert (filter_reason(SOURCE, mutated) is not None) is filtered


def test_the_filter_skips_the_fused_kernels_which_the_ledger_never_runs() -> None:
    """The mutants env has no numba: a mutant there would be marked skipped, which the budgeted
    run refuses (its sample would not be whole), so those files are filtered, with their reason."""
    mutated = SOURCE.replace("2 * v", "3 * v")
    for name in ("impl/ops/fused.py", "impl/ops/fused_kernels.py"):
        assert "numba" in (filter_reason(SOURCE, mutated, name) or "")
    assert filter_reason(SOURCE, mutated, "impl/ops/activations.py") is None


def test_the_filter_skips_lines_marked_numba_only_and_nothing_beside_them() -> None:
    """A kernel's call in a layer or an optimizer (``# mutants: numba only``) is filtered; a
    mutant of an unmarked line, or one that also touches an unmarked line, is tried."""
    source = "def f(k, g, v):\n    if k is None:\n        return g * 2\n"
    source += "    k.step(g, v, -2.0)  # mutants: numba only\n    return g\n"
    marked = source.replace("-2.0)", "-3.0)")
    assert "numba" in (filter_reason(source, marked, "impl/optim/gd.py") or "")
    assert filter_reason(source, source.replace("g * 2", "g * 3"), "impl/optim/gd.py") is None
    both = marked.replace("g * 2", "g * 3")
    assert filter_reason(source, both, "impl/optim/gd.py") is None


def test_the_sample_is_seeded_and_nested() -> None:
    keys = [("impl/a.py", line, i) for line in range(200) for i in range(3)]
    small = {k for k in keys if sampled(*k, 0.06, 0)}
    large = {k for k in keys if sampled(*k, 0.1, 0)}
    assert small <= large and 0 < len(small) < len(large) < len(keys)
    assert small == {k for k in keys if sampled(*k, 0.06, 0)}
    assert small != {k for k in keys if sampled(*k, 0.06, 1)}


def test_the_budget_run_unmarks_the_cache_fills_skips(tmp_path: Path) -> None:
    """``mutmut run ID`` takes a cached status as final: a mutant the cache-filling run marked
    skipped would be reported skipped again, never run, unless budget.py marks it untested."""
    import sqlite3

    from budget import status, untested

    cache = tmp_path / ".mutmut-cache"
    with sqlite3.connect(cache) as db:
        db.execute("CREATE TABLE mutant (id INTEGER PRIMARY KEY, status TEXT)")
        db.executemany("INSERT INTO mutant VALUES (?, ?)", [(1, "skipped"), (2, "skipped")])
    untested(cache, 1)
    assert (status(cache, 1), status(cache, 2)) == ("untested", "skipped")


# ---- the claims added for the gaps the run found: each kills its mutant -------------------


@pytest.fixture()
def fast_profile(tmp_path):
    from dataclasses import replace

    from descentcheck.properties import get_profile

    return replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1, examples=10)


def _run(claim_id: str, profile) -> dict:
    from descentcheck.properties import BY_ID
    from descentcheck.properties.runner import run_claim

    return run_claim(BY_ID[claim_id], profile)


def test_the_refusal_claim_holds_on_the_trainer(fast_profile) -> None:
    entry = _run("trainer-refuses-bad-input", fast_profile)
    assert entry["outcome"] == "held", entry.get("message")


def _mutated(function, old: str, new: str):
    """``function`` compiled again from its source with ``old`` replaced by ``new``."""
    import inspect
    import textwrap

    src = textwrap.dedent(inspect.getsource(function))
    assert old in src, f"{old!r} not in {function.__qualname__}"
    module = inspect.getmodule(function)
    namespace: dict = {}
    exec(compile(src.replace(old, new), module.__file__, "exec"), vars(module), namespace)
    return namespace[function.__name__]


@pytest.mark.parametrize(
    ("where", "old", "new", "what"),
    [
        # network.py: the finite check on parameters dropped
        ("check_params", "if not np.isfinite(v).all():", "if False:", "NaN or inf entry"),
        # network.py: the finite check reads one array only (a held-out coverage audit's plant,
        # alive while the claim corrupted the first array alone)
        (
            "check_params",
            "if not np.isfinite(v).all():",
            "if not k.endswith('.b') and not np.isfinite(v).all():",
            "params: NaN or inf entry",
        ),
        # network.py: inputs checked for NaN but not inf (alive while the claim drew NaN alone;
        # an inf input trained and was reported as a diverged run)
        ("check_inputs", "bad = ~np.isfinite(x)", "bad = np.isnan(x)", "x: NaN or inf entry"),
        # network.py: the input-width check dropped (only ndim is checked)
        (
            "check_inputs",
            "x.ndim != 2 or x.shape[1] != self.spec.inputs",
            "x.ndim != 2",
            "one column too many",
        ),
        # network.py: an empty data set let through
        ("check_inputs", "if len(x) == 0:", "if len(x) < 0:", "no rows"),
        # trainer.py: the checks train makes itself, outside the optimizer registry (the claim
        # drew none of steps, seed or batch size before a held-out coverage audit)
        ("_batch_size", "if batch_size < 1:", "if batch_size < 0:", "batch size < 1"),
        ("train", "or steps < 0:", "or steps < -1:", "steps < 0"),
        ("train", "or seed < 0:", "or seed < -1:", "shuffle seed < 0"),
    ],
)
def test_the_refusal_claim_kills_range_check_mutants(
    monkeypatch, fast_profile, where: str, old: str, new: str, what: str
) -> None:
    from descentcheck.impl import network, trainer
    from descentcheck.properties.claims import refusals

    owner = network.Network if where.startswith("check_") else trainer
    mutant = _mutated(getattr(owner, where), old, new)
    monkeypatch.setattr(owner, where, mutant)
    if where == "train":  # the claim calls the name it imported
        monkeypatch.setattr(refusals, "train", mutant)
    entry = _run("trainer-refuses-bad-input", fast_profile)
    assert entry["outcome"] == "falsified"
    assert what in entry["message"]


def test_the_refusal_claim_kills_a_closed_momentum_bound(monkeypatch, fast_profile) -> None:
    """The run's survivor impl/optim/momentum.py:62 (nesterov's bound beta < 1 made beta <= 1),
    here in the one range check both layers call since the optimizer registry: the registry's
    range and the optimizer's own check."""
    import importlib

    from descentcheck.registry import optimizers

    momentum = importlib.import_module("descentcheck.impl.optim.momentum")  # not the function

    closed = _mutated(optimizers.check_number, "v >= high if high_open else ", "")
    monkeypatch.setattr(optimizers, "check_number", closed)
    monkeypatch.setattr(momentum, "check_number", closed)
    entry = _run("trainer-refuses-bad-input", fast_profile)
    assert entry["outcome"] == "falsified"
    assert "momentum 1: expected a one-line HyperparameterError, got no error" in entry["message"]


def test_the_drawn_state_claim_holds_on_the_trainer(fast_profile) -> None:
    entry = _run("adaptive-update-from-drawn-state-equals-rule", fast_profile)
    assert entry["outcome"] == "held", entry.get("message")


@pytest.mark.parametrize(
    ("function", "old", "new", "what"),
    [
        # the run's survivor adaptive_momentum.py:49: array grouping falls through to global
        ("group_of", 'if group == "array":', 'if group == "XXarrayXX":', "array"),
        # adaptive_momentum.py:52 (not in the sample): a node's group named by the array kind
        ("group_of", 'key.rsplit(".", 1)[0]', 'key.rsplit(".", 1)[1]', "node"),
    ],
)
def test_the_drawn_state_claim_kills_grouping_mutants(
    monkeypatch, fast_profile, function: str, old: str, new: str, what: str
) -> None:
    import importlib

    am = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")
    monkeypatch.setattr(am, function, _mutated(getattr(am, function), old, new))
    entry = _run("adaptive-update-from-drawn-state-equals-rule", fast_profile)
    assert entry["outcome"] == "falsified"
    assert entry["message"].startswith(what)


def test_the_drawn_state_claim_kills_a_rescue_threshold_at_the_subnormals(
    monkeypatch, fast_profile
) -> None:
    """Sums of squares rescued only below the smallest subnormal, i.e. never for underflow (a
    held-out coverage audit's plant; it held at fast while each case drew one scale regime, 7
    of the 12 reached)."""
    import importlib

    am = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")
    monkeypatch.setattr(am, "_LOW", 2.0**-1074)
    entry = _run("adaptive-update-from-drawn-state-equals-rule", fast_profile)
    assert entry["outcome"] == "falsified"
    assert "vs rule" in entry["message"]


def test_the_drawn_state_claim_kills_a_unit_sum_of_ones(monkeypatch, fast_profile) -> None:
    """The run's survivor adaptive_momentum.py:130: per-unit sums of v / v (a count of the
    nonzero entries) instead of v * v."""
    import importlib

    am = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")
    mutant = _mutated(am._Groups.entry_sums, "to_host(v * v)", "to_host(v / v)")
    monkeypatch.setattr(am._Groups, "entry_sums", mutant)
    entry = _run("adaptive-update-from-drawn-state-equals-rule", fast_profile)
    assert entry["outcome"] == "falsified"
    assert entry["message"].startswith("unit")


def test_the_permutation_claim_kills_an_add_that_weights_its_second_input_by_unit(
    monkeypatch, fast_profile
) -> None:
    """An add computing x_1 + s x_2 with s = (1, 2, ..., w) by unit, its backward consistent
    with it: a valid function, so gradient checks pass, but one that no longer commutes with
    permuting its inputs' units (the claim met no add reading the permuted layer at fast before
    a held-out coverage audit)."""
    import numpy as np

    from descentcheck.impl.ops import merges

    def forward(self, params, xs):
        y = xs[0] + xs[1] * np.arange(1.0, xs[1].shape[1] + 1)
        for x in xs[2:]:
            y = y + x
        return y, None

    def backward(self, params, cache, gy):
        s = np.arange(1.0, gy.shape[1] + 1)
        return [gy, gy * s, *[gy] * (len(self.inputs) - 2)], {}

    monkeypatch.setattr(merges.Add, "forward", forward)
    monkeypatch.setattr(merges.Add, "backward", backward)
    entry = _run("metamorphic-permute-units", fast_profile)
    assert entry["outcome"] == "falsified"
    assert "permuted units" in entry["message"]


def test_the_matmul_claim_holds_on_the_trainer(fast_profile) -> None:
    entry = _run("distance-layer-matmul-equals-direct", fast_profile)
    assert entry["outcome"] == "held", entry.get("message")
    assert entry["measured"]["cases_tested"] > 0


def test_the_matmul_claim_kills_the_matmul_path_survivor(monkeypatch, fast_profile) -> None:
    """The run's survivor gaussian.py:202: the matmul backward's gz.T replaced by None, a crash
    that no other claim reached (their networks stay below the matmul threshold)."""
    import importlib

    g = importlib.import_module("descentcheck.impl.ops.gaussian")
    mutant = _mutated(g.Gaussian._backward_matmul, "gzt = gz.T", "gzt = None")
    monkeypatch.setattr(g.Gaussian, "_backward_matmul", mutant)
    entry = _run("distance-layer-matmul-equals-direct", fast_profile)
    assert entry["outcome"] == "error"  # a crash misses the expectation: the mutant is killed
    assert not entry["meets_expectation"]


def test_the_dict_form_claim_holds_on_the_trainer(fast_profile) -> None:
    entry = _run("optimizer-dict-form-equals-flat-form", fast_profile)
    assert entry["outcome"] == "held", entry.get("message")


def test_the_dict_form_claim_kills_the_rmsprop_dict_survivor(monkeypatch, fast_profile) -> None:
    """The run's survivor rmsprop.py:33: the dict form's momentum buffer read from a key that
    is not in the state (the trainer runs the flat form, so no other claim called it)."""
    import importlib

    rms = importlib.import_module("descentcheck.impl.optim.rmsprop")
    real = rms.rmsprop

    def mutant(*args, **kwargs):
        opt = real(*args, **kwargs)
        if opt.hyperparameters.get("momentum", 0.0) > 0:

            def update(grads, state, params):
                return opt.update(grads, {"v": state["v"], "XXbufXX": state["buf"]}, params)

            return type(opt)(**{**vars(opt), "update": update})
        return opt

    monkeypatch.setattr("descentcheck.impl.optim.rmsprop", mutant)
    entry = _run("optimizer-dict-form-equals-flat-form", fast_profile)
    assert not entry["meets_expectation"]
    assert "KeyError" in entry["message"] or "rmsprop (momentum)" in entry["message"]


def test_the_activation_claim_holds(fast_profile) -> None:
    entry = _run("activations-equal-formulas", fast_profile)
    assert entry["outcome"] == "held", entry.get("message")


def test_the_activation_claim_kills_the_softplus_survivor(monkeypatch, fast_profile) -> None:
    """The run's survivor activations.py:61: the exported softplus adds 1 instead of 0 for
    x < 0 (the softplus layer's forward has its own formula, so no network claim saw it; since
    both add the positive part through one helper, the mutant adds the 1 to its log1p term)."""
    from descentcheck.impl import ops
    from descentcheck.impl.ops import activations

    mutant = _mutated(activations.softplus, "log1p(e), x, pos)", "log1p(e) + ~pos, x, pos)")
    monkeypatch.setattr(ops, "softplus", mutant)
    entry = _run("activations-equal-formulas", fast_profile)
    assert entry["outcome"] == "falsified"
    assert entry["message"].startswith("softplus")


def test_the_loss_value_claim_kills_the_complex_value_survivor(monkeypatch, fast_profile) -> None:
    """The run's survivor network.py:242: a complex loss returned as its real part (the
    curvature code reads only the gradient, so no claim saw it); the claim holds without it."""
    from descentcheck.impl import network

    assert _run("backprop-returns-the-loss", fast_profile)["outcome"] == "held"
    mutant = _mutated(network.Network.loss_and_grad, 'kind == "c"', 'kind == "XXcXX"')
    monkeypatch.setattr(network.Network, "loss_and_grad", mutant)
    entry = _run("backprop-returns-the-loss", fast_profile)
    assert entry["outcome"] == "falsified"
    assert entry["message"].startswith("complex point")


def test_the_activation_claim_kills_the_complex_sigmoid_survivor(monkeypatch, fast_profile):
    """The run's survivor activations.py:46: sigmoid's complex branch skipped, so at Re x = 0
    max(e, pos) picks e: the complex-step slope of sigmoid at 0 comes out with the wrong sign
    for a negative step."""
    from descentcheck.impl.ops import activations

    mutant = _mutated(activations._sigmoid_from, 'e.dtype.kind == "c"', 'e.dtype.kind == "XXcXX"')
    monkeypatch.setattr(activations, "_sigmoid_from", mutant)
    entry = _run("activations-equal-formulas", fast_profile)
    assert entry["outcome"] == "falsified"
    assert "complex step" in entry["message"]


def test_the_records_claim_kills_the_misnamed_setting_survivor(monkeypatch, fast_profile):
    """The run's survivor adaptive_momentum.py:216: the learning rate recorded as 'XXlrXX'."""
    import importlib

    am = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")
    real = am.adaptive_momentum

    def mutant(lr, tau, group="array"):
        opt = real(lr, tau, group)
        hp = {("XXlrXX" if k == "lr" else k): v for k, v in opt.hyperparameters.items()}
        return type(opt)(**{**vars(opt), "hyperparameters": hp})

    assert _run("trajectory-records-its-settings", fast_profile)["outcome"] == "held"
    monkeypatch.setattr("descentcheck.impl.optim.adaptive_momentum", mutant)
    entry = _run("trajectory-records-its-settings", fast_profile)
    assert entry["outcome"] == "falsified"
    assert "adaptive_momentum: lr" in entry["message"]


def test_the_init_claim_kills_the_with_replacement_survivor(monkeypatch, fast_profile):
    """The run's survivor gaussian.py:233: centroids drawn with replacement when the rows and
    units are equally many, so two units can start on the same row."""
    from descentcheck.impl.ops import gaussian

    assert _run("distance-init-uses-distinct-rows", fast_profile)["outcome"] == "held"
    old, new = "replace=len(x) < units", "replace=len(x) <= units"
    monkeypatch.setattr(gaussian.Gaussian, "init", _mutated(gaussian.Gaussian.init, old, new))
    entry = _run("distance-init-uses-distinct-rows", replace_examples(fast_profile, 50))
    assert entry["outcome"] == "falsified"
    assert "is a centroid 2 times" in entry["message"]


def test_the_dense_init_claim_kills_a_generator_per_layer(monkeypatch, fast_profile):
    """Each layer initialised from a fresh ``default_rng(seed)``: layers of one shape start equal
    and stay so under gradient descent (a held-out planted-bug audit: it passed the ledger)."""
    from descentcheck.impl import network

    old = "layer.init(rng, xs)"
    new = "layer.init(np.random.default_rng(seed), xs)"
    monkeypatch.setattr(network.Network, "init", _mutated(network.Network.init, old, new))
    entry = _run("dense-init-glorot-uniform", fast_profile)
    assert entry["outcome"] == "falsified"
    assert "twin layers start from equal weights" in entry["message"]


def test_the_digits_claim_kills_a_plain_log_sum_exp_in_the_loss_alone(monkeypatch, fast_profile):
    """Softmax cross-entropy's ``__call__`` (what ``Network.loss`` and a minibatch run's recorded
    losses take) in the plain form, its ``value_and_grad`` kept: a confident row's loss of 4e-18
    read 0 (a held-out planted-bug audit: it passed the ledger)."""
    import numpy as np

    from descentcheck.impl import losses

    def plain(self, yhat, y):
        z = yhat - yhat.max(axis=1, keepdims=True)
        return self._value(y, z - np.log(np.exp(z).sum(axis=1, keepdims=True)))

    monkeypatch.setattr(losses.SoftmaxCrossEntropy, "__call__", plain)
    entry = _run("softmax-cross-entropy-keeps-its-digits", replace_examples(fast_profile, 50))
    assert entry["outcome"] == "falsified"
    assert "E of loss(" in entry["message"]


@pytest.mark.parametrize("name", ["Sigmoid", "Tanh"])
def test_the_activations_claim_kills_a_slope_that_loses_relative_accuracy(
    monkeypatch, fast_profile, name
):
    """The torch-style slopes ``s - s^2`` and ``1 - tanh^2``: right to an absolute eps, but a
    saturated unit's slope of 4e-18 comes out 0 (a held-out planted-bug audit: both passed the
    ledger, whose slope check allowed 4 eps absolute)."""
    import numpy as np

    from descentcheck.impl.ops import activations

    def sigmoid_slope(self, e):
        d = 1.0 / (1.0 + e)
        return d - d * d

    def tanh_slope(self, cache):
        y = np.tanh(cache[0] if isinstance(cache, tuple) else cache)
        return 1.0 - y * y

    slope = sigmoid_slope if name == "Sigmoid" else tanh_slope
    monkeypatch.setattr(getattr(activations, name), "derivative", slope)
    entry = _run("activations-equal-formulas", replace_examples(fast_profile, 50))
    assert entry["outcome"] == "falsified"
    assert "backward's slope" in entry["message"]


def replace_examples(profile, n: int):
    from dataclasses import replace

    return replace(profile, examples=n)


def test_the_runner_tries_a_files_killers_first(tmp_path: Path) -> None:
    """The claims that killed mutants of the same file run first; the order changes only how
    soon a killed mutant stops."""
    from ledger_runner import _kills, _order, _record

    log = str(tmp_path / "kills.jsonl")
    for claim in ("forward-equals-spec", "forward-equals-spec", "activations-equal-formulas"):
        _record(log, "impl/ops/activations.py", claim)
    _record(log, "impl/losses.py", "backprop-returns-the-loss")
    with open(log, "a", encoding="utf-8") as f:
        f.write('{"file": "impl/ops/act')  # a line cut short by a stopped run
    kills = _kills(log, "impl/ops/activations.py")
    assert kills == {"forward-equals-spec": 2, "activations-equal-formulas": 1}
    order = _order(kills)
    assert order[:2] == ["forward-equals-spec", "activations-equal-formulas"]
    assert sorted(order) == sorted(_order())  # every claim still runs
    assert _kills(None, "impl/losses.py") == {} and _kills(log, None) == {}


def test_the_results_carry_the_current_triage(results: dict) -> None:
    """The results file copies each survivor's triage at collection; a triage edited since must
    be copied again (tests/mutation/triage.json is the one source)."""
    triage = json.loads((Path(__file__).parent / "mutation" / "triage.json").read_text("utf-8"))
    for m in results["mutants"]:
        if m["status"] == "survived":
            assert m["triage"] == triage.get(m["id"]), m["id"]


def test_the_results_name_the_paths_the_run_mutated(tmp_path: Path) -> None:
    """A run narrowed to one file in a clone (README, Mutation runs) recorded the default four
    paths in ``reports/mutants.json``: the paths come from the clone's ``pyproject.toml``."""
    import collect

    assert collect.mutated_paths() == [
        "impl/optim/",
        "impl/ops/",
        "impl/losses.py",
        "impl/network.py",
    ]
    narrowed = tmp_path / "pyproject.toml"
    narrowed.write_text('[tool.mutmut]\npaths_to_mutate = "impl/ops/merges.py"\n')
    assert collect.mutated_paths(narrowed) == ["impl/ops/merges.py"]
