"""A mutation run that fits a time budget and is still a clean sample.

``mutmut run`` goes file by file, so stopping it early keeps the first files and none of the
rest. Here the mutants in the seeded sample are run one at a time (``mutmut run ID``) in the
order of their sample hash (:func:`filters.sample_key`), so the mutants tried when the budget
runs out are *exactly* the seeded sample at a smaller rate: the hash of the first mutant not
tried (the same when the file ``budget.stop`` appears beside the cache). That rate is printed and written to ``budget.json`` beside the cache, for
:mod:`collect` (``--rate``).

Run from the mutated tree's root after a ``mutmut run`` has filled ``.mutmut-cache`` (it may
be stopped as soon as it starts checking mutants); environment as for ``mutmut run``
(``PYTHONPATH`` with this folder, ``MUTANTS_SEED_DB``)::

    python tests/mutation/budget.py --seconds 3600 --rate 0.06 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collect import mutated_line
from filters import filter_reason, sample_key

DONE = ("ok_killed", "ok_suspicious", "bad_timeout", "bad_survived")


def queue(cache: Path, rate: float, seed: int) -> list[tuple[float, int, str]]:
    """``(sample key, mutmut id, file:line:index)`` of every unfiltered mutant in the sample,
    in key order."""
    with sqlite3.connect(cache) as db:
        rows = db.execute(
            'SELECT m.id, s.filename, l.line, l.line_number, m."index" FROM mutant m '
            "JOIN line l ON m.line = l.id JOIN sourcefile s ON l.sourcefile = s.id"
        ).fetchall()
    out = []
    for mid, filename, line, line_number, index in rows:
        key = sample_key(filename, line_number, index, seed)
        if key >= rate:
            continue
        original, mutated = mutated_line(filename, line, line_number, index)
        if filter_reason(original, mutated, filename) is None:
            out.append((key, mid, f"{filename}:{line_number + 1}:{index}"))
    return sorted(out)


def status(cache: Path, mid: int) -> str:
    with sqlite3.connect(cache) as db:
        return db.execute("SELECT status FROM mutant WHERE id = ?", (mid,)).fetchone()[0]


def untested(cache: Path, mid: int) -> None:
    """Mark a mutant the cache-filling run skipped as untested: ``mutmut run ID`` takes a cached
    status as final, so it would otherwise report the skip again without running anything."""
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE mutant SET status = 'untested' WHERE id = ?", (mid,))


def merge(source: Path, cache: Path) -> None:
    """Copy the finished statuses of a second worker's cache (same commit, same mutants, the
    same ids: both caches filled by the same ``mutmut run``) into ``cache``."""
    with sqlite3.connect(source) as src:
        done = src.execute(
            f"SELECT id, status FROM mutant WHERE status IN ({', '.join('?' * len(DONE))})", DONE
        ).fetchall()
    with sqlite3.connect(cache) as db:
        db.executemany("UPDATE mutant SET status = ? WHERE id = ?", [(s, i) for i, s in done])
    print(f"{len(done)} finished statuses copied from {source}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=".mutmut-cache", type=Path)
    ap.add_argument("--seconds", required=True, type=float, help="stop starting mutants after")
    ap.add_argument("--rate", required=True, type=float, help="the largest sample wanted")
    ap.add_argument("--seed", default=0, type=int)
    ap.add_argument(
        "--descending",
        action="store_true",
        help="from the top of the hash order down: a second worker, in a second clone, that "
        "meets the first (merge its statuses into the first cache with --merge-from)",
    )
    ap.add_argument("--merge-from", type=Path, help="copy this cache's finished statuses in, exit")
    args = ap.parse_args(argv)
    if args.merge_from:
        merge(args.merge_from, args.cache)
        return
    t0 = time.perf_counter()
    todo = queue(args.cache, args.rate, args.seed)
    print(f"{len(todo)} mutants in the sample at rate {args.rate}", flush=True)
    reached = args.rate
    stop = args.cache.parent / "budget.stop"  # touch it to end the run early, still a sample
    for key, mid, where in reversed(todo) if args.descending else todo:
        if time.perf_counter() - t0 > args.seconds or stop.exists():
            reached = key  # every mutant below this key was tried (above it, descending)
            break
        if status(args.cache, mid) not in DONE:
            untested(args.cache, mid)
            t = time.perf_counter()
            subprocess.run(
                ["mutmut", "run", str(mid), "--no-progress", "--simple-output"],
                capture_output=True,
                check=False,
                env={**os.environ, "MUTANTS_FILE": where.rsplit(":", 2)[0]},
            )
            now = status(args.cache, mid)
            if now in ("skipped", "untested"):  # never ran: the sample would be a lie
                raise SystemExit(f"{where}: mutmut did not run it (status {now})")
            print(f"{where}: {now} ({time.perf_counter() - t:.0f} s)", flush=True)
    seconds = time.perf_counter() - t0
    summary = {"rate": reached, "seed": args.seed, "seconds": seconds, "asked_rate": args.rate}
    (args.cache.parent / "budget.json").write_text(json.dumps(summary) + "\n", "utf-8")
    print(f"sample reached: rate {reached:.6f} (seed {args.seed}), {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
