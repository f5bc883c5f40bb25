"""Any document a user hands descentcheck is read, or refused in one line: a sweep file (through
its expansion into cases), a ledger file (through its counterexamples' replay check) and an
architecture spec (through a forward and backward pass of the network it accepts), each a valid
document with one to three of its keys set to drawn JSON values, deleted or added. Only the
readers' own errors may come out; anything else (a ``KeyError``, numpy's ``ValueError``) is a
traceback the user would see.

Found by these tests and fixed: a counterexample whose hyperparameters were a string or named
``x`` (``dict("0")``, ``train(x=...)``), one whose targets were null (``len()`` of a 0-d array),
and a hyperparameter of 400 digits (``float()``'s ``OverflowError``)."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import strategies as st

from descentcheck.impl.errors import SpecError
from descentcheck.impl.network import Network
from descentcheck.properties.ledger_file import MAX_LEDGER_STEPS, LedgerError, read_ledger
from descentcheck.properties.profiles import (
    PROFILES,
    TEST_PROFILE_MANY,
    TEST_PROFILE_SURVEY,
    hypothesis_settings,
)
from descentcheck.properties.sweep import SweepConfigError, expand, parse_config

SWEEP = {
    "name": "fuzz",
    "steps": 2,
    "seeds": [0, 1],
    "architectures": {
        "specs": ["sine_skip", {"name": "one", "spec": "sine_skip"}],
        "random": {"count": 2, "seed": 0, "max_steps": 3, "max_params": 40},
    },
    "data": [{"source": "random", "n": 6}, "sine"],
    "optimizers": [
        {
            "name": "adaptive_momentum",
            "relative_to_L": True,
            "lr": [0.5, 1.5],
            "tau": 0.1,
            "group": "node",
        },
        {
            "name": "momentum",
            "search": "random",
            "count": 2,
            "lr": {"min": 0.001, "max": 0.1, "log": True},
            "momentum": {"min": 0.0, "max": 0.9},
        },
        {"name": "gd", "lr": {"min": 0.1, "max": 0.2, "num": 2}},
    ],
    "estimate_L": {"iters": 10, "method": "power"},
}

# a ledger whose one claim holds a counterexample with every key a replay needs
LEDGER = {
    "format": "descentcheck.ledger/1",
    "profile": "fast",
    "seconds": 1.5,
    "claims": [
        {
            "id": "a-claim",
            "expect": "fails",
            "outcome": "falsified",
            "examples": 3,
            "meets_expectation": True,
            "conditions": ["lr > 2/L"],
            "message": "",
            "counterexample": {
                "spec": {
                    "inputs": 1,
                    "output": "o",
                    "loss": "mse",
                    "nodes": [{"name": "o", "op": "dense", "inputs": ["input"], "units": 1}],
                },
                "data": {"x": [[1.0], [2.0]], "y": [[1.0], [0.0]]},
                "params": {"o.W": [[0.5]], "o.b": [0.0]},
                "hyperparameters": {"optimizer": "gd", "lr": 3.0, "steps": 2},
                "step": 0,
                "loss_before": 1.0,
                "loss_after": 2.0,
                "certified_increase": True,
            },
        }
    ],
}

# the design card's example with a concat, a per-unit distance layer and each activation
SPEC = {
    "inputs": 3,
    "output": "out",
    "loss": "softmax_cross_entropy",
    "nodes": [
        {"name": "h1", "op": "dense", "units": 6, "inputs": ["input"]},
        {"name": "a1", "op": "tanh", "inputs": ["h1"]},
        {"name": "h2", "op": "dense", "units": 6, "inputs": ["a1"]},
        {"name": "a2", "op": "softplus", "inputs": ["h2"]},
        {"name": "s", "op": "add", "inputs": ["a2", "a1"]},
        {"name": "g", "op": "gaussian", "units": 4, "radius": "per_unit", "inputs": ["s"]},
        {"name": "c", "op": "concat", "inputs": ["g", "input"]},
        {"name": "a3", "op": "sigmoid", "inputs": ["c"]},
        {"name": "out", "op": "gaussian_logits", "units": 2, "inputs": ["a3"]},
    ],
}
MAX_FUZZ_PARAMS = 100_000  # an accepted spec is trained only this small (widths reach 2^31 - 1)

WORDS = (
    *("random", "sine", "sine_skip", "iris", "grid", "lanczos", "power", "node", "global"),
    *("gd", "momentum", "min", "max", "num", "log", "count", "source", "spec", "name", "n"),
    *("held", "falsified", "holds", "fails", "optimizer", "lr", "steps", "dense", "mse", "."),
    *("input", "o", "tanh", "x", "y", "o.W", "o.b", "1979-05-27", "nets/missing.json", "/"),
    *("gaussian", "gaussian_logits", "concat", "add", "relu", "sigmoid", "softplus", "identity"),
    *("per_unit", "per_connection", "units", "radius", "inputs", "output", "loss", "op", "nodes"),
    *("softmax_cross_entropy", "h1", "a1", "h2", "a2", "s", "g", "c", "a3", "out"),
)
# values no reader should take whole, drawn as often as all the others together: the bugs
# these tests found came from them (a 400-digit number, names no file system allows)
NASTY = st.sampled_from([10**400, 2**63, -(2**63), "a" * 300, "a" * 300 + ".json", "x\x00.npz"])
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-3, 40)
    | st.sampled_from([10**10, "0", ""])
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(WORDS)
)
VALUES = NASTY | st.recursive(
    LEAVES,
    lambda kids: (
        st.lists(kids, max_size=3)
        | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=4), kids, max_size=3)
    ),
    max_leaves=8,
)


def _places(doc: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) in ``doc``, the containers themselves included."""
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for k, v in items:
        yield doc, k
        yield from _places(v)


