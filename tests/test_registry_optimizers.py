"""The optimizer registry: importable without numpy, complete for every optimizer (coverage),
and open to plugins (a fake entry point adding Adam; broken plugins refused in one line)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner
from optimizer_plugins import ADAM, FakeEntryPoint, adam_rule, make_adam

import descentcheck.registry.optimizers as reg
from descentcheck.cli import main
from descentcheck.impl.errors import HyperparameterError
from descentcheck.impl.optim.base import Optimizer, StepInfo
from descentcheck.registry.optimizers import (
    LR,
    Hyperparameter,
    OptimizerEntry,
    OptimizerPluginError,
    UpdateRule,
    coverage_problems,
)

# ---- importable without numpy ---------------------------------------------------------------

BLOCK_NUMPY = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy.") or name == "sympy":
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
from descentcheck.registry import optimizers as reg
names = reg.names()
assert names[:5] == ("gd", "momentum", "nesterov", "adaptive_momentum", "rmsprop"), names
assert reg.get("rmsprop").hyperparameter("rho").default == 0.99
assert set(reg.options()) >= {"lr", "momentum", "tau", "group", "rho", "eps"}
assert "numpy" not in sys.modules and "sympy" not in sys.modules
print("ok")
"""


def test_registry_imports_without_numpy_or_sympy():
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_NUMPY], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_the_blocker_blocks():
    """The subprocess above would fail if the registry imported numpy (shown here)."""
    code = BLOCK_NUMPY.replace(
        "from descentcheck.registry import optimizers as reg", "import numpy"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "blocked: numpy" in proc.stderr


# ---- coverage: every optimizer brings its update pair, derivation, region or reason ----------


def all_problems() -> list[str]:
    return [p for e in reg.registry().values() for p in coverage_problems(e)]


def test_every_registered_optimizer_is_complete():
    assert all_problems() == []


def test_builtin_derivations_are_proved_equal_to_the_observable_forms():
    for entry in reg.registry().values():
        rule = entry.build_derivation()
        assert rule.proofs and all(p.holds for p in rule.proofs), entry.name


def test_a_wrong_recurrence_is_not_proved():
    """The proof in theory.momentum._rule compares against the observable form: a heavy ball
    recurrence with the wrong sign does not pass it."""
    from descentcheck.theory import momentum as m

    bad = m._rule("momentum", -m.lr * m.buf_, {"lr": m.lr}, {m.buf_: -m.beta * m.buf_ + m.gk})
    assert not bad.proofs[0].holds


def _replace_entry(monkeypatch, name: str, **changes) -> None:
    entries = dict(reg._entries)
    entries[name] = replace(entries[name], **changes)
    monkeypatch.setattr(reg, "_entries", entries)


def _rule_without(name: str, hyperparameter: str):
    def derivation():
        rule = next(e for e in reg.BUILTINS if e.name == name).build_derivation()
        hps = {k: v for k, v in rule.hyperparameters.items() if k != hyperparameter}
        return dataclasses.replace(rule, hyperparameters=hps)

    return derivation


def _rule_with_stray_initial(name: str):
    """The rule with an initial state that names a symbol no hyperparameter declares."""

    def derivation():
        rule = next(e for e in reg.BUILTINS if e.name == name).build_derivation()
        state = next(iter(rule.state))
        return dataclasses.replace(rule, initial={state: sp.Symbol("stray")})

    return derivation


MISSING = {  # what is removed: (optimizer, field changes, fragment of the message)
    "derivation": ("nesterov", {"derivation": None}, "no SymPy derivation"),
    "derivation function": (
        "rmsprop",
        {"derivation": "descentcheck.theory.momentum:no_such_rule"},
        "no SymPy derivation",
    ),
    "a hyperparameter's symbol": (
        "rmsprop",
        {"derivation": _rule_without("rmsprop", "rho")},
        "no symbol for 'rho'",
    ),
    "update pair": (
        "gd",
        {"factory": "descentcheck.impl.optim:no_such_factory"},
        "update pair cannot be built",
    ),
    "a stray symbol in an initial state": (
        "rmsprop",
        {"derivation": _rule_with_stray_initial("rmsprop")},
        "initial value of state",
    ),
    "region and reason": ("momentum", {"region": None}, "neither a descent region nor a reason"),
    "region": ("adaptive_momentum", {"region": "no_such_region"}, "descent region"),
    "reason": ("gd", {"region": None, "no_region": " "}, "reason for having no descent region"),
}


@pytest.mark.parametrize("what", sorted(MISSING))
def test_coverage_fails_naming_the_optimizer_and_what_is_missing(monkeypatch, what):
    name, changes, fragment = MISSING[what]
    _replace_entry(monkeypatch, name, **changes)
    problems = all_problems()
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"optimizer {name}") and fragment in problems[0], problems


def test_coverage_fails_when_a_region_leaves_theory(monkeypatch):
    from descentcheck.theory import descent

    regions = {k: v for k, v in descent.REGIONS.items() if k != "nesterov"}
    monkeypatch.setattr(descent, "_regions", regions)
    problems = all_problems()
    assert problems and "optimizer nesterov" in problems[0] and "region" in problems[0]


