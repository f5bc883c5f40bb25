"""The command line: outputs, one-line errors, and earlier results never clobbered."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from process_groups import group_alive, kill_group
from specs import DESIGN_EXAMPLE, RELU_LAYER, relu_net

from descentcheck.cli import main

SINE_SPEC = {
    "inputs": 1,
    "output": "out",
    "loss": "mse",
    "nodes": [
        {"name": "h", "op": "dense", "units": 8, "inputs": ["input"]},
        {"name": "a", "op": "tanh", "inputs": ["h"]},
        {"name": "s", "op": "concat", "inputs": ["a", "input"]},
        {"name": "g", "op": "gaussian", "units": 4, "radius": "per_unit", "inputs": ["s"]},
        {"name": "out", "op": "dense", "units": 1, "inputs": ["g"]},
    ],
}


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps(SINE_SPEC))
    return tmp_path


def _run(args, workdir):
    runner = CliRunner()
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def _train_args(workdir, *extra):
    return [
        "train",
        workdir / "spec.json",
        "--data",
        "sine",
        "--seed",
        "0",
        "--optimizer",
        "momentum",
        "--lr",
        "0.1",
        "--momentum",
        "0.5",
        "--steps",
        "30",
        "--out",
        workdir / "run",
        "-q",
        *extra,
    ]


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_train_writes_trajectory_and_params(workdir):
    r = _run(_train_args(workdir), workdir)
    assert r.exit_code == 0, r.output
    record = json.loads((workdir / "run" / "trajectory.json").read_text())
    assert len(record["steps"]) == 31 and record["status"] == "completed"
    assert record["final_loss"] < record["steps"][0]["loss"]
    with np.load(workdir / "run" / "params.npz", allow_pickle=False) as z:
        assert set(z.files) == {"h.W", "h.b", "g.centroids", "g.radii", "out.W", "out.b"}
    assert sorted(p.name for p in (workdir / "run").iterdir()) == ["params.npz", "trajectory.json"]


def test_replay_from_params_gives_the_same_bits(workdir):
    assert _run(_train_args(workdir), workdir).exit_code == 0
    first = json.loads((workdir / "run" / "trajectory.json").read_text())
    # save initial params by training zero steps, then replay from them with --init
    r = _run(_train_args(workdir, "--steps", "0", "--out", workdir / "init"), workdir)
    assert r.exit_code == 0
    args = _train_args(workdir, "--out", workdir / "replay")
    args[args.index("--seed") : args.index("--seed") + 2] = [
        "--init",
        workdir / "init" / "params.npz",
    ]
    assert _run(args, workdir).exit_code == 0
    again = json.loads((workdir / "replay" / "trajectory.json").read_text())
    assert [s["loss"] for s in again["steps"]] == [s["loss"] for s in first["steps"]]


def _corrupt_params(d):
    p = d / "bad.npz"
    p.write_bytes(b"PK\x03\x04 definitely not a zip")
    return p


def _pickled_params(d):
    p = d / "pickled.npz"
    np.savez(p, **{"h.W": np.array([{"a": 1}], dtype=object)})
    return p


def _nan_data(d):
    p = d / "nan.npz"
    np.savez(p, x=np.array([[0.0], [np.nan]]), y=np.array([[0.0], [1.0]]))
    return p


def _pickle_file(d):
    p = d / "params.pkl"
    p.write_bytes(pickle.dumps({"h.W": 1}))
    return p


BAD_INPUTS = {
    "cycle": (lambda d: _spec(d, cycle=True), "cycle"),
    "unknown op": (lambda d: _spec(d, op="gelu"), "unknown op 'gelu'"),
    "shape mismatch": (
        lambda d: ["--data", "iris"],
        "inputs x have shape (150, 4), expected (n, 1)",
    ),
    "nan data": (lambda d: ["--data", _nan_data(d)], "NaN"),
    "negative lr": (lambda d: ["--lr", "-0.1"], "learning rate must lie in"),
    "missing data": (lambda d: ["--data", d / "nope.npz"], "nope.npz"),
    "corrupt params": (lambda d: ["--init", _corrupt_params(d)], "bad.npz"),
    "pickled params": (lambda d: ["--init", _pickled_params(d)], "pickled"),
    "pickle file": (lambda d: ["--init", _pickle_file(d)], "params.pkl"),
    "unknown data": (lambda d: ["--data", "mnist_from_the_web"], "unknown data set"),
    "malformed spec": (lambda d: _spec(d, text="{oops"), "malformed JSON"),
}


def _spec(d, cycle=False, op=None, text=None):
    spec = json.loads(json.dumps(SINE_SPEC))
    if cycle:
        spec["nodes"][0]["inputs"] = ["out"]
    if op:
        spec["nodes"][1]["op"] = op
    path = d / "bad_spec.json"
    path.write_text(text if text is not None else json.dumps(spec))
    return ["SPEC", path]


def _apply(args, extra):
    args = list(args)
    if extra and extra[0] == "SPEC":
        args[1] = extra[1]
        return args
    for i in range(0, len(extra), 2):
        flag, value = extra[i], extra[i + 1]
        if flag == "--init":
            j = args.index("--seed")
            args[j : j + 2] = ["--init", value]
        else:
            args[args.index(flag) + 1] = value
    return args


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_one_line_error_and_earlier_results_untouched(workdir, case):
    assert _run(_train_args(workdir), workdir).exit_code == 0
    before = _snapshot(workdir / "run")
    make, fragment = BAD_INPUTS[case]
    args = [str(a) for a in _apply(_train_args(workdir), make(workdir))]
    proc = subprocess.run(
        [sys.executable, "-m", "descentcheck", *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert fragment in lines[0], lines[0]
    assert _snapshot(workdir / "run") == before


def test_interrupted_run_writes_nothing(workdir, monkeypatch):
    assert _run(_train_args(workdir), workdir).exit_code == 0
    before = _snapshot(workdir / "run")
    import descentcheck.impl.trainer as trainer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", interrupted)
    r = CliRunner().invoke(main, [str(a) for a in _train_args(workdir)])
    assert r.exit_code == 130
    assert _snapshot(workdir / "run") == before


def test_a_refused_run_leaves_no_empty_out_folder(workdir):
    """A hyperparameter out of range is found by the trainer, after --out was made: the
    refused run left an empty folder behind (a held-out new user); it is removed, while a
    folder that was there before (and a run's files) stays."""
    out = workdir / "new" / "run"
    args = [*_train_args(workdir)[:-3], "--out", out, "-q", "--momentum", "1.5"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 2 and "momentum must lie in [0, 1)" in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (workdir / "new").exists()
    (workdir / "kept").mkdir()
    args = [*_train_args(workdir)[:-3], "--out", workdir / "kept", "-q", "--momentum", "1.5"]
    assert CliRunner().invoke(main, [str(a) for a in args]).exit_code == 2
    assert (workdir / "kept").is_dir()


def test_failed_write_keeps_the_earlier_file(workdir, monkeypatch):
    assert _run(_train_args(workdir), workdir).exit_code == 0
    before = _snapshot(workdir / "run")
    import descentcheck.impl.io as io

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.os, "replace", broken_replace)
    r = CliRunner().invoke(main, [str(a) for a in _train_args(workdir, "--lr", "0.2")])
    assert r.exit_code == 2
    assert _snapshot(workdir / "run") == before
    assert not [p for p in (workdir / "run").iterdir() if p.name.startswith(".")]


def test_ctrl_c_between_the_two_renames_still_leaves_a_matching_pair(workdir, monkeypatch):
    """Ctrl-C lands after params.npz is renamed into place: trajectory.json must follow it,
    else the folder would hold one run's parameters beside another's trajectory."""
    assert _run(_train_args(workdir), workdir).exit_code == 0
    before = _snapshot(workdir / "run")
    import descentcheck.impl.io as io

    real_replace, calls = io.os.replace, []

    def replace_then_ctrl_c(src, dst):
        real_replace(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(io.os, "replace", replace_then_ctrl_c)
    r = CliRunner().invoke(main, [str(a) for a in _train_args(workdir, "--lr", "0.2")])
    assert r.exit_code == 130 and len(calls) == 2
    after = _snapshot(workdir / "run")
    assert after.keys() == before.keys() == {"params.npz", "trajectory.json"}
    assert all(after[k] != before[k] for k in after)
    assert json.loads(after["trajectory.json"])["hyperparameters"]["lr"] == 0.2


def test_a_loss_that_became_nan_is_not_called_a_decrease(workdir, monkeypatch):
    import descentcheck.impl.trainer as trainer

    real = trainer.train

    def nan_at_the_end(*args, **kwargs):
        t = real(*args, **kwargs)
        t.losses = np.append(t.losses[:-1], np.nan)
        t.status, t.message = "diverged", "loss became nan at step 1"
        return t

    monkeypatch.setattr(trainer, "train", nan_at_the_end)
    args = _apply(_train_args(workdir), ["--steps", "1"])
    args.remove("-q")
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    assert "decreased (or stayed) at every step" not in r.output
    assert "loss increased or became NaN at 1 step(s); first at step 0: " in r.output


def test_divergence_is_reported(workdir):
    args = _apply(_train_args(workdir), ["--lr", "1e6", "--steps", "50"])
    args.remove("-q")
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    assert "diverged: loss became" in r.output
    record = json.loads((workdir / "run" / "trajectory.json").read_text())
    assert record["status"] == "diverged"
    assert record["final_loss"] in ("inf", "nan")


def test_gradcheck_table(workdir):
    spec = workdir / "design.json"
    spec.write_text(json.dumps(DESIGN_EXAMPLE))
    np.savez(workdir / "d.npz", x=np.linspace(-1, 1, 15).reshape(5, 3), y=np.ones((5, 2)))
    r = CliRunner().invoke(main, ["gradcheck", str(spec), "--data", str(workdir / "d.npz")])
    assert r.exit_code == 0, r.output
    for name in ("h1.W", "h1.b", "g.centroids", "g.radii", "out.W"):
        assert name in r.output
    assert "complex_step" in r.output


def test_gradcheck_of_a_net_without_parameters_says_there_is_nothing_to_check(workdir):
    """It was "error: gradcheck: max() arg is an empty sequence" (sweep audit)."""
    spec = workdir / "none.json"
    nodes = [{"name": "out", "op": "identity", "inputs": ["input"]}]
    spec.write_text(json.dumps({"inputs": 1, "output": "out", "loss": "mse", "nodes": nodes}))
    r = CliRunner().invoke(main, ["gradcheck", str(spec), "--data", "sine"])
    assert r.exit_code == 0, r.output
    assert r.output == "the net has no parameters: no gradient to check\n"


def test_gradcheck_passes_a_relu_net_at_its_kinks_and_says_so(workdir):
    """Rows of zeros put the first relu's inputs at exactly 0 (biases start at 0), and a skip
    connection carries the relu's output past a second layer: the table passes backprop's
    relu'(0) = 0 with complex step, and a note counts the entries at a kink."""
    spec = workdir / "relu.json"
    nodes = [
        {"name": "h", "op": "dense", "units": 4, "inputs": ["input"]},
        {"name": "a", "op": "relu", "inputs": ["h"]},
        {"name": "h2", "op": "dense", "units": 4, "inputs": ["a"]},
        {"name": "s", "op": "add", "inputs": ["h2", "a"]},
        {"name": "out", "op": "dense", "units": 2, "inputs": ["s"]},
    ]
    spec.write_text(json.dumps({"inputs": 3, "output": "out", "loss": "mse", "nodes": nodes}))
    x = np.linspace(-1, 1, 15).reshape(5, 3)
    x[::2] = 0.0
    np.savez(workdir / "d.npz", x=x, y=np.ones((5, 2)))
    r = CliRunner().invoke(main, ["gradcheck", str(spec), "--data", str(workdir / "d.npz")])
    assert r.exit_code == 0, r.output
    assert "FAIL" not in r.output and "richardson" not in r.output
    assert "note: h.b: 4 entries at a kink (complex step takes the branch at x0)" in r.output


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["train"],
        ["gradcheck"],
        ["derive"],
        ["verify"],
        ["replay"],
        ["sweep"],
        ["report"],
        ["examples"],
        ["datasets"],
    ],
)
def test_help_on_every_command(command):
    r = CliRunner().invoke(main, [*command, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output


def test_derive_json_is_read_back_by_sympy():
    import sympy

    r = CliRunner().invoke(main, ["derive", "gaussian", "--format", "json", "--dim", "3"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.output)
    assert record["op"] == "gaussian"
    assert set(record["grad"]) >= {"x0", "x2", "c0", "c2", "r0", "r2"}
    x0, c0, r0 = sympy.symbols("x0 c0 r0")
    out = sympy.sympify(record["output"])
    assert sympy.simplify(sympy.sympify(record["grad"]["c0"]) - sympy.diff(out, c0)) == 0
    assert sympy.simplify(sympy.sympify(record["grad"]["r0"]) - sympy.diff(out, r0)) == 0


def test_derive_unknown_op_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "descentcheck", "derive", "swish"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown op 'swish'")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_verify_then_replay_shows_the_increase(tmp_path):
    ledger = tmp_path / "ledger.json"
    r = CliRunner().invoke(
        main,
        [
            "verify",
            "--profile",
            "fast",
            "--claim",
            "momentum-at-1-over-L-decreases",
            "--json",
            str(ledger),
        ],
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["replay", str(ledger), "--dir", str(tmp_path / "cx")])
    assert r.exit_code == 0, r.output
    command = r.output.strip().splitlines()[-1].split()
    assert command[:2] == ["descentcheck", "train"]
    r = CliRunner().invoke(main, command[1:])
    assert r.exit_code == 0, r.output
    assert "loss increased at" in r.output
    # a held-out audit: replay wrote its files one by one (a full disk left a new spec.json
    # beside old arrays it does not fit) and --dir "" wrote into the working folder
    before = {f: (tmp_path / "cx" / f).read_bytes() for f in ("spec.json", "data.npz")}
    import descentcheck.impl.io as io_module

    real = io_module._staged

    def full_disk(target, data):
        if os.path.basename(target) == "params.npz":
            raise OSError(28, "No space left on device", str(target))
        return real(target, data)

    (tmp_path / "cx" / "spec.json").write_text('{"old": true}\n')
    before["spec.json"] = (tmp_path / "cx" / "spec.json").read_bytes()
    io_module._staged = full_disk
    try:
        r = CliRunner().invoke(main, ["replay", str(ledger), "--dir", str(tmp_path / "cx")])
    finally:
        io_module._staged = real
    assert r.exit_code == 2 and "no space left on device" in r.output, r.output
    assert {f: (tmp_path / "cx" / f).read_bytes() for f in before} == before
    r = CliRunner().invoke(main, ["replay", str(ledger), "--dir", ""])
    assert r.exit_code == 2 and "is empty; name a folder" in r.output, r.output


def test_verify_unknown_claim():
    r = CliRunner().invoke(main, ["verify", "--claim", "nonsense"])
    assert r.exit_code == 2 and "unknown claim 'nonsense'" in r.output
    assert "verify --list names them" in r.output and len(r.output) < 200  # not all 40-odd ids
    r = CliRunner().invoke(main, ["verify", "--claim", "gradient-equals-orcale"])
    assert "did you mean 'gradient-equals-oracle'?" in r.output


TINY_SWEEP = """
name = "cli test"
steps = 30
seeds = [0]

[architectures]
specs = ["sine_skip"]

[[data]]
source = "sine"
subsample = 24

[[optimizers]]
name = "adaptive_momentum"
relative_to_L = true
lr = [0.5]
tau = [0.05, 0.2]

[estimate_L]
iters = 10
"""


def test_sweep_runs_resumes_and_reports(tmp_path):
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(TINY_SWEEP)
    db = tmp_path / "results.sqlite"
    args = ["sweep", str(sweep_file), "--db", str(db), "--scheduler", "serial", "--no-progress"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    before = db.read_bytes()
    r = CliRunner().invoke(main, args)  # a finished sweep does no work
    assert r.exit_code == 0 and "all 2 cases already done" in r.output, r.output
    r = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "index.html").is_file()
    # a held-out audit: Ctrl-C mid-report left a new region.png beside the old pages while the
    # line said everything was whole; the report is staged, then moved in all at once
    files = {}
    for p in (tmp_path / "rep").iterdir():  # an earlier report, other than this one's
        p.write_bytes(b"the earlier " + p.name.encode())
        files[p.name] = p.read_bytes()
    from descentcheck.reports import sweep_figures

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    real, sweep_figures.final_loss_figure = sweep_figures.final_loss_figure, interrupted
    try:
        r = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(tmp_path / "rep")])
    finally:
        sweep_figures.final_loss_figure = real
    assert r.exit_code == 130, r.output
    assert {p.name: p.read_bytes() for p in (tmp_path / "rep").iterdir()} == files
    foreign = tmp_path / "foreign.sqlite"
    foreign.write_bytes(b"SQLite format 3\x00" + bytes(200))
    r = CliRunner().invoke(main, [*args[:3], str(foreign), *args[4:]])
    assert r.exit_code == 2 and r.output.startswith("error: ")
    assert foreign.read_bytes() == b"SQLite format 3\x00" + bytes(200)
    assert len(before) > 0


def _one_claim_ledger(ledger):
    """``verify --json LEDGER`` of one quick must-fail claim (fast profile)."""
    args = ["verify", "--profile", "fast", "--claim", "gd-above-2-over-L-decreases"]
    r = CliRunner().invoke(main, [*args, "--json", str(ledger)])
    assert r.exit_code == 0, r.output


def test_verify_workers_sets_the_processes(tmp_path, monkeypatch):
    """``--workers 1`` runs the claims in this process (a held-out plugin author found no way to
    keep verify off a second core); the ledger records it; 0 is refused."""
    import descentcheck.properties.ledger as ledger_module

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(ledger_module, "ProcessPoolExecutor", no_pool)
    ledger = tmp_path / "ledger.json"
    claims = ["--claim", "gd-above-2-over-L-decreases", "--claim", "backprop-returns-the-loss"]
    args = ["verify", "--profile", "fast", *claims, "--json", str(ledger)]
    r = CliRunner().invoke(main, [*args, "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert (
        json.loads(ledger.read_text())["jobs"] == 1
        and "(profile fast, " in r.output
        and " s, 1 process)" in r.output
    )
    r = CliRunner().invoke(main, [*args, "--workers", "2"])  # two claims: a pool is asked for
    assert isinstance(r.exception, AssertionError) and "worker pool" in str(r.exception)
    r = CliRunner().invoke(main, [*args, "--workers", "0"])
    assert r.exit_code == 2 and "--workers" in r.output


def test_verify_starts_no_more_processes_than_claims(tmp_path, monkeypatch):
    """``--workers 64`` for two claims asks for a pool of two processes, not 64; for one claim it
    runs in this process, and the ledger and the summary say 1."""
    import descentcheck.properties.ledger as ledger_module

    asked = []

    def recording_pool(*args, max_workers, **kwargs):
        asked.append(max_workers)
        raise RuntimeError("no pool in this test")

    monkeypatch.setattr(ledger_module, "ProcessPoolExecutor", recording_pool)
    claims = ["--claim", "gd-above-2-over-L-decreases", "--claim", "backprop-returns-the-loss"]
    args = ["verify", "--profile", "fast", *claims, "--json", str(tmp_path / "l.json")]
    r = CliRunner().invoke(main, [*args, "--workers", "64"])
    assert isinstance(r.exception, RuntimeError) and asked == [2]
    one = ["verify", "--profile", "fast", *claims[:2], "--json", str(tmp_path / "one.json")]
    r = CliRunner().invoke(main, [*one, "--workers", "64"])  # one claim: no pool, one process
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "one.json").read_text())["jobs"] == 1 and asked == [2]
    assert " s, 1 process)" in r.output


