"""The sweep database: one SQLite file per sweep, written only by the parent process.

Schema version 1
----------------

The file carries ``PRAGMA application_id = 0x64635357`` ("dcSW", at byte 68 of the header) and
``PRAGMA user_version = 1``; it runs in WAL mode with ``synchronous = FULL``::

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    -- keys: app ("descentcheck.sweep"), schema_version ("1"), config_hash (SHA-256 of the
    -- sorted case keys), n_cases, name, config_path, config_text (the file as read),
    -- config_json (the validated config), files_json (data-file SHA-256 -> path),
    -- created_utc, descentcheck_version, python_version, numpy_version, code_json (the
    -- version and source digest of descentcheck and of each plugin: a resume compares them)

    CREATE TABLE cases (
        key          TEXT PRIMARY KEY,          -- SHA-256 of the case's canonical JSON
        idx          INTEGER NOT NULL UNIQUE,   -- position in the expanded sweep
        case_json    TEXT NOT NULL,             -- the case (canonical JSON; see expand.py)
        status       TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'done', 'failed')),
        results_json TEXT,                      -- canonical JSON of case.evaluate (done only)
        error        TEXT,                      -- one line (failed only)
        worker       TEXT,                      -- HOST:PID or the Dask worker's address
        started      REAL,                      -- Unix time the worker started the case
        seconds      REAL,                      -- the worker's wall time for the case
        finished     REAL,                      -- Unix time the parent committed it
        CHECK ((status = 'done') = (results_json IS NOT NULL))
    );

    CREATE VIEW case_results AS SELECT key, idx, status, <JSON fields of results_json> ...

Life of a database. It is created whole or not at all: built under a temporary name in the same
folder (every case inserted as ``pending``, in one transaction), then linked to its name, which
fails if a file appeared there meanwhile; an existing file is never replaced. Each finished case
is one transaction ``UPDATE cases SET status = 'done' | 'failed', ... WHERE key = ? AND status =
'pending'``: a case is written once, a killed sweep loses at most the cases in flight (never a
committed one), and a second writer can duplicate work but never a row. The rows (their key,
``case_json`` and ``results_json``) are a function of the sweep file alone; ``worker``,
``started``, ``seconds`` and ``finished`` record where and when.

Opening an existing file checks, before SQLite touches it: the 16-byte SQLite magic (else "not
an SQLite database"), the application id (else "a foreign SQLite database"); then ``PRAGMA
quick_check``, the schema version, and that it holds the same sweep (same config hash and case
count) run by the same code (descentcheck's and each plugin's source, ``code_json``: a plugin
edited and reinstalled under the same version would otherwise judge half the cases). Each
failure is a :class:`SweepDbError` with one line; the file is left as it was.
Policy for a different sweep file: refused (use another ``--db``, or delete the file to start
over). A zero-byte file counts as absent (there is nothing in it to lose).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from descentcheck.impl.io import file_in_the_way
from descentcheck.registry.plugins import code_fingerprint

from .errors import SweepDbError

APP_ID = 0x64635357  # "dcSW"
APP = "descentcheck.sweep"
SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE cases (
    key          TEXT PRIMARY KEY,
    idx          INTEGER NOT NULL UNIQUE,
    case_json    TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'done', 'failed')),
    results_json TEXT,
    error        TEXT,
    worker       TEXT,
    started      REAL,
    seconds      REAL,
    finished     REAL,
    CHECK ((status = 'done') = (results_json IS NOT NULL))
);
CREATE VIEW case_results AS SELECT
    key, idx, status,
    json_extract(case_json, '$.architecture.name') AS architecture,
    json_extract(case_json, '$.optimizer') AS optimizer,
    json_extract(case_json, '$.init_seed') AS init_seed,
    json_extract(results_json, '$.L0') AS L0,
    json_extract(results_json, '$.checks.decrease_every_step.holds') AS decreased,
    json_extract(results_json, '$.checks.inside_region.inside') AS inside,
    json_extract(results_json, '$.checks.inside_region.lr_L') AS lr_L,
    json_extract(results_json, '$.checks.inside_region.tau_L') AS tau_L,
    json_extract(results_json, '$.checks.final_loss.final') AS final_loss,
    json_extract(results_json, '$.checks.diverged.diverged') AS diverged,
    error, worker, seconds
FROM cases;
"""