def test_declared_ranges_match_the_factories():
    """A value just outside a declared interval is refused by the registry with the same words
    the factory itself uses; the boundary of a closed end is accepted."""
    from descentcheck.impl.optim.base import check_number

    for entry in reg.registry().values():
        for h in entry.hyperparameters:
            if h.kind != "float":
                continue
            lo = 0.0 if h.low is None else h.low
            outside = [lo - 1e-9] + ([h.high + 1e-9] if h.high is not None else [])
            for v in outside:
                with pytest.raises(HyperparameterError) as ours:
                    h.check(v)
                with pytest.raises(HyperparameterError) as theirs:
                    check_number(
                        h.label or h.name,
                        v,
                        low=lo,
                        low_open=h.low_open,
                        high=h.high,
                        high_open=h.high_open,
                    )
                assert str(ours.value) == str(theirs.value)
            if not h.low_open:
                assert h.check(lo) == lo


# ---- a plugin: Adam, through a fake entry point ------------------------------------------------


ADAM_TAKES = " (it takes lr, beta1, beta2, eps)"  # the tail of an unknown option's message


def _sine_case():
    from descentcheck.impl.data import load_data
    from descentcheck.impl.network import Network

    net = Network.from_spec("sine_skip")
    ds = load_data("sine")
    x, y = net.check_data(ds.x, ds.y)
    return net, net.init(seed=0, x=x), x, y


def test_plugin_optimizer_is_registered_complete_and_trains(plugins):
    from descentcheck.impl.trainer import train

    plugins(FakeEntryPoint("adam", ADAM))
    assert "adam" in reg.names() and reg.get("adam").origin == "plugin 'adam' (fake_plugin:ADAM)"
    assert all_problems() == []
    net, params, x, y = _sine_case()
    traj = train(net, params, x, y, optimizer="adam", lr=0.01, beta1=0.8, steps=20)
    assert traj.status == "completed" and traj.losses[-1] < traj.losses[0]
    assert traj.hyperparameters == {"lr": 0.01, "beta1": 0.8, "beta2": 0.999, "eps": 1e-8}
    with pytest.raises(HyperparameterError, match="optimizer adam takes no 'tau'"):
        train(net, params, x, y, optimizer="adam", lr=0.01, tau=0.1)
    with pytest.raises(HyperparameterError, match=r"takes no 'beta'; did you mean 'beta[12]'\?$"):
        train(net, params, x, y, optimizer="adam", lr=0.01, beta=0.9)
    with pytest.raises(HyperparameterError, match=r"beta2 must lie in \[0, 1\)"):
        train(net, params, x, y, optimizer="adam", lr=0.01, beta2=1.0)


def test_an_option_to_an_optimizer_that_takes_none_says_so():
    """An optimizer declaring no hyperparameters (no built-in is one) names none as taken, not
    an empty list."""
    bare = replace(ADAM, name="bare", hyperparameters=())
    with pytest.raises(
        HyperparameterError, match=r"^optimizer bare takes no 'lr' \(it takes none\)$"
    ):
        bare.make(lr=0.1)


def test_plugin_hyperparameters_are_cli_options(plugins, tmp_path):
    plugins(FakeEntryPoint("adam", ADAM))
    r = CliRunner().invoke(main, ["train", "--help"])
    assert r.exit_code == 0 and "--beta1" in r.output and "adam" in r.output
    # --eps means a different thing to rmsprop and adam: each one's help is shown
    flat = " ".join(r.output.split())
    assert "adam: added to sqrt(v_hat)" in flat and "rmsprop: " in flat, flat
    out = tmp_path / "run"
    args = ["train", "sine_skip", "--data", "sine", "--optimizer", "adam", "--lr", "0.01"]
    r = CliRunner().invoke(main, [*args, "--beta1", "0.8", "--eps", "1e-6", "--out", str(out)])
    assert r.exit_code == 0, r.output
    record = json.loads((out / "trajectory.json").read_text())
    assert record["optimizer"] == "adam"
    assert record["hyperparameters"]["beta1"] == 0.8 and record["hyperparameters"]["eps"] == 1e-6
    r = CliRunner().invoke(main, [*args, "--tau", "0.1", "--out", str(out)])
    assert (
        r.exit_code == 2 and r.output.strip() == f"error: optimizer adam takes no 'tau'{ADAM_TAKES}"
    )


def test_plugin_optimizer_in_a_sweep_file(plugins, tmp_path):
    from descentcheck.properties.sweep.config import parse_config
    from descentcheck.properties.sweep.errors import SweepConfigError

    plugins(FakeEntryPoint("adam", ADAM))
    raw = {
        "steps": 3,
        "architectures": ["sine_skip"],
        "data": "sine",
        "optimizers": [{"name": "adam", "lr": [0.01, 0.02], "beta1": 0.8}],
    }
    config = parse_config(raw, tmp_path / "s.toml")
    assert set(config.optimizers[0].axes) == {"lr", "beta1"}
    raw["optimizers"][0]["tau"] = 0.1
    with pytest.raises(SweepConfigError, match="unknown key 'tau'"):
        parse_config(raw, tmp_path / "s.toml")


def _without_derivation():
    return replace(ADAM, derivation=None)


def _raising():
    raise RuntimeError("no jax\nhere")


def _exiting():
    raise SystemExit("no jax, goodbye")