def test_verify_json_into_a_new_folder(tmp_path):
    ledger = tmp_path / "new" / "folder" / "ledger.json"
    _one_claim_ledger(ledger)
    assert json.loads(ledger.read_text())["claims"][0]["outcome"] == "falsified"


def test_a_number_beyond_float64_is_named_as_typed(tmp_path):
    """A new-user audit: ``--lr 1e400`` was read as inf and refused as "got inf"."""
    base = ["train", "sine_skip", "--data", "sine", "--optimizer", "momentum", "--momentum"]
    base += ["0.5", "--lr", "0.1"]  # the options given again below are read last
    out = ["--out", str(tmp_path / "run")]
    for args, typed in ((["--lr", "1e400"], "1e400"), (["--momentum", "-1e999"], "-1e999")):
        r = CliRunner().invoke(main, [*base, *args, *out])
        assert r.exit_code == 2 and len(r.output.splitlines()) == 1, r.output
        assert f"{typed} is beyond float64's range" in r.output and args[0] in r.output
    r = CliRunner().invoke(main, [*base[:-1], "inf", *out])  # typed as inf: the registry's word
    assert r.exit_code == 2 and "learning rate must be finite, got inf" in r.output


def test_train_options_are_the_optimizer_registry():
    """Every registered optimizer is an --optimizer choice and every hyperparameter an option
    (generated from descentcheck.registry.optimizers); lr is required."""
    from descentcheck.registry.optimizers import names, options

    r = CliRunner().invoke(main, ["train", "--help"])
    assert r.exit_code == 0
    for name in names():
        assert name in r.output
    for h in options().values():
        assert h.option in r.output
    # a shared option whose range or default differs between optimizers says each one's
    flat = " ".join(r.output.split())
    assert "nesterov: momentum beta ((0, 1)); rmsprop: momentum beta ([0, 1); default 0.0)" in flat
    r = CliRunner().invoke(main, ["train", "sine_skip", "--data", "sine", "--optimizer", "gd"])
    assert r.exit_code == 2 and "Missing option '--lr'" in r.output


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["train", "sine_skip", "--data", "sine", "--optimizer", "gd", "--lr", "abc"],
            "error: Invalid value for '--lr': 'abc' is not a valid float.",
        ),
        (
            ["train", "sine_skip", "--data", "sine", "--optimizer", "gd"],
            "error: Missing option '--lr'.",
        ),
        (
            ["verify", "--profile", "nope"],
            "error: Invalid value for '--profile': 'nope' is not one of 'fast', 'ci', 'thorough'.",
        ),
        (["nosuch"], "error: No such command 'nosuch'."),
        (["--bogus"], "error: No such option '--bogus'."),
    ],
    ids=["type", "missing", "choice", "command", "group option"],
)
def test_a_usage_error_is_one_line(args, line):
    """The held-out run: a bad option type printed click's usage block (README: every mistake
    is one line ``error: ...``, exit status 2)."""
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and r.output.strip().splitlines() == [line], r.output