def _strings(doc: Any) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
    for v in doc.values() if isinstance(doc, dict) else doc if isinstance(doc, list) else ():
        yield from _strings(v)


def _like(draw: st.DrawFn, v: Any, doc: dict[str, Any]) -> Any:
    """A value of ``v``'s own type and scale (for a string, another of the document's, so that
    a node's name or input often stays one the spec knows; a list reordered or shortened, not
    emptied: ``VALUES`` draws empty lists), which keeps many documents valid: the validators'
    accepting paths get drawn too."""
    if isinstance(v, bool):
        return draw(st.booleans())
    if isinstance(v, int):
        return draw(st.integers(1, 8))  # 0 and negatives come from VALUES
    if isinstance(v, float):
        return draw(st.floats(0.0, 2.0))
    if isinstance(v, list):
        return draw(st.permutations(v))[: draw(st.integers(min(1, len(v)), len(v)))]
    return draw(st.sampled_from(sorted(set(_strings(doc))))) if isinstance(v, str) else v


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``base`` with one to three places set (to any value, or to one like the one there),
    deleted or given a new key; and what was done."""
    doc, done = copy.deepcopy(base), []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):  # most documents are near misses
        places = list(_places(doc))
        container, key = draw(st.sampled_from(places)) if places else (doc, "name")
        how = draw(st.sampled_from(["set", "like", "like", "like", "delete", "add"]))
        if not places:  # every key deleted: only adding one changes the document
            how = "add"
        if how == "delete":
            del container[key]
        elif how == "add" and isinstance(container, dict):
            container[draw(st.sampled_from(WORDS) | st.text(max_size=4))] = draw(VALUES)
        elif how == "like":
            container[key] = _like(draw, container[key], doc)
        else:
            container[key] = draw(VALUES)
        done.append(how)
    return doc, done


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("documents")


def _one_line(text: str, starts: str) -> None:
    assert "\n" not in text and text.startswith(starts), text


def sweep_verdict(doc: dict[str, Any], folder: Path) -> str:
    """``expanded``, or ``refused`` in one line naming the file."""
    path = folder / "sweep.json"
    try:
        expand(parse_config(doc, path))
    except SweepConfigError as e:
        _one_line(str(e), f"{path}: ")
        return "refused"
    return "expanded"


def ledger_verdict(doc: dict[str, Any], folder: Path) -> str:
    """``read``, or refused in one line naming the file: by the counterexample's replay check,
    or by the record's checks."""
    path = folder / "ledger.json"
    path.write_text(json.dumps(doc))
    try:
        read_ledger(path)
    except LedgerError as e:
        _one_line(str(e), f"{path} is not a ledger")
        return "refused (counterexample)" if ".counterexample: " in str(e) else "refused (record)"
    return "read"


