"""descentcheck.testing: the reference trajectory, and an assertion that names the first step and
quantity where a candidate leaves it (and stays quiet while it does not)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

import descentcheck as dc
from descentcheck.impl.examples import EXAMPLES
from descentcheck.properties.profiles import TEST_PROFILE_MEDIUM, hypothesis_settings
from descentcheck.testing import (
    TrajectoryMismatch,
    assert_trajectory_close,
    reference_trajectory,
)

pytest_plugins = ["pytester"]  # the traceback test runs pytest on a file of its own

STEPS = 6
HP = {"lr": 0.1, "momentum": 0.5}


@pytest.fixture(scope="module")
def problem():
    spec = EXAMPLES["design"]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((10, spec["inputs"]))
    y = rng.standard_normal((10, 2))
    params = dc.Network.from_spec(spec).init(seed=1, x=x)
    return spec, params, x, y


@pytest.fixture(scope="module")
def ref(problem):
    spec, params, x, y = problem
    return reference_trajectory(spec, params, x, y, optimizer="momentum", steps=STEPS, **HP)


def records(traj) -> list[dict]:
    """The trajectory as a training loop would log it: one dict per step."""
    out = []
    for k, loss in enumerate(traj.losses):
        r = {
            "loss": float(loss),
            "params": {n: a.copy() for n, a in traj.params_history[k].items()},
        }
        if k < len(traj.grad_norms):
            r["grad_norm"] = float(traj.grad_norms[k])
        out.append(r)
    return out


def test_reference_is_the_trainer_with_every_iterate(problem, ref) -> None:
    spec, params, x, y = problem
    before = {k: v.copy() for k, v in params.items()}
    net = dc.Network.from_spec(spec)
    plain = dc.train(net, params, x, y, optimizer="momentum", steps=STEPS, **HP)
    np.testing.assert_array_equal(ref.losses, plain.losses)
    assert len(ref.params_history) == STEPS + 1
    for k in params:
        np.testing.assert_array_equal(ref.params_history[0][k], before[k])
        np.testing.assert_array_equal(ref.params_history[-1][k], plain.params[k])
        np.testing.assert_array_equal(params[k], before[k])  # the caller's arrays untouched
    assert ref.losses[-1] < ref.losses[0]


def test_every_accepted_shape_of_the_same_run_passes(ref) -> None:
    recs = records(ref)
    as_json = json.loads(json.dumps(ref.to_json()))  # trajectory.json: losses and norms only
    mapping = {
        "losses": list(ref.losses),
        "grad_norms": list(ref.grad_norms),
        "params": [dict(p) for p in ref.params_history],
    }
    final_only = {"losses": ref.losses.tolist(), "params": ref.params}
    for candidate in (ref, recs, {"steps": recs}, as_json, mapping, final_only):
        assert_trajectory_close(ref, candidate)
    assert_trajectory_close(recs, ref)  # either side may be any shape


def test_the_cli_run_is_read_from_its_folder_or_file(problem, ref, tmp_path) -> None:
    """``descentcheck train``'s output, by its folder or its trajectory.json, is a candidate;
    a run with another momentum is told apart at step 2 (w_2 is the first it moves)."""
    from click.testing import CliRunner

    from descentcheck.cli import main

    spec, params, x, y = problem
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.savez(tmp_path / "w0.npz", **params)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    for beta, out in ((HP["momentum"], "same"), (0.4, "other")):
        args = ["train", str(tmp_path / "spec.json"), "--data", str(tmp_path / "d.npz")]
        args += ["--init", str(tmp_path / "w0.npz"), "--optimizer", "momentum", "--lr", "0.1"]
        args += ["--momentum", str(beta), "--steps", str(STEPS), "--out", str(tmp_path / out)]
        assert CliRunner().invoke(main, [*args, "-q"]).exit_code == 0
    assert_trajectory_close(ref, tmp_path / "same")
    assert_trajectory_close(ref, str(tmp_path / "same" / "trajectory.json"))
    with pytest.raises(TrajectoryMismatch, match="at step 2, loss"):
        assert_trajectory_close(ref, tmp_path / "other")
    # trajectory.json records its params.npz's digest: another run's file beside it (a kill -9
    # between the pair's renames, trainer audit) is refused, not compared as this run's w_K
    doc_path = tmp_path / "same" / "trajectory.json"
    doc = json.loads(doc_path.read_text())
    npz = tmp_path / "same" / "params.npz"
    assert doc["params_sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
    own = npz.read_bytes()
    npz.write_bytes((tmp_path / "other" / "params.npz").read_bytes())
    with pytest.raises(ValueError, match="not the params.npz its trajectory.json was written"):
        assert_trajectory_close(ref, tmp_path / "same")
    npz.write_bytes(own)
    # its params.npz is w_K: a held-out audit added 1 to every entry and the folder passed (a
    # folder without the digest: written before it, or by another tool)
    doc_path.write_text(json.dumps({k: v for k, v in doc.items() if k != "params_sha256"}))
    saved = dict(np.load(npz))
    name = sorted(saved)[0]
    np.savez(npz, **{**saved, name: saved[name] + 1e-6})
    for side in (tmp_path / "same", doc_path):
        with pytest.raises(TrajectoryMismatch, match=f"at step {STEPS}, parameter {name}"):
            assert_trajectory_close(ref, side)


def test_a_run_folder_that_is_not_whole_is_refused(problem, ref, tmp_path) -> None:
    """A held-out tester's damaged run folders passed or misled: a ``trajectory.json`` of
    format version 99 was read, one cut to 3 of its records read as a parameter mismatch at
    step 2, and a deleted ``params.npz`` left w_K uncompared."""
    from click.testing import CliRunner

    from descentcheck.cli import main

    spec, params, x, y = problem
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.savez(tmp_path / "w0.npz", **params)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    args = ["train", str(tmp_path / "spec.json"), "--data", str(tmp_path / "d.npz")]
    args += ["--init", str(tmp_path / "w0.npz"), "--optimizer", "momentum", "--lr", "0.1"]
    args += ["--momentum", str(HP["momentum"]), "--steps", str(STEPS), "--out", str(tmp_path / "r")]
    assert CliRunner().invoke(main, [*args, "-q"]).exit_code == 0
    run, doc_path = tmp_path / "r", tmp_path / "r" / "trajectory.json"
    doc = json.loads(doc_path.read_text())
    assert_trajectory_close(ref, run)  # whole, it passes
    for damaged, says in (
        ({**doc, "format": "descentcheck.trajectory/99"}, "format 'descentcheck.trajectory/99'"),
        ({**doc, "steps": doc["steps"][:3]}, f"run of {STEPS} steps holds 3 step records"),
    ):
        doc_path.write_text(json.dumps(damaged))
        for side in (run, doc_path, damaged):  # the folder, the file, the loaded document
            with pytest.raises(ValueError, match=re.escape(says)):
                assert_trajectory_close(ref, side)
    doc_path.write_text(json.dumps(doc))
    (run / "params.npz").unlink()
    with pytest.raises(ValueError, match="params.npz is missing"):
        assert_trajectory_close(ref, run)


@hypothesis_settings(
    TEST_PROFILE_MEDIUM, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    step=st.integers(0, STEPS),
    quantity=st.sampled_from(["loss", "grad_norm", "params"]),
    factor=st.floats(1e-6, 1e-1),
    sign=st.sampled_from([-1.0, 1.0]),
    data=st.data(),
)
def test_a_one_step_perturbation_is_named_by_step_and_quantity(
    ref, step, quantity, factor, sign, data
) -> None:
    """Perturb one value of one step by far more than rtol: the assertion fires at that step,
    naming that quantity (and for a parameter, the array and entry)."""
    recs = records(ref)
    if quantity == "loss":
        recs[step]["loss"] *= 1 + sign * factor
        expected = "loss"
    elif quantity == "grad_norm":
        step = min(step, len(ref.grad_norms) - 1)
        recs[step]["grad_norm"] *= 1 + sign * factor
        expected = "grad_norm"
    else:
        name = data.draw(st.sampled_from(sorted(ref.params)))
        arr = recs[step]["params"][name]
        i = data.draw(st.integers(0, arr.size - 1))
        scale = float(np.abs(arr).max()) or 1.0  # a zero-initialised bias: an absolute step
        arr.reshape(-1)[i] += sign * factor * scale
        idx = np.unravel_index(i, arr.shape)
        expected = f"parameter {name}[{', '.join(str(int(j)) for j in idx)}]"
    with pytest.raises(TrajectoryMismatch) as err:
        assert_trajectory_close(ref, recs, rtol=1e-9)
    assert err.value.step == step and err.value.quantity == expected
    msg = str(err.value)
    assert "\n" not in msg
    assert f"step {step}, {expected}:" in msg


def test_a_perturbation_inside_the_tolerance_passes(ref) -> None:
    recs = records(ref)
    recs[3]["loss"] *= 1 + 1e-12
    recs[2]["grad_norm"] *= 1 - 1e-12
    recs[4]["params"]["h1.W"] += 1e-12 * np.abs(recs[4]["params"]["h1.W"]).max()
    assert_trajectory_close(ref, recs, rtol=1e-10)
    with pytest.raises(TrajectoryMismatch, match="step 2, grad_norm"):
        assert_trajectory_close(ref, recs, rtol=1e-13)
    # per-quantity tolerances: the loss is held tight, the rest loose
    with pytest.raises(TrajectoryMismatch, match="step 3, loss"):
        assert_trajectory_close(ref, recs, rtol={"loss": 1e-13, "grad_norm": 1e-10, "params": 1})


def test_atol_admits_an_absolute_difference(ref) -> None:
    recs = records(ref)
    recs[1]["loss"] += 1e-8
    with pytest.raises(TrajectoryMismatch, match="step 1, loss"):
        assert_trajectory_close(ref, recs, rtol=1e-12)
    assert_trajectory_close(ref, recs, rtol=1e-12, atol={"loss": 2e-8})


def test_different_lengths_and_names_are_mismatches(ref) -> None:
    recs = records(ref)
    with pytest.raises(TrajectoryMismatch, match=r"step 6, number of steps") as err:
        assert_trajectory_close(ref, recs[:-1])
    assert err.value.quantity == "number of steps"
    del recs[2]["params"]["h1.b"]
    with pytest.raises(TrajectoryMismatch, match=r"step 2, parameter names: .*missing \['h1.b'\]"):
        assert_trajectory_close(ref, recs)
    recs = records(ref)
    recs[3]["params"]["H1.b"] = recs[3]["params"].pop("h1.b")  # a misspelt name: both named
    with pytest.raises(TrajectoryMismatch, match=r"missing \['h1.b'\] and unexpected \['H1.b'\]"):
        assert_trajectory_close(ref, recs)
    recs = records(ref)
    recs[1]["params"]["h1.b"] = recs[1]["params"]["h1.b"][:-1]
    with pytest.raises(TrajectoryMismatch, match=r"step 1, parameter h1.b: shape"):
        assert_trajectory_close(ref, recs)


def test_non_finite_values_match_only_themselves(ref) -> None:
    recs = records(ref)
    recs[-1]["loss"] = float("nan")
    with pytest.raises(TrajectoryMismatch, match=r"step 6, loss: candidate nan"):
        assert_trajectory_close(ref, recs)
    with pytest.raises(TrajectoryMismatch, match=r"\(a non-finite value matches only itself\)"):
        assert_trajectory_close({"losses": [float("inf")]}, {"losses": [float("-inf")]})
    diverged = {"losses": [1.0, float("inf")]}
    assert_trajectory_close(diverged, {"steps": [{"loss": 1.0}, {"loss": "inf"}]})
    with pytest.raises(TrajectoryMismatch, match="step 1, loss"):
        assert_trajectory_close(diverged, {"losses": [1.0, float("-inf")]})


class _RequiresGrad:
    """Stands in for a torch tensor that requires grad: numpy's conversion raises torch's
    error (torch itself is not needed to show the message)."""

    def __array__(self, *args, **kwargs):
        raise RuntimeError(
            "Can't call numpy() on Tensor that requires grad.\nUse tensor.detach().numpy()"
        )


@pytest.mark.parametrize(
    ("candidate", "error", "message"),
    [
        (3.0, TypeError, "expected a Trajectory"),
        ("losses", ValueError, "candidate: trajectory file not found: losses"),
        # Path.is_dir raised OSError for a name too long to be a file (found by fuzzing)
        ("a" * 300, ValueError, "cannot read candidate: trajectory file a.*File name too long"),
        ({"values": [1.0]}, ValueError, "needs 'losses'"),
        ({"loss": [1.0]}, ValueError, "unknown key 'loss'; did you mean 'losses'"),
        # a misspelt quantity would silently never be compared
        ({"losses": [1.0], "grad_norm": [9.0]}, ValueError, "'grad_norm'; did you mean 'grad_n"),
        ([{"loss": 1.0, "grad_norms": 9.0}], ValueError, "record 0: unknown key 'grad_norms'"),
        ([{"loss": 1.0}, {"grad_norm": 1.0}], ValueError, "step record 1 has no 'loss'"),
        ([1.0, 2.0], TypeError, "per-step record must be a dict"),
        ({"losses": ["a"]}, ValueError, "candidate losses: expected a sequence of numbers"),
        ({"losses": [1.0], "params": [3]}, TypeError, r"params\[0\]: expected a dict"),
        # a held-out user: these were taken for numbers (the complex one with a warning only)
        ({"losses": ["1.0"]}, ValueError, "'1.0' is not a real number"),
        ({"losses": [True]}, ValueError, "True is not a real number"),
        ({"losses": [1.0 + 0j]}, ValueError, r"\(1\+0j\) is not a real number"),
        (
            {"losses": [1.0], "params": [{"a.W": np.array([1.0, 2.0 + 1j])}]},
            ValueError,
            r"params\[0\]: a.W is not a real float array \(dtype complex128\)",
        ),
        # a held-out user's torch tensors that require grad: torch's two-line RuntimeError
        # came out of numpy with no word of which value
        (
            {"losses": [_RequiresGrad()]},
            ValueError,
            r"candidate losses: not readable as numbers \(RuntimeError: Can't call numpy\(\)",
        ),
        (
            {"losses": [1.0], "params": [{"h.W": _RequiresGrad()}]},
            ValueError,
            r"params\[0\]: h.W: not readable as numbers .* \.detach\(\)\.numpy\(\)",
        ),
    ],
)
def test_a_candidate_of_no_known_shape_is_one_line(ref, candidate, error, message) -> None:
    with pytest.raises(error, match=message) as err:
        assert_trajectory_close({"losses": [1.0]}, candidate)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rtol": -1.0}, "rtol for loss must be a finite number >= 0"),
        (
            {"atol": {"los": 1.0}},
            r"atol: unknown quantity 'los' \(one of loss, grad_norm, params\); did you mean 'loss'\?",
        ),
        ({"rtol": float("nan")}, "rtol for loss must be"),
    ],
)
def test_bad_tolerances_are_refused(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        assert_trajectory_close({"losses": [1.0]}, {"losses": [1.0]}, **kwargs)


@pytest.mark.parametrize("value", [True, "1e-2", None])
def test_a_tolerance_that_is_no_number_is_refused(value) -> None:
    with pytest.raises(TypeError, match="rtol for loss must be a number"):
        assert_trajectory_close({"losses": [1.0]}, {"losses": [1.0]}, rtol=value)


def test_reference_params_that_are_no_mapping_are_one_line() -> None:
    with pytest.raises(TypeError, match="params: expected a mapping NAME.PARAM -> array, got None"):
        reference_trajectory("design", None, np.zeros((2, 3)), np.zeros((2, 2)), lr=0.1)


def test_exported_at_the_top_level() -> None:
    assert dc.reference_trajectory is reference_trajectory
    assert dc.assert_trajectory_close is assert_trajectory_close


def test_every_top_level_name_resolves() -> None:
    """``dc.OPTIMIZERS`` was in ``dir(dc)`` and ``__all__`` but raised AttributeError (a
    held-out author's finding): every exported name must import."""
    missing = [n for n in dc.__all__ if not hasattr(dc, n)]
    assert missing == []
    assert set(dc.OPTIMIZERS) >= {"gd", "momentum", "nesterov", "adaptive_momentum", "rmsprop"}
    assert dc.OPTIMIZERS["gd"].name == "gd"


def test_a_records_step_must_be_its_index() -> None:
    """A held-out user's record with "step": 42 at index 2 passed: records carry their index
    (trajectory.json's do), so one out of place is refused, not compared as another step."""
    ref = {"losses": [1.0, 0.5, 0.25]}
    assert_trajectory_close(ref, [{"loss": v, "step": k} for k, v in enumerate(ref["losses"])])
    with pytest.raises(ValueError, match="candidate: step record 2 says 'step': 42"):
        assert_trajectory_close(ref, [{"loss": 1.0}, {"loss": 0.5}, {"loss": 0.25, "step": 42}])
    assert dc.TrajectoryMismatch is TrajectoryMismatch


# ---- what each shape carries is compared, with the documented rule (the mutation run of
# descentcheck/testing.py: each test below kills mutants that passed every test above)


def _one_line_error(candidate, reference=None):
    with pytest.raises((TypeError, ValueError)) as err:
        assert_trajectory_close({"losses": [1.0]} if reference is None else reference, candidate)
    return str(err.value)


def test_every_shape_compares_what_it_carries(problem, ref) -> None:
    """A quantity a shape carries is compared, not only read: the mapping's gradient norms, the
    final parameters of a mapping or of a Trajectory that kept no iterates (w_K, the last
    step), on either side."""
    mapping = {"losses": list(ref.losses), "grad_norms": list(ref.grad_norms)}
    mapping["grad_norms"][2] *= 1.001
    with pytest.raises(TrajectoryMismatch, match="at step 2, grad_norm:"):
        assert_trajectory_close(ref, mapping)
    final = {k: v.copy() for k, v in ref.params.items()}
    final["h1.b"][0] += 0.01
    with pytest.raises(TrajectoryMismatch, match=f"at step {STEPS}, parameter h1.b\\[0\\]:"):
        assert_trajectory_close(ref, {"losses": list(ref.losses), "params": final})
    spec, params, x, y = problem
    plain = dc.train(dc.Network.from_spec(spec), params, x, y, "momentum", steps=STEPS, **HP)
    assert plain.params_history is None
    assert_trajectory_close(ref, plain)
    moved = dataclasses.replace(plain, params=final)
    for a, b in ((ref, moved), (moved, ref)):
        with pytest.raises(TrajectoryMismatch, match=f"at step {STEPS}, parameter h1.b\\[0\\]:"):
            assert_trajectory_close(a, b)


def test_gradient_norms_are_compared_where_both_sides_have_them() -> None:
    """One side may record fewer gradient norms (a loop that logs none after its last step):
    the steps beyond it compare the loss only."""
    ref = {"losses": [3.0, 2.0, 1.0], "grad_norms": [2.0, 1.0, 0.5]}
    cand = [{"loss": 3.0, "grad_norm": 2.0}, {"loss": 2.0, "grad_norm": 1.0}, {"loss": 1.0}]
    assert_trajectory_close(ref, cand)
    assert_trajectory_close(cand, ref)
    cand[1]["grad_norm"] = 1.5
    with pytest.raises(TrajectoryMismatch, match="at step 1, grad_norm:"):
        assert_trajectory_close(ref, cand)


def test_a_scalars_tolerance_is_atol_plus_rtol_times_the_reference() -> None:
    """``|cand - ref| <= atol + rtol |ref|``: relative to the reference's size, and an equality
    at the bound passes (1.5 against 1.0 and 0.5 are exact in binary)."""
    big = {"losses": [100.0]}
    assert_trajectory_close(big, {"losses": [100.05]}, rtol=1e-3)  # allowed 0.1
    with pytest.raises(TrajectoryMismatch, match=r"\|diff\| 0\.2 > 0\.1 = atol"):
        assert_trajectory_close(big, {"losses": [100.2]}, rtol=1e-3)
    assert_trajectory_close({"losses": [1.0]}, {"losses": [1.5]}, rtol=0.0, atol=0.5)
    assert_trajectory_close({"losses": [2.0]}, {"losses": [2.5]}, rtol=0.25)
    with pytest.raises(TrajectoryMismatch, match="at step 0, loss"):
        assert_trajectory_close({"losses": [2.0]}, {"losses": [np.nextafter(2.5, 3.0)]}, rtol=0.25)


def test_a_parameters_tolerance_is_relative_to_its_largest_entry() -> None:
    """``rtol`` scales by ``max |ref array|``, however small the array: 1e-3 at rtol 1e-6
    allows 1e-9, so an entry 1e-7 off is named."""
    ref = {"losses": [1.0], "params": {"a.W": np.array([1e-3, 0.0])}}
    assert_trajectory_close(ref, {"losses": [1.0], "params": {"a.W": [1e-3, 5e-10]}}, rtol=1e-6)
    with pytest.raises(TrajectoryMismatch) as err:
        assert_trajectory_close(ref, {"losses": [1.0], "params": {"a.W": [1e-3, 1e-7]}}, rtol=1e-6)
    assert str(err.value) == (
        "trajectories differ at step 0, parameter a.W[1]: candidate 1e-07 vs reference 0.0 "
        "(|diff| 1e-07 > 1e-09 = atol + rtol·max|a.W| for params)"
    )
    scalar = {"losses": [1.0], "params": {"a.s": np.float64(2.0)}}
    with pytest.raises(TrajectoryMismatch) as err:  # a 0-d parameter is named without an index
        assert_trajectory_close(scalar, {"losses": [1.0], "params": {"a.s": 2.5}})
    assert err.value.quantity == "parameter a.s"
    assert "at step 0, parameter a.s: candidate 2.5" in str(err.value)


def test_the_default_tolerance_is_rtol_1e_9() -> None:
    one = {"losses": [1.0]}
    assert_trajectory_close(one, {"losses": [1.0 + 0.9e-9]})
    with pytest.raises(TrajectoryMismatch):
        assert_trajectory_close(one, {"losses": [1.0 + 1.5e-9]})


def test_a_mismatchs_message_and_attributes() -> None:
    """The one-line message in full: the step, the quantity, both values, the rule, and which
    steps agreed; the exception carries both values."""
    ones = {"losses": [1.0] * 4}
    msgs = {}
    for k in (0, 1, 2, 3):
        losses = [1.0] * 4
        losses[k] = 1.5
        with pytest.raises(TrajectoryMismatch) as err:
            assert_trajectory_close(ones, {"losses": losses}, rtol=0.0)
        msgs[k] = str(err.value)
        assert (err.value.step, err.value.quantity) == (k, "loss")
        assert (err.value.reference, err.value.candidate) == (1.0, 1.5)
    head = (
        "loss: candidate 1.5 vs reference 1.0 (|diff| 0.5 > 0 = atol + rtol·max|reference so far| "
        "for loss)"
    )
    assert msgs[0] == f"trajectories differ at step 0, {head}"
    assert msgs[1] == f"trajectories differ at step 1, {head}; step 0 agrees"
    assert msgs[2] == f"trajectories differ at step 2, {head}; steps 0-1 agree"
    assert msgs[3] == f"trajectories differ at step 3, {head}; steps 0-2 agree"
    with pytest.raises(TrajectoryMismatch) as err:  # one side finite: no |diff| to print
        assert_trajectory_close({"losses": [1.0]}, {"losses": [float("inf")]})
    assert str(err.value) == (
        "trajectories differ at step 0, loss: candidate inf vs reference 1.0 "
        "(a non-finite value matches only itself)"
    )


def test_trajectory_json_s_non_finite_strings_are_numbers() -> None:
    for text, value in (("inf", np.inf), ("-inf", -np.inf), ("nan", np.nan)):
        assert_trajectory_close({"losses": [1.0, value]}, {"losses": [1.0, text]})
        assert_trajectory_close({"steps": [{"loss": 1.0}, {"loss": text}]}, {"losses": [1, value]})


def test_a_mappings_steps_may_be_metadata_but_not_a_near_miss() -> None:
    """Beside ``losses``, a ``steps`` list (step numbers, say) is metadata; ``step`` is one edit
    from ``steps`` and would never be read, so it is refused."""
    assert_trajectory_close({"losses": [1.0, 0.5]}, {"losses": [1.0, 0.5], "steps": [0, 1]})
    assert _one_line_error({"losses": [1.0], "step": [0]}) == (
        "candidate: unknown key 'step'; did you mean 'steps'? (it would not be compared; known: "
        "losses, grad_norms, params, steps)"
    )


@pytest.mark.parametrize("option", ["keep_params", "progress", "backend"])
def test_a_train_option_the_reference_fixes_is_refused(problem, option) -> None:
    """``keep_params=False`` gave train's "got multiple values for keyword argument"."""
    from descentcheck.impl.errors import HyperparameterError

    spec, params, x, y = problem
    with pytest.raises(HyperparameterError, match=f"reference_trajectory takes no '{option}': "):
        reference_trajectory(spec, params, x, y, optimizer="gd", lr=0.1, steps=2, **{option: 0})


def test_losses_and_records_together_are_refused() -> None:
    """A held-out user's mapping held ``losses`` and ``steps`` records of loss 99: the records
    were never read, and the check passed."""
    bad = [{"loss": 99.0, "grad_norm": 5.0}] * 2
    assert _one_line_error({"losses": [1.0, 0.5], "steps": bad}, {"losses": [1.0, 0.5]}) == (
        "candidate: a mapping with both 'losses' and 'steps' of per-step records; give one"
    )


@pytest.mark.parametrize("losses", [{0: 1.0, 1: 0.5}, {1.0, 0.5}])
def test_losses_in_no_order_are_refused(losses) -> None:
    """A dict of losses by step was read as its keys (a loss of 0.0 at step 0), a set in its
    own order."""
    kind = type(losses).__name__
    assert _one_line_error({"losses": losses}, {"losses": [1.0, 0.5]}) == (
        f"candidate losses: expected a sequence of numbers in step order, got a {kind} (a list "
        "or an array: E_0, E_1, ...)"
    )


@pytest.mark.parametrize(
    ("reference", "candidate", "message"),
    [
        (None, [{"loss": "x"}], "candidate losses: expected a sequence of numbers"),
        (None, [{"loss": 1.0, "grad_norm": "x"}], "candidate grad_norm: expected a sequence"),
        (None, [{"loss": 1.0, "params": 3}], "candidate step 0 params: expected a dict"),
        (None, {"losses": [1.0], "grad_norms": ["x"]}, "candidate grad_norms: expected a sequ"),
        (None, {"losses": [1.0], "params": 3}, "candidate params: expected a dict NAME.PARAM -> a"),
        (None, {"losses": [1.0], "params": "w.npz"}, "candidate params: expected a dict NAME.PA"),
        (None, {"losses": [1.0], "params": {"a.W": [1j]}}, "candidate params: a.W is not a real"),
        ({"losses": ["x"]}, {"losses": [1.0]}, "reference losses: expected a sequence"),
    ],
)
def test_a_bad_value_is_named_by_its_side_and_place(reference, candidate, message) -> None:
    assert _one_line_error(candidate, reference).startswith(message)


def test_an_unreadable_value_says_how_to_hand_it_over() -> None:
    assert _one_line_error({"losses": [_RequiresGrad()]}) == (
        "candidate losses: not readable as numbers (RuntimeError: Can't call numpy() on Tensor "
        "that requires grad. Use tensor.detach().numpy()); hand plain values, e.g. a torch "
        "tensor's .detach().numpy() or .item()"
    )


def test_reference_trajectory_defaults_and_plain_lists(problem) -> None:
    """gd, 100 steps and shuffle seed 0 unless told; parameters may be nested lists (any
    array-like), read as float64 copies."""
    spec, params, x, y = problem
    got = reference_trajectory(spec, params, x, y, lr=0.05, batch_size=4)
    net = dc.Network.from_spec(spec)
    want = dc.train(net, params, x, y, "gd", lr=0.05, steps=100, batch_size=4, seed=0)
    assert got.optimizer == "gd" and len(got.losses) == 101
    np.testing.assert_array_equal(got.losses, want.losses)
    as_lists = {k: v.tolist() for k, v in params.items()}
    listed = reference_trajectory(spec, as_lists, x, y, lr=0.05, steps=3)
    arrays = reference_trajectory(spec, params, x, y, lr=0.05, steps=3)
    np.testing.assert_array_equal(listed.losses, arrays.losses)
    assert_trajectory_close(arrays, listed, rtol=0.0)


def test_pytest_reports_a_mismatch_at_the_callers_line(pytester) -> None:
    """The assertion's own frames are hidden (``__tracebackhide__``): a failing test's report
    ends at the test's call, as for a plain ``assert``."""
    pytester.makepyfile(
        """
        from descentcheck.testing import assert_trajectory_close

        def test_a_loss():
            assert_trajectory_close({"losses": [1.0]}, {"losses": [2.0]})

        def test_a_parameter():
            ref = {"losses": [1.0], "params": {"a.W": [1.0]}}
            assert_trajectory_close(ref, {"losses": [1.0], "params": {"a.W": [2.0]}})
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tb=long")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "TrajectoryMismatch: trajectories differ at step 0, loss" in out
    assert "TrajectoryMismatch: trajectories differ at step 0, parameter a.W[0]" in out
    assert "descentcheck/testing.py" not in out and "def _fail" not in out


def test_a_converged_series_is_judged_against_its_largest_value_so_far() -> None:
    """A held-out audit: a correct float64 torch trainer's gradient norm at step 51, 3.0375e-8,
    differed from the reference's by 2.2e-16 (rounding of a sum whose terms kept their early
    size), and rtol·|reference| = 3e-17 flagged it. Judged against the series' largest value so
    far it passes; a difference of 1e-9 of that value still fails, at the step it appears."""
    ref = {"losses": [1.0, 0.5, 1e-16], "grad_norms": [2.0, 1.0, 3.0375328724405385e-08]}
    close = {"losses": [1.0, 0.5, 1e-16 + 2e-24], "grad_norms": [2.0, 1.0, 3.037532850561243e-08]}
    assert_trajectory_close(ref, close)
    far = {**close, "grad_norms": [2.0, 1.0, 3.0375e-08 + 4e-9]}
    with pytest.raises(TrajectoryMismatch) as err:
        assert_trajectory_close(ref, far)
    assert (err.value.step, err.value.quantity) == (2, "grad_norm")
    assert "> 2e-09 = atol + rtol·max|reference so far| for grad_norm" in str(err.value)


def test_values_for_steps_without_a_loss_are_refused() -> None:
    """A held-out audit: 5 gradient norms beside 2 losses, or a third parameter set, were
    silently left uncompared."""
    w = {"a.W": np.ones(2)}
    ref = {"losses": [1.0, 0.5]}
    for cand, says in (
        ({"losses": [1.0, 0.5], "grad_norms": [1.0] * 5}, "5 gradient norms for 2 losses"),
        ({"losses": [1.0, 0.5], "params": [w, w, w]}, "parameters for 3 steps (w_0, w_1, ...)"),
    ):
        with pytest.raises(ValueError, match=re.escape(f"candidate: {says}")):
            assert_trajectory_close(ref, cand)
    assert_trajectory_close(ref, {"losses": [1.0, 0.5], "grad_norms": [1.0], "params": [w, w]})


def test_a_run_ended_by_a_non_finite_update_compares_the_iterates_with_a_loss() -> None:
    """RMSProp at eps = 0 with a dead relu unit (0/0): the run ends at its first update, which
    the reference keeps (w_1, NaN) without a loss. Its iterates with a loss are compared, and
    a candidate that stops there as the README says matches (the NaN iterate was a second set
    of parameters for one loss)."""
    import descentcheck as dc

    spec = {
        "inputs": 2,
        "output": "o",
        "loss": "mse",
        "nodes": [
            {"name": "h", "op": "dense", "units": 3, "inputs": ["input"]},
            {"name": "a", "op": "relu", "inputs": ["h"]},
            {"name": "o", "op": "dense", "units": 1, "inputs": ["a"]},
        ],
    }
    x = np.linspace(-1.0, 1.0, 20).reshape(10, 2)
    y = np.cos(x[:, :1])
    p = dc.Network.from_spec(spec).init(seed=0, x=x)
    p["h.W"][:, 0], p["h.b"][0] = 0.0, -1.0  # unit 0 dead on every row: its gradient is 0
    ref = reference_trajectory(spec, p, x, y, optimizer="rmsprop", lr=0.01, eps=0.0, steps=5)
    assert ref.status == "diverged" and len(ref.losses) == 1 and len(ref.params_history) == 2
    assert_trajectory_close(ref, ref)
    assert_trajectory_close(ref, [{"loss": ref.losses[0], "params": p}])
    final_only = dc.train(dc.Network.from_spec(spec), p, x, y, "rmsprop", lr=0.01, eps=0.0)
    assert_trajectory_close(final_only, {"losses": list(ref.losses)})  # NaN w_1 not compared