def test_no_command_prints_the_help():
    r = CliRunner().invoke(main, [])
    assert r.output.startswith("Usage: ") and "COMMAND [ARGS]" in r.output and "train" in r.output


def test_gradcheck_mpmath_and_an_unusable_oracle_in_one_line(workdir):
    spec = workdir / "design.json"
    spec.write_text(json.dumps(DESIGN_EXAMPLE))
    np.savez(workdir / "d.npz", x=np.linspace(-1, 1, 6).reshape(2, 3), y=np.ones((2, 2)))
    args = ["gradcheck", str(spec), "--data", str(workdir / "d.npz")]
    r = CliRunner().invoke(main, [*args, "--method", "mpmath"])
    assert r.exit_code == 0, r.output
    assert "mpmath" in r.output and "FAIL" not in r.output
    # a loss that overflows: the oracle has nothing to differentiate, said in one line
    np.savez(workdir / "big.npz", x=np.ones((2, 3)), y=np.full((2, 2), 1e300))
    big = ["gradcheck", str(spec), "--data", str(workdir / "big.npz"), "--method", "mpmath"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be a second line on the terminal
        r = CliRunner().invoke(main, big)
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: gradcheck: "), (
        r.output
    )
    # an infinite tolerance would pass any gradient; a negative one is Click's range error
    for rtol, says in (("inf", "rtol must be a finite number >= 0, got inf"), ("-1", "--rtol")):
        r = CliRunner().invoke(main, [*args, "--rtol", rtol])
        assert r.exit_code == 2 and says in r.output and len(r.output.splitlines()) == 1, r.output