def spec_verdict(doc: dict[str, Any]) -> str:
    """``ran`` (a forward and backward pass with finite loss and gradients), ``too large``, or
    ``refused`` in one line."""
    try:
        net = Network.from_spec(doc)
    except SpecError as e:
        _one_line(str(e), "")
        return "refused"
    if net.n_params > MAX_FUZZ_PARAMS:
        return "too large"
    x, y = np.linspace(-1, 1, 2 * net.spec.inputs).reshape(2, -1), np.zeros(2, dtype=np.int64)
    E, grads = net.loss_and_grad(net.init(0, x), x, y)
    assert np.isfinite(E) and all(np.isfinite(g).all() for g in grads.values())
    return "ran"


# an example reads a small document (a sweep's expansion builds a few specs): 100 of them, 300
# at the ci profile, where 40 rarely reached the bugs these tests found
FUZZ = hypothesis_settings(TEST_PROFILE_MANY, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(case=mutated(SWEEP))
def test_any_sweep_file_expands_or_is_refused_in_one_line(folder, case):
    event(sweep_verdict(case[0], folder))


def _with_counterexample(case: tuple[Any, list[str]]) -> tuple[dict[str, Any], list[str]]:
    """``LEDGER`` holding a mutated counterexample (the replay check's input: most of a whole
    ledger's places lie elsewhere, where a mutation never reaches it)."""
    doc = copy.deepcopy(LEDGER)
    doc["claims"][0]["counterexample"] = case[0]
    return doc, case[1]


LEDGERS = mutated(LEDGER) | mutated(LEDGER["claims"][0]["counterexample"]).map(_with_counterexample)


@FUZZ
@given(case=LEDGERS)
def test_any_ledger_file_is_read_or_refused_in_one_line(folder, case):
    event(ledger_verdict(case[0], folder))


@FUZZ
@given(case=mutated(SPEC))
def test_any_spec_builds_a_network_that_runs_or_is_refused_in_one_line(case):
    event(spec_verdict(case[0]))


@pytest.mark.parametrize(
    ("documents", "verdict", "verdicts"),
    [
        (mutated(SWEEP), sweep_verdict, {"expanded", "refused"}),
        (LEDGERS, ledger_verdict, {"read", "refused (record)", "refused (counterexample)"}),
        (mutated(SPEC), lambda doc, _: spec_verdict(doc), {"ran", "refused"}),
    ],
    ids=["sweep", "ledger", "spec"],
)
def test_the_mutations_reach_every_verdict(folder, documents, verdict, verdicts):
    """What the generator reaches, over a derandomized survey: a fuzz test that only ever drew
    refusals (or never reached the replay check) would assert little about the accepting path."""
    seen: Counter[str] = Counter()

    @hypothesis_settings(TEST_PROFILE_SURVEY, suppress_health_check=[HealthCheck.too_slow])
    @given(case=documents)
    def survey(case):
        seen[verdict(case[0], folder)] += 1

    survey()  # 300 cases; when written, the rarest verdict (a spec that ran) came 17-29 times
    assert set(seen) <= verdicts | {"too large"} and all(seen[v] >= 10 for v in verdicts), seen


@pytest.mark.parametrize("step", [99, 2, -1, 1.0, True])
def test_a_rising_step_outside_the_run_is_refused_before_any_work(folder, step):
    """The report marks the rise at ``step`` on the replayed run: step 99 of a 2-step run was
    an IndexError traceback after 10 s of report work, and replay took it, -1 too (sweep
    audit)."""
    doc = copy.deepcopy(LEDGER)
    doc["claims"][0]["counterexample"]["step"] = step
    path = folder / "ledger.json"
    path.write_text(json.dumps(doc))
    expected = rf"its step \(the rise\) must be an integer in \[0, 2\), got {step!r}"
    with pytest.raises(LedgerError, match=r"claims\[0\]\.counterexample: .*" + expected):
        read_ledger(path)


@pytest.mark.parametrize(
    ("steps", "losses", "says"),
    [
        (10**30, None, r"must be <= 10000 \(.*\), got 1000000000000000000000000000000"),
        (10**400, None, r"must be <= 10000 \(.*\), got \(an integer of 1329 bits\)"),
        (MAX_LEDGER_STEPS + 1, None, r"must be <= 10000 \(.*\), got 10001"),
        (
            3,
            [1.0, 0.5, 0.25],
            r"is 3, but its sequential run recorded 2 steps \(3 losses\), and the .*",
        ),
    ],
    ids=["1e30", "huge int", "one past the cap", "past the sequential run"],
)
def test_steps_a_counterexample_could_not_have_run_are_refused_before_any_work(
    folder, steps, losses, says
):
    """``report --ledger`` replays each counterexample: a hand-edited steps of 10**30 kept it
    replaying for ever, and ``replay`` printed a train command with that many steps (a held-out
    tester). Steps past the cap, or past the run the counterexample records, are refused."""
    doc = copy.deepcopy(LEDGER)
    ce = doc["claims"][0]["counterexample"]
    ce["hyperparameters"]["steps"] = steps
    if losses is not None:  # a skip claim's record of its sequential net's run
        ce.update(_PAIR, sequential={"spec": ce["spec"], "losses": losses})
    path = folder / "ledger.json"
    path.write_text(json.dumps(doc))
    where = r"claims\[0\]\.counterexample\.hyperparameters\.steps: "
    with pytest.raises(LedgerError, match=where + says + r" \(claim 'a-claim'\)$") as refused:
        read_ledger(path)
    _one_line(str(refused.value), f"{path} is not a ledger")
    # the steps it could have run are read: the cap itself, or as many as the sequential run's
    ce["hyperparameters"]["steps"] = MAX_LEDGER_STEPS if losses is None else len(losses) - 1
    path.write_text(json.dumps(doc))
    assert read_ledger(path)["claims"][0]["counterexample"] == ce


_PAIR = {"L0_sequential": 1.5, "L0_skip": 2.5}


def test_a_skip_pairs_non_finite_l0_as_verify_writes_it_is_read(folder):
    """verify writes a non-finite number as a string ("inf"): an overflowing L_0 estimate of the
    skip net must not make verify's own ledger unreadable (a review of the pair's check)."""
    doc = copy.deepcopy(LEDGER)
    ce = doc["claims"][0]["counterexample"]
    ce.update(_PAIR, L0_skip="inf", sequential={"spec": ce["spec"], "losses": [1.0, 0.5, 0.25]})
    path = folder / "ledger.json"
    path.write_text(json.dumps(doc))
    assert read_ledger(path)["claims"][0]["counterexample"]["L0_skip"] == "inf"
    ce["L0_skip"] = "infinite"
    path.write_text(json.dumps(doc))
    says = r"L0_skip: expected a number or one of inf, -inf, nan, got a string \('infinite'\)"
    with pytest.raises(LedgerError, match=r"claims\[0\]\.counterexample\." + says):
        read_ledger(path)


_GONE = object()


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("sequential", 5, r"sequential: expected a table, got a number \(5\)"),
        ("sequential.spec", _GONE, r"sequential: missing key 'spec'"),
        ("sequential.spec", {"nodes": []}, r"sequential\.spec: invalid spec: .*"),
        ("sequential.losses", [1.0], r"sequential\.losses: holds 1, needs at least 2"),
        (
            "sequential.losses",
            [1.0, "x"],
            r"sequential\.losses\[1\]: expected a number, got a string",
        ),
        ("L0_skip", _GONE, r"missing key 'L0_skip'"),
    ],
    ids=["not a record", "no spec", "spec without nodes", "one loss", "a string", "no L0"],
)
def test_a_skip_claims_sequential_record_is_checked_before_the_report_draws_it(
    folder, key, value, says
):
    """``report --ledger`` draws a skip counterexample's sequential net beside it and quotes its
    losses and both L_0: a hand-edited ``sequential`` of 5 was a traceback after the report's
    earlier work (bad-input audit)."""
    doc = copy.deepcopy(LEDGER)
    ce = doc["claims"][0]["counterexample"]
    ce.update(_PAIR, sequential={"spec": ce["spec"], "losses": [1.0, 0.5, 0.25]})
    path = folder / "ledger.json"
    path.write_text(json.dumps(doc))
    assert read_ledger(path)["claims"][0]["counterexample"] == ce  # the pair as verify writes it
    *outer, last = key.split(".")
    record = ce["sequential"] if outer else ce
    if value is _GONE:
        del record[last]
    else:
        record[last] = value
    path.write_text(json.dumps(doc))
    where = r"claims\[0\]\.counterexample(\.|: )"
    with pytest.raises(LedgerError, match=where + says + r".* \(claim 'a-claim'\)$") as refused:
        read_ledger(path)
    _one_line(str(refused.value), f"{path} is not a ledger")


