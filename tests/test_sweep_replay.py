"""``descentcheck replay DB --case N``: any sweep case as files that ``train`` replays with the
sweep's own bits (random data, a subsampled built-in, a data file, step sizes relative to L_0)."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
from click.testing import CliRunner

from descentcheck.cli import main
from descentcheck.impl.trajectory import decreased_every_step
from descentcheck.properties.sweep import read_sweep, run_sweep
from descentcheck.properties.sweep.replay import pick_case

SWEEP_TOML = """
name = "replay test"
steps = 20
seeds = [0]

[architectures]
specs = ["sine_skip"]
random = {count = 2, seed = 0, max_steps = 3, max_params = 40}

[[data]]
source = "random"
n = 6

[[data]]
source = "sine"
subsample = 20

[[data]]
source = "mine.npz"

[[optimizers]]
name = "adaptive_momentum"
relative_to_L = true
lr = [0.5, 1.9]
tau = 0.6

[[optimizers]]
name = "momentum"
lr = 0.3
momentum = 0.9

[estimate_L]
iters = 20
"""
N_CASES = 15  # sine_skip x 3 data sets + 2 random DAGs x random data, x 3 points


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    d = tmp_path_factory.mktemp("replay")
    x = np.linspace(-2.0, 2.0, 9)[:, None]
    np.savez(d / "mine.npz", x=x, y=np.cos(3.0 * x))
    (d / "sweep.toml").write_text(SWEEP_TOML)
    db = d / "sweep.sqlite"
    summary = run_sweep(d / "sweep.toml", db, scheduler="serial", progress=False)
    assert summary.complete and summary.ran == N_CASES and summary.failed == 0
    return db


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _replayed_losses(db, index, directory) -> list[float]:
    r = _invoke("replay", db, "--case", index, "--dir", directory)
    assert r.exit_code == 0, r.output
    header, command = r.output.strip().splitlines()
    assert header.startswith(f"case {index} of sweep 'replay test' (done): ")
    argv = shlex.split(command)
    assert argv[:2] == ["descentcheck", "train"]
    t = _invoke(*argv[1:], "-q")
    assert t.exit_code == 0, t.output
    record = json.loads((directory / "replay" / "trajectory.json").read_text())
    return [s["loss"] for s in record["steps"]]


def test_every_case_replays_with_the_sweeps_bits(swept, tmp_path):
    rows = read_sweep(swept).rows
    kinds = {(r.case["data"]["kind"], r.case["relative_to_L"]) for r in rows}
    assert kinds == {(k, rel) for k in ("random", "builtin", "file") for rel in (True, False)}
    for row in rows:
        losses = _replayed_losses(swept, row.index, tmp_path / str(row.index))
        checks = row.results["checks"]
        assert len(losses) == row.results["steps_done"] + 1
        assert float(losses[0]) == float(checks["final_loss"]["initial"]), row.index
        assert float(losses[-1]) == float(checks["final_loss"]["final"]), row.index
        holds, first_rise, _ = decreased_every_step(np.array(losses, dtype=float))
        assert checks["diverged"]["diverged"] == (row.results["status"] == "diverged")
        assert (holds, first_rise) == (
            checks["decrease_every_step"]["holds"],
            checks["decrease_every_step"]["first_rise"],
        )


def test_relative_step_sizes_are_replayed_as_trained(swept, tmp_path):
    row = next(r for r in read_sweep(swept).rows if r.case["relative_to_L"])
    r = _invoke("replay", swept, "--case", row.index, "--dir", tmp_path)
    assert "divided by L_0 at w_0" in r.output
    trained = row.results["hyperparameters"]
    assert trained["lr"] == row.case["hyperparameters"]["lr"] / row.results["L0"]
    argv = shlex.split(r.output.strip().splitlines()[-1])
    assert float(argv[argv.index("--lr") + 1]) == trained["lr"]
    assert float(argv[argv.index("--tau") + 1]) == trained["tau"]


def test_the_default_case_is_the_first_inside_the_region_that_rose(swept):
    sweep = read_sweep(swept)

    def rose(r):
        return r.results["checks"]["decrease_every_step"]["holds"] is False

    def inside(r):
        return r.results["checks"].get("inside_region", {}).get("inside") is True

    assert any(rose(r) for r in sweep.rows), "the sweep should hold a rise to pick"
    picked = pick_case(sweep, None)
    assert rose(picked)
    earlier = sweep.rows[: picked.index]
    if inside(picked):
        assert not any(rose(r) and inside(r) for r in earlier)
    else:
        assert not any(rose(r) and inside(r) for r in sweep.rows)
        assert not any(rose(r) for r in earlier)


def test_a_sweep_without_a_rise_names_the_way_out(tmp_path):
    (tmp_path / "calm.toml").write_text(
        'name = "calm"\nsteps = 3\narchitectures = ["sine_skip"]\ndata = "sine"\n'
        'optimizers = {name = "gd", lr = 1e-6}\n'
    )
    run_sweep(tmp_path / "calm.toml", tmp_path / "calm.sqlite", scheduler="serial")
    r = _invoke("replay", tmp_path / "calm.sqlite", "--dir", tmp_path / "out")
    assert r.exit_code == 2
    assert r.output.strip().endswith(
        "holds no finished case whose loss rose; --case N replays any case"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--case", "15"], "has no case 15 (cases 0 to 14)"),
        (["--claim", "some-claim"], "is a sweep database: pick a case with --case N"),
    ],
)
def test_sweep_replay_refusals_are_one_line(swept, tmp_path, extra, message):
    r = _invoke("replay", swept, *extra, "--dir", tmp_path / "out")
    assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage\n", "is not an SQLite database (corrupt, or another kind of file)"),
        (b"", "sweep database not found (or empty)"),
    ],
)
def test_a_broken_sweep_database_is_named_as_one(tmp_path, content, message):
    """A corrupt or empty .sqlite was read as a ledger: "malformed JSON", as sweep and report
    --db do not say."""
    db = tmp_path / "broken.sqlite"
    db.write_bytes(content)
    r = _invoke("replay", db, "--dir", tmp_path / "out")
    assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1
    assert db.read_bytes() == content and not (tmp_path / "out").exists()


def test_case_on_a_ledger_is_refused(tmp_path):
    ledger = tmp_path / "ledger.json"
    ledger.write_text("{}")
    r = _invoke("replay", ledger, "--case", "0", "--dir", tmp_path / "out")
    assert r.exit_code == 2 and "is not one (a ledger takes --claim ID)" in r.output


def test_a_changed_data_file_is_one_line_before_any_header(swept, tmp_path):
    """The case's header was printed before the data file was found changed: two lines."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(swept.parent, copy)
    row = next(r for r in read_sweep(swept).rows if r.case["data"]["kind"] == "file")
    (swept.parent / "mine.npz").write_bytes((swept.parent / "mine.npz").read_bytes() + b"x")
    try:
        r = _invoke("replay", swept, "--case", row.index, "--dir", tmp_path / "out")
    finally:
        shutil.copy(copy / "mine.npz", swept.parent / "mine.npz")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "changed since the sweep was planned" in r.output


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            "'$.architecture.spec.nodes', json('[]')",
            "case 0 is damaged: 'nodes' must be a nonempty list; the file was left untouched",
        ),
        (
            "'$.hyperparameters.lr', -1",
            "case 0 is damaged: not a run to replay: learning rate must lie in (0, inf), got -1; "
            "the file was left untouched",
        ),
        (  # net.init's refusal named neither the database nor the case
            "'$.init_seed', -3",
            "case 0 is damaged: the init seed must be a non-negative integer, got -3; the file "
            "was left untouched",
        ),
        (  # a plugin's op, not installed here, reads the same: not called damage
            "'$.architecture.spec.nodes[0].op', 'a_plugins_op'",
            "case 0 cannot run here: unknown op 'a_plugins_op' in node",
        ),
    ],
    ids=["no nodes", "negative lr", "negative init seed", "unknown op"],
)
def test_a_damaged_case_is_named_by_its_database_and_index(tmp_path, change, says):
    """A held-out tester: a case whose spec had no nodes was "error: 'nodes' must be a nonempty
    list", naming neither the database nor the case, while other damage to the same file reads
    "DB: case 0 is damaged: ..."."""
    import sqlite3

    (tmp_path / "calm.toml").write_text(
        'name = "calm"\nsteps = 3\narchitectures = ["sine_skip"]\ndata = "sine"\n'
        'optimizers = {name = "gd", lr = 1e-6}\n'
    )
    db = tmp_path / "calm.sqlite"
    run_sweep(tmp_path / "calm.toml", db, scheduler="serial")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(f"UPDATE cases SET case_json = json_set(case_json, {change}) WHERE idx = 0")
    conn.close()
    before = db.read_bytes()
    r = _invoke("replay", db, "--case", 0, "--dir", tmp_path / "out")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert r.output.startswith(f"error: {db}: {says}"), r.output
    assert db.read_bytes() == before and not (tmp_path / "out").exists()