@pytest.mark.parametrize(
    "content, says",
    [
        (bytes(range(256)), "is not UTF-8 text (byte 128 is 0x80)"),
        # a held-out audit: a pickle said "'utf-8' codec can't decode byte 0x80 in position 0"
        (pickle.dumps({"claims": []}), "is a Python pickle, which descentcheck never loads"),
        (b'{"claims": 5}', "top level: missing key 'profile'"),
        (
            b'{"claims": 5, "profile": "ci", "seconds": 1}',
            "claims: expected a list, got a number (5)",
        ),
        (b"[]", "is not a ledger written by verify --json (got list)"),
        (
            b'{"profile": "ci", "seconds": 1, "claims": [{"id": "x", "expect": "holds", '
            b'"outcome": "maybe", "examples": 1, "meets_expectation": true}]}',
            "claims[0].outcome: expected 'held', 'falsified' or 'error', got a string ('maybe')",
        ),
        (  # a report names figure files by the id: this one made folders under the output
            b'{"profile": "ci", "seconds": 1, "claims": [{"id": "../x", "expect": "holds", '
            b'"outcome": "held", "examples": 1, "meets_expectation": true}]}',
            "claims[0].id: '../x' is not a claim id (letters and digits joined by - or _)",
        ),
    ],
)
@pytest.mark.parametrize("command", ["replay", "report"])
def test_a_file_that_is_no_ledger_is_one_line_before_any_work(tmp_path, content, says, command):
    ledger = tmp_path / "ledger.json"
    ledger.write_bytes(content)
    out = tmp_path / "out"
    args = ["--dir", str(out)] if command == "replay" else ["--ledger", "--out", str(out), "-q"]
    args = [command, str(ledger), *args] if command == "replay" else [command, *args]
    if command == "report":
        args.insert(args.index("--ledger") + 1, str(ledger))
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert r.output.startswith((f"error: {ledger}", f"error: ledger {ledger}"))
    assert says in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not out.exists() or not any(out.iterdir())  # nothing built, nothing written