BROKEN = {  # the plugin object, and what the one-line error must say
    "no derivation": (replace(ADAM, derivation=None), "optimizer adam has no SymPy derivation"),
    "a callable without derivation": (_without_derivation, "has no SymPy derivation"),
    "no region nor reason": (replace(ADAM, no_region=None), "exactly one of region"),
    "no lr": (replace(ADAM, hyperparameters=ADAM.hyperparameters[1:]), "declares no 'lr'"),
    "a built-in's name": (
        replace(ADAM, name="rmsprop"),
        "name 'rmsprop' is already registered (builtin)",
    ),
    # left out of the constructor: the same refusal as None (was a TypeError at import)
    "no derivation given": (
        OptimizerEntry(
            "adam", ADAM.summary, ADAM.hyperparameters, factory=make_adam, no_region="why"
        ),
        "optimizer adam has no SymPy derivation (derivation)",
    ),
    "no factory given": (
        OptimizerEntry(
            "adam", ADAM.summary, ADAM.hyperparameters, derivation=adam_rule, no_region="why"
        ),
        "optimizer adam has no init/update factory (factory)",
    ),
    "no summary": (replace(ADAM, summary=" "), "optimizer adam has no summary"),
    "an unknown kind": (
        replace(ADAM, hyperparameters=(*ADAM.hyperparameters, Hyperparameter("n", "int", "n"))),
        "hyperparameter 'n': kind 'int' is neither 'float' (a number in [low, high]) nor "
        "'choice' (one of its choices)",
    ),
    "a choice without choices": (
        replace(ADAM, hyperparameters=(*ADAM.hyperparameters, Hyperparameter("m", "choice", "m"))),
        "hyperparameter 'm': a 'choice' needs choices=(...), the names it takes",
    ),
    # the blind author's plausible mistakes, which trained silently with the bad value
    "a choice default not a choice": (
        replace(
            ADAM,
            hyperparameters=(
                *ADAM.hyperparameters,
                Hyperparameter("mode", "choice", "m", "plian", choices=("plain", "fancy")),
            ),
        ),
        "hyperparameter 'mode': its default is not a value it takes (unknown mode 'plian'; "
        "known: plain, fancy; did you mean 'plain'?)",
    ),
    "a default outside the interval": (
        replace(
            ADAM,
            hyperparameters=(
                *ADAM.hyperparameters,
                Hyperparameter("c", "float", "c", -1.0, low_open=True),
            ),
        ),
        "hyperparameter 'c': its default is not a value it takes (c must lie in (0, inf), got -1)",
    ),
    "a draw outside the interval": (
        replace(
            ADAM,
            hyperparameters=(
                *ADAM.hyperparameters,
                Hyperparameter("c", "float", "c", 1.0, high=2.0, draw=(0.5, 5.0, False)),
            ),
        ),
        "hyperparameter 'c': draw = (0.5, 5.0, False) is not (low, high, log) inside its "
        "interval (c must lie in [0, 2], got 5)",
    ),
    # a fifth audit's: it said "(0.0, 0.9, log=True) is not a range", not why
    "a log draw from 0": (
        replace(
            ADAM,
            hyperparameters=(
                *ADAM.hyperparameters,
                Hyperparameter("c", "float", "c", 0.5, high=2.0, draw=(0.0, 0.9, True)),
            ),
        ),
        "hyperparameter 'c': draw = (0.0, 0.9, True) is not (low, high, log) inside its "
        "interval (a log-uniform draw needs low > 0, got low = 0.0)",
    ),
    # a held-out author's: a NaN end compares false, so train took eps = -5 with "[nan, inf)"
    "a NaN end": (
        replace(
            ADAM,
            hyperparameters=(
                *ADAM.hyperparameters,
                Hyperparameter("c", "float", "c", 1.0, low=float("nan")),
            ),
        ),
        "hyperparameter 'c': low = nan is not a number",
    ),
    # ... and an empty interval was blamed on the default, or loaded when there was none
    "an empty interval": (
        replace(
            ADAM,
            hyperparameters=(
                *ADAM.hyperparameters,
                Hyperparameter("c", "float", "c", 1e-10, low=1.0, high=0.5),
            ),
        ),
        "hyperparameter 'c': its interval [1, 0.5] is empty",
    ),
    "an empty interval without a default": (
        replace(
            ADAM,
            hyperparameters=(
                *ADAM.hyperparameters,
                Hyperparameter("c", "float", "c", low=1.0, high=1.0, low_open=True),
            ),
        ),
        "hyperparameter 'c': its interval (1, 1] is empty",
    ),
    "a float with choices": (
        replace(
            ADAM,
            hyperparameters=(
                *ADAM.hyperparameters,
                Hyperparameter("m", "float", "m", 1.0, choices=("a",)),
            ),
        ),
        "hyperparameter 'm': choices are for kind 'choice', not 'float'",
    ),
    "a trainer option": (
        replace(ADAM, hyperparameters=(*ADAM.hyperparameters, replace(LR, name="steps"))),
        "hyperparameter 'steps' is a trainer option",
    ),
    # a held-out author's: train --help showed "c:  ([0, inf); default 1.0)"
    "no help": (
        replace(ADAM, hyperparameters=(*ADAM.hyperparameters, Hyperparameter("c", "float", " "))),
        "hyperparameter 'c': help must be one non-empty line",
    ),
    "help on two lines": (
        replace(
            ADAM,
            hyperparameters=(*ADAM.hyperparameters, Hyperparameter("c", "float", "a\nb", 1.0)),
        ),
        "hyperparameter 'c': help must be one non-empty line",
    ),
    "a clashing kind": (
        replace(ADAM, hyperparameters=(*ADAM.hyperparameters[:3], replace(LR, name="group"))),
        "'group' is a choice in adaptive_momentum, a float here",
    ),
    "not an entry": ({"name": "adam"}, "is a dict, not a"),
    "fails to import": (ModuleNotFoundError("No module named 'jax'"), "cannot load"),
    # sys.exit() in a plugin module: its message alone was printed, naming no plugin
    "exits at import": (SystemExit("no jax, goodbye"), "cannot load: SystemExit: no jax, goodbye"),
    "a callable that exits": (
        _exiting,
        "'adam' (fake_plugin:ADAM): cannot build its optimizer: SystemExit: no jax, goodbye",
    ),
    "a callable that raises": (
        _raising,
        "'adam' (fake_plugin:ADAM): cannot build its optimizer: RuntimeError: no jax here",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugin_is_refused_in_one_line(plugins, case):
    obj, fragment = BROKEN[case]
    plugins(FakeEntryPoint("adam", obj))
    with pytest.raises(OptimizerPluginError) as info:
        reg.names()
    message = str(info.value)
    assert "\n" not in message and message.startswith("plugin 'adam'")
    assert fragment in message, message


def test_broken_plugin_in_the_cli_is_one_line_without_traceback(plugins, tmp_path):
    plugins(FakeEntryPoint("adam", replace(ADAM, derivation=None)))
    args = ["train", "sine_skip", "--data", "sine", "--optimizer", "gd", "--lr", "0.1"]
    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "o")])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert lines[0] == (
        "error: plugin 'adam' (fake_plugin:ADAM): optimizer adam has no SymPy "
        "derivation (derivation)"
    )