def test_the_steps_cap_leaves_every_profile_headroom():
    """No profile's run comes near :data:`MAX_LEDGER_STEPS`, so a ledger that verify wrote is
    never refused by it (the longest, thorough's distance runs, keep no counterexample)."""
    longest = max(
        max(p.steps, p.convergence_steps, p.metamorphic_steps, p.distance_steps)
        for p in PROFILES.values()
    )
    assert 10 * longest <= MAX_LEDGER_STEPS


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (
            {"meets_expectation": False},
            r"claims\[0\]\.meets_expectation: is False, but expect 'fails' with outcome "
            r"'falsified' meets it",
        ),
        (
            {"expect": "holds"},
            r"claims\[0\]\.meets_expectation: is True, but expect 'holds' with outcome "
            r"'falsified' does not meet it",
        ),
        (
            {"counterexample": {"certified_increase": True, "loss_after": 0.5}},
            r"claims\[0\]\.counterexample: it says certified_increase, but its loss_after 0\.5 "
            r"is not a finite number above its loss_before 1\.0",
        ),
        (
            {"counterexample": {"certified_increase": True, "loss_after": float("nan")}},
            r"its loss_after nan is not a finite number above its loss_before 1\.0",
        ),
        (  # math.isfinite raised OverflowError on it: a traceback (a held-out mypy triage)
            {"counterexample": {"certified_increase": True, "loss_after": 10**400}},
            r"its loss_after \(an integer of 1329 bits\) is not a finite number above its "
            r"loss_before 1\.0$",
        ),
        (
            {"counterexample": {"certified_increase": True, "increase": -0.5}},
            r"its increase -0\.5 is not loss_after - loss_before \(1\.0\)",
        ),
    ],
    ids=["flag false", "flag true", "a fall", "nan", "huge int", "increase"],
)
def test_a_ledger_that_contradicts_itself_is_refused(folder, edit, says):
    """A hand-edited ledger's report said "46 of 46 claims met their expectation" beside a
    claim expected to hold and falsified, and described a fall of the loss as "the loss rose
    ..., certified in Arb ball arithmetic" (a held-out report reader): the flag must be what
    ``expect`` and ``outcome`` say, and a certified rise a rise."""
    doc = copy.deepcopy(LEDGER)
    claim = doc["claims"][0]
    for key, value in edit.items():
        if key == "counterexample":
            claim["counterexample"].update(value)
        else:
            claim[key] = value
    path = folder / "ledger.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LedgerError, match=says) as refused:
        read_ledger(path)
    if "counterexample" not in edit:  # named by its id, not only claims[0] (a regression check)
        assert str(refused.value).endswith(" (claim 'a-claim')"), refused.value
    claim["counterexample"].pop("certified_increase", None)  # the same numbers, no claim of
    if "counterexample" in edit:  # a certificate: a falsified claim verify never writes
        path.write_text(json.dumps(doc))
        with pytest.raises(LedgerError, match="loss record must be certified"):
            read_ledger(path)
        claim["outcome"], claim["meets_expectation"] = "error", False  # as verify writes it
        path.write_text(json.dumps(doc))
        assert read_ledger(path)["claims"][0]["counterexample"]["loss_before"] == 1.0