def test_a_net_too_large_to_allocate_is_one_line(workdir, monkeypatch):
    """numpy's MemoryError names the array; a real one would need a net past the machine's
    memory yet within the spec's width cap (2^31 - 1), which a test cannot risk allocating."""
    import descentcheck.impl.network as network

    def too_large(self, *args, **kwargs):
        raise MemoryError(
            "Unable to allocate 745. GiB for an array with shape (1, 100000000000) and data type "
            "float64"
        )

    monkeypatch.setattr(network.Network, "init", too_large)
    r = CliRunner().invoke(main, [str(a) for a in _train_args(workdir)])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: out of memory: Unable to allocate 745. GiB"), r.output
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["a_file/ledger.json", "a_file/deeper/ledger.json"])
def test_an_unwritable_json_target_is_named_before_verify_runs(tmp_path, where, monkeypatch):
    import descentcheck.properties as properties

    def must_not_run(**kwargs):
        raise AssertionError("verify ran before its output was checked")

    monkeypatch.setattr(properties, "run_verify", must_not_run)
    (tmp_path / "a_file").write_text("x")
    target = tmp_path / where
    args = ["verify", "--claim", "backprop-returns-the-loss", "--json", str(target)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert r.output.strip() == (
        f"error: cannot write the ledger to {target}: {tmp_path / 'a_file'} is a file"
    )


def test_a_failed_atomic_write_names_the_target_not_its_temporary_file(tmp_path, monkeypatch):
    from descentcheck.impl import io

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / ".x.json.abc.tmp"))

    monkeypatch.setattr(io.tempfile, "NamedTemporaryFile", no_space)
    with pytest.raises(OSError) as err:
        io.atomic_write_text(tmp_path / "x.json", "{}")
    assert err.value.filename == str(tmp_path / "x.json") and err.value.errno == 28


def test_verify_list_names_every_claim_and_runs_none(monkeypatch):
    import descentcheck.properties as properties
    from descentcheck.properties import BY_ID

    monkeypatch.setattr(properties, "run_verify", lambda **kw: pytest.fail("verify ran"))
    r = CliRunner().invoke(main, ["verify", "--list"])
    assert r.exit_code == 0, r.output
    rows = [line.split()[:2] for line in r.output.strip().splitlines()]
    assert rows == [[c.id, c.expect] for c in BY_ID.values()]


def test_a_closed_pipe_ends_quietly():
    """`descentcheck verify --list | head -1`: no 'error: Broken pipe' once the reader has gone
    (here it is gone before the first write, so every write meets a closed pipe)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "descentcheck", "verify", "--list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and err == ""


def test_ctrl_c_twice_during_verify_stops_its_workers_at_once(tmp_path):
    """SIGINT to the process group twice, as a terminal's Ctrl-C pressed again: the claims'
    worker processes are terminated (not waited for; the second press once hung the exit)."""
    import time

    slow = ["weight-path-bounded", "distance-nets-rmsprop-beats-sgd-and-momentum"]  # > 10 s
    cmd = [sys.executable, "-m", "descentcheck", "verify", "--profile", "ci"]
    cmd += [a for c in slow for a in ("--claim", c)] + ["--json", str(tmp_path / "l.json")]
    env = {**os.environ, "DESCENTCHECK_HYPOTHESIS_DB": str(tmp_path / "db")}
    proc = subprocess.Popen(
        cmd,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )
    try:
        time.sleep(4)  # the workers are busy with their claims by now
        assert proc.poll() is None, proc.communicate()
        for _ in range(2):
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.05)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=30)
        waited = time.monotonic() - t0
        survivors = group_alive(proc)
    finally:
        kill_group(proc)
    assert proc.returncode == 130 and err.startswith("interrupted:"), err
    assert len(err.strip().splitlines()) == 1 and waited < 10
    assert not (tmp_path / "l.json").exists()
    assert not survivors, "a worker outlived the command"


@pytest.fixture(scope="module")
def falsified_ledger(tmp_path_factory):
    """A real ledger whose one claim holds a replayable counterexample."""
    path = tmp_path_factory.mktemp("ledger") / "ledger.json"
    args = ["verify", "--profile", "fast", "--claim", "gd-above-2-over-L-decreases"]
    r = CliRunner().invoke(main, [*args, "--json", str(path)])
    assert r.exit_code == 0, r.output
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    "spoil, says",
    [
        (lambda ce: ce["data"].update(x=[[1.0], [2.0, 3.0]]), "must be arrays of numbers"),
        (lambda ce: ce.update(params=None), "its params must be a table, got null"),
        # a new-user audit: "('int' object has no attribute 'items')"
        (lambda ce: ce.update(params=5), "its params must be a table, got a number (5)"),
        (lambda ce: ce.update(data=[1]), "its data must be a table of x and y, got a list"),
        (lambda ce: ce["data"].pop("x"), "its data lack 'x'"),
        (lambda ce: ce.update(spec={"inputs": 1}), "spec has no 'output'"),
        (lambda ce: ce["hyperparameters"].update(lr=-1), "learning rate must lie in (0, inf)"),
        (lambda ce: ce["hyperparameters"].update(steps="many"), "steps must be a positive"),
        # found by tests/test_documents_fuzz.py: each was a traceback
        (lambda ce: ce.update(hyperparameters="0"), "hyperparameters must be a table, got a str"),
        (lambda ce: ce["hyperparameters"].update(x=[1]), "'x' is not a setting of a gd run"),
        (lambda ce: ce["data"].update(y=None), "targets y are one number"),
    ],
)
def test_a_counterexample_that_is_no_run_is_refused_before_any_file(
    falsified_ledger, tmp_path, spoil, says
):
    ledger = json.loads(json.dumps(falsified_ledger))
    spoil(ledger["claims"][0]["counterexample"])
    (tmp_path / "l.json").write_text(json.dumps(ledger))
    r = CliRunner().invoke(main, ["replay", str(tmp_path / "l.json"), "--dir", str(tmp_path / "d")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "claims[0].counterexample: not a run to replay: " in r.output and says in r.output
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("command", ["replay", "report"])
def test_a_counterexample_of_implausibly_many_steps_is_refused_before_any_work(
    falsified_ledger, tmp_path, command
):
    """A held-out tester: with its steps set to 10**30, ``report --ledger`` never finished and
    ``replay`` printed a train command with --steps 10**30."""
    ledger = json.loads(json.dumps(falsified_ledger))
    ledger["claims"][0]["counterexample"]["hyperparameters"]["steps"] = 10**30
    path, out = tmp_path / "l.json", tmp_path / "out"
    path.write_text(json.dumps(ledger))
    args = ["replay", str(path), "--dir"] if command == "replay" else ["report", "-q", "--out"]
    extra = [] if command == "replay" else ["--profile", "smoke", "--ledger", str(path)]
    r = CliRunner().invoke(main, [*args, str(out), *extra])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert r.output.startswith(f"error: {path} is not a ledger written by verify --json: ")
    assert "claims[0].counterexample.hyperparameters.steps: must be <= 10000" in r.output
    assert not out.exists()


@pytest.mark.parametrize("blocker", ["a file", "a broken link"])
def test_a_file_where_a_folder_goes_is_named_in_one_line(falsified_ledger, tmp_path, blocker):
    """A new-user audit: ``replay --dir FILE/sub`` printed the claim's line, then "not a
    directory"; ``sweep --db FILE/r.sqlite`` said "File exists (FILE)"; now each names the file
    in the way, in the one line ``train --out`` writes, and writes nothing. A held-out tester's
    broken symbolic link read "None is a file" (``train --out``, ``verify --json``) or "file
    exists" (``replay``, ``report``): it is named as one."""
    in_the_way = tmp_path / "afile"
    if blocker == "a file":
        in_the_way.write_text("keep")
        named = f"{in_the_way} is a file"
    else:
        in_the_way.symlink_to(tmp_path / "nowhere" / "zz")
        named = f"{in_the_way} is a broken symbolic link (to {tmp_path / 'nowhere' / 'zz'})"
    ledger = tmp_path / "l.json"
    ledger.write_text(json.dumps(falsified_ledger))
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'steps = 2\narchitectures = ["sine_skip"]\ndata = "sine"\n'
        '[[optimizers]]\nname = "gd"\nlr = 0.1\n'
    )
    db = tmp_path / "s.sqlite"
    r = CliRunner().invoke(main, ["sweep", str(sweep), "--db", str(db), "--scheduler", "serial"])
    assert r.exit_code == 0, r.output
    sub = str(in_the_way / "sub")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SINE_SPEC))
    train = ["train", str(spec), "--data", "sine", "--optimizer", "gd", "--lr", "0.1"]
    for args, says in (
        (["replay", str(ledger), "--dir", sub], f"cannot write the replay into {sub}: "),
        (["replay", str(db), "--dir", sub], f"cannot write the replay into {sub}: "),
        (["sweep", str(sweep), "--db", f"{sub}.sqlite"], "cannot write the sweep database "),
        (["report", "--db", str(db), "--out", sub], f"{in_the_way}"),  # the file os names
        ([*train, "--out", sub], "cannot write the run to "),
        (["verify", "--json", f"{sub}/l.json"], "cannot write the ledger to "),
    ):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and r.output.count("\n") == 1, (args, r.output)
        assert r.output.startswith(f"error: {says}"), (args, r.output)
        assert r.output.endswith(f"{named}\n") or (r.output.endswith(f"{named}, not a folder\n")), (
            args,
            r.output,
        )
    assert blocker != "a file" or in_the_way.read_text() == "keep"
    assert blocker == "a file" or not (tmp_path / "nowhere").exists()