@dataclass(frozen=True)
class CaseRow:
    """One row of ``cases``, JSON decoded."""

    key: str
    index: int
    case: dict[str, Any]
    status: str
    results: dict[str, Any] | None
    error: str | None
    worker: str | None
    started: float | None
    seconds: float | None
    finished: float | None
    case_json: str
    results_json: str | None


# ---- checking a file before SQLite opens it ------------------------------------------------


def check_file(path: Path) -> bool:
    """Whether ``path`` holds a database to open (False: absent or zero bytes, free to create).
    Raises :class:`SweepDbError` for anything that is not a descentcheck sweep database."""
    if not path.exists():
        return False
    if path.is_dir():
        raise SweepDbError(f"{path} is a directory, not a sweep database")
    if not path.is_file():  # /dev/null: as root, creating "over" it would replace the device
        raise SweepDbError(
            f"{path} is not a regular file (a device, a pipe?); it was left untouched"
        )
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as e:
        raise SweepDbError(f"cannot read {path}: {e.strerror or e}") from None
    if not header:
        return False
    if len(header) < 100 or header[:16] != SQLITE_MAGIC:
        raise SweepDbError(
            f"{path} is not an SQLite database (corrupt, or another kind of file); "
            "it was left untouched"
        )
    app_id = int.from_bytes(header[68:72], "big")
    if app_id != APP_ID:
        raise SweepDbError(
            f"{path} is an SQLite database but not a descentcheck sweep (application_id "
            f"{app_id:#010x}, expected {APP_ID:#010x}); it was left untouched"
        )
    return True


def _unusable(path: Path, e: BaseException, then: str = "") -> SweepDbError:
    """One line for a database file that cannot be created, opened or written."""
    why = getattr(e, "strerror", None) or str(e)
    where = f" ({e.filename})" if getattr(e, "filename", None) not in (None, str(path)) else ""
    if isinstance(e, FileExistsError | NotADirectoryError) and (
        bad := file_in_the_way(path.parent)
    ):
        why, where = bad, ""  # "File exists (good/data.npz)" as train says it
    return SweepDbError(
        f"cannot write the sweep database {path}: {why}{where}" + (f"; {then}" if then else "")
    )


def _connect(path: Path, immutable: bool = False) -> sqlite3.Connection:
    """A connection to ``path``; ``immutable`` opens it needing no write access (see
    the comment in :func:`read_sweep`)."""
    if immutable:
        uri = f"{path.resolve().as_uri()}?immutable=1"
        conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
    else:
        conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _read_meta(conn: sqlite3.Connection, path: Path) -> dict[str, str]:
    """The ``meta`` table after checking integrity and schema version."""
    try:
        ok = conn.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise SweepDbError(f"{path} is a corrupt sweep database ({ok}); it was left untouched")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "cases"} <= names:
            raise SweepDbError(
                f"{path} has the sweep application id but no meta/cases tables (damaged); "
                "it was left untouched"
            )
        meta = {r[0]: r[1] for r in conn.execute("SELECT key, value FROM meta")}
    except sqlite3.DatabaseError as e:
        raise SweepDbError(
            f"{path} is a corrupt sweep database ({e}); it was left untouched"
        ) from None
    version = meta.get("schema_version")
    if meta.get("app") != APP or version is None or not version.isdigit():
        raise SweepDbError(
            f"{path}: its meta table is not a sweep's (damaged); it was left untouched"
        )
    if int(version) != SCHEMA_VERSION:
        newer = "a newer" if int(version) > SCHEMA_VERSION else "an older"
        raise SweepDbError(
            f"{path} was written by {newer} descentcheck (sweep schema {version}; this one "
            f"reads {SCHEMA_VERSION})"
        )
    return meta