def _adam_whose_update(edit):
    """ADAM, its update's result passed through ``edit`` (a plugin author's slip)."""

    def factory(lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        real = make_adam(lr, beta1, beta2, eps)
        return dataclasses.replace(real, update=lambda g, s, p: edit(real.update(g, s, p)))

    return replace(ADAM, factory=factory)


BAD_UPDATES = {  # each was a traceback from the trainer's unpacking or sums (held-out audit)
    "two values": (lambda out: out[:2], "must return (updates, state, StepInfo), got a tuple of 2"),
    "a parameter left out": (
        lambda out: ({k: v for k, v in out[0].items() if k != "out.b"}, *out[1:]),
        "left out 'out.b' (one update per parameter, keyed as the gradients are)",
    ),
    "one too many": (
        lambda out: ({**out[0], "x.W": out[0]["out.b"]}, *out[1:]),
        "returned an update for 'x.W'",
    ),
    "another shape": (
        lambda out: ({k: v.ravel() for k, v in out[0].items()}, *out[1:]),
        "returned an update of shape (",
    ),
    "a list of updates": (lambda out: (list(out[0].values()), *out[1:]), "returned a list for"),
    "a bare momentum": (
        lambda out: (*out[:2], 0.9),
        "returned a float where a StepInfo(momentum) is due",
    ),
    # a fifth audit: an update that raises was a traceback and status 1
    "one that raises": (lambda out: {}["missing"], "raised KeyError: 'missing'"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPDATES))
def test_a_plugin_update_of_the_wrong_form_is_one_line(plugins, case, tmp_path):
    edit, fragment = BAD_UPDATES[case]
    plugins(FakeEntryPoint("adam", _adam_whose_update(edit)))
    args = ["train", "sine_skip", "--data", "sine", "--optimizer", "adam", "--lr", "0.01"]
    r = CliRunner().invoke(main, [*args, "--steps", "3", "--out", str(tmp_path / "o")])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert lines[0].startswith("error: plugin 'adam' (fake_plugin:ADAM): its update "), lines[0]
    assert fragment in lines[0], lines[0]
    assert not (tmp_path / "o" / "trajectory.json").exists()


@pytest.mark.parametrize(
    "factory, says",
    [
        # the fifth audit's: "AttributeError: 'dict' object has no attribute 'flat'"
        (lambda lr, **_: {"lr": lr}, "its factory gave a dict, not an Optimizer (descentcheck."),
        (
            lambda lr, **kw: dataclasses.replace(make_adam(lr, **kw), init=lambda p: 1 / 0),
            "its init raised ZeroDivisionError: division by zero",
        ),
    ],
)
def test_a_plugin_factory_or_init_gone_wrong_is_one_line(plugins, factory, says, tmp_path):
    plugins(FakeEntryPoint("adam", replace(ADAM, factory=factory)))
    args = ["train", "sine_skip", "--data", "sine", "--optimizer", "adam", "--lr", "0.01"]
    r = CliRunner().invoke(main, [*args, "--steps", "3", "--out", str(tmp_path / "o")])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert lines[0].startswith(f"error: plugin 'adam' (fake_plugin:ADAM): {says}"), r.output


def test_a_plugin_left_without_a_name_is_refused_as_an_empty_one(plugins):
    """``OptimizerEntry(...)`` without ``name`` was the constructor's TypeError at import."""
    values = {f.name: getattr(ADAM, f.name) for f in dataclasses.fields(ADAM) if f.name != "name"}
    plugins(FakeEntryPoint("adam", OptimizerEntry(**values)))
    with pytest.raises(OptimizerPluginError, match="plugin 'adam'") as info:
        reg.names()
    plugins(FakeEntryPoint("adam", replace(ADAM, name="")))
    with pytest.raises(OptimizerPluginError) as empty:
        reg.names()
    assert str(info.value) == str(empty.value)


# ---- the ledger's update claim covers a plugin's optimizer generically -------------------------


def _update_claim(tmp_path, kinds):
    from descentcheck.properties.claims import BY_ID
    from descentcheck.properties.claims.updates import update_strategy
    from descentcheck.properties.profiles import get_profile
    from descentcheck.properties.runner import run_claim

    profile = replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)
    claim = replace(BY_ID["update-equals-derived-rule"], strategy=update_strategy(kinds))
    return run_claim(claim, profile)


def test_update_claim_holds_on_a_plugin_optimizer(plugins, tmp_path):
    plugins(FakeEntryPoint("adam", ADAM))
    entry = _update_claim(tmp_path, ("adam",))
    assert entry["outcome"] == "held", entry["message"]
    # the claim runs 0.3 of the profile's cases (each checks every optimizer it is given)
    assert entry["examples"] >= 12 and entry["measured"]["runs_tested"] >= 0.8 * entry["examples"]
    assert entry["measured"]["entries_sign_resolved"] > 0.5 * entry["measured"]["entries_checked"]


