"""The sweep database: schema, one write per case, and files that are not ours left untouched."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat

import pytest

from descentcheck.properties.sweep import (
    SCHEMA_VERSION,
    SweepConfigError,
    SweepDbError,
    expand,
    parse_config,
    read_sweep,
)
from descentcheck.properties.sweep.store import APP_ID, SweepStore

SWEEP = {
    "name": "store",
    "steps": 3,
    "seeds": [0, 1, 2],
    "architectures": ["sine_skip"],
    "data": {"source": "random", "n": 5},
    "optimizers": {"name": "gd", "lr": [0.01, 0.02]},
    "checks": ["final_loss"],
}


def _plan(**changes):
    return expand(parse_config({**SWEEP, **changes}, "store.json"))


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _outcome(results_json='{"checks":{},"ok":1}', status="done"):
    return {
        "status": status,
        "results_json": results_json if status == "done" else None,
        "error": None if status == "done" else "E: boom",
        "worker": "test:1",
        "started": 0.0,
        "seconds": 0.5,
    }


def test_schema_and_meta(tmp_path):
    db = tmp_path / "r.sqlite"
    plan = _plan()
    with SweepStore.open(db, plan) as store:
        assert store.counts() == {"pending": 6, "done": 0, "failed": 0}
        assert [k for k, _ in store.pending()] == [c.key for c in plan.cases]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APP_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    assert meta["schema_version"] == "1" and meta["config_hash"] == plan.config_hash
    assert meta["n_cases"] == "6" and meta["app"] == "descentcheck.sweep"
    cols = [r[1] for r in conn.execute("PRAGMA table_info(cases)")]
    assert cols[:5] == ["key", "idx", "case_json", "status", "results_json"]
    assert {"worker", "started", "seconds", "finished", "error"} <= set(cols)
    conn.close()


def test_a_case_is_written_once(tmp_path):
    db = tmp_path / "r.sqlite"
    plan = _plan()
    key = plan.cases[2].key
    with SweepStore.open(db, plan) as store:
        assert store.commit(key, _outcome('{"a":1,"checks":{}}'))
        assert not store.commit(key, _outcome('{"a":2,"checks":{}}'))  # no second write
        assert store.commit(plan.cases[3].key, _outcome(status="failed"))
        assert store.counts() == {"pending": 4, "done": 1, "failed": 1}
        with pytest.raises(sqlite3.IntegrityError):
            store.conn.execute(
                "INSERT INTO cases (key, idx, case_json) VALUES (?, 99, '{}')", (key,)
            )
    rows = read_sweep(db).rows
    assert (
        len(rows) == 6 and rows[2].results == {"a": 1, "checks": {}} and rows[3].error == "E: boom"
    )
    # reopening with the same sweep resumes: only the pending ones are left
    with SweepStore.open(db, _plan()) as store:
        assert len(store.pending()) == 4


def test_another_sweep_is_refused(tmp_path):
    db = tmp_path / "r.sqlite"
    SweepStore.open(db, _plan()).close()
    before = _digest(db)
    with pytest.raises(SweepDbError, match="holds another sweep .* use another --db"):
        SweepStore.open(db, _plan(seeds=[0, 1]))
    assert _digest(db) == before


def test_a_changed_data_file_is_named(tmp_path):
    """A held-out user rewrote the sweep's .npz and was told only "holds another sweep"."""
    import numpy as np

    data = tmp_path / "d.npz"
    rng_x = np.linspace(-1.0, 1.0, 10)[:, None]
    np.savez(data, x=rng_x, y=np.sin(rng_x))
    plan = lambda: expand(parse_config({**SWEEP, "data": "d.npz"}, tmp_path / "s.json"))  # noqa: E731
    db = tmp_path / "r.sqlite"
    SweepStore.open(db, plan()).close()
    np.savez(data, x=2 * rng_x, y=np.sin(rng_x))
    with pytest.raises(
        SweepDbError, match=r"; data file d\.npz changed since it was made \(sha256"
    ):
        SweepStore.open(db, plan())
    with pytest.raises(SweepDbError) as err:  # another change names no file
        SweepStore.open(tmp_path / "other.sqlite", _plan()).close()
        SweepStore.open(tmp_path / "other.sqlite", _plan(seeds=[0]))
    assert "data file" not in str(err.value)