def test_a_ledger_naming_one_claim_twice_is_refused(falsified_ledger, tmp_path):
    ledger = {**falsified_ledger, "claims": falsified_ledger["claims"] * 2}
    (tmp_path / "l.json").write_text(json.dumps(ledger))
    r = CliRunner().invoke(main, ["replay", str(tmp_path / "l.json"), "--dir", str(tmp_path / "d")])
    assert r.exit_code == 2, r.output
    assert "claims[1].id: 'gd-above-2-over-L-decreases' appears twice" in r.output


def test_a_run_diverged_at_w0_says_no_step_was_taken_without_numpy_warnings(workdir):
    x = np.linspace(-1, 1, 20).reshape(20, 1) * 1e200  # finite, but every loss is NaN
    np.savez(workdir / "big.npz", x=x, y=np.ones((20, 1)))
    args = _apply(_train_args(workdir), ["--data", str(workdir / "big.npz")])
    args.remove("-q")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from numpy fails the command
        r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    assert "diverged: loss became nan at step 0" in r.output
    assert "no step was taken" in r.output and "decreased" not in r.output


def test_a_run_stopped_by_a_non_finite_update_says_so(workdir):
    """RMSProp at eps = 0 on a relu net with a zero input column: 0/0 in the first update. The
    run said "completed" with NaN weights (a held-out audit); it is diverged at step 0, and the
    summary counts the steps whose loss was evaluated (it said "over 1 steps" beside "no step
    was taken")."""
    (workdir / "relu.json").write_text(json.dumps(RELU_LAYER))
    x = np.array([[0.5, 0.0, 1.0], [-1.0, 0.0, 0.25], [1.0, 0.0, -0.5], [0.25, 0.0, 0.75]])
    np.savez(workdir / "zc.npz", x=x, y=np.array([[0.5, -1], [1, 0], [0, 0.5], [-0.5, 1]]))
    args = ["train", workdir / "relu.json", "--data", workdir / "zc.npz", "--optimizer", "rmsprop"]
    args += ["--lr", "0.01", "--eps", "0", "--steps", "5", "--out", workdir / "run"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "diverged: update became non-finite at step 0"
    assert " over 0 steps " in lines[1]
    assert lines[2] == "its one update was not finite, so nothing to say about a decrease"
    record = json.loads((workdir / "run" / "trajectory.json").read_text())
    assert record["status"] == "diverged" and record["steps"][0]["step_norm"] == "nan"


@pytest.mark.parametrize(
    "args, says",
    [
        (
            [
                "train",
                "sine_skip",
                "--data",
                "sine",
                "--optimizer",
                "gd",
                "--lr",
                "0.1",
                "--out",
                "",
            ],
            "Invalid value for '--out': is empty",
        ),
        (["report", "--db", "x.sqlite", "--ledger", "{ledger}"], "--ledger has no use with --db"),
        # a sweep's report was drawn as if at the thorough profile, and seed 0 as asked
        (["report", "--db", "x.sqlite", "--profile", "thorough"], "--profile has no use with --db"),
        (["report", "--db", "x.sqlite", "--seed", "0"], "--seed has no use with --db"),
        (["verify", "--list", "--claim", "nope"], "--list takes no --claim"),
    ],
)
def test_options_that_would_be_ignored_or_misread_are_refused(tmp_path, args, says):
    (tmp_path / "l.json").write_text("{}")
    args = [a.replace("{ledger}", str(tmp_path / "l.json")) for a in args]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and says in r.output and len(r.output.strip().splitlines()) == 1, (
        r.output
    )


def test_a_bad_vector_math_setting_stops_every_command_in_one_line(workdir, monkeypatch):
    """Even a net too small to call MKL's exp: the setting is checked before the command runs."""
    monkeypatch.setenv("DESCENTCHECK_VECTOR_MATH", "fast")
    r = CliRunner().invoke(main, [str(a) for a in _train_args(workdir)])
    assert r.exit_code == 2
    assert r.output.strip() == (
        "error: DESCENTCHECK_VECTOR_MATH must be 'auto' or 'numpy', got 'fast'"
    )
    assert not (workdir / "run").exists()
    monkeypatch.setenv("DESCENTCHECK_VECTOR_MATH", "numpy")
    assert _run(_train_args(workdir), workdir).exit_code == 0


def test_a_bad_fused_setting_stops_every_command_in_one_line(workdir, monkeypatch):
    """As DESCENTCHECK_VECTOR_MATH: a typo in DESCENTCHECK_FUSED never passes unnoticed."""
    monkeypatch.setenv("DESCENTCHECK_FUSED", "on")
    r = CliRunner().invoke(main, [str(a) for a in _train_args(workdir)])
    assert r.exit_code == 2
    assert r.output.strip() == "error: DESCENTCHECK_FUSED must be 'auto' or 'numpy', got 'on'"
    assert not (workdir / "run").exists()
    monkeypatch.setenv("DESCENTCHECK_FUSED", "numpy")
    assert _run(_train_args(workdir), workdir).exit_code == 0


def test_a_bad_blas_setting_stops_every_command_in_one_line(workdir, monkeypatch):
    """A net too small for MKL's products too; and ``mkl`` asked for where MKL cannot run
    names what is missing, before the command writes anything."""
    from descentcheck.impl.ops import blas, mkl_runtime

    def invoke(setting: str):
        monkeypatch.setenv("DESCENTCHECK_BLAS", setting)
        blas.provider.cache_clear()
        return CliRunner().invoke(main, [str(a) for a in _train_args(workdir)])

    try:
        r = invoke("openblas")
        assert r.exit_code == 2
        assert r.output.strip() == (
            "error: DESCENTCHECK_BLAS must be 'auto', 'numpy' or 'mkl', got 'openblas'"
        )
        monkeypatch.setattr(mkl_runtime, "runtime", lambda: None)
        r = invoke("mkl")
        assert r.exit_code == 2
        assert r.output.strip() == (
            "error: DESCENTCHECK_BLAS=mkl cannot be used: the mkl extra (mkl-service and MKL's "
            "runtime) is not installed"
        )
        assert not (workdir / "run").exists()
        assert invoke("numpy").exit_code == 0
    finally:
        monkeypatch.undo()
        blas.provider.cache_clear()


def test_ctrl_c_while_the_cli_loads_is_one_line(monkeypatch, capsys):
    """A held-out audit: SIGINT in the first tenth of a second, while descentcheck.cli imports,
    gave a traceback; the entry point imports it inside its own handler."""
    import builtins

    from descentcheck import __main__ as entry
    from descentcheck.cli import INTERRUPTED

    real = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "descentcheck.cli":
            raise KeyboardInterrupt
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(SystemExit) as info:
        entry.main()
    assert info.value.code == 130
    assert capsys.readouterr().err == INTERRUPTED + "\n" == entry.INTERRUPTED + "\n"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"DESCENTCHECK_JOBS": "abc"}, "DESCENTCHECK_JOBS='abc': expected an integer >= 1"),
        ({"DESCENTCHECK_JOBS": "0"}, "DESCENTCHECK_JOBS='0': expected an integer >= 1"),
        ({"DESCENTCHECK_SEED": "1.5"}, "DESCENTCHECK_SEED='1.5': expected an integer >= 0"),
        ({"DESCENTCHECK_HYPOTHESIS_DB": "{file}"}, "is a file, not a folder for the examples"),
    ],
)
def test_bad_environment_settings_are_one_line(tmp_path, monkeypatch, env, says):
    """A held-out audit: these were a 35-line traceback (int() on the raw value), or, for a
    database path naming a file, ignored without a word (Hypothesis kept nothing)."""
    (tmp_path / "afile").write_text("x")
    for k, v in env.items():
        monkeypatch.setenv(k, v.format(file=tmp_path / "afile"))
    r = CliRunner().invoke(main, ["verify", "--profile", "fast", "--claim", "forward-equals-spec"])
    lines = r.output.strip().splitlines()
    assert (
        r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0]
    )