def _adam_without_bias_correction(lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Mutant: Adam's first moment not divided by 1 - beta1^t (a common slip)."""
    real = make_adam(lr, beta1, beta2, eps)

    def update(grads, state, params):
        dw, new, info = real.update(grads, state, params)
        t = new[0]
        return {k: v * (1 - beta1**t) for k, v in dw.items()}, new, info

    return replace(real, update=update)


def test_update_claim_kills_a_wrong_plugin_update(plugins, tmp_path):
    plugins(FakeEntryPoint("adam", replace(ADAM, factory=_adam_without_bias_correction)))
    entry = _update_claim(tmp_path, ("adam",))
    assert entry["outcome"] == "falsified", entry["measured"]


def test_the_documented_plugin_example_works(plugins):
    """The Adam plugin in the registry's module docstring, run as written."""
    import textwrap

    doc = reg.__doc__
    start = doc.index("::", doc.index("Adam as a plugin")) + 2
    code = textwrap.dedent(doc[start : doc.index("Then ``descentcheck train")])
    namespace: dict = {}
    exec(compile(code, "registry docstring", "exec"), namespace)
    plugins(FakeEntryPoint("adam", namespace["ADAM"], "my_adam.plugin:ADAM"))
    assert coverage_problems(reg.get("adam")) == []
    from descentcheck.impl.trainer import train
    from descentcheck.theory.optimizer_agreement import compare_registered

    net, params, x, y = _sine_case()
    mine = train(net, params, x, y, optimizer="adam", lr=0.01, beta1=0.8, steps=10)
    ours = train(net, params, x, y, optimizer=make_adam(0.01, beta1=0.8), steps=10)
    assert np.array_equal(mine.losses, ours.losses)
    assert all(c.ok for c in compare_registered(sequences=2))


def test_theory_check_catches_a_wrong_plugin_update(plugins):
    """theory's compare_registered fails on Adam without its bias correction."""
    from descentcheck.theory.optimizer_agreement import compare_registered

    plugins(FakeEntryPoint("adam", replace(ADAM, factory=_adam_without_bias_correction)))
    results = {c.name: c for c in compare_registered(sequences=2)}
    assert not results["adam"].ok and all(c.ok for n, c in results.items() if n != "adam")
    # the line says where: which update and which settings (the blind plugin author's wrong
    # Adagrad failed only with a nonzero initial accumulator, and nothing said so)
    line = results["adam"].problem()
    assert re.fullmatch(
        r"adam vs its derivation: [0-9.e+-]+ at update \d of \d \(lr=[0-9.e+-]+, beta1=.*, "
        r"eps=[0-9.e+-]+\)",
        line,
    ), line


def _mystery_rule() -> UpdateRule:
    rule = adam_rule()
    return replace(rule, step=rule.step * sp.Symbol("mystery"))


def _exploding(lr, beta1=0.9, beta2=0.999, eps=1e-8):
    raise RuntimeError("factory exploded")


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        (replace(ADAM, derivation=_mystery_rule), "uses undeclared symbols ['mystery']"),
        (replace(ADAM, factory=_exploding), "factory exploded"),
    ],
    ids=["undeclared symbol", "factory raises"],
)
def test_theory_reports_a_plugin_that_raises_in_one_line(plugins, broken, says):
    """A derivation with a symbol it does not declare, or a factory that raises: theory's
    optimizer check fails and says why in one line (no traceback, the other optimizers still
    compared)."""
    from descentcheck.theory.checks import check_optimizers

    plugins(FakeEntryPoint("adam", broken))
    result = check_optimizers()
    assert not result.ok
    lines = [p for p in result.details if "adam" in p]
    assert lines and all("\n" not in p for p in lines), result.details
    assert any(says in p for p in lines), lines
    assert len(result.details) == len(lines)  # the built-ins agree with theirs


def _derivation_raises():
    raise ValueError("boom in my rule")


@pytest.mark.parametrize(
    ("derivation", "says"),
    [
        (_derivation_raises, "its SymPy derivation raises ValueError: boom in my rule"),
        (lambda: "dw = -lr g", "its SymPy derivation gives a str, not an UpdateRule"),
        # a held-out author's: met by update-equals-derived-rule mid-run ("cannot create mpf")
        (_mystery_rule, "optimizer adam: its derivation uses undeclared symbols ['mystery']"),
    ],
    ids=["raises", "no UpdateRule", "undeclared symbol"],
)
def test_verify_sweep_and_report_refuse_a_broken_derivation_before_they_start(
    plugins, tmp_path, derivation, says
):
    """The blind plugin author's finding: a derivation that raises was met only by the claims
    that build it, each an error, while the README says these commands refuse a broken plugin
    before they start."""
    plugins(FakeEntryPoint("adam", replace(ADAM, derivation=derivation)))
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'steps = 2\narchitectures = ["sine_skip"]\ndata = "sine"\n'
        '[[optimizers]]\nname = "gd"\nlr = 0.1\n'
    )
    for args in (
        ["verify", "--profile", "fast", "--claim", "forward-equals-spec"],
        ["sweep", str(sweep), "--db", str(tmp_path / "s.sqlite")],
        ["report", "--out", str(tmp_path / "r"), "--profile", "smoke"],
        ["derive", "adam"],
    ):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.strip().splitlines() == [f"error: plugin 'adam' (fake_plugin:ADAM): {says}"]
    assert not (tmp_path / "s.sqlite").exists() and not (tmp_path / "r").exists()