def test_a_claims_own_counterexample_record_is_shown_not_replayed(tmp_path):
    """The report replayed every counterexample: a plugin claim's own record (one without every
    key of a run) crashed it with KeyError 'spec' or 'step' (sweep audit); it is shown as JSON,
    as the text ledger shows it and as replay refuses it."""
    from descentcheck.reports.ledger_section import _claim_details

    claim = {
        **LEDGER["claims"][0],
        "statement": "s",
        "source": "src",
        "counterexample": {"witness": [1, 2], "note": "found by the claim"},
    }
    partial = {k: v for k, v in LEDGER["claims"][0]["counterexample"].items() if k != "step"}
    for own, mark in ((claim["counterexample"], "found by the claim"), (partial, "loss_after")):
        details, info = _claim_details({**claim, "counterexample": own}, tmp_path, tmp_path, "f")
        assert info is None
        text = json.dumps([str(b) for b in details.blocks])
        assert "not a run to replay" in text and mark in text


def test_the_summary_counts_only_replayable_counterexamples_as_such():
    """A falsified claim without a run to replay (a plugin's own record, or none) was counted
    in "N falsified with a replayable counterexample" (a held-out report reader)."""
    from descentcheck.reports.summary import _replayable, claim_counts

    full = LEDGER["claims"][0]
    bare = {**full, "id": "bare", "counterexample": None}
    n = claim_counts({"claims": [full, bare]})
    assert (n["falsified"], n["replayable"]) == (2, 1)
    assert _replayable(n) == " (1 with a replayable counterexample)"
    assert _replayable(claim_counts({"claims": [full]})) == " with a replayable counterexample"