def test_foreign_sqlite_database_is_refused_untouched(tmp_path):
    db = tmp_path / "other.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE cases (key TEXT PRIMARY KEY, x)")
    conn.execute("INSERT INTO cases VALUES ('a', 1)")
    conn.commit()
    conn.close()
    before = _digest(db)
    for call in (lambda: SweepStore.open(db, _plan()), lambda: read_sweep(db)):
        with pytest.raises(SweepDbError, match="not a descentcheck sweep") as err:
            call()
        assert "\n" not in str(err.value)
    assert _digest(db) == before


@pytest.mark.parametrize(
    "content",
    [b"hello, this is a text file\n" * 10, b"SQLite format 3\x00" + b"\x07" * 50],
    ids=["text", "truncated-header"],
)
def test_non_database_files_are_refused_untouched(tmp_path, content):
    db = tmp_path / "r.sqlite"
    db.write_bytes(content)
    with pytest.raises(SweepDbError, match="not an SQLite database"):
        SweepStore.open(db, _plan())
    assert db.read_bytes() == content


def test_corrupt_sweep_database_is_refused_untouched(tmp_path):
    db = tmp_path / "r.sqlite"
    plan = _plan(seeds=list(range(40)))  # a few pages
    with SweepStore.open(db, plan) as store:
        for c in plan.cases[:10]:
            store.commit(c.key, _outcome())
    raw = bytearray(db.read_bytes())
    assert len(raw) > 3 * 4096
    page = 4096  # sqlite's default page size; garble everything after the first page
    raw[page:] = bytes((i * 7 + 3) % 256 for i in range(len(raw) - page))
    db.write_bytes(bytes(raw))
    before = _digest(db)
    with pytest.raises(SweepDbError, match="corrupt sweep database") as err:
        SweepStore.open(db, plan)
    assert "\n" not in str(err.value)
    with pytest.raises(SweepDbError, match="corrupt"):
        read_sweep(db)
    assert _digest(db) == before


def test_empty_file_and_directory(tmp_path):
    db = tmp_path / "r.sqlite"
    db.write_bytes(b"")
    SweepStore.open(db, _plan()).close()  # nothing to lose: created
    assert read_sweep(db).meta["n_cases"] == "6"
    with pytest.raises(SweepDbError, match="is a directory"):
        SweepStore.open(tmp_path, _plan())
    with pytest.raises(SweepDbError, match="not found"):
        read_sweep(tmp_path / "absent.sqlite")


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "r.sqlite"
    SweepStore.open(db, _plan()).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(SweepDbError, match="newer descentcheck .*schema 2"):
        SweepStore.open(db, _plan())


def test_a_missing_folder_is_created_and_an_impossible_one_named(tmp_path):
    db = tmp_path / "new" / "deeper" / "r.sqlite"
    SweepStore.open(db, _plan()).close()  # as train's --out: the folders are made
    assert read_sweep(db).meta["n_cases"] == "6"
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(SweepDbError, match=r"^cannot write the sweep database .*a_file/r.sqlite"):
        SweepStore.open(tmp_path / "a_file" / "r.sqlite", _plan())


def test_a_database_that_stops_accepting_writes_is_one_line(tmp_path):
    db = tmp_path / "r.sqlite"
    with SweepStore.open(db, _plan()) as store:
        store.conn.execute("PRAGMA query_only = ON")  # stands in for a full disk
        key = store.pending()[0][0]
        with pytest.raises(SweepDbError, match="cannot write .*; the cases committed before"):
            store.commit(key, _outcome())


@pytest.mark.parametrize(
    "changes, cases",
    [
        ({"optimizers": {"name": "gd", "lr": {"min": 0.001, "max": 0.1, "num": 10**8}}}, 3 * 10**8),
        ({"seeds": {"count": 1000}, "architectures": {"random": {"count": 1100}}}, 2_200_000),
    ],
)
def test_a_sweep_too_large_for_one_database_is_refused_before_expansion(changes, cases):
    with pytest.raises(SweepConfigError, match=f"up to {cases:,} cases"):
        _plan(**changes)


def test_a_million_seeds_are_checked_quickly_and_more_refused_before_listing():
    plan_seeds = parse_config({**SWEEP, "seeds": {"count": 200_000}}, "store.json").seeds
    assert len(plan_seeds) == 200_000  # each once: checked in linear time, not quadratic
    with pytest.raises(SweepConfigError, match=r"seeds.count: 1,000,000,000 seeds; a sweep"):
        parse_config({**SWEEP, "seeds": {"count": 10**9}}, "store.json")