def test_a_plugin_factory_that_raises_is_one_line_in_train(plugins, tmp_path):
    plugins(FakeEntryPoint("adam", replace(ADAM, factory=_exploding)))
    args = ["train", "sine_skip", "--data", "sine", "--optimizer", "adam", "--lr", "0.1"]
    r = CliRunner().invoke(main, [*args, "--steps", "2", "--out", str(tmp_path / "o")])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert lines[0].startswith("error: plugin 'adam' (fake_plugin:ADAM): its factory")
    assert lines[0].endswith("RuntimeError: factory exploded")


def test_builtin_factories_check_their_own_ranges(monkeypatch):
    """The built-ins validate in impl.optim (validates=True), so the registry does not mask a
    mistake there: with momentum's range check disabled, train accepts momentum = 1 (the
    mutation tests of impl/optim see it); a plugin's values are checked by the registry."""
    import importlib

    from descentcheck.impl.trainer import train

    mom = importlib.import_module(
        "descentcheck.impl.optim.momentum"
    )  # the module, not the function

    net, params, x, y = _sine_case()
    with pytest.raises(HyperparameterError, match=r"momentum must lie in \[0, 1\)"):
        train(net, params, x, y, optimizer="momentum", lr=0.01, momentum=1.0, steps=1)
    monkeypatch.setattr(mom, "check_number", lambda name, v, **kw: float(v))
    traj = train(net, params, x, y, optimizer="momentum", lr=0.01, momentum=1.0, steps=1)
    assert traj.hyperparameters["momentum"] == 1.0
    assert all(e.validates for e in reg.BUILTINS) and not ADAM.validates


def test_an_initial_state_may_name_a_hyperparameter():
    """AdaGrad's accumulator starts at a hyperparameter: the rule unrolls with its value (it
    crashed converting the symbol to float; found by a held-out plugin)."""
    import mpmath

    from descentcheck.theory.update_rules import unroll

    lr, a0, g, G = sp.symbols("lr a0 g G", real=True)
    rule = UpdateRule(
        step=-lr * g / sp.sqrt(G),
        gradient=g,
        hyperparameters={"lr": lr, "a0": a0},
        state={G: G + g**2},
        initial={G: a0},
    )
    with mpmath.workdps(40):
        (d0,), (d1,) = unroll(rule, {"lr": 0.125, "a0": 0.5}, [[1.0], [2.0]])
        assert abs(d0 - (-0.125 / mpmath.sqrt(1.5))) < mpmath.mpf(10) ** -35
        assert abs(d1 - (-0.25 / mpmath.sqrt(5.5))) < mpmath.mpf(10) ** -35


def test_update_claim_names_a_plugin_whose_derivation_cannot_be_evaluated(plugins, tmp_path):
    """A derivation with a symbol it does not declare: the claim's error names the plugin
    (it said only "cannot create mpf from ... mystery")."""
    plugins(FakeEntryPoint("adam", replace(ADAM, derivation=_mystery_rule)))
    entry = _update_claim(tmp_path, ("adam",))
    assert entry["outcome"] in ("error", "falsified")
    text = entry["message"]
    assert "plugin 'adam' (fake_plugin:ADAM): its derivation cannot be evaluated" in text, text


def _make_scaled(lr, c=1.0):
    def update(grads, state, params):
        return {k: -lr * c * g for k, g in grads.items()}, state, StepInfo(None)

    return Optimizer("scaled", {"lr": lr, "c": c}, lambda params: None, update)


def _scaled_rule():
    lr, c, g = sp.symbols("lr c g", real=True)
    return UpdateRule(step=-lr * c * g, gradient=g, hyperparameters={"lr": lr, "c": c})


def test_theory_evaluates_a_hyperparameter_without_draw_at_its_default(plugins):
    """A blind author's float hyperparameter declared without ``draw`` failed theory with
    "cannot create mpf from ...*c": its symbol was left unevaluated; the README says the
    checks then use the default."""
    from descentcheck.theory.optimizer_agreement import compare_registered

    c = Hyperparameter("c", "float", "step multiplier", 1.0, low_open=True)
    entry = OptimizerEntry(
        "scaled",
        "dw = -lr c g",
        (LR, c),
        factory=_make_scaled,
        derivation=_scaled_rule,
        no_region="a test",
    )
    plugins(FakeEntryPoint("scaled", entry))
    assert coverage_problems(reg.get("scaled")) == []
    results = {r.name: r for r in compare_registered(sequences=2)}
    assert results["scaled"].ok, results["scaled"].problem()
    # and a wrong factory is still caught at the default (c = 1 makes -lr c g equal -lr g,
    # so the planted bug must involve c: -lr c^2 g at c = 2)
    wrong = replace(
        entry,
        factory=lambda lr, c=2.0: _make_scaled(lr, c * c),
        hyperparameters=(LR, replace(c, default=2.0)),
    )
    plugins(FakeEntryPoint("scaled", wrong))
    assert not {r.name: r for r in compare_registered(sequences=2)}["scaled"].ok