def test_a_report_from_a_ledger_file_names_the_file_and_what_held_means(tmp_path):
    """A report built with ``--ledger`` read as if its build had run verify, and nothing said
    that "held" is no proof for every network (a held-out report reader)."""
    from descentcheck.reports.build import _write_pages
    from descentcheck.reports.ledger_section import _overview
    from descentcheck.reports.profiles import get_profile

    claims = [{**c, "seconds": 0.5} for c in LEDGER["claims"]]
    given = _overview(LEDGER, claims, "runs/ledger.json")[0].text
    assert given.startswith("From the ledger file `runs/ledger.json` (not run by this build): ")
    assert "Held means that no generated case falsified the claim" in given
    assert not _overview(LEDGER, claims)[0].text.startswith("From the ledger file")
    _write_pages(tmp_path, [], get_profile("smoke"), 0, "fast", "runs/ledger.json")
    page = (tmp_path / "report.md").read_text()
    assert "its claims ledger: the file `runs/ledger.json`, from verify's `fast` profile" in page


def test_a_counterexamples_hyperparameters_are_shown_exactly(tmp_path):
    """The report rounded lr = 0.9999999999999998 to "lr = 1" (6 digits) while its replay
    command kept the exact value (a held-out report reader)."""
    from descentcheck.reports.ledger_section import _counterexample_blocks

    ce = copy.deepcopy(LEDGER["claims"][0]["counterexample"])
    ce["hyperparameters"]["lr"] = 0.9999999999999998
    ce["increase"] = ce["loss_after"] - ce["loss_before"]
    claim = {**LEDGER["claims"][0], "counterexample": ce}
    blocks, _ = _counterexample_blocks(claim, tmp_path, tmp_path, "fig")
    text = " ".join(getattr(b, "text", "") for b in blocks)
    assert "lr = 0.9999999999999998" in text and "optimizer = gd" in text, text