def test_a_negative_verify_seed_names_the_option():
    """It was refused as the environment variable the option is passed on as
    ("DESCENTCHECK_SEED='-1': ..."), a setting the user never made."""
    r = CliRunner().invoke(main, ["verify", "--profile", "fast", "--seed", "-1"])
    assert r.exit_code == 2 and "Invalid value for '--seed'" in r.output, r.output
    assert "DESCENTCHECK_SEED" not in r.output


def test_every_error_is_one_line(tmp_path):
    """A path with a newline in it, click's list of choices, characters the terminal cannot
    encode: each was a second line, or a UnicodeEncodeError traceback (replay's command)."""
    args = ["--data", "sine", "--optimizer", "gd", "--lr", "0.1", "--out", str(tmp_path / "o")]
    r = CliRunner().invoke(main, ["train", "no\nsuch.json", *args])
    assert r.exit_code == 2 and r.output == "error: spec file not found: no\\nsuch.json\n"
    r = CliRunner().invoke(main, ["train", "sine_skip", "--data", "sine", "--lr", "0.1"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert r.output.startswith("error: Missing option '--optimizer'. Choose from: gd, momentum")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "descentcheck",
            "train",
            "sine_skip",
            "--data",
            "dätä.npz",
            *args[2:],
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        encoding="utf-8",
    )
    assert proc.returncode == 2 and proc.stderr == "error: data file not found: d\\xe4t\\xe4.npz\n"


def test_replay_of_a_claim_the_ledger_does_not_hold_names_the_id(tmp_path, monkeypatch):
    """A held-out new user's typo was answered "holds no counterexample for claim 'nope'", as if
    the claim were there and held; it now says the ledger has no such claim, and the closest."""
    monkeypatch.setenv("DESCENTCHECK_HYPOTHESIS_DB", str(tmp_path / "db"))
    ledger = tmp_path / "l.json"
    _one_claim_ledger(ledger)
    r = CliRunner().invoke(
        main,
        [
            "replay",
            str(ledger),
            "--claim",
            "gd-above-2-over-L-decrease",
            "--dir",
            str(tmp_path / "r"),
        ],
    )
    assert r.exit_code == 2
    assert (
        "has no claim 'gd-above-2-over-L-decrease'; did you mean 'gd-above-2-over-L-decreases'?"
        in r.output
    )
    assert "(1 claim in it)" in r.output


def test_derive_refuses_a_dim_for_an_optimizer():
    """An update rule is of one entry: `derive gd --dim 5` printed gd's rule and ignored 5."""
    r = CliRunner().invoke(main, ["derive", "gd", "--dim", "5"])
    assert r.exit_code == 2 and "--dim is for ops; 'gd' is an optimizer" in r.output
    r = CliRunner().invoke(main, ["derive", "dense", "--dim", "2", "--format", "sympy"])
    assert r.exit_code == 0 and "D = 2 inputs" in r.output
    assert (
        "D = 3 inputs" in CliRunner().invoke(main, ["derive", "dense", "--format", "sympy"]).output
    )


def test_train_checks_its_output_folder_before_it_trains(workdir, monkeypatch):
    """A read-only or blocked --out was found only after the run: a long run lost its work
    (held-out crash audit)."""
    import descentcheck.impl.trainer as trainer

    def never(*a, **k):
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr(trainer, "train", never)
    (workdir / "run" / "params.npz").mkdir(parents=True)
    r = CliRunner().invoke(main, [str(a) for a in _train_args(workdir)])
    assert r.exit_code == 2
    assert (
        r.output.strip()
        == f"error: cannot write the run to {workdir / 'run' / 'params.npz'}: it is a directory"
    )


def test_sigterm_during_train_is_an_interrupt_that_leaves_the_earlier_run(workdir):
    """SIGTERM's default action ended train at once: a half-written .params.npz.*.tmp stayed
    beside the result (held-out crash audit). It is raised as an interrupt now: one line,
    status 143 (128 + 15), the earlier pair intact, no temporary file left."""
    import time

    assert _run(_train_args(workdir), workdir).exit_code == 0
    before = _snapshot(workdir / "run")
    args = [str(a) for a in _train_args(workdir, "--steps", "100000000")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "descentcheck", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # training by now
    assert proc.poll() is None, proc.communicate()
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.startswith("interrupted:"), (proc.returncode, err)
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(workdir / "run") == before


def test_a_plugin_in_a_misspelt_entry_point_group_is_named_with_the_unknown_name(
    monkeypatch, tmp_path
):
    """A fifth audit: entry points in ``descentcheck.optimizer`` (no s) were never loaded, and
    ``--optimizer xopt`` said only "'xopt' is not one of ..."; each unknown-name refusal now
    names the stray group and the groups descentcheck reads."""
    from descentcheck.registry import plugins

    real = plugins.declared_groups
    assert "console_scripts" in real()  # descentcheck's own
    monkeypatch.setattr(plugins, "declared_groups", lambda: {*real(), "descentcheck.optimizer"})
    hint = (
        "an installed package declares entry points in 'descentcheck.optimizer', which "
        "descentcheck does not read (its groups: descentcheck.ops, descentcheck.optimizers, "
        "descentcheck.claims)"
    )
    spec = tmp_path / "s.json"
    spec.write_text(
        json.dumps(
            {
                **DESIGN_EXAMPLE,
                "nodes": [
                    {**n, "op": "xact"} if n["op"] == "tanh" else n for n in DESIGN_EXAMPLE["nodes"]
                ],
            }
        )
    )
    out = ["--out", str(tmp_path / "o")]
    for args in (
        ["train", "sine_skip", "--data", "sine", "--optimizer", "xopt", "--lr", "0.1", *out],
        ["train", str(spec), "--data", "sine", "--optimizer", "gd", "--lr", "0.1", *out],
        ["derive", "xopt"],
        ["verify", "--claim", "xopt-claim"],
    ):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and len(r.output.splitlines()) == 1, (args, r.output)
        assert hint in " ".join(r.output.split()), (args, r.output)
        assert ".;" not in r.output, r.output  # click's full stop before the hint (an audit)
    from descentcheck.impl.errors import HyperparameterError
    from descentcheck.registry.optimizers import get

    with pytest.raises(HyperparameterError, match="does not read"):
        get("xopt")
    monkeypatch.setattr(plugins, "declared_groups", real)  # none stray: no hint
    r = CliRunner().invoke(main, ["derive", "xopt"])
    assert r.exit_code == 2 and "does not read" not in r.output


def test_gradcheck_says_undecided_where_the_oracles_error_would_decide(workdir):
    """Named Richardson on a relu net with data of size 1e-3 (its fixed steps cross the kinks)
    said OK on its own error estimate, and a 20% wrong gradient passed the same way (a held-out
    gradcheck audit): the row is UNDECIDED, the note says why, and the status is 3, not 0 or
    the 1 of a failure. The pass rule is printed with the table."""
    spec = workdir / "kinked.json"
    spec.write_text(json.dumps(relu_net(4)))
    rng = np.random.default_rng(0)  # the audit's data, as it drew them
    np.savez(workdir / "d.npz", x=rng.normal(size=(10, 2)) * 1e-3, y=rng.normal(size=10))
    args = ["gradcheck", str(spec), "--data", str(workdir / "d.npz"), "--seed", "0"]
    r = CliRunner().invoke(main, [*args, "--method", "richardson"])
    assert r.exit_code == 3, r.output
    assert "UNDECIDED (oracle error)" in r.output and "FAIL" not in r.output, r.output
    assert "this oracle cannot tell" in r.output
    assert "pass: |backprop - oracle| <= rtol * max(" in r.output and "rtol 1e-08" in r.output
    auto = CliRunner().invoke(main, args)
    assert auto.exit_code == 0 and "UNDECIDED" not in auto.output, auto.output


@pytest.mark.parametrize("method", ["richardson", "mpmath"])
def test_gradcheck_at_a_kink_without_an_oracle_is_undecided_not_failed(workdir, method):
    """A named differences oracle has no oracle at a relu kink: the row said FAIL and the
    status was 1, as for a wrong gradient (a held-out gradcheck audit: a script could not tell
    the two apart); it is UNDECIDED, status 3."""
    spec = workdir / "relu.json"
    spec.write_text(json.dumps(relu_net(3)))
    x = np.array([[0.0, 0.0], [1.0, -0.5], [0.3, 0.8]])  # a row of zeros: h = b = 0 there
    np.savez(workdir / "d.npz", x=x, y=np.array([0.5, -1.0, 2.0]))
    args = ["gradcheck", str(spec), "--data", str(workdir / "d.npz"), "--seed", "0"]
    r = CliRunner().invoke(main, [*args, "--method", method])
    assert r.exit_code == 3, r.output
    assert "UNDECIDED (no oracle at a kink)" in r.output and "FAIL" not in r.output, r.output
    # its note, once, before the pass rule (a regression check found a second note after it,
    # quoting an "oracle" value beside "no oracle")
    lines = r.output.splitlines()
    assert lines[-1].startswith("pass: ") and "rel. error inf" not in r.output, r.output