def test_a_callable_regions_empty_latex_or_mathml_is_printed_from_its_condition():
    """The README's example region leaves mathml="": derive printed a blank line for it."""
    from descentcheck.theory.descent import Region

    lr, c, L = sp.symbols("lr c L", positive=True)

    def region():
        return Region(
            "scaled",
            sp.StrictLessThan(lr * c * L, 2),
            "",
            "",
            "lr c L < 2",
            lambda lr, c, L: 0 < lr * c * L < 2,
        )

    entry = OptimizerEntry("scaled", "dw = -lr c g", (LR,), region=region)
    printed = reg.region_of(entry)
    # lr as the rule above it prints it (eta), not l r
    assert printed.latex == sp.latex(sp.StrictLessThan(lr * c * L, 2), symbol_names={lr: r"\eta"})
    assert r"\eta" in printed.latex and "lr" not in printed.latex
    momentum = sp.Symbol("momentum", positive=True)
    words = replace(region(), condition=sp.StrictLessThan(momentum * lr, 1))
    shown = reg.region_of(replace(entry, region=lambda: words)).latex
    assert r"\mathrm{momentum}" in shown, shown
    assert printed.mathml.startswith("<math") and "<mi>c</mi>" in printed.mathml
    # and eta in the MathML too, as derive's MathML prints the rule (a held-out plugin audit)
    assert "<mi>&#951;</mi>" in printed.mathml and "<mi>lr</mi>" not in printed.mathml
    given = reg.region_of(replace(entry, region=lambda: replace(region(), latex="x", mathml="y")))
    assert (given.latex, given.mathml) == ("x", "y")  # what the plugin wrote is kept


def test_the_claims_train_a_plugin_whose_required_float_has_no_draw(plugins, tmp_path):
    """A held-out author's optimizer with a required float and no ``draw`` loaded and passed
    theory (which takes ``example_value``), but four claims trained it without that value and
    were falsified with "needs c": they take ``example_value`` now too."""
    from descentcheck.properties.claims import BY_ID
    from descentcheck.properties.profiles import get_profile
    from descentcheck.properties.registered_updates import hyperparameter_draws
    from descentcheck.properties.runner import run_claim
    from descentcheck.registry.optimizers import example_value

    c = Hyperparameter("c", "float", "step multiplier", low_open=True)
    assert c.required and c.draw is None and example_value(c) == 0.5
    entry = OptimizerEntry(
        "scaled",
        "dw = -lr c g",
        (replace(LR, draw=(1e-3, 0.05, True)), c),
        factory=_make_scaled,
        derivation=_scaled_rule,
        no_region="a test",
    )
    plugins(FakeEntryPoint("scaled", entry))
    assert "c" in hyperparameter_draws("scaled").wrapped_strategy.mapping
    profile = replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)
    for claim in (
        "update-equals-derived-rule",
        "trajectory-records-its-settings",
        "trajectory-records-equal-the-observables",
        "device-path-equals-numpy-path",
    ):
        entry = run_claim(BY_ID[claim], profile)
        assert entry["outcome"] == "held", (claim, entry["message"])
        if claim == "update-equals-derived-rule":
            assert entry["measured"]["runs_scaled"] > 0, entry["measured"]


# ---- a derivation that depends on a choice hyperparameter ---------------------------------------


def _make_signum(lr, mode="sign"):
    def update(grads, state, params):
        step = {k: (np.sign(g) if mode == "sign" else g) for k, g in grads.items()}
        return {k: -lr * v for k, v in step.items()}, state, StepInfo(None)

    return Optimizer("signum", {"lr": lr, "mode": mode}, lambda params: None, update)


def _signum_rule(mode="sign"):
    lr, g = sp.symbols("lr g", real=True)
    return UpdateRule(
        step=-lr * (sp.sign(g) if mode == "sign" else g), gradient=g, hyperparameters={"lr": lr}
    )


SIGNUM = OptimizerEntry(
    "signum",
    "dw = -lr sign(g), or -lr g (mode)",
    (
        replace(LR, draw=(1e-3, 0.05, True)),
        Hyperparameter("mode", "choice", "sign or plain", "sign", choices=("sign", "plain")),
    ),
    factory=_make_signum,
    derivation=_signum_rule,
    no_region="a test",
)


def test_a_derivation_may_depend_on_a_choice(plugins, tmp_path):
    """A held-out author's optimizer with mode in {sign, plain} could pass neither theory nor
    the ledger: its derivation took no arguments, so one rule stood for both modes. A
    derivation taking the choice as a keyword gets each setting's value; without it (the
    mutant) theory's agreement and the ledger's update claim fail, naming the mode."""
    from descentcheck.theory.optimizer_agreement import compare_registered

    plugins(FakeEntryPoint("signum", SIGNUM))
    entry = reg.get("signum")
    assert entry.derivation_settings() == [{"mode": "sign"}, {"mode": "plain"}]
    assert coverage_problems(entry) == []
    g, lr = sp.symbols("g lr", real=True)
    assert entry.build_derivation(mode="plain", lr=0.1).step == -lr * g
    assert entry.build_derivation().step == -lr * sp.sign(g)  # the default
    assert {r.name: r for r in compare_registered(sequences=2)}["signum"].ok
    shown = json.loads(CliRunner().invoke(main, ["derive", "signum", "--format", "json"]).output)
    assert shown["setting"] == {"mode": "sign"} and shown["step"] == "-lr*sign(g)"
    text = CliRunner().invoke(main, ["derive", "signum"]).output
    assert "the rule shown is for mode = 'sign', its default (--setting mode=...)" in text
    # another setting from the command line (a held-out author could only reach it in Python)
    args = ["derive", "signum", "--setting", "mode=plain"]
    shown = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).output)
    assert shown["setting"] == {"mode": "plain"} and shown["step"] == "-g*lr"
    text = CliRunner().invoke(main, args).output
    assert "the rule shown is for mode = 'plain', as asked" in text and "- g \\eta" in text
    for bad, says in (
        ("mode=both", "error: unknown mode 'both'; known: sign, plain"),
        ("mdoe=plain", "error: signum has no choice 'mdoe' (its choices: mode); did you mean"),
        ("mode", "error: --setting takes NAME=VALUE, got 'mode'"),
    ):
        r = CliRunner().invoke(main, ["derive", "signum", "--setting", bad])
        assert r.exit_code == 2 and r.output.startswith(says), r.output
    # two values for one choice: the last won, silently (fourth held-out plugin audit)
    r = CliRunner().invoke(main, ["derive", "signum", *["--setting", "mode=sign"] * 2])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, [*args, "--setting", "mode=sign"])
    assert r.exit_code == 2
    assert r.output == "error: --setting mode given twice: 'plain' and 'sign'\n", r.output
    held = _update_claim(tmp_path / "a", ("signum",))
    assert held["outcome"] == "held"
    # counted per setting (it said runs_signum for both)
    assert held["measured"]["runs_signum_sign"] > 0 and held["measured"]["runs_signum_plain"] > 0

    one_rule = replace(SIGNUM, derivation=lambda: _signum_rule("sign"))
    plugins(FakeEntryPoint("signum", one_rule))
    assert reg.get("signum").derivation_settings() == [{}]
    assert not {r.name: r for r in compare_registered(sequences=2)}["signum"].ok
    entry = _update_claim(tmp_path / "b", ("signum",))
    assert entry["outcome"] == "falsified" and "mode='plain'" in entry["message"], entry
    assert entry["measured"]["counterexample_runs_tested"] >= 1, entry["measured"]  # a test