def test_a_device_or_pipe_given_as_the_database_is_left_alone(tmp_path):
    fifo = tmp_path / "fifo"  # as /dev/null: root would have unlinked it and linked a database
    os.mkfifo(fifo)
    with pytest.raises(SweepDbError, match="not a regular file .*left untouched"):
        SweepStore.open(fifo, _plan())
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_local_workers_past_eight_per_core_are_refused():
    from descentcheck.properties.sweep import SweepError
    from descentcheck.properties.sweep.run import _backend

    n = 8 * (os.cpu_count() or 1)
    assert _backend(None, n)[0] == "local"
    with pytest.raises(SweepError, match=f"{n + 1} local worker processes .* more than 8 per core"):
        _backend(None, n + 1)


def _finished_db(tmp_path):
    db = tmp_path / "r.sqlite"
    plan = _plan()
    with SweepStore.open(db, plan) as store:
        for c in plan.cases:
            store.commit(c.key, _outcome())
    return db


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE cases SET results_json = '{not json' WHERE idx = 0", "case 0 is damaged: its"),
        ("UPDATE cases SET results_json = '[1, 2, 3]' WHERE idx = 1", "case 1 is damaged: its"),
        ("UPDATE cases SET case_json = '{}' WHERE idx = 2", "case 2 is damaged: its case_json"),
        # a KeyError traceback in report --db and replay (sweep audit)
        (
            "UPDATE cases SET results_json = json_remove(results_json, '$.checks') WHERE idx = 3",
            "case 3 is damaged: its results_json has no 'checks'",
        ),
        (
            "UPDATE cases SET case_json = json_remove(case_json, '$.architecture.spec') "
            "WHERE idx = 0",
            "case 0 is damaged: its case_json has no architecture spec",
        ),
        ("UPDATE meta SET value = 'abc' WHERE key = 'n_cases'", "n_cases is not a count"),
        ("UPDATE meta SET value = '{x' WHERE key = 'config_json'", "config_json is not a JSON"),
        # a held-out tester: report --db read a file with rows deleted, which sweep refused
        ("DELETE FROM cases WHERE idx >= 1", "its meta table records 6 cases, it holds 1"),
    ],
)
def test_a_damaged_row_or_meta_entry_is_one_line_not_a_traceback(tmp_path, statement, message):
    """Rows SQLite's own check passes, damaged by hand: a report read them and raised
    JSONDecodeError, TypeError or ValueError (held-out crash audit)."""
    from descentcheck.properties.sweep import read_sweep

    db = _finished_db(tmp_path)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(statement)
    conn.close()
    before = _digest(db)
    with pytest.raises(SweepDbError, match="left untouched") as err:
        read_sweep(db)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert _digest(db) == before


def test_a_sweep_names_a_damaged_case_count(tmp_path):
    """A held-out tester's meta n_cases 'abc' read "should hold 30 cases but holds 30, and its
    meta table records abc"."""
    db = _finished_db(tmp_path)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE meta SET value = 'abc' WHERE key = 'n_cases'")
    conn.close()
    with pytest.raises(SweepDbError) as err:
        SweepStore.open(db, _plan())
    assert str(err.value) == (
        f"{db}: its meta table is damaged (n_cases is not a count); it was left untouched"
    )


def test_a_database_in_a_read_only_place_is_read_not_called_corrupt(tmp_path, monkeypatch):
    """A WAL reader creates a -shm file: in a read-only place SQLite said "unable to open" and
    the file was called corrupt (held-out crash audit). It is read immutable there, and a
    sweep that would write to it says where the trouble is."""
    from descentcheck.properties.sweep import read_sweep, store

    db = _finished_db(tmp_path)
    monkeypatch.setattr(store, "_writable", lambda p: False)

    real = store._connect

    def only_immutable(path, immutable=False):  # a normal WAL reader's lot on a read-only mount
        if not immutable:
            raise sqlite3.OperationalError("unable to open database file")
        return real(path, immutable=True)

    monkeypatch.setattr(store, "_connect", only_immutable)
    data = read_sweep(db)
    assert len(data.rows) == 6 and all(r.status == "done" for r in data.rows)
    with pytest.raises(SweepDbError, match="read-only place"):
        SweepStore.open(db, _plan())