#: what a row's JSON must hold for a reader to use it (a row damaged by hand fails one line)
_CASE_KEYS = ("architecture", "data", "optimizer", "hyperparameters", "init_seed", "steps")


def _decoded(text: Any, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
    try:
        v = json.loads(text)
    except (TypeError, ValueError) as e:
        raise ValueError(f"its {what} is not JSON ({' '.join(str(e).split())})") from None
    if not isinstance(v, dict):
        raise ValueError(f"its {what} is not a {what.split('_')[0]} record (a JSON object)")
    if missing := [k for k in keys if k not in v]:  # what report and replay read
        raise ValueError(f"its {what} has no {missing[0]!r}")
    return v


def _case(text: Any) -> dict[str, Any]:
    case = _decoded(text, "case_json", _CASE_KEYS)
    if not isinstance(case["architecture"], dict) or "spec" not in case["architecture"]:
        raise ValueError("its case_json has no architecture spec")
    return case


def _row(r: sqlite3.Row) -> CaseRow:
    return CaseRow(
        key=r["key"],
        index=r["idx"],
        case=_case(r["case_json"]),
        status=r["status"],
        results=_decoded(r["results_json"], "results_json", ("checks",))
        if r["results_json"] is not None
        else None,
        error=r["error"],
        worker=r["worker"],
        started=r["started"],
        seconds=r["seconds"],
        finished=r["finished"],
        case_json=r["case_json"],
        results_json=r["results_json"],
    )


# ---- the store -----------------------------------------------------------------------------


def _data_files(case_jsons: Any) -> dict[str, str]:
    """``{name: sha256}`` of the data files the cases read."""
    out = {}
    for text in case_jsons:
        d = json.loads(text)["data"]
        if d.get("kind") == "file":
            out[d["name"]] = d["sha256"]
    return out


def _changed_files(conn: sqlite3.Connection, plan: Any) -> str:
    """``; data file NAME changed since ...`` when a data file the database's cases read has
    other contents now (a held-out user edited one and was told only "another sweep")."""
    try:
        rows = conn.execute("SELECT DISTINCT json_extract(case_json, '$.data') FROM cases")
        then = _data_files(json.dumps({"data": json.loads(r[0])}) for r in rows if r[0])
    except (sqlite3.Error, ValueError, TypeError, KeyError):
        return ""
    now = _data_files(c.text for c in plan.cases)
    changed = sorted(n for n in then.keys() & now.keys() if then[n] != now[n])
    return "".join(
        f"; data file {n} changed since it was made (sha256 {then[n][:12]} -> {now[n][:12]})"
        for n in changed
    )


class SweepStore:
    """An open sweep database (the parent process's one connection)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, meta: dict[str, str]) -> None:
        self.path = path
        self.conn = conn
        self.meta = meta

    # opening

    @classmethod
    def open(cls, path: str | os.PathLike[str], plan: Any) -> SweepStore:
        """Open the database of ``plan`` (an :class:`~.expand.Plan`) at ``path``, creating it
        when absent; see the module docstring for what is checked."""
        p = Path(path)
        try:
            if not check_file(p):
                p.parent.mkdir(parents=True, exist_ok=True)  # as train's --out
                try:
                    _create(p, plan)
                except _Appeared:  # two sweeps started at once: open the other's, checked below
                    pass
            elif not _writable(p):  # else SQLite's "unable to open" reads as a corrupt file
                raise SweepDbError(
                    f"cannot write the sweep database {p}: it is in a read-only place (a sweep "
                    "commits each case to it); copy it elsewhere to resume, or read it there "
                    "with report --db"
                )
            conn = _connect(p)
        except (OSError, sqlite3.Error) as e:
            raise _unusable(p, e) from None
        try:
            meta = _read_meta(conn, p)
            if meta.get("config_hash") != plan.config_hash:
                raise SweepDbError(
                    f"{p} holds another sweep ({meta.get('name')!r}, {meta.get('n_cases')} "
                    f"cases, config {meta.get('config_hash', '?')[:12]}); this file expands to "
                    f"{len(plan.cases)} cases, config {plan.config_hash[:12]}"
                    f"{_changed_files(conn, plan)}: use another --db, or delete that file to "
                    "start over"
                )
            if changed := _code_changes(meta):
                raise SweepDbError(
                    f"{p} was started by other code ({changed}): its results and this run's "
                    "would be mixed; use another --db, or delete that file to start over"
                )
            _check_meta(p, meta)  # "n_cases 'abc'" read as "should hold 30 but holds 30"
            n = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
            if n != len(plan.cases) or str(n) != meta.get("n_cases"):
                recorded = meta.get("n_cases")
                raise SweepDbError(
                    f"{p} should hold {len(plan.cases)} cases but holds {n}, and its meta "
                    f"table records {recorded} (damaged); it was left untouched"
                )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.OperationalError as e:  # a read-only folder: WAL cannot start
            conn.close()
            raise _unusable(p, e) from None
        except BaseException:
            conn.close()
            raise
        return cls(p, conn, meta)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # reading

    def pending(self) -> list[tuple[str, str]]:
        """(key, case_json) of every pending case, in sweep order."""
        rows = self.conn.execute(
            "SELECT key, case_json FROM cases WHERE status = 'pending' ORDER BY idx"
        )
        return [(r[0], r[1]) for r in rows]

    def counts(self) -> dict[str, int]:
        out = {"pending": 0, "done": 0, "failed": 0}
        for status, n in self.conn.execute("SELECT status, count(*) FROM cases GROUP BY status"):
            out[status] = n
        return out

    # writing

    def commit(self, key: str, outcome: Mapping[str, Any]) -> bool:
        """Record one finished case in its own transaction. Returns False (and writes nothing)
        when the case is not pending (already recorded)."""
        if outcome["status"] not in ("done", "failed"):
            raise ValueError(f"bad outcome status {outcome['status']!r}")
        try:
            return self._commit(key, outcome)
        except sqlite3.OperationalError as e:  # a full disk, a folder made read-only
            raise _unusable(self.path, e, "the cases committed before are kept") from None

    def _commit(self, key: str, outcome: Mapping[str, Any]) -> bool:
        with _transaction(self.conn):
            cur = self.conn.execute(
                "UPDATE cases SET status = ?, results_json = ?, error = ?, worker = ?, "
                "started = ?, seconds = ?, finished = ? WHERE key = ? AND status = 'pending'",
                (
                    outcome["status"],
                    outcome.get("results_json"),
                    outcome.get("error"),
                    outcome.get("worker"),
                    outcome.get("started"),
                    outcome.get("seconds"),
                    time.time(),
                    key,
                ),
            )
        return cur.rowcount == 1


class _Appeared(SweepDbError):
    """Another sweep linked the same database into place first (it is whole: linked, not
    written in place)."""


def recorded_code(meta: Mapping[str, str]) -> dict[str, str] | None:
    """The code that made the database (``code_json``: descentcheck and each plugin, see
    ``registry.plugins.code_fingerprint``), or None (made before it was recorded)."""
    try:
        code = json.loads(meta.get("code_json", "null"))
    except ValueError:
        return None
    return code if isinstance(code, dict) else None


def _code_changes(meta: dict[str, str]) -> str:
    """What differs between the code that made the database and this process's; "" when
    nothing does, or the database predates the record."""
    then, now = recorded_code(meta), code_fingerprint()
    if then is None or then == now:
        return ""
    said = []
    for k in sorted(set(then) | set(now)):
        what = "descentcheck" if k == "descentcheck" else f"plugin {k}"
        if k not in now:
            said.append(f"{what} is no longer installed")
        elif k not in then:
            said.append(f"{what} was not installed then")
        elif then[k] != now[k]:
            said.append(f"{what} was {then[k]}, is {now[k]}")
    return "; ".join(said)


def _create(path: Path, plan: Any) -> None:
    """Build the database under a temporary name and link it into place (never replacing)."""
    import numpy as np

    import descentcheck

    if path.exists() and path.stat().st_size == 0:
        path.unlink()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    config = plan.config
    meta = {
        "app": APP,
        "schema_version": str(SCHEMA_VERSION),
        "config_hash": plan.config_hash,
        "n_cases": str(len(plan.cases)),
        "name": config.name,
        "config_path": str(config.path),
        "config_text": config.text,
        "config_json": json.dumps(config.to_json(), sort_keys=True),
        "files_json": json.dumps(plan.files, sort_keys=True),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "descentcheck_version": descentcheck.__version__,
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "code_json": json.dumps(code_fingerprint(), sort_keys=True),
    }
    try:
        tmp.unlink(missing_ok=True)
        conn = _connect(tmp)
        try:
            conn.execute(f"PRAGMA application_id = {APP_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("PRAGMA journal_mode = DELETE")
            with _transaction(conn):
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
                conn.executemany(
                    "INSERT INTO cases (key, idx, case_json) VALUES (?, ?, ?)",
                    ((c.key, c.index, c.text) for c in plan.cases),
                )
        finally:
            conn.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise _Appeared(f"{path} appeared while the sweep database was being created") from None
        except OSError:  # a file system without hard links
            if path.exists():
                raise _Appeared(
                    f"{path} appeared while the sweep database was being created"
                ) from None
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---- reading a finished (or partial) sweep -------------------------------------------------


def _check_meta(path: Path, meta: dict[str, str]) -> None:
    """The meta entries a reader parses, parsed once here (one line if damaged)."""
    problems = [] if str(meta.get("n_cases", "")).isdigit() else ["n_cases is not a count"]
    for key in ("config_json", "files_json"):
        try:
            ok = isinstance(json.loads(meta.get(key, "{}")), dict)
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"{key} is not a JSON object")
    if problems:
        raise SweepDbError(
            f"{path}: its meta table is damaged ({'; '.join(problems)}); it was left untouched"
        )


@dataclass(frozen=True)
class SweepData:
    """Everything in a sweep database: ``meta`` and the rows in sweep order."""

    path: Path
    meta: dict[str, str]
    rows: list[CaseRow]


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def read_sweep(path: str | Path) -> SweepData:
    """Read a sweep database without writing to it (``PRAGMA query_only``; in a read-only
    place, opened immutable)."""
    p = Path(path)
    if not check_file(p):
        raise SweepDbError(f"sweep database not found (or empty): {p}")
    # a WAL database's reader must create its -shm file: in a read-only place (a read-only
    # mount, a folder not ours) the file is opened immutable (no locks, no -shm; nothing can
    # write there meanwhile). It used to be called corrupt there.
    conn = _connect(p, immutable=not _writable(p))
    try:
        conn.execute("PRAGMA query_only = ON")
        meta = _read_meta(conn, p)
        rows = []
        try:
            for r in conn.execute("SELECT * FROM cases ORDER BY idx"):
                try:
                    rows.append(_row(r))
                except ValueError as e:
                    raise SweepDbError(
                        f"{p}: case {r['idx']} is damaged: {e}; the file was left untouched"
                    ) from None
        except sqlite3.DatabaseError as e:
            raise SweepDbError(f"{p} is a corrupt sweep database ({e})") from None
        _check_meta(p, meta)
        if len(rows) != int(meta["n_cases"]):  # sweep refuses such a file: report must too
            raise SweepDbError(
                f"{p} is damaged: its meta table records {meta['n_cases']} cases, it holds "
                f"{len(rows)}; the file was left untouched"
            )
    finally:
        conn.close()
    return SweepData(p, meta, rows)
