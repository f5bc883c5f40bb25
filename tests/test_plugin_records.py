"""The trajectory claims run installed plugin optimizers too: a sound plugin passes both, and
the bugs a plugin can bring into a run's records are named (state that keeps a reference to
the parameters, a setting recorded under another name, an update that raises)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sympy as sp
from optimizer_plugins import FakeEntryPoint

from descentcheck.impl.optim.base import Optimizer, StepInfo
from descentcheck.properties.claims.observables import TRAJECTORY_RECORDS_OBSERVABLES
from descentcheck.properties.claims.records import RECORDS_SETTINGS
from descentcheck.properties.profiles import get_profile
from descentcheck.properties.runner import run_claim
from descentcheck.registry.optimizers import LR, Hyperparameter, OptimizerEntry, UpdateRule

BETA = Hyperparameter(
    "beta", "float", "momentum", 0.5, high=1.0, high_open=True, draw=(0.1, 0.9, False)
)


def make_ball(lr: float, beta: float = 0.5) -> Optimizer:
    """Heavy ball written as a plugin would: pure, fresh arrays every step."""

    def init(params):
        return {k: 0.0 * v for k, v in params.items()}

    def update(grads, state, params):
        dw = {k: beta * state[k] - lr * g for k, g in grads.items()}
        return dw, dw, StepInfo(beta)

    return Optimizer("ball", {"lr": lr, "beta": beta}, init, update)


def make_anchored(lr: float, beta: float = 0.5) -> Optimizer:
    """Pulls towards w_0, keeping the arrays ``init`` was given as w_0 (no copy of its own):
    they moved with w on the in-place path, where the pull vanished, until the trainer gave a
    dict form a copy of ``w_k``."""

    def update(grads, anchor, params):
        dw = {k: -lr * g + beta * (anchor[k] - params[k]) for k, g in grads.items()}
        return dw, anchor, StepInfo(None)

    return Optimizer("ball", {"lr": lr, "beta": beta}, lambda params: params, update)


def make_misnamed(lr: float, beta: float = 0.5) -> Optimizer:
    opt = make_ball(lr, beta)
    return replace(opt, hyperparameters={"learning_rate": lr, "beta": beta})


def make_raising(lr: float, beta: float = 0.5) -> Optimizer:
    def update(grads, state, params):
        raise ValueError("no update today")

    return Optimizer("ball", {"lr": lr, "beta": beta}, lambda params: None, update)


def ball_rule() -> UpdateRule:
    lr, beta, g, m = sp.symbols("lr beta g m", real=True)
    return UpdateRule(
        step=m, gradient=g, hyperparameters={"lr": lr, "beta": beta}, state={m: beta * m - lr * g}
    )


def ball(factory) -> OptimizerEntry:
    return OptimizerEntry(
        name="ball",
        summary="heavy ball, as a plugin",
        hyperparameters=(LR, BETA),
        factory=factory,
        derivation=ball_rule,
        no_region="a test plugin",
    )


def _run(claim, tmp_path) -> dict:
    return run_claim(claim, replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1))


@pytest.mark.parametrize("claim", [RECORDS_SETTINGS, TRAJECTORY_RECORDS_OBSERVABLES])
def test_a_sound_plugin_is_run_and_holds(plugins, tmp_path, claim):
    plugins(FakeEntryPoint("ball", ball(make_ball)))
    entry = _run(claim, tmp_path)
    assert entry["outcome"] == "held", entry["message"]
    assert entry["measured"]["runs_of_plugins"] >= 10, entry["measured"]


def test_without_plugins_no_plugin_runs(tmp_path):
    entry = _run(RECORDS_SETTINGS, tmp_path)
    assert entry["outcome"] == "held" and entry["measured"]["runs_of_plugins"] == 0


def test_a_plugin_keeping_the_parameters_it_was_given_runs_alike_on_both_paths(plugins, tmp_path):
    """A plugin's state may keep the ``params`` it is given (an anchor, Lookahead's slow
    weights): the trainer hands a dict form a copy of w_k. It was handed views of the iterate,
    so the in-place path (the CLI's) drifted from ``reference_trajectory``'s (a held-out plugin
    audit: loss 0.1986 against 0.1423 at step 2); the claim named the plugin then."""
    plugins(FakeEntryPoint("ball", ball(make_anchored)))
    entry = _run(TRAJECTORY_RECORDS_OBSERVABLES, tmp_path)
    assert entry["outcome"] == "held", entry["message"]
    assert entry["measured"]["runs_of_plugins"] >= 10, entry["measured"]


def test_a_path_dependent_plugin_is_still_named(plugins, tmp_path):
    """The claim still compares the two paths for a plugin: one whose update reads how often
    it was built (a global, not its inputs) differs between them, and is named."""
    built = []

    def make_counting(lr: float, beta: float = 0.5) -> Optimizer:
        built.append(1)
        opt, n = make_ball(lr, beta), len(built)

        def update(grads, state, params):
            dw, state, info = opt.update(grads, state, params)
            return {k: v * (1 + 1e-3 * (n % 2)) for k, v in dw.items()}, state, info

        return replace(opt, update=update)

    plugins(FakeEntryPoint("ball", ball(make_counting)))
    entry = _run(TRAJECTORY_RECORDS_OBSERVABLES, tmp_path)
    assert entry["outcome"] == "falsified"
    assert entry["message"].startswith("ball: "), entry["message"]
    assert "differ between keep_params=True and False" in entry["message"]


@pytest.mark.parametrize(
    ("factory", "says"),
    [
        (make_misnamed, "ball: lr = "),
        (make_raising, "ball: training failed: "),
    ],
)
def test_a_plugins_mistake_in_its_records_is_named(plugins, tmp_path, factory, says):
    plugins(FakeEntryPoint("ball", ball(factory)))
    entry = _run(RECORDS_SETTINGS, tmp_path)
    assert entry["outcome"] == "falsified"
    assert entry["message"].startswith(says), entry["message"]
    assert "\n" not in entry["message"]


def test_a_replay_command_needing_a_plugin_runs_the_environments_python(plugins, tmp_path):
    """A counterexample trained with a plugin optimizer (or op) is replayed by
    ``python -m descentcheck train``: the ``descentcheck`` script on the PATH may be another
    interpreter's, which does not see the plugin (the README's advice); a built-in run keeps
    ``descentcheck train``; either command runs."""
    from click.testing import CliRunner

    from descentcheck.cli import main
    from descentcheck.properties.counterexample import replay_args, write_replay

    plugins(FakeEntryPoint("ball", ball(make_ball)))
    spec = {
        "inputs": 2,
        "output": "out",
        "loss": "mse",
        "nodes": [{"name": "out", "op": "dense", "inputs": ["input"], "units": 1}],
    }
    ce = {
        "spec": spec,
        "data": {"x": [[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]], "y": [[1.0], [0.0], [-1.0]]},
        "params": {"out.W": [[0.1], [-0.2]], "out.b": [0.0]},
        "step": 0,
    }
    for optimizer, start in (("ball", ["python", "-m", "descentcheck"]), ("gd", ["descentcheck"])):
        run = {**ce, "hyperparameters": {"optimizer": optimizer, "lr": 0.1, "steps": 2}}
        write_replay(run, tmp_path / optimizer)
        args = replay_args(run, tmp_path / optimizer)
        assert args[: len(start) + 1] == [*start, "train"], args
        result = CliRunner().invoke(main, args[len(start) :])
        assert result.exit_code == 0, result.output


def test_the_reports_trajectories_record_a_plugins_defaults(plugins):
    """The report's trajectories table showed a plugin's run as "lr = 0.01", without the
    default beta = 0.5 it ran with (a held-out audit's plugin: its c)."""
    from descentcheck.reports.trajectories import run_dag

    plugins(FakeEntryPoint("ball", ball(make_ball)))
    runs = run_dag("chain_iris", steps=2, seed=0)["runs"]
    assert runs["ball"]["hyperparameters"] == {"lr": 0.01, "beta": 0.5}
    assert runs["rmsprop"]["hyperparameters"] == {
        "lr": 0.01,
        "rho": 0.99,
        "eps": 1e-8,
        "momentum": 0.0,
    }


@pytest.mark.parametrize(
    ("default", "outcome"), [(None, "held"), (0.5, "held"), (0.7, "falsified")]
)
def test_a_plugin_factorys_own_defaults_are_held_to_the_declared_ones(
    plugins, tmp_path, default, outcome
):
    """``optimizer-factories-default-as-declared``: a factory default that differs from the
    declared one is named; a factory with no default of its own for a declared one is not (a
    held-out author's was failed, "missing 1 required positional argument: 'beta'", against
    the claim's statement, "where it has one")."""
    from descentcheck.properties.claims import BY_ID

    if default is None:

        def factory(lr, beta):
            return make_ball(lr, beta)
    else:

        def factory(lr, beta=default):
            return make_ball(lr, beta)

    plugins(FakeEntryPoint("ball", ball(factory)))
    entry = _run(BY_ID["optimizer-factories-default-as-declared"], tmp_path)
    assert entry["outcome"] == outcome, entry["message"]
    if outcome == "falsified":
        assert "ball: beta defaults to 0.7, declared 0.5" in entry["message"], entry["message"]