def test_two_sweeps_started_at_once_share_the_database_one_links(tmp_path, monkeypatch):
    """Two sweeps on one fresh --db: the second to link its database found the first's there
    and stopped with 'appeared while ... being created' (held-out crash audit). It now opens
    that file, checked like any existing one."""
    from descentcheck.properties.sweep import store

    db = tmp_path / "r.sqlite"
    plan = _plan()
    with SweepStore.open(db, plan) as first:
        first.commit(plan.cases[0].key, _outcome())
    real, seen = store.check_file, []

    def absent_once(path):  # the second sweep looked before the first linked its file
        seen.append(path)
        return False if len(seen) == 1 else real(path)

    monkeypatch.setattr(store, "check_file", absent_once)
    with SweepStore.open(db, plan) as second:
        assert second.counts() == {"pending": 5, "done": 1, "failed": 0}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_resume_by_other_code_is_refused(tmp_path, monkeypatch):
    """A held-out user stopped a sweep, edited and reinstalled their optimizer plugin (same
    version), and resumed: half the cases were judged by each region, with no word said."""
    from descentcheck.properties.sweep import store

    db = tmp_path / "r.sqlite"
    then = {"descentcheck": "0.1.0 aaaa", "descentcheck.optimizers:scaled_gd": "good 0.1 bbbb"}
    monkeypatch.setattr(store, "code_fingerprint", lambda: dict(then))
    SweepStore.open(db, _plan()).close()
    before = _digest(db)
    with SweepStore.open(db, _plan()) as s:  # the same code resumes
        assert len(s.pending()) == 6
    now = {**then, "descentcheck.optimizers:scaled_gd": "good 0.1 cccc"}
    monkeypatch.setattr(store, "code_fingerprint", lambda: dict(now))
    said = (
        r"was started by other code \(plugin descentcheck\.optimizers:scaled_gd was good 0\.1 "
        r"bbbb, is good 0\.1 cccc\): its results and this run's would be mixed; use another --db"
    )
    with pytest.raises(SweepDbError, match=said):
        SweepStore.open(db, _plan())
    monkeypatch.setattr(store, "code_fingerprint", lambda: {"descentcheck": "0.1.0 aaaa"})
    with pytest.raises(SweepDbError, match="scaled_gd is no longer installed"):
        SweepStore.open(db, _plan())
    assert _digest(db) == before
    # a database made before the record resumes as before
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM meta WHERE key = 'code_json'")
    conn.close()
    SweepStore.open(db, _plan()).close()


def test_the_code_fingerprint_follows_a_plugins_source(tmp_path, monkeypatch):
    """An edit to a plugin package's source changes its entry; descentcheck's own is there."""
    from importlib.metadata import EntryPoint

    from descentcheck.registry import plugins

    pkg = tmp_path / "fpplug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "regions.py").write_text("LIMIT = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = EntryPoint("fp", "fpplug:OPT", "descentcheck.optimizers")
    monkeypatch.setattr(
        plugins, "entry_points", lambda g: [ep] if g == "descentcheck.optimizers" else []
    )
    first = plugins.code_fingerprint()
    assert set(first) == {"descentcheck", "descentcheck.optimizers:fp"}
    assert first == plugins.code_fingerprint()
    (pkg / "regions.py").write_text("LIMIT = 1\n")  # a module the entry point's does not name
    second = plugins.code_fingerprint()
    assert second["descentcheck.optimizers:fp"] != first["descentcheck.optimizers:fp"]
    assert second["descentcheck"] == first["descentcheck"]


def test_the_code_fingerprint_is_the_same_from_a_source_checkout():
    """The same code installed (subpackages inside descentcheck/) and in the checkout (beside
    it), where a process started in the repository imports it from: the digests differed, and
    a sweep resumed by such a process was refused as run by other code (CI, under tox)."""
    import subprocess
    import sys
    from pathlib import Path

    from descentcheck.registry import plugins

    root = Path(__file__).resolve().parents[1]
    code = "from descentcheck.registry.plugins import code_fingerprint as c; print(c()['descentcheck'])"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == plugins.code_fingerprint()["descentcheck"]


def test_a_wrong_case_count_in_meta_is_named(tmp_path):
    """The message read "should hold 6 cases but holds 6" when only the meta table's count was
    wrong (sweep audit): it says what the meta table records."""
    db = _finished_db(tmp_path)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'n_cases'")
    conn.close()
    with pytest.raises(SweepDbError, match="should hold 6 cases but holds 6, and its meta table "
                       "records 7 .damaged.; it was left untouched"):  # fmt: skip
        SweepStore.open(db, _plan())
