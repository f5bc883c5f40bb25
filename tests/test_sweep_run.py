"""Running sweeps: straight through, interrupted and resumed, on local processes with a worker
killed, on a Dask LocalCluster; every run's rows must equal a straight-through run's, bit for bit.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from process_groups import group_alive, kill_group

from descentcheck.properties.sweep import SweepError, read_sweep, run_sweep
from descentcheck.reports.sweep import report_from_db

# 24 cases of about 0.1 s: long enough to interrupt mid-sweep, short enough for CI
SWEEP_TOML = """
name = "run test"
steps = 400
seeds = [0, 1]

[architectures]
specs = ["sine_skip"]
random = {count = 2, seed = 0, max_steps = 4, max_params = 60}

[[data]]
source = "random"
n = 12

[[optimizers]]
name = "adaptive_momentum"
relative_to_L = true
lr = [0.5, 2.5]
tau = [0.05]

[[optimizers]]
name = "momentum"
lr = 0.05
momentum = [0.0, 0.9]

[estimate_L]
iters = 20
"""
N_CASES = 24


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "sweep.toml"
    path.write_text(SWEEP_TOML)
    return path


@pytest.fixture(scope="module")
def reference(sweep_file):
    """The sweep run straight through, in this process."""
    db = sweep_file.with_name("reference.sqlite")
    summary = run_sweep(sweep_file, db, scheduler="serial", progress=False)
    assert summary.complete and summary.ran == N_CASES and summary.failed == 0
    return db


def _rows(db):
    """What must match between runs: everything but where and when."""
    return [
        (r.key, r.index, r.case_json, r.status, r.results_json, r.error)
        for r in read_sweep(db).rows
    ]


def _finished(db) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM cases WHERE status != 'pending'").fetchone()[
                0
            ]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # still being created
        return 0


def _wait_for(db, n: int, proc=None, timeout: float = 60.0) -> int:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        done = _finished(db)
        if done >= n:
            return done
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"sweep exited early: {proc.communicate()}")
        time.sleep(0.005)
    raise AssertionError(f"fewer than {n} cases finished in {timeout} s")


def test_rerun_does_no_work(reference, sweep_file):
    before = read_sweep(reference).rows
    summary = run_sweep(sweep_file, reference, progress=False)
    assert summary.ran == 0 and summary.already == N_CASES and summary.complete
    assert "nothing to run" in summary.format()
    after = read_sweep(reference).rows
    assert [(r.key, r.finished, r.worker) for r in after] == [
        (r.key, r.finished, r.worker) for r in before
    ]


def test_killed_sweep_resumes_without_loss_or_duplicates(reference, sweep_file, tmp_path):
    """SIGTERM a sweep, then SIGKILL it (workers and all), then resume: row by row equal."""
    db = tmp_path / "resumed.sqlite"
    code = "import sys\nfrom descentcheck.properties.sweep import run_sweep\nrun_sweep(sys.argv[1], sys.argv[2], workers=2, progress=False)\n"
    cmd = [sys.executable, "-c", code, str(sweep_file), str(db)]
    seen = []
    for sig, stop_after in ((signal.SIGTERM, 3), (signal.SIGKILL, 8)):
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            done = _wait_for(db, stop_after, proc)
            assert done < N_CASES, "the sweep finished before it could be interrupted"
            os.kill(proc.pid, sig)
            _, err = proc.communicate(timeout=30)
        finally:
            kill_group(proc)
        if sig == signal.SIGTERM:
            assert proc.returncode != 0
            assert "interrupted:" in err and "run the same command again to resume" in err
        else:  # communicate() returned: the orphaned workers exited and closed the pipes
            assert proc.returncode == -signal.SIGKILL
        seen.append(_finished(db))
    assert 0 < seen[0] <= seen[1] < N_CASES
    summary = run_sweep(sweep_file, db, scheduler="serial", progress=False)
    assert summary.already == seen[1] and summary.ran == N_CASES - seen[1] and summary.complete
    assert _rows(db) == _rows(reference)


def _sweep_in_its_own_group(sweep_file, db) -> subprocess.Popen:
    """``descentcheck sweep`` on two workers in a new process group, as a terminal starts it."""
    cmd = [sys.executable, "-m", "descentcheck", "sweep", str(sweep_file), "--db", str(db)]
    return subprocess.Popen(
        [*cmd, "--workers", "2", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_ctrl_c_twice_on_the_command_line_ends_in_one_line(sweep_file, tmp_path):
    """As a terminal's Ctrl-C: SIGINT to the whole process group (parent and workers), twice
    in quick succession. The second must not cut the cleanup the first started: the workers
    are terminated, the line says what was committed, and nothing hangs or tracebacks."""
    db = tmp_path / "ctrl_c.sqlite"
    proc = _sweep_in_its_own_group(sweep_file, db)
    try:
        assert _wait_for(db, 2, proc) < N_CASES, "the sweep finished before it could be stopped"
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        survivors = group_alive(proc)
    finally:
        kill_group(proc)
    committed = _finished(db)
    assert proc.returncode == 130, err
    assert not survivors, "a worker outlived the sweep"
    assert err.strip() == (
        f"interrupted: {committed} of {N_CASES} cases committed ({committed} in this run), "
        "nothing lost; run the same command again to resume"
    )


def test_killed_worker_is_noticed_and_its_case_rerun(reference, sweep_file, tmp_path):
    db = tmp_path / "killed_worker.sqlite"
    killed: list[int] = []

    def killer() -> None:
        _wait_for(db, 2)
        workers = [p for p in multiprocessing.active_children() if p.is_alive()]
        if workers:
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    summary = run_sweep(sweep_file, db, workers=2, progress=False)
    thread.join(timeout=10)
    assert killed, "no worker process was found to kill"
    assert summary.lost >= 1 and summary.restarts >= 1, summary
    assert summary.complete and summary.ran == N_CASES and not summary.abandoned
    assert _rows(db) == _rows(reference)


def test_dask_local_cluster_equals_local_run(reference, sweep_file, tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask is not installed")
    db = tmp_path / "dask.sqlite"
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        summary = run_sweep(sweep_file, db, scheduler=cluster.scheduler_address, progress=False)
    assert summary.complete and summary.ran == N_CASES and "Dask" in summary.where
    assert _rows(db) == _rows(reference)


def test_the_summary_names_the_processes_that_ran(tmp_path):
    """One case on four workers runs on one process, and the summary says so."""
    sweep = tmp_path / "one.toml"
    sweep.write_text(
        'name = "one"\nsteps = 3\narchitectures = ["sine_skip"]\ndata = "sine"\n'
        '[[optimizers]]\nname = "gd"\nlr = 0.1\n'
    )
    summary = run_sweep(sweep, tmp_path / "one.sqlite", workers=4, progress=False)
    assert summary.complete and summary.ran == 1
    assert "1 case run on 1 local process in" in summary.format(), summary.format()


def test_a_net_without_parameters_is_a_case_like_any_other(tmp_path):
    """``train`` takes a parameterless net; the sweep stored each such case as failed with
    numpy's "need at least one array to concatenate", from the L_0 estimate, and replay printed
    its traceback (sweep audit). Its Hessian is 0 x 0: L_0 = 0, the loss constant."""
    sweep = tmp_path / "none.toml"
    sweep.write_text(
        'name = "none"\nsteps = 3\ndata = "sine"\n'
        'architectures = [{name = "id", spec = {inputs = 1, output = "out", loss = "mse", '
        'nodes = [{name = "out", op = "identity", inputs = ["input"]}]}}]\n'
        '[[optimizers]]\nname = "gd"\nlr = 0.5\n'
    )
    summary = run_sweep(sweep, tmp_path / "none.sqlite", scheduler="serial", progress=False)
    assert summary.complete and summary.failed == 0, summary.format()
    (row,) = read_sweep(tmp_path / "none.sqlite").rows
    assert row.status == "done" and row.results["L0"] == 0.0
    checks = row.results["checks"]
    assert checks["decrease_every_step"]["holds"] and checks["final_loss"]["final_grad_norm"] == 0


def test_bad_scheduler_arguments(sweep_file, tmp_path, monkeypatch):
    with pytest.raises(SweepError, match="unknown scheduler 'mars'"):
        run_sweep(sweep_file, tmp_path / "x.sqlite", scheduler="mars")
    with pytest.raises(SweepError, match="workers must be a positive integer"):
        run_sweep(sweep_file, tmp_path / "x.sqlite", workers=0)
    try:
        import distributed  # noqa: F401
    except ImportError:
        pass
    else:
        with pytest.raises(SweepError, match="bad Dask scheduler address .* missing port"):
            run_sweep(sweep_file, tmp_path / "x.sqlite", scheduler="tcp://127.0.0.1")
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask were not installed
    with pytest.raises(
        SweepError, match=r"pip install -e '\.\[dask\]' in descentcheck's checkout"
    ) as err:
        run_sweep(sweep_file, tmp_path / "x.sqlite", scheduler="tcp://127.0.0.1:8786")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "x.sqlite").exists()


def test_report_builds(reference, tmp_path):
    index = report_from_db(reference, tmp_path / "report")
    assert index.name == "index.html"
    out = index.parent
    for name in ("region.png", "outcomes.png", "final_loss.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = index.read_text()
    assert "region.png" in html and "http" not in html.replace("http-equiv", "")
    doc = json.loads((out / "results.json").read_text())
    assert doc["format"] == "descentcheck.sweep-report/1"
    assert len(doc["cases"]) == N_CASES and doc["sweep"]["n_cases"] == N_CASES
    assert doc["counts"]["status"] == {"done": N_CASES, "failed": 0, "pending": 0}
    claim = next(v for k, v in doc["counts"].items() if k.startswith("claim"))
    assert sum(claim.values()) == N_CASES
    # every optimizer's region in a table, with its cases inside and outside
    md = (out / "report.md").read_text()
    assert "| adaptive_momentum | adaptive_momentum |" in md, md
    assert "| momentum | constant_momentum | 6 | 0 | 6 | 0 |  |" in md, md
    assert "adaptive_momentum in the (lr L, tau L) plane" in md and "Not drawn" not in md
    assert "`descentcheck replay reference.sqlite --case N --dir DIR`" in md
    # the outcomes are defined where they are counted (a held-out report reader)
    assert "vacuous (outside the region: theory promises nothing there), no verdict (" in md
    assert "first rise is the first step k with E(w_k+1) > E(w_k)" in md
    assert "<code>descentcheck replay reference.sqlite --case N --dir DIR</code>" in html
    # the same rows give the same report files
    again = report_from_db(reference, tmp_path / "again").parent
    for name in ("results.json", "index.html", "region.png"):
        assert (again / name).read_bytes() == (out / name).read_bytes()


def test_the_region_figure_names_the_swept_optimizers_it_does_not_draw():
    """A sweep of plugin optimizers only drew an empty figure captioned as if it showed them
    (a blind plugin author's finding): the caption now names what is left to the table."""
    from types import SimpleNamespace

    from descentcheck.reports.sweep import _region_caption

    rows = [SimpleNamespace(case={"optimizer": o}) for o in ("adagrad", "gd", "rmsprop", "gd")]
    caption = _region_caption(rows)
    assert caption.endswith(" Not drawn: adagrad, rmsprop (each in the table below)."), caption
    # only what was swept: it named adaptive_momentum and the momentum plane, never run here
    assert "regions: gd in the (lr L, tau L) plane." in caption, caption
    assert "adaptive_momentum" not in caption and "beta" not in caption


def test_a_case_given_up_is_named_with_why(tmp_path):
    """A held-out user's 2.9 TiB net was lost three times and left pending with no reason; the
    summary now says how many were given up and why, from the last attempt's exception."""
    from collections import deque
    from concurrent.futures.process import BrokenProcessPool

    from descentcheck.properties.sweep.execute import RunStats, lost_reason
    from descentcheck.properties.sweep.run import SweepSummary

    oom = MemoryError("Unable to allocate 2.91 TiB for an array\nwith shape (200, 2000000000)")
    assert lost_reason(oom) == (
        "out of memory: Unable to allocate 2.91 TiB for an array with shape (200, 2000000000)"
    )
    assert lost_reason(BrokenProcessPool()) == "its worker process died (killed, or out of memory)"
    stats, queue = RunStats(), deque()
    queue.append(("k", "{}"))
    for _ in range(3):
        stats.requeue(queue.popleft(), queue, 3, oom)
    assert stats.abandoned == ["k"] and not queue and stats.lost == 3
    fields = dict(db_path=tmp_path / "r.sqlite", name="s", config_hash="h", total=2, done=1)
    summary = SweepSummary(
        **fields, failed=0, pending=1, already=0, ran=1, lost=3, restarts=0,
        abandoned=("k",), reason=stats.reason, unfit_pairs=0, seconds=1.0, where="1 local process",
    )  # fmt: skip
    line = summary.format()
    assert "1 case run on" in line and "\n" not in line
    assert "1 case given up after every attempt was lost (last: out of memory: Unable" in line
    assert not summary.complete


def test_a_report_that_cannot_be_published_whole_leaves_the_earlier_one(reference, tmp_path):
    """A folder where results.json goes failed the rename after index.html and the figures had
    moved: the folder held two runs' files (held-out crash audit). Every target is checked
    first now."""
    from descentcheck.impl.errors import DescentcheckError

    out = tmp_path / "report"
    report_from_db(reference, out)
    (out / "results.json").unlink()
    (out / "results.json").mkdir()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    (out / "index.html").write_bytes(b"an earlier report")
    before["index.html"] = b"an earlier report"
    with pytest.raises(DescentcheckError, match="results.json is not a regular file") as err:
        report_from_db(reference, out)
    assert "\n" not in str(err.value)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".report-")]


def test_sigterm_stops_a_sweep_with_status_143(sweep_file, tmp_path):
    """SIGTERM to the sweep's parent: the same one line and cleanup as Ctrl-C, and the status a
    shell gives SIGTERM, 143 (it said 130: held-out review)."""
    db = tmp_path / "term.sqlite"
    proc = _sweep_in_its_own_group(sweep_file, db)
    try:
        assert _wait_for(db, 2, proc) < N_CASES, "the sweep finished before it could be stopped"
        proc.terminate()
        _, err = proc.communicate(timeout=60)
        survivors = group_alive(proc)
    finally:
        kill_group(proc)
    assert proc.returncode == 143, err
    assert not survivors, "a worker outlived the sweep"
    assert err.startswith("interrupted: ") and len(err.strip().splitlines()) == 1