def test_a_derivation_keyword_naming_no_choice_and_a_raising_setting_are_named(plugins):
    """Held-out authors': ``def rule(mdoe="sign")`` (a keyword naming no choice) was one rule
    for every setting without a word; a derivation raising in one setting only did not say
    which."""

    def misspelt(mdoe="sign"):
        return _signum_rule(mdoe)

    plugins(FakeEntryPoint("signum", replace(SIGNUM, derivation=misspelt)))
    problems = coverage_problems(reg.get("signum"))
    assert (
        "optimizer signum: its derivation takes 'mdoe', which names no choice hyperparameter "
        "(its choices: mode): it is never given a value, so one rule stands for every setting"
    ) in problems, problems

    def raising(mode="sign"):
        if mode == "plain":
            raise RuntimeError("boom")
        return _signum_rule(mode)

    plugins(FakeEntryPoint("signum", replace(SIGNUM, derivation=raising)))
    problems = coverage_problems(reg.get("signum"))
    assert problems == [
        "optimizer signum: no SymPy derivation for mode='plain' (RuntimeError: boom)"
    ], problems


def test_every_setting_of_a_choice_dependent_derivation_is_checked(plugins, tmp_path):
    """verify's check before it starts (and derive's) builds the rule of every setting: a
    symbol left undeclared in the non-default mode only is refused, naming the mode."""

    def rule(mode="sign"):
        base = _signum_rule(mode)
        return base if mode == "sign" else replace(base, step=base.step * sp.Symbol("rho"))

    plugins(FakeEntryPoint("signum", replace(SIGNUM, derivation=rule)))
    r = CliRunner().invoke(main, ["derive", "signum"])
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        "error: plugin 'signum' (fake_plugin:ADAM): optimizer signum: its derivation uses "
        "undeclared symbols ['rho'] for mode='plain'"
    ], r.output


def test_a_refused_region_does_not_skip_the_update_comparison(plugins):
    """A held-out author's finding: with its region refused, an optimizer dropped out of
    theory's update-against-derivation comparison silently; a wrong update must still show."""
    from descentcheck.theory.optimizer_agreement import compare_registered

    def region():
        raise RuntimeError("region exploded")

    wrong = replace(
        SIGNUM,
        factory=lambda lr, mode="sign": _make_signum(2 * lr, mode),
        region=region,
        no_region=None,
    )
    plugins(FakeEntryPoint("signum", wrong))
    assert any("region" in p for p in coverage_problems(reg.get("signum")))
    result = {r.name: r for r in compare_registered(sequences=2)}
    assert "signum" in result and not result["signum"].ok


@pytest.mark.parametrize(
    "args", [["derive", "tanh"], ["gradcheck", "sine_skip", "--data", "sine"], ["examples"]]
)
def test_every_command_stops_at_a_refused_optimizer_plugin(plugins, args):
    """The README says every command reads the optimizer registry; a held-out author found
    derive (of an op), gradcheck, examples and datasets running past a refused plugin."""
    plugins(FakeEntryPoint("adam", replace(ADAM, derivation=None)))
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        "error: plugin 'adam' (fake_plugin:ADAM): optimizer adam has no SymPy derivation "
        "(derivation)"
    ], (args, r.output)


def test_a_miss_where_the_rule_resolves_no_sign_counts_as_a_tested_run(plugins, tmp_path):
    """A derivation stating a zero step for an optimizer that moves: every entry of the rule is
    within its tolerance of 0 (no sign resolved), yet the applied step misses it. The run that
    falsified the claim was counted vacuous (runs_tested 0 beside the verdict)."""

    def still(mode="sign"):
        lr, g = sp.symbols("lr g", real=True)
        return UpdateRule(step=0 * lr * g, gradient=g, hyperparameters={"lr": lr})

    plugins(FakeEntryPoint("signum", replace(SIGNUM, derivation=still)))
    entry = _update_claim(tmp_path, ("signum",))
    assert entry["outcome"] == "falsified", entry
    m = entry["measured"]
    assert m["counterexample_entries_sign_resolved"] == 0, m
    assert m["counterexample_runs_tested"] >= 1 and m["counterexample_runs_vacuous"] == 0, m
